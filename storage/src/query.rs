//! The read path: merged profiles, the service list and counters.
//!
//! A profile query costs a few statements however many stacks match: one
//! sums counts per stack, one per level of the prefix tree walks up from
//! every leaf at once, one loads the frames and one their symbols. Stacks
//! are then rebuilt in memory. Each query runs in one read transaction, so
//! it sees a single snapshot while the writer goes on.
//!
//! A query without label matchers sums the per-service rows
//! (`service_samples`), one per window and stack whatever the number of
//! hosts; one with matchers sums the rows of the series it selects.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use augur_profile::{Location, Profile, ProfileType, ROOT, Sample, StackNode, StackTree};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::{Context, StorageError};
use crate::schema::{self, status};
use crate::symbolization;

/// Row ids from our own tables, hashed by one multiply: a profile query
/// looks up hundreds of thousands of them, and SipHash's protection against
/// chosen keys buys nothing for ids SQLite assigned.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u64(&mut self, n: u64) {
        // ClickHouse's content addresses.
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        // The high bits carry the product's mixing; hashbrown uses the top
        // seven for its control bytes and the low ones for the bucket.
        self.0 ^ (self.0 >> 29)
    }
}

/// A map keyed by row id.
pub(crate) type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// Prefix-tree nodes and frames (with their symbols) read by earlier
/// queries, shared by every reader of one database.
///
/// Nodes and frames are immutable once committed (nothing updates or
/// deletes them, and readers only ever see committed rows), so a cached
/// node is never stale. Symbols do change, and the database counts every
/// transaction that changes them (`symbols_epoch`, schema version 7). The
/// cached frames are true for [`FrameCache::epoch`]: this process's own
/// symbol writes drop exactly the frames they changed and move the epoch
/// on ([`ReadCache::symbols_changed`]); a query whose snapshot shows
/// another epoch (another process wrote symbols, or this one is between
/// its commit and that call) neither trusts nor fills the frame cache, and
/// one that shows a newer epoch nobody here accounted for empties it.
///
/// Each map is cleared when it would pass its bound, which keeps memory
/// bounded without bookkeeping per entry.
pub(crate) struct ReadCache {
    nodes: std::sync::Mutex<IdMap<(i64, i64)>>,
    frames: std::sync::Mutex<FrameCache>,
    max_nodes: usize,
    max_frames: usize,
}

/// Locations with their symbols as of `epoch`.
#[derive(Default)]
pub(crate) struct FrameCache {
    map: IdMap<Arc<Location>>,
    epoch: i64,
}

impl ReadCache {
    /// About 40 MB at most: enough for the nodes and frames of a few
    /// profiles of 100,000+ nodes.
    pub(crate) fn new() -> Self {
        Self::with_bounds(1 << 20, 1 << 18)
    }

    pub(crate) fn with_bounds(max_nodes: usize, max_frames: usize) -> Self {
        Self {
            nodes: Default::default(),
            frames: Default::default(),
            max_nodes,
            max_frames,
        }
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, IdMap<(i64, i64)>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, FrameCache> {
        self.frames
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes().len()
    }

    /// The writer committed these stack nodes: remember them, as a query
    /// reading them would (nodes never change once committed).
    pub(crate) fn nodes_added(&self, nodes: Vec<(i64, (i64, i64))>) {
        if !nodes.is_empty() {
            remember(&mut self.nodes(), self.max_nodes, nodes.into_iter());
        }
    }

    /// This process committed new symbols for `frames`, which moved the
    /// symbols epoch to `epoch`: forget those frames, keep the rest.
    pub(crate) fn symbols_changed(&self, epoch: i64, frames: &[i64]) {
        let mut cache = self.frames();
        for id in frames {
            cache.map.remove(id);
        }
        if epoch == cache.epoch + 1 {
            cache.epoch = epoch;
        } else {
            // Another writer changed symbols too: nothing here is known true.
            cache.map.clear();
            cache.epoch = cache.epoch.max(epoch);
        }
    }
}

/// Adds `new` entries to a cache map, clearing it first if they would not
/// fit under `max`.
fn remember<V>(map: &mut IdMap<V>, max: usize, new: impl ExactSizeIterator<Item = (i64, V)>) {
    if new.len() > max {
        return;
    }
    if map.len() + new.len() > max {
        map.clear();
    }
    map.extend(new);
}

/// Which samples to merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileQuery {
    /// Service name.
    pub service: String,
    /// Only samples of processes with these labels (equality; empty: all).
    pub labels: BTreeMap<String, String>,
    /// Profile type name, e.g. `cpu`.
    pub profile_type: String,
    /// Windows starting at or after this instant are included, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Windows starting at or after this instant are excluded, Unix nanoseconds.
    pub end_unix_nanos: i64,
}

impl ProfileQuery {
    /// Whether a series with `labels` is selected: it has every matcher.
    pub(crate) fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// Label names with the values they take across `series`, sorted.
pub(crate) fn collect_label_values(
    series: impl IntoIterator<Item = BTreeMap<String, String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut values: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for labels in series {
        for (k, v) in labels {
            values.entry(k).or_default().insert(v);
        }
    }
    values
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// One service and how much data it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSummary {
    /// Service name.
    pub name: String,
    /// Its on-CPU samples (profile type `cpu`); other types weigh in other
    /// units and are not added in.
    pub total_samples: u64,
    /// Profile types it has data for, sorted.
    pub profile_types: Vec<String>,
    /// Total value per profile type, in that type's unit (samples times
    /// their period: nanoseconds, events, ...).
    pub totals: BTreeMap<String, u64>,
    /// Start of its oldest window, Unix nanoseconds.
    pub first_window_unix_nanos: i64,
    /// Start of its newest window, Unix nanoseconds.
    pub last_window_unix_nanos: i64,
}

/// Row counts, for `/metrics` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Distinct frames of every kind.
    pub frames: u64,
    /// User frames with symbols.
    pub frames_symbolized: u64,
    /// User frames whose last symbolization attempt failed.
    pub frames_failed: u64,
    /// User frames never attempted.
    pub frames_pending: u64,
    /// Nodes of the stack prefix tree.
    pub stacks: u64,
    /// Sample rows (series, type, window, stack, period).
    pub sample_rows: u64,
    /// Batches stored.
    pub batches: u64,
}

