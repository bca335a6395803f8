//! Augur's tables in ClickHouse (18.16 and newer: MergeTree family only, no
//! `LowCardinality`, no TTL), created if missing.
//!
//! Every table is a `ReplacingMergeTree`, so writing the same row twice is
//! harmless: queries either read `FINAL` (samples) or collapse duplicates
//! themselves (`any`, `argMax`, `DISTINCT`). Samples are partitioned by day,
//! so retention can drop whole partitions.
//!
//! `service_samples` holds settled minute windows summed per service, one
//! set of rows per settle `generation`; `settles` records each settle's
//! start (`done = 0`) and end (`done = 1`), and `windows` every window an
//! ingest wrote with the newest settle it saw started (`seen`) and when
//! (`written`). See `settle.rs` for how the three keep every window counted
//! once.
//!
//! `symbol_writes` has a row per symbols write (a node's `writer` id and
//! its `seq` number there, when, and the frames it changes), written before
//! the write's `symbols` rows, so that query nodes know which of the
//! symbols they keep in memory to drop (`read_cache.rs`).

use super::client::{Client, quote};
use crate::error::StorageError;

/// `(name, columns and engine, sharding key)`.
const TABLES: &[(&str, &str, &str)] = &[
    (
        "samples",
        "(service String, labels String, profile_type String, window_start Int64,
          stack_id UInt64, period UInt64, batch_id String, count UInt64)
         ENGINE = ReplacingMergeTree()
         PARTITION BY intDiv(window_start, 86400000000000)
         ORDER BY (service, profile_type, window_start, labels, stack_id, period, batch_id)",
        "cityHash64(batch_id)",
    ),
    (
        "samples_hourly",
        "(service String, labels String, profile_type String, window_start Int64,
          stack_id UInt64, period UInt64, generation UInt64, count UInt64)
         ENGINE = ReplacingMergeTree()
         PARTITION BY intDiv(window_start, 86400000000000)
         ORDER BY (service, profile_type, window_start, labels, stack_id, period, generation)",
        "cityHash64(service, labels, stack_id)",
    ),
    (
        "service_samples",
        "(service String, profile_type String, window_start Int64, stack_id UInt64,
          period UInt64, generation UInt64, count UInt64)
         ENGINE = ReplacingMergeTree()
         PARTITION BY intDiv(window_start, 86400000000000)
         ORDER BY (service, profile_type, window_start, generation, stack_id, period)",
        "cityHash64(service, stack_id)",
    ),
    (
        "service_samples_hourly",
        "(service String, profile_type String, window_start Int64, stack_id UInt64,
          period UInt64, generation UInt64, count UInt64)
         ENGINE = ReplacingMergeTree()
         PARTITION BY intDiv(window_start, 86400000000000)
         ORDER BY (service, profile_type, window_start, stack_id, period, generation)",
        "cityHash64(service, stack_id)",
    ),
    (
        "windows",
        "(window_start Int64, seen UInt64, written Int64)
         ENGINE = ReplacingMergeTree()
         PARTITION BY intDiv(window_start, 86400000000000)
         ORDER BY (window_start, seen, written)",
        "cityHash64(window_start)",
    ),
    (
        "settles",
        "(window_start Int64, generation UInt64, done UInt8)
         ENGINE = ReplacingMergeTree()
         PARTITION BY intDiv(window_start, 86400000000000)
         ORDER BY (window_start, generation, done)",
        "cityHash64(window_start)",
    ),
    (
        "rollups",
        "(day Int64, generation UInt64)
         ENGINE = ReplacingMergeTree() ORDER BY (day, generation)",
        "day",
    ),
    (
        "stacks",
        "(stack_id UInt64, frame_ids Array(UInt64))
         ENGINE = ReplacingMergeTree() ORDER BY stack_id",
        "stack_id",
    ),
    (
        "frames",
        "(frame_id UInt64, kind UInt8, build_id String, file_offset UInt64,
          name String, module String)
         ENGINE = ReplacingMergeTree() ORDER BY frame_id",
        "frame_id",
    ),
    (
        "symbols",
        "(frame_id UInt64, version UInt64, status UInt8, reason String,
          functions Array(String), files Array(String), lines Array(UInt32))
         ENGINE = ReplacingMergeTree(version) ORDER BY frame_id",
        "frame_id",
    ),
    (
        "symbol_writes",
        "(writer UInt64, seq UInt64, written Int64, frame_ids Array(UInt64))
         ENGINE = ReplacingMergeTree() ORDER BY (writer, seq)",
        "writer",
    ),
    (
        "binary_paths",
        "(build_id String, path String, first_seen Int64)
         ENGINE = ReplacingMergeTree() ORDER BY (build_id, path)",
        "cityHash64(build_id)",
    ),
    (
        "batches",
        "(batch_id String, received Int64)
         ENGINE = ReplacingMergeTree() ORDER BY batch_id",
        "cityHash64(batch_id)",
    ),
    (
        "debuginfo",
        "(build_id String, chunk UInt32, data String)
         ENGINE = ReplacingMergeTree() ORDER BY (build_id, chunk)",
        "cityHash64(build_id)",
    ),
    (
        "profile_types",
        "(name String, unit String)
         ENGINE = ReplacingMergeTree() ORDER BY name",
        "cityHash64(name)",
    ),
];

