//! What a store holds, outside profiles: the services and their label
//! values, deploys, row counts, and read-only SQL over the documented views.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::read::series_of;
use super::schema::status;
use crate::api::{
    Deploy, SQL_TIMEOUT, ServiceSummary, SqlAnswer, StoreStats, collect_label_values,
};
use crate::error::{Context, StorageError};

/// A service's deploys from its series' `version`, `host` and `build_id`
/// labels, oldest first: by first window, then last window, then which
/// series arrived first (two deploys inside one window keep their order).
pub(super) fn deploys(conn: &mut Connection, service: &str) -> Result<Vec<Deploy>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT json_extract(se.labels, '$.version') AS version,
                    MIN(sa.window_start), MAX(sa.window_start),
                    GROUP_CONCAT(DISTINCT json_extract(se.labels, '$.host')),
                    GROUP_CONCAT(DISTINCT json_extract(se.labels, '$.build_id')),
                    SUM(CASE WHEN sa.profile_type = 'cpu' THEN sa.count ELSE 0 END)
             FROM all_samples sa
             JOIN series se ON se.id = sa.series_id
             JOIN services sv ON sv.id = se.service_id
             WHERE sv.name = ?1 AND json_extract(se.labels, '$.version') IS NOT NULL
             GROUP BY version
             ORDER BY MIN(sa.window_start), MAX(sa.window_start), MIN(se.id)",
        )
        .context("prepare the deploy history")?;
    let list = |text: Option<String>| -> Vec<String> {
        let mut items: Vec<String> = text
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        items.sort();
        items
    };
    let rows = stmt
        .query_map([service], |r| {
            Ok(Deploy {
                version: r.get(0)?,
                first_seen_unix_nanos: r.get(1)?,
                last_seen_unix_nanos: r.get(2)?,
                hosts: list(r.get(3)?),
                build_ids: list(r.get(4)?),
                cpu_samples: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            })
        })
        .context("read the deploy history")?;
    rows.map(|row| row.context("read a deploy")).collect()
}

/// Label names of `service` with their values, for selectors.
pub(super) fn label_values(
    conn: &mut Connection,
    service: &str,
) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
    let tx = conn.transaction().context("begin a label query")?;
    let series = series_of(&tx, service)?;
    Ok(collect_label_values(
        series.into_iter().map(|(_, labels)| labels),
    ))
}

/// The label sets of `service`'s series.
pub(super) fn series(
    conn: &mut Connection,
    service: &str,
) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
    let tx = conn.transaction().context("begin a series query")?;
    Ok(series_of(&tx, service)?
        .into_iter()
        .map(|(_, labels)| labels)
        .collect())
}

pub(super) fn services(conn: &mut Connection) -> Result<Vec<ServiceSummary>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sv.name, SUM(CASE WHEN sa.profile_type = 'cpu' THEN sa.count ELSE 0 END),
                    MIN(sa.window_start), MAX(sa.window_start), GROUP_CONCAT(DISTINCT sa.profile_type)
             FROM all_service_samples sa JOIN services sv ON sv.id = sa.service_id
             GROUP BY sa.service_id
             ORDER BY sv.name",
        )
        .context("prepare the service list")?;
    let rows = stmt
        .query_map([], |r| {
            let mut profile_types: Vec<String> = r
                .get::<_, Option<String>>(4)?
                .unwrap_or_default()
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            profile_types.sort();
            Ok(ServiceSummary {
                name: r.get(0)?,
                total_samples: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                first_window_unix_nanos: r.get(2)?,
                last_window_unix_nanos: r.get(3)?,
                profile_types,
                totals: BTreeMap::new(),
            })
        })
        .context("list services")?;
    let mut services: Vec<ServiceSummary> = rows
        .map(|row| row.context("read a service"))
        .collect::<Result<_, _>>()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT sv.name, sa.profile_type, SUM(sa.count * sa.period)
             FROM all_service_samples sa JOIN services sv ON sv.id = sa.service_id
             GROUP BY sa.service_id, sa.profile_type",
        )
        .context("prepare the service totals")?;
    let totals = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                // SUM overflows to a float in SQLite past i64; saturate.
                r.get::<_, f64>(2)?,
            ))
        })
        .context("sum service totals")?;
    for row in totals {
        let (name, profile_type, total) = row.context("read a service total")?;
        if let Some(service) = services.iter_mut().find(|s| s.name == name) {
            service.totals.insert(profile_type, total.max(0.0) as u64);
        }
    }
    // A gauge's total is its mean over the snapshots of each series, the
    // series added: what a profile of all time shows, not a sum of pushes.
    let mut stmt = conn
        .prepare_cached(
            "WITH snaps AS (
                 SELECT series_id, profile_type, SUM(snapshots) AS n FROM (
                     SELECT series_id, profile_type, snapshots FROM gauge_snapshots
                     UNION ALL
                     SELECT series_id, profile_type, snapshots FROM gauge_snapshots_hourly)
                 GROUP BY series_id, profile_type)
             SELECT sv.name, g.profile_type, SUM((
                 COALESCE((SELECT SUM(count * period) FROM samples s
                           WHERE s.series_id = g.series_id AND s.profile_type = g.profile_type), 0)
               + COALESCE((SELECT SUM(count * period) FROM samples_hourly s
                           WHERE s.series_id = g.series_id AND s.profile_type = g.profile_type), 0)
             ) * 1.0 / g.n)
             FROM snaps g JOIN series se ON se.id = g.series_id
             JOIN services sv ON sv.id = se.service_id
             GROUP BY sv.name, g.profile_type",
        )
        .context("prepare the gauge totals")?;
    let gauges = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(2)?,
            ))
        })
        .context("average gauge totals")?;
    for row in gauges {
        let (name, profile_type, total) = row.context("read a gauge total")?;
        if let Some(service) = services.iter_mut().find(|s| s.name == name) {
            service
                .totals
                .insert(profile_type, total.max(0.0).round() as u64);
        }
    }
    Ok(services)
}

