//! Profiles and stack trees on ClickHouse: the sample sum, then the stacks,
//! frames, symbols and binary paths it names, in as few statements as the
//! read cache allows.
//!
//! After the sum a profile costs one statement for the binary paths (read
//! every time: they change with the rows that arrive) that also counts
//! `symbol_writes`, and then nothing for what the read cache
//! (`read_cache.rs`) holds: stacks and frames, which never change, and
//! symbols, as long as no symbols write began since the cache last looked.
//! Each kind it misses costs one statement; when most frames are missing
//! (a cold cache), it names them by the stacks that hold them, expanded by
//! the server from the stacks table, so what goes over the wire is a list
//! of stacks rather than of every frame (16,000 for a 1,000-stack profile
//! 20 deep).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use augur_profile::{
    Aggregation, FileId, Location, Profile, ProfileType, ROOT, RawFrame, Sample, StackNode,
    StackTree, Symbol, types,
};
use serde::Deserialize;

use super::client::{number_list, quote};
use super::read_cache::{AddressMap, StoredFrame, WindowCounts, build_key};
use super::store::{ClickHouseStore, now_unix_nanos};
use super::symbols::symbols_of;
use crate::api::{ProfileQuery, StackCount, merge_periods};
use crate::columns::frame_from_columns;
use crate::error::StorageError;

/// A profile read before it is shaped: its head, its stacks hottest first,
/// and what they name.
pub(super) struct ProfileParts {
    /// Service, type, period and range; no samples.
    head: Profile,
    /// `(stack id, count)`, hottest first, ties by id.
    totals: Vec<(u64, u64)>,
    stacks: AddressMap<Arc<[u64]>>,
    /// Every frame of `stacks`, with its symbols and path.
    locations: AddressMap<Arc<Location>>,
}

impl ProfileParts {
    fn frames_of(&self, stack_id: u64) -> Result<&[u64], StorageError> {
        self.stacks
            .get(&stack_id)
            .map(|frames| &frames[..])
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("stack {stack_id} has samples but no frames"),
            })
    }

    fn location(&self, stack_id: u64, frame_id: u64) -> Result<&Arc<Location>, StorageError> {
        self.locations
            .get(&frame_id)
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("stack {stack_id} names missing frame {frame_id}"),
            })
    }

    /// The profile, every stack spelled out.
    pub(super) fn into_profile(self) -> Result<Profile, StorageError> {
        let mut samples = Vec::with_capacity(self.totals.len());
        for &(stack_id, count) in &self.totals {
            let locations = self
                .frames_of(stack_id)?
                .iter()
                .map(|&id| Ok(Location::clone(self.location(stack_id, id)?)))
                .collect::<Result<Vec<Location>, StorageError>>()?;
            samples.push(Sample { locations, count });
        }
        Ok(Profile {
            samples,
            ..self.head
        })
    }

    /// The prefix tree of the stacks, in the order and with the sharing
    /// [`StackTree::from_profile`] gives the profile (a frame id is a
    /// location: distinct ids are distinct frames), without spelling every
    /// stack out first.
    pub(super) fn into_stack_tree(self) -> Result<StackTree, StorageError> {
        let mut tree = StackTree::empty_like(&self.head);
        let mut location_index: AddressMap<u32> = AddressMap::default();
        // (parent << 32 | location) -> node.
        let mut child: AddressMap<u32> = AddressMap::default();
        for &(stack_id, count) in &self.totals {
            let mut node = ROOT;
            for &frame_id in self.frames_of(stack_id)?.iter().rev() {
                let index = match location_index.get(&frame_id) {
                    Some(&index) => index,
                    None => {
                        tree.locations
                            .push(self.location(stack_id, frame_id)?.clone());
                        let index = (tree.locations.len() - 1) as u32;
                        location_index.insert(frame_id, index);
                        index
                    }
                };
                let key = u64::from(node) << 32 | u64::from(index);
                node = *child.entry(key).or_insert_with(|| {
                    tree.nodes.push(StackNode {
                        parent: node,
                        location: index,
                        count: 0,
                    });
                    (tree.nodes.len() - 1) as u32
                });
            }
            let total = match node {
                ROOT => &mut tree.root_count,
                node => &mut tree.nodes[node as usize].count,
            };
            *total = total.saturating_add(count);
        }
        Ok(tree)
    }
}

/// `(stack id, period, count)`.
type StackPeriodCount = (u64, u64, u64);

/// Frames' symbols by frame id.
type SymbolsById = AddressMap<Arc<Vec<Symbol>>>;

