//! Off-CPU profiles: time blocked is weighed in nanoseconds and attributed
//! to the stack that blocked.

use std::process::Command;

use augur_tests::*;

#[test]
fn blocked_time_lands_in_the_blocking_function() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        eprintln!("the off-CPU fixture makes an x86-64 system call; skipped on this architecture");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "offcpu.c", "augur-fixture-offcpu").unwrap();
    let out = dir.path().join("offcpu.pb.gz");
    let status = Command::new(augur_bin())
        .args(["record", "--profile", "off-cpu", "--format", "pprof", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&fixture)
        .arg("5")
        .status()
        .unwrap();
    assert!(status.success(), "augur record exited with {status}");
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    assert_eq!(profile.profile_type.name, "off-cpu");
    assert_eq!(profile.profile_type.unit, "nanoseconds");
    let stacks = profile.folded_stacks();
    let blocked_ns = chain_count(&stacks, &["main", "wait_in_known_place"]) * profile.period;
    let total_ns: u64 = stacks.iter().map(|(_, n)| n * profile.period).sum();
    let wall_ns = (profile.end_unix_nanos - profile.start_unix_nanos) as f64;
    // The fixture sleeps 40 ms, then spins 10 ms: 80% of its time is blocked,
    // all of it in wait_in_known_place.
    let share_of_wall = blocked_ns as f64 / wall_ns;
    assert!(
        (share_of_wall - 0.80).abs() <= 0.10,
        "wait_in_known_place blocked {share_of_wall:.3} of the run, expected 0.80 ± 0.10"
    );
    assert!(
        blocked_ns as f64 >= 0.9 * total_ns as f64,
        "wait_in_known_place has {blocked_ns} of {total_ns} blocked ns"
    );
    assert!(
        chain_count(
            &stacks,
            &["wait_in_known_place", "entry_SYSCALL_64_after_hwframe"]
        ) > 0
            || chain_count(&stacks, &["wait_in_known_place", "entry_SYSCALL_64"]) > 0,
        "the kernel half of the blocked stack is missing: {stacks:?}"
    );
    assert_eq!(
        chain_count(&stacks, &["compute"]),
        0,
        "compute never blocks"
    );
}
