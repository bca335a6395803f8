//! Label cardinality per service: how many distinct values one label of one
//! service may take, so that a label carrying a request id or a timestamp
//! cannot turn one service into millions of series.
//!
//! For each (service, label name) at most [`CardinalityConfig::max_values`]
//! distinct values are admitted within a sliding window: a value not seen
//! for [`CardinalityConfig::window`] frees its slot (expiry runs every
//! eighth of the window, so a slot frees between one and nine eighths of a
//! window after its value was last seen). Values beyond the bound are
//! folded into [`OVERFLOW_VALUE`]: their samples are kept, under that one
//! value, and counted. Label names per service and services are bounded the
//! same way (excess names are dropped; excess services fold into a service
//! named [`OVERFLOW_VALUE`]), and so is the whole: at most
//! [`CardinalityConfig::max_tracked`] values are tracked at once, each as a
//! 64-bit keyed hash and a timestamp, about 20-40 bytes.
//!
//! The state lives in memory only. After a restart the bound starts afresh;
//! batches replayed from the ingest log pass through it first.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use augur_wire::batch::{Labels, ValidBatch};

/// The value that stands for every value beyond a label's bound.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// Bounds of [`LabelCardinality`].
#[derive(Clone, Debug)]
pub struct CardinalityConfig {
    /// Distinct values one label name of one service may take within
    /// `window`.
    pub max_values: usize,
    /// How long a value keeps its slot after it was last seen; zero keeps
    /// it forever.
    pub window: Duration,
    /// Distinct label names one service may use within `window`; labels
    /// with further names are dropped.
    pub max_names: usize,
    /// Distinct services within `window`; further services are folded into
    /// the service [`OVERFLOW_VALUE`].
    pub max_services: usize,
    /// Values tracked at once over every service and label; beyond it new
    /// values are folded whatever their label's own count. Bounds memory.
    pub max_tracked: usize,
}

impl Default for CardinalityConfig {
    fn default() -> Self {
        Self {
            // A service on thousands of hosts keeps its `host` label.
            max_values: 10_000,
            window: Duration::from_secs(3600),
            max_names: 256,
            max_services: 10_000,
            max_tracked: 1_000_000,
        }
    }
}

/// What [`LabelCardinality::fold_batch`] changed, per process label set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoldHits {
    /// Label values replaced by [`OVERFLOW_VALUE`] (their label's bound or
    /// the tracked bound was reached).
    pub values_folded: u64,
    /// Labels dropped because their service used too many names.
    pub names_dropped: u64,
    /// Services folded into [`OVERFLOW_VALUE`].
    pub services_folded: u64,
}

impl FoldHits {
    /// Each count with the stable name of its limit, for
    /// `augur_aggregator_limit_hits_total{limit=...}`.
    pub fn by_limit(&self) -> [(&'static str, u64); 3] {
        [
            ("label_values", self.values_folded),
            ("label_names", self.names_dropped),
            ("services", self.services_folded),
        ]
    }
}

/// The per-service label bound, shared by every push and by the replay.
#[derive(Debug)]
pub struct LabelCardinality {
    config: CardinalityConfig,
    started: Instant,
    hasher: RandomState,
    state: Mutex<State>,
    /// `State::tracked` as of the last batch, readable without the lock.
    tracked: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    services: HashMap<String, Service>,
    /// Services plus values, over all services.
    tracked: usize,
    /// When expiry last ran, seconds since `started`.
    last_expiry: u32,
}

#[derive(Debug, Default)]
struct Service {
    last_seen: u32,
    /// Label name -> keyed hash of a value -> when it was last seen.
    names: HashMap<String, Values>,
}

#[derive(Debug, Default)]
struct Values {
    last_seen: u32,
    seen: HashMap<u64, u32>,
}

impl LabelCardinality {
    /// An empty bound.
    pub fn new(config: CardinalityConfig) -> Self {
        Self {
            config,
            started: Instant::now(),
            hasher: RandomState::new(),
            state: Mutex::new(State::default()),
            tracked: AtomicUsize::new(0),
        }
    }

    /// Values and services tracked after the last batch.
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Folds the labels of every sample of `batch` within the bounds, as
    /// of now.
    pub fn fold_batch<F>(&self, batch: &mut ValidBatch<F>) -> FoldHits {
        self.fold_batch_at(batch, self.now())
    }

