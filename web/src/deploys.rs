//! Deploy comparisons: `GET /api/v1/deploys`, `GET /api/v1/deploys/compare`,
//! and the background task that compares each new deploy with the previous
//! one as soon as both have enough samples.
//!
//! A comparison queries both deploys' whole profiles and runs
//! [`augur_profile::diff`], which costs a few hundred milliseconds for an
//! hour of data, so results are kept in a [`DeployComparisons`] cache keyed
//! by the deploy pair. An entry remembers the data it was computed on (both
//! deploys' sample counts and last windows): when more samples arrive, or
//! when the leaf frames it saw were not named yet and a pass has gone by,
//! it is computed again. The cache holds at most `max_results` pairs and
//! forgets the least recently used.
//!
//! The watcher ([`watch`]) runs one pass per `interval` on the blocking
//! pool: for every service, the latest `pairs_per_service` deploy pairs are
//! either pending (a side below `min_samples`) or brought up to date. A
//! significant regression is logged and counted the first time a pair shows
//! it. `/api/v1/deploys` answers from the same cache: while the watcher
//! runs, a cached result is shown even if newer samples arrived since (its
//! `base_samples` and `target_samples` say what it covers, and the next pass
//! updates it); a pair missing from the cache, and any pair when no watcher
//! runs ([`crate::router`]), is computed on request. `/api/v1/deploys/compare`
//! always answers on the current data.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use augur_profile::diff::{self, Diff, DiffOptions, FunctionChange};
use augur_profile::{Profile, RawFrame};
use augur_storage::{Deploy, StorageError, Store};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;
use crate::params::ParamError;
use crate::time::format_rfc3339;

/// How deploys are compared automatically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployCompareOptions {
    /// Samples (on-CPU) each deploy of a pair needs before the pair is
    /// compared; also the default of the `min_samples` parameter.
    pub min_samples: u64,
    /// Time between two passes of the watcher.
    pub interval: Duration,
    /// Deploy pairs kept in the cache.
    pub max_results: usize,
    /// The latest deploy pairs of each service the watcher keeps compared;
    /// older ones are computed when asked for.
    pub pairs_per_service: usize,
}

impl Default for DeployCompareOptions {
    fn default() -> Self {
        Self {
            min_samples: 500,
            interval: Duration::from_secs(30),
            max_results: 1024,
            pairs_per_service: 8,
        }
    }
}

/// Regressions and improvements listed per deploy in `/api/v1/deploys`.
const TOP_CHANGES: usize = 10;
/// Functions kept in a comparison's `all` list.
const ALL_CHANGES: usize = 100;

/// One comparison: of `target` against `base`, for one service and type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PairKey {
    service: String,
    profile_type: String,
    base: String,
    target: String,
}

/// What a comparison was computed on: when any of it changes, so may the
/// result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DataVersion {
    base_samples: u64,
    target_samples: u64,
    base_last_seen: i64,
    target_last_seen: i64,
}

impl DataVersion {
    fn of(base: &Deploy, target: &Deploy) -> Self {
        Self {
            base_samples: base.cpu_samples,
            target_samples: target.cpu_samples,
            base_last_seen: base.last_seen_unix_nanos,
            target_last_seen: target.last_seen_unix_nanos,
        }
    }
}

/// A computed comparison.
#[derive(Clone, Debug)]
pub(crate) struct Comparison {
    pub diff: Arc<Diff>,
    data: DataVersion,
    /// Samples whose leaf frame had no name yet, both sides.
    pub unnamed_samples: u64,
    /// The profile type's unit (for seconds of impact).
    pub unit: String,
    /// Who computed it.
    pub trigger: Trigger,
    computed: Instant,
    pub computed_unix_nanos: i64,
}

struct Entry {
    comparison: Comparison,
    last_used: u64,
}

/// Who computed a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Trigger {
    Background,
    Request,
}

#[derive(Clone, Default)]
struct Counters {
    computed_background: u64,
    computed_request: u64,
    failures: u64,
    regressions: u64,
    pending: u64,
    compute_seconds: f64,
}