/// What a profile query read: counts per stack, the prefix-tree nodes on
/// their paths and the locations of their frames, symbols included.
struct Loaded {
    period: u64,
    /// `(stack, count)`, hottest first (the stack id breaks ties).
    totals: Vec<(i64, u64)>,
    /// `node -> (parent, frame)`.
    nodes: IdMap<(i64, i64)>,
    locations: IdMap<Arc<Location>>,
}

/// An empty profile of `query`, with the type's unit if it is known.
fn empty_profile(tx: &Transaction<'_>, query: &ProfileQuery) -> Result<Profile, StorageError> {
    let unit: Option<String> = tx
        .prepare_cached("SELECT unit FROM profile_types WHERE name = ?1")
        .and_then(|mut s| s.query_row([&query.profile_type], |r| r.get(0)).optional())
        .context("look up a profile type")?;
    Ok(Profile {
        service: query.service.clone(),
        profile_type: ProfileType {
            name: query.profile_type.clone(),
            // A type never stored has no samples, so no unit to report.
            unit: unit.unwrap_or_default(),
        },
        period: 0,
        start_unix_nanos: query.start_unix_nanos,
        end_unix_nanos: query.end_unix_nanos,
        samples: Vec::new(),
    })
}

/// Reads what `query` selects; `None` when it selects no samples.
fn load(
    tx: &Transaction<'_>,
    query: &ProfileQuery,
    cache: &ReadCache,
) -> Result<Option<Loaded>, StorageError> {
    let began = std::time::Instant::now();
    let Some(source) = selected_source(tx, query)? else {
        return Ok(None);
    };
    let rows = counts_per_stack(tx, &source, query)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let summed = began.elapsed();
    let (period, mut totals) = merge_periods(&rows);
    if rows.iter().any(|r| r.period != period) {
        tracing::warn!(
            service = query.service,
            period,
            "windows sampled at different periods; counts rescaled to the most common one"
        );
    }
    let nodes = stack_nodes(tx, totals.iter().map(|&(id, _)| id).collect(), cache)?;
    let walked = began.elapsed();
    let frame_ids = {
        let mut ids: Vec<i64> = nodes.values().map(|&(_, frame)| frame).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let locations = frames(tx, &frame_ids, cache)?;
    // Hottest first; the stack id only makes the order deterministic.
    totals.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    tracing::debug!(
        service = query.service,
        rows = rows.len(),
        stacks = totals.len(),
        nodes = nodes.len(),
        frames = locations.len(),
        sum_ms = summed.as_secs_f64() * 1e3,
        walk_ms = (walked - summed).as_secs_f64() * 1e3,
        frames_ms = (began.elapsed() - walked).as_secs_f64() * 1e3,
        "profile query read"
    );
    Ok(Some(Loaded {
        period,
        totals,
        nodes,
        locations,
    }))
}

pub(crate) fn profile(
    conn: &mut Connection,
    query: &ProfileQuery,
    cache: &ReadCache,
) -> Result<Profile, StorageError> {
    let tx = conn.transaction().context("begin a profile query")?;
    let mut profile = empty_profile(&tx, query)?;
    let Some(loaded) = load(&tx, query, cache)? else {
        return Ok(profile);
    };
    profile.period = loaded.period;
    profile.samples = loaded
        .totals
        .iter()
        .map(|&(stack_id, count)| {
            Ok(Sample {
                locations: rebuild_stack(stack_id, &loaded.nodes, &loaded.locations)?,
                count,
            })
        })
        .collect::<Result<_, StorageError>>()?;
    Ok(profile)
}

/// The same samples as [`profile`], handed over as the stored prefix tree:
/// no stack is spelled out and no location copied per frame.
pub(crate) fn stack_tree(
    conn: &mut Connection,
    query: &ProfileQuery,
    cache: &ReadCache,
) -> Result<StackTree, StorageError> {
    let tx = conn.transaction().context("begin a profile query")?;
    let mut tree = StackTree::empty_like(&empty_profile(&tx, query)?);
    let Some(Loaded {
        period,
        totals,
        nodes,
        locations,
    }) = load(&tx, query, cache)?
    else {
        return Ok(tree);
    };
    tree.period = period;
    let mut location_index: IdMap<u32> =
        IdMap::with_capacity_and_hasher(locations.len(), Default::default());
    // Stored nodes by id. A node's id is larger than its parent's: nodes
    // are only ever added, a parent before its children, and SQLite gives
    // each new row the largest id yet. So ascending ids put parents first,
    // and a node's parent is most often the node just before it (a new
    // stack's nodes are made in one go).
    let mut stored: Vec<(i64, i64, i64)> = nodes
        .iter()
        .map(|(&id, &(parent, frame))| (id, parent, frame))
        .collect();
    drop(nodes);
    stored.sort_unstable_by_key(|&(id, ..)| id);
    let position = |id: i64, hint: usize| -> Option<usize> {
        match stored.get(hint) {
            Some(&(at, ..)) if at == id => Some(hint),
            _ => stored.binary_search_by_key(&id, |&(at, ..)| at).ok(),
        }
    };
    tree.nodes.reserve_exact(stored.len());
    for (i, &(id, parent, frame)) in stored.iter().enumerate() {
        let parent = if parent == 0 {
            ROOT
        } else {
            match position(parent, i.wrapping_sub(1)) {
                Some(p) if p < i => p as u32,
                Some(_) => {
                    return Err(StorageError::Corrupt {
                        what: format!("stack node {id} is older than its parent {parent}"),
                    });
                }
                None => {
                    return Err(StorageError::Corrupt {
                        what: format!("stack node {parent} (parent of {id}) is missing"),
                    });
                }
            }
        };
        let location = match location_index.get(&frame) {
            Some(&index) => index,
            None => {
                let location = locations.get(&frame).ok_or_else(|| StorageError::Corrupt {
                    what: format!("frame {frame} (of stack node {id}) is missing"),
                })?;
                tree.locations.push(Arc::clone(location));
                let index = (tree.locations.len() - 1) as u32;
                location_index.insert(frame, index);
                index
            }
        };
        tree.nodes.push(StackNode {
            parent,
            location,
            count: 0,
        });
    }
    for (stack_id, count) in totals {
        // Stack 0 is the empty stack: no frame to charge.
        let slot = match position(stack_id, usize::MAX) {
            Some(index) => &mut tree.nodes[index].count,
            None if stack_id == 0 => &mut tree.root_count,
            None => {
                return Err(StorageError::Corrupt {
                    what: format!("stack {stack_id} has samples but no node"),
                });
            }
        };
        *slot = slot.saturating_add(count);
    }
    Ok(tree)
}

/// Fills `cache` with the newest stack nodes (as many as it holds) and
/// the frames they use (likewise), symbols included, as queries would.
/// Newest first because recent windows are what people look at, and a
/// stack's nodes were mostly made when it was first seen.
pub(crate) fn warm(
    conn: &mut Connection,
    cache: &ReadCache,
) -> Result<(usize, usize), StorageError> {
    let tx = conn.transaction().context("begin warming the read cache")?;
    let mut nodes: Vec<(i64, (i64, i64))> = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT id, parent_id, frame_id FROM stacks ORDER BY id DESC LIMIT ?1")
            .context("prepare the cache warm-up")?;
        let mut rows = stmt
            .query([cache.max_nodes as i64])
            .context("read stack nodes")?;
        while let Some(r) = rows.next().context("read a stack node")? {
            let id: i64 = r.get(0).context("read a stack node")?;
            let parent: i64 = r.get(1).context("read a stack node")?;
            let frame: i64 = r.get(2).context("read a stack node")?;
            nodes.push((id, (parent, frame)));
        }
    }
    let mut frame_ids: Vec<i64> = Vec::new();
    let mut seen: IdMap<()> = IdMap::default();
    for &(_, (_, frame)) in &nodes {
        if frame_ids.len() == cache.max_frames {
            break;
        }
        if seen.insert(frame, ()).is_none() {
            frame_ids.push(frame);
        }
    }
    let node_count = nodes.len();
    remember(&mut cache.nodes(), cache.max_nodes, nodes.into_iter());
    frame_ids.sort_unstable();
    let frames = frames(&tx, &frame_ids, cache)?.len();
    Ok((node_count, frames))
}

