//! Symbolization on ClickHouse: one `symbols` row per attempt, versioned
//! by time, the newest row being the frame's state; which frames still need
//! names, and recording what the symbolizer found.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use augur_profile::{FileId, Symbol};
use serde::{Deserialize, Serialize};

use super::client::{number_list, quote};
use super::rows::status;
use super::store::{ClickHouseStore, now_unix_nanos};
use crate::api::{FrameSymbols, PendingFrame, Shard};
use crate::error::StorageError;

/// The newest symbols row of a frame.
#[derive(Debug, Deserialize)]
pub(super) struct SymbolState {
    frame_id: u64,
    functions: Vec<String>,
    files: Vec<String>,
    lines: Vec<u32>,
}

impl SymbolState {
    fn symbols(&self) -> Vec<Symbol> {
        symbols_of(&self.functions, &self.files, &self.lines)
    }
}

/// Symbols from the parallel arrays of a `symbols` row (an empty file or a
/// zero line is unknown).
pub(super) fn symbols_of(functions: &[String], files: &[String], lines: &[u32]) -> Vec<Symbol> {
    functions
        .iter()
        .enumerate()
        .map(|(i, f)| Symbol {
            function: f.clone(),
            file: files.get(i).filter(|f| !f.is_empty()).cloned(),
            line: lines.get(i).copied().filter(|&l| l > 0),
        })
        .collect()
}

#[derive(Serialize)]
pub(super) struct SymbolRow<'a> {
    frame_id: u64,
    version: u64,
    status: u8,
    reason: &'a str,
    functions: Vec<&'a str>,
    files: Vec<&'a str>,
    lines: Vec<u32>,
}

impl<'a> SymbolRow<'a> {
    fn new(
        frame_id: u64,
        version: u64,
        status: u8,
        reason: &'a str,
        symbols: &'a [Symbol],
    ) -> Self {
        Self {
            frame_id,
            version,
            status,
            reason,
            functions: symbols.iter().map(|s| s.function.as_str()).collect(),
            files: symbols
                .iter()
                .map(|s| s.file.as_deref().unwrap_or(""))
                .collect(),
            lines: symbols.iter().map(|s| s.line.unwrap_or(0)).collect(),
        }
    }
}

impl ClickHouseStore {
    /// The newest `symbols` row of each of `frame_ids` that has one.
    pub(super) fn latest_symbols(
        &self,
        frame_ids: &[u64],
    ) -> Result<HashMap<u64, SymbolState>, StorageError> {
        if frame_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<SymbolState> = self.client.select(
            "read symbols",
            &format!(
                "SELECT frame_id, argMax(functions, version) AS functions,
                        argMax(files, version) AS files, argMax(lines, version) AS lines
                 FROM {} WHERE frame_id IN ({}) GROUP BY frame_id",
                self.table("symbols"),
                number_list(frame_ids.iter().copied())
            ),
        )?;
        Ok(rows.into_iter().map(|r| (r.frame_id, r)).collect())
    }

