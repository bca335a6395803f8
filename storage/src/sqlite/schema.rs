//! The SQLite schema, its migrations, and how connections are configured.
//!
//! Everything is interned: a sample row points at a stack, a stack is the id
//! of its leaf in a prefix tree of frames, and a frame is stored once however
//! many stacks use it. Symbols live beside frames, keyed by frame id, so a
//! frame symbolized late names every old sample that uses it.
//!
//! `PRAGMA user_version` holds the schema version; [`MIGRATIONS`] are applied
//! in order, each file moving forward from the version it has.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Context, StorageError};

/// Page cache of the writer connection, in KiB (SQLite's unit when negative).
const WRITER_CACHE_KIB: i64 = 64 << 10;

/// How long a statement waits for another connection's lock before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema version 1.
///
/// Frames use non-null sentinels (`0`, `''`) for the columns their kind does
/// not use, because SQLite treats NULLs as distinct in UNIQUE constraints.
/// Binary and frame ids start at 1, so `binary_id = 0` never joins, and stack
/// node 0 is the (implicit) root.
const V1: &str = "
CREATE TABLE services (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- One unit per profile type name, so merged values stay comparable.
CREATE TABLE profile_types (
    name TEXT PRIMARY KEY,
    unit TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE binaries (
    id       INTEGER PRIMARY KEY,
    build_id BLOB NOT NULL UNIQUE
);

-- Paths under which hosts reported a binary; the lowest id is the first seen.
CREATE TABLE binary_paths (
    id        INTEGER PRIMARY KEY,
    binary_id INTEGER NOT NULL REFERENCES binaries (id),
    path      TEXT NOT NULL,
    UNIQUE (binary_id, path)
);

-- kind 0 = user (binary_id, file_offset), 1 = kernel (name, module),
-- 2 = unknown (name = reason), 3 = named (name, module = origin; since
-- version 1), 4 = runtime (name = function, module = file, file_offset
-- packs line, runtime and inlined: see `kind::RUNTIME`; since version 9).
CREATE TABLE frames (
    id          INTEGER PRIMARY KEY,
    kind        INTEGER NOT NULL,
    binary_id   INTEGER NOT NULL,
    file_offset INTEGER NOT NULL,
    name        TEXT NOT NULL,
    module      TEXT NOT NULL,
    UNIQUE (kind, binary_id, file_offset, name, module)
);

-- Inline chain of a user frame, innermost first (depth 0).
CREATE TABLE symbols (
    frame_id INTEGER NOT NULL,
    depth    INTEGER NOT NULL,
    function TEXT NOT NULL,
    file     TEXT,
    line     INTEGER,
    PRIMARY KEY (frame_id, depth)
) WITHOUT ROWID;

-- One row per user frame: status 0 = pending, 1 = symbolized, 2 = failed.
CREATE TABLE symbolization (
    frame_id            INTEGER PRIMARY KEY,
    status              INTEGER NOT NULL,
    reason              TEXT,
    attempted_unix_secs INTEGER
);
CREATE INDEX symbolization_due ON symbolization (status, attempted_unix_secs);

-- A prefix tree of frames, interned root first; a stack is its leaf node.
CREATE TABLE stacks (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL,
    frame_id  INTEGER NOT NULL,
    UNIQUE (parent_id, frame_id)
);

-- period is part of the key so that windows sampled at different rates are
-- never added together as if they were the same unit of time.
CREATE TABLE samples (
    service_id   INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    stack_id     INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (service_id, profile_type, window_start, stack_id, period)
) WITHOUT ROWID;

CREATE TABLE batches (
    batch_id            TEXT PRIMARY KEY,
    received_unix_nanos INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Schema version 2: samples belong to a series, a service plus the labels
/// of the processes they came from (host, version, pod, ...), so profiles
/// can be filtered and compared by label. Version 1 data becomes one series
/// per service without labels, with the same ids.
const V2: &str = "
-- labels: canonical JSON object (keys sorted, no `service` key).
CREATE TABLE series (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services (id),
    labels     TEXT NOT NULL,
    UNIQUE (service_id, labels)
);
INSERT INTO series (id, service_id, labels) SELECT id, id, '{}' FROM services;

CREATE TABLE samples_v2 (
    series_id    INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    stack_id     INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (series_id, profile_type, window_start, stack_id, period)
) WITHOUT ROWID;
INSERT INTO samples_v2 (series_id, profile_type, window_start, stack_id, period, count)
SELECT service_id, profile_type, window_start, stack_id, period, count FROM samples;
DROP TABLE samples;
ALTER TABLE samples_v2 RENAME TO samples;
";

/// Schema version 3: the documented SQL views (`docs/sql.md`), the same
/// names and columns as on ClickHouse, for `augur sql`.
const V3: &str = "
CREATE VIEW sql_samples AS
SELECT sv.name AS service, se.labels AS labels, sa.profile_type AS profile_type,
       sa.window_start AS window_start, sa.stack_id AS stack_id,
       COALESCE(st.frame_id, 0) AS leaf_frame_id, sa.period AS period,
       sa.count AS count, sa.count * sa.period AS value
FROM samples sa
JOIN series se ON se.id = sa.series_id
JOIN services sv ON sv.id = se.service_id
LEFT JOIN stacks st ON st.id = sa.stack_id;

CREATE VIEW sql_frames AS
SELECT f.id AS frame_id,
       CASE f.kind WHEN 0 THEN 'user' WHEN 1 THEN 'kernel' WHEN 2 THEN 'unknown' ELSE 'named' END AS kind,
       COALESCE(lower(hex(b.build_id)), '') AS build_id,
       f.file_offset AS file_offset,
       COALESCE(s.function, CASE f.kind WHEN 0 THEN '' ELSE f.name END) AS function,
       COALESCE(s.file, '') AS file,
       COALESCE(s.line, 0) AS line,
       f.module AS module
FROM frames f
LEFT JOIN binaries b ON b.id = f.binary_id
LEFT JOIN symbols s ON s.frame_id = f.id AND s.depth = 0;

CREATE VIEW sql_stack_frames AS
WITH RECURSIVE walk(stack_id, node, depth) AS (
    SELECT id, id, 0 FROM stacks
    UNION ALL
    SELECT w.stack_id, s.parent_id, w.depth + 1
    FROM walk w JOIN stacks s ON s.id = w.node
    WHERE s.parent_id != 0
)
SELECT w.stack_id AS stack_id, w.depth AS depth, s.frame_id AS frame_id
FROM walk w JOIN stacks s ON s.id = w.node;
";

/// Schema version 4: hour windows. Minute windows past their retention are
/// rolled up into `samples_hourly` (same columns; `window_start` is the
/// hour's start) in the same transaction that deletes them, so a query sees
/// either the minutes or their hour, never both or a part. `all_samples`
/// reads both; `sql_samples` gains a `resolution` column.
const V4: &str = "
CREATE TABLE samples_hourly (
    series_id    INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    stack_id     INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (series_id, profile_type, window_start, stack_id, period)
) WITHOUT ROWID;

CREATE VIEW all_samples AS
SELECT series_id, profile_type, window_start, stack_id, period, count, 'minute' AS resolution
FROM samples
UNION ALL
SELECT series_id, profile_type, window_start, stack_id, period, count, 'hour' AS resolution
FROM samples_hourly;

DROP VIEW sql_samples;
CREATE VIEW sql_samples AS
SELECT sv.name AS service, se.labels AS labels, sa.profile_type AS profile_type,
       sa.window_start AS window_start, sa.resolution AS resolution, sa.stack_id AS stack_id,
       COALESCE(st.frame_id, 0) AS leaf_frame_id, sa.period AS period,
       sa.count AS count, sa.count * sa.period AS value
FROM all_samples sa
JOIN series se ON se.id = sa.series_id
JOIN services sv ON sv.id = se.service_id
LEFT JOIN stacks st ON st.id = sa.stack_id;
";

/// Schema version 5: the `sql_binaries` view (build-id to first path).
const V5: &str = "
CREATE VIEW sql_binaries AS
SELECT lower(hex(b.build_id)) AS build_id,
       COALESCE((SELECT p.path FROM binary_paths p WHERE p.binary_id = b.id
                 ORDER BY p.id LIMIT 1), '') AS path
FROM binaries b;
";

/// Schema version 6: per-service samples without labels. A fleet has one
/// series per host, so one service's hour is one row per host, window and
/// stack; a profile without label matchers (the flame graph most people
/// open) and the fleet reports read these tables instead, one row per
/// service, window and stack. Ingest adds to them in the same transaction as
/// to `samples`, after the batch id check, so a retried batch is counted
/// once in both; retention rolls and deletes them with their series rows.
/// The `*_by_time` indexes cover the fleet reports, which ask for every
/// service over a time range.
const V6: &str = "
CREATE TABLE service_samples (
    service_id   INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    stack_id     INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (service_id, profile_type, window_start, stack_id, period)
) WITHOUT ROWID;
CREATE TABLE service_samples_hourly (
    service_id   INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    stack_id     INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (service_id, profile_type, window_start, stack_id, period)
) WITHOUT ROWID;
INSERT INTO service_samples (service_id, profile_type, window_start, stack_id, period, count)
SELECT se.service_id, sa.profile_type, sa.window_start, sa.stack_id, sa.period, SUM(sa.count)
FROM samples sa JOIN series se ON se.id = sa.series_id
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO service_samples_hourly (service_id, profile_type, window_start, stack_id, period, count)
SELECT se.service_id, sa.profile_type, sa.window_start, sa.stack_id, sa.period, SUM(sa.count)
FROM samples_hourly sa JOIN series se ON se.id = sa.series_id
GROUP BY 1, 2, 3, 4, 5;
CREATE INDEX service_samples_by_time
    ON service_samples (profile_type, window_start, stack_id, service_id, period, count);
CREATE INDEX service_samples_hourly_by_time
    ON service_samples_hourly (profile_type, window_start, stack_id, service_id, period, count);

CREATE VIEW all_service_samples AS
SELECT service_id, profile_type, window_start, stack_id, period, count, 'minute' AS resolution
FROM service_samples
UNION ALL
SELECT service_id, profile_type, window_start, stack_id, period, count, 'hour' AS resolution
FROM service_samples_hourly;

CREATE VIEW sql_service_samples AS
SELECT sv.name AS service, sa.profile_type AS profile_type,
       sa.window_start AS window_start, sa.resolution AS resolution, sa.stack_id AS stack_id,
       COALESCE(st.frame_id, 0) AS leaf_frame_id, sa.period AS period,
       sa.count AS count, sa.count * sa.period AS value
FROM all_service_samples sa
JOIN services sv ON sv.id = sa.service_id
LEFT JOIN stacks st ON st.id = sa.stack_id;
";

/// Schema version 7: a counter of symbol changes. Every transaction that
/// writes or replaces a frame's symbols adds one, so a process that keeps
/// symbols in memory (the read cache) can tell whether any writer, in this
/// process or another, changed them since it last looked.
const V7: &str = "
CREATE TABLE symbols_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    epoch INTEGER NOT NULL
);
INSERT INTO symbols_epoch (id, epoch) VALUES (0, 0);
";

/// Schema version 8: file ids. `binaries.build_id` holds the file id of
/// every binary: its GNU build-id, or for a file without one a content id
/// (`augur_profile::FileId`: 20 bytes starting `f11e1d00`). The rows need
/// no rewrite; `sql_binaries` gains a `kind` column telling them apart.
const V8: &str = "
DROP VIEW sql_binaries;
CREATE VIEW sql_binaries AS
SELECT lower(hex(b.build_id)) AS build_id,
       COALESCE((SELECT p.path FROM binary_paths p WHERE p.binary_id = b.id
                 ORDER BY p.id LIMIT 1), '') AS path,
       CASE WHEN length(b.build_id) = 20 AND substr(b.build_id, 1, 4) = x'f11e1d00'
            THEN 'content' ELSE 'build-id' END AS kind
FROM binaries b;
";

/// Schema version 9: runtime frames (Python, Java; `frames.kind` 4, no new
/// table or column). `sql_frames` shows them as kind `python` or `java`
/// with their function, file and line, and gains `inlined`.
const V9: &str = "
DROP VIEW sql_frames;
CREATE VIEW sql_frames AS
SELECT f.id AS frame_id,
       CASE f.kind WHEN 0 THEN 'user' WHEN 1 THEN 'kernel' WHEN 2 THEN 'unknown'
                   WHEN 4 THEN CASE (f.file_offset >> 32) & 255
                                    WHEN 1 THEN 'python' WHEN 2 THEN 'java' ELSE 'runtime' END
                   ELSE 'named' END AS kind,
       COALESCE(lower(hex(b.build_id)), '') AS build_id,
       CASE f.kind WHEN 4 THEN 0 ELSE f.file_offset END AS file_offset,
       COALESCE(s.function, CASE f.kind WHEN 0 THEN '' ELSE f.name END) AS function,
       COALESCE(s.file, CASE f.kind WHEN 4 THEN f.module ELSE '' END) AS file,
       COALESCE(s.line, CASE f.kind WHEN 4 THEN f.file_offset & 4294967295 ELSE 0 END) AS line,
       CASE f.kind WHEN 4 THEN '' ELSE f.module END AS module,
       CASE f.kind WHEN 4 THEN (f.file_offset >> 40) & 1 ELSE 0 END AS inlined
FROM frames f
LEFT JOIN binaries b ON b.id = f.binary_id
LEFT JOIN symbols s ON s.frame_id = f.id AND s.depth = 0;
";

/// Schema version 10: open-ended profile types and gauges. A gauge type
/// (in-use memory, goroutines: `augur_profile::types::aggregation`) keeps,
/// per series and window, how many snapshots were added into its sample
/// rows; a read divides by it, so a window is the mean of its snapshots and
/// two pushes of one heap never double it. Rollups add snapshots as they add
/// counts, so an hour is the mean of its minutes' snapshots. `sql_frames`
/// names the runtimes added with the Pyroscope SDKs.
const V10: &str = "
CREATE TABLE gauge_snapshots (
    series_id    INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    snapshots    INTEGER NOT NULL,
    PRIMARY KEY (series_id, profile_type, window_start)
) WITHOUT ROWID;
CREATE TABLE gauge_snapshots_hourly (
    series_id    INTEGER NOT NULL,
    profile_type TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    snapshots    INTEGER NOT NULL,
    PRIMARY KEY (series_id, profile_type, window_start)
) WITHOUT ROWID;
DROP VIEW sql_frames;
CREATE VIEW sql_frames AS
SELECT f.id AS frame_id,
       CASE f.kind WHEN 0 THEN 'user' WHEN 1 THEN 'kernel' WHEN 2 THEN 'unknown'
                   WHEN 4 THEN CASE (f.file_offset >> 32) & 255
                                    WHEN 1 THEN 'python' WHEN 2 THEN 'java' WHEN 3 THEN 'go'
                                    WHEN 4 THEN 'node' WHEN 5 THEN 'ruby' WHEN 6 THEN 'dotnet'
                                    ELSE 'runtime' END
                   ELSE 'named' END AS kind,
       COALESCE(lower(hex(b.build_id)), '') AS build_id,
       CASE f.kind WHEN 4 THEN 0 ELSE f.file_offset END AS file_offset,
       COALESCE(s.function, CASE f.kind WHEN 0 THEN '' ELSE f.name END) AS function,
       COALESCE(s.file, CASE f.kind WHEN 4 THEN f.module ELSE '' END) AS file,
       COALESCE(s.line, CASE f.kind WHEN 4 THEN f.file_offset & 4294967295 ELSE 0 END) AS line,
       CASE f.kind WHEN 4 THEN '' ELSE f.module END AS module,
       CASE f.kind WHEN 4 THEN (f.file_offset >> 40) & 1 ELSE 0 END AS inlined
FROM frames f
LEFT JOIN binaries b ON b.id = f.binary_id
LEFT JOIN symbols s ON s.frame_id = f.id AND s.depth = 0;
";

/// Migrations in order; entry `i` moves a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10];

/// `symbolization.status` values.
pub(crate) mod status {
    pub(crate) const PENDING: i64 = 0;
    pub(crate) const SYMBOLIZED: i64 = 1;
    pub(crate) const FAILED: i64 = 2;
}

/// Opens the writer connection, creating the file and schema if missing.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StorageError> {
    let open_err = |source| StorageError::Open {
        path: path.to_owned(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // In-memory and some network file systems cannot do WAL; readers
        // then wait for the writer instead of running beside it.
        tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
    }
    // FULL: a batch acknowledged to an agent survives a power cut, which
    // NORMAL does not promise in WAL mode.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    // Each batch lands in its own series' pages all over the samples table;
    // with SQLite's default 2 MiB the writer rereads and reallocates pages
    // it had a moment ago.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens a connection for queries. It never writes, so a bug cannot make a
/// reader race the writer.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let open_err = |source| StorageError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(open_err)?;
    rusqlite::vtab::array::load_module(&conn).map_err(open_err)?;
    Ok(conn)
}

/// Brings the schema of `conn` to the newest version, in one transaction.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StorageError> {
    let supported = MIGRATIONS.len() as i64;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin the schema migration")?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("read the schema version")?;
    let from = match usize::try_from(found) {
        Ok(from) if from <= MIGRATIONS.len() => from,
        _ => {
            return Err(StorageError::UnsupportedSchema {
                path: path.to_owned(),
                found,
                supported,
            });
        }
    };
    if from == MIGRATIONS.len() {
        return Ok(());
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql).context("migrate the schema")?;
        tracing::info!(path = %path.display(), version = version + 1, "migrated database schema");
    }
    tx.pragma_update(None, "user_version", supported)
        .context("write the schema version")?;
    tx.commit().context("commit the schema migration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_files_migrate_to_one_unlabelled_series_per_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO services (id, name) VALUES (7, 'api');
                 INSERT INTO samples VALUES (7, 'cpu', 0, 0, 10, 42), (7, 'cpu', 60, 0, 10, 8);",
            )
            .unwrap();
        }
        let conn = open_writer(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let (series, service, labels): (i64, i64, String) = conn
            .query_row("SELECT id, service_id, labels FROM series", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((series, service, labels.as_str()), (7, 7, "{}"));
        let total: i64 = conn
            .query_row(
                "SELECT SUM(count) FROM samples WHERE series_id = 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(total, 50);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("augur.db");
        drop(open_writer(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = open_writer(&path).unwrap_err();
        assert!(
            matches!(err, StorageError::UnsupportedSchema { found: 99, .. }),
            "{err}"
        );
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("augur.db");
        drop(open_writer(&path).unwrap());
        let conn = open_writer(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
