//! The aggregator's decoder, the one production runs: a push payload
//! inflated within the limits, then the encoded bytes of its `Batch`
//! straight into a [`ValidBatch`], without the generated protobuf types in
//! between.
//!
//! Decoding with prost, then validating, builds every frame twice: a
//! `Frame` whose list grows one push at a time, then the `RawFrame` it is
//! turned into, and frees the first; and the aggregator then mostly finds
//! the stack among those it holds and frees the second. Here the frames of
//! a batch are read into one list of borrowed views ([`FrameRef`], no
//! allocation per frame), and the caller is handed each stack as a slice of
//! it, to find the ones it holds and build only the new ones. Nothing else
//! changes: the bytes are read by the same rules prost follows (in
//! [`crate::protobuf`]: field order free, the last value of a scalar field
//! wins, a repeated `oneof` member of the same kind merges into the first,
//! unknown fields and groups skipped, UTF-8 checked, 100 levels of nesting
//! at most), and validated by the same rules as the reference decoder
//! (`reference::validate_counted`), in the same order. A batch prost decodes gets the same batch or the same
//! refusal either way; one it cannot decode is refused either way (as
//! malformed, or as invalid when a rule broken earlier in the batch is
//! found first). The wire-batch fuzz target checks this on every input it
//! makes.

use std::collections::BTreeMap;

use augur_profile::{FileId, FrameRef, ProfileType, RawFrame, Truncation};

use super::inflate::decompress_with;
use super::limits::{BatchError, LimitHits, Limits, Reservation, Shape};
use super::validate::{
    Labels, ValidBatch, ValidSample, binary_path, bounded_labels, check_header, runtime_frame,
    sample_labels,
};
use crate::protobuf::{RECURSION_LIMIT, Result, Value, each_field, each_field_of, map_entry};

