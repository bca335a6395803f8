//! The read path: merged profiles, their prefix trees and timelines.
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
//!
//! A gauge type (`augur_profile::types::aggregation`) always reads its
//! series: each series' rows are divided by the snapshots added into them
//! (`gauge_snapshots`), so a window is the mean of its snapshots and a range
//! the mean over every snapshot in it, per series; series then add up.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use augur_profile::{
    Aggregation, Location, Profile, ProfileType, ROOT, Sample, StackNode, StackTree, types,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::node_cache::{NodeFrameCache, remember};
use super::symbols;
use crate::api::{IdMap, ProfileQuery, StackCount, merge_periods};
use crate::columns::frame_from_columns;
use crate::error::{Context, StorageError};

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
    cache: &NodeFrameCache,
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
    cache: &NodeFrameCache,
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
    cache: &NodeFrameCache,
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
    cache: &NodeFrameCache,
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
    let sql = match source {
        // Per window: each series' rows over its snapshots in that window.
        Source::Service(_) | Source::Series(_) if is_gauge(query) => format!(
            "SELECT window_start, SUM(value) FROM (
                 SELECT s.window_start, s.count * 1.0 / g.snapshots AS value
                 FROM {minutes} s JOIN gauge_snapshots g
                   ON g.series_id = s.series_id AND g.profile_type = s.profile_type
                  AND g.window_start = s.window_start
                 WHERE s.series_id IN rarray(?1) AND s.profile_type = ?2
                   AND s.window_start >= ?3 AND s.window_start < ?4
                 UNION ALL
                 SELECT s.window_start, s.count * 1.0 / g.snapshots
                 FROM {hours} s JOIN gauge_snapshots_hourly g
                   ON g.series_id = s.series_id AND g.profile_type = s.profile_type
                  AND g.window_start = s.window_start
                 WHERE s.series_id IN rarray(?1) AND s.profile_type = ?2
                   AND s.window_start >= ?3 AND s.window_start < ?4)
             GROUP BY window_start ORDER BY window_start"
        ),
        _ => format!(
            "SELECT window_start, SUM(count) FROM (
                 SELECT window_start, count FROM {minutes}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4
                 UNION ALL
                 SELECT window_start, count FROM {hours}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4)
             GROUP BY window_start ORDER BY window_start"
        ),
    };
    let mut stmt = tx.prepare_cached(&sql).context("prepare the timeline")?;
    let rows = stmt
        .query_map(
            params![
                source.ids(),
                query.profile_type,
                query.start_unix_nanos,
                query.end_unix_nanos
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Value>(1)?)),
        )
        .context("sum samples per window")?;
    let mut out = Vec::new();
    for row in rows {
        let (start, value) = row.context("read a timeline point")?;
        let value = match value {
            Value::Integer(n) => u64::try_from(n).unwrap_or(0),
            Value::Real(x) => rounded(x),
            _ => 0,
        };
        out.push((start, value));
    }
    Ok(out)
}

/// Whether `query` reads a gauge type.
fn is_gauge(query: &ProfileQuery) -> bool {
    types::aggregation(&query.profile_type) == Aggregation::Gauge
}

/// A mean of snapshots as a whole count: rounded, and at least 1 when
/// anything was there, so no stack of a gauge vanishes by rounding.
fn rounded(value: f64) -> u64 {
    if value <= 0.0 || value.is_nan() {
        0
    } else {
        (value.round() as u64).max(1)
    }
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
    if !query.filters_series() && !is_gauge(query) {
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
pub(super) fn series_of(
    tx: &Transaction<'_>,
    service: &str,
) -> Result<Vec<(i64, Labels)>, StorageError> {
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

fn counts_per_stack(
    tx: &Transaction<'_>,
    source: &Source,
    query: &ProfileQuery,
) -> Result<Vec<StackCount>, StorageError> {
    let (minutes, hours, owner) = source.tables();
    let sql = if is_gauge(query) {
        // Each series' rows over every snapshot it has in the range.
        format!(
            "WITH snaps AS (
                 SELECT series_id, SUM(snapshots) AS n FROM (
                     SELECT series_id, snapshots FROM gauge_snapshots
                     WHERE series_id IN rarray(?1) AND profile_type = ?2
                       AND window_start >= ?3 AND window_start < ?4
                     UNION ALL
                     SELECT series_id, snapshots FROM gauge_snapshots_hourly
                     WHERE series_id IN rarray(?1) AND profile_type = ?2
                       AND window_start >= ?3 AND window_start < ?4)
                 GROUP BY series_id)
             SELECT s.stack_id, s.period, SUM(s.count * 1.0 / g.n) FROM (
                 SELECT series_id, stack_id, period, count FROM {minutes}
                 WHERE series_id IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4
                 UNION ALL
                 SELECT series_id, stack_id, period, count FROM {hours}
                 WHERE series_id IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4) s
             JOIN snaps g ON g.series_id = s.series_id
             GROUP BY s.stack_id, s.period"
        )
    } else {
        format!(
            "SELECT stack_id, period, SUM(count) FROM (
                 SELECT stack_id, period, count FROM {minutes}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4
                 UNION ALL
                 SELECT stack_id, period, count FROM {hours}
                 WHERE {owner} IN rarray(?1) AND profile_type = ?2
                   AND window_start >= ?3 AND window_start < ?4)
             GROUP BY stack_id, period"
        )
    };
    let mut stmt = tx.prepare_cached(&sql).context("prepare the sample sum")?;
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
                    r.get::<_, Value>(2)?,
                ))
            },
        )
        .context("sum samples")?;
    let mut out = Vec::new();
    for row in rows {
        let (stack_id, period, value) = row.context("read a sample sum")?;
        // A sum of counts is an integer; a gauge's mean of snapshots real.
        let count = match value {
            Value::Integer(n) => u64::try_from(n).ok(),
            Value::Real(x) if x >= 0.0 => Some(rounded(x)),
            _ => None,
        };
        let (Ok(period), Some(count)) = (u64::try_from(period), count) else {
            return Err(StorageError::Corrupt {
                what: format!("stack {stack_id} has period {period} and count {value:?}"),
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

/// Every node on the paths from the given leaves to the root, as
/// `node -> (parent, frame)`: from the cache, then one query per tree level
/// for the rest.
fn stack_nodes(
    tx: &Transaction<'_>,
    leaves: Vec<i64>,
    cache: &NodeFrameCache,
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
    cache: &NodeFrameCache,
) -> Result<IdMap<Arc<Location>>, StorageError> {
    let epoch = symbols::symbols_epoch(tx)?;
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
    for (frame_id, symbols) in symbols::symbols_of(tx, missing)? {
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
        let frame = frame_from_columns(
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

#[cfg(test)]
mod tests {
    use super::*;

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
