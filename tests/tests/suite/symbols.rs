//! Symbolization details on a C++ fixture: demangled names, inline chains
//! in caller-to-callee order, and each function of a chain on its own line.

use std::process::Command;

use augur_tests::*;

/// 1-based line of the first line of `source` containing `marker`.
fn line_of(source: &str, marker: &str) -> u32 {
    source
        .lines()
        .position(|l| l.contains(marker))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("{marker:?} not in the fixture"))
}

#[test]
fn demangled_names_and_inline_frames_with_their_lines() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("c++", "--version"), "a C++ compiler")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        build_fixture_with(dir.path(), "inline.cpp", "augur-fixture-inline", &["-O2"]).unwrap();
    let out = dir.path().join("inline.pb.gz");
    let status = Command::new(augur_bin())
        .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&fixture)
        .arg("2")
        .status()
        .unwrap();
    assert!(status.success());
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    let stacks = profile.folded_stacks();
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let chain = chain_count(
        &stacks,
        &[
            "main",
            "fixture::Worker<int>::run(long)",
            "fixture::inlined_leaf(long)",
        ],
    );
    assert!(
        chain as f64 >= 0.9 * total as f64,
        "demangled inline chain covers {chain} of {total} samples: {stacks:?}"
    );

    // One location holds both functions, innermost first, each on its line.
    let source = std::fs::read_to_string(fixture_source("inline.cpp")).unwrap();
    let loop_line = line_of(&source, "sum = sum + i;");
    let call_line = line_of(&source, "long total = inlined_leaf(n);");
    let location = profile
        .samples
        .iter()
        .flat_map(|s| &s.locations)
        .find(|l| l.symbols.len() == 2 && l.symbols[0].function == "fixture::inlined_leaf(long)")
        .expect("a location with the inlined function");
    assert_eq!(
        location.symbols[1].function,
        "fixture::Worker<int>::run(long)"
    );
    assert_eq!(
        location.symbols[1].line,
        Some(call_line),
        "the caller's line is its call site"
    );
    let leaf_line = location.symbols[0].line.unwrap();
    assert!(
        (line_of(&source, "volatile long sum = 0;")..=loop_line).contains(&leaf_line),
        "the inlined function's line {leaf_line} is inside its loop (line {loop_line})"
    );
    assert!(
        location.symbols[0]
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("inline.cpp"))
    );
}
