//! Pyroscope's legacy `/ingest`: the first line of the input is the
//! `name=` query (`app.cpu{k=v}`), the rest the body, read as folded text,
//! as lines and as pprof.
//!
//! Beyond "no panic": every sample of a folded or lines batch counts at
//! least one, and every process carries the service the name gave.

#![no_main]

use augur_wire::ingest::Batch;
use augur_wire::pyroscope::{LegacyName, PushOrigin, TextFormat, TranslateLimits, Translator};
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

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(name) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    let Ok(name) = LegacyName::parse(name) else {
        return;
    };
    let origin = PushOrigin::from_legacy(&name, Some("rbspy"), Some((1_000, 2_000)));
    for format in [TextFormat::Folded, TextFormat::Lines] {
        let mut translator = Translator::new(limits());
        if translator
            .add_text(&origin, format, body, ("cpu", "nanoseconds"), 10_000_000)
            .is_err()
        {
            continue;
        }
        let Ok(batches) = translator.finish() else {
            continue;
        };
        for batch in batches {
            let raw = zstd::bulk::decompress(&batch.payload, 64 << 20).expect("our own zstd");
            let decoded = Batch::decode(&*raw).expect("our own batch");
            assert!(decoded.samples.iter().all(|s| s.count > 0));
            assert!(
                decoded
                    .processes
                    .iter()
                    .all(|p| p.labels.get("service") == Some(&origin.service))
            );
        }
    }
    let mut translator = Translator::new(limits());
    if translator.add_pprof(&origin, body).is_ok() {
        let _ = translator.finish();
    }
});