/// `(build-id hex, first path)` by [`build_key`] of the build-id.
type PathsByBuild = AddressMap<(String, String)>;

/// The newest symbols of a frame, as `symbols` keeps them.
#[derive(Deserialize)]
struct SymbolColumns {
    functions: Vec<String>,
    files: Vec<String>,
    lines: Vec<u32>,
}

impl ClickHouseStore {
    /// The unit of `profile_type` as stored; cached once found (a type
    /// keeps the unit it was first stored with: later writes with another
    /// are refused).
    fn unit_of(&self, profile_type: &str) -> Result<String, StorageError> {
        if let Some(unit) = self
            .units
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(profile_type)
        {
            return Ok(unit.clone());
        }
        #[derive(Deserialize)]
        struct Unit {
            unit: String,
        }
        let unit: Vec<Unit> = self.client.select(
            "look up a profile type",
            &format!(
                "SELECT any(unit) AS unit FROM {} WHERE name = {} GROUP BY name",
                self.table("profile_types"),
                quote(profile_type)
            ),
        )?;
        let Some(Unit { unit }) = unit.into_iter().next() else {
            return Ok(String::new());
        };
        self.units
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(profile_type.to_owned(), unit.clone());
        Ok(unit)
    }

    /// Everything a profile or stack tree of `query` is made of.
    pub(super) fn profile_parts(&self, query: &ProfileQuery) -> Result<ProfileParts, StorageError> {
        let mut parts = ProfileParts {
            head: Profile {
                service: query.service.clone(),
                profile_type: ProfileType {
                    name: query.profile_type.clone(),
                    unit: self.unit_of(&query.profile_type)?,
                },
                period: 0,
                start_unix_nanos: query.start_unix_nanos,
                end_unix_nanos: query.end_unix_nanos,
                samples: Vec::new(),
            },
            totals: Vec::new(),
            stacks: AddressMap::default(),
            locations: AddressMap::default(),
        };
        let counts = if types::aggregation(&query.profile_type) == Aggregation::Gauge {
            self.gauge_counts(query)?
        } else if !query.filters_series() && self.read_settled {
            self.settled_counts(query)?
        } else {
            let Some(selected) = self.selected_samples(query)? else {
                return Ok(parts);
            };
            #[derive(Deserialize)]
            struct Row {
                stack_id: u64,
                period: u64,
                count: u64,
            }
            let rows: Vec<Row> = self.client.select(
                "sum samples",
                &format!(
                    "SELECT stack_id, period, sum(count) AS count FROM {selected}
                     GROUP BY stack_id, period"
                ),
            )?;
            rows.iter()
                .map(|r| StackCount {
                    stack_id: r.stack_id as i64,
                    period: r.period,
                    count: r.count,
                })
                .collect()
        };
        if counts.is_empty() {
            return Ok(parts);
        }
        let (period, mut totals) = merge_periods(&counts);
        totals.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        parts.head.period = period;
        parts.totals = totals.into_iter().map(|(id, n)| (id as u64, n)).collect();

        parts.stacks = self.read_stacks(parts.totals.iter().map(|&(id, _)| id))?;
        let mut frame_ids: Vec<u64> = parts
            .stacks
            .values()
            .flat_map(|f| f.iter())
            .copied()
            .collect();
        frame_ids.sort_unstable();
        frame_ids.dedup();
        if frame_ids.is_empty() {
            return Ok(parts);
        }
        let frames = self.read_frames(&frame_ids, &parts.stacks)?;
        let build_ids: BTreeSet<&str> = frames
            .values()
            .map(|f| f.build_id.as_str())
            .filter(|b| !b.is_empty())
            .collect();
        let (symbols, paths) = self.symbols_and_paths(&parts.stacks, &frame_ids, &build_ids)?;
        let no_symbols = Vec::new();
        let mut built = Vec::new();
        {
            // The locations earlier queries built, where their symbols and
            // path are still these: shared instead of built again.
            let located = self.read_cache.located();
            parts.locations =
                AddressMap::with_capacity_and_hasher(frames.len(), Default::default());
            for (&id, stored) in &frames {
                let path = paths
                    .get(&stored.build_key)
                    .filter(|(build_id, _)| *build_id == stored.build_id)
                    .map(|(_, path)| path);
                let symbols = symbols.get(&id).map_or(&no_symbols, |s| &**s);
                // A runtime frame's symbols are its own and never change.
                let current = |l: &Location| {
                    l.path.as_ref() == path
                        && (l.symbols == *symbols || matches!(l.frame, RawFrame::Runtime { .. }))
                };
                let location = match located.get(&id) {
                    Some(l) if current(l) => l.clone(),
                    _ => {
                        let location = Arc::new(Location::new(
                            stored.frame.clone(),
                            path.cloned(),
                            symbols.clone(),
                        ));
                        built.push((id, location.clone()));
                        location
                    }
                };
                parts.locations.insert(id, location);
            }
        }
        self.read_cache.add_located(built);
        Ok(parts)
    }

