//! Hostile and oversized input against a real `augur server` over real
//! gRPC: every limit answers with a clear error or cuts the input down, is
//! counted in `augur_aggregator_limit_hits_total`, and keeps the server's
//! memory and files where they belong.
//!
//! - A zstd bomb (a frame of run-length blocks: 128 KiB on the wire, 4 GiB
//!   inflated, with and without a declared size; then sixteen at once) is
//!   refused with INVALID_ARGUMENT while the server's peak RSS stays within
//!   200 MB of what it used before. zstd's format caps a block at 128 KiB
//!   from at least four bytes, so 1 KiB inflates to 32 MiB at most; that
//!   one is sent too. Sixteen 6 KB payloads inflating to just under the
//!   64 MiB limit each pass every per-batch limit: the decode memory all
//!   batches share bounds them, telling the excess to retry.
//! - A 100,000-frame stack is stored cut to the depth limit, its leaf side
//!   kept and a `[truncated]` frame at its root, read back over the HTTP
//!   API.
//! - A million distinct values of one label of one service go through gRPC
//!   in five pushes of 200,000 processes; 1,000 are kept, the rest stored as
//!   `__overflow__` and counted: 25-55 s with the debug build on two busy
//!   cores, under the suite's minute, so the million goes end to end. (The
//!   library folds the same million in `aggregator/src/cardinality.rs`'s
//!   tests, in about 5 s of CPU in a debug build.)
//! - Debug-info uploads whose build-id holds a path are refused before
//!   anything is written, and nothing appears outside the debug-info tree;
//!   an upload over `--max-debuginfo-bytes` is refused and counted.

use std::time::Instant;

use augur_tests::*;
use augur_wire::batch::compress;
use augur_wire::ingest::debug_info_client::DebugInfoClient;
use augur_wire::ingest::ingest_client::IngestClient;
use augur_wire::ingest::{
    Batch, Frame, KernelFrame, Process, PushRequest, Sample, UploadChunk, frame,
};
use tonic::codegen::tokio_stream;

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn kernel(function: String) -> Frame {
    Frame {
        kind: Some(frame::Kind::Kernel(KernelFrame {
            function,
            module: String::new(),
        })),
    }
}

/// A batch of one sample per process, each process with `labels`.
fn batch(processes: Vec<Vec<(String, String)>>, frames: Vec<Frame>, count: u64) -> Batch {
    let now = now_nanos();
    Batch {
        host: "limits-host".into(),
        start_unix_nanos: now - 1_000_000_000,
        end_unix_nanos: now,
        profile_type: "cpu".into(),
        unit: "nanoseconds".into(),
        period: 10_000_000,
        binaries: vec![],
        samples: (0..processes.len() as u32)
            .map(|process| Sample {
                process,
                frames: frames.clone(),
                count,
            })
            .collect(),
        processes: processes
            .into_iter()
            .map(|labels| Process {
                pid: 1,
                labels: labels.into_iter().collect(),
            })
            .collect(),
        dropped: Default::default(),
    }
}

