//! Pure merging of validated batches into per-(service, labels, profile
//! type, window) stack counts.
//!
//! No I/O and no async: given the same batch, the same windows come out, and
//! the sum of counts is preserved exactly. Storage adds windows up, so merging
//! here only saves it work; it never changes totals.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use augur_profile::RawFrame;
use augur_storage::SharedStack;
use augur_wire::batch::{Labels, ValidBatch};

/// Identifies one window of one series: a service and the other labels of
/// its processes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    /// Service label.
    pub service: String,
    /// The process labels other than `service`.
    pub labels: BTreeMap<String, String>,
    /// Profile type name, e.g. `cpu`.
    pub profile_type: String,
    /// Window start, Unix nanoseconds, aligned to the window length.
    pub window_start_unix_nanos: i64,
}

/// Stacks of any form with their counts.
type Counted<F> = Vec<(F, u64)>;

/// Start of the window of length `window_nanos` that contains `t`.
pub fn window_start(t: i64, window_nanos: i64) -> i64 {
    t.div_euclid(window_nanos) * window_nanos
}

/// Merges `batch`, whose stacks the interner shares
/// ([`crate::intern::StackInterner`]), into windows of `window_nanos`, as
/// the buffer holds them. A batch belongs to the window in which it started
/// (agents send windows far shorter than ours). Equal
/// stacks of one batch are one copy, so they are summed by address, in the
/// order first seen, without comparing a frame.
pub fn merge_batch_shared(
    batch: ValidBatch<SharedStack>,
    window_nanos: i64,
) -> BTreeMap<WindowKey, HeldStacks> {
    let samples = batch
        .samples
        .into_iter()
        .map(|s| (s.labels, s.frames, s.count));
    merge_samples(
        samples,
        &batch.profile_type.name,
        batch.start_unix_nanos,
        window_nanos,
        sum_shared,
    )
}

/// Stack counts of one window as the buffer holds them: distinct shared
/// stacks, in the order first seen.
pub type HeldStacks = Vec<(SharedStack, u64)>;

fn merge_samples<L: std::borrow::Borrow<Labels>, F>(
    samples: impl Iterator<Item = (L, F, u64)>,
    profile_type: &str,
    start_unix_nanos: i64,
    window_nanos: i64,
    sum: fn(Counted<F>) -> Counted<F>,
) -> BTreeMap<WindowKey, Counted<F>> {
    let start = window_start(start_unix_nanos, window_nanos);
    // Samples of one process share its label map: find its window once, by
    // the map's address, rather than comparing label maps per sample. The
    // map keeps each `Arc` alive, so no address is reused meanwhile.
    let mut slots: HashMap<*const BTreeMap<String, String>, (Labels, usize)> = HashMap::new();
    let mut windows: Vec<(WindowKey, Counted<F>)> = Vec::new();
    // Distinct label maps may still hold equal labels; found by hashing, as
    // a batch may carry hundreds of thousands of processes.
    let mut by_key: HashMap<WindowKey, usize> = HashMap::new();
    for (labels, frames, count) in samples {
        let labels = labels.borrow();
        let slot = slots
            .entry(Arc::as_ptr(labels))
            .or_insert_with(|| {
                let mut others = (**labels).clone();
                let key = WindowKey {
                    service: others.remove("service").unwrap_or_default(),
                    labels: others,
                    profile_type: profile_type.to_owned(),
                    window_start_unix_nanos: start,
                };
                let slot = *by_key.entry(key).or_insert_with_key(|key| {
                    windows.push((key.clone(), Vec::new()));
                    windows.len() - 1
                });
                (Arc::clone(labels), slot)
            })
            .1;
        windows[slot].1.push((frames, count));
    }
    windows
        .into_iter()
        .map(|(key, stacks)| (key, sum(stacks)))
        .collect()
}

/// Adds up the counts of stacks that are one shared copy, keeping the
/// order in which each was first seen.
fn sum_shared(stacks: HeldStacks) -> HeldStacks {
    let mut first: HashMap<*const RawFrame, usize> = HashMap::with_capacity(stacks.len());
    let mut summed: HeldStacks = Vec::with_capacity(stacks.len());
    for (stack, count) in stacks {
        match first.entry(stack.as_ptr()) {
            Entry::Occupied(at) => summed[*at.get()].1 += count,
            Entry::Vacant(slot) => {
                slot.insert(summed.len());
                summed.push((stack, count));
            }
        }
    }
    summed
}

#[cfg(test)]
mod tests {
    use crate::intern::{HashedStacks, StackInterner};
    use augur_profile::{FrameRef, ProfileType};
    use augur_wire::batch::ValidSample;

    use super::*;

    // The model the ingest path is checked against: stacks as owned
    // frames, summed by content.

    /// Stack counts of one window: distinct stacks, leaf first, in sorted order.
    pub type WindowStacks = Vec<(Vec<RawFrame>, u64)>;

    /// Merges `batch` into windows of `window_nanos`. A batch belongs to the
    /// window in which it started (agents send windows far shorter than ours).
    pub fn merge_batch(batch: &ValidBatch, window_nanos: i64) -> BTreeMap<WindowKey, WindowStacks> {
        let samples = batch
            .samples
            .iter()
            .map(|s| (&s.labels, s.frames.clone(), s.count));
        merge_samples(
            samples,
            &batch.profile_type.name,
            batch.start_unix_nanos,
            window_nanos,
            sum_identical,
        )
    }

