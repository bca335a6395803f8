//! The symbolizer's side of storage: which user frames still need names, and
//! recording what the symbolizer found.
//!
//! Every user frame has one `symbolization` row, created `pending` when the
//! frame is first stored. A failure keeps its reason and time, and the frame
//! comes back after the retry interval, so debug info that arrives later
//! still names old samples without re-ingesting them ("late naming").

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use augur_profile::{FileId, Symbol};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::schema::status;
use crate::api::{FrameSymbols, PendingFrame, Shard};
use crate::columns;
use crate::error::{Context, StorageError};

/// Longest failure reason kept, in bytes.
const MAX_REASON_LEN: usize = 512;
/// Reason recorded when a symbolizer reports success without any symbol.
const NO_SYMBOLS: &str = "no symbols found";

/// Up to `limit` frames that were never tried, then failed frames whose last
/// attempt is at least `retry_failed_after` old, oldest attempt first; only
/// frames of binaries in `shard`.
pub(crate) fn pending(
    conn: &mut Connection,
    retry_failed_after: Duration,
    limit: usize,
    now_unix_secs: i64,
    shard: Shard,
) -> Result<Vec<PendingFrame>, StorageError> {
    let (index, count) = (i64::from(shard.index), i64::from(shard.count.max(1)));
    let tx = conn.transaction().context("begin reading pending frames")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Rounded up: a frame is never retried before the full interval passed.
    let retry_secs = retry_failed_after
        .as_secs()
        .saturating_add(u64::from(retry_failed_after.subsec_nanos() > 0));
    let due = now_unix_secs.saturating_sub(i64::try_from(retry_secs).unwrap_or(i64::MAX));

    // Both halves walk the `symbolization_due` index in its order, so
    // neither sorts all pending frames to return the first few.
    let mut rows = Vec::new();
    if limit > 0 {
        select_frames(
            &tx,
            "WHERE z.status = ?1 AND z.attempted_unix_secs IS NULL
               AND f.binary_id % ?3 = ?4
             ORDER BY z.frame_id LIMIT ?2",
            params![status::PENDING, limit, count, index],
            &mut rows,
        )?;
    }
    let left = limit - rows.len() as i64;
    if left > 0 {
        select_frames(
            &tx,
            "WHERE z.status = ?1 AND z.attempted_unix_secs <= ?2
               AND f.binary_id % ?4 = ?5
             ORDER BY z.attempted_unix_secs, z.frame_id LIMIT ?3",
            params![status::FAILED, due, left, count, index],
            &mut rows,
        )?;
    }

    let paths = paths_of(&tx, rows.iter().map(|r| r.binary_id))?;
    rows.into_iter()
        .map(|row| {
            let build_id =
                FileId::from_bytes(&row.build_id).map_err(|e| StorageError::Corrupt {
                    what: format!("binary {}: {e}", row.binary_id),
                })?;
            Ok(PendingFrame {
                frame_id: row.frame_id,
                build_id,
                file_offset: columns::offset_from_sql(row.file_offset),
                paths: paths.get(&row.binary_id).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

struct PendingRow {
    frame_id: i64,
    binary_id: i64,
    build_id: Vec<u8>,
    file_offset: i64,
}

fn select_frames(
    tx: &Transaction<'_>,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
    out: &mut Vec<PendingRow>,
) -> Result<(), StorageError> {
    let sql = format!(
        "SELECT z.frame_id, f.binary_id, b.build_id, f.file_offset
         FROM symbolization z
         JOIN frames f ON f.id = z.frame_id
         JOIN binaries b ON b.id = f.binary_id
         {filter}"
    );
    let mut stmt = tx
        .prepare_cached(&sql)
        .context("prepare the pending frames query")?;
    let rows = stmt
        .query_map(params, |r| {
            Ok(PendingRow {
                frame_id: r.get(0)?,
                binary_id: r.get(1)?,
                build_id: r.get(2)?,
                file_offset: r.get(3)?,
            })
        })
        .context("query pending frames")?;
    for row in rows {
        out.push(row.context("read a pending frame")?);
    }
    Ok(())
}

/// The recorded paths of each binary, first seen first, in one query.
pub(crate) fn paths_of(
    tx: &Transaction<'_>,
    binary_ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, Vec<String>>, StorageError> {
    let mut ids: Vec<i64> = binary_ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let mut paths: HashMap<i64, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(paths);
    }
    let ids = Rc::new(ids.into_iter().map(Value::Integer).collect::<Vec<_>>());
    let mut stmt = tx
        .prepare_cached(
            "SELECT binary_id, path FROM binary_paths WHERE binary_id IN rarray(?1) ORDER BY id",
        )
        .context("prepare the binary paths query")?;
    let rows = stmt
        .query_map([ids], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .context("query binary paths")?;
    for row in rows {
        let (binary_id, path) = row.context("read a binary path")?;
        paths.entry(binary_id).or_default().push(path);
    }
    Ok(paths)
}

/// Stores symbolization outcomes in one transaction. Results for ids that
/// are not stored user frames are skipped with a warning: one bad result
/// must not lose the others. A failure never erases symbols already known.
/// What [`record`] changed: the frames whose symbols it wrote, and the
/// symbols epoch their commit moved to (0, unread, when `changed` is
/// empty: the epoch did not move).
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub(crate) changed: Vec<i64>,
    pub(crate) epoch: i64,
}

pub(crate) fn record(
    conn: &mut Connection,
    results: &[FrameSymbols],
    now_unix_secs: i64,
) -> Result<Recorded, StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin recording symbols")?;
    let mut recorded = Recorded::default();
    {
        let mut status_of = tx
            .prepare_cached("SELECT status FROM symbolization WHERE frame_id = ?1")
            .context("prepare the symbolization lookup")?;
        let mut skipped = 0usize;
        for result in results {
            let current: Option<i64> = status_of
                .query_row([result.frame_id], |r| r.get(0))
                .optional()
                .context("look up a frame's symbolization")?;
            let Some(current) = current else {
                skipped += 1;
                continue;
            };
            match &result.outcome {
                Ok(symbols) if !symbols.is_empty() => {
                    store_symbols(&tx, result.frame_id, symbols, now_unix_secs)?;
                    recorded.changed.push(result.frame_id);
                }
                // A late or racing failure must not hide names found before
                // (also of a frame queued again when new debug info came).
                _ if current == status::SYMBOLIZED || has_symbols(&tx, result.frame_id)? => {
                    if current != status::SYMBOLIZED {
                        mark_symbolized(&tx, result.frame_id, now_unix_secs)?;
                    }
                }
                Ok(_) => store_failure(&tx, result.frame_id, NO_SYMBOLS, now_unix_secs)?,
                Err(reason) => store_failure(&tx, result.frame_id, reason, now_unix_secs)?,
            }
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "symbols for frames that are not stored user frames"
            );
        }
        if !recorded.changed.is_empty() {
            recorded.epoch = tx
                .prepare_cached("UPDATE symbols_epoch SET epoch = epoch + 1 RETURNING epoch")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .context("advance the symbols epoch")?;
        }
    }
    tx.commit().context("commit symbols")?;
    Ok(recorded)
}

/// The symbols epoch as the transaction sees it (see schema version 7).
pub(crate) fn symbols_epoch(tx: &Transaction<'_>) -> Result<i64, StorageError> {
    tx.prepare_cached("SELECT epoch FROM symbols_epoch WHERE id = 0")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .context("read the symbols epoch")
}

fn has_symbols(tx: &Transaction<'_>, frame_id: i64) -> Result<bool, StorageError> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM symbols WHERE frame_id = ?1)")
        .and_then(|mut s| s.query_row([frame_id], |r| r.get(0)))
        .context("look up a frame's symbols")
}

fn mark_symbolized(
    tx: &Transaction<'_>,
    frame_id: i64,
    now_unix_secs: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "UPDATE symbolization SET status = ?2, reason = NULL, attempted_unix_secs = ?3
         WHERE frame_id = ?1",
    )
    .and_then(|mut s| s.execute(params![frame_id, status::SYMBOLIZED, now_unix_secs]))
    .context("mark a frame symbolized")?;
    Ok(())
}

/// Queues every user frame of `build_id` for symbolization again, at once:
/// better debug info for it has arrived. Symbols already known stay until
/// better ones replace them. Returns the frames queued.
pub(crate) fn requeue_binary(
    conn: &mut Connection,
    build_id: &FileId,
) -> Result<usize, StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin queueing a binary's frames")?;
    let queued = tx
        .execute(
            "UPDATE symbolization SET status = ?1, attempted_unix_secs = NULL
             WHERE frame_id IN (
                 SELECT f.id FROM frames f JOIN binaries b ON b.id = f.binary_id
                 WHERE b.build_id = ?2)",
            params![status::PENDING, build_id.as_bytes()],
        )
        .context("queue a binary's frames")?;
    tx.commit().context("commit queueing a binary's frames")?;
    Ok(queued)
}

fn store_symbols(
    tx: &Transaction<'_>,
    frame_id: i64,
    symbols: &[Symbol],
    now_unix_secs: i64,
) -> Result<(), StorageError> {
    // A shorter chain than before must not leave stale deeper entries.
    tx.prepare_cached("DELETE FROM symbols WHERE frame_id = ?1")
        .and_then(|mut s| s.execute([frame_id]))
        .context("replace a frame's symbols")?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO symbols (frame_id, depth, function, file, line)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .context("prepare the symbol insert")?;
    for (depth, symbol) in symbols.iter().enumerate() {
        insert
            .execute(params![
                frame_id,
                depth as i64,
                symbol.function,
                symbol.file,
                symbol.line
            ])
            .context("insert a symbol")?;
    }
    tx.prepare_cached(
        "UPDATE symbolization SET status = ?2, reason = NULL, attempted_unix_secs = ?3
         WHERE frame_id = ?1",
    )
    .and_then(|mut s| s.execute(params![frame_id, status::SYMBOLIZED, now_unix_secs]))
    .context("mark a frame symbolized")?;
    Ok(())
}

fn store_failure(
    tx: &Transaction<'_>,
    frame_id: i64,
    reason: &str,
    now_unix_secs: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "UPDATE symbolization SET status = ?2, reason = ?3, attempted_unix_secs = ?4
         WHERE frame_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            frame_id,
            status::FAILED,
            truncate(reason, MAX_REASON_LEN),
            now_unix_secs
        ])
    })
    .context("record a symbolization failure")?;
    Ok(())
}

