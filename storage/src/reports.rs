//! Fleet reports in the style of Google-Wide Profiling: the whole fleet's
//! CPU by service, by function and by binary (shared library, executable,
//! the kernel), over any time range.
//!
//! Each report is one query over the documented SQL views, written in the
//! SQL that SQLite and ClickHouse share, so both backends answer it the same
//! way through [`crate::Storage::sql`]. They read `sql_service_samples`,
//! the samples summed per service (no host labels): on SQLite one row per
//! service, window and stack, so an hour of a 1,000-host fleet is not
//! 1,000 rows per stack and window. Leaves are grouped first and named
//! after, so the frames are joined once per distinct leaf, not per row.

use augur_profile::placeholder;

use crate::backend::Store;
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

/// Which breakdown of the fleet's CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetReport {
    /// Services, busiest first.
    Services,
    /// Functions by self time (the leaf of each stack), across services.
    /// Leaves not symbolized are summed per binary, `[unsymbolized] PATH`
    /// (the file id's hex when no path is known), and unknown frames per
    /// placeholder, `[reason]` as [`placeholder::display`] shows it.
    Functions,
    /// Binaries by self time: the executable or shared library of the leaf
    /// frame, `[kernel]`, `[jit]`, `[python]`, `[java]` or `[unknown]`.
    Binaries,
}

impl FleetReport {
    /// The report's name in the API and CLI.
    pub fn name(self) -> &'static str {
        match self {
            FleetReport::Services => "services",
            FleetReport::Functions => "functions",
            FleetReport::Binaries => "binaries",
        }
    }

    /// Parses [`FleetReport::name`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Services, Self::Functions, Self::Binaries]
            .into_iter()
            .find(|r| r.name() == text)
    }

    /// The report over `source`, the `sql_service_samples` view or a
    /// subquery with its columns.
    fn sql(self, source: &str, start: i64, end: i64, limit: usize) -> String {
        let range = format!(
            "s.profile_type = 'cpu' AND s.window_start >= {start} AND s.window_start < {end}"
        );
        match self {
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
}

/// One line of a fleet report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReportRow {
    /// Service, function or binary.
    pub name: String,
    /// On-CPU time in the range, nanoseconds.
    pub cpu_ns: u64,
    /// On-CPU samples in the range.
    pub samples: u64,
    /// Share of the fleet's CPU in the range, 0 to 1.
    pub share: f64,
}

impl Store {
    /// The `limit` largest lines of `report` over windows starting in
    /// `[start, end)`, with each line's share of the fleet's CPU.
    pub fn fleet_report(
        &self,
        report: FleetReport,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StorageError> {
        let number = |v: &serde_json::Value| {
            v.as_u64()
                .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0)
        };
        // The backend's own exact source when it has one, else the view.
        let source = match self.service_samples_sql(start_unix_nanos, end_unix_nanos)? {
            Some(subquery) => format!("({subquery})"),
            None => "sql_service_samples".to_owned(),
        };
        let total = self.sql(
            &format!(
                "SELECT SUM(s.value) AS cpu_ns FROM {source} AS s
                 WHERE s.profile_type = 'cpu' AND s.window_start >= {start_unix_nanos}
                   AND s.window_start < {end_unix_nanos}"
            ),
            1,
        )?;
        let total = total.rows.first().and_then(|r| r.first()).map_or(0, number);
        let answer = self.sql(
            &report.sql(&source, start_unix_nanos, end_unix_nanos, limit.max(1)),
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
}
