//! The write path: batches encoded into rows, queued, and inserted by
//! group commit, the batch rows last so that one means "all of it is
//! stored".

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use augur_profile::FileId;
use serde::Deserialize;

use super::client::quote;
use super::ids::{frame_id, stack_id};
use super::rows::{FrameRow, Queued, SampleRow, StackRow, json_line};
use super::store::ClickHouseStore;
use crate::api::{BatchWrite, WriteOutcome, labels_text, validate};
use crate::columns::FrameColumns;
use crate::error::StorageError;

/// Sample rows (JSON) per INSERT of a group flush, about.
const FLUSH_BYTES: usize = 64 << 20;

/// Frame and stack ids remembered as written, per process; cleared past it.
const MAX_KNOWN_IDS: usize = 1 << 20;

/// The same error for every batch of a failed flush.
fn shared_error(error: &StorageError) -> StorageError {
    match error {
        StorageError::ClickHouse {
            operation,
            message,
            transient,
        } => StorageError::ClickHouse {
            operation,
            message: message.clone(),
            transient: *transient,
        },
        other => StorageError::ClickHouse {
            operation: "store a group of batches",
            message: other.to_string(),
            transient: other.is_transient(),
        },
    }
}

impl ClickHouseStore {
    /// Stores `batches`, each exactly once, and answers for each in order.
    ///
    /// Group commit: every caller encodes its rows and queues them; whoever
    /// holds the flush lock next inserts everything queued so far as one
    /// block per table (frames, stacks, paths, samples, then the batch rows
    /// last), so concurrent writers share a few large INSERTs instead of
    /// five small ones each, which ClickHouse would turn into a part each.
    /// A caller returns once the flush that carried its rows succeeded (or
    /// with that flush's error), so an answer still means durable.
    pub(super) fn write_group(
        &self,
        batches: &[&BatchWrite],
    ) -> Vec<Result<WriteOutcome, StorageError>> {
        let mut answers: Vec<Result<WriteOutcome, StorageError>> =
            Vec::with_capacity(batches.len());
        let mut waiting = Vec::new();
        for batch in batches {
            match self.encode(batch) {
                Ok(queued) => {
                    waiting.push((answers.len(), queued.answer.clone()));
                    answers.push(Ok(WriteOutcome::Duplicate));
                    self.queue
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(queued);
                }
                Err(error) => answers.push(Err(error)),
            }
        }
        if waiting.is_empty() {
            return answers;
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let taken = |slot: &Mutex<Option<Result<WriteOutcome, StorageError>>>| {
            slot.lock().unwrap_or_else(|p| p.into_inner()).take()
        };
        if waiting
            .iter()
            .any(|(_, slot)| slot.lock().unwrap_or_else(|p| p.into_inner()).is_none())
        {
            let group = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            self.flush(group);
        }
        for (i, slot) in waiting {
            answers[i] = taken(&slot).unwrap_or_else(|| {
                Err(StorageError::ClickHouse {
                    operation: "store a batch",
                    message: "the batch was not flushed".into(),
                    transient: true,
                })
            });
        }
        answers
    }

    /// Checks a batch and encodes its rows for the group queue.
    pub(super) fn encode(&self, batch: &BatchWrite) -> Result<Queued, StorageError> {
        validate(batch)?;
        for window in &batch.windows {
            if window.stacks.iter().any(|(_, c)| *c > 0) {
                self.check_unit(&window.profile_type)?;
            }
        }
        let mut frames = Vec::new();
        let mut stacks = Vec::new();
        let mut samples = Vec::new();
        let mut windows = BTreeSet::new();
        let mut total = 0u64;
        {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let mut batch_ids: HashSet<u64> = HashSet::new();
            for window in &batch.windows {
                let labels = labels_text(&window.labels);
                for (stack, count) in &window.stacks {
                    if *count == 0 {
                        continue;
                    }
                    let ids: Vec<u64> = stack.iter().map(frame_id).collect();
                    for (frame, &id) in stack.iter().zip(&ids) {
                        if !known.contains(&id) && batch_ids.insert(id) {
                            let c = FrameColumns::of(frame);
                            let mut line = Vec::new();
                            json_line(
                                &FrameRow {
                                    frame_id: id,
                                    kind: c.kind,
                                    build_id: c.build_id.map(FileId::to_hex).unwrap_or_default(),
                                    file_offset: c.file_offset as u64,
                                    name: c.name,
                                    module: c.module,
                                },
                                &mut line,
                            );
                            frames.push((id, line));
                        }
                    }
                    let sid = stack_id(&ids);
                    if !known.contains(&sid) && batch_ids.insert(sid) {
                        let mut line = Vec::new();
                        json_line(
                            &StackRow {
                                stack_id: sid,
                                frame_ids: &ids,
                            },
                            &mut line,
                        );
                        stacks.push((sid, line));
                    }
                    json_line(
                        &SampleRow {
                            service: &window.service,
                            labels: &labels,
                            profile_type: &window.profile_type.name,
                            window_start: window.window_start_unix_nanos,
                            stack_id: sid,
                            period: window.period,
                            batch_id: &batch.batch_id,
                            count: *count,
                        },
                        &mut samples,
                    );
                    total = total.saturating_add(*count);
                    windows.insert(window.window_start_unix_nanos);
                }
            }
        }
        let mut paths = Vec::new();
        for (id, path) in &batch.binaries {
            json_line(
                &serde_json::json!({
                    "build_id": id.to_hex(),
                    "path": path,
                    "first_seen": batch.received_unix_nanos,
                }),
                &mut paths,
            );
        }
        let mut batch_row = Vec::new();
        json_line(
            &serde_json::json!({
                "batch_id": batch.batch_id,
                "received": batch.received_unix_nanos,
            }),
            &mut batch_row,
        );
        Ok(Queued {
            batch_id: batch.batch_id.clone(),
            frames,
            stacks,
            paths,
            samples,
            windows,
            batch_row,
            total,
            answer: Arc::new(Mutex::new(None)),
        })
    }

    /// Writes a group of queued batches and leaves each one's answer.
    pub(super) fn flush(&self, group: Vec<Queued>) {
        if group.is_empty() {
            return;
        }
        let answer = |q: &Queued, result: Result<WriteOutcome, StorageError>| {
            *q.answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        };
        #[derive(Deserialize)]
        struct Seen {
            batch_id: String,
        }
        let ids: BTreeSet<&str> = group.iter().map(|q| q.batch_id.as_str()).collect();
        let seen = self.client.select::<Seen>(
            "look up batch ids",
            &format!(
                "SELECT DISTINCT batch_id FROM {} WHERE batch_id IN ({})",
                self.table("batches"),
                ids.iter()
                    .map(|id| quote(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let seen: HashSet<String> = match seen {
            Ok(rows) => rows.into_iter().map(|r| r.batch_id).collect(),
            Err(error) => {
                for q in &group {
                    answer(q, Err(shared_error(&error)));
                }
                return;
            }
        };
        // A batch stored before, or twice in this group, is a duplicate.
        let mut fresh: Vec<&Queued> = Vec::new();
        let mut in_group: HashSet<&str> = HashSet::new();
        for q in &group {
            if seen.contains(&q.batch_id) || !in_group.insert(&q.batch_id) {
                answer(q, Ok(WriteOutcome::Duplicate));
            } else {
                fresh.push(q);
            }
        }
        // Blocks of at most about FLUSH_BYTES of sample rows each.
        let mut chunk: Vec<&Queued> = Vec::new();
        let mut bytes = 0;
        let mut failed: Option<StorageError> = None;
        for q in fresh {
            if let Some(error) = &failed {
                answer(q, Err(shared_error(error)));
                continue;
            }
            bytes += q.samples.len();
            chunk.push(q);
            if bytes >= FLUSH_BYTES {
                failed = self.write_chunk(&std::mem::take(&mut chunk)).err();
                bytes = 0;
            }
        }
        if failed.is_none() && !chunk.is_empty() {
            self.write_chunk(&chunk).ok();
        }
    }

    /// Inserts the rows of `chunk` as one block per table and answers each.
    pub(super) fn write_chunk(&self, chunk: &[&Queued]) -> Result<(), StorageError> {
        let mut new_ids: HashSet<u64> = HashSet::new();
        let mut frames = Vec::new();
        let mut stacks = Vec::new();
        let (mut paths, mut samples, mut batch_rows) = (Vec::new(), Vec::new(), Vec::new());
        let mut windows = BTreeSet::new();
        for q in chunk {
            for (id, line) in &q.frames {
                if new_ids.insert(*id) {
                    frames.extend_from_slice(line);
                }
            }
            for (id, line) in &q.stacks {
                if new_ids.insert(*id) {
                    stacks.extend_from_slice(line);
                }
            }
            paths.extend_from_slice(&q.paths);
            samples.extend_from_slice(&q.samples);
            windows.extend(q.windows.iter().copied());
            batch_rows.extend_from_slice(&q.batch_row);
        }
        // Frames and stacks before the samples that point at them; the batch
        // rows last, so that one means "all of it is stored".
        let written = self
            .client
            .insert_lines("insert frames", &self.table("frames"), &frames)
            .and_then(|()| {
                self.client
                    .insert_lines("insert stacks", &self.table("stacks"), &stacks)
            })
            .and_then(|()| {
                self.client
                    .insert_lines("insert binary paths", &self.table("binary_paths"), &paths)
            })
            .and_then(|()| {
                self.client
                    .insert_lines("insert samples", &self.table("samples"), &samples)
            })
            // After the samples, before the answer: see `settle.rs`.
            .and_then(|()| self.mark_windows(&windows))
            .and_then(|()| {
                self.client
                    .insert_lines("record the batches", &self.table("batches"), &batch_rows)
            });
        let answer = |q: &Queued, result: Result<WriteOutcome, StorageError>| {
            *q.answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        };
        match written {
            Ok(()) => {
                let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
                if known.len() + new_ids.len() > MAX_KNOWN_IDS {
                    known.clear();
                }
                known.extend(new_ids);
                drop(known);
                for q in chunk {
                    answer(q, Ok(WriteOutcome::Stored { samples: q.total }));
                }
                Ok(())
            }
            Err(error) => {
                for q in chunk {
                    answer(q, Err(shared_error(&error)));
                }
                Err(error)
            }
        }
    }
}