    /// [`Self::fold_batch`] at `now`, seconds since this bound was made.
    fn fold_batch_at<F>(&self, batch: &mut ValidBatch<F>, now: u32) -> FoldHits {
        let mut hits = FoldHits::default();
        let mut state = self.lock();
        self.expire(&mut state, now);
        // Samples of one process share its labels: fold each set once, and
        // let sets that fold alike share one map, so merging sees one
        // series. Folded sets are found by a hash of what they would be, so
        // the many that fold into a known one are never built. The map keeps
        // each original alive, so no address is reused meanwhile.
        let mut by_address: HashMap<*const BTreeMap<String, String>, (Labels, Labels)> =
            HashMap::new();
        let mut by_value: HashMap<u64, Vec<Labels>> = HashMap::new();
        let mut edits = Vec::new();
        for sample in &mut batch.samples {
            let address = Arc::as_ptr(&sample.labels);
            if let Some((_, known)) = by_address.get(&address) {
                sample.labels = known.clone();
                continue;
            }
            edits.clear();
            self.fold(&mut state, &sample.labels, now, &mut hits, &mut edits);
            let folded = if edits.is_empty() {
                sample.labels.clone()
            } else {
                let view = || edited(&sample.labels, &edits);
                let hash = self.hasher.hash_one(Hashed(view()));
                let candidates = by_value.entry(hash).or_default();
                match candidates.iter().find(|c| c.iter().map(as_strs).eq(view())) {
                    Some(same) => same.clone(),
                    None => {
                        let map = view().map(|(k, v)| (k.to_owned(), v.to_owned()));
                        candidates.push(Arc::new(map.collect()));
                        candidates[candidates.len() - 1].clone()
                    }
                }
            };
            let original = std::mem::replace(&mut sample.labels, folded.clone());
            by_address.insert(address, (original, folded));
        }
        self.tracked.store(state.tracked, Ordering::Relaxed);
        hits
    }

    /// Checks one label set against the bounds, admitting what fits, and
    /// pushes onto `edits` what must change: the position of a label in
    /// name order with its new value, or `None` to drop it.
    fn fold(
        &self,
        state: &mut State,
        labels: &BTreeMap<String, String>,
        now: u32,
        hits: &mut FoldHits,
        edits: &mut Vec<(usize, Option<&'static str>)>,
    ) {
        let config = &self.config;
        let name = labels.get("service").map_or("", String::as_str);
        let service_at = labels.keys().position(|k| k == "service");
        let State {
            services, tracked, ..
        } = state;
        let service_name = if services.contains_key(name)
            || name == OVERFLOW_VALUE
            || (services.len() < config.max_services && *tracked < config.max_tracked)
        {
            name
        } else {
            hits.services_folded += 1;
            edits.extend(service_at.map(|at| (at, Some(OVERFLOW_VALUE))));
            OVERFLOW_VALUE
        };
        // Looked up before inserting, so the common case allocates nothing.
        if !services.contains_key(service_name) {
            services.insert(service_name.to_owned(), Service::default());
            *tracked += 1;
        }
        let service = services.get_mut(service_name).expect("inserted above");
        service.last_seen = now;
        for (at, (key, value)) in labels.iter().enumerate() {
            if key == "service" || value == OVERFLOW_VALUE {
                continue;
            }
            if !service.names.contains_key(key) {
                if service.names.len() >= config.max_names {
                    hits.names_dropped += 1;
                    edits.push((at, None));
                    continue;
                }
                service.names.insert(key.clone(), Values::default());
            }
            let values = service.names.get_mut(key).expect("inserted above");
            values.last_seen = now;
            let hash = self.hasher.hash_one(value.as_str());
            let count = values.seen.len();
            match values.seen.entry(hash) {
                Entry::Occupied(mut seen) => {
                    seen.insert(now);
                }
                Entry::Vacant(slot)
                    if count < config.max_values && *tracked < config.max_tracked =>
                {
                    slot.insert(now);
                    *tracked += 1;
                }
                Entry::Vacant(_) => {
                    hits.values_folded += 1;
                    edits.push((at, Some(OVERFLOW_VALUE)));
                }
            }
        }
    }

    /// Forgets what was not seen for a window, every eighth of a window.
    fn expire(&self, state: &mut State, now: u32) {
        let window = u32::try_from(self.config.window.as_secs()).unwrap_or(u32::MAX);
        if window == 0 || now.saturating_sub(state.last_expiry) < (window / 8).max(1) {
            return;
        }
        state.last_expiry = now;
        let alive = |seen: u32| now.saturating_sub(seen) < window;
        let mut tracked = 0;
        state.services.retain(|_, service| {
            service.names.retain(|_, values| {
                values.seen.retain(|_, seen| alive(*seen));
                tracked += values.seen.len();
                !values.seen.is_empty() || alive(values.last_seen)
            });
            let keep = !service.names.is_empty() || alive(service.last_seen);
            tracked += usize::from(keep);
            keep
        });
        state.tracked = tracked;
    }
}

/// `labels` with `edits` applied, in name order.
fn edited<'a>(
    labels: &'a BTreeMap<String, String>,
    edits: &'a [(usize, Option<&'static str>)],
) -> impl Iterator<Item = (&'a str, &'a str)> + Clone + 'a {
    labels.iter().enumerate().filter_map(|(at, (k, v))| {
        match edits.iter().find(|(edited, _)| *edited == at) {
            Some((_, Some(value))) => Some((k.as_str(), *value)),
            Some((_, None)) => None,
            None => Some((k.as_str(), v.as_str())),
        }
    })
}

