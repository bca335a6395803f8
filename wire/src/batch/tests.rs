//! The batch pipeline end to end: limits, zstd bombs, validation and the
//! agent's encoding, through the reference decoder and its shared parts.

use std::collections::BTreeMap;

use augur_profile::{RawFrame, Runtime, Truncation};
use prost::Message;

use super::limits::{ITEM_BYTES, Shape, shape_of};
use super::reference::{decompress, decompress_reserved, validate, validate_counted};
use super::*;
use crate::ingest::{Batch, Binary, Frame, KernelFrame, Process, Sample, UserFrame, frame};

fn good_batch() -> Batch {
    Batch {
        host: "h".into(),
        start_unix_nanos: 0,
        end_unix_nanos: 10,
        profile_type: "cpu".into(),
        unit: "nanoseconds".into(),
        period: 1_000_000,
        binaries: vec![Binary {
            build_id: vec![0xab; 20],
            path: "/bin/x".into(),
        }],
        processes: vec![Process {
            pid: 7,
            labels: [("service".to_string(), "x".to_string())].into(),
        }],
        samples: vec![Sample {
            process: 0,
            frames: vec![
                Frame {
                    kind: Some(frame::Kind::User(UserFrame {
                        binary: 0,
                        file_offset: 0x1234,
                    })),
                },
                Frame {
                    kind: Some(frame::Kind::Kernel(KernelFrame {
                        function: "do_syscall_64".into(),
                        module: String::new(),
                    })),
                },
            ],
            count: 3,
        }],
        dropped: Default::default(),
    }
}

#[test]
fn round_trip_validates() {
    let limits = Limits::default();
    let payload = compress(&good_batch(), 3).unwrap();
    let batch = validate(decompress(&payload, &limits).unwrap(), &limits).unwrap();
    assert_eq!(batch.total_samples(), 3);
    assert_eq!(batch.samples[0].labels["service"], "x");
    assert!(matches!(
        batch.samples[0].frames[0],
        RawFrame::User {
            file_offset: 0x1234,
            ..
        }
    ));
}

#[test]
fn a_profile_type_needs_its_own_unit_and_a_known_name() {
    let limits = Limits::default();
    let mut counter = good_batch();
    counter.profile_type = "page-faults".into();
    counter.unit = "count".into();
    assert!(validate(counter, &limits).is_ok());
    let mut wrong = good_batch();
    wrong.unit = "bytes".into();
    let error = validate(wrong, &limits).unwrap_err().to_string();
    assert!(error.contains("counted in \"nanoseconds\""), "{error}");
    // Types are open-ended: a new name is taken in the unit its producer
    // gives; a name no type could have is refused.
    let mut open = good_batch();
    open.profile_type = "wall".into();
    assert!(validate(open, &limits).is_ok());
    let mut bad = good_batch();
    bad.profile_type = "Wall time".into();
    let error = validate(bad, &limits).unwrap_err().to_string();
    assert!(error.contains("is not a valid name"), "{error}");
}

#[test]
fn to_wire_round_trips_through_validate() {
    let limits = Limits::default();
    let valid = validate(good_batch(), &limits).unwrap();
    let again = validate(to_wire(&valid), &limits).unwrap();
    assert_eq!(again.samples, valid.samples);
    assert_eq!(again.binaries, valid.binaries);
    assert_eq!(again.period, valid.period);
}

#[test]
fn host_named_frames_cross_the_wire() {
    let limits = Limits::default();
    let mut valid = validate(good_batch(), &limits).unwrap();
    valid.samples[0].frames.push(RawFrame::Named {
        function: "jit_hot_loop".into(),
        origin: "jit".into(),
    });
    let again = validate(to_wire(&valid), &limits).unwrap();
    assert_eq!(again.samples, valid.samples);
    let mut empty = to_wire(&valid);
    empty.samples[0].frames.last_mut().unwrap().kind =
        Some(frame::Kind::Named(crate::ingest::NamedFrame {
            function: String::new(),
            origin: "jit".into(),
        }));
    assert!(
        validate(empty, &limits).is_err(),
        "a nameless named frame is invalid"
    );
}

#[test]
fn runtime_frames_cross_the_wire_and_unknown_runtimes_are_refused() {
    let mut valid = validate(good_batch(), &Limits::default()).unwrap();
    let java = RawFrame::Runtime {
        runtime: Runtime::Java,
        function: "com.example.Cache.get".into(),
        file: "Cache.java".into(),
        line: 88,
        inlined: true,
    };
    valid.samples[0].frames.insert(0, java.clone());
    let wire = to_wire(&valid);
    assert!(matches!(
        &wire.samples[0].frames[0].kind,
        Some(frame::Kind::Runtime(r)) if r.runtime == "java" && r.line == 88 && r.inlined
    ));
    let (back, hits) = validate_counted(wire.clone(), &Limits::default()).unwrap();
    assert_eq!(back.samples[0].frames[0], java);
    assert_eq!(hits, LimitHits::default());

    let mut wire = wire;
    let Some(frame::Kind::Runtime(r)) = &mut wire.samples[0].frames[0].kind else {
        unreachable!()
    };
    r.runtime = "Python".into();
    let err = validate(wire, &Limits::default()).unwrap_err();
    assert!(
        err.to_string().contains("unknown runtime \"Python\""),
        "{err}"
    );
}

