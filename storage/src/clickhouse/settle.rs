//! Per-service rows on ClickHouse: minute windows settled from
//! `samples FINAL` into `service_samples`, and the split every read without
//! label matchers makes between the two.
//!
//! A summing view over the sample inserts would count a retried batch twice
//! (its rows are only collapsed by `FINAL`, by batch id), so a window is
//! summed per service only once no batch has reached it for
//! `settle_after`, from `samples FINAL`, and summed again when a late batch
//! reaches it. The protocol, for one window W:
//!
//! - **Settle.** Pick a generation g above every one started for W, write
//!   the start row `settles (W, g, done = 0)`, insert W's rows summed per
//!   service from `samples FINAL` with generation g, then write
//!   `(W, g, done = 1)`. Two nodes settling W at once write the same rows
//!   under the same g (`FINAL` collapses them) or rows under two
//!   generations, of which reads take one.
//! - **Ingest.** After a batch's sample rows are in, and before its batch
//!   row (so before its answer), the writer reads the newest generation
//!   started for each of the batch's windows and writes
//!   `windows (W, seen = that generation or 0, written = now)`.
//! - **Read.** W is *clean* at g when g is W's newest finished generation
//!   and no `windows` row of W has `seen >= g`; a query reads clean windows
//!   from `service_samples` at their generation and every other window
//!   from `samples FINAL`. A batch missing from g's rows had its samples
//!   written after g's read began, so after g's start row, so its writer
//!   saw g or newer and marked W; a batch that saw nothing newer than g's
//!   predecessors was stored before g started and is in g. So a clean
//!   window's rows hold every batch acknowledged before the query.
//!   The other recorded windows are read from `samples FINAL` by value, so
//!   the primary key skips the clean ones; of the windows no ingest
//!   recorded (an unacknowledged batch's; data from before `windows`
//!   existed is recorded by `open`), only those before or after every
//!   recorded one are read.
//!   Both lists are read once, before the rows, and go into the
//!   statement as literals: each window comes whole from one side, never
//!   from both or half from either (a generation's rows are all in before
//!   its `done` row, and a generation is only dropped with its day).
//! - **Re-settle.** A marked (dirty) window is settled again with a newer
//!   generation; until that one is done it is read from `samples FINAL`.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::schema;
use super::store::{ClickHouseStore, now_unix_nanos};
use crate::error::StorageError;

/// Windows settled per `INSERT ... SELECT`: bounds the memory one settle's
/// `GROUP BY` takes on a big fleet.
const WINDOWS_PER_SETTLE: usize = 5;

/// A settle started this recently by someone else is left to finish.
const SETTLE_IN_PROGRESS_NANOS: i64 = 120_000_000_000;

/// The minute windows of a range an ingest recorded, split into clean and
/// not, read once per query.
#[derive(Debug, Default)]
pub(super) struct CleanWindows {
    /// `(window_start, generation)` of the clean ones, by window.
    windows: Vec<(i64, u64)>,
    /// The others, by window.
    unclean: Vec<i64>,
}

impl CleanWindows {
    /// Which recorded windows are clean, from their state:
    /// `(window_start, newest seen, newest finished generation or 0)`.
    fn from_states(states: impl IntoIterator<Item = (i64, u64, u64)>) -> Self {
        let mut out = Self::default();
        for (w, seen, finished) in states {
            if finished > 0 && seen < finished {
                out.windows.push((w, finished));
            } else {
                out.unclean.push(w);
            }
        }
        out.windows.sort_unstable();
        out.unclean.sort_unstable();
        out
    }

    /// `(window_start, generation)` of the clean windows, by window.
    pub(super) fn clean(&self) -> &[(i64, u64)] {
        &self.windows
    }

    /// A condition true for every window that is not clean, for
    /// `samples`: the recorded unclean ones by value (so the primary key
    /// reads only them), and anything before or after every recorded
    /// window. Between recorded windows there is no other window of an
    /// acknowledged batch: its writer recorded it before answering.
    fn unsettled_condition(&self) -> String {
        let first = self.windows.first().map(|w| w.0).into_iter();
        let last = self.windows.last().map(|w| w.0).into_iter();
        let oldest = first.chain(self.unclean.first().copied()).min();
        let newest = last.chain(self.unclean.last().copied()).max();
        let (Some(oldest), Some(newest)) = (oldest, newest) else {
            return "1".into();
        };
        let mut parts = vec![
            format!("window_start < {oldest}"),
            format!("window_start > {newest}"),
        ];
        if !self.unclean.is_empty() {
            parts.push(format!(
                "window_start IN ({})",
                signed_list(self.unclean.iter().copied())
            ));
        }
        format!("({})", parts.join(" OR "))
    }
}