    /// A profile without label matchers summed per `(stack, period)`, as
    /// [`ClickHouseStore::service_source`] would give it: clean windows'
    /// sums from the read cache where it holds them (they never change),
    /// and one statement for the clean windows it misses and everything
    /// else (other minute windows from `samples FINAL`, rolled-up days).
    fn settled_counts(&self, query: &ProfileQuery) -> Result<Vec<StackCount>, StorageError> {
        let (service, profile_type) = (&query.service, &query.profile_type);
        let filter = format!(
            "service = {} AND profile_type = {}",
            quote(service),
            quote(profile_type)
        );
        let range = (query.start_unix_nanos, query.end_unix_nanos);
        let clean = self.clean_windows(range.0, range.1)?;
        let mut missing = Vec::new();
        let cached =
            self.read_cache
                .window_counts(service, profile_type, clean.clean(), &mut missing);
        let rest = self.unsettled_rows(
            "stack_id, period, count",
            "stack_id, period, count",
            &filter,
            range,
            &clean,
        );
        // Generation 0 marks the rest: settles number theirs from 1.
        let mut sql = format!(
            "SELECT toInt64(0) AS window_start, toUInt64(0) AS generation, stack_id, period,
                    sum(count) AS count
             FROM ({rest}) GROUP BY stack_id, period"
        );
        if let Some(settled) = self.settled_rows(
            "window_start, generation, stack_id, period, count",
            &filter,
            range,
            &missing,
        ) {
            sql = format!(
                "SELECT window_start, generation, stack_id, period, sum(count) AS count
                 FROM ({settled}) GROUP BY window_start, generation, stack_id, period
                 UNION ALL {sql}"
            );
        }
        #[derive(Deserialize)]
        struct Row {
            window_start: i64,
            generation: u64,
            stack_id: u64,
            period: u64,
            count: u64,
        }
        let rows: Vec<Row> = self.client.select("sum samples", &sql)?;
        let mut sums: HashMap<(u64, u64), u64> = HashMap::new();
        let mut add = |stack: u64, period: u64, count: u64| {
            let sum = sums.entry((stack, period)).or_default();
            *sum = sum.saturating_add(count);
        };
        let mut read: HashMap<(i64, u64), Vec<StackPeriodCount>> =
            missing.iter().map(|&pair| (pair, Vec::new())).collect();
        for row in rows {
            add(row.stack_id, row.period, row.count);
            if row.generation > 0 {
                read.entry((row.window_start, row.generation))
                    .or_default()
                    .push((row.stack_id, row.period, row.count));
            }
        }
        for counts in &cached {
            for &(stack, period, count) in counts.iter() {
                add(stack, period, count);
            }
        }
        if self.read_cache.bounds().window_rows > 0 {
            let read: Vec<((i64, u64), WindowCounts)> = read
                .into_iter()
                .map(|(pair, counts)| (pair, Arc::from(counts)))
                .collect();
            self.read_cache
                .add_window_counts(service, profile_type, &read);
        }
        Ok(sums
            .into_iter()
            .map(|((stack, period), count)| StackCount {
                stack_id: stack as i64,
                period,
                count,
            })
            .collect())
    }

    /// The frame ids of each of `ids` that exist: from the read cache,
    /// the rest read (and cached).
    fn read_stacks(
        &self,
        ids: impl Iterator<Item = u64>,
    ) -> Result<AddressMap<Arc<[u64]>>, StorageError> {
        let mut missing = Vec::new();
        let mut stacks = self.read_cache.stacks(ids, &mut missing);
        if missing.is_empty() {
            return Ok(stacks);
        }
        #[derive(Deserialize)]
        struct Row {
            stack_id: u64,
            frame_ids: Vec<u64>,
        }
        let rows: Vec<Row> = self.client.select(
            "read stacks",
            &format!(
                "SELECT stack_id, any(frame_ids) AS frame_ids FROM {} WHERE stack_id IN ({})
                 GROUP BY stack_id",
                self.table("stacks"),
                number_list(missing.iter().copied())
            ),
        )?;
        let read: Vec<(u64, Arc<[u64]>)> = rows
            .into_iter()
            .map(|r| (r.stack_id, Arc::from(r.frame_ids)))
            .collect();
        self.read_cache
            .add_stacks(read.iter().map(|(id, frames)| (*id, frames)));
        stacks.extend(read);
        Ok(stacks)
    }