/// One `(stack, period)` group of the matching sample rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StackCount {
    pub(crate) stack_id: i64,
    pub(crate) period: u64,
    pub(crate) count: u64,
}

/// A service's deploys from its series' `version`, `host` and `build_id`
/// labels, oldest first: by first window, then last window, then which
/// series arrived first (two deploys inside one window keep their order).
pub(crate) fn deploys(
    conn: &mut Connection,
    service: &str,
) -> Result<Vec<crate::Deploy>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT json_extract(se.labels, '$.version') AS version,
                    MIN(sa.window_start), MAX(sa.window_start),
                    GROUP_CONCAT(DISTINCT json_extract(se.labels, '$.host')),
                    GROUP_CONCAT(DISTINCT json_extract(se.labels, '$.build_id')),
                    SUM(CASE WHEN sa.profile_type = 'cpu' THEN sa.count ELSE 0 END)
             FROM all_samples sa
             JOIN series se ON se.id = sa.series_id
             JOIN services sv ON sv.id = se.service_id
             WHERE sv.name = ?1 AND json_extract(se.labels, '$.version') IS NOT NULL
             GROUP BY version
             ORDER BY MIN(sa.window_start), MAX(sa.window_start), MIN(se.id)",
        )
        .context("prepare the deploy history")?;
    let list = |text: Option<String>| -> Vec<String> {
        let mut items: Vec<String> = text
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        items.sort();
        items
    };
    let rows = stmt
        .query_map([service], |r| {
            Ok(crate::Deploy {
                version: r.get(0)?,
                first_seen_unix_nanos: r.get(1)?,
                last_seen_unix_nanos: r.get(2)?,
                hosts: list(r.get(3)?),
                build_ids: list(r.get(4)?),
                cpu_samples: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            })
        })
        .context("read the deploy history")?;
    rows.map(|row| row.context("read a deploy")).collect()
}