/// A condition true for the rows of `pairs` (`(window_start,
/// generation)`) in `service_samples`; `None` for no pairs.
fn settled_condition(pairs: &[(i64, u64)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let pairs: Vec<String> = pairs.iter().map(|(w, g)| format!("({w}, {g})")).collect();
    Some(format!(
        "(window_start, generation) IN ({})",
        pairs.join(", ")
    ))
}

/// One window's state for the settler.
#[derive(Debug, Deserialize)]
struct Candidate {
    window_start: i64,
    seen: u64,
    finished: u64,
    started: u64,
}

impl ClickHouseStore {
    /// The clean windows of `[start, end)`.
    pub(super) fn clean_windows(&self, start: i64, end: i64) -> Result<CleanWindows, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            window_start: i64,
            seen: u64,
            finished: u64,
        }
        let rows: Vec<Row> = self.client.select(
            "read which windows are settled",
            &format!(
                "SELECT window_start, seen, finished
                 FROM (SELECT window_start, max(seen) AS seen FROM {windows}
                       WHERE window_start >= {start} AND window_start < {end}
                       GROUP BY window_start)
                 ANY LEFT JOIN
                      (SELECT window_start, max(generation) AS finished FROM {settles}
                       WHERE done = 1 AND window_start >= {start} AND window_start < {end}
                       GROUP BY window_start)
                 USING window_start",
                windows = self.table("windows"),
                settles = self.table("settles"),
            ),
        )?;
        Ok(CleanWindows::from_states(
            rows.into_iter()
                .map(|r| (r.window_start, r.seen, r.finished)),
        ))
    }

    /// Sample rows matching `filter` (a condition on `service`,
    /// `profile_type` and `window_start`) in `[start, end)`, summed per
    /// service: `service, profile_type, window_start, stack_id, period,
    /// count, resolution`. Clean minute windows come from
    /// `service_samples`, other minute windows from `samples FINAL`,
    /// rolled-up days from `service_samples_hourly`.
    pub(super) fn service_source(
        &self,
        filter: &str,
        start: i64,
        end: i64,
    ) -> Result<String, StorageError> {
        let clean = self.clean_windows(start, end)?;
        let columns = "service, profile_type, window_start, stack_id, period, count";
        let mut parts = Vec::new();
        parts.extend(self.settled_rows(
            &format!("{columns}, 'minute' AS resolution"),
            filter,
            (start, end),
            clean.clean(),
        ));
        parts.push(self.unsettled_rows(
            &format!("{columns}, 'minute' AS resolution"),
            &format!("{columns}, 'hour' AS resolution"),
            filter,
            (start, end),
            &clean,
        ));
        Ok(format!("({})", parts.join(" UNION ALL ")))
    }

    /// `SELECT columns` of the settled rows of `pairs` (clean windows at
    /// their generation) matching `filter` in `range`; `None` for no pairs.
    pub(super) fn settled_rows(
        &self,
        columns: &str,
        filter: &str,
        (start, end): (i64, i64),
        pairs: &[(i64, u64)],
    ) -> Option<String> {
        let settled = settled_condition(pairs)?;
        Some(format!(
            "SELECT {columns} FROM {table} FINAL
             WHERE window_start >= {watermark} AND window_start >= {start} AND window_start < {end}
               AND ({filter}) AND {settled}",
            table = self.table("service_samples"),
            watermark = schema::watermark(&self.db),
        ))
    }

    /// `SELECT` of every row matching `filter` in `range` that is not in a
    /// clean window of `clean`: minute rows of the other windows from
    /// `samples FINAL` (as `minute_columns`), and rolled-up days from
    /// `service_samples_hourly` (as `hour_columns`).
    pub(super) fn unsettled_rows(
        &self,
        minute_columns: &str,
        hour_columns: &str,
        filter: &str,
        (start, end): (i64, i64),
        clean: &CleanWindows,
    ) -> String {
        let watermark = schema::watermark(&self.db);
        let range = format!("window_start >= {start} AND window_start < {end} AND ({filter})");
        format!(
            "SELECT {minute_columns} FROM {samples} FINAL
             WHERE window_start >= {watermark} AND {range} AND {unsettled}
             UNION ALL
             SELECT {hour_columns} FROM {hours} FINAL
             WHERE window_start < {watermark} AND {range}",
            samples = self.table("samples"),
            unsettled = clean.unsettled_condition(),
            hours = self.table("service_samples_hourly"),
        )
    }

    /// Marks `windows`, whose sample rows were just written, with the
    /// newest settle started for each (see the module's protocol).
    pub(super) fn mark_windows(&self, windows: &BTreeSet<i64>) -> Result<(), StorageError> {
        if windows.is_empty() {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Started {
            window_start: i64,
            generation: u64,
        }
        let started: Vec<Started> = self.client.select(
            "read settles started",
            &format!(
                "SELECT window_start, max(generation) AS generation FROM {}
                 WHERE window_start IN ({}) GROUP BY window_start",
                self.table("settles"),
                signed_list(windows.iter().copied())
            ),
        )?;
        let written = now_unix_nanos() as i64;
        let rows: Vec<serde_json::Value> = windows
            .iter()
            .map(|&w| {
                let seen = started
                    .iter()
                    .find(|s| s.window_start == w)
                    .map_or(0, |s| s.generation);
                serde_json::json!({"window_start": w, "seen": seen, "written": written})
            })
            .collect();
        self.client
            .insert("mark written windows", &self.table("windows"), &rows)
    }

    /// See [`crate::Storage::settle`].
    pub(super) fn settle_windows(&self, now: i64) -> Result<usize, StorageError> {
        let quiet_since = now.saturating_sub(self.settle_after_nanos);
        let watermark = schema::watermark(&self.db);
        let candidates: Vec<Candidate> = self.client.select(
            "find windows to settle",
            &format!(
                "SELECT window_start, seen, finished, started
                 FROM (SELECT window_start, max(seen) AS seen, max(written) AS last_written FROM {windows}
                       WHERE window_start >= {watermark}
                       GROUP BY window_start HAVING last_written < {quiet_since})
                 ANY LEFT JOIN
                      (SELECT window_start, maxIf(generation, done = 1) AS finished,
                              max(generation) AS started
                       FROM {settles} WHERE window_start >= {watermark}
                       GROUP BY window_start)
                 USING window_start
                 WHERE finished = 0 OR seen >= finished
                 ORDER BY window_start",
                windows = self.table("windows"),
                settles = self.table("settles"),
            ),
        )?;
        let wall = now_unix_nanos() as i64;
        let due: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| {
                // Someone else's settle under way: let it finish, unless
                // it is old enough to have died.
                let in_progress = c.started > c.finished
                    && (c.started as i64) > wall.saturating_sub(SETTLE_IN_PROGRESS_NANOS);
                !in_progress
            })
            .collect();
        for chunk in due.chunks(WINDOWS_PER_SETTLE) {
            self.settle_chunk(chunk)?;
        }
        Ok(due.len())
    }

    /// Settles `chunk` under one new generation.
    fn settle_chunk(&self, chunk: &[&Candidate]) -> Result<(), StorageError> {
        let newest = chunk
            .iter()
            .map(|c| c.started.max(c.seen))
            .max()
            .unwrap_or(0);
        // Time-based so that nodes rarely pick the same one; above every
        // generation started for these windows in any case.
        let generation = now_unix_nanos().max(newest + 1);
        let windows: Vec<i64> = chunk.iter().map(|c| c.window_start).collect();
        let marks = |done: u8| -> Vec<serde_json::Value> {
            windows
                .iter()
                .map(|&w| {
                    serde_json::json!({"window_start": w, "generation": generation, "done": done})
                })
                .collect()
        };
        self.client
            .insert("start a settle", &self.table("settles"), &marks(0))?;
        self.client.execute(
            "settle windows",
            &format!(
                "INSERT INTO {service} (service, profile_type, window_start, stack_id, period,
                                        generation, count)
                 SELECT service, profile_type, window_start, stack_id, period, {generation},
                        sum(count)
                 FROM {samples} FINAL
                 WHERE window_start IN ({list})
                 GROUP BY service, profile_type, window_start, stack_id, period",
                service = self.table("service_samples"),
                samples = self.table("samples"),
                list = signed_list(windows.iter().copied()),
            ),
        )?;
        self.client
            .insert("finish a settle", &self.table("settles"), &marks(1))
    }

    /// Sums the hour rows of `day` per service into
    /// `service_samples_hourly`, one generation (a rollup) or all of them.
    pub(super) fn summarize_hours(
        &self,
        day: i64,
        generation: Option<u64>,
    ) -> Result<(), StorageError> {
        const DAY: i64 = 86_400_000_000_000;
        let only = generation.map_or(String::new(), |g| format!("AND generation = {g}"));
        self.client.execute(
            "sum hour rows per service",
            &format!(
                "INSERT INTO {service} (service, profile_type, window_start, stack_id, period,
                                        generation, count)
                 SELECT service, profile_type, window_start, stack_id, period, generation,
                        sum(count)
                 FROM {hours} FINAL
                 WHERE window_start >= {start} AND window_start < {end} {only}
                 GROUP BY service, profile_type, window_start, stack_id, period, generation",
                service = self.table("service_samples_hourly"),
                hours = self.table("samples_hourly"),
                start = day * DAY,
                end = (day + 1) * DAY,
            ),
        )
    }

    /// Minute windows stored before `windows` existed (an upgrade) are
    /// recorded, as written long ago, so reads split them like any other
    /// and the next settle sums them.
    pub(super) fn record_old_windows(&self) -> Result<(), StorageError> {
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let recorded: Vec<Count> = self.client.select(
            "count recorded windows",
            &format!("SELECT count() AS n FROM {}", self.table("windows")),
        )?;
        if recorded.first().is_some_and(|c| c.n > 0) {
            return Ok(());
        }
        self.client.execute(
            "record stored windows",
            &format!(
                "INSERT INTO {windows} (window_start, seen, written)
                 SELECT DISTINCT window_start, toUInt64(0), toInt64(0) FROM {samples}
                 WHERE window_start >= {watermark}",
                windows = self.table("windows"),
                samples = self.table("samples"),
                watermark = schema::watermark(&self.db),
            ),
        )
    }

    /// Days rolled up before per-service hour rows existed (an upgrade)
    /// get them, so reads of those days through them see every sample.
    pub(super) fn backfill_hours(&self) -> Result<(), StorageError> {
        const DAY: i64 = 86_400_000_000_000;
        #[derive(Deserialize)]
        struct Day {
            day: i64,
        }
        let days: Vec<Day> = self.client.select(
            "find days without per-service hours",
            &format!(
                "SELECT DISTINCT intDiv(window_start, {DAY}) AS day FROM {hours}
                 WHERE intDiv(window_start, {DAY}) GLOBAL NOT IN
                       (SELECT DISTINCT intDiv(window_start, {DAY}) FROM {service})
                 ORDER BY day",
                hours = self.table("samples_hourly"),
                service = self.table("service_samples_hourly"),
            ),
        )?;
        for Day { day } in days {
            self.summarize_hours(day, None)?;
        }
        Ok(())
    }
}

