//! Tree encode: how fast the web server turns a profile's stack tree into
//! the `format=tree` answer the page draws from (call tree built, names
//! interned once, flat arrays written). A synthetic service of 5,000
//! distinct stacks 20 frames deep over 600 function names; throughput in
//! stacks.
//!
//! `cargo bench -p augur-web --bench tree`

use std::hint::black_box;

use augur_profile::{FileId, Location, Profile, ProfileType, RawFrame, Sample, StackTree, Symbol};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A deterministic profile of `stacks` stacks `depth` frames deep.
fn profile(stacks: u32, depth: u32) -> Profile {
    let binary = FileId::from_bytes(&[0x5a; 20]).expect("a build-id");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let samples = (0..stacks)
        .map(|_| {
            // Callers near the root are shared, leaves spread out, as in a
            // real service.
            let locations = (0..depth)
                .rev()
                .map(|level| {
                    let function = next() % u64::from(10 + level * 30);
                    Location {
                        frame: RawFrame::User {
                            build_id: binary.clone(),
                            file_offset: 0x1000 + function * 0x40,
                        },
                        path: Some("/usr/bin/checkout-api".into()),
                        symbols: vec![Symbol {
                            function: format!(
                                "checkout::handlers::level{level}::function{function}"
                            ),
                            file: None,
                            line: None,
                        }],
                    }
                })
                .collect();
            Sample {
                locations,
                count: 1 + next() % 50,
            }
        })
        .collect();
    Profile {
        service: "checkout-api".into(),
        profile_type: ProfileType::cpu(),
        period: 10_000_000,
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_003_600_000_000_000,
        samples,
    }
}

fn tree_encode(c: &mut Criterion) {
    let profile = profile(5000, 20);
    let tree = StackTree::from_profile(&profile);
    let header = serde_json::json!({ "service": "checkout-api", "period": profile.period });
    let mut group = c.benchmark_group("tree_encode");
    group.throughput(Throughput::Elements(profile.samples.len() as u64));
    group.bench_function("5000_stacks", |b| {
        b.iter(|| augur_web::encode_tree(black_box(&tree), &header).expect("encoded"))
    });
    group.finish();
}

criterion_group!(benches, tree_encode);
criterion_main!(benches);
