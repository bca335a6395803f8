//! The aggregator's ingest log replay: `ingest_log::read_segment` over a
//! segment file holding any bytes (a crash mid-append, a damaged disk).
//!
//! Beyond "no panic": reading accounts for every byte (the records read
//! back, encoded again, are exactly the bytes after the magic and before the
//! torn tail), and a file without the magic yields nothing.

#![no_main]

use augur_aggregator::ingest_log;
use libfuzzer_sys::fuzz_target;

const MAGIC: &[u8] = b"AUGLOG01";

fuzz_target!(|data: &[u8]| {
    let path = augur_fuzz::scratch_file("segment-00000000000000000000.log", data);
    let contents = ingest_log::read_segment(&path).expect("reading a scratch file");
    if !data.starts_with(MAGIC) {
        assert!(contents.records.is_empty());
        assert_eq!(contents.torn_bytes, data.len());
        return;
    }
    let whole = data.len() - contents.torn_bytes;
    assert!(whole >= MAGIC.len());
    let mut encoded = Vec::new();
    for record in &contents.records {
        ingest_log::encode_record(
            &record.batch_id,
            record.received_unix_nanos,
            &record.payload,
            &mut encoded,
        );
    }
    assert_eq!(encoded, data[MAGIC.len()..whole]);
});
