//! The agent's spool records, read back after a restart from files that a
//! crash or a full disk may have damaged: `spool::decode_record`.
//!
//! Beyond "no panic": a record that decodes is exactly what
//! `spool::encode_record` writes for its contents, so nothing in it went
//! unchecked.

#![no_main]

use augur_agent::spool;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = spool::decode_record(data) else {
        return;
    };
    assert_eq!(record.seq, 0);
    assert!(!record.batch_id.is_empty() && record.batch_id.len() <= spool::MAX_BATCH_ID_LEN);
    let encoded = spool::encode_record(&record.batch_id, record.samples, &record.payload);
    assert_eq!(encoded, data);
});