    /// Adds up the counts of identical stacks. Sorting does it without hashing
    /// every stack, which cost more than the rest of merging put together, and
    /// its worst case does not depend on what a sender chooses to send.
    fn sum_identical(mut stacks: WindowStacks) -> WindowStacks {
        stacks.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        stacks.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
        stacks
    }

    /// xorshift64*: a tiny deterministic generator for randomized properties.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_batch(rng: &mut Rng) -> ValidBatch {
        let services: Vec<augur_wire::batch::Labels> = (0..1 + rng.below(4))
            .map(|i| {
                Arc::new(
                    [
                        ("service".to_string(), format!("svc{}", i % 2)),
                        ("host".to_string(), format!("h{}", rng.below(2))),
                    ]
                    .into_iter()
                    .collect(),
                )
            })
            .collect();
        let samples = (0..rng.below(200))
            .map(|_| ValidSample {
                labels: services[rng.below(services.len() as u64) as usize].clone(),
                frames: (0..1 + rng.below(6))
                    .map(|_| RawFrame::Kernel {
                        function: format!("f{}", rng.below(5)),
                        module: None,
                    })
                    .collect(),
                count: 1 + rng.below(50),
            })
            .collect();
        ValidBatch {
            host: "h".into(),
            start_unix_nanos: rng.below(1 << 40) as i64,
            end_unix_nanos: 1 << 41,
            profile_type: ProfileType::cpu(),
            period: 1,
            binaries: vec![],
            samples,
            dropped: Default::default(),
        }
    }

    #[test]
    fn merging_preserves_totals_per_series_and_stack() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..500 {
            let batch = random_batch(&mut rng);
            let window = 60_000_000_000;
            let merged = merge_batch(&batch, window);
            type Key = (BTreeMap<String, String>, Vec<RawFrame>);
            let mut expected: HashMap<Key, u64> = HashMap::new();
            for s in &batch.samples {
                *expected
                    .entry(((*s.labels).clone(), s.frames.clone()))
                    .or_default() += s.count;
            }
            let mut got: HashMap<Key, u64> = HashMap::new();
            for (key, stacks) in &merged {
                assert_eq!(key.window_start_unix_nanos % window, 0);
                assert!(key.window_start_unix_nanos <= batch.start_unix_nanos);
                assert!(batch.start_unix_nanos - key.window_start_unix_nanos < window);
                assert!(
                    stacks.windows(2).all(|w| w[0].0 < w[1].0),
                    "stacks are distinct and sorted"
                );
                for (stack, count) in stacks {
                    assert!(*count > 0);
                    let mut labels = key.labels.clone();
                    labels.insert("service".into(), key.service.clone());
                    *got.entry((labels, stack.clone())).or_default() += count;
                }
            }
            assert_eq!(got, expected);
        }
    }

    /// `batch` with its stacks shared through `interner`, as the ingest
    /// path makes it.
    fn shared(batch: &ValidBatch, interner: &mut StackInterner) -> ValidBatch<SharedStack> {
        let refs: Vec<Vec<FrameRef<'_>>> = batch
            .samples
            .iter()
            .map(|s| s.frames.iter().map(RawFrame::as_frame_ref).collect())
            .collect();
        let slices: Vec<&[FrameRef<'_>]> = refs.iter().map(Vec::as_slice).collect();
        let stacks = interner.intern(&HashedStacks::new(&slices));
        ValidBatch {
            host: batch.host.clone(),
            start_unix_nanos: batch.start_unix_nanos,
            end_unix_nanos: batch.end_unix_nanos,
            profile_type: batch.profile_type.clone(),
            period: batch.period,
            binaries: batch.binaries.clone(),
            samples: batch
                .samples
                .iter()
                .zip(stacks)
                .map(|(s, frames)| ValidSample {
                    labels: s.labels.clone(),
                    frames,
                    count: s.count,
                })
                .collect(),
            dropped: batch.dropped.clone(),
        }
    }

    #[test]
    fn merging_shared_stacks_gives_the_same_windows() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        // Small enough that the interner starts over now and then.
        let mut interner = StackInterner::new(4096);
        for _ in 0..300 {
            let batch = random_batch(&mut rng);
            let window = 60_000_000_000;
            let merged: BTreeMap<WindowKey, WindowStacks> =
                merge_batch_shared(shared(&batch, &mut interner), window)
                    .into_iter()
                    .map(|(key, stacks)| {
                        let mut stacks: WindowStacks = stacks
                            .into_iter()
                            .map(|(stack, count)| (stack.to_vec(), count))
                            .collect();
                        stacks.sort();
                        (key, stacks)
                    })
                    .collect();
            // Equal stacks were summed: sorted, they are distinct too.
            assert_eq!(merged, merge_batch(&batch, window));
        }
    }

    #[test]
    fn window_start_aligns_negative_times_down() {
        assert_eq!(window_start(-1, 60), -60);
        assert_eq!(window_start(59, 60), 0);
        assert_eq!(window_start(60, 60), 60);
    }
}
