//! Retention and downsampling: minute windows for a while, hour windows for
//! longer, and a bound on the bytes the profiles take.
//!
//! [`RetentionPolicy`] is the same for every backend (`api`); this module is the
//! SQLite side. A compaction rolls every minute window older than the
//! minute retention (rounded down to a whole hour) into `samples_hourly`,
//! adding counts per (series, type, hour, stack, period), and deletes those
//! minutes, in one transaction: a reader sees the minutes or their hour,
//! never both and never half. Then hour windows past their retention go,
//! and, while the file holds more live data than `max_bytes`, the oldest
//! windows go too. Freed pages are reused by later writes, so the file stops
//! growing at the bound.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use crate::api::{CompactionReport, HOUR_NANOS, RetentionPolicy, hour_start};
use crate::error::{Context, StorageError};

/// The minute table, hour table and owner column of each kind of sample
/// rows: per series, and the same summed per service.
const SAMPLE_TABLES: [(&str, &str, &str); 2] = [
    ("samples", "samples_hourly", "series_id"),
    ("service_samples", "service_samples_hourly", "service_id"),
];

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Runs one compaction at time `now_unix_nanos`.
pub(crate) fn compact(
    conn: &mut Connection,
    policy: &RetentionPolicy,
    now_unix_nanos: i64,
) -> Result<CompactionReport, StorageError> {
    let mut report = CompactionReport::default();
    let minute_cutoff = hour_start(now_unix_nanos.saturating_sub(nanos(policy.minute_windows)));
    let hour_cutoff = now_unix_nanos.saturating_sub(nanos(policy.hour_windows));

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin a rollup")?;
    // The per-series rows first (they are what the report counts), then the
    // same windows of the per-service rows, in the same transaction.
    for (minutes, hours, owner) in SAMPLE_TABLES {
        tx.execute(
            &format!(
                "INSERT INTO {hours} ({owner}, profile_type, window_start, stack_id, period, count)
                     SELECT {owner}, profile_type, window_start - (window_start % ?2), stack_id,
                            period, SUM(count)
                     FROM {minutes} WHERE window_start < ?1
                     GROUP BY 1, 2, 3, 4, 5
                     ON CONFLICT ({owner}, profile_type, window_start, stack_id, period)
                     DO UPDATE SET count = CASE
                         WHEN count > 9223372036854775807 - excluded.count
                         THEN 9223372036854775807
                         ELSE count + excluded.count
                     END"
            ),
            params![minute_cutoff, HOUR_NANOS],
        )
        .context("roll minute windows up into hours")?;
        let deleted = tx
            .execute(
                &format!("DELETE FROM {minutes} WHERE window_start < ?1"),
                [minute_cutoff],
            )
            .context("delete rolled-up minute windows")? as u64;
        let expired = tx
            .execute(
                &format!("DELETE FROM {hours} WHERE window_start < ?1"),
                [hour_cutoff],
            )
            .context("delete expired hour windows")? as u64;
        if owner == "series_id" {
            report.minute_rows_rolled_up = deleted;
            report.hour_rows_expired = expired;
        }
    }
    // Gauge snapshots roll up and expire with their windows, so an hour of
    // a gauge is the mean of every snapshot its minutes had.
    tx.execute(
        "INSERT INTO gauge_snapshots_hourly (series_id, profile_type, window_start, snapshots)
             SELECT series_id, profile_type, window_start - (window_start % ?2), SUM(snapshots)
             FROM gauge_snapshots WHERE window_start < ?1
             GROUP BY 1, 2, 3
             ON CONFLICT (series_id, profile_type, window_start)
             DO UPDATE SET snapshots = snapshots + excluded.snapshots",
        params![minute_cutoff, HOUR_NANOS],
    )
    .context("roll gauge snapshots up into hours")?;
    tx.execute(
        "DELETE FROM gauge_snapshots WHERE window_start < ?1",
        [minute_cutoff],
    )
    .context("delete rolled-up gauge snapshots")?;
    tx.execute(
        "DELETE FROM gauge_snapshots_hourly WHERE window_start < ?1",
        [hour_cutoff],
    )
    .context("delete expired gauge snapshots")?;
    tx.commit().context("commit a rollup")?;

    if let Some(max_bytes) = policy.max_bytes {
        // Oldest first: hour windows, then minute windows. One window per
        // transaction, so writers are never held up long.
        for _ in 0..100_000 {
            if live_bytes(conn)? <= max_bytes {
                break;
            }
            let deleted = delete_oldest_window(conn)?;
            if deleted == 0 {
                break;
            }
            report.rows_evicted_for_space += deleted;
        }
    }
    if report.hour_rows_expired + report.rows_evicted_for_space > 0 {
        // Series with nothing left are no longer listed by label queries.
        conn.execute(
            "DELETE FROM series WHERE id NOT IN (SELECT series_id FROM samples)
               AND id NOT IN (SELECT series_id FROM samples_hourly)",
            [],
        )
        .context("delete empty series")?;
    }
    report.bytes = live_bytes(conn)?;
    Ok(report)
}

/// Bytes of the database's pages in use (not counting free pages).
pub(crate) fn live_bytes(conn: &Connection) -> Result<u64, StorageError> {
    let (pages, free, size): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()),
                    (SELECT freelist_count FROM pragma_freelist_count()),
                    (SELECT page_size FROM pragma_page_size())",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .context("measure the database")?;
    Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
}

fn delete_oldest_window(conn: &mut Connection) -> Result<u64, StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin evicting a window")?;
    let mut deleted = 0;
    for (table, service_table, snapshot_table) in [
        (
            "samples_hourly",
            "service_samples_hourly",
            "gauge_snapshots_hourly",
        ),
        ("samples", "service_samples", "gauge_snapshots"),
    ] {
        let oldest: Option<i64> = tx
            .query_row(&format!("SELECT MIN(window_start) FROM {table}"), [], |r| {
                r.get(0)
            })
            .context("find the oldest window")?;
        if let Some(oldest) = oldest {
            deleted = tx
                .execute(
                    &format!("DELETE FROM {table} WHERE window_start = ?1"),
                    [oldest],
                )
                .context("evict the oldest window")? as u64;
            for other in [service_table, snapshot_table] {
                tx.execute(
                    &format!("DELETE FROM {other} WHERE window_start = ?1"),
                    [oldest],
                )
                .context("evict the oldest window")?;
            }
            break;
        }
    }
    tx.commit().context("commit evicting a window")?;
    Ok(deleted)
}
