//! Batch decode: how fast an agent's pushed batch becomes a validated
//! batch, the aggregator's first step on every push. A loadgen-shaped batch
//! (199 stacks of 20 frames, a quarter with six kernel frames at the leaf,
//! two binaries), zstd level 3 as the agent sends it; throughput in
//! samples.
//!
//! `cargo bench -p augur-wire --bench decode`

use std::hint::black_box;

use augur_wire::batch::{self, Limits};
use augur_wire::ingest::{Batch, Binary, Frame, KernelFrame, Process, Sample, UserFrame, frame};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const KERNEL: &[&str] = &[
    "copy_user_enhanced_fast_string",
    "tcp_recvmsg",
    "sock_recvmsg",
    "__sys_recvfrom",
    "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
];

/// A deterministic batch of `stacks` stacks `depth` frames deep.
fn loadgen_batch(stacks: u32, depth: u32) -> Batch {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let samples = (0..stacks)
        .map(|index| {
            let kernel = if index % 4 == 0 { KERNEL.len() } else { 0 };
            let mut frames: Vec<Frame> = KERNEL[..kernel]
                .iter()
                .map(|function| Frame {
                    kind: Some(frame::Kind::Kernel(KernelFrame {
                        function: (*function).into(),
                        module: String::new(),
                    })),
                })
                .collect();
            frames.extend((kernel as u32..depth).map(|level| Frame {
                kind: Some(frame::Kind::User(UserFrame {
                    binary: u32::from(level == kernel as u32 && index % 3 == 1),
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
            labels: [("service".to_owned(), "loadgen-svc-1".to_owned())].into(),
        }],
        samples,
        dropped: Default::default(),
    }
}

fn decode(c: &mut Criterion) {
    let limits = Limits::default();
    let batch = loadgen_batch(199, 20);
    let payload = batch::compress(&batch, 3).expect("compressing into memory");
    let mut group = c.benchmark_group("batch_decode");
    group.throughput(Throughput::Elements(batch.samples.len() as u64));
    // Every stack's frames built, as for a batch of stacks never seen.
    group.bench_function("zstd_payload", |b| {
        b.iter(|| {
            batch::decode(black_box(&payload), &limits, batch::owned_frames).expect("a valid batch")
        })
    });
    // No frame built, as for a batch whose stacks are all interned already.
    group.bench_function("zstd_payload_seen_stacks", |b| {
        b.iter(|| {
            batch::decode(black_box(&payload), &limits, |stacks| {
                vec![(); stacks.len()]
            })
            .expect("a valid batch")
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
