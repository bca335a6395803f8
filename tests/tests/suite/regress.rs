//! Regression detection between deploys: a fixture service runs as build
//! A, then as build B, in which `hot_path` does 30% more work and its
//! twenty other functions are unchanged. The server sees two deploys,
//! flags `hot_path` as the one significant regression and nothing else,
//! and `augur diff --fail-on-regression 10` fails on that pair but not on
//! two runs of the same build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use augur_tests::*;

const NAME: &str = "augur-fixture-regress";

/// Builds the fixture as `dir/NAME`, slower or not.
fn build(dir: &Path, slower: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let extra: &[&str] = if slower { &["-DAUGUR_SLOWER=1"] } else { &[] };
    build_fixture_with(dir, "regress.c", NAME, extra).unwrap()
}

fn run(binary: &Path, seconds: u32) {
    let status = Command::new(binary)
        .arg(seconds.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn augur(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(augur_bin()).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_slower_deploy_is_flagged_and_nothing_else_is() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = build(&dir.path().join("a"), false);
    let b = build(&dir.path().join("b"), true);
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    run(&a, 20);
    run(&b, 20);

    // Wait until both deploys are stored whole and compared.
    let url = format!("{base}api/v1/deploys?service={NAME}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut previous = serde_json::Value::Null;
    let answer = loop {
        let answer = http_json(&url).unwrap();
        let ready = answer["comparisons"][0]["ready"] == true;
        if ready && answer["deploys"] == previous["deploys"] {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "deploys not compared in time: {answer}"
        );
        previous = answer;
        std::thread::sleep(Duration::from_secs(3));
    };
    let deploys = answer["deploys"].as_array().unwrap();
    assert_eq!(deploys.len(), 2, "{answer}");
    assert_ne!(deploys[0]["build_ids"], deploys[1]["build_ids"]);
    let (old, new) = (
        deploys[0]["version"].as_str().unwrap().to_owned(),
        deploys[1]["version"].as_str().unwrap().to_owned(),
    );
    let diff = &answer["comparisons"][0]["diff"];
    assert_eq!(answer["comparisons"][0]["base"], old.as_str());
    let regressions = diff["regressions"].as_array().unwrap();
    assert_eq!(regressions.len(), 1, "exactly one regression: {diff}");
    assert_eq!(regressions[0]["name"], "hot_path");
    assert!(regressions[0]["p_value"].as_f64().unwrap() < 0.01);
    let change = regressions[0]["change"].as_f64().unwrap();
    assert!((0.1..0.6).contains(&change), "about +30%: {change}");
    assert!(regressions[0]["impact"].as_f64().unwrap() > 0.0);
    assert_eq!(diff["improvements"].as_array().unwrap().len(), 0, "{diff}");
    assert!(diff["tested"].as_u64().unwrap() >= 21, "{diff}");

    // augur diff against the server fails the gate on this pair.
    let (code, stdout, stderr) = augur(&[
        "diff",
        "--server",
        &base,
        "--service",
        NAME,
        "--base-version",
        &old,
        "--target-version",
        &new,
        "--fail-on-regression",
        "10",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("hot_path"), "{stdout}");
    assert!(up.terminate().unwrap().success());

    // Two runs of the same build pass it (local pprof files).
    let a1 = dir.path().join("a1.pb.gz");
    let a2 = dir.path().join("a2.pb.gz");
    for out in [&a1, &a2] {
        let (code, _, stderr) = augur(&[
            "record",
            "--frequency",
            "99",
            "-o",
            out.to_str().unwrap(),
            "--",
            a.to_str().unwrap(),
            "10",
        ]);
        assert_eq!(code, 0, "{stderr}");
    }
    let (code, stdout, stderr) = augur(&[
        "diff",
        a1.to_str().unwrap(),
        a2.to_str().unwrap(),
        "--fail-on-regression",
        "10",
    ]);
    assert_eq!(code, 0, "same build flagged:\n{stdout}{stderr}");
    assert!(stdout.contains("21 functions tested"), "{stdout}");
}