/// The cache of deploy comparisons and the watcher's counters; shared by
/// the handlers and the background task.
pub struct DeployComparisons {
    options: DeployCompareOptions,
    entries: Mutex<HashMap<PairKey, Entry>>,
    counters: Mutex<Counters>,
    /// Pairs seen pending at the last pass, to log a new deploy once.
    pending: Mutex<HashSet<PairKey>>,
    tick: std::sync::atomic::AtomicU64,
    /// Whether a watcher keeps the cache up to date.
    watched: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for DeployComparisons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployComparisons")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl DeployComparisons {
    /// An empty cache.
    pub fn new(options: DeployCompareOptions) -> Self {
        Self {
            options,
            entries: Mutex::default(),
            counters: Mutex::default(),
            pending: Mutex::default(),
            tick: Default::default(),
            watched: Default::default(),
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // Counters stay valid even if a holder panicked.
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<PairKey, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached comparison of `key`: if it still describes `data`, or
    /// whatever its data when `stale_ok`.
    fn cached(&self, key: &PairKey, data: DataVersion, stale_ok: bool) -> Option<Comparison> {
        let tick = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries();
        let entry = entries.get_mut(key)?;
        let c = &entry.comparison;
        let names_may_have_changed =
            c.unnamed_samples > 0 && c.computed.elapsed() >= self.options.interval;
        if !stale_ok && (c.data != data || names_may_have_changed) {
            return None;
        }
        entry.last_used = tick;
        Some(c.clone())
    }

    /// Stores a comparison, evicting the least recently used beyond the
    /// bound; returns the regressions the pair did not show before.
    fn insert(&self, key: PairKey, comparison: Comparison) -> Vec<FunctionChange> {
        let tick = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries();
        let before: HashSet<String> = entries
            .get(&key)
            .map(|e| {
                e.comparison
                    .diff
                    .regressions
                    .iter()
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let new = comparison
            .diff
            .regressions
            .iter()
            .filter(|c| !before.contains(&c.name))
            .cloned()
            .collect();
        entries.insert(
            key,
            Entry {
                comparison,
                last_used: tick,
            },
        );
        while entries.len() > self.options.max_results.max(1) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            };
        }
        new
    }

    /// The comparison of `target` with `base`, from the cache when it is
    /// up to date (or just there, when `stale_ok`), computed and cached
    /// otherwise.
    fn get(
        &self,
        store: &Store,
        key: PairKey,
        (base, target): (&Deploy, &Deploy),
        trigger: Trigger,
        stale_ok: bool,
    ) -> Result<Comparison, StorageError> {
        let data = DataVersion::of(base, target);
        if let Some(found) = self.cached(&key, data, stale_ok) {
            return Ok(found);
        }
        let started = Instant::now();
        let computed = compute(store, &key, (base, target), data, trigger);
        let mut counters = self.counters();
        counters.compute_seconds += started.elapsed().as_secs_f64();
        let comparison = match computed {
            Ok(c) => c,
            Err(error) => {
                counters.failures += 1;
                return Err(error);
            }
        };
        match trigger {
            Trigger::Background => counters.computed_background += 1,
            Trigger::Request => counters.computed_request += 1,
        }
        drop(counters);
        let new = self.insert(key.clone(), comparison.clone());
        if !new.is_empty() {
            self.counters().regressions += new.len() as u64;
        }
        for change in &new {
            tracing::warn!(
                service = %key.service,
                profile_type = %key.profile_type,
                base = %key.base,
                target = %key.target,
                function = %change.name,
                change_percent = change.change * 100.0,
                impact_seconds = seconds(change.impact, &comparison.unit).unwrap_or(f64::NAN),
                p_value = change.p_value,
                "deploy regression detected"
            );
        }
        Ok(comparison)
    }

    /// One pass of the watcher over every service's latest deploys.
    fn pass(&self, store: &Store) -> Result<(), StorageError> {
        let mut pending = HashSet::new();
        for service in store.services()? {
            let deploys = store.deploys(&service.name)?;
            let pairs = deploys
                .windows(2)
                .rev()
                .take(self.options.pairs_per_service);
            for pair in pairs {
                let (base, target) = (&pair[0], &pair[1]);
                let key = PairKey {
                    service: service.name.clone(),
                    profile_type: "cpu".into(),
                    base: base.version.clone(),
                    target: target.version.clone(),
                };
                let min = self.options.min_samples;
                if base.cpu_samples < min || target.cpu_samples < min {
                    let known = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    if !known.contains(&key) {
                        tracing::info!(
                            service = %key.service,
                            base = %key.base,
                            target = %key.target,
                            base_samples = base.cpu_samples,
                            target_samples = target.cpu_samples,
                            min_samples = min,
                            "new deploy: comparing with the previous one once both have enough samples"
                        );
                    }
                    pending.insert(key);
                    continue;
                }
                // One failing pair never stops the pass.
                let pair = (base, target);
                if let Err(error) = self.get(store, key.clone(), pair, Trigger::Background, false) {
                    tracing::warn!(%error, service = %key.service, base = %key.base,
                        target = %key.target, "deploy comparison failed");
                }
            }
        }
        self.counters().pending = pending.len() as u64;
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = pending;
        Ok(())
    }

    /// The comparisons' counters and gauges, for the registry's collector.
    pub(crate) fn encode_metrics(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        let cached = self.entries().len() as i64;
        let c = self.counters().clone();
        let mut family = encoder.encode_descriptor(
            "augur_web_deploy_comparisons",
            "Deploy comparisons computed, by what asked for them.",
            None,
            MetricType::Counter,
        )?;
        for (trigger, count) in [
            ("background", c.computed_background),
            ("request", c.computed_request),
        ] {
            ConstCounter::new(count).encode(family.encode_family(&[("trigger", trigger)])?)?;
        }
        for (name, help, value) in [
            (
                "augur_web_deploy_comparison_failures",
                "Deploy comparisons that storage failed to answer.",
                c.failures,
            ),
            (
                "augur_web_deploy_regressions",
                "Significant regressions found between a deploy and the previous one, once per deploy pair and function.",
                c.regressions,
            ),
        ] {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        ConstCounter::new(c.compute_seconds).encode(encoder.encode_descriptor(
            "augur_web_deploy_comparison_seconds",
            "Time spent querying and comparing deploys.",
            None,
            MetricType::Counter,
        )?)?;
        for (name, help, value) in [
            (
                "augur_web_deploy_comparisons_pending",
                "Deploy pairs waiting for enough samples at the last pass.",
                c.pending as i64,
            ),
            (
                "augur_web_deploy_comparisons_cached",
                "Deploy comparisons held in memory.",
                cached,
            ),
        ] {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

/// Runs the watcher: a pass now, then one per interval, until `stop` says
/// so.
pub(crate) async fn watch(
    comparisons: Arc<DeployComparisons>,
    store: Store,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    comparisons
        .watched
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ticks = tokio::time::interval(comparisons.options.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let (comparisons, store) = (comparisons.clone(), store.clone());
        match tokio::task::spawn_blocking(move || comparisons.pass(&store)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "deploy comparison pass failed"),
            Err(error) => tracing::warn!(%error, "deploy comparison pass panicked"),
        }
    }
}

/// The merged profile of one deploy, over the windows it ran in.
fn deploy_profile(
    store: &Store,
    service: &str,
    profile_type: &str,
    deploy: &Deploy,
) -> Result<Profile, StorageError> {
    store.query_profile(&augur_storage::ProfileQuery {
        service: service.to_owned(),
        labels: [("version".to_owned(), deploy.version.clone())].into(),
        matchers: Vec::new(),
        profile_type: profile_type.to_owned(),
        start_unix_nanos: deploy.first_seen_unix_nanos,
        // Windows are at most an hour (rolled up); the last one is included.
        end_unix_nanos: deploy
            .last_seen_unix_nanos
            .saturating_add(augur_storage::HOUR_NANOS),
    })
}

/// Samples whose leaf is a user frame without symbols yet.
fn unnamed_leaf_samples(profile: &Profile) -> u64 {
    profile
        .samples
        .iter()
        .filter(|s| {
            s.locations
                .first()
                .is_some_and(|l| l.symbols.is_empty() && matches!(l.frame, RawFrame::User { .. }))
        })
        .map(|s| s.count)
        .sum()
}

/// Queries and compares two deploys' profiles.
fn compute(
    store: &Store,
    key: &PairKey,
    (base, target): (&Deploy, &Deploy),
    data: DataVersion,
    trigger: Trigger,
) -> Result<Comparison, StorageError> {
    let a = deploy_profile(store, &key.service, &key.profile_type, base)?;
    let b = deploy_profile(store, &key.service, &key.profile_type, target)?;
    let mut diff = diff::compare(
        &diff::self_counts(&a.folded_stacks()),
        &diff::self_counts(&b.folded_stacks()),
        b.period as f64,
        DiffOptions::default(),
    );
    diff.all.truncate(ALL_CHANGES);
    Ok(Comparison {
        diff: Arc::new(diff),
        data,
        unnamed_samples: unnamed_leaf_samples(&a) + unnamed_leaf_samples(&b),
        unit: b.profile_type.unit.clone(),
        trigger,
        computed: Instant::now(),
        computed_unix_nanos: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
    })
}

/// Seconds of an impact in nanoseconds (CPU-seconds for `cpu`); `None` for
/// other units.
fn seconds(impact: f64, unit: &str) -> Option<f64> {
    (unit == "nanoseconds").then_some(impact / 1e9)
}

/// Parameters of the deploy endpoints.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DeployParams {
    service: Option<String>,
    #[serde(rename = "type")]
    profile_type: Option<String>,
    base: Option<String>,
    target: Option<String>,
    min_samples: Option<String>,
}

fn deploy_params(
    params: &DeployParams,
    default_min_samples: u64,
) -> Result<(String, String, u64), ParamError> {
    let service = params
        .service
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ParamError::MissingService)?
        .to_owned();
    let profile_type = params.profile_type.clone().unwrap_or_else(|| "cpu".into());
    crate::params::check_type_name(&profile_type)?;
    let min_samples =
        crate::params::parse_count(params.min_samples.as_deref(), default_min_samples, u64::MAX)?;
    Ok((service, profile_type, min_samples))
}

#[derive(Serialize)]
struct DeployJson {
    version: String,
    build_ids: Vec<String>,
    hosts: Vec<String>,
    first_seen: String,
    last_seen: String,
    cpu_samples: u64,
    /// The comparison with the previous deploy; `None` for the first.
    comparison: Option<StatusJson>,
}

/// A deploy's comparison with the one before it, in short.
#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum StatusJson {
    /// A side has fewer than `min_samples`.
    Pending {
        previous: String,
        min_samples: u64,
        base_samples: u64,
        target_samples: u64,
    },
    /// Compared.
    Done {
        previous: String,
        base_samples: u64,
        target_samples: u64,
        computed_at: String,
        computed_by: Trigger,
        unnamed_samples: u64,
        dispersion: f64,
        tested: usize,
        regressions: Vec<ChangeJson>,
        improvements: Vec<ChangeJson>,
    },
}

/// One significant change, in short.
#[derive(Serialize)]
struct ChangeJson {
    name: String,
    change: f64,
    base_self: u64,
    target_self: u64,
    impact: f64,
    /// Impact in seconds (CPU-seconds for `cpu`), when the unit is time.
    impact_seconds: Option<f64>,
    p_value: f64,
    significant: bool,
}

impl ChangeJson {
    fn of(change: &FunctionChange, unit: &str) -> Self {
        Self {
            name: change.name.clone(),
            change: change.change,
            base_self: change.base_self,
            target_self: change.target_self,
            impact: change.impact,
            impact_seconds: seconds(change.impact, unit),
            p_value: change.p_value,
            significant: change.significant,
        }
    }
}

#[derive(Serialize)]
struct ComparisonJson {
    base: String,
    target: String,
    /// False until both sides have enough samples.
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<Diff>,
}

/// `GET /api/v1/deploys?service=S`: the service's deploys (its `version`
/// labels), oldest first, each with its comparison with the one before.
pub(crate) async fn deploys(
    State(state): State<AppState>,
    params: Result<Query<DeployParams>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let cache = state.deploys.clone();
    let (service, profile_type, min_samples) = deploy_params(&params, cache.options.min_samples)?;
    let store = state.store.clone();
    let name = service.clone();
    let stale_ok = cache.watched.load(std::sync::atomic::Ordering::Relaxed);
    let (deploys, comparisons) = tokio::task::spawn_blocking(move || {
        let deploys = store.deploys(&name)?;
        let mut comparisons = Vec::new();
        for pair in deploys.windows(2) {
            let (base, target) = (&pair[0], &pair[1]);
            let ready = base.cpu_samples >= min_samples && target.cpu_samples >= min_samples;
            let comparison = if ready {
                let key = PairKey {
                    service: name.clone(),
                    profile_type: profile_type.clone(),
                    base: base.version.clone(),
                    target: target.version.clone(),
                };
                Some(cache.get(&store, key, (base, target), Trigger::Request, stale_ok)?)
            } else {
                None
            };
            comparisons.push(comparison);
        }
        Ok::<_, StorageError>((deploys, comparisons))
    })
    .await??;
    let mut shown = Vec::with_capacity(deploys.len());
    let mut pairs = Vec::with_capacity(comparisons.len());
    for (i, d) in deploys.iter().enumerate() {
        let status = i.checked_sub(1).map(|p| {
            let previous = &deploys[p];
            match &comparisons[p] {
                None => StatusJson::Pending {
                    previous: previous.version.clone(),
                    min_samples,
                    base_samples: previous.cpu_samples,
                    target_samples: d.cpu_samples,
                },
                Some(c) => StatusJson::Done {
                    previous: previous.version.clone(),
                    base_samples: c.diff.base_total,
                    target_samples: c.diff.target_total,
                    computed_at: format_rfc3339(c.computed_unix_nanos),
                    computed_by: c.trigger,
                    unnamed_samples: c.unnamed_samples,
                    dispersion: c.diff.dispersion,
                    tested: c.diff.tested,
                    regressions: c
                        .diff
                        .regressions
                        .iter()
                        .take(TOP_CHANGES)
                        .map(|x| ChangeJson::of(x, &c.unit))
                        .collect(),
                    improvements: c
                        .diff
                        .improvements
                        .iter()
                        .take(TOP_CHANGES)
                        .map(|x| ChangeJson::of(x, &c.unit))
                        .collect(),
                },
            }
        });
        if i > 0 {
            pairs.push(ComparisonJson {
                base: deploys[i - 1].version.clone(),
                target: d.version.clone(),
                ready: comparisons[i - 1].is_some(),
                diff: comparisons[i - 1].as_ref().map(|c| Diff::clone(&c.diff)),
            });
        }
        shown.push(DeployJson {
            version: d.version.clone(),
            build_ids: d.build_ids.clone(),
            hosts: d.hosts.clone(),
            first_seen: format_rfc3339(d.first_seen_unix_nanos),
            last_seen: format_rfc3339(d.last_seen_unix_nanos),
            cpu_samples: d.cpu_samples,
            comparison: status,
        });
    }
    Ok(Json(serde_json::json!({
        "service": service,
        "deploys": shown,
        "comparisons": pairs,
    })))
}

/// `GET /api/v1/deploys/compare?service=S&base=V1&target=V2`: the full
/// comparison of two deploys, whatever their sample counts.
pub(crate) async fn compare(
    State(state): State<AppState>,
    params: Result<Query<DeployParams>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let cache = state.deploys.clone();
    let (service, profile_type, _) = deploy_params(&params, cache.options.min_samples)?;
    let base = params
        .base
        .clone()
        .ok_or(ParamError::MissingDeploy("base"))?;
    let target = params
        .target
        .clone()
        .ok_or(ParamError::MissingDeploy("target"))?;
    let store = state.store.clone();
    let name = service.clone();
    let (base_version, target_version) = (base.clone(), target.clone());
    let diff = tokio::task::spawn_blocking(move || {
        let deploys = store.deploys(&name)?;
        let find = |v: &str| deploys.iter().find(|d| d.version == v);
        match (find(&base_version), find(&target_version)) {
            (Some(a), Some(b)) => {
                let key = PairKey {
                    service: name.clone(),
                    profile_type,
                    base: base_version.clone(),
                    target: target_version.clone(),
                };
                cache
                    .get(&store, key, (a, b), Trigger::Request, false)
                    .map(|c| Some(Diff::clone(&c.diff)))
            }
            _ => Ok(None),
        }
    })
    .await??
    .ok_or(ParamError::UnknownDeploy)?;
    Ok(Json(serde_json::json!({
        "service": service,
        "base": base,
        "target": target,
        "diff": diff,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(regressions: &[&str], unnamed: u64) -> Comparison {
        let change = |name: &str| FunctionChange {
            name: name.into(),
            base_self: 10,
            target_self: 20,
            base_share: 0.1,
            target_share: 0.2,
            change: 1.0,
            impact: 1e9,
            z: 9.0,
            p_value: 1e-9,
            significant: true,
        };
        Comparison {
            diff: Arc::new(Diff {
                base_total: 100,
                target_total: 100,
                scale: 1.0,
                tested: 3,
                dispersion: 1.0,
                dispersion_df: 2.0,
                regressions: regressions.iter().map(|n| change(n)).collect(),
                improvements: vec![],
                all: vec![],
            }),
            data: data(1),
            unnamed_samples: unnamed,
            unit: "nanoseconds".into(),
            trigger: Trigger::Background,
            computed: Instant::now(),
            computed_unix_nanos: 0,
        }
    }

    fn data(samples: u64) -> DataVersion {
        DataVersion {
            base_samples: samples,
            target_samples: samples,
            base_last_seen: 0,
            target_last_seen: 0,
        }
    }

    fn key(target: &str) -> PairKey {
        PairKey {
            service: "shop".into(),
            profile_type: "cpu".into(),
            base: "1".into(),
            target: target.into(),
        }
    }

    #[derive(Debug)]
    struct DeployMetrics(Arc<DeployComparisons>);

    impl prometheus_client::collector::Collector for DeployMetrics {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            self.0.encode_metrics(&mut encoder)
        }
    }

    #[test]
    fn the_cache_is_bounded_fresh_only_for_its_data_and_reports_new_regressions() {
        let cache = DeployComparisons::new(DeployCompareOptions {
            max_results: 2,
            interval: Duration::from_secs(3600),
            ..DeployCompareOptions::default()
        });
        assert_eq!(cache.insert(key("2"), comparison(&["f"], 0)).len(), 1);
        // The same regression again is not new; another one is.
        let new = cache.insert(key("2"), comparison(&["f", "g"], 0));
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].name, "g");
        assert!(cache.cached(&key("2"), data(1), false).is_some());
        // More samples: outdated, unless an outdated answer will do.
        assert!(cache.cached(&key("2"), data(2), false).is_none());
        assert!(cache.cached(&key("2"), data(2), true).is_some());
        cache.insert(key("3"), comparison(&[], 0));
        // "2" was used more recently than "3": "3" goes first.
        assert!(cache.cached(&key("2"), data(1), false).is_some());
        cache.insert(key("4"), comparison(&[], 0));
        assert_eq!(cache.entries().len(), 2);
        assert!(cache.cached(&key("3"), data(1), false).is_none());
        assert!(cache.cached(&key("2"), data(1), false).is_some());
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(DeployMetrics(Arc::new(cache))));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("augur_web_deploy_comparisons_cached 2\n"),
            "{text}"
        );
    }

    #[test]
    fn unnamed_frames_make_a_result_outdated_after_an_interval() {
        let cache = DeployComparisons::new(DeployCompareOptions {
            interval: Duration::ZERO,
            ..DeployCompareOptions::default()
        });
        cache.insert(key("2"), comparison(&[], 5));
        assert!(cache.cached(&key("2"), data(1), false).is_none());
        cache.insert(key("2"), comparison(&[], 0));
        assert!(cache.cached(&key("2"), data(1), false).is_some());
    }
}
