//! Rows as ClickHouse stores them: `JSONEachRow` lines for frames, stacks
//! and samples, a batch's encoded rows waiting for a group flush, and the
//! `symbols.status` values.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::api::WriteOutcome;
use crate::error::StorageError;

/// `symbols.status` values, as in SQLite.
pub(super) mod status {
    pub(crate) const PENDING: u8 = 0;
    pub(crate) const SYMBOLIZED: u8 = 1;
    pub(crate) const FAILED: u8 = 2;
}

/// One batch's rows, encoded as `JSONEachRow` lines, waiting in the group
/// queue for the next flush.
pub(super) struct Queued {
    pub(super) batch_id: String,
    /// `(frame id, line)` of frames this process has not written yet.
    pub(super) frames: Vec<(u64, Vec<u8>)>,
    /// `(stack id, line)`, likewise.
    pub(super) stacks: Vec<(u64, Vec<u8>)>,
    pub(super) paths: Vec<u8>,
    pub(super) samples: Vec<u8>,
    /// Windows the sample rows fall in.
    pub(super) windows: BTreeSet<i64>,
    pub(super) batch_row: Vec<u8>,
    pub(super) total: u64,
    /// Where the flush leaves this batch's answer.
    pub(super) answer: Arc<Mutex<Option<Result<WriteOutcome, StorageError>>>>,
}

#[derive(Serialize)]
pub(super) struct FrameRow<'a> {
    pub(super) frame_id: u64,
    pub(super) kind: i64,
    pub(super) build_id: String,
    pub(super) file_offset: u64,
    pub(super) name: &'a str,
    pub(super) module: &'a str,
}

#[derive(Serialize)]
pub(super) struct StackRow<'a> {
    pub(super) stack_id: u64,
    pub(super) frame_ids: &'a [u64],
}

#[derive(Serialize)]
pub(super) struct SampleRow<'a> {
    pub(super) service: &'a str,
    pub(super) labels: &'a str,
    pub(super) profile_type: &'a str,
    pub(super) window_start: i64,
    pub(super) stack_id: u64,
    pub(super) period: u64,
    pub(super) batch_id: &'a str,
    pub(super) count: u64,
}

pub(super) fn json_line(row: &impl Serialize, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, row).expect("rows always serialize");
    out.push(b'\n');
}
