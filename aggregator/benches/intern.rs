//! Stack interning: what the aggregator pays per pushed stack to share one
//! copy of each stack among the batches it holds. Loadgen-shaped stacks
//! (20 frames, a quarter with six kernel frames at the leaf), hashed and
//! interned as a push does: into a warm interner that holds them all (the
//! steady state), and into an empty one (every stack new). Throughput in
//! stacks.
//!
//! `cargo bench -p augur-aggregator --bench intern`

use std::hint::black_box;

use augur_aggregator::intern::{HashedStacks, StackInterner};
use augur_profile::{FileId, FrameRef, RawFrame};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const KERNEL: &[&str] = &[
    "copy_user_enhanced_fast_string",
    "tcp_recvmsg",
    "sock_recvmsg",
    "__sys_recvfrom",
    "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
];

/// `count` deterministic stacks `depth` frames deep, leaf first.
fn stacks(count: u32, depth: usize) -> Vec<Vec<RawFrame>> {
    let binaries = [
        FileId::from_bytes(&[0x5a; 20]).expect("a build-id"),
        FileId::from_bytes(&[0xc1; 20]).expect("a build-id"),
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|index| {
            let kernel = if index % 4 == 0 { KERNEL.len() } else { 0 };
            let mut frames: Vec<RawFrame> = KERNEL[..kernel]
                .iter()
                .map(|function| RawFrame::Kernel {
                    function: (*function).into(),
                    module: None,
                })
                .collect();
            frames.extend((kernel..depth).map(|level| RawFrame::User {
                build_id: binaries[usize::from(level == kernel && index % 3 == 1)].clone(),
                file_offset: (0x1000 + next() % 0x40_0000) & !0xf,
            }));
            frames
        })
        .collect()
}

fn intern(c: &mut Criterion) {
    let owned = stacks(199, 20);
    let refs: Vec<Vec<FrameRef<'_>>> = owned
        .iter()
        .map(|frames| frames.iter().map(RawFrame::as_frame_ref).collect())
        .collect();
    let slices: Vec<&[FrameRef<'_>]> = refs.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("stack_interning");
    group.throughput(Throughput::Elements(slices.len() as u64));
    let mut warm = StackInterner::new(64 << 20);
    warm.intern(&HashedStacks::new(&slices));
    group.bench_function("warm", |b| {
        b.iter(|| warm.intern(&HashedStacks::new(black_box(&slices))))
    });
    group.bench_function("cold", |b| {
        b.iter_batched_ref(
            || StackInterner::new(64 << 20),
            |interner| interner.intern(&HashedStacks::new(black_box(&slices))),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, intern);
criterion_main!(benches);