fn service(name: &str) -> Vec<(String, String)> {
    vec![("service".to_owned(), name.to_owned())]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A `key` line of `/proc/PID/status`, in bytes.
fn proc_status_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{key} missing from /proc/{pid}/status"));
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

/// A zstd frame of `blocks` run-length blocks of 128 KiB of zeros, four
/// bytes each, with a `2^window_log`-byte window, declaring its content
/// size in the header or not.
fn rle_bomb(blocks: u32, window_log: u8, declare: bool) -> Vec<u8> {
    let mut bomb = vec![0x28, 0xb5, 0x2f, 0xfd];
    bomb.push(if declare { 0xc0 } else { 0x00 });
    bomb.push((window_log - 10) << 3);
    if declare {
        bomb.extend_from_slice(&(u64::from(blocks) * (128 << 10)).to_le_bytes());
    }
    for i in 0..blocks {
        let header = u32::from(i + 1 == blocks) | (1 << 1) | ((128 << 10) << 3);
        bomb.extend_from_slice(&header.to_le_bytes()[..3]);
        bomb.push(0);
    }
    bomb
}

#[test]
fn a_zstd_bomb_is_refused_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let pid = server.pid();
    let metrics = format!("{base}metrics");
    runtime().block_on(async {
        let mut client = IngestClient::connect(ingest).await.unwrap();
        // Warm up: one good batch, so what a push normally costs is in the
        // baseline.
        let good = batch(vec![service("bomb-test")], vec![kernel("f".into())], 1);
        client
            .push(PushRequest {
                batch_id: "warm-up".into(),
                payload: compress(&good, 3).unwrap(),
            })
            .await
            .unwrap();
        let baseline = proc_status_bytes(pid, "VmRSS");
        // 32768 blocks x 128 KiB = 4 GiB, in 128 KiB.
        let undeclared = rle_bomb(32768, 23, false);
        let declared = rle_bomb(32768, 23, true);
        assert!(undeclared.len() < 129 << 10, "{}", undeclared.len());
        for (name, bomb) in [("undeclared", undeclared), ("declared", declared)] {
            let size = bomb.len();
            let started = Instant::now();
            let err = client
                .push(PushRequest {
                    batch_id: format!("bomb-{name}"),
                    payload: bomb,
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
            assert!(
                err.message()
                    .contains("inflates beyond the 67108864-byte limit"),
                "unclear message: {}",
                err.message()
            );
            println!(
                "a {size}-byte bomb of 4 GiB ({name} size) refused in {:?}",
                started.elapsed()
            );
        }
        // A frame asking for a 2 GiB window is refused before inflating.
        let err = client
            .push(PushRequest {
                batch_id: "bomb-window".into(),
                payload: rle_bomb(1024, 31, false),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("too much memory"),
            "{}",
            err.message()
        );
        // The densest zstd there is: 1 KiB inflating to 31.75 MiB of zeros,
        // within the size limit but not a batch.
        let small = rle_bomb(254, 23, false);
        assert!(small.len() < 1024);
        let err = client
            .push(PushRequest {
                batch_id: "bomb-1k".into(),
                payload: small,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("not a valid Batch"),
            "{}",
            err.message()
        );

        // As many at once as the server decodes at once (16 in flight).
        let mut bombs = tokio::task::JoinSet::new();
        for i in 0..16 {
            let mut client = client.clone();
            bombs.spawn(async move {
                client
                    .push(PushRequest {
                        batch_id: format!("bomb-at-once-{i}"),
                        payload: rle_bomb(32768, 23, false),
                    })
                    .await
            });
        }
        while let Some(answer) = bombs.join_next().await {
            let err = answer.unwrap().unwrap_err();
            // Refused, or told to come back when the server is busy.
            assert!(
                matches!(
                    err.code(),
                    tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted
                ),
                "{err:?}"
            );
        }

        let peak = proc_status_bytes(pid, "VmHWM");
        let grown = peak.saturating_sub(baseline);
        println!(
            "server RSS before the bombs {} MB, peak after {} MB: {} MB above",
            baseline >> 20,
            peak >> 20,
            grown >> 20
        );
        assert!(
            grown < 200 << 20,
            "the bombs took {} MB above the {} MB baseline",
            grown >> 20,
            baseline >> 20
        );
    });
    let refused = metric(
        &metrics,
        "augur_aggregator_batches_rejected_total{reason=\"inflates_too_large\"}",
    );
    assert!((2.0..=18.0).contains(&refused), "{refused}");
    assert_eq!(
        metric(
            &metrics,
            "augur_aggregator_limit_hits_total{limit=\"decompressed_size\"}"
        ),
        refused
    );
    let exit = server.terminate().unwrap();
    assert!(exit.success());
}

#[test]
fn payloads_within_the_limits_share_the_decode_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let pid = server.pid();
    runtime().block_on(async {
        let client = IngestClient::connect(ingest).await.unwrap();
        let baseline = proc_status_bytes(pid, "VmRSS");
        // Sixteen payloads of a few kilobytes, each inflating to just under
        // the 64 MiB limit (an unknown field, repeated): within every
        // per-batch limit, so only the shared decode memory bounds them.
        let junk = zstd::bulk::compress(&[0x78u8, 0x01].repeat((64 << 20) / 2 - 16), 3).unwrap();
        println!(
            "a {}-byte payload inflating to 64 MiB, sixteen at once",
            junk.len()
        );
        let mut pushes = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (mut client, payload) = (client.clone(), junk.clone());
            pushes.spawn(async move {
                client
                    .push(PushRequest {
                        batch_id: format!("junk-{i}"),
                        payload,
                    })
                    .await
            });
        }
        let mut busy = 0;
        while let Some(answer) = pushes.join_next().await {
            let err = answer.unwrap().unwrap_err();
            match err.code() {
                // Decoded, then found to be no batch.
                tonic::Code::InvalidArgument => {
                    assert!(err.message().contains("profile_type"), "{err:?}")
                }
                tonic::Code::ResourceExhausted => busy += 1,
                _ => panic!("{err:?}"),
            }
        }
        println!("{busy} of 16 told to retry while others were decoded");

        assert!(busy > 0, "all sixteen decoded at once");
        let peak = proc_status_bytes(pid, "VmHWM");
        let grown = peak.saturating_sub(baseline);
        println!(
            "server RSS before {} MB, peak {} MB: {} MB above",
            baseline >> 20,
            peak >> 20,
            grown >> 20
        );
        assert!(grown < 200 << 20, "{} MB above the baseline", grown >> 20);
    });
    assert!(
        metric(
            &format!("{base}metrics"),
            "augur_aggregator_limit_hits_total{limit=\"decode_memory\"}"
        ) > 0.0
    );
    let exit = server.terminate().unwrap();
    assert!(exit.success());
}

#[test]
fn a_100000_frame_stack_is_stored_truncated_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    // Leaf first: f0 is the leaf, f99999 the root.
    let frames: Vec<Frame> = (0..100_000).map(|i| kernel(format!("f{i}"))).collect();
    let deep = batch(vec![service("deep-stack")], frames, 7);
    let payload = compress(&deep, 3).unwrap();
    println!(
        "a 100,000-frame stack: {} bytes compressed, {} encoded",
        payload.len(),
        prost::Message::encoded_len(&deep)
    );
    runtime().block_on(async {
        let mut client = IngestClient::connect(ingest).await.unwrap();
        let answer = client
            .push(PushRequest {
                batch_id: "deep-1".into(),
                payload,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.samples_accepted, 7);
    });
    let profile = http_json(&format!(
        "{base}api/v1/profile?service=deep-stack&from=-1h&to=now"
    ))
    .unwrap();
    let stacks = json_stacks(&profile);
    assert_eq!(stacks.len(), 1, "{stacks:?}");
    let (frames, count) = &stacks[0];
    assert_eq!(*count, 7);
    // Root first: the marker, then the 1023 leaf-most frames down to f0.
    assert_eq!(frames.len(), 1024);
    assert_eq!(frames[0], "[truncated]");
    assert_eq!(frames[1], "f1022");
    assert_eq!(frames[1023], "f0");
    assert_eq!(
        metric(
            &format!("{base}metrics"),
            "augur_aggregator_limit_hits_total{limit=\"stack_depth\"}"
        ),
        1.0
    );
    let exit = server.terminate().unwrap();
    assert!(exit.success());
}

#[test]
fn a_million_distinct_label_values_are_capped_and_counted() {
    const VALUES: u32 = 1_000_000;
    const PER_PUSH: u32 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let started = Instant::now();
    runtime().block_on(async {
        let mut client = IngestClient::connect(ingest)
            .await
            .unwrap()
            .max_encoding_message_size(64 << 20);
        for push in 0..VALUES / PER_PUSH {
            let first = push * PER_PUSH;
            let processes = (first..first + PER_PUSH)
                .map(|i| {
                    let mut labels = service("many-pods");
                    labels.push(("pod".to_owned(), format!("pod-{i}")));
                    labels
                })
                .collect();
            let b = batch(processes, vec![kernel("serve".into())], 1);
            let payload = compress(&b, 3).unwrap();
            let pushed = Instant::now();
            let bytes = payload.len();
            let answer = client
                .push(PushRequest {
                    batch_id: format!("pods-{push}"),
                    payload,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.samples_accepted, u64::from(PER_PUSH));
            println!(
                "push {push}: {bytes} bytes, acknowledged in {:?}",
                pushed.elapsed()
            );
        }
    });
    let took = started.elapsed();
    println!("a million distinct label values through gRPC in {took:?}");
    let metrics = format!("{base}metrics");
    assert_eq!(
        metric(
            &metrics,
            "augur_aggregator_limit_hits_total{limit=\"label_values\"}"
        ),
        990_000.0
    );
    assert_eq!(
        metric(&metrics, "augur_aggregator_label_values_tracked"),
        10_001.0,
        "10,000 values (the default bound) and the service"
    );
    let labels = http_json(&format!("{base}api/v1/labels?service=many-pods")).unwrap();
    let pods = labels["labels"]["pod"].as_array().unwrap();
    assert_eq!(pods.len(), 10_001, "10,000 values and __overflow__");
    assert!(pods.iter().any(|p| p == "__overflow__"));
    // Every sample is kept, the folded ones under __overflow__.
    let profile = http_json(&format!(
        "{base}api/v1/profile?service=many-pods&from=-1h&to=now"
    ))
    .unwrap();
    assert_eq!(profile["total_samples"].as_u64(), Some(u64::from(VALUES)));
    let overflow = http_json(&format!(
        "{base}api/v1/profile?service=many-pods&from=-1h&to=now&labels=pod=__overflow__"
    ))
    .unwrap();
    assert_eq!(overflow["total_samples"].as_u64(), Some(990_000));
    let exit = server.terminate().unwrap();
    assert!(exit.success());
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_debuginfo_upload_whose_build_id_holds_a_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_server_with(
        &data,
        "127.0.0.1:0",
        &["--no-path-hints", "--max-debuginfo-bytes", "65536"],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let debuginfo = data.join("debuginfo");
    let escape = dir.path().join("escaped");
    let before = files_under(dir.path());
    // A real ELF file with symbols: this test's own binary.
    let elf = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let depth = debuginfo.components().count();
    let climb = "../".repeat(depth + 2);
    let attempts: Vec<Vec<u8>> = vec![
        format!("{climb}{}", escape.display()).into_bytes(),
        b"../../../../escaped".to_vec(),
        escape.to_str().unwrap().as_bytes().to_vec(),
        b"ab/../../cd".to_vec(),
        b"..\\..\\escaped".to_vec(),
        b"abcdef\0/../x".to_vec(),
    ];
    runtime().block_on(async {
        let mut client = DebugInfoClient::connect(ingest).await.unwrap();
        for build_id in &attempts {
            let chunks = vec![UploadChunk {
                build_id: build_id.clone(),
                data: elf[..4096].to_vec(),
            }];
            let err = client.upload(tokio_stream::iter(chunks)).await.unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
            assert!(
                err.message().contains("holding a path"),
                "unclear message for {:?}: {}",
                String::from_utf8_lossy(build_id),
                err.message()
            );
        }
        // Over --max-debuginfo-bytes, in several chunks: refused, and the
        // partial file removed.
        let chunks: Vec<UploadChunk> = elf
            .chunks(16 << 10)
            .take(8)
            .enumerate()
            .map(|(i, data)| UploadChunk {
                build_id: if i == 0 { vec![0x5a; 20] } else { vec![] },
                data: data.to_vec(),
            })
            .collect();
        let err = client.upload(tokio_stream::iter(chunks)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
        assert!(err.message().contains("65536"), "{}", err.message());
    });
    assert!(!escape.exists());
    let mut after = files_under(dir.path());
    // What a server writes anyway: its database, log and ingest log.
    after.retain(|f| !before.contains(f) && !f.starts_with("data/ingest-log"));
    after.retain(|f| !f.to_string_lossy().starts_with("data/augur.db"));
    assert_eq!(after, Vec::<std::path::PathBuf>::new(), "files written");
    assert!(files_under(&debuginfo).is_empty());
    let metrics = format!("{base}metrics");
    assert_eq!(
        metric(
            &metrics,
            "augur_aggregator_debuginfo_uploads_total{outcome=\"bad_build_id\"}"
        ),
        attempts.len() as f64
    );
    assert_eq!(
        metric(
            &metrics,
            "augur_aggregator_limit_hits_total{limit=\"debuginfo_size\"}"
        ),
        1.0
    );
    let exit = server.terminate().unwrap();
    assert!(exit.success());
}