/// `a, b, c` of signed numbers, for `IN (...)`.
fn signed_list(values: impl IntoIterator<Item = i64>) -> String {
    let values: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    values.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_clean_only_at_its_newest_finished_generation_and_unmarked() {
        let clean = CleanWindows::from_states([(60, 0, 5), (120, 5, 5), (180, 4, 5), (240, 0, 0)]);
        assert_eq!(clean.windows, vec![(60, 5), (180, 5)]);
        assert_eq!(
            settled_condition(clean.clean()).unwrap(),
            "(window_start, generation) IN ((60, 5), (180, 5))"
        );
    }

    #[test]
    fn the_samples_are_read_for_unclean_and_unrecorded_windows() {
        let clean = CleanWindows::from_states([(60, 0, 5), (120, 5, 5), (180, 0, 5)]);
        assert_eq!(clean.unclean, vec![120]);
        assert_eq!(
            clean.unsettled_condition(),
            "(window_start < 60 OR window_start > 180 OR window_start IN (120))"
        );
        let all_clean = CleanWindows::from_states([(60, 0, 5)]);
        assert_eq!(
            all_clean.unsettled_condition(),
            "(window_start < 60 OR window_start > 60)"
        );
        // Nothing recorded (data from before the windows were): all of it.
        assert_eq!(CleanWindows::default().unsettled_condition(), "1");
    }
}
