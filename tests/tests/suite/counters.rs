//! Counter profiles through perf events: a page-fault profile blames the
//! function that touches new memory, and a hardware event on a machine
//! without a PMU is reported clearly instead of failing silently.

use std::process::Command;

use augur_tests::*;

#[test]
fn page_fault_profile_blames_the_function_touching_new_memory() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "faults.c", "augur-fixture-faults").unwrap();
    let out = dir.path().join("faults.pb.gz");
    let status = Command::new(augur_bin())
        .args([
            "record",
            "--profile",
            "page-faults:1",
            "--format",
            "pprof",
            "-o",
        ])
        .arg(&out)
        .arg("--")
        .arg(&fixture)
        .arg("10")
        .status()
        .unwrap();
    assert!(status.success(), "augur record exited with {status}");
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    assert_eq!(profile.profile_type.name, "page-faults");
    assert_eq!(profile.profile_type.unit, "count");
    assert_eq!(profile.period, 1);
    let stacks = profile.folded_stacks();
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let touching = chain_count(&stacks, &["main", "touch_new_memory"]);
    // 10 iterations x 32 MiB / 4 KiB pages, each faulting once, plus a few
    // hundred faults while the process starts.
    assert!(
        touching >= 10 * 8192 * 9 / 10,
        "only {touching} faults in touch_new_memory"
    );
    assert!(
        touching as f64 >= 0.95 * total as f64,
        "touch_new_memory has {touching} of {total} faults"
    );
    assert_eq!(
        chain_count(&stacks, &["compute"]),
        0,
        "compute never faults"
    );
}

#[test]
fn a_hardware_event_without_a_pmu_is_reported_clearly() {
    if !require(is_root(), "root (perf events)") {
        return;
    }
    let has_pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu").exists();
    if has_pmu {
        eprintln!("this machine has a CPU PMU; the no-PMU path is not exercised here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cycles.folded");
    let output = Command::new(augur_bin())
        .args(["record", "--profile", "cycles", "--format", "folded", "-o"])
        .arg(&out)
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cycles") && stderr.contains("no hardware PMU"),
        "unclear error: {stderr}"
    );
}
