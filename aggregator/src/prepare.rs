//! One pushed payload made ready to hold: decoded within the limits, its
//! stacks found among those already held, its labels folded under the
//! cardinality limits and its samples merged per window. A push does this
//! before logging a batch, and a restart does the same with each record it
//! replays from the log, so both go through [`prepare`].

use std::collections::BTreeMap;

use augur_storage::{BatchWrite, SharedStack, WindowWrite};
use augur_wire::batch::{self, Limits};

use crate::cardinality::LabelCardinality;
use crate::intern::HashedStacks;
use crate::merge::merge_batch_shared;

/// A batch decoded, validated, merged and ready to hold.
pub(crate) struct Prepared {
    pub(crate) batch: BatchWrite,
    pub(crate) samples: u64,
    /// What the agent lost before sending, by reason.
    pub(crate) dropped: BTreeMap<String, u64>,
    /// What was cut down to fit the limits, by limit.
    pub(crate) limit_hits: Vec<(&'static str, u64)>,
}

/// Everything a push needs before the log, as one piece of CPU work; also
/// what a replay of the log does with each record. `intern` finds the
/// batch's stacks among those the buffer holds, building only new ones; it
/// is given them hashed, so that it can take a lock for the lookups alone.
pub(crate) fn prepare(
    batch_id: String,
    payload: &[u8],
    limits: &Limits,
    labels: &LabelCardinality,
    window_nanos: i64,
    received_unix_nanos: i64,
    mut intern: impl FnMut(&HashedStacks<'_, '_>) -> Vec<SharedStack>,
) -> Result<Prepared, batch::BatchError> {
    // Held until the batch is merged and held by the buffer, which bounds
    // it from then on.
    let (mut batch, hits, _reservation) =
        batch::decode(payload, limits, |stacks| intern(&HashedStacks::new(stacks)))?;
    let folds = labels.fold_batch(&mut batch);
    let limit_hits = hits
        .by_limit()
        .into_iter()
        .chain(folds.by_limit())
        .filter(|(_, n)| *n > 0)
        .collect();
    let dropped = std::mem::take(&mut batch.dropped);
    let samples = batch.total_samples();
    let binaries = std::mem::take(&mut batch.binaries);
    let (profile_type, period) = (batch.profile_type.clone(), batch.period);
    let windows = merge_batch_shared(batch, window_nanos)
        .into_iter()
        .map(|(key, stacks)| WindowWrite {
            service: key.service,
            labels: key.labels,
            profile_type: profile_type.clone(),
            period,
            window_start_unix_nanos: key.window_start_unix_nanos,
            stacks,
        })
        .collect();
    Ok(Prepared {
        limit_hits,
        batch: BatchWrite {
            batch_id,
            received_unix_nanos,
            binaries,
            windows,
        },
        samples,
        dropped,
    })
}