/// Decompresses, decodes and validates a push payload within `limits`,
/// handing the stacks of the samples kept, as borrowed frames, to
/// `stacks`, which makes of each what the batch keeps in its place (in the
/// same order): the aggregator finds the stacks it already holds there, and
/// builds only the new ones; [`owned_frames`] builds them all. Returns with
/// the batch what validation cut down, and the share of
/// [`Limits::decode_memory`] the batch holds: keep it while the batch (or
/// what is made of it) is in memory.
pub fn decode<S>(
    payload: &[u8],
    limits: &Limits,
    mut stacks: impl FnMut(&[&[FrameRef<'_>]]) -> Vec<S>,
) -> std::result::Result<(ValidBatch<S>, LimitHits, Reservation), BatchError> {
    let ((batch, hits), reservation) = decompress_with(payload, limits, &mut |bytes, shape| {
        decode_counted(bytes, shape, limits, &mut stacks)
    })?;
    Ok((batch, hits, reservation))
}

/// Each stack's frames, owned: for [`decode`], when every frame is wanted.
pub fn owned_frames(stacks: &[&[FrameRef<'_>]]) -> Vec<Vec<RawFrame>> {
    stacks
        .iter()
        .map(|frames| frames.iter().map(|f| f.to_raw()).collect())
        .collect()
}

/// A frame as the bytes hold it, borrowing its strings.
#[derive(Clone, Copy)]
enum WireFrame<'a> {
    /// No `kind` set.
    Empty,
    User {
        binary: u32,
        file_offset: u64,
    },
    Kernel {
        function: &'a str,
        module: &'a str,
    },
    Unknown(&'a str),
    Named {
        function: &'a str,
        origin: &'a str,
    },
    Runtime {
        runtime: &'a str,
        function: &'a str,
        file: &'a str,
        line: u32,
        inlined: bool,
    },
}

/// Reads a `Frame` message at level `depth`.
fn wire_frame(value: Value<'_>, depth: u32) -> Result<WireFrame<'_>> {
    let mut kind = WireFrame::Empty;
    each_field_of(value, depth, |field, value| {
        // A member seen again merges into what it holds; another member
        // starts from its defaults.
        let inner = depth - 1;
        match field {
            1 => {
                let (mut binary, mut file_offset) = match kind {
                    WireFrame::User {
                        binary,
                        file_offset,
                    } => (binary, file_offset),
                    _ => (0, 0),
                };
                each_field_of(value, inner, |field, value| {
                    match field {
                        1 => binary = value.varint()? as u32,
                        2 => file_offset = value.varint()?,
                        _ => {}
                    }
                    Ok(())
                })?;
                kind = WireFrame::User {
                    binary,
                    file_offset,
                };
            }
            2 => {
                let held = match kind {
                    WireFrame::Kernel { function, module } => (function, module),
                    _ => ("", ""),
                };
                let (function, module) = string_pair(value, inner, held)?;
                kind = WireFrame::Kernel { function, module };
            }
            3 => kind = WireFrame::Unknown(value.string()?),
            4 => {
                let held = match kind {
                    WireFrame::Named { function, origin } => (function, origin),
                    _ => ("", ""),
                };
                let (function, origin) = string_pair(value, inner, held)?;
                kind = WireFrame::Named { function, origin };
            }
            5 => {
                let (mut runtime, mut function, mut file, mut line, mut inlined) = match kind {
                    WireFrame::Runtime {
                        runtime,
                        function,
                        file,
                        line,
                        inlined,
                    } => (runtime, function, file, line, inlined),
                    _ => ("", "", "", 0, false),
                };
                each_field_of(value, inner, |field, value| {
                    match field {
                        1 => runtime = value.string()?,
                        2 => function = value.string()?,
                        3 => file = value.string()?,
                        // prost reads a uint32 as a varint cut to 32 bits,
                        // and a bool as any nonzero varint.
                        4 => line = value.varint()? as u32,
                        5 => inlined = value.varint()? != 0,
                        _ => {}
                    }
                    Ok(())
                })?;
                kind = WireFrame::Runtime {
                    runtime,
                    function,
                    file,
                    line,
                    inlined,
                };
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(kind)
}

/// A message of two string fields, 1 and 2, at level `depth`, merged into
/// `held`: a field it does not carry keeps its value there.
fn string_pair<'a>(
    value: Value<'a>,
    depth: u32,
    (mut first, mut second): (&'a str, &'a str),
) -> Result<(&'a str, &'a str)> {
    each_field_of(value, depth, |field, value| {
        match field {
            1 => first = value.string()?,
            2 => second = value.string()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((first, second))
}

/// A `Sample` as the bytes hold it; its frames go to a list the caller
/// reuses.
struct WireSample {
    process: u32,
    count: u64,
}

fn wire_sample<'a>(bytes: &'a [u8], frames: &mut Vec<WireFrame<'a>>) -> Result<WireSample> {
    // A sample is read at level 99, its frames' fields at 98.
    const DEPTH: u32 = RECURSION_LIMIT - 1;
    frames.clear();
    let mut sample = WireSample {
        process: 0,
        count: 0,
    };
    each_field(bytes, DEPTH, |field, value| {
        match field {
            1 => sample.process = value.varint()? as u32,
            2 => frames.push(wire_frame(value, DEPTH)?),
            3 => sample.count = value.varint()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(sample)
}

/// Decodes and validates the encoded `Batch` in `bytes`, whose `shape`
/// was counted and found within `limits`; the stacks of the samples kept
/// go to `stacks` as borrowed frames, all at once, and the batch keeps what
/// it makes of each.
pub(super) fn decode_counted<S>(
    bytes: &[u8],
    shape: &Shape,
    limits: &Limits,
    stacks: &mut dyn FnMut(&[&[FrameRef<'_>]]) -> Vec<S>,
) -> std::result::Result<(ValidBatch<S>, LimitHits), BatchError> {
    const DEPTH: u32 = RECURSION_LIMIT;
    let mut host = "";
    let (mut start_unix_nanos, mut end_unix_nanos) = (0i64, 0i64);
    let (mut profile_type, mut unit, mut period) = ("", "", 0u64);
    let mut binaries: Vec<(&[u8], &str)> = Vec::new();
    let mut processes: Vec<BTreeMap<&str, &str>> = Vec::new();
    let mut samples: Vec<&[u8]> = Vec::with_capacity(shape.samples);
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    each_field(bytes, DEPTH, |field, value| {
        match field {
            1 => host = value.string()?,
            2 => start_unix_nanos = value.varint()? as i64,
            3 => end_unix_nanos = value.varint()? as i64,
            4 => profile_type = value.string()?,
            5 => unit = value.string()?,
            6 => period = value.varint()?,
            7 => {
                let (mut build_id, mut path): (&[u8], &str) = (&[], "");
                each_field_of(value, DEPTH, |field, value| {
                    match field {
                        1 => build_id = value.bytes()?,
                        2 => path = value.string()?,
                        _ => {}
                    }
                    Ok(())
                })?;
                binaries.push((build_id, path));
            }
            8 => {
                let mut labels = BTreeMap::new();
                each_field_of(value, DEPTH, |field, value| {
                    match field {
                        1 => drop(value.varint()?),
                        2 => {
                            let (name, value) = map_entry(value, DEPTH - 1, Value::string)?;
                            labels.insert(name, value);
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
                processes.push(labels);
            }
            9 => samples.push(value.bytes()?),
            10 => {
                let (reason, count) = map_entry(value, DEPTH, Value::varint)?;
                dropped.insert(reason.to_owned(), count);
            }
            _ => {}
        }
        Ok(())
    })
    .map_err(BatchError::Malformed)?;

    let mut hits = LimitHits::default();
    check_header(profile_type, unit, period, start_unix_nanos, end_unix_nanos)?;
    let binaries = binaries
        .into_iter()
        .enumerate()
        .map(|(i, (build_id, path))| binary_path(i, build_id, path.to_owned(), &mut hits))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let processes = processes
        .into_iter()
        .enumerate()
        .map(|(i, labels)| {
            let labels = labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()));
            bounded_labels(i, labels, limits, &mut hits)
        })
        .collect::<std::result::Result<Vec<Labels>, _>>()?;

    // Samples are read one by one as they are validated, so a batch with
    // a broken sample and an invalid field before it is refused as invalid
    // rather than as malformed; a batch prost reads gets the same answer.
    let depth_limit = limits.max_stack_depth.max(2);
    // The marker takes the last place: no stack is deeper than the limit.
    let keep_frames = depth_limit - 1;
    let marker = FrameRef::truncated(Truncation::DepthLimit);
    let invalid = |msg: String| BatchError::Invalid(msg);
    let mut wire_frames = Vec::new();
    // Every kept frame of the batch, stack after stack.
    let mut frames: Vec<FrameRef<'_>> = Vec::with_capacity(shape.items);
    // Per kept sample: its labels, count and where its frames end.
    let mut kept: Vec<(Labels, u64, usize)> = Vec::with_capacity(samples.len());
    for (i, bytes) in samples.iter().enumerate() {
        let sample = wire_sample(bytes, &mut wire_frames).map_err(BatchError::Malformed)?;
        let labels = sample_labels(i, sample.process, &processes)?;
        if wire_frames.is_empty() {
            return Err(invalid(format!("sample {i} has no frames")));
        }
        if sample.count == 0 {
            continue;
        }
        let truncated = wire_frames.len() > depth_limit;
        let kept_frames = if truncated {
            keep_frames
        } else {
            wire_frames.len()
        };
        for frame in &wire_frames[..kept_frames] {
            frames.push(match *frame {
                WireFrame::User {
                    binary,
                    file_offset,
                } => FrameRef::User {
                    build_id: binaries
                        .get(binary as usize)
                        .map(|(id, _): &(FileId, String)| id)
                        .ok_or_else(|| {
                            invalid(format!("sample {i}: binary index {binary} out of range"))
                        })?,
                    file_offset,
                },
                WireFrame::Kernel { function, module } if !function.is_empty() => {
                    FrameRef::Kernel {
                        function,
                        module: (!module.is_empty()).then_some(module),
                    }
                }
                WireFrame::Unknown(reason) => FrameRef::Unknown { reason },
                WireFrame::Named { function, origin }
                    if !function.is_empty() && !origin.is_empty() =>
                {
                    FrameRef::Named { function, origin }
                }
                WireFrame::Runtime {
                    runtime,
                    function,
                    file,
                    line,
                    inlined,
                } => {
                    let (runtime, function, file) =
                        runtime_frame(i, runtime, function, file, &mut hits)?;
                    FrameRef::Runtime {
                        runtime,
                        function,
                        file,
                        line,
                        inlined,
                    }
                }
                _ => return Err(invalid(format!("sample {i} has an empty frame"))),
            });
        }
        if truncated {
            hits.stacks_truncated += 1;
            frames.push(marker);
        }
        kept.push((labels, sample.count, frames.len()));
    }
    let mut start = 0;
    let views: Vec<&[FrameRef<'_>]> = kept
        .iter()
        .map(|&(_, _, end)| {
            let view = &frames[start..end];
            start = end;
            view
        })
        .collect();
    let made = stacks(&views);
    assert_eq!(made.len(), kept.len(), "one stack made per stack given");
    let samples = kept
        .into_iter()
        .zip(made)
        .map(|((labels, count, _), frames)| ValidSample {
            labels,
            frames,
            count,
        })
        .collect();
    let batch = ValidBatch {
        host: host.to_owned(),
        start_unix_nanos,
        end_unix_nanos,
        profile_type: ProfileType {
            name: profile_type.to_owned(),
            unit: unit.to_owned(),
        },
        period,
        binaries,
        samples,
        dropped,
    };
    Ok((batch, hits))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::reference::{decode_direct as decode_valid, decode_then_validate};
    use super::*;
    use crate::ingest::{
        Batch, Binary, Frame, KernelFrame, NamedFrame, Process, RuntimeFrame, Sample, UserFrame,
        frame,
    };

    fn limits() -> Limits {
        Limits {
            max_stack_depth: 6,
            max_labels: 3,
            max_label_len: 16,
            ..Limits::default()
        }
    }

    fn frame(kind: frame::Kind) -> Frame {
        Frame { kind: Some(kind) }
    }

    fn user(binary: u32, file_offset: u64) -> Frame {
        frame(frame::Kind::User(UserFrame {
            binary,
            file_offset,
        }))
    }

    /// A batch with every kind of element: two binaries (one path hint
    /// odd), processes with labels to drop and shorten, every frame kind,
    /// a stack past the depth limit, a sample of count 0, dropped counts.
    fn rich_batch() -> Batch {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let kernel = frame(frame::Kind::Kernel(KernelFrame {
            function: "do_syscall_64".into(),
            module: String::new(),
        }));
        let module = frame(frame::Kind::Kernel(KernelFrame {
            function: "nvme_irq".into(),
            module: "nvme".into(),
        }));
        let named = frame(frame::Kind::Named(NamedFrame {
            function: "LuaJIT trace 7".into(),
            origin: "jit".into(),
        }));
        let unknown = frame(frame::Kind::Unknown("anonymous memory".into()));
        // A name past the limit, cut inside a two-byte character.
        let python = frame(frame::Kind::Runtime(RuntimeFrame {
            runtime: "python".into(),
            function: format!("x{}", "é".repeat(600)),
            file: "/srv/app/server.py".into(),
            line: 42,
            inlined: false,
        }));
        let java = frame(frame::Kind::Runtime(RuntimeFrame {
            runtime: "java".into(),
            function: "java.util.HashMap.get".into(),
            file: String::new(),
            line: 0,
            inlined: true,
        }));
        Batch {
            host: "host-1".into(),
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_010_000_000_000,
            profile_type: "cpu".into(),
            unit: "nanoseconds".into(),
            period: 10_101_010,
            binaries: vec![
                Binary {
                    build_id: vec![0xab; 20],
                    path: "/usr/bin/app".into(),
                },
                Binary {
                    build_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
                    path: "lib/../../etc".into(),
                },
            ],
            processes: vec![
                Process {
                    pid: 7,
                    labels: labels(&[("service", "api"), ("zone", "eu-1")]),
                },
                Process {
                    pid: 8,
                    labels: labels(&[
                        ("service", "worker"),
                        ("a", "1"),
                        ("b", "a value longer than sixteen bytes"),
                        ("c", "3"),
                        ("a label name past sixteen bytes", "x"),
                    ]),
                },
            ],
            samples: vec![
                Sample {
                    process: 0,
                    frames: vec![user(0, 0x1234), user(1, 0x99), kernel.clone()],
                    count: 3,
                },
                Sample {
                    process: 1,
                    frames: vec![named, unknown, module, user(0, 0x10), java, python],
                    count: 1,
                },
                Sample {
                    process: 1,
                    frames: (0..9).map(|i| user(i % 2, 0x100 + u64::from(i))).collect(),
                    count: 2,
                },
                Sample {
                    process: 0,
                    frames: vec![user(0, 0x5)],
                    count: 0,
                },
            ],
            dropped: [("lost".to_string(), 4), ("map_full".to_string(), 1)].into(),
        }
    }

    /// Decodes `bytes` both ways and checks they agree: the same batch and
    /// hits, the same refusal for bytes prost reads, a refusal of any kind
    /// for bytes it cannot. Returns whether the batch was accepted.
    fn agree(bytes: &[u8], limits: &Limits) -> bool {
        match (
            decode_then_validate(bytes, limits),
            decode_valid(bytes, limits),
        ) {
            (Ok(slow), Ok(fast)) => {
                assert_eq!(slow, fast, "decoded differently: {bytes:02x?}");
                true
            }
            (Err(BatchError::Decode { .. }), Err(_)) => false,
            (Err(slow), Err(fast)) => {
                assert_eq!(slow.to_string(), fast.to_string(), "{bytes:02x?}");
                false
            }
            (slow, fast) => panic!(
                "prost then validate: {:?}\ndirect: {:?}\nbytes: {bytes:02x?}",
                slow.map(drop),
                fast.map(drop)
            ),
        }
    }

    #[test]
    fn a_rich_batch_decodes_as_prost_then_validate_does() {
        let limits = limits();
        let bytes = rich_batch().encode_to_vec();
        assert!(agree(&bytes, &limits));
        let (batch, hits) = decode_valid(&bytes, &limits).expect("valid");
        // The count-0 sample is left out; the deep one is cut to the limit.
        assert_eq!(batch.samples.len(), 3);
        assert_eq!(batch.samples[2].frames.len(), 6);
        assert_eq!(
            batch.samples[2].frames[5],
            RawFrame::truncated(Truncation::DepthLimit)
        );
        assert_eq!(
            hits,
            LimitHits {
                stacks_truncated: 1,
                labels_dropped: 1,
                labels_too_long: 2,
                path_hints_dropped: 1,
                runtime_names_shortened: 1,
            }
        );
        let RawFrame::Runtime { function, .. } = &batch.samples[1].frames[5] else {
            panic!("{:?}", batch.samples[1].frames[5]);
        };
        assert_eq!(function.len(), 1023);
        assert_eq!(
            batch.samples[1].frames[4],
            RawFrame::Runtime {
                runtime: augur_profile::Runtime::Java,
                function: "java.util.HashMap.get".into(),
                file: String::new(),
                line: 0,
                inlined: true,
            }
        );
    }

    /// Every refusal `validate_counted` makes, made the same way.
    #[test]
    fn invalid_batches_are_refused_with_the_same_reason() {
        let limits = limits();
        type Break = Box<dyn Fn(&mut Batch)>;
        let cases: Vec<(&str, Break)> = vec![
            ("no unit", Box::new(|b| b.unit.clear())),
            // Types are open-ended; a name no type can have is refused.
            (
                "invalid type",
                Box::new(|b| b.profile_type = "GPU time".into()),
            ),
            ("wrong unit", Box::new(|b| b.unit = "bytes".into())),
            ("no period", Box::new(|b| b.period = 0)),
            ("backwards", Box::new(|b| b.end_unix_nanos = -1)),
            (
                "empty build-id",
                Box::new(|b| b.binaries[1].build_id.clear()),
            ),
            (
                "no service",
                Box::new(|b| drop(b.processes[1].labels.remove("service"))),
            ),
            (
                "empty label name",
                Box::new(|b| drop(b.processes[0].labels.insert(String::new(), "v".into()))),
            ),
            ("process index", Box::new(|b| b.samples[1].process = 2)),
            ("no frames", Box::new(|b| b.samples[0].frames.clear())),
            (
                "binary index",
                Box::new(|b| b.samples[0].frames[1] = user(2, 0)),
            ),
            (
                "empty frame",
                Box::new(|b| b.samples[1].frames[0] = Frame { kind: None }),
            ),
            (
                "empty kernel function",
                Box::new(|b| {
                    b.samples[1].frames[2] = frame(frame::Kind::Kernel(KernelFrame::default()))
                }),
            ),
            (
                "unknown runtime",
                Box::new(|b| {
                    b.samples[1].frames[4] = frame(frame::Kind::Runtime(RuntimeFrame {
                        runtime: "cobol".into(),
                        function: "f".into(),
                        ..Default::default()
                    }))
                }),
            ),
            (
                "runtime without function",
                Box::new(|b| {
                    b.samples[1].frames[4] = frame(frame::Kind::Runtime(RuntimeFrame {
                        runtime: "java".into(),
                        ..Default::default()
                    }))
                }),
            ),
            (
                "named without origin",
                Box::new(|b| {
                    b.samples[1].frames[0] = frame(frame::Kind::Named(NamedFrame {
                        function: "f".into(),
                        origin: String::new(),
                    }))
                }),
            ),
        ];
        for (case, break_it) in cases {
            let mut batch = rich_batch();
            break_it(&mut batch);
            let bytes = batch.encode_to_vec();
            assert!(!agree(&bytes, &limits), "{case}: accepted");
            assert!(
                matches!(decode_valid(&bytes, &limits), Err(BatchError::Invalid(_))),
                "{case}"
            );
        }
        // What is not checked stays unchecked: frames past the depth limit,
        // and every frame of a sample of count 0.
        let mut batch = rich_batch();
        batch.samples[2].frames[8] = user(9, 0);
        batch.samples[3].frames[0] = Frame { kind: None };
        assert!(agree(&batch.encode_to_vec(), &limits));
    }

    /// Field `n` holding `bytes` (wire type 2).
    fn bytes_field(n: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_key(n, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    /// Field `n` holding the varint `value` (wire type 0).
    fn varint_field(n: u32, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_key(n, prost::encoding::WireType::Varint, &mut out);
        prost::encoding::encode_varint(value, &mut out);
        out
    }

    /// Hand-made encodings that generated code never writes but protobuf
    /// allows, and some it forbids.
    #[test]
    fn protobuf_corners_are_read_as_prost_reads_them() {
        let limits = limits();
        let base = rich_batch().encode_to_vec();
        let with = |extra: &[u8]| [base.as_slice(), extra].concat();
        let sample = |frames: &[Vec<u8>]| {
            let mut sample: Vec<u8> = frames.iter().flat_map(|f| bytes_field(2, f)).collect();
            sample.extend(varint_field(3, 1));
            bytes_field(9, &sample)
        };
        // One frame with two `user` members: they merge, the second
        // setting only the offset.
        let merged = bytes_field(1, &varint_field(1, 1))
            .into_iter()
            .chain(bytes_field(1, &varint_field(2, 1000)))
            .collect::<Vec<u8>>();
        let (batch, _) =
            decode_valid(&with(&sample(std::slice::from_ref(&merged))), &limits).unwrap();
        assert_eq!(
            batch.samples.last().unwrap().frames,
            vec![RawFrame::User {
                build_id: batch.binaries[1].0.clone(),
                file_offset: 1000
            }]
        );
        assert!(agree(
            &with(&sample(std::slice::from_ref(&merged))),
            &limits
        ));
        // A kernel member after them replaces them; a named member merges
        // its two halves; an unknown one replaces a user member.
        let kernel = bytes_field(2, &bytes_field(1, b"schedule"));
        let named = [
            bytes_field(4, &bytes_field(1, b"trace 1")),
            bytes_field(4, &bytes_field(2, b"jit")),
        ]
        .concat();
        let unknown = [bytes_field(1, &[]), bytes_field(3, b"no build-id")].concat();
        let frames = [[merged.clone(), kernel].concat(), named.clone(), unknown];
        assert!(agree(&with(&sample(&frames)), &limits));
        let (batch, _) = decode_valid(&with(&sample(&frames)), &limits).unwrap();
        assert_eq!(
            batch.samples.last().unwrap().frames,
            vec![
                RawFrame::Kernel {
                    function: "schedule".into(),
                    module: None
                },
                RawFrame::Named {
                    function: "trace 1".into(),
                    origin: "jit".into()
                },
                RawFrame::Unknown {
                    reason: "no build-id".into()
                },
            ]
        );
        // A runtime member sent in two halves merges; a runtime then a
        // named member is the named one.
        let runtime = [
            bytes_field(
                5,
                &[bytes_field(1, b"java"), bytes_field(2, b"A.run")].concat(),
            ),
            bytes_field(
                5,
                &[varint_field(4, (1 << 32) | 7), varint_field(5, 2)].concat(),
            ),
        ]
        .concat();
        let replaced = [runtime.clone(), bytes_field(4, &bytes_field(1, b"g"))].concat();
        let frames = [runtime, replaced];
        assert!(
            !agree(&with(&sample(&frames)), &limits),
            "named without origin"
        );
        let (batch, _) = decode_valid(&with(&sample(&frames[..1])), &limits).unwrap();
        assert_eq!(
            batch.samples.last().unwrap().frames,
            vec![RawFrame::Runtime {
                runtime: augur_profile::Runtime::Java,
                function: "A.run".into(),
                file: String::new(),
                line: 7,
                inlined: true,
            }]
        );
        assert!(agree(&with(&sample(&frames[..1])), &limits));
        // A named member then a kernel member with no function: empty.
        let emptied = [named, bytes_field(2, &[])].concat();
        assert!(!agree(&with(&sample(&[emptied])), &limits));

        let service = bytes_field(
            2,
            &[bytes_field(1, b"service"), bytes_field(2, b"a")].concat(),
        );
        let service_again = bytes_field(
            2,
            &[bytes_field(1, b"service"), bytes_field(2, b"b")].concat(),
        );
        let corners: Vec<Vec<u8>> = vec![
            // Unknown fields of every wire type, a group with a group in it.
            vec![0x58, 0x01, 0x61, 1, 2, 3, 4, 5, 6, 7, 8, 0x6d, 1, 2, 3, 4],
            vec![0x73, 0x7b, 0x08, 0x01, 0x7c, 0x74],
            // A group closed by the wrong field; an end-group alone.
            vec![0x73, 0x7c],
            vec![0x74],
            // Wire types 6 and 7; field number 0; a key past 32 bits.
            vec![0x5e],
            vec![0x5f],
            vec![0x00, 0x01],
            {
                // Field 11 as a varint, were the key cut to 32 bits.
                let mut key = Vec::new();
                prost::encoding::encode_varint((1 << 32) | (11 << 3), &mut key);
                key.push(0x01);
                key
            },
            // Varints: 10 bytes ending in 1 (fits), in 2 (overflows), 11
            // bytes, cut short.
            [&[0x30][..], &[0xff; 9], &[0x01]].concat(),
            [&[0x30][..], &[0xff; 9], &[0x02]].concat(),
            [&[0x30][..], &[0xff; 10], &[0x01]].concat(),
            vec![0x30, 0xff],
            // A string that is not UTF-8; a string field sent as a varint.
            bytes_field(1, &[0xc3, 0x28]),
            varint_field(1, 5),
            // A sample sent as a varint; a length past the end.
            varint_field(9, 1),
            vec![0x4a, 0x7f, 0x08],
            // A dropped-reasons entry with no key, and one repeated.
            bytes_field(10, &varint_field(2, 5)),
            bytes_field(10, &[bytes_field(1, b"lost"), varint_field(2, 9)].concat()),
            // A process repeating a label (the last value wins), and one
            // whose pid is sent as a string.
            bytes_field(8, &[service.clone(), service_again].concat()),
            bytes_field(8, &[bytes_field(1, b"7"), service].concat()),
        ];
        for corner in &corners {
            agree(&with(corner), &limits);
        }
        // Groups nested up to and past prost's limit of 100 levels, in a
        // frame's user member (level 3).
        for levels in [1, 50, 95, 96, 97, 98] {
            let mut group = vec![0x1b; levels];
            group.extend(std::iter::repeat_n(0x1c, levels));
            let user = [varint_field(1, 0), group].concat();
            let frame = bytes_field(1, &user);
            agree(&with(&sample(&[frame])), &limits);
        }
    }

    /// A small, fixed pseudo-random source (xorshift), so a failure here
    /// can be replayed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn mutated_batches_are_judged_alike() {
        let limits = limits();
        let base = rich_batch().encode_to_vec();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut tried) = (0, 0);
        for _ in 0..30_000 {
            let mut bytes = base.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len());
                match rng.below(5) {
                    0 => bytes[at] ^= 1 << rng.below(8),
                    1 => bytes[at] = rng.next() as u8,
                    2 => bytes.insert(at, rng.next() as u8),
                    3 => drop(bytes.remove(at)),
                    _ => {
                        let len = rng.below(12).min(bytes.len() - at);
                        let copy = bytes[at..at + len].to_vec();
                        let to = rng.below(bytes.len());
                        bytes.splice(to..to, copy);
                    }
                }
                if bytes.is_empty() {
                    bytes.push(0);
                }
            }
            tried += 1;
            accepted += usize::from(agree(&bytes, &limits));
        }
        // Enough of them must still be batches for the comparison to mean
        // something.
        assert!(accepted * 20 > tried, "only {accepted} of {tried} accepted");
    }
}
