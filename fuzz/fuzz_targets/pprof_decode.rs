//! pprof import (`augur diff` reads other tools' profiles; tests read ours):
//! gzipped or plain `perftools.profiles.Profile` through `pprof::decode`.
//!
//! Beyond "no panic": a decoded profile is well formed (positive period and
//! counts, a window that does not end before it starts), it encodes again,
//! and decoding is a fixed point after one round: decode(encode(p)) = p for
//! any p that decode produced from our own encoding. Counts survive the
//! round, and the folded view consumers build from it does not panic.

#![no_main]

use augur_profile::Profile;
use augur_wire::pprof;
use libfuzzer_sys::fuzz_target;

/// Inflated-size limit: big enough for any fuzzing input, small enough that
/// the decoded-model budget (64x) is hit by hostile expansion.
const MAX_INFLATED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = pprof::decode(data, MAX_INFLATED) else {
        return;
    };
    well_formed(&profile);
    let _ = profile.folded_stacks();
    let first = round_trip(&profile);
    well_formed(&first);
    // pprof values are i64: larger counts are capped when encoding.
    if total(&profile) <= i64::MAX as u128 {
        assert_eq!(total(&first), total(&profile));
    }
    let second = round_trip(&first);
    assert_eq!(
        second, first,
        "decode(encode(p)) changed a profile we encoded"
    );
});

fn round_trip(profile: &Profile) -> Profile {
    let bytes = pprof::encode(profile).expect("encoding into memory");
    pprof::decode(&bytes, usize::MAX).expect("our own encoding decodes")
}

fn well_formed(profile: &Profile) {
    assert!(profile.period > 0);
    assert!(profile.end_unix_nanos >= profile.start_unix_nanos);
    assert!(profile.samples.iter().all(|s| s.count > 0));
}

/// Total count without overflow (counts are u64, and there may be many).
fn total(profile: &Profile) -> u128 {
    profile.samples.iter().map(|s| u128::from(s.count)).sum()
}