fn as_strs<'a>((k, v): (&'a String, &'a String)) -> (&'a str, &'a str) {
    (k.as_str(), v.as_str())
}

/// Hashes the pairs of an iterator as a map of them would hash.
struct Hashed<I>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> std::hash::Hash for Hashed<I> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (k, v) in self.0.clone() {
            k.hash(state);
            v.hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use augur_profile::{ProfileType, RawFrame};
    use augur_wire::batch::ValidSample;

    use super::*;

    /// A batch with one process (and one sample) per label set.
    fn batch(label_sets: impl IntoIterator<Item = Vec<(&'static str, String)>>) -> ValidBatch {
        let samples = label_sets
            .into_iter()
            .map(|labels| ValidSample {
                labels: Arc::new(labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
                frames: vec![RawFrame::Unknown { reason: "x".into() }],
                count: 1,
            })
            .collect();
        ValidBatch {
            host: "h".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            profile_type: ProfileType {
                name: "cpu".into(),
                unit: "nanoseconds".into(),
            },
            period: 1,
            binaries: vec![],
            samples,
            dropped: BTreeMap::new(),
        }
    }

    fn pods(service: &'static str, range: std::ops::Range<u32>) -> ValidBatch {
        batch(range.map(|i| vec![("service", service.to_owned()), ("pod", format!("pod-{i}"))]))
    }

    fn values_of(batch: &ValidBatch, key: &str) -> Vec<String> {
        batch
            .samples
            .iter()
            .map(|s| s.labels.get(key).cloned().unwrap_or_default())
            .collect()
    }

    fn limited(max_values: usize) -> LabelCardinality {
        LabelCardinality::new(CardinalityConfig {
            max_values,
            ..CardinalityConfig::default()
        })
    }

    #[test]
    fn a_million_values_of_one_label_are_capped_and_counted() {
        let limit = limited(1000);
        let started = Instant::now();
        let mut folded = 0;
        let mut in_fold = Duration::ZERO;
        let mut kept = std::collections::HashSet::new();
        for chunk in 0..10 {
            let mut b = pods("svc", chunk * 100_000..(chunk + 1) * 100_000);
            let cpu = || -> u64 {
                std::fs::read_to_string("/proc/thread-self/schedstat")
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            let folding = cpu();
            let hits = limit.fold_batch_at(&mut b, 0);
            in_fold += Duration::from_nanos(cpu() - folding);
            folded += hits.values_folded;
            for value in values_of(&b, "pod") {
                if value != OVERFLOW_VALUE {
                    kept.insert(value);
                }
            }
            // Folded sets share one map: one series for merging.
            let distinct: std::collections::HashSet<_> =
                b.samples.iter().map(|s| Arc::as_ptr(&s.labels)).collect();
            assert!(distinct.len() <= 1001, "{}", distinct.len());
            assert_eq!(b.total_samples(), 100_000, "no sample is lost");
        }
        assert_eq!(kept.len(), 1000);
        assert_eq!(folded, 999_000);
        assert_eq!(limit.tracked(), 1001, "1000 values and the service");
        eprintln!(
            "a million distinct values folded in {in_fold:?} ({:?} with making the batches)",
            started.elapsed()
        );
        // Admitted values stay admitted.
        let mut again = pods("svc", 0..1000);
        assert_eq!(limit.fold_batch_at(&mut again, 1).values_folded, 0);
    }

    #[test]
    fn each_service_and_label_has_its_own_bound() {
        let limit = limited(2);
        let mut b = batch((0..4).flat_map(|i| {
            [
                vec![("service", "a".to_owned()), ("pod", format!("p{i}"))],
                vec![("service", "b".to_owned()), ("pod", format!("p{i}"))],
                vec![("service", "a".to_owned()), ("zone", format!("z{i}"))],
            ]
        }));
        let hits = limit.fold_batch_at(&mut b, 0);
        assert_eq!(hits.values_folded, 6, "two of four, three times");
        let a_pods: Vec<_> = b
            .samples
            .iter()
            .filter(|s| s.labels["service"] == "a" && s.labels.contains_key("pod"))
            .map(|s| s.labels["pod"].clone())
            .collect();
        assert_eq!(a_pods, ["p0", "p1", OVERFLOW_VALUE, OVERFLOW_VALUE]);
        // A value that is the overflow value already takes no slot.
        let mut b = batch([vec![
            ("service", "a".to_owned()),
            ("pod", OVERFLOW_VALUE.to_owned()),
        ]]);
        assert_eq!(limit.fold_batch_at(&mut b, 0), FoldHits::default());
    }

    #[test]
    fn values_unseen_for_a_window_free_their_slots() {
        let limit = LabelCardinality::new(CardinalityConfig {
            max_values: 10,
            window: Duration::from_secs(800),
            ..CardinalityConfig::default()
        });
        limit.fold_batch_at(&mut pods("svc", 0..10), 0);
        // pod-0 stays in use; the others go quiet.
        limit.fold_batch_at(&mut pods("svc", 0..1), 700);
        let mut late = pods("svc", 10..20);
        assert_eq!(limit.fold_batch_at(&mut late, 700).values_folded, 10);
        // Past a window (and an eighth of one for the sweep), nine slots
        // are free again.
        let mut later = pods("svc", 10..20);
        assert_eq!(limit.fold_batch_at(&mut later, 900).values_folded, 1);
        assert_eq!(limit.tracked(), 11);
        // A zero window keeps values forever.
        let forever = LabelCardinality::new(CardinalityConfig {
            max_values: 1,
            window: Duration::ZERO,
            ..CardinalityConfig::default()
        });
        forever.fold_batch_at(&mut pods("svc", 0..1), 0);
        let mut b = pods("svc", 1..2);
        assert_eq!(forever.fold_batch_at(&mut b, u32::MAX - 1).values_folded, 1);
    }

    #[test]
    fn names_services_and_the_whole_are_bounded_too() {
        let limit = LabelCardinality::new(CardinalityConfig {
            max_names: 2,
            max_services: 2,
            max_tracked: 6,
            ..CardinalityConfig::default()
        });
        let mut b = batch([vec![
            ("service", "a".to_owned()),
            ("k1", "v".to_owned()),
            ("k2", "v".to_owned()),
            ("k3", "v".to_owned()),
        ]]);
        let hits = limit.fold_batch_at(&mut b, 0);
        assert_eq!(hits.names_dropped, 1);
        assert!(!b.samples[0].labels.contains_key("k3"));
        let mut b = batch(["b", "c", "d"].map(|s| vec![("service", s.to_owned())]));
        let hits = limit.fold_batch_at(&mut b, 0);
        assert_eq!(hits.services_folded, 2);
        assert_eq!(
            values_of(&b, "service"),
            ["b", OVERFLOW_VALUE, OVERFLOW_VALUE]
        );
        // a, k1, k2's values, b and the overflow service: 5 of 6 tracked.
        let mut b = pods("a", 0..3);
        let hits = limit.fold_batch_at(&mut b, 0);
        assert_eq!(hits.names_dropped, 3, "pod is a third name for a");
        assert!(b.samples.iter().all(|s| !s.labels.contains_key("pod")));
        // One more value fits in all; then the whole is full.
        let mut b = batch((0..3).map(|i| vec![("service", "b".to_owned()), ("k", format!("{i}"))]));
        assert_eq!(limit.fold_batch_at(&mut b, 0).values_folded, 2);
        assert_eq!(limit.tracked(), 6);
    }
}
