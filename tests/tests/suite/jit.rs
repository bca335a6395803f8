//! JIT frames: code in anonymous memory is named from the process's perf
//! map, and the name survives pprof.

use std::process::Command;

use augur_profile::RawFrame;
use augur_tests::*;

#[test]
fn perf_map_names_jit_frames() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        eprintln!("the JIT fixture emits x86-64 code; skipped on this architecture");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "jit.c", "augur-fixture-jit").unwrap();
    let out = dir.path().join("jit.pb.gz");
    let output = Command::new(augur_bin())
        .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&fixture)
        .arg("3")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(path) = stdout.lines().find_map(|l| l.strip_prefix("perf map: ")) {
        let _ = std::fs::remove_file(path.trim());
    }
    assert!(
        output.status.success(),
        "augur record failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    let stacks = profile.folded_stacks();
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let jit = chain_count(&stacks, &["main", "run_jit", "jit_hot_loop"]);
    assert!(total >= 100, "too few samples: {total}");
    assert!(
        jit as f64 >= 0.8 * total as f64,
        "only {jit} of {total} samples in the JIT chain: {stacks:?}"
    );
    let named = profile
        .samples
        .iter()
        .flat_map(|s| &s.locations)
        .any(|l| matches!(&l.frame, RawFrame::Named { function, origin } if function == "jit_hot_loop" && origin == "jit"));
    assert!(named, "the JIT frame is not a host-named frame after pprof");
}
