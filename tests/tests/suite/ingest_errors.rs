//! Bad batches sent to a real ingest port get clear gRPC errors; the server
//! keeps running, the next good batch is stored, and a retry counts once.

use augur_tests::*;
use augur_wire::batch::compress;
use augur_wire::ingest::ingest_client::IngestClient;
use augur_wire::ingest::{
    Batch, Binary, Frame, KernelFrame, Process, PushRequest, Sample, UserFrame, frame,
};

fn good_batch(service: &str) -> Batch {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    Batch {
        host: "test-host".into(),
        start_unix_nanos: now - 10_000_000_000,
        end_unix_nanos: now,
        profile_type: "cpu".into(),
        unit: "nanoseconds".into(),
        period: 10_000_000,
        binaries: vec![Binary {
            build_id: vec![0x5a; 20],
            path: "/nonexistent/app".into(),
        }],
        processes: vec![Process {
            pid: 42,
            labels: [("service".to_string(), service.to_string())].into(),
        }],
        samples: vec![
            Sample {
                process: 0,
                frames: vec![
                    Frame {
                        kind: Some(frame::Kind::Kernel(KernelFrame {
                            function: "handle_mm_fault".into(),
                            module: String::new(),
                        })),
                    },
                    Frame {
                        kind: Some(frame::Kind::User(UserFrame {
                            binary: 0,
                            file_offset: 0x1040,
                        })),
                    },
                ],
                count: 30,
            },
            Sample {
                process: 0,
                frames: vec![Frame {
                    kind: Some(frame::Kind::User(UserFrame {
                        binary: 0,
                        file_offset: 0x2000,
                    })),
                }],
                count: 12,
            },
        ],
        dropped: Default::default(),
    }
}

fn total_samples(base: &str, service: &str) -> u64 {
    let profile = http_json(&format!(
        "{base}api/v1/profile?service={service}&from=-1h&to=now"
    ))
    .unwrap();
    profile["total_samples"].as_u64().unwrap()
}

#[test]
fn corrupt_and_oversized_batches_are_refused_and_good_ones_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start_server(&data, "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = IngestClient::connect(ingest.clone()).await.unwrap();

        // Not zstd at all.
        let err = client
            .push(PushRequest {
                batch_id: "corrupt-1".into(),
                payload: b"definitely not a zstd frame".to_vec(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("zstd"),
            "unclear message: {}",
            err.message()
        );

        // Valid zstd, but not a Batch message.
        let err = client
            .push(PushRequest {
                batch_id: "corrupt-2".into(),
                payload: zstd::bulk::compress(&[0xff; 64], 1).unwrap(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("Batch"),
            "unclear message: {}",
            err.message()
        );

        // A well-formed batch that breaks the protocol's rules.
        let mut dangling = good_batch("svc");
        dangling.samples[0].process = 7;
        let err = client
            .push(PushRequest {
                batch_id: "invalid-1".into(),
                payload: compress(&dangling, 1).unwrap(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("out of range"),
            "unclear message: {}",
            err.message()
        );

        // Over the 4 MiB compressed limit: refused before decompression.
        let err = client
            .push(PushRequest {
                batch_id: "oversized-1".into(),
                payload: vec![0u8; (4 << 20) + 1024],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("exceeds"),
            "unclear message: {}",
            err.message()
        );

        // A zstd bomb: tiny on the wire, beyond the inflated limit.
        let bomb = zstd::bulk::compress(&vec![0u8; 256 << 20], 19).unwrap();
        assert!(bomb.len() < 1 << 20);
        let err = client
            .push(PushRequest {
                batch_id: "bomb-1".into(),
                payload: bomb,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("inflates"),
            "unclear message: {}",
            err.message()
        );

        // Far over any limit: stopped at the transport, still a clear error.
        let err = client
            .push(PushRequest {
                batch_id: "oversized-2".into(),
                payload: vec![0u8; 16 << 20],
            })
            .await
            .unwrap_err();
        assert_ne!(err.code(), tonic::Code::Ok);
        assert!(!err.message().is_empty());

        // The server is still up and stores the next good batch, once.
        let payload = compress(&good_batch("ingest-test"), 3).unwrap();
        let first = client
            .push(PushRequest {
                batch_id: "good-1".into(),
                payload: payload.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!first.duplicate);
        assert_eq!(first.samples_accepted, 42);
        let retry = client
            .push(PushRequest {
                batch_id: "good-1".into(),
                payload,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(retry.duplicate, "a retried batch must be recognised");
    });
    // Close the client's connection so shutdown need not wait for it.
    drop(runtime);
    assert!(server.is_running(), "the server died on bad input");
    assert_eq!(total_samples(&base, "ingest-test"), 42);

    let metrics = String::from_utf8(http_get(&format!("{base}metrics")).unwrap().1).unwrap();
    for reason in [
        "bad_compression",
        "bad_protobuf",
        "invalid",
        "too_large",
        "inflates_too_large",
    ] {
        assert!(
            metrics.contains(&format!(
                "augur_aggregator_batches_rejected_total{{reason=\"{reason}\"}} 1"
            )),
            "rejection {reason} not counted:\n{metrics}"
        );
    }
    assert!(metrics.contains("augur_aggregator_batches_duplicate_total 1"));
    let exit = server.terminate().unwrap();
    assert!(exit.success());
}
