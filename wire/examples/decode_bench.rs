//! How long the aggregator takes to turn one inflated batch into a
//! validated one: prost then `validate_counted`, against the direct
//! decoder (`batch::decode_valid`), alternating, on batches shaped like
//! `augur loadgen`'s (about 200 stacks of 20 frames, a quarter of them with
//! six kernel frames at the leaf, two binaries, one process).
//!
//! ```text
//! cargo run --release -p augur-wire --example decode_bench [rounds]
//! ```

use std::hint::black_box;
use std::time::Instant;

use augur_wire::batch::{self, Limits};
use augur_wire::ingest::{Batch, Binary, Frame, KernelFrame, Process, Sample, UserFrame, frame};
use prost::Message;

const KERNEL: &[&str] = &[
    "copy_user_enhanced_fast_string",
    "tcp_recvmsg",
    "sock_recvmsg",
    "__sys_recvfrom",
    "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
];

/// A deterministic batch of `stacks` stacks `depth` frames deep.
fn batch(stacks: u32, depth: u32) -> Batch {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let samples = (0..stacks)
        .map(|index| {
            let kernel = if index % 4 == 0 {
                KERNEL.len() as u32
            } else {
                0
            };
            let mut frames: Vec<Frame> = KERNEL[..kernel as usize]
                .iter()
                .map(|f| Frame {
                    kind: Some(frame::Kind::Kernel(KernelFrame {
                        function: (*f).into(),
                        module: String::new(),
                    })),
                })
                .collect();
            frames.extend((kernel..depth).map(|level| Frame {
                kind: Some(frame::Kind::User(UserFrame {
                    binary: u32::from(level == kernel && index % 3 == 1),
                    file_offset: (0x1000 + next() % 0x40_0000) & !0xf,
                })),
            }));
            Sample {
                process: 0,
                frames,
                count: 1 + next() % 20,
            }
        })
        .collect();
    Batch {
        host: "loadgen-host-1".into(),
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_000_010_000_000_000,
        profile_type: "cpu".into(),
        unit: "nanoseconds".into(),
        period: 52_631_578,
        binaries: vec![
            Binary {
                build_id: vec![0x5a; 20],
                path: "/usr/bin/loadgen-svc-1".into(),
            },
            Binary {
                build_id: vec![0xc1; 20],
                path: "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
            },
        ],
        processes: vec![Process {
            pid: 1001,
            labels: [
                ("service".to_owned(), "loadgen-svc-1".to_owned()),
                ("host".to_owned(), "loadgen-host-1".to_owned()),
            ]
            .into(),
        }],
        samples,
        dropped: Default::default(),
    }
}

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("rounds: a number"))
        .unwrap_or(5);
    let limits = Limits::default();
    let bytes = batch(199, 20).encode_to_vec();
    assert_eq!(
        batch::decode_then_validate(&bytes, &limits).unwrap(),
        batch::decode_valid(&bytes, &limits).unwrap()
    );
    println!(
        "batch: {} bytes encoded, 199 stacks of 20 frames",
        bytes.len()
    );
    let per_round = 2_000;
    for round in 1..=rounds {
        let time = |decode: &dyn Fn(&[u8]) -> usize| {
            let started = Instant::now();
            for _ in 0..per_round {
                black_box(decode(black_box(&bytes)));
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(per_round)
        };
        let prost = time(&|b| {
            let (batch, _) = batch::decode_then_validate(b, &limits).unwrap();
            batch.samples.len()
        });
        let direct = time(&|b| {
            let (batch, _) = batch::decode_valid(b, &limits).unwrap();
            batch.samples.len()
        });
        println!(
            "round {round}: prost + validate {prost:7.1} µs/batch   direct {direct:7.1} µs/batch   ({:.2}x)",
            prost / direct
        );
    }
}
