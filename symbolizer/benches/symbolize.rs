//! Symbolize: how fast the symbolizer names `(file id, file offset)`
//! frames, warm (the symbolizer has the object open, the steady state of
//! the aggregator's pool) and cold (a fresh symbolizer: locating, opening
//! and parsing the object first). The fixture is this benchmark's own
//! executable: 1,000 addresses spread over its functions. Throughput in
//! frames.
//!
//! `cargo bench -p augur-symbolizer --bench symbolize`

use std::hint::black_box;
use std::path::Path;

use augur_profile::FileId;
use augur_symbolizer::{DebugInfoLocator, FrameRequest, Symbolizer, read_file_id};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// File offsets of `count` addresses spread over the functions of the ELF
/// file at `path`, each a deterministic distance into its function.
fn addresses(path: &Path, count: usize) -> Vec<u64> {
    let data = std::fs::read(path).expect("reading the fixture");
    let file = object::File::parse(&*data).expect("an object file");
    let segments: Vec<(u64, u64, u64)> = file
        .segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (s.address(), offset, size)
        })
        .collect();
    let mut functions: Vec<(u64, u64)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 16)
        .map(|s| (s.address(), s.size()))
        .collect();
    functions.sort_unstable();
    functions.dedup();
    assert!(!functions.is_empty(), "the fixture has no function symbols");
    (0..count)
        .filter_map(|i| {
            let (start, size) = functions[i * functions.len() / count];
            let address = start + (i as u64 * 7919) % size;
            segments
                .iter()
                .find(|(base, _, size)| (*base..base + size).contains(&address))
                .map(|(base, offset, _)| address - base + offset)
        })
        .collect()
}

fn symbolize(c: &mut Criterion) {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let file_id: FileId = read_file_id(&exe).expect("a file id for this benchmark");
    let hints = [exe.display().to_string()];
    let offsets = addresses(&exe, 1000);
    let requests: Vec<FrameRequest<'_>> = offsets
        .iter()
        .map(|&file_offset| FrameRequest {
            build_id: &file_id,
            file_offset,
            path_hints: &hints,
        })
        .collect();
    let fresh = || Symbolizer::new(DebugInfoLocator::new(Vec::new(), true));
    let mut warm = fresh();
    let named = warm
        .symbolize(&requests)
        .iter()
        .filter(|r| r.is_ok())
        .count();
    assert!(named > 0, "no frame of the fixture was named");

    let mut group = c.benchmark_group("symbolize");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("warm", |b| b.iter(|| warm.symbolize(black_box(&requests))));
    // Each run opens and parses the whole executable: fewer samples.
    group.sample_size(10);
    group.bench_function("cold", |b| {
        b.iter(|| fresh().symbolize(black_box(&requests)))
    });
    group.finish();
}

criterion_group!(benches, symbolize);
criterion_main!(benches);