/// Samples per window start for a query, oldest first.
pub(crate) fn timeline(
    conn: &mut Connection,
    query: &ProfileQuery,
) -> Result<Vec<(i64, u64)>, StorageError> {
    let tx = conn.transaction().context("begin a timeline query")?;
    let Some(source) = selected_source(&tx, query)? else {
        return Ok(Vec::new());
    };
    let (minutes, hours, owner) = source.tables();
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT window_start, SUM(count) FROM (
                 SELECT window_start, count FROM {minutes}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4
                 UNION ALL
                 SELECT window_start, count FROM {hours}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4)
             GROUP BY window_start ORDER BY window_start"
        ))
        .context("prepare the timeline")?;
    let rows = stmt
        .query_map(
            params![
                source.ids(),
                query.profile_type,
                query.start_unix_nanos,
                query.end_unix_nanos
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .context("sum samples per window")?;
    let mut out = Vec::new();
    for row in rows {
        let (start, count) = row.context("read a timeline point")?;
        out.push((start, u64::try_from(count).unwrap_or(0)));
    }
    Ok(out)
}

/// Which rows a query sums: the service's own (no label matchers), or
/// those of the series it selects.
enum Source {
    Service(Rc<Vec<Value>>),
    Series(Rc<Vec<Value>>),
}

impl Source {
    /// Minute table, hour table and owner column.
    fn tables(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Source::Service(_) => ("service_samples", "service_samples_hourly", "service_id"),
            Source::Series(_) => ("samples", "samples_hourly", "series_id"),
        }
    }

    /// The owners' ids, as a `rarray` parameter.
    fn ids(&self) -> Rc<Vec<Value>> {
        match self {
            Source::Service(ids) | Source::Series(ids) => Rc::clone(ids),
        }
    }
}

/// The rows `query` sums; `None` when it selects nothing.
fn selected_source(
    tx: &Transaction<'_>,
    query: &ProfileQuery,
) -> Result<Option<Source>, StorageError> {
    if query.labels.is_empty() {
        let id: Option<i64> = tx
            .prepare_cached("SELECT id FROM services WHERE name = ?1")
            .and_then(|mut s| s.query_row([&query.service], |r| r.get(0)).optional())
            .context("look up a service")?;
        return Ok(id.map(|id| Source::Service(Rc::new(vec![Value::Integer(id)]))));
    }
    let ids: Vec<Value> = series_of(tx, &query.service)?
        .into_iter()
        .filter(|(_, labels)| query.selects(labels))
        .map(|(id, _)| Value::Integer(id))
        .collect();
    Ok((!ids.is_empty()).then(|| Source::Series(Rc::new(ids))))
}

/// A series' labels besides `service`.
type Labels = BTreeMap<String, String>;

/// Every series of `service` with its labels.
fn series_of(tx: &Transaction<'_>, service: &str) -> Result<Vec<(i64, Labels)>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT se.id, se.labels FROM series se JOIN services sv ON sv.id = se.service_id
             WHERE sv.name = ?1",
        )
        .context("prepare the series lookup")?;
    let rows = stmt
        .query_map([service], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .context("look up series")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, text) = row.context("read a series")?;
        let labels = serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
            what: format!("labels of series {id}: {e}"),
        })?;
        out.push((id, labels));
    }
    Ok(out)
}

/// Label names of `service` with their values, for selectors.
pub(crate) fn label_values(
    conn: &mut Connection,
    service: &str,
) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
    let tx = conn.transaction().context("begin a label query")?;
    let series = series_of(&tx, service)?;
    Ok(collect_label_values(
        series.into_iter().map(|(_, labels)| labels),
    ))
}

