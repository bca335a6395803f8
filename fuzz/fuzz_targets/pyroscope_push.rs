//! Pyroscope's `push.v1` push (`POST /push.v1.PusherService/Push`): a
//! `PushRequest` read by hand, its series' labels into an origin, each raw
//! profile (gzipped or plain pprof) into batches of every type it carries.
//!
//! Beyond "no panic": translating the same bytes twice gives the same batch
//! ids (a retry is a duplicate), every id carries the `pyroscope:` prefix,
//! and every payload inflates to a batch holding the samples it claims,
//! each with a process and at most the depth limit plus one frames.

#![no_main]

use augur_wire::ingest::Batch;
use augur_wire::pyroscope::{
    BATCH_ID_PREFIX, PushOrigin, TranslateLimits, TranslatedBatch, Translator, decode_push,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn limits() -> TranslateLimits {
    TranslateLimits {
        max_inflated: 1 << 20,
        max_decoded: 16 << 20,
        max_output: 8 << 20,
        max_stack_depth: 64,
    }
}

fn translate(data: &[u8]) -> Option<Vec<TranslatedBatch>> {
    let series = decode_push(data).ok()?;
    let mut translator = Translator::new(limits());
    for one in &series {
        let origin = PushOrigin::from_labels(one.labels.iter().copied(), Some("fuzz/pyspy")).ok()?;
        for profile in &one.profiles {
            translator.add_pprof(&origin, profile).ok()?;
        }
    }
    translator.finish().ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(batches) = translate(data) else {
        return;
    };
    let again = translate(data).expect("the same bytes translate again");
    let ids = |b: &[TranslatedBatch]| b.iter().map(|b| b.batch_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&batches), ids(&again));
    for batch in &batches {
        assert!(batch.batch_id.starts_with(BATCH_ID_PREFIX));
        let raw = zstd::bulk::decompress(&batch.payload, 64 << 20).expect("our own zstd");
        let decoded = Batch::decode(&*raw).expect("our own batch");
        assert_eq!(decoded.samples.len(), batch.samples);
        assert_eq!(decoded.profile_type, batch.profile_type);
        assert!(decoded.period > 0);
        for sample in &decoded.samples {
            assert!((sample.process as usize) < decoded.processes.len());
            assert!(sample.frames.len() <= limits().max_stack_depth + 1);
        }
        for process in &decoded.processes {
            assert!(process.labels.get("service").is_some_and(|s| !s.is_empty()));
        }
    }
});