/// The longest prefix of `text` within `max` bytes, cut at a char boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Loads the inline chains of the given frames, innermost first, in one
/// query, in frame order. Frames without symbols are absent.
pub(crate) fn symbols_of(
    tx: &Transaction<'_>,
    frame_ids: Rc<Vec<Value>>,
) -> Result<Vec<(i64, Vec<Symbol>)>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT frame_id, function, file, line FROM symbols
             WHERE frame_id IN rarray(?1) ORDER BY frame_id, depth",
        )
        .context("prepare the symbols query")?;
    let rows = stmt
        .query_map([frame_ids], |r| {
            let line: Option<i64> = r.get(3)?;
            Ok((
                r.get::<_, i64>(0)?,
                Symbol {
                    function: r.get(1)?,
                    file: r.get(2)?,
                    line: line.and_then(|l| u32::try_from(l).ok()),
                },
            ))
        })
        .context("query symbols")?;
    let mut symbols: Vec<(i64, Vec<Symbol>)> = Vec::new();
    for row in rows {
        let (frame_id, symbol) = row.context("read a symbol")?;
        match symbols.last_mut() {
            Some((last, chain)) if *last == frame_id => chain.push(symbol),
            _ => symbols.push((frame_id, vec![symbol])),
        }
    }
    Ok(symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requeued_frames_keep_their_symbols_through_a_failed_retry() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::schema::open_writer(&dir.path().join("a.db")).unwrap();
        rusqlite::vtab::array::load_module(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO binaries (id, build_id) VALUES (1, x'0102'), (2, x'0304');
             INSERT INTO frames (id, kind, binary_id, file_offset, name, module)
             VALUES (1, 0, 1, 16, '', ''), (2, 0, 2, 32, '', '');
             INSERT INTO symbolization (frame_id, status) VALUES (1, 0), (2, 0);",
        )
        .unwrap();
        let sym = |f: &str| Symbol {
            function: f.into(),
            file: None,
            line: None,
        };
        record(
            &mut conn,
            &[
                FrameSymbols {
                    frame_id: 1,
                    outcome: Ok(vec![sym("weak_name")]),
                },
                FrameSymbols {
                    frame_id: 2,
                    outcome: Err("no debug info".into()),
                },
            ],
            100,
        )
        .unwrap();
        let id = FileId::from_bytes(&[1, 2]).unwrap();
        assert_eq!(requeue_binary(&mut conn, &id).unwrap(), 1);
        let all = Shard::ALL;
        let due = pending(&mut conn, Duration::from_secs(3600), 10, 100, all).unwrap();
        assert_eq!(due.iter().map(|f| f.frame_id).collect::<Vec<_>>(), [1]);
        // Shards split by binary: frame 1's binary is in shard 1 of 2.
        let shard = |index| Shard { index, count: 2 };
        assert_eq!(
            pending(&mut conn, Duration::ZERO, 10, 100, shard(1))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            pending(&mut conn, Duration::ZERO, 10, 100, shard(0))
                .unwrap()
                .iter()
                .map(|f| f.frame_id)
                .collect::<Vec<_>>(),
            [2]
        );
        // The retry fails: the old name stays and the frame is not pending.
        record(
            &mut conn,
            &[FrameSymbols {
                frame_id: 1,
                outcome: Err("read error".into()),
            }],
            101,
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        let names = symbols_of(&tx, Rc::new(vec![Value::Integer(1)])).unwrap();
        assert_eq!(names, vec![(1, vec![sym("weak_name")])]);
        drop(tx);
        assert!(
            pending(&mut conn, Duration::from_secs(3600), 10, 200, all)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 0), "");
    }
}