#[test]
fn zstd_bomb_is_refused_with_bounded_output() {
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    let zeros = vec![0u8; 64 << 20];
    let bomb = zstd::bulk::compress(&zeros, 19).unwrap();
    assert!(
        bomb.len() < 64 << 10,
        "bomb should be small, is {}",
        bomb.len()
    );
    let err = decompress(&bomb, &limits).unwrap_err();
    assert_eq!(err.reason(), "inflates_too_large");
}

#[test]
fn payloads_without_a_true_declared_size_take_the_bounded_path() {
    let limits = Limits::default();
    let encoded = good_batch().encode_to_vec();
    // Streamed: no content size in the header.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    std::io::Write::write_all(&mut encoder, &encoded).unwrap();
    let streamed = encoder.finish().unwrap();
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
        None
    );
    assert_eq!(decompress(&streamed, &limits).unwrap(), good_batch());
    // Two frames: the first header declares only its own size.
    let half = encoded.len() / 2;
    let mut two = zstd::bulk::compress(&encoded[..half], 3).unwrap();
    two.extend(zstd::bulk::compress(&encoded[half..], 3).unwrap());
    assert_eq!(decompress(&two, &limits).unwrap(), good_batch());
    // Two frames that together inflate beyond the limit.
    let small = Limits {
        max_decompressed: encoded.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        decompress(&two, &small).unwrap_err().reason(),
        "inflates_too_large"
    );
}

#[test]
fn oversized_and_corrupt_payloads_are_refused() {
    let limits = Limits {
        max_compressed: 16,
        ..Limits::default()
    };
    assert_eq!(
        decompress(&[0u8; 17], &limits).unwrap_err().reason(),
        "too_large"
    );
    let limits = Limits::default();
    assert_eq!(
        decompress(b"not zstd at all", &limits)
            .unwrap_err()
            .reason(),
        "bad_compression"
    );
    let not_proto = zstd::bulk::compress(&[0xff; 32], 1).unwrap();
    assert_eq!(
        decompress(&not_proto, &limits).unwrap_err().reason(),
        "bad_protobuf"
    );
}

#[test]
fn dangling_indices_and_missing_service_are_invalid() {
    let limits = Limits::default();
    let mut b = good_batch();
    b.samples[0].process = 9;
    assert!(validate(b, &limits).is_err());
    let mut b = good_batch();
    b.processes[0].labels.clear();
    assert!(validate(b, &limits).is_err());
    let mut b = good_batch();
    b.samples[0].frames[0].kind = Some(frame::Kind::User(UserFrame {
        binary: 5,
        file_offset: 0,
    }));
    assert!(validate(b, &limits).is_err());
    let mut b = good_batch();
    b.processes[0].labels.insert(String::new(), "v".into());
    assert!(validate(b, &limits).is_err(), "an empty label name");
}

fn kernel(function: &str) -> Frame {
    Frame {
        kind: Some(frame::Kind::Kernel(KernelFrame {
            function: function.into(),
            module: String::new(),
        })),
    }
}

