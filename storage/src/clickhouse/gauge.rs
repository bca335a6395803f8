//! Gauge types on ClickHouse (`augur_profile::types::aggregation`): in-use
//! memory and goroutine counts, where a window is the mean of the snapshots
//! pushed into it, never their sum.
//!
//! Minute rows keep their batch id, and every batch of a gauge type is one
//! snapshot of its series, so a series' snapshots in a window are its
//! distinct `(window_start, batch_id)` pairs: nothing else is stored. A
//! rollup writes each series' hour as the mean of its minute snapshots
//! (`rollup_value`), which then counts as one snapshot of that hour. (SQLite
//! keeps the snapshot counts of an hour instead, so a range reaching across
//! minutes and hours weighs an hour by its snapshots there, by one here.)

use serde::Deserialize;

use super::schema;
use super::store::ClickHouseStore;
use crate::api::{ProfileQuery, StackCount};
use crate::error::StorageError;

/// SQL true for the rows of a gauge type: the rule of
/// `augur_profile::types::aggregation`, on the `profile_type` column.
pub(super) const IS_GAUGE: &str =
    "(startsWith(profile_type, 'inuse_') OR profile_type IN ('goroutine', 'goroutines'))";

/// A mean as a whole count: rounded, at least 1 when anything was there.
fn whole(expr: &str) -> String {
    format!("greatest(toUInt64(round({expr})), toUInt64({expr} > 0))")
}

impl ClickHouseStore {
    /// Counts per `(stack, period)` of a gauge query: each series' rows
    /// over the snapshots it has in the range, the series added.
    pub(super) fn gauge_counts(
        &self,
        query: &ProfileQuery,
    ) -> Result<Vec<StackCount>, StorageError> {
        let Some(filter) = self.series_filter(query)? else {
            return Ok(Vec::new());
        };
        let watermark = schema::watermark(&self.db);
        let (minutes, hours) = (self.table("samples"), self.table("samples_hourly"));
        #[derive(Deserialize)]
        struct Row {
            stack_id: u64,
            period: u64,
            count: u64,
        }
        let value = whole("sum(c / n)");
        let rows: Vec<Row> = self.client.select(
            "average gauge samples",
            &format!(
                "SELECT stack_id, period, {value} AS count FROM (
                     SELECT labels, stack_id, period, sum(count) AS c FROM (
                         SELECT labels, stack_id, period, count FROM {minutes} FINAL
                         WHERE window_start >= {watermark} AND {filter}
                         UNION ALL
                         SELECT labels, stack_id, period, count FROM {hours} FINAL
                         WHERE window_start < {watermark} AND {filter})
                     GROUP BY labels, stack_id, period)
                 ANY INNER JOIN (
                     SELECT labels, sum(snapshots) AS n FROM (
                         SELECT labels, uniqExact(window_start, batch_id) AS snapshots
                         FROM {minutes} FINAL
                         WHERE window_start >= {watermark} AND {filter} GROUP BY labels
                         UNION ALL
                         SELECT labels, uniqExact(window_start) AS snapshots FROM {hours} FINAL
                         WHERE window_start < {watermark} AND {filter} GROUP BY labels)
                     GROUP BY labels)
                 USING labels
                 GROUP BY stack_id, period"
            ),
        )?;
        Ok(rows
            .into_iter()
            .filter(|r| r.count > 0)
            .map(|r| StackCount {
                stack_id: r.stack_id as i64,
                period: r.period,
                count: r.count,
            })
            .collect())
    }

    /// The timeline of a gauge query: per window, each series' rows over
    /// its snapshots in that window, the series added.
    pub(super) fn gauge_timeline(
        &self,
        query: &ProfileQuery,
    ) -> Result<Vec<(i64, u64)>, StorageError> {
        let Some(filter) = self.series_filter(query)? else {
            return Ok(Vec::new());
        };
        let watermark = schema::watermark(&self.db);
        let (minutes, hours) = (self.table("samples"), self.table("samples_hourly"));
        #[derive(Deserialize)]
        struct Point {
            start: i64,
            samples: u64,
        }
        let value = whole("sum(c / n)");
        let points: Vec<Point> = self.client.select(
            "average gauge samples per window",
            &format!(
                "SELECT start, {value} AS samples FROM (
                     SELECT labels, window_start AS start, sum(count) AS c,
                            uniqExact(batch_id) AS n
                     FROM {minutes} FINAL WHERE window_start >= {watermark} AND {filter}
                     GROUP BY labels, start
                     UNION ALL
                     SELECT labels, window_start AS start, sum(count) AS c, toUInt64(1) AS n
                     FROM {hours} FINAL WHERE window_start < {watermark} AND {filter}
                     GROUP BY labels, start)
                 GROUP BY start ORDER BY start"
            ),
        )?;
        Ok(points.into_iter().map(|p| (p.start, p.samples)).collect())
    }

    /// `(service, type, total)` of every gauge type: its mean over each
    /// series' snapshots, the series added (`ServiceSummary::totals`).
    pub(super) fn gauge_totals(&self) -> Result<Vec<(String, String, u64)>, StorageError> {
        let watermark = schema::watermark(&self.db);
        let (minutes, hours) = (self.table("samples"), self.table("samples_hourly"));
        #[derive(Deserialize)]
        struct Row {
            service: String,
            profile_type: String,
            total: u64,
        }
        let rows: Vec<Row> = self.client.select(
            "average gauge totals",
            &format!(
                "SELECT service, profile_type, toUInt64(round(sum(v / n))) AS total FROM (
                     SELECT service, labels, profile_type, sum(v) AS v, sum(n) AS n FROM (
                         SELECT service, labels, profile_type,
                                sum(toFloat64(count) * period) AS v,
                                uniqExact(window_start, batch_id) AS n
                         FROM {minutes} FINAL WHERE window_start >= {watermark} AND {IS_GAUGE}
                         GROUP BY service, labels, profile_type
                         UNION ALL
                         SELECT service, labels, profile_type,
                                sum(toFloat64(count) * period) AS v,
                                uniqExact(window_start) AS n
                         FROM {hours} FINAL WHERE window_start < {watermark} AND {IS_GAUGE}
                         GROUP BY service, labels, profile_type)
                     GROUP BY service, labels, profile_type)
                 GROUP BY service, profile_type"
            ),
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.service, r.profile_type, r.total))
            .collect())
    }
}

/// The `count` a rollup writes for an hour: the sum of the minute rows, or
/// for a gauge type their mean over the series' snapshots in that hour
/// (`n`, joined in by the rollup).
pub(super) fn rollup_value() -> String {
    format!(
        "if({IS_GAUGE}, {}, sum(count))",
        whole("sum(count) / greatest(any(n), 1)")
    )
}

#[cfg(test)]
mod tests {
    use augur_profile::Aggregation;
    use augur_profile::types::aggregation;

    use super::IS_GAUGE;

    /// The SQL rule names the same types as the Rust one.
    #[test]
    fn the_sql_rule_is_the_rust_rule() {
        for name in ["inuse_space", "inuse_objects", "goroutine", "goroutines"] {
            assert_eq!(aggregation(name), Aggregation::Gauge, "{name}");
            assert!(IS_GAUGE.contains("'inuse_'") || IS_GAUGE.contains(&format!("'{name}'")));
        }
        for name in ["cpu", "alloc_space", "goroutine_count", "in_use"] {
            assert_eq!(aggregation(name), Aggregation::Sum, "{name}");
            assert!(!name.starts_with("inuse_") && !IS_GAUGE.contains(&format!("'{name}'")));
        }
    }
}