    /// The stored frames of `ids` (sorted) that exist: from the read
    /// cache, the rest read (and cached). `stacks` holds every one of
    /// `ids`: when most are missing (a cold cache) the statement names the
    /// stacks instead of the frames, a far shorter list.
    fn read_frames(
        &self,
        ids: &[u64],
        stacks: &AddressMap<Arc<[u64]>>,
    ) -> Result<AddressMap<Arc<StoredFrame>>, StorageError> {
        let mut missing = Vec::new();
        let mut frames = self.read_cache.frames(ids.iter().copied(), &mut missing);
        if missing.is_empty() {
            return Ok(frames);
        }
        let selection = self.frames_selection(&missing, stacks);
        #[derive(Deserialize)]
        struct Row {
            frame_id: u64,
            kind: i64,
            build_id: String,
            file_offset: u64,
            name: String,
            module: String,
        }
        let rows: Vec<Row> = self.client.select(
            "read frames",
            &format!(
                "SELECT frame_id, any(kind) AS kind, any(build_id) AS build_id,
                        any(file_offset) AS file_offset, any(name) AS name, any(module) AS module
                 FROM {} WHERE frame_id {selection} GROUP BY frame_id",
                self.table("frames"),
            ),
        )?;
        let mut read = Vec::with_capacity(rows.len());
        for row in rows {
            let build_id = if row.build_id.is_empty() {
                None
            } else {
                Some(
                    FileId::parse_hex(&row.build_id)
                        .map_err(|e| StorageError::Corrupt {
                            what: format!("frame {}: {e}", row.frame_id),
                        })?
                        .as_bytes()
                        .to_vec(),
                )
            };
            let frame = frame_from_columns(
                row.frame_id as i64,
                row.kind,
                build_id,
                row.file_offset as i64,
                row.name,
                row.module,
            )?;
            read.push((
                row.frame_id,
                Arc::new(StoredFrame {
                    frame,
                    build_key: build_key(&row.build_id),
                    build_id: row.build_id,
                }),
            ));
        }
        self.read_cache
            .add_frames(read.iter().map(|(id, frame)| (*id, frame)));
        frames.extend(read);
        Ok(frames)
    }

    /// `IN (...)` for the `missing` frames of `stacks`: their ids, or the
    /// stacks' ids when those are the shorter list.
    fn frames_selection(&self, missing: &[u64], stacks: &AddressMap<Arc<[u64]>>) -> String {
        if missing.len() > stacks.len() {
            self.frames_of_stacks(stacks.keys().copied())
        } else {
            format!("IN ({})", number_list(missing.iter().copied()))
        }
    }

    /// `IN (...)` for every frame of `stacks`, expanded by the server from
    /// the stacks table (`GLOBAL`: on a cluster the initiator expands it
    /// once and ships the set to the shards).
    fn frames_of_stacks(&self, stacks: impl Iterator<Item = u64>) -> String {
        format!(
            "GLOBAL IN (SELECT arrayJoin(frame_ids) FROM {} WHERE stack_id IN ({}))",
            self.table("stacks"),
            number_list(stacks)
        )
    }

