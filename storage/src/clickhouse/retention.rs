//! Retention on ClickHouse: minute windows rolled up into hours and old
//! days dropped, a day (partition) at a time, and the byte bound.

use std::time::Duration;

use serde::Deserialize;

use super::client::quote;
use super::gauge;
use super::store::ClickHouseStore;
use crate::api::{CompactionReport, HOUR_NANOS, RetentionPolicy};
use crate::error::StorageError;

impl ClickHouseStore {
    /// Rollups, expiry and the byte bound; see [`crate::Storage::compact`].
    pub(super) fn compact_days(
        &self,
        policy: &RetentionPolicy,
        now: i64,
    ) -> Result<CompactionReport, StorageError> {
        const DAY: i64 = 86_400_000_000_000;
        let mut report = CompactionReport::default();
        let span = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        // Whole days only: a partition is a day.
        let minute_cutoff = now
            .saturating_sub(span(policy.minute_windows))
            .div_euclid(DAY);
        #[derive(Deserialize)]
        struct Day {
            day: i64,
            rows: u64,
        }
        let days: Vec<Day> = self.client.select(
            "find days to roll up",
            &format!(
                "SELECT intDiv(window_start, {DAY}) AS day, count() AS rows FROM {}
                 WHERE window_start < {} GROUP BY day ORDER BY day",
                self.table("samples"),
                minute_cutoff.saturating_mul(DAY)
            ),
        )?;
        for Day { day, rows } in days {
            #[derive(Deserialize)]
            struct Done {
                n: u64,
            }
            let done: Vec<Done> = self.client.select(
                "count rollups of a day",
                &format!(
                    "SELECT count() AS n FROM {} WHERE day = {day}",
                    self.table("rollups")
                ),
            )?;
            // A rollup cut short by a crash is redone with the same
            // generation: its rows replace the first attempt's.
            let generation = done.first().map_or(0, |d| d.n) + 1;
            self.client.execute(
                "roll a day up into hours",
                &format!(
                    "INSERT INTO {hours} (service, labels, profile_type, window_start, stack_id,
                                          period, generation, count)
                     SELECT service, labels, profile_type, hour, stack_id, period, {generation},
                            {value}
                     FROM (SELECT service, labels, profile_type,
                                  intDiv(window_start, {HOUR_NANOS}) * {HOUR_NANOS} AS hour,
                                  stack_id, period, count
                           FROM {minutes} FINAL
                           WHERE window_start >= {start} AND window_start < {end})
                     ANY LEFT JOIN (
                         SELECT service, labels, profile_type,
                                intDiv(window_start, {HOUR_NANOS}) * {HOUR_NANOS} AS hour,
                                uniqExact(window_start, batch_id) AS n
                         FROM {minutes} FINAL
                         WHERE window_start >= {start} AND window_start < {end} AND {gauge}
                         GROUP BY service, labels, profile_type, hour)
                     USING (service, labels, profile_type, hour)
                     GROUP BY service, labels, profile_type, hour, stack_id, period",
                    hours = self.table("samples_hourly"),
                    minutes = self.table("samples"),
                    start = day * DAY,
                    end = (day + 1) * DAY,
                    value = gauge::rollup_value(),
                    gauge = gauge::IS_GAUGE,
                ),
            )?;
            self.summarize_hours(day, Some(generation))?;
            self.client.insert(
                "mark a day rolled up",
                &self.table("rollups"),
                &[serde_json::json!({"day": day, "generation": generation})],
            )?;
            for table in ["samples", "service_samples", "windows", "settles"] {
                self.on_every_shard(
                    "drop a rolled-up day",
                    &format!("ALTER TABLE {} DROP PARTITION {day}", self.local(table)),
                )?;
            }
            report.minute_rows_rolled_up += rows;
        }

        let hour_cutoff = now.saturating_sub(span(policy.hour_windows));
        let expired: Vec<Day> = self.client.select(
            "find expired hour days",
            &format!(
                "SELECT intDiv(window_start, {DAY}) AS day, count() AS rows FROM {}
                 WHERE window_start < {} GROUP BY day HAVING max(window_start) < {hour_cutoff}
                 ORDER BY day",
                self.table("samples_hourly"),
                hour_cutoff
            ),
        )?;
        for Day { day, rows } in expired {
            for table in ["samples_hourly", "service_samples_hourly"] {
                self.on_every_shard(
                    "drop an expired day",
                    &format!("ALTER TABLE {} DROP PARTITION {day}", self.local(table)),
                )?;
            }
            report.hour_rows_expired += rows;
        }

        if let Some(max_bytes) = policy.max_bytes {
            for _ in 0..10_000 {
                if self.bytes()? <= max_bytes {
                    break;
                }
                // Oldest first: hour days, then minute days.
                let mut evicted = false;
                for table in ["samples_hourly", "samples"] {
                    let oldest: Vec<Day> = self.client.select(
                        "find the oldest day",
                        &format!(
                            "SELECT intDiv(window_start, {DAY}) AS day, count() AS rows FROM {}
                             GROUP BY day ORDER BY day LIMIT 1",
                            self.table(table)
                        ),
                    )?;
                    if let Some(Day { day, rows }) = oldest.into_iter().next() {
                        // The day's per-service rows and window states go
                        // with it.
                        let companions: &[&str] = if table == "samples" {
                            &["samples", "service_samples", "windows", "settles"]
                        } else {
                            &["samples_hourly", "service_samples_hourly"]
                        };
                        for companion in companions {
                            self.on_every_shard(
                                "evict the oldest day",
                                &format!(
                                    "ALTER TABLE {} DROP PARTITION {day}",
                                    self.local(companion)
                                ),
                            )?;
                        }
                        report.rows_evicted_for_space += rows;
                        evicted = true;
                        break;
                    }
                }
                if !evicted {
                    break;
                }
            }
        }
        report.bytes = self.bytes()?;
        Ok(report)
    }

    /// Bytes on disk of Augur's tables, over every shard.
    pub(super) fn bytes(&self) -> Result<u64, StorageError> {
        #[derive(Deserialize)]
        struct Bytes {
            bytes: u64,
        }
        let mut total = 0;
        for client in &self.shards {
            let rows: Vec<Bytes> = client.select(
                "measure the tables",
                &format!(
                    "SELECT sum(bytes_on_disk) AS bytes FROM system.parts
                     WHERE active AND database = {}",
                    quote(&self.db)
                ),
            )?;
            total += rows.first().map_or(0, |r| r.bytes);
        }
        Ok(total)
    }
}