#[test]
fn deep_stacks_keep_their_leaf_side_and_end_in_a_marker() {
    let limits = Limits {
        max_stack_depth: 8,
        ..Limits::default()
    };
    let mut b = good_batch();
    let deep: Vec<Frame> = (0..100_000).map(|i| kernel(&format!("f{i}"))).collect();
    // Frames beyond the limit are not looked at: a dangling index there
    // does not matter.
    let mut with_dangling = deep.clone();
    with_dangling[50].kind = Some(frame::Kind::User(UserFrame {
        binary: 99,
        file_offset: 0,
    }));
    b.samples[0].frames = with_dangling;
    b.samples.push(Sample {
        process: 0,
        frames: deep[..8].to_vec(),
        count: 1,
    });
    let (valid, hits) = validate_counted(b, &limits).unwrap();
    let frames = &valid.samples[0].frames;
    assert_eq!(frames.len(), 8);
    assert_eq!(
        frames[..7],
        (0..7)
            .map(|i| RawFrame::Kernel {
                function: format!("f{i}"),
                module: None
            })
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(frames[7], RawFrame::truncated(Truncation::DepthLimit));
    assert!(matches!(&frames[7], RawFrame::Named { function, .. } if function == "[truncated]"));
    assert_eq!(valid.samples[1].frames.len(), 8, "at the limit: kept whole");
    assert!(
        !valid.samples[1]
            .frames
            .contains(&RawFrame::truncated(Truncation::DepthLimit))
    );
    assert_eq!(hits.stacks_truncated, 1);
    assert_eq!(hits.by_limit()[0], ("stack_depth", 1));
    assert_eq!(valid.total_samples(), 4, "counts are kept");
}

#[test]
fn too_many_labels_are_dropped_and_long_ones_shortened() {
    let limits = Limits {
        max_labels: 4,
        max_label_len: 8,
        ..Limits::default()
    };
    let mut b = good_batch();
    let labels = &mut b.processes[0].labels;
    labels.insert("service".into(), "a-service-name".into());
    for k in ["a", "b", "c", "d", "e"] {
        labels.insert(k.into(), "v".into());
    }
    labels.insert("a-very-long-name".into(), "v".into());
    labels.insert("aa".into(), "ééééé".into());
    let (valid, hits) = validate_counted(b, &limits).unwrap();
    let got = &*valid.samples[0].labels;
    let want: BTreeMap<String, String> = [
        ("service", "a-servic"),
        ("a", "v"),
        ("aa", "éééé"),
        ("b", "v"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(got, &want);
    assert_eq!(hits.labels_dropped, 3, "c, d and e");
    let tiny = Limits {
        max_label_len: 1,
        ..Limits::default()
    };
    let mut b = good_batch();
    b.processes[0].labels.insert("service".into(), "é".into());
    assert!(validate(b, &tiny).is_err(), "no service is left");
    assert_eq!(
        hits.labels_too_long, 3,
        "one name dropped, two values shortened"
    );
}

#[test]
fn odd_path_hints_are_forgotten_not_refused() {
    let limits = Limits::default();
    for (path, kept) in [
        ("/usr/bin/app", true),
        ("", true),
        ("relative/app", false),
        ("/opt/../../etc/shadow", false),
        ("/usr/bin/a\0b", false),
        ("/usr/bin/..app", true),
    ] {
        let mut b = good_batch();
        b.binaries[0].path = path.into();
        let (valid, hits) = validate_counted(b, &limits).unwrap();
        let expected = if kept { path } else { "" };
        assert_eq!(valid.binaries[0].1, expected, "{path:?}");
        assert_eq!(hits.path_hints_dropped, u64::from(!kept), "{path:?}");
    }
    let mut long = String::from("/");
    long.push_str(&"a".repeat(MAX_PATH_HINT));
    assert!(!is_sane_path_hint(&long));
}

#[test]
fn stacks_and_items_are_counted_before_decoding() {
    let mut b = good_batch();
    b.samples = vec![b.samples[0].clone(); 10];
    let encoded = b.encode_to_vec();
    let frames = 2 * 10;
    assert_eq!(
        shape_of(&encoded).unwrap(),
        Shape {
            samples: 10,
            items: 1 + 1 + 1 + 10 + frames,
        },
        "one binary, one process with one label, the samples and frames"
    );
    let payload = compress(&b, 1).unwrap();
    let limits = Limits {
        max_stacks: 9,
        ..Limits::default()
    };
    let err = decompress(&payload, &limits).unwrap_err();
    assert_eq!(
        (err.reason(), err.limit()),
        ("too_many_stacks", Some("stacks_per_batch"))
    );
    assert!(
        err.to_string().contains("10 exceed the limit of 9"),
        "{err}"
    );
    let limits = Limits {
        max_items: 32,
        ..Limits::default()
    };
    let err = decompress(&payload, &limits).unwrap_err();
    assert_eq!(
        (err.reason(), err.limit()),
        ("too_many_items", Some("batch_items"))
    );
    let limits = Limits {
        max_stacks: 10,
        max_items: 33,
        ..Limits::default()
    };
    assert_eq!(decompress(&payload, &limits).unwrap(), b);
}

#[test]
fn two_byte_frames_cannot_inflate_into_gigabytes_of_structs() {
    // 16 MiB of empty frames in one sample: each two bytes on the wire,
    // tens of bytes once decoded.
    let sample_tail = [0x12u8, 0x00].repeat(8 << 20);
    let mut sample = vec![0x08, 0x00, 0x18, 0x01, 0x12, 0x00];
    sample.extend_from_slice(&sample_tail);
    let mut encoded = Vec::new();
    encoded.push(0x4a); // field 9, length-delimited
    let mut len = sample.len();
    while len >= 0x80 {
        encoded.push((len as u8) | 0x80);
        len >>= 7;
    }
    encoded.push(len as u8);
    encoded.extend_from_slice(&sample);
    let payload = zstd::bulk::compress(&encoded, 1).unwrap();
    let err = decompress(&payload, &Limits::default()).unwrap_err();
    assert_eq!(err.reason(), "too_many_items", "{err}");
}

#[test]
fn malformed_bytes_are_refused_by_the_count() {
    for bytes in [
        &[0x4a, 0x05, 0x01][..], // length past the end
        &[0x4b][..],             // a group
        &[0xff; 11][..],         // endless varint
        &[0x4a, 0x02, 0x12][..], // nested field past the end
    ] {
        assert!(shape_of(bytes).is_err(), "{bytes:?}");
        let payload = zstd::bulk::compress(bytes, 1).unwrap();
        assert_eq!(
            decompress(&payload, &Limits::default())
                .unwrap_err()
                .reason(),
            "bad_protobuf"
        );
    }
}

/// A zstd frame of RLE blocks: `blocks` x 128 KiB of zeros in a few
/// bytes each, with a `2^window_log`-byte window and, if `declare`, the
/// true content size in its header.
fn rle_bomb(blocks: u32, window_log: u8, declare: bool) -> Vec<u8> {
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    frame.push(if declare { 0xc0 } else { 0x00 });
    frame.push((window_log - 10) << 3);
    if declare {
        frame.extend_from_slice(&(u64::from(blocks) * (128 << 10)).to_le_bytes());
    }
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = last | (1 << 1) | ((128 << 10) << 3);
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(0);
    }
    frame
}

#[test]
fn bombs_without_a_declared_size_stop_at_the_limit() {
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    // 1 GiB from 32 KiB, undeclared and declared.
    for declare in [false, true] {
        let bomb = rle_bomb(8192, 20, declare);
        assert!(bomb.len() < 33 << 10);
        let started = std::time::Instant::now();
        let err = decompress(&bomb, &limits).unwrap_err();
        assert_eq!(err.reason(), "inflates_too_large", "{err}");
        assert_eq!(err.limit(), Some("decompressed_size"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // A bomb that asks for a 2 GiB window is refused before inflating.
    let err = decompress(&rle_bomb(4, 31, false), &limits).unwrap_err();
    assert_eq!(err.reason(), "bad_compression", "{err}");
    assert!(err.to_string().contains("too much memory"), "{err}");
    // Small frames inflate as before: 128 KiB of zeros, not a batch.
    let err = decompress(&rle_bomb(1, 20, false), &limits).unwrap_err();
    assert!(
        matches!(err, BatchError::Malformed("field number 0")),
        "{err}"
    );
}

#[test]
fn batches_share_the_decode_memory_and_one_alone_always_fits() {
    let memory = DecodeMemory::new(1000);
    let some = Some(memory.clone());
    let mut first = Reservation::new(&some);
    first.grow(600).unwrap();
    let mut second = Reservation::new(&some);
    let busy = second.grow(500).unwrap_err();
    assert_eq!(
        (busy.reason(), busy.limit()),
        ("decode_memory", Some("decode_memory"))
    );
    second.grow(400).unwrap();
    assert_eq!(memory.in_use(), 1000);
    drop(first);
    // Alone, a batch may take more than the whole.
    second.grow(5000).unwrap();
    assert_eq!(memory.in_use(), 5400);
    drop(second);
    assert_eq!(memory.in_use(), 0);

    // A decoded batch holds its inflated bytes and items until dropped.
    let limits = Limits {
        decode_memory: Some(memory.clone()),
        ..Limits::default()
    };
    let payload = compress(&good_batch(), 3).unwrap();
    let (batch, held) = decompress_reserved(&payload, &limits).unwrap();
    let encoded = batch.encoded_len();
    // Inflated once, strings once, six items (a binary, a process, its
    // label, a sample and its two frames).
    assert_eq!(held.bytes(), 2 * encoded + 6 * ITEM_BYTES);
    assert_eq!(memory.in_use(), held.bytes());
    let other = Limits {
        decode_memory: Some(DecodeMemory::new(held.bytes())),
        ..Limits::default()
    };
    let _other_held = decompress_reserved(&payload, &other).unwrap().1;
    let busy = decompress_reserved(&payload, &other).unwrap_err();
    assert_eq!(busy.reason(), "decode_memory", "{busy}");
    drop(held);
    assert_eq!(memory.in_use(), 0);
}

#[test]
fn frames_from_any_ordinary_level_fit_the_window_bound() {
    let limits = Limits::default();
    let encoded = [good_batch().encode_to_vec(), [0x78, 0x01].repeat(1 << 20)].concat();
    for level in [1, 3, 19] {
        // Streamed, so no size is declared and the window matters.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), level).unwrap();
        std::io::Write::write_all(&mut encoder, &encoded).unwrap();
        let streamed = encoder.finish().unwrap();
        assert_eq!(
            decompress(&streamed, &limits).unwrap(),
            good_batch(),
            "level {level}"
        );
    }
}
