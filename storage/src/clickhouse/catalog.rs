//! What the store holds, besides profiles (`read.rs`): services, label
//! values, deploys, timelines, counters, user SQL and the sample rows a
//! query selects.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::quote;
use super::rows::status;
use super::store::ClickHouseStore;
use crate::api::{
    Deploy, ProfileQuery, SQL_TIMEOUT, ServiceSummary, SqlAnswer, StoreStats, labels_text,
};
use crate::error::StorageError;

impl ClickHouseStore {
    /// Every service with samples; see [`crate::Storage::services`].
    pub(super) fn summarize_services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            service: String,
            profile_type: String,
            samples: u64,
            value: f64,
            first: i64,
            last: i64,
        }
        // Every series: the per-service rows where settled, as profiles
        // without matchers read them.
        let source = if self.read_settled {
            self.service_source("1", i64::MIN, i64::MAX)?
        } else {
            self.samples_source("1")
        };
        let rows: Vec<Row> = self.client.select(
            "list services",
            &format!(
                "SELECT service, profile_type, sum(count) AS samples,
                        sum(toFloat64(count) * period) AS value,
                        min(window_start) AS first, max(window_start) AS last
                 FROM {source}
                 GROUP BY service, profile_type
                 ORDER BY service, profile_type"
            ),
        )?;
        let mut services: Vec<ServiceSummary> = Vec::new();
        for row in rows {
            if services.last().is_none_or(|s| s.name != row.service) {
                services.push(ServiceSummary {
                    name: row.service.clone(),
                    total_samples: 0,
                    profile_types: Vec::new(),
                    totals: BTreeMap::new(),
                    first_window_unix_nanos: row.first,
                    last_window_unix_nanos: row.last,
                });
            }
            let s = services.last_mut().expect("pushed above");
            if row.profile_type == "cpu" {
                s.total_samples = row.samples;
            }
            s.first_window_unix_nanos = s.first_window_unix_nanos.min(row.first);
            s.last_window_unix_nanos = s.last_window_unix_nanos.max(row.last);
            s.totals
                .insert(row.profile_type.clone(), row.value.max(0.0) as u64);
            s.profile_types.push(row.profile_type);
        }
        for (service, profile_type, mean) in self.gauge_totals()? {
            if let Some(s) = services.iter_mut().find(|s| s.name == service) {
                s.totals.insert(profile_type, mean);
            }
        }
        Ok(services)
    }

    /// A service's deploys; see [`crate::Storage::deploys`].
    pub(super) fn deploys_of(&self, service: &str) -> Result<Vec<Deploy>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            version: String,
            first: i64,
            last: i64,
            hosts: Vec<String>,
            build_ids: Vec<String>,
            samples: u64,
        }
        let rows: Vec<Row> = self.client.select(
            "read the deploy history",
            &format!(
                "SELECT visitParamExtractString(labels, 'version') AS version,
                        min(window_start) AS first, max(window_start) AS last,
                        groupUniqArray(visitParamExtractString(labels, 'host')) AS hosts,
                        groupUniqArray(visitParamExtractString(labels, 'build_id')) AS build_ids,
                        sumIf(count, profile_type = 'cpu') AS samples
                 FROM {}
                 GROUP BY version HAVING version != ''
                 ORDER BY first, last, version",
                self.samples_source(&format!("service = {}", quote(service)))
            ),
        )?;
        let sorted = |mut v: Vec<String>| {
            v.retain(|s| !s.is_empty());
            v.sort();
            v
        };
        Ok(rows
            .into_iter()
            .map(|r| Deploy {
                version: r.version,
                build_ids: sorted(r.build_ids),
                hosts: sorted(r.hosts),
                first_seen_unix_nanos: r.first,
                last_seen_unix_nanos: r.last,
                cpu_samples: r.samples,
            })
            .collect())
    }

    /// Samples per window; see [`crate::Storage::timeline`].
    pub(super) fn timeline_of(
        &self,
        query: &ProfileQuery,
    ) -> Result<Vec<(i64, u64)>, StorageError> {
        if augur_profile::types::aggregation(&query.profile_type)
            == augur_profile::Aggregation::Gauge
        {
            return self.gauge_timeline(query);
        }
        let Some(selected) = self.selected_samples(query)? else {
            return Ok(Vec::new());
        };
        #[derive(Deserialize)]
        struct Point {
            start: i64,
            samples: u64,
        }
        let points: Vec<Point> = self.client.select(
            "sum samples per window",
            &format!(
                "SELECT window_start AS start, sum(count) AS samples FROM {selected}
                 GROUP BY start ORDER BY start"
            ),
        )?;
        Ok(points.into_iter().map(|p| (p.start, p.samples)).collect())
    }

    /// Row counts; see [`crate::Storage::stats`].
    pub(super) fn row_counts(&self) -> Result<StoreStats, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            frames: u64,
            stacks: u64,
            sample_rows: u64,
            batches: u64,
        }
        let counts: Vec<Row> = self.client.select(
            "count rows",
            &format!(
                "SELECT (SELECT uniqExact(frame_id) FROM {}) AS frames,
                        (SELECT uniqExact(stack_id) FROM {}) AS stacks,
                        (SELECT count() FROM {}) AS sample_rows,
                        (SELECT uniqExact(batch_id) FROM {}) AS batches",
                self.table("frames"),
                self.table("stacks"),
                self.samples_source("1"),
                self.table("batches"),
            ),
        )?;
        #[derive(Deserialize)]
        struct Status {
            st: u8,
            n: u64,
        }
        let statuses: Vec<Status> = self.client.select(
            "count symbolization states",
            &format!(
                "SELECT st, count() AS n FROM
                   (SELECT frame_id FROM {} WHERE kind = 0 GROUP BY frame_id)
                 ANY LEFT JOIN (SELECT frame_id, argMax(status, version) AS st FROM {} GROUP BY frame_id)
                 USING frame_id
                 GROUP BY st",
                self.table("frames"),
                self.table("symbols"),
            ),
        )?;
        let row = counts
            .into_iter()
            .next()
            .ok_or_else(|| StorageError::ClickHouse {
                operation: "count rows",
                message: "no answer row".into(),
                transient: true,
            })?;
        let of = |s: u8| {
            statuses
                .iter()
                .filter(|r| r.st == s)
                .map(|r| r.n)
                .sum::<u64>()
        };
        Ok(StoreStats {
            frames: row.frames,
            frames_symbolized: of(status::SYMBOLIZED),
            frames_failed: of(status::FAILED),
            frames_pending: of(status::PENDING),
            stacks: row.stacks,
            sample_rows: row.sample_rows,
            batches: row.batches,
        })
    }

    /// A user's read-only query; see [`crate::Storage::sql`].
    pub(super) fn user_sql(&self, sql: &str, max_rows: usize) -> Result<SqlAnswer, StorageError> {
        let (columns, mut rows) = self
            .client
            .user_query(&self.db, sql, max_rows, SQL_TIMEOUT)?;
        let truncated = rows.len() > max_rows;
        rows.truncate(max_rows);
        Ok(SqlAnswer {
            columns,
            rows,
            truncated,
        })
    }

    /// The sample rows `query` selects (its service, type, range and label
    /// matchers), as a subquery; `None` when no label set matches.
    pub(super) fn selected_samples(
        &self,
        query: &ProfileQuery,
    ) -> Result<Option<String>, StorageError> {
        if !query.filters_series() && self.read_settled {
            // Every series: the per-service rows where settled.
            let filter = format!(
                "service = {} AND profile_type = {}",
                quote(&query.service),
                quote(&query.profile_type)
            );
            return Ok(Some(self.service_source(
                &filter,
                query.start_unix_nanos,
                query.end_unix_nanos,
            )?));
        }
        Ok(self
            .series_filter(query)?
            .map(|filter| self.samples_source(&filter)))
    }

    /// The filter of `query`'s rows in its range: with labels or matchers,
    /// only the label sets present in the range that it selects (the
    /// sorting key starts with (service, profile_type, window_start), so
    /// this reads the range alone, not the service's whole history); `None`
    /// when it selects none.
    pub(super) fn series_filter(
        &self,
        query: &ProfileQuery,
    ) -> Result<Option<String>, StorageError> {
        let range = format!(
            "service = {} AND profile_type = {}
             AND window_start >= {} AND window_start < {}",
            quote(&query.service),
            quote(&query.profile_type),
            query.start_unix_nanos,
            query.end_unix_nanos,
        );
        if !query.filters_series() {
            return Ok(Some(range));
        }
        let matching: Vec<String> = self
            .labels_where(&range)?
            .into_iter()
            .filter(|labels| query.selects(labels))
            .map(|labels| quote(&labels_text(&labels)))
            .collect();
        if matching.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "{range} AND labels IN ({})",
            matching.join(", ")
        )))
    }

    /// The label sets `service` has samples under.
    pub(super) fn series_labels(
        &self,
        service: &str,
    ) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        self.labels_where(&format!("service = {}", quote(service)))
    }

    /// The label sets of the sample rows matching `filter`.
    pub(super) fn labels_where(
        &self,
        filter: &str,
    ) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            labels: String,
        }
        let rows: Vec<Row> = self.client.select(
            "list series",
            &format!(
                "SELECT DISTINCT labels FROM {}",
                self.samples_source(filter)
            ),
        )?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_str(&r.labels).map_err(|e| StorageError::Corrupt {
                    what: format!("labels {:?}: {e}", r.labels),
                })
            })
            .collect()
    }

    /// A subquery with the columns of the `sql_service_samples` view over
    /// the windows starting in `[start, end)`, exact thanks to the settled
    /// per-service rows; `None` when those are not read (the view is).
    pub(super) fn service_samples_source(
        &self,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
    ) -> Result<Option<String>, StorageError> {
        if !self.read_settled {
            return Ok(None);
        }
        let source = self.service_source("1", start_unix_nanos, end_unix_nanos)?;
        Ok(Some(format!(
            "SELECT service, profile_type, window_start, resolution, stack_id, leaf_frame_id,
                    period, count, count * period AS value
             FROM {source}
             ANY LEFT JOIN (SELECT stack_id, any(frame_ids)[1] AS leaf_frame_id
                            FROM {stacks} GROUP BY stack_id)
             USING stack_id",
            stacks = self.table("stacks"),
        )))
    }
}
