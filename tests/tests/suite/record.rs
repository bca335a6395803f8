//! `augur record -- CMD` profiles a command tree without any server.

use std::process::Command;

use augur_tests::*;

#[test]
fn record_gives_the_same_split() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_split_fixture(dir.path(), "augur-fixture-record").unwrap();

    let folded = dir.path().join("out.folded");
    let status = Command::new(augur_bin())
        .args(["record", "--frequency", "99", "--format", "folded", "-o"])
        .arg(&folded)
        .arg("--")
        .arg(&fixture)
        .arg("5")
        .status()
        .unwrap();
    assert!(status.success(), "augur record exited with {status}");
    let stacks = parse_folded(&std::fs::read_to_string(&folded).unwrap());
    assert_split(&stacks, "augur record folded");

    // Children count too: the fixture run through a shell is still recorded.
    let pprof = dir.path().join("out.pb.gz");
    let status = Command::new(augur_bin())
        .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
        .arg(&pprof)
        .args(["--", "/bin/sh", "-c"])
        .arg(format!("{} 3; true", fixture.display()))
        .status()
        .unwrap();
    assert!(status.success(), "augur record exited with {status}");
    let profile = augur_wire::pprof::decode(&std::fs::read(&pprof).unwrap(), 256 << 20).unwrap();
    assert_split(
        &profile.folded_stacks(),
        "augur record pprof of a child process",
    );
}

#[test]
fn record_passes_the_exit_code_through() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_split_fixture(dir.path(), "augur-fixture-record").unwrap();
    let out = dir.path().join("out.svg");
    let status = Command::new(augur_bin())
        .args(["record", "--format", "svg", "-o"])
        .arg(&out)
        .args(["--", "/bin/sh", "-c"])
        .arg(format!("{} 1; exit 7", fixture.display()))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("hot_a"),
        "SVG lacks the hot function"
    );
}
