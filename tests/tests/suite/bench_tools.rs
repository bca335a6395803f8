//! The benchmark commands are tools: each answers `--help` with its options
//! and exit code 0, and every binary of this crate is one of them (or the
//! soak), so a new command cannot skip it.

use std::process::Command;

/// Every binary of `tests/Cargo.toml`, as cargo built it for this test.
const COMMANDS: &[(&str, &str)] = &[
    ("agent-bench", env!("CARGO_BIN_EXE_agent-bench")),
    ("day-bench", env!("CARGO_BIN_EXE_day-bench")),
    ("diff-bench", env!("CARGO_BIN_EXE_diff-bench")),
    ("file-id-bench", env!("CARGO_BIN_EXE_file-id-bench")),
    ("go-symbol-bench", env!("CARGO_BIN_EXE_go-symbol-bench")),
    ("memory-bench", env!("CARGO_BIN_EXE_memory-bench")),
    ("pyroscope-bench", env!("CARGO_BIN_EXE_pyroscope-bench")),
    ("runtime-bench", env!("CARGO_BIN_EXE_runtime-bench")),
    ("soak", env!("CARGO_BIN_EXE_soak")),
    ("symbol-bench", env!("CARGO_BIN_EXE_symbol-bench")),
    ("ui-bench", env!("CARGO_BIN_EXE_ui-bench")),
    ("unwind-bench", env!("CARGO_BIN_EXE_unwind-bench")),
    ("wire-bench", env!("CARGO_BIN_EXE_wire-bench")),
];

#[test]
fn every_benchmark_command_answers_help_with_exit_0() {
    for (name, path) in COMMANDS {
        let output = Command::new(path)
            .arg("--help")
            .output()
            .unwrap_or_else(|error| panic!("running {path}: {error}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name} --help: {}\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("Usage: {name}")) && stdout.contains("--help"),
            "{name} --help printed no usage:\n{stdout}"
        );
    }
}

#[test]
fn every_binary_of_the_crate_is_a_listed_command() {
    let manifest = include_str!("../../Cargo.toml");
    let mut binaries: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|section| {
            let line = section.lines().find(|l| l.starts_with("name = "))?;
            Some(line.trim_start_matches("name = ").trim_matches('"'))
        })
        .collect();
    binaries.sort_unstable();
    let listed: Vec<&str> = COMMANDS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        binaries, listed,
        "tests/Cargo.toml's [[bin]]s and COMMANDS differ"
    );
    for name in binaries {
        assert!(
            name == "soak" || name.ends_with("-bench"),
            "{name}: benchmark commands are named `*-bench`"
        );
    }
}
