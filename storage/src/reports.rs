//! Fleet reports in the style of Google-Wide Profiling: the whole fleet's
//! CPU by service, by function and by binary (shared library, executable,
//! the kernel), over any time range.
//!
//! Each report is one query over the documented SQL views, written in the
//! SQL that SQLite and ClickHouse share, so both backends answer it the same
//! way ([`run`]), each over its own source of per-service samples: the
//! `sql_service_samples` view, or ClickHouse's exact settled rows. They read
//! `sql_service_samples`,
//! the samples summed per service (no host labels): on SQLite one row per
//! service, window and stack, so an hour of a 1,000-host fleet is not
//! 1,000 rows per stack and window. Leaves are grouped first and named
//! after, so the frames are joined once per distinct leaf, not per row.

use augur_profile::placeholder;

use crate::api::{FleetReport, ReportRow, SqlAnswer};
use crate::error::StorageError;

/// The functions report's name for the leaves of a binary nobody has named
/// yet, followed by the binary's path or file id.
const UNSYMBOLIZED: &str = "[unsymbolized]";

/// SQL for the unknown frame reason `column` in today's words
/// ([`placeholder::current`]), in the SQL both backends accept: the legacy
/// strings are mapped in the query, so that two of them meaning one
/// placeholder are one row before the report's order and limit.
fn current_reason_sql(column: &str) -> String {
    let mut sql = format!("CASE {column}");
    for (legacy, now) in placeholder::LEGACY {
        sql += &format!(" WHEN {} THEN {}", text(legacy), text(now));
    }
    sql + &format!(" ELSE {column} END")
}

/// A string literal both dialects read alike; ours hold no quote or
/// backslash (ClickHouse would read a backslash as an escape).
fn text(value: &str) -> String {
    assert!(
        !value.contains(['\\', '\'']),
        "not a plain SQL literal: {value:?}"
    );
    format!("'{value}'")
}

/// The report over `source`, the `sql_service_samples` view or a
/// subquery with its columns.
fn report_sql(report: FleetReport, source: &str, start: i64, end: i64, limit: usize) -> String {
    let range =
        format!("s.profile_type = 'cpu' AND s.window_start >= {start} AND s.window_start < {end}");
    match report {
        FleetReport::Services => format!(
            "SELECT s.service AS name, SUM(s.value) AS cpu_ns, SUM(s.count) AS samples
             FROM {source} AS s
             WHERE {range}
             GROUP BY s.service
             ORDER BY cpu_ns DESC, name
             LIMIT {limit}"
        ),
        // A leaf with no function is named after its binary, and an
        // unknown frame after its reason in today's words; leaves are
        // summed per function (and per binary where unnamed) before the
        // binaries are joined. One JOIN per SELECT: ClickHouse 18.
        FleetReport::Functions => format!(
            "SELECT CASE WHEN x.kind = 'unknown' THEN '[' || {reason} || ']'
                         WHEN x.function <> '' THEN x.function
                         WHEN x.unnamed_in = '' THEN '{UNSYMBOLIZED}'
                         WHEN COALESCE(b.path, '') = '' THEN '{UNSYMBOLIZED} ' || x.unnamed_in
                         ELSE '{UNSYMBOLIZED} ' || b.path
                    END AS name,
                    SUM(x.value) AS cpu_ns, SUM(x.count) AS samples
             FROM (SELECT f.kind AS kind, f.function AS function,
                          CASE WHEN f.function = '' THEN f.build_id ELSE '' END AS unnamed_in,
                          SUM(l.value) AS value, SUM(l.count) AS count
                   FROM (SELECT s.leaf_frame_id AS leaf_frame_id, SUM(s.value) AS value,
                                SUM(s.count) AS count
                         FROM {source} AS s
                         WHERE {range}
                         GROUP BY s.leaf_frame_id) AS l
                   JOIN sql_frames AS f ON f.frame_id = l.leaf_frame_id
                   GROUP BY kind, function, unnamed_in) AS x
             LEFT JOIN sql_binaries AS b ON b.build_id = x.unnamed_in
             GROUP BY name
             ORDER BY cpu_ns DESC, name
             LIMIT {limit}",
            reason = current_reason_sql("x.function"),
        ),
        // One JOIN per SELECT: ClickHouse 18 allows no more.
        FleetReport::Binaries => format!(
            "SELECT CASE x.kind WHEN 'kernel' THEN '[kernel]' WHEN 'named' THEN '[jit]'
                                WHEN 'unknown' THEN '[unknown]'
                                WHEN 'python' THEN '[python]' WHEN 'java' THEN '[java]'
                                ELSE CASE WHEN b.path = '' THEN x.build_id ELSE b.path END
                    END AS name,
                    SUM(x.value) AS cpu_ns, SUM(x.count) AS samples
             FROM (SELECT f.kind AS kind, f.build_id AS build_id, l.value AS value,
                          l.count AS count
                   FROM (SELECT s.leaf_frame_id AS leaf_frame_id, SUM(s.value) AS value,
                                SUM(s.count) AS count
                         FROM {source} AS s
                         WHERE {range}
                         GROUP BY s.leaf_frame_id) AS l
                   JOIN sql_frames AS f ON f.frame_id = l.leaf_frame_id) AS x
             LEFT JOIN sql_binaries AS b ON b.build_id = x.build_id
             GROUP BY name
             ORDER BY cpu_ns DESC, name
             LIMIT {limit}"
        ),
    }
}

/// Runs `report` (see [`crate::Storage::fleet_report`]) with `sql`, a
/// backend's read-only query runner, over `source`: the
/// `sql_service_samples` view or a parenthesized subquery with its columns.
pub(crate) fn run(
    report: FleetReport,
    source: &str,
    start_unix_nanos: i64,
    end_unix_nanos: i64,
    limit: usize,
    sql: impl Fn(&str, usize) -> Result<SqlAnswer, StorageError>,
) -> Result<Vec<ReportRow>, StorageError> {
    let number = |v: &serde_json::Value| {
        v.as_u64()
            .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };
    let total = sql(
        &format!(
            "SELECT SUM(s.value) AS cpu_ns FROM {source} AS s
             WHERE s.profile_type = 'cpu' AND s.window_start >= {start_unix_nanos}
               AND s.window_start < {end_unix_nanos}"
        ),
        1,
    )?;
    let total = total.rows.first().and_then(|r| r.first()).map_or(0, number);
    let answer = sql(
        &report_sql(
            report,
            source,
            start_unix_nanos,
            end_unix_nanos,
            limit.max(1),
        ),
        limit.max(1),
    )?;
    Ok(answer
        .rows
        .iter()
        .map(|row| {
            let cpu_ns = row.get(1).map_or(0, number);
            ReportRow {
                name: row
                    .first()
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                cpu_ns,
                samples: row.get(2).map_or(0, number),
                share: if total == 0 {
                    0.0
                } else {
                    cpu_ns as f64 / total as f64
                },
            }
        })
        .collect())
}