    /// Frames to symbolize; see [`crate::Storage::pending_frames`].
    pub(super) fn unsymbolized_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let due = now_unix_nanos()
            .saturating_sub(u64::try_from(retry_failed_after.as_nanos()).unwrap_or(u64::MAX));
        #[derive(Deserialize)]
        struct Row {
            frame_id: u64,
            build_id: String,
            file_offset: u64,
        }
        let rows: Vec<Row> = self.client.select(
            "read pending frames",
            &format!(
                "SELECT frame_id, bid AS build_id, off AS file_offset
                 FROM (SELECT frame_id, any(build_id) AS bid, any(file_offset) AS off
                       FROM {frames} WHERE kind = 0 AND cityHash64(build_id) % {count} = {index}
                       GROUP BY frame_id)
                 ANY LEFT JOIN (SELECT frame_id, argMax(status, version) AS st, max(version) AS ver
                                FROM {symbols} GROUP BY frame_id)
                 USING frame_id
                 WHERE ver = 0 OR st = {pending} OR (st = {failed} AND ver <= {due})
                 ORDER BY ver, frame_id
                 LIMIT {limit}",
                frames = self.table("frames"),
                symbols = self.table("symbols"),
                count = shard.count.max(1),
                index = shard.index,
                pending = status::PENDING,
                failed = status::FAILED,
                limit = limit.min(1 << 30),
            ),
        )?;
        let hexes: BTreeSet<&str> = rows.iter().map(|r| r.build_id.as_str()).collect();
        let paths = self.paths(hexes)?;
        rows.iter()
            .map(|row| {
                let build_id =
                    FileId::parse_hex(&row.build_id).map_err(|e| StorageError::Corrupt {
                        what: format!("frame {}: {e}", row.frame_id),
                    })?;
                Ok(PendingFrame {
                    frame_id: row.frame_id as i64,
                    build_id,
                    file_offset: row.file_offset,
                    paths: paths.get(&row.build_id).cloned().unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Records outcomes; see [`crate::Storage::record_symbols`].
    pub(super) fn store_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        let ids: Vec<u64> = results.iter().map(|r| r.frame_id as u64).collect();
        if ids.is_empty() {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Id {
            frame_id: u64,
        }
        let user: HashSet<u64> = self
            .client
            .select::<Id>(
                "check frames",
                &format!(
                    "SELECT DISTINCT frame_id FROM {} WHERE kind = 0 AND frame_id IN ({})",
                    self.table("frames"),
                    number_list(ids.iter().copied())
                ),
            )?
            .into_iter()
            .map(|r| r.frame_id)
            .collect();
        let kept = self.known_symbols(&ids)?;
        let mut rows = Vec::new();
        let mut skipped = 0usize;
        for result in results {
            let id = result.frame_id as u64;
            if !user.contains(&id) {
                skipped += 1;
                continue;
            }
            let version = self.next_version();
            let known = kept.get(&id).filter(|s| !s.is_empty());
            rows.push(match (&result.outcome, known) {
                (Ok(symbols), _) if !symbols.is_empty() => {
                    SymbolRow::new(id, version, status::SYMBOLIZED, "", symbols)
                }
                // A failure never hides names found before.
                (_, Some(known)) => SymbolRow::new(id, version, status::SYMBOLIZED, "", known),
                (Ok(_), None) => {
                    SymbolRow::new(id, version, status::FAILED, "no symbols found", &[])
                }
                (Err(reason), None) => SymbolRow::new(id, version, status::FAILED, reason, &[]),
            });
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "symbols for frames that are not stored user frames"
            );
        }
        self.announce_symbols(rows.iter().map(|r| r.frame_id))?;
        self.client
            .insert("record symbols", &self.table("symbols"), &rows)
    }

    /// Queues a binary's frames again; see [`crate::Storage::requeue_binary`].
    pub(super) fn requeue_frames_of(&self, build_id: &FileId) -> Result<usize, StorageError> {
        #[derive(Deserialize)]
        struct Id {
            frame_id: u64,
        }
        let ids: Vec<u64> = self
            .client
            .select::<Id>(
                "find a binary's frames",
                &format!(
                    "SELECT DISTINCT frame_id FROM {} WHERE kind = 0 AND build_id = {}",
                    self.table("frames"),
                    quote(&build_id.to_hex())
                ),
            )?
            .into_iter()
            .map(|r| r.frame_id)
            .collect();
        let kept = self.known_symbols(&ids)?;
        let empty = Vec::new();
        let rows: Vec<SymbolRow<'_>> = ids
            .iter()
            .map(|&id| {
                let symbols = kept.get(&id).unwrap_or(&empty);
                SymbolRow::new(id, self.next_version(), status::PENDING, "", symbols)
            })
            .collect();
        self.announce_symbols(ids.iter().copied())?;
        self.client
            .insert("queue a binary's frames", &self.table("symbols"), &rows)?;
        Ok(ids.len())
    }

    /// Records, before writing them, that the symbols of `frames` are
    /// about to change: query nodes drop those frames from their symbol
    /// caches (`read_cache.rs`). Nothing is written for no frames.
    pub(super) fn announce_symbols(
        &self,
        frames: impl Iterator<Item = u64>,
    ) -> Result<(), StorageError> {
        let frame_ids: Vec<u64> = frames.collect();
        if frame_ids.is_empty() {
            return Ok(());
        }
        let seq = self.write_seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.client.insert(
            "announce a symbols write",
            &self.table("symbol_writes"),
            &[serde_json::json!({
                "writer": self.writer_id,
                "seq": seq,
                "written": now_unix_nanos() as i64,
                "frame_ids": frame_ids,
            })],
        )
    }

    /// The symbols known now for each of `frame_ids` (the newest attempt's).
    pub(super) fn known_symbols(
        &self,
        frame_ids: &[u64],
    ) -> Result<HashMap<u64, Vec<Symbol>>, StorageError> {
        Ok(self
            .latest_symbols(frame_ids)?
            .iter()
            .map(|(&id, state)| (id, state.symbols()))
            .collect())
    }

    /// First reported path of each binary (by hex build-id), in report order.
    pub(super) fn paths<'a>(
        &self,
        hexes: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, Vec<String>>, StorageError> {
        let list: Vec<String> = hexes.into_iter().map(quote).collect();
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        #[derive(Deserialize)]
        struct Row {
            build_id: String,
            path: String,
        }
        let rows: Vec<Row> = self.client.select(
            "read binary paths",
            &format!(
                "SELECT build_id, path FROM {} WHERE build_id IN ({})
                 GROUP BY build_id, path ORDER BY build_id, min(first_seen), path",
                self.table("binary_paths"),
                list.join(", ")
            ),
        )?;
        let mut paths: HashMap<String, Vec<String>> = HashMap::new();
        for row in rows {
            paths.entry(row.build_id).or_default().push(row.path);
        }
        Ok(paths)
    }
}