fn counts_per_stack(
    tx: &Transaction<'_>,
    source: &Source,
    query: &ProfileQuery,
) -> Result<Vec<StackCount>, StorageError> {
    let (minutes, hours, owner) = source.tables();
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT stack_id, period, SUM(count) FROM (
                 SELECT stack_id, period, count FROM {minutes}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4
                 UNION ALL
                 SELECT stack_id, period, count FROM {hours}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4)
             GROUP BY stack_id, period"
        ))
        .context("prepare the sample sum")?;
    let rows = stmt
        .query_map(
            params![
                source.ids(),
                query.profile_type,
                query.start_unix_nanos,
                query.end_unix_nanos
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .context("sum samples")?;
    let mut out = Vec::new();
    for row in rows {
        let (stack_id, period, count) = row.context("read a sample sum")?;
        let (Ok(period), Ok(count)) = (u64::try_from(period), u64::try_from(count)) else {
            return Err(StorageError::Corrupt {
                what: format!("stack {stack_id} has period {period} and count {count}"),
            });
        };
        out.push(StackCount {
            stack_id,
            period,
            count,
        });
    }
    Ok(out)
}

/// Picks the period that carries the most samples (the smaller on a tie) and
/// expresses every count in it, so `count * period` keeps its value. Rows of
/// other periods are rounded to the nearest sample, and never to zero, so a
/// stack does not vanish. Returns the period and one count per stack.
pub(crate) fn merge_periods(rows: &[StackCount]) -> (u64, Vec<(i64, u64)>) {
    let mut weight: BTreeMap<u64, u128> = BTreeMap::new();
    for row in rows {
        *weight.entry(row.period).or_default() += u128::from(row.count);
    }
    let period = weight
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(0, |(&period, _)| period);
    let mut per_stack: IdMap<u64> = IdMap::with_capacity_and_hasher(rows.len(), Default::default());
    for row in rows {
        let count = if row.period == period || period == 0 {
            row.count
        } else {
            let value = u128::from(row.count) * u128::from(row.period);
            let scaled = (value + u128::from(period) / 2) / u128::from(period);
            u64::try_from(scaled).unwrap_or(u64::MAX).max(1)
        };
        let total = per_stack.entry(row.stack_id).or_default();
        *total = total.saturating_add(count);
    }
    (period, per_stack.into_iter().collect())
}

/// Every node on the paths from the given leaves to the root, as
/// `node -> (parent, frame)`: from the cache, then one query per tree level
/// for the rest.
fn stack_nodes(
    tx: &Transaction<'_>,
    leaves: Vec<i64>,
    cache: &ReadCache,
) -> Result<IdMap<(i64, i64)>, StorageError> {
    let mut stmt = tx
        .prepare_cached("SELECT id, parent_id, frame_id FROM stacks WHERE id IN rarray(?1)")
        .context("prepare the stack walk")?;
    let mut nodes: IdMap<(i64, i64)> =
        IdMap::with_capacity_and_hasher(leaves.len(), Default::default());
    let mut fetched: Vec<(i64, (i64, i64))> = Vec::new();
    let mut level = leaves;
    let mut missing: Vec<i64> = Vec::new();
    while !level.is_empty() {
        // What the cache knows climbs at once; the rest is read per level.
        {
            let cached = cache.nodes();
            for id in level.drain(..) {
                let mut at = id;
                while at != 0 && !nodes.contains_key(&at) {
                    match cached.get(&at) {
                        Some(&(parent, frame)) => {
                            nodes.insert(at, (parent, frame));
                            at = parent;
                        }
                        None => {
                            missing.push(at);
                            break;
                        }
                    }
                }
            }
        }
        if missing.is_empty() {
            break;
        }
        // Sorted ids walk the table's B-tree in order, which is much faster.
        missing.sort_unstable();
        missing.dedup();
        let ids = Rc::new(missing.drain(..).map(Value::Integer).collect::<Vec<_>>());
        let mut rows = stmt.query([ids]).context("walk stacks")?;
        while let Some(r) = rows.next().context("read a stack node")? {
            let id: i64 = r.get(0).context("read a stack node")?;
            let parent: i64 = r.get(1).context("read a stack node")?;
            let frame: i64 = r.get(2).context("read a stack node")?;
            nodes.insert(id, (parent, frame));
            fetched.push((id, (parent, frame)));
            if parent != 0 && !nodes.contains_key(&parent) {
                level.push(parent);
            }
        }
        level.sort_unstable();
        level.dedup();
    }
    if !fetched.is_empty() {
        remember(&mut cache.nodes(), cache.max_nodes, fetched.into_iter());
    }
    Ok(nodes)
}

/// The frames with the given ids as locations, symbols included: from the
/// read cache when it holds them and is true for this snapshot's symbols
/// epoch, else from the database (and then remembered). User frames get
/// the first path their binary was reported under, looked up once per
/// binary (a profile has tens of thousands of frames in a few dozen
/// binaries).
fn frames(
    tx: &Transaction<'_>,
    frame_ids: &[i64],
    cache: &ReadCache,
) -> Result<IdMap<Arc<Location>>, StorageError> {
    let epoch = symbolization::symbols_epoch(tx)?;
    let mut locations: IdMap<Arc<Location>> =
        IdMap::with_capacity_and_hasher(frame_ids.len(), Default::default());
    let mut missing: Vec<i64> = Vec::new();
    {
        let mut cached = cache.frames();
        if epoch > cached.epoch {
            cached.map.clear();
            cached.epoch = epoch;
        }
        if epoch == cached.epoch {
            for &id in frame_ids {
                match cached.map.get(&id) {
                    Some(location) => {
                        locations.insert(id, Arc::clone(location));
                    }
                    None => missing.push(id),
                }
            }
        } else {
            missing.extend_from_slice(frame_ids);
        }
    }
    if missing.is_empty() {
        return Ok(locations);
    }
    let missing = Rc::new(missing.into_iter().map(Value::Integer).collect::<Vec<_>>());
    let mut read = read_frames(tx, missing.clone())?;
    for (frame_id, symbols) in symbolization::symbols_of(tx, missing)? {
        if let Some(location) = read.get_mut(&frame_id) {
            location.symbols = symbols;
        }
    }
    let read: Vec<(i64, Arc<Location>)> = read
        .into_iter()
        .map(|(id, location)| (id, Arc::new(location)))
        .collect();
    {
        let mut cached = cache.frames();
        // Symbols read in this snapshot are only true for its epoch.
        if cached.epoch == epoch {
            let max = cache.max_frames;
            remember(
                &mut cached.map,
                max,
                read.iter()
                    .map(|(id, location)| (*id, Arc::clone(location))),
            );
        }
    }
    locations.extend(read);
    Ok(locations)
}

/// [`frames`] from the database.
fn read_frames(
    tx: &Transaction<'_>,
    frame_ids: Rc<Vec<Value>>,
) -> Result<IdMap<Location>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT f.id, f.kind, b.build_id, f.file_offset, f.name, f.module, f.binary_id
             FROM frames f LEFT JOIN binaries b ON b.id = f.binary_id
             WHERE f.id IN rarray(?1)",
        )
        .context("prepare the frame lookup")?;
    let mut path_of = tx
        .prepare_cached("SELECT path FROM binary_paths WHERE binary_id = ?1 ORDER BY id LIMIT 1")
        .context("prepare the path lookup")?;
    let mut paths: IdMap<Option<String>> = IdMap::default();
    let mut rows = stmt.query([frame_ids]).context("look up frames")?;
    let mut locations = IdMap::default();
    while let Some(r) = rows.next().context("read a frame")? {
        let id: i64 = r.get(0).context("read a frame")?;
        let frame = schema::frame_from_columns(
            id,
            r.get(1).context("read a frame")?,
            r.get(2).context("read a frame")?,
            r.get(3).context("read a frame")?,
            r.get(4).context("read a frame")?,
            r.get(5).context("read a frame")?,
        )?;
        let binary_id: i64 = r.get(6).context("read a frame")?;
        let path = if binary_id == 0 {
            None
        } else {
            match paths.get(&binary_id) {
                Some(path) => path.clone(),
                None => {
                    let path: Option<String> = path_of
                        .query_row([binary_id], |r| r.get(0))
                        .optional()
                        .context("look up a binary's path")?;
                    paths.insert(binary_id, path.clone());
                    path
                }
            }
        };
        // Symbols are joined on after; a runtime frame has its own.
        locations.insert(id, Location::new(frame, path, Vec::new()));
    }
    Ok(locations)
}