/// Creates the database and tables on the server behind `client`: plain
/// tables, or with `cluster`, `*_local` tables plus `Distributed` ones.
pub(super) fn create(client: &Client, db: &str, cluster: Option<&str>) -> Result<(), StorageError> {
    check_name(db)?;
    client.execute(
        "create the database",
        &format!("CREATE DATABASE IF NOT EXISTS {db}"),
    )?;
    for (name, body, sharding) in TABLES {
        match cluster {
            None => client.execute(
                "create a table",
                &format!("CREATE TABLE IF NOT EXISTS {db}.{name} {body}"),
            )?,
            Some(cluster) => {
                check_name(cluster)?;
                client.execute(
                    "create a local table",
                    &format!("CREATE TABLE IF NOT EXISTS {db}.{name}_local {body}"),
                )?;
                client.execute(
                    "create a distributed table",
                    &format!(
                        "CREATE TABLE IF NOT EXISTS {db}.{name} AS {db}.{name}_local
                         ENGINE = Distributed({cluster}, {db}, {name}_local, {sharding})"
                    ),
                )?;
            }
        }
    }
    Ok(())
}

/// Creates the SQL views on the server behind `client`; on a cluster, after
/// every shard has its tables (a view's scalar subqueries reach them all).
pub(super) fn create_views(client: &Client, db: &str) -> Result<(), StorageError> {
    // Views made before a column was added are made again (SQLite's
    // migrations do the same): `sql_binaries.kind` came with file ids,
    // `sql_frames.inlined` with runtime frames (whose kinds and columns the
    // view spells out).
    const ADDED_COLUMNS: &[(&str, &str)] = &[("sql_binaries", "kind"), ("sql_frames", "inlined")];
    for &(name, column) in ADDED_COLUMNS {
        let rows: Vec<serde_json::Value> = client.select(
            "look for an outdated view",
            &format!(
                "SELECT toString(count()) AS n FROM system.tables
                 WHERE database = {db_text} AND name = '{name}'
                   AND (SELECT count() FROM system.columns
                        WHERE database = {db_text} AND table = '{name}' AND name = '{column}') = 0",
                db_text = quote(db),
            ),
        )?;
        if rows.first().and_then(|row| row["n"].as_str()) == Some("1") {
            client.execute(
                "drop an outdated view",
                &format!("DROP TABLE IF EXISTS {db}.{name}"),
            )?;
        }
    }
    for (name, body) in VIEWS {
        client.execute(
            "create a view",
            &format!(
                "CREATE VIEW IF NOT EXISTS {db}.{name} AS {}",
                body.replace("{watermark}", &watermark(db))
                    .replace("{db}", db)
            ),
        )?;
    }
    Ok(())
}

