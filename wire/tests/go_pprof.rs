//! The real consumer reads what we write: `go tool pprof -top` on a profile
//! from [`augur_wire::pprof::encode`] must rank our hottest function first
//! with the flat percentage we expect, and `-top -lines` must show runtime
//! (Python, Java) frames as `function file:line`.
//!
//! Needs `go` on PATH; without it the test says so loudly and passes (CI
//! installs go, so it runs there). It runs offline: pprof ships with the Go
//! distribution.

use std::path::Path;
use std::process::Command;

use augur_profile::{FileId, Location, Profile, ProfileType, RawFrame, Runtime, Sample, Symbol};

fn user(offset: u64, functions: &[&str]) -> Location {
    Location {
        frame: RawFrame::User {
            build_id: FileId::from_bytes(&[0x5a; 20]).unwrap(),
            file_offset: offset,
        },
        // A path that exists nowhere, so pprof cannot re-symbolize it.
        path: Some("/augur-test/nonexistent/shop".into()),
        symbols: functions
            .iter()
            .map(|f| Symbol {
                function: (*f).into(),
                file: Some("src/shop.rs".into()),
                line: Some(10),
            })
            .collect(),
    }
}

fn kernel(function: &str) -> Location {
    Location {
        frame: RawFrame::Kernel {
            function: function.into(),
            module: None,
        },
        path: None,
        symbols: vec![],
    }
}

/// 60% in an inlined leaf, 30% in its sibling, 10% in the kernel.
fn shop_profile() -> Profile {
    let main = user(0x1000, &["augur_shop_main"]);
    let sample = |locations, count| Sample { locations, count };
    Profile {
        service: "shop".into(),
        profile_type: ProfileType::cpu(),
        period: 10_000_000,
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_000_010_000_000_000,
        samples: vec![
            sample(
                vec![
                    user(0x2040, &["augur_hot_checksum", "augur_checksum_loop"]),
                    main.clone(),
                ],
                60,
            ),
            sample(vec![user(0x3000, &["augur_warm_parse"]), main.clone()], 30),
            sample(vec![kernel("augur_cold_syscall"), main], 10),
        ],
    }
}

/// `go`, or `None` when it is not installed.
fn go_command() -> Option<Command> {
    let found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    found.then(|| Command::new("go"))
}

/// `go env GOCACHE`, or a private cache when go has none (no HOME): newer
/// Go releases build `pprof` on first use.
fn needs_private_cache() -> bool {
    Command::new("go")
        .args(["env", "GOCACHE"])
        .output()
        .map(|o| {
            let cache = String::from_utf8_lossy(&o.stdout);
            let cache = cache.trim();
            !o.status.success() || cache.is_empty() || cache == "off"
        })
        .unwrap_or(true)
}

fn pprof_top(dir: &Path, file: &Path, extra: &[&str]) -> String {
    let mut go = go_command().expect("go was found before");
    go.current_dir(dir)
        .args(["tool", "pprof", "-top", "-nodecount=10"])
        .args(extra)
        .arg(file)
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        // No browser, no symbolization server, no saved binaries.
        .env("PPROF_TMPDIR", dir)
        .env("PPROF_BINARY_PATH", dir);
    if needs_private_cache() {
        go.env("GOCACHE", std::env::temp_dir().join("augur-wire-go-cache"))
            .env("HOME", dir);
    }
    let output = go.output().expect("run go tool pprof");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "go tool pprof failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The rows of `-top` output as (flat%, function name).
fn top_rows(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|line| {
            // flat flat% sum% cum cum% name...
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 6).then(|| (fields[1].to_owned(), fields[5..].join(" ")))
        })
        .collect()
}

#[test]
fn go_tool_pprof_reads_our_profiles() {
    if go_command().is_none() {
        eprintln!(
            "\n*** SKIPPED: go not installed; `go tool pprof` compatibility not checked ***\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.pb.gz");
    std::fs::write(&file, augur_wire::pprof::encode(&shop_profile()).unwrap()).unwrap();

    let output = pprof_top(dir.path(), &file, &[]);
    let rows = top_rows(&output);
    assert_eq!(
        rows.first()
            .map(|(pct, name)| (pct.as_str(), name.as_str())),
        // pprof marks functions inlined into their caller.
        Some(("60.00%", "augur_hot_checksum (inline)")),
        "unexpected top row in:\n{output}"
    );
    assert_eq!(
        rows.iter()
            .map(|(pct, name)| (pct.as_str(), name.as_str()))
            .collect::<Vec<_>>()[1..3],
        [
            ("30.00%", "augur_warm_parse"),
            ("10.00%", "augur_cold_syscall")
        ],
        "unexpected rows in:\n{output}"
    );
    assert!(
        output.contains("Type: cpu"),
        "pprof did not pick the cpu type:\n{output}"
    );
}

fn runtime(runtime: Runtime, function: &str, file: &str, line: u32, inlined: bool) -> Location {
    Location::new(
        RawFrame::Runtime {
            runtime,
            function: function.into(),
            file: file.into(),
            line,
            inlined,
        },
        None,
        vec![],
    )
}

#[test]
fn go_tool_pprof_shows_runtime_frames_with_their_lines() {
    if go_command().is_none() {
        eprintln!("\n*** SKIPPED: go not installed; runtime frames in pprof not checked ***\n");
        return;
    }
    let main = user(0x1000, &["augur_shop_main"]);
    let profile = Profile {
        samples: vec![
            Sample {
                locations: vec![
                    runtime(Runtime::Python, "Server.handle", "server.py", 42, false),
                    runtime(Runtime::Python, "<module>", "app.py", 7, false),
                    main.clone(),
                ],
                count: 70,
            },
            Sample {
                locations: vec![
                    runtime(
                        Runtime::Java,
                        "java.util.HashMap.hash",
                        "HashMap.java",
                        339,
                        true,
                    ),
                    runtime(Runtime::Java, "com.shop.Cache.get", "Cache.java", 88, false),
                    main,
                ],
                count: 30,
            },
        ],
        ..shop_profile()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime.pb.gz");
    std::fs::write(&file, augur_wire::pprof::encode(&profile).unwrap()).unwrap();

    let output = pprof_top(dir.path(), &file, &["-lines"]);
    let rows = top_rows(&output);
    let rows: Vec<(&str, &str)> = rows
        .iter()
        .map(|(pct, name)| (pct.as_str(), name.as_str()))
        .collect();
    assert_eq!(
        rows[..2],
        [
            ("70.00%", "Server.handle server.py:42"),
            // The inlined leaf is its own line of one location.
            ("30.00%", "java.util.HashMap.hash HashMap.java:339 (inline)"),
        ],
        "unexpected rows in:\n{output}"
    );
}
