//! The reference decoder: prost's generated types, then validation into a
//! [`ValidBatch`]. It is what the direct decoder ([`super::decode()`]) must
//! agree with, batch for batch and refusal for refusal; the unit tests and
//! the wire-batch fuzz target compare the two. Production never runs it: it
//! builds only for tests and with the `reference` feature.

use augur_profile::{ProfileType, RawFrame, Truncation};
use prost::Message;

use super::decode::{decode_counted, owned_frames};
use super::inflate::decompress_with;
use super::limits::{BatchError, LimitHits, Limits, Reservation, decode_bounded};
use super::validate::{
    Labels, ValidBatch, ValidSample, binary_path, bounded_labels, check_header, runtime_frame,
    sample_labels,
};
use crate::ingest::{Batch, frame};

/// Decompresses and decodes a payload with prost within `limits`: sizes
/// first, then the count of stacks and items on the encoded bytes, then
/// decoding.
pub fn decompress(payload: &[u8], limits: &Limits) -> Result<Batch, BatchError> {
    decompress_reserved(payload, limits).map(|(batch, _)| batch)
}

/// [`decompress`], returning with the batch the share of
/// [`Limits::decode_memory`] it holds.
pub fn decompress_reserved(
    payload: &[u8],
    limits: &Limits,
) -> Result<(Batch, Reservation), BatchError> {
    decompress_with(payload, limits, &mut |bytes, _| {
        Batch::decode(bytes).map_err(|source| BatchError::Decode { source })
    })
}

/// An encoded, uncompressed [`Batch`] decoded with prost within the same
/// counts, then validated: what [`decode_direct`] must agree with.
pub fn decode_then_validate(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(ValidBatch, LimitHits), BatchError> {
    let mut reservation = Reservation::new(&None);
    let batch = decode_bounded(bytes, limits, &mut reservation, &mut |bytes, _| {
        Batch::decode(bytes).map_err(|source| BatchError::Decode { source })
    })?;
    validate_counted(batch, limits)
}

/// The direct decoder on an encoded, uncompressed [`Batch`], within the
/// same counts as [`super::decode()`]: what [`decode_then_validate`] is
/// compared with, without zstd in the way.
pub fn decode_direct(bytes: &[u8], limits: &Limits) -> Result<(ValidBatch, LimitHits), BatchError> {
    let mut reservation = Reservation::new(&None);
    decode_bounded(bytes, limits, &mut reservation, &mut |bytes, shape| {
        decode_counted(bytes, shape, limits, &mut owned_frames)
    })
}

/// Checks every reference in `batch` and converts it to plain types;
/// [`validate_counted`] also says what was cut to fit the limits.
pub fn validate(batch: Batch, limits: &Limits) -> Result<ValidBatch, BatchError> {
    validate_counted(batch, limits).map(|(batch, _)| batch)
}

/// [`validate`], returning what was cut down to fit `limits` besides the
/// batch: stacks truncated, labels dropped or shortened, path hints
/// forgotten. Broken references, a missing `service` label and empty frames
/// still refuse the batch.
pub fn validate_counted(
    batch: Batch,
    limits: &Limits,
) -> Result<(ValidBatch, LimitHits), BatchError> {
    let invalid = |msg: String| BatchError::Invalid(msg);
    let mut hits = LimitHits::default();
    check_header(
        &batch.profile_type,
        &batch.unit,
        batch.period,
        batch.start_unix_nanos,
        batch.end_unix_nanos,
    )?;
    let binaries = batch
        .binaries
        .into_iter()
        .enumerate()
        .map(|(i, b)| binary_path(i, &b.build_id, b.path, &mut hits))
        .collect::<Result<Vec<_>, _>>()?;
    let processes = batch
        .processes
        .into_iter()
        .enumerate()
        .map(|(i, p)| bounded_labels(i, p.labels, limits, &mut hits))
        .collect::<Result<Vec<Labels>, _>>()?;

    // The marker takes the last place: no stack is deeper than the limit.
    let keep_frames = limits.max_stack_depth.max(2) - 1;
    let mut samples = Vec::with_capacity(batch.samples.len());
    for (i, sample) in batch.samples.into_iter().enumerate() {
        let labels = sample_labels(i, sample.process, &processes)?;
        if sample.frames.is_empty() {
            return Err(invalid(format!("sample {i} has no frames")));
        }
        if sample.count == 0 {
            continue;
        }
        let mut wire_frames = sample.frames;
        let truncated = wire_frames.len() > limits.max_stack_depth.max(2);
        if truncated {
            // Leaf first: the root side goes.
            wire_frames.truncate(keep_frames);
            hits.stacks_truncated += 1;
        }
        let mut frames = wire_frames
            .into_iter()
            .map(|f| match f.kind {
                Some(frame::Kind::User(u)) => binaries
                    .get(u.binary as usize)
                    .map(|(id, _)| RawFrame::User {
                        build_id: id.clone(),
                        file_offset: u.file_offset,
                    })
                    .ok_or_else(|| {
                        invalid(format!(
                            "sample {i}: binary index {} out of range",
                            u.binary
                        ))
                    }),
                Some(frame::Kind::Kernel(k)) if !k.function.is_empty() => Ok(RawFrame::Kernel {
                    function: k.function,
                    module: (!k.module.is_empty()).then_some(k.module),
                }),
                Some(frame::Kind::Unknown(reason)) => Ok(RawFrame::Unknown { reason }),
                Some(frame::Kind::Named(n)) if !n.function.is_empty() && !n.origin.is_empty() => {
                    Ok(RawFrame::Named {
                        function: n.function,
                        origin: n.origin,
                    })
                }
                Some(frame::Kind::Runtime(r)) => {
                    let (runtime, function, file) =
                        runtime_frame(i, &r.runtime, &r.function, &r.file, &mut hits)?;
                    let (function_len, file_len) = (function.len(), file.len());
                    let (mut function, mut file) = (r.function, r.file);
                    function.truncate(function_len);
                    file.truncate(file_len);
                    Ok(RawFrame::Runtime {
                        runtime,
                        function,
                        file,
                        line: r.line,
                        inlined: r.inlined,
                    })
                }
                _ => Err(invalid(format!("sample {i} has an empty frame"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if truncated {
            frames.push(RawFrame::truncated(Truncation::DepthLimit));
        }
        samples.push(ValidSample {
            labels,
            frames,
            count: sample.count,
        });
    }
    let batch = ValidBatch {
        host: batch.host,
        start_unix_nanos: batch.start_unix_nanos,
        end_unix_nanos: batch.end_unix_nanos,
        profile_type: ProfileType {
            name: batch.profile_type,
            unit: batch.unit,
        },
        period: batch.period,
        binaries,
        samples,
        dropped: batch.dropped.into_iter().collect(),
    };
    Ok((batch, hits))
}