/// The locations of one stack, leaf first.
fn rebuild_stack(
    leaf: i64,
    nodes: &IdMap<(i64, i64)>,
    locations: &IdMap<Arc<Location>>,
) -> Result<Vec<Location>, StorageError> {
    let mut stack = Vec::new();
    let mut node = leaf;
    while node != 0 {
        let &(parent, frame_id) = nodes.get(&node).ok_or_else(|| StorageError::Corrupt {
            what: format!("stack node {node} (of stack {leaf}) is missing"),
        })?;
        let location = locations
            .get(&frame_id)
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("frame {frame_id} (of stack node {node}) is missing"),
            })?;
        stack.push(Location::clone(location));
        // A path longer than the number of nodes can only be a cycle.
        if stack.len() > nodes.len() {
            return Err(StorageError::Corrupt {
                what: format!("stack {leaf} loops"),
            });
        }
        node = parent;
    }
    Ok(stack)
}

pub(crate) fn services(conn: &mut Connection) -> Result<Vec<ServiceSummary>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sv.name, SUM(CASE WHEN sa.profile_type = 'cpu' THEN sa.count ELSE 0 END),
                    MIN(sa.window_start), MAX(sa.window_start), GROUP_CONCAT(DISTINCT sa.profile_type)
             FROM all_service_samples sa JOIN services sv ON sv.id = sa.service_id
             GROUP BY sa.service_id
             ORDER BY sv.name",
        )
        .context("prepare the service list")?;
    let rows = stmt
        .query_map([], |r| {
            let mut profile_types: Vec<String> = r
                .get::<_, Option<String>>(4)?
                .unwrap_or_default()
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            profile_types.sort();
            Ok(ServiceSummary {
                name: r.get(0)?,
                total_samples: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                first_window_unix_nanos: r.get(2)?,
                last_window_unix_nanos: r.get(3)?,
                profile_types,
                totals: BTreeMap::new(),
            })
        })
        .context("list services")?;
    let mut services: Vec<ServiceSummary> = rows
        .map(|row| row.context("read a service"))
        .collect::<Result<_, _>>()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT sv.name, sa.profile_type, SUM(sa.count * sa.period)
             FROM all_service_samples sa JOIN services sv ON sv.id = sa.service_id
             GROUP BY sa.service_id, sa.profile_type",
        )
        .context("prepare the service totals")?;
    let totals = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                // SUM overflows to a float in SQLite past i64; saturate.
                r.get::<_, f64>(2)?,
            ))
        })
        .context("sum service totals")?;
    for row in totals {
        let (name, profile_type, total) = row.context("read a service total")?;
        if let Some(service) = services.iter_mut().find(|s| s.name == name) {
            service.totals.insert(profile_type, total.max(0.0) as u64);
        }
    }
    Ok(services)
}

pub(crate) fn stats(conn: &mut Connection) -> Result<StoreStats, StorageError> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    conn.prepare_cached(
        "SELECT (SELECT COUNT(*) FROM frames),
                (SELECT COUNT(*) FROM symbolization WHERE status = ?1),
                (SELECT COUNT(*) FROM symbolization WHERE status = ?2),
                (SELECT COUNT(*) FROM symbolization WHERE status = ?3),
                (SELECT COUNT(*) FROM stacks),
                (SELECT COUNT(*) FROM all_samples),
                (SELECT COUNT(*) FROM batches)",
    )
    .and_then(|mut s| {
        s.query_row(
            params![status::SYMBOLIZED, status::FAILED, status::PENDING],
            |r| {
                Ok(StoreStats {
                    frames: count(r.get(0)?),
                    frames_symbolized: count(r.get(1)?),
                    frames_failed: count(r.get(2)?),
                    frames_pending: count(r.get(3)?),
                    stacks: count(r.get(4)?),
                    sample_rows: count(r.get(5)?),
                    batches: count(r.get(6)?),
                })
            },
        )
    })
    .context("count rows")
}