    /// The newest symbols of `frame_ids` (every frame of `stacks`), from
    /// the read cache where it is true (see [`SymbolCache`]) and ClickHouse
    /// for the rest, and the first reported path of each of `build_ids`
    /// (by hex).
    ///
    /// [`SymbolCache`]: super::read_cache::SymbolCache
    fn symbols_and_paths(
        &self,
        stacks: &AddressMap<Arc<[u64]>>,
        frame_ids: &[u64],
        build_ids: &BTreeSet<&str>,
    ) -> Result<(SymbolsById, PathsByBuild), StorageError> {
        let paths = if build_ids.is_empty() {
            "CAST([], 'Array(Tuple(String, String, Int64))')".to_owned()
        } else {
            format!(
                "(SELECT groupArray((build_id, path, first)) FROM
                    (SELECT build_id, path, min(first_seen) AS first FROM {} WHERE build_id IN ({})
                     GROUP BY build_id, path))",
                self.table("binary_paths"),
                build_ids
                    .iter()
                    .map(|b| quote(b))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        #[derive(Deserialize)]
        struct Answer {
            writes: u64,
            paths: Vec<(String, String, i64)>,
        }
        let began = now_unix_nanos() as i64;
        let answer: Vec<Answer> = self.client.select(
            "read binary paths",
            &format!(
                "SELECT (SELECT count() FROM {}) AS writes, {paths} AS paths",
                self.table("symbol_writes")
            ),
        )?;
        let Some(answer) = answer.into_iter().next() else {
            return Err(StorageError::ClickHouse {
                operation: "read binary paths",
                message: "no answer row".into(),
                transient: true,
            });
        };
        // The path reported first; ties by path.
        let mut first: HashMap<String, (i64, String)> = HashMap::new();
        for (build_id, path, seen) in answer.paths {
            let entry = first
                .entry(build_id)
                .or_insert_with(|| (seen, path.clone()));
            if (seen, &path) < (entry.0, &entry.1) {
                *entry = (seen, path);
            }
        }
        // By build key, with the build-id to check against.
        let paths = first
            .into_iter()
            .map(|(b, (_, path))| (build_key(&b), (b, path)))
            .collect();

        let max = self.read_cache.bounds().symbols;
        let mut missing = Vec::new();
        let (mut symbols, generation) = if max == 0 {
            missing.extend_from_slice(frame_ids);
            (AddressMap::default(), 0)
        } else {
            let generation = self.sync_symbols(answer.writes, began)?;
            let found = self
                .read_cache
                .symbol_cache()
                .get(frame_ids.iter().copied(), &mut missing);
            (found, generation)
        };
        if missing.is_empty() {
            return Ok((symbols, paths));
        }
        let selection = self.frames_selection(&missing, stacks);
        #[derive(Deserialize)]
        struct Row {
            frame_id: u64,
            #[serde(flatten)]
            columns: SymbolColumns,
        }
        let rows: Vec<Row> = self.client.select(
            "read symbols",
            &format!(
                "SELECT frame_id, argMax(functions, version) AS functions,
                        argMax(files, version) AS files, argMax(lines, version) AS lines
                 FROM {} WHERE frame_id {selection} GROUP BY frame_id",
                self.table("symbols"),
            ),
        )?;
        let mut read: AddressMap<Arc<Vec<Symbol>>> = rows
            .into_iter()
            .map(|r| (r.frame_id, Arc::new(r.columns.symbols())))
            .collect();
        // No row yet: no symbols, which is worth keeping too.
        for id in &missing {
            read.entry(*id).or_insert_with(|| Arc::new(Vec::new()));
        }
        let read: Vec<(u64, Arc<Vec<Symbol>>)> = read.into_iter().collect();
        if max > 0 {
            self.read_cache.symbol_cache().add(generation, &read, max);
        }
        symbols.extend(read);
        Ok((symbols, paths))
    }

    /// Brings the symbol cache up to `writes` rows of `symbol_writes` (a
    /// count read after `began`, the reader's clock); the generation it is
    /// then at.
    fn sync_symbols(&self, writes: u64, began: i64) -> Result<u64, StorageError> {
        let _syncing = self.symbol_sync.lock().unwrap_or_else(|p| p.into_inner());
        let (from, generation) = {
            let cache = self.read_cache.symbol_cache();
            if cache.synced != 0 && cache.writes == writes {
                // No write began since the last sync.
                return Ok(cache.generation);
            }
            (cache.read_from(began), cache.generation)
        };
        #[derive(Deserialize)]
        struct Row {
            writer: u64,
            seq: u64,
            at: i64,
            frames: Vec<u64>,
        }
        let rows: Vec<Row> = self.client.select(
            "read symbol writes",
            &format!(
                "SELECT writer, seq, any(written) AS at, any(frame_ids) AS frames
                 FROM {} WHERE written >= {from} GROUP BY writer, seq",
                self.table("symbol_writes")
            ),
        )?;
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let count: Vec<Count> = self.client.select(
            "count symbol writes",
            &format!("SELECT count() AS n FROM {}", self.table("symbol_writes")),
        )?;
        let count = count.first().map_or(0, |c| c.n);
        let mut cache = self.read_cache.symbol_cache();
        if cache.generation != generation {
            return Ok(cache.generation);
        }
        let kept = cache.apply_sync(
            rows.into_iter()
                .map(|r| ((r.writer, r.seq), r.at, r.frames))
                .collect(),
            count,
            began,
        );
        if !kept {
            tracing::debug!("symbol writes did not add up: the symbol cache starts over");
        }
        Ok(cache.generation)
    }
}

impl SymbolColumns {
    fn symbols(&self) -> Vec<Symbol> {
        symbols_of(&self.functions, &self.files, &self.lines)
    }
}