pub(super) fn stats(conn: &mut Connection) -> Result<StoreStats, StorageError> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    conn.prepare_cached(
        "SELECT (SELECT COUNT(*) FROM frames),
                (SELECT COUNT(*) FROM symbolization WHERE status = ?1),
                (SELECT COUNT(*) FROM symbolization WHERE status = ?2),
                (SELECT COUNT(*) FROM symbolization WHERE status = ?3),
                (SELECT COUNT(*) FROM stacks),
                (SELECT COUNT(*) FROM all_samples),
                (SELECT COUNT(*) FROM batches)",
    )
    .and_then(|mut s| {
        s.query_row(
            params![status::SYMBOLIZED, status::FAILED, status::PENDING],
            |r| {
                Ok(StoreStats {
                    frames: count(r.get(0)?),
                    frames_symbolized: count(r.get(1)?),
                    frames_failed: count(r.get(2)?),
                    frames_pending: count(r.get(3)?),
                    stacks: count(r.get(4)?),
                    sample_rows: count(r.get(5)?),
                    batches: count(r.get(6)?),
                })
            },
        )
    })
    .context("count rows")
}

/// Runs a user's read-only query (`augur sql`) on a reader connection: one
/// statement, refused unless SQLite says it only reads, stopped after
/// [`SQL_TIMEOUT`].
pub(super) fn user_sql(
    conn: &mut Connection,
    sql: &str,
    max_rows: usize,
) -> Result<SqlAnswer, StorageError> {
    use rusqlite::types::ValueRef;

    let refused = |message: String| StorageError::Query { message };
    let deadline = std::time::Instant::now() + SQL_TIMEOUT;
    conn.progress_handler(10_000, Some(move || std::time::Instant::now() > deadline))
        .context("install the query time limit")?;
    let result = (|| {
        let mut stmt = conn
            .prepare(sql.trim().trim_end_matches(';'))
            .map_err(|e| refused(e.to_string()))?;
        if !stmt.readonly() {
            return Err(refused(
                "only read-only queries (SELECT, WITH) are allowed".into(),
            ));
        }
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.query([]).map_err(|e| refused(e.to_string()))?;
        let mut out = Vec::new();
        let mut truncated = false;
        while let Some(row) = rows.next().map_err(|e| refused(e.to_string()))? {
            if out.len() == max_rows {
                truncated = true;
                break;
            }
            let values = (0..columns.len())
                .map(|i| match row.get_ref(i) {
                    Ok(ValueRef::Null) | Err(_) => serde_json::Value::Null,
                    Ok(ValueRef::Integer(n)) => n.into(),
                    Ok(ValueRef::Real(x)) => x.into(),
                    Ok(ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned().into(),
                    Ok(ValueRef::Blob(b)) => b
                        .iter()
                        .map(|x| format!("{x:02x}"))
                        .collect::<String>()
                        .into(),
                })
                .collect();
            out.push(values);
        }
        Ok(SqlAnswer {
            columns,
            rows: out,
            truncated,
        })
    })();
    // The connection goes back to the pool: drop the time limit.
    conn.progress_handler(0, None::<fn() -> bool>)
        .context("remove the query time limit")?;
    result
}