/// Runs a user's read-only query (`augur sql`) on a reader connection: one
/// statement, refused unless SQLite says it only reads, stopped after
/// [`crate::backend::SQL_TIMEOUT`].
pub(crate) fn user_sql(
    conn: &mut Connection,
    sql: &str,
    max_rows: usize,
) -> Result<crate::SqlAnswer, StorageError> {
    use rusqlite::types::ValueRef;

    let refused = |message: String| StorageError::Query { message };
    let deadline = std::time::Instant::now() + crate::backend::SQL_TIMEOUT;
    conn.progress_handler(10_000, Some(move || std::time::Instant::now() > deadline))
        .context("install the query time limit")?;
    let result = (|| {
        let mut stmt = conn
            .prepare(sql.trim().trim_end_matches(';'))
            .map_err(|e| refused(e.to_string()))?;
        if !stmt.readonly() {
            return Err(refused(
                "only read-only queries (SELECT, WITH) are allowed".into(),
            ));
        }
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.query([]).map_err(|e| refused(e.to_string()))?;
        let mut out = Vec::new();
        let mut truncated = false;
        while let Some(row) = rows.next().map_err(|e| refused(e.to_string()))? {
            if out.len() == max_rows {
                truncated = true;
                break;
            }
            let values = (0..columns.len())
                .map(|i| match row.get_ref(i) {
                    Ok(ValueRef::Null) | Err(_) => serde_json::Value::Null,
                    Ok(ValueRef::Integer(n)) => n.into(),
                    Ok(ValueRef::Real(x)) => x.into(),
                    Ok(ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned().into(),
                    Ok(ValueRef::Blob(b)) => b
                        .iter()
                        .map(|x| format!("{x:02x}"))
                        .collect::<String>()
                        .into(),
                })
                .collect();
            out.push(values);
        }
        Ok(crate::SqlAnswer {
            columns,
            rows: out,
            truncated,
        })
    })();
    // The connection goes back to the pool: drop the time limit.
    conn.progress_handler(0, None::<fn() -> bool>)
        .context("remove the query time limit")?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stack_id: i64, period: u64, count: u64) -> StackCount {
        StackCount {
            stack_id,
            period,
            count,
        }
    }

    fn sorted(mut v: Vec<(i64, u64)>) -> Vec<(i64, u64)> {
        v.sort();
        v
    }

    #[test]
    fn one_period_sums_per_stack() {
        let (period, totals) = merge_periods(&[row(1, 10, 3), row(2, 10, 4)]);
        assert_eq!(period, 10);
        assert_eq!(sorted(totals), vec![(1, 3), (2, 4)]);
    }

    #[test]
    fn mixed_periods_keep_their_value_in_the_dominant_one() {
        // Period 10 carries 100 samples, period 20 only 6.
        let (period, totals) = merge_periods(&[row(1, 10, 100), row(1, 20, 5), row(2, 20, 1)]);
        assert_eq!(period, 10);
        assert_eq!(sorted(totals), vec![(1, 110), (2, 2)]);
    }

    #[test]
    fn rescaling_rounds_but_never_drops_a_stack() {
        let (period, totals) = merge_periods(&[row(1, 1000, 50), row(2, 1, 1)]);
        assert_eq!(period, 1000);
        assert_eq!(sorted(totals), vec![(1, 50), (2, 1)]);
    }

    #[test]
    fn ties_pick_the_finer_period() {
        let (period, _) = merge_periods(&[row(1, 20, 5), row(2, 10, 5)]);
        assert_eq!(period, 10);
    }

    #[test]
    fn rebuild_detects_missing_nodes_and_loops() {
        let location = Location {
            frame: augur_profile::RawFrame::Unknown { reason: "x".into() },
            path: None,
            symbols: vec![],
        };
        let locations = IdMap::from_iter([(7, Arc::new(location))]);
        let looped = IdMap::from_iter([(1, (2, 7)), (2, (1, 7))]);
        assert!(matches!(
            rebuild_stack(1, &looped, &locations),
            Err(StorageError::Corrupt { .. })
        ));
        let dangling = IdMap::from_iter([(1, (5, 7))]);
        assert!(matches!(
            rebuild_stack(1, &dangling, &locations),
            Err(StorageError::Corrupt { .. })
        ));
        let fine = IdMap::from_iter([(1, (2, 7)), (2, (0, 7))]);
        assert_eq!(rebuild_stack(1, &fine, &locations).unwrap().len(), 2);
        assert!(rebuild_stack(0, &fine, &locations).unwrap().is_empty());
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::{BatchWrite, SqliteStore, WindowWrite};
    use augur_profile::RawFrame;

    fn kernel(name: &str) -> RawFrame {
        RawFrame::Kernel {
            function: name.into(),
            module: None,
        }
    }

    fn write(store: &SqliteStore, id: &str, stacks: Vec<(Vec<RawFrame>, u64)>) {
        store
            .write_batch(&BatchWrite {
                batch_id: id.into(),
                received_unix_nanos: 1,
                binaries: vec![],
                windows: vec![WindowWrite {
                    service: "svc".into(),
                    labels: BTreeMap::new(),
                    profile_type: ProfileType {
                        name: "cpu".into(),
                        unit: "nanoseconds".into(),
                    },
                    period: 10,
                    window_start_unix_nanos: 0,
                    stacks,
                }],
            })
            .unwrap();
    }

    fn query() -> ProfileQuery {
        ProfileQuery {
            service: "svc".into(),
            labels: BTreeMap::new(),
            profile_type: "cpu".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 60_000_000_000,
        }
    }

    #[test]
    fn cached_nodes_and_frames_give_the_same_profiles_however_small_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        let deep: Vec<RawFrame> = (0..12).map(|i| kernel(&format!("f{i}"))).collect();
        write(
            &store,
            "a",
            vec![
                (deep.clone(), 3),
                (deep[4..].to_vec(), 2),
                (vec![kernel("x"), kernel("f11")], 1),
            ],
        );
        let mut conn = schema::open_reader(&path).unwrap();
        let uncached = || {
            let mut fresh = schema::open_reader(&path).unwrap();
            profile(&mut fresh, &query(), &ReadCache::with_bounds(0, 0)).unwrap()
        };
        let stacks_of = |tree: &StackTree| {
            let mut stacks: Vec<(Vec<Location>, u64)> = tree
                .stacks()
                .into_iter()
                .map(|(l, n)| (l.into_iter().cloned().collect(), n))
                .collect();
            stacks.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            stacks
        };
        for (nodes, frames) in [(1 << 20, 1 << 18), (5, 3), (1, 1), (0, 0)] {
            let expected = uncached();
            let cache = ReadCache::with_bounds(nodes, frames);
            for round in 0..3 {
                assert_eq!(
                    profile(&mut conn, &query(), &cache).unwrap(),
                    expected,
                    "bounds ({nodes}, {frames}), round {round}"
                );
                assert!(cache.nodes().len() <= nodes && cache.frames().map.len() <= frames);
            }
            // New stacks under cached prefixes are read, not missed.
            write(
                &store,
                &format!("b{nodes}"),
                vec![(vec![kernel("new"), kernel("f11")], 1)],
            );
            let after = profile(&mut conn, &query(), &cache).unwrap();
            assert_eq!(
                after,
                uncached(),
                "bounds ({nodes}, {frames}) after a write"
            );
            assert_eq!(after.total(), expected.total() + 1);
            let tree = stack_tree(&mut conn, &query(), &cache).unwrap();
            assert!(tree.is_well_formed());
            assert_eq!(
                stacks_of(&tree),
                stacks_of(&StackTree::from_profile(&after))
            );
        }
    }

    /// Symbols cached with their frames change when new ones are recorded:
    /// by this store (which drops just those frames), or by another
    /// connection to the file, as another process would (the epoch it
    /// moved empties the cache).
    #[test]
    fn cached_frames_show_symbols_recorded_later_here_or_by_another_writer() {
        use crate::{FrameSymbols, Shard};
        use augur_profile::{FileId, Symbol};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        let user = |offset| RawFrame::User {
            build_id: FileId::parse_hex("abcd").unwrap(),
            file_offset: offset,
        };
        write(
            &store,
            "a",
            vec![(vec![user(0x10), user(0x20)], 2), (vec![kernel("k")], 1)],
        );
        let names = |store: &SqliteStore| -> Vec<Vec<String>> {
            let tree = store.query_stack_tree(&query()).unwrap();
            let mut names: Vec<Vec<String>> = tree.locations.iter().map(|l| l.names()).collect();
            names.sort();
            names
        };
        let symbol = |name: &str| Symbol {
            function: name.into(),
            file: None,
            line: None,
        };
        let pending = store
            .pending_frames(std::time::Duration::ZERO, 10, Shard::ALL)
            .unwrap();
        let leaf = pending.iter().find(|f| f.file_offset == 0x10).unwrap();
        let caller = pending.iter().find(|f| f.file_offset == 0x20).unwrap();
        let before = names(&store);
        assert_eq!(names(&store), before, "a second read, now from the cache");
        assert!(
            before.iter().any(|n| n[0].starts_with("[abcd")),
            "{before:?}"
        );

        // This store names the leaf: only it changes.
        store
            .record_symbols(&[FrameSymbols {
                frame_id: leaf.frame_id,
                outcome: Ok(vec![symbol("hot")]),
            }])
            .unwrap();
        let after_here = names(&store);
        assert!(
            after_here.contains(&vec!["hot".to_owned()]),
            "{after_here:?}"
        );
        assert_eq!(after_here.len(), before.len());

        // Another store on the same file (another process) renames both.
        let other = SqliteStore::open(&path).unwrap();
        other
            .record_symbols(&[
                FrameSymbols {
                    frame_id: leaf.frame_id,
                    outcome: Ok(vec![symbol("hotter")]),
                },
                FrameSymbols {
                    frame_id: caller.frame_id,
                    outcome: Ok(vec![symbol("caller")]),
                },
            ])
            .unwrap();
        let after_there = names(&store);
        for name in ["hotter", "caller", "k"] {
            assert!(
                after_there.contains(&vec![name.to_owned()]),
                "{name} missing from {after_there:?}"
            );
        }
        assert!(!after_there.contains(&vec!["hot".to_owned()]));
        // And what the cache holds again is the new truth.
        assert_eq!(names(&store), after_there);
        // A failure recorded later does not erase names, cached or not.
        store
            .record_symbols(&[FrameSymbols {
                frame_id: leaf.frame_id,
                outcome: Err("no debug info".into()),
            }])
            .unwrap();
        assert_eq!(names(&store), after_there);
    }

    /// Warming fills the cache from the newest nodes and their frames, and
    /// what is then read from it is what a cold read gives.
    #[test]
    fn a_warmed_cache_holds_the_newest_nodes_and_gives_the_same_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = SqliteStore::open(&path).unwrap();
        let deep: Vec<RawFrame> = (0..12).map(|i| kernel(&format!("f{i}"))).collect();
        write(
            &store,
            "a",
            vec![(deep.clone(), 3), (vec![kernel("x"), kernel("f11")], 1)],
        );
        let cold = SqliteStore::open(&path)
            .unwrap()
            .query_profile(&query())
            .unwrap();
        // 12 nodes for the deep stack, one more for x; 13 frames.
        assert_eq!(store.warm_caches().unwrap(), (13, 13));
        let fresh = SqliteStore::open(&path).unwrap();
        assert_eq!(fresh.warm_caches().unwrap(), (13, 13));
        assert_eq!(fresh.query_profile(&query()).unwrap(), cold);
        // A small cache keeps the newest: the last node made is `x`'s.
        let mut conn = schema::open_reader(&path).unwrap();
        let small = ReadCache::with_bounds(1, 1);
        assert_eq!(warm(&mut conn, &small).unwrap(), (1, 1));
        let newest: i64 = conn
            .query_row("SELECT MAX(id) FROM stacks", [], |r| r.get(0))
            .unwrap();
        assert!(small.nodes().contains_key(&newest));
        assert_eq!(profile(&mut conn, &query(), &small).unwrap(), cold);
    }

    /// Nodes a write commits go straight into the read cache; a write that
    /// does not commit (a duplicate) adds none.
    #[test]
    fn written_nodes_are_cached_as_they_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let store = SqliteStore::open(&path).unwrap();
        let deep: Vec<RawFrame> = (0..12).map(|i| kernel(&format!("f{i}"))).collect();
        write(&store, "a", vec![(deep.clone(), 3)]);
        assert_eq!(store.cached_nodes(), 12);
        write(&store, "a", vec![(vec![kernel("other")], 3)]);
        assert_eq!(
            store.cached_nodes(),
            12,
            "a duplicate batch commits nothing"
        );
        write(
            &store,
            "b",
            vec![(deep[6..].to_vec(), 1), (vec![kernel("y")], 1)],
        );
        assert_eq!(store.cached_nodes(), 13, "only y is new");
        let cold = SqliteStore::open(&path)
            .unwrap()
            .query_profile(&query())
            .unwrap();
        assert_eq!(store.query_profile(&query()).unwrap(), cold);
    }
}
