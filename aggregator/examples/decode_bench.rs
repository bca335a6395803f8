//! How long the aggregator takes to turn a pushed payload into a validated
//! batch, three ways, alternating, on batches shaped like `augur
//! loadgen`'s (199 stacks of 20 frames, a quarter of them with six kernel
//! frames at the leaf, two binaries, one process), zstd level 3:
//!
//! - prost then `validate_counted`, building every frame (the old path,
//!   kept as `batch::reference`);
//! - the direct decoder, building every frame (`batch::decode` with
//!   `batch::owned_frames`);
//! - the direct decoder with a warm stack interner, which builds no frame
//!   of a stack it holds (`batch::decode`, what a push does).
//!
//! ```text
//! cargo run --release -p augur-aggregator --example decode_bench [rounds]
//! ```

use std::hint::black_box;
use std::time::Instant;

use augur_aggregator::intern::{HashedStacks, StackInterner};
use augur_wire::batch::{self, Limits};
use augur_wire::ingest::{Batch, Binary, Frame, KernelFrame, Process, Sample, UserFrame, frame};

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
    let payload = batch::compress(&batch(199, 20), 3).expect("compressing into memory");
    let slow = |payload: &[u8]| {
        let (decoded, _) = batch::reference::decompress_reserved(payload, &limits).unwrap();
        batch::reference::validate_counted(decoded, &limits)
            .unwrap()
            .0
    };
    let (direct, _, _) = batch::decode(&payload, &limits, batch::owned_frames).unwrap();
    assert_eq!(slow(&payload), direct);
    let mut interner = StackInterner::new(64 << 20);
    let mut interned = |payload: &[u8]| {
        let (batch, _, _) = batch::decode(payload, &limits, |stacks| {
            interner.intern(&HashedStacks::new(stacks))
        })
        .unwrap();
        batch.samples.len()
    };
    interned(&payload);
    println!(
        "payload: {} bytes compressed, 199 stacks of 20 frames",
        payload.len()
    );
    let per_round = 2_000;
    for round in 1..=rounds {
        let time = |decode: &mut dyn FnMut(&[u8]) -> usize| {
            let started = Instant::now();
            for _ in 0..per_round {
                black_box(decode(black_box(&payload)));
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(per_round)
        };
        let prost = time(&mut |p| slow(p).samples.len());
        let direct = time(&mut |p| {
            let (batch, _, _) = batch::decode(p, &limits, batch::owned_frames).unwrap();
            batch.samples.len()
        });
        let warm = time(&mut interned);
        println!(
            "round {round}: prost + validate {prost:6.1} µs   direct {direct:6.1} µs   \
             direct + warm interner {warm:6.1} µs   ({:.2}x)",
            prost / warm
        );
    }
}
