//! OTLP profiles export requests as the gRPC service and the HTTP route
//! receive them: `otlp::translate` over arbitrary bytes, with small limits
//! so fuzzing-size inputs reach them.
//!
//! Beyond "no panic": a request refused before decoding stays refused; the
//! same bytes translate to the same batches and ids; every batch keeps the
//! depth, frame and stack limits, and is one ingest's own decoder takes
//! (the translation must never make a batch ingest refuses as invalid).

#![no_main]

use augur_wire::batch::{self, Limits, compress};
use augur_wire::otlp::{OtlpLimits, translate};
use libfuzzer_sys::fuzz_target;

fn limits() -> OtlpLimits {
    OtlpLimits {
        max_request_bytes: 1 << 20,
        max_decoded_bytes: 1 << 20,
        max_stack_depth: 17,
        max_batch_frames: 4096,
        max_batch_samples: 256,
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    let now = 1_800_000_000_000_000_000;
    let Ok(translation) = translate(data, now, &limits) else {
        return;
    };
    assert_eq!(translate(data, now, &limits).as_ref(), Ok(&translation));
    for otlp_batch in &translation.batches {
        let wire = &otlp_batch.batch;
        assert!(otlp_batch.batch_id.len() <= 256);
        assert!(wire.samples.len() <= limits.max_batch_samples);
        let frames: usize = wire.samples.iter().map(|s| s.frames.len()).sum();
        assert!(frames <= limits.max_batch_frames);
        assert!(wire.samples.iter().all(|s| s.frames.len() <= limits.max_stack_depth));
        let payload = compress(wire, 1).unwrap();
        let ingest = Limits {
            max_stack_depth: 16,
            ..Limits::default()
        };
        if let Err(error) = batch::decode(&payload, &ingest, batch::owned_frames) {
            panic!("ingest refuses a translated batch: {error}\n{wire:?}");
        }
    }
});
