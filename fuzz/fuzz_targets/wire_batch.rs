//! Agent batches as the aggregator receives them: `reference::decompress`
//! (size limits, zstd, the count of stacks and items, protobuf), then
//! `reference::validate_counted`. Each input is tried twice: as the payload
//! itself, and compressed, so the fuzzer also reaches the protobuf and
//! validation layers without having to learn zstd.
//!
//! Beyond "no panic": a decoded batch holds no more stacks and items than
//! the limits allow; a validated batch obeys every limit (runtime frames'
//! names included); re-encoding it
//! (`to_wire`, then `compress`) gives a batch that validates to the same
//! contents; and the aggregator's direct decoder (`reference::decode_direct`,
//! `batch::decode`) gives the same batch and hits as prost then
//! `validate_counted`, the same refusal when prost reads the bytes, and a
//! refusal when it cannot.

#![no_main]

use augur_profile::RawFrame;
use augur_wire::batch::{self, Limits, ValidBatch, reference};
use augur_wire::ingest::Batch;
use libfuzzer_sys::fuzz_target;

/// Small limits, so inputs of fuzzing size can reach every one of them.
fn limits() -> Limits {
    Limits {
        max_compressed: 1 << 20,
        max_decompressed: 1 << 20,
        max_stack_depth: 16,
        max_stacks: 64,
        max_items: 1024,
        max_labels: 4,
        max_label_len: 32,
        ..Limits::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    if let Ok(batch) = reference::decompress(data, &limits) {
        check(batch, &limits);
    }
    let payload = zstd::bulk::compress(data, 1).expect("compressing into memory");
    match reference::decompress(&payload, &limits) {
        Ok(batch) => check(batch, &limits),
        Err(error) => assert_ne!(error.reason(), "bad_compression", "{error}"),
    }
    agree(
        reference::decode_then_validate(data, &limits),
        reference::decode_direct(data, &limits),
    );
    let slow = reference::decompress(&payload, &limits)
        .and_then(|batch| reference::validate_counted(batch, &limits));
    let fast = batch::decode(&payload, &limits, batch::owned_frames)
        .map(|(batch, hits, _)| (batch, hits));
    agree(slow, fast);
});

/// Prost then validation (`slow`) and the direct decoder (`fast`) agree.
fn agree(
    slow: Result<(ValidBatch, batch::LimitHits), batch::BatchError>,
    fast: Result<(ValidBatch, batch::LimitHits), batch::BatchError>,
) {
    match (slow, fast) {
        (Ok(slow), Ok(fast)) => assert_eq!(slow, fast),
        (Err(batch::BatchError::Decode { .. }), Err(_)) => {}
        (Err(slow), Err(fast)) => assert_eq!(slow.to_string(), fast.to_string()),
        (slow, fast) => panic!("prost then validate: {slow:?}\ndirect: {fast:?}"),
    }
}

fn check(batch: Batch, limits: &Limits) {
    assert!(batch.samples.len() <= limits.max_stacks);
    assert!(items(&batch) <= limits.max_items);
    let Ok((valid, _hits)) = reference::validate_counted(batch, limits) else {
        return;
    };
    obeys_limits(&valid, limits);
    let wire = batch::to_wire(&valid);
    let again = reference::validate(wire.clone(), limits).expect("to_wire of a valid batch validates");
    assert_eq!(again.samples, valid.samples);
    assert_eq!(again.binaries, valid.binaries);
    assert_eq!(again.dropped, valid.dropped);
    assert_eq!(
        (&again.host, again.start_unix_nanos, again.end_unix_nanos),
        (&valid.host, valid.start_unix_nanos, valid.end_unix_nanos)
    );
    assert_eq!(
        (&again.profile_type, again.period),
        (&valid.profile_type, valid.period)
    );
    let payload = batch::compress(&wire, 1).expect("compressing into memory");
    let back = reference::decompress(&payload, &Limits::default()).expect("our own payload decodes");
    assert_eq!(back, wire);
}

/// What `max_items` counts: binaries, processes, labels, samples, frames and
/// dropped reasons.
fn items(batch: &Batch) -> usize {
    batch.binaries.len()
        + batch
            .processes
            .iter()
            .map(|p| 1 + p.labels.len())
            .sum::<usize>()
        + batch
            .samples
            .iter()
            .map(|s| 1 + s.frames.len())
            .sum::<usize>()
        + batch.dropped.len()
}

fn obeys_limits(batch: &ValidBatch, limits: &Limits) {
    assert!(batch.period > 0);
    assert!(batch.end_unix_nanos >= batch.start_unix_nanos);
    assert!(!batch.profile_type.name.is_empty() && !batch.profile_type.unit.is_empty());
    for (_, path) in &batch.binaries {
        assert!(
            path.is_empty() || batch::is_sane_path_hint(path),
            "{path:?}"
        );
    }
    for sample in &batch.samples {
        assert!(sample.count > 0);
        assert!(!sample.frames.is_empty());
        assert!(sample.frames.len() <= limits.max_stack_depth.max(2));
        assert!(sample.labels.len() <= limits.max_labels.max(1));
        assert!(sample.labels.get("service").is_some_and(|s| !s.is_empty()));
        for (name, value) in sample.labels.iter() {
            assert!(!name.is_empty() && name.len() <= limits.max_label_len);
            assert!(value.len() <= limits.max_label_len);
        }
        for frame in &sample.frames {
            if let RawFrame::Runtime { function, file, .. } = frame {
                assert!(!function.is_empty() && function.len() <= batch::MAX_RUNTIME_FUNCTION);
                assert!(file.len() <= batch::MAX_RUNTIME_FILE);
            }
        }
    }
}