/// The first instant whose minute windows are not rolled up, as a scalar
/// subquery: the day after the last rolled-up day, or the earliest time.
pub(super) fn watermark(db: &str) -> String {
    format!(
        "(SELECT if(count() = 0, toInt64(-9223372036854775808), (max(day) + 1) * 86400000000000) FROM {db}.rollups)"
    )
}

/// The documented SQL views (`docs/sql.md`): the same names and columns as
/// on SQLite. `{db}` is the database.
const VIEWS: &[(&str, &str)] = &[
    (
        "sql_samples",
        "SELECT service, labels, profile_type, window_start, resolution, stack_id, leaf_frame_id,
                period, count, count * period AS value
         FROM (SELECT service, labels, profile_type, window_start, stack_id, period, count,
                      'minute' AS resolution
               FROM {db}.samples FINAL WHERE window_start >= {watermark}
               UNION ALL
               SELECT service, labels, profile_type, window_start, stack_id, period, count,
                      'hour' AS resolution
               FROM {db}.samples_hourly FINAL WHERE window_start < {watermark})
         ANY LEFT JOIN (SELECT stack_id, any(frame_ids)[1] AS leaf_frame_id
                        FROM {db}.stacks GROUP BY stack_id)
         USING stack_id",
    ),
    (
        "sql_service_samples",
        "SELECT service, profile_type, window_start, resolution, stack_id, leaf_frame_id,
                period, count, value
         FROM {db}.sql_samples",
    ),
    (
        "sql_frames",
        "SELECT frame_id,
                multiIf(k = 0, 'user', k = 1, 'kernel', k = 2, 'unknown',
                        k = 4, multiIf(bitAnd(bitShiftRight(off, 32), 255) = 1, 'python',
                                       bitAnd(bitShiftRight(off, 32), 255) = 2, 'java',
                                       'runtime'),
                        'named') AS kind,
                bid AS build_id, if(k = 4, toUInt64(0), off) AS file_offset,
                if(length(fns) > 0, fns[1], if(k = 0, '', nm)) AS function,
                if(length(fis) > 0, fis[1], if(k = 4, md, '')) AS file,
                if(length(lis) > 0, lis[1],
                   if(k = 4, toUInt32(bitAnd(off, 4294967295)), toUInt32(0))) AS line,
                if(k = 4, '', md) AS module,
                if(k = 4, toUInt8(bitAnd(bitShiftRight(off, 40), 1)), toUInt8(0)) AS inlined
         FROM (SELECT frame_id, any(kind) AS k, any(build_id) AS bid,
                      any(file_offset) AS off, any(name) AS nm, any(module) AS md
               FROM {db}.frames GROUP BY frame_id)
         ANY LEFT JOIN (SELECT frame_id, argMax(functions, version) AS fns,
                               argMax(files, version) AS fis, argMax(lines, version) AS lis
                        FROM {db}.symbols GROUP BY frame_id)
         USING frame_id",
    ),
    (
        "sql_binaries",
        "SELECT build_id, argMin(path, first_seen) AS path,
                if(length(build_id) = 40 AND substring(build_id, 1, 8) = 'f11e1d00',
                   'content', 'build-id') AS kind
         FROM {db}.binary_paths GROUP BY build_id",
    ),
    (
        "sql_stack_frames",
        "SELECT stack_id, pos - 1 AS depth, frame_id
         FROM (SELECT stack_id, any(frame_ids) AS ids FROM {db}.stacks GROUP BY stack_id)
         ARRAY JOIN ids AS frame_id, arrayEnumerate(ids) AS pos",
    ),
];

/// Database and cluster names go into statements unquoted: keep them plain.
fn check_name(name: &str) -> Result<(), StorageError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StorageError::ClickHouse {
            operation: "create the schema",
            message: format!("{name:?} is not a plain identifier (letters, digits, _)"),
            transient: false,
        })
    }
}
