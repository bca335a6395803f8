//! Regression detection between deploys: a fixture service runs as build
//! A, then as build B, in which `hot_path` does 30% more work and its
//! twenty other functions are unchanged. The server detects the deploy,
//! compares it with the previous one on its own once both have enough
//! samples (pending until then), flags `hot_path` as the one significant
//! regression and nothing else, and `augur diff --fail-on-regression 10`
//! fails on that pair but not on two runs of the same build.
//!
//! The fixture spends a budget of CPU time, not of wall time, on two
//! threads: a loaded machine gives the same number of samples, later. At
//! 997 Hz, 8 CPU-seconds per side is about 8,000 samples, which finds a
//! 30% regression of `hot_path` (29% of the samples) even with two or
//! three times the binomial noise (`augur_profile::diff` measures it; the
//! unit tests there simulate it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use augur_tests::*;

const NAME: &str = "augur-fixture-regress";
/// Sampling frequency.
const HZ: &str = "997";
/// CPU-seconds each deploy runs for; B in two runs, the first of one
/// second, so that it is seen pending.
const CPU_SECONDS: &str = "8";
const B_FIRST_CPU_SECONDS: &str = "1";
const B_REST_CPU_SECONDS: &str = "7";
/// Samples each side needs before the server compares them: reached while
/// B's second run goes, so the comparison is first pending, then computed
/// by the background task and recomputed as B's samples arrive.
const MIN_SAMPLES: u64 = 4000;

/// Builds the fixture as `dir/NAME`, slower or not.
fn build(dir: &Path, slower: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut extra = vec!["-pthread"];
    if slower {
        extra.push("-DAUGUR_SLOWER=1");
    }
    build_fixture_with(dir, "regress.c", NAME, &extra).unwrap()
}

/// Starts the fixture on two threads for `cpu_seconds` of CPU time; it
/// stays three seconds more, so a starved agent still names its samples.
fn spawn(binary: &Path, cpu_seconds: &str) -> std::process::Child {
    Command::new(binary)
        .args([cpu_seconds, "2", "3"])
        .spawn()
        .unwrap()
}

fn augur(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(augur_bin()).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts the A/B comparison: `hot_path` is the only regression, about
/// +30% and significant; nothing improved; every fixture function tested.
fn assert_only_hot_path_regressed(diff: &serde_json::Value) {
    let regressions = diff["regressions"].as_array().unwrap();
    assert_eq!(regressions.len(), 1, "exactly one regression: {diff}");
    assert_eq!(regressions[0]["name"], "hot_path", "{diff}");
    assert_eq!(regressions[0]["significant"], true, "{diff}");
    assert!(
        regressions[0]["p_value"].as_f64().unwrap() < 0.005,
        "{diff}"
    );
    let change = regressions[0]["change"].as_f64().unwrap();
    assert!((0.1..0.6).contains(&change), "about +30%: {change}");
    assert!(regressions[0]["impact"].as_f64().unwrap() > 0.0);
    assert_eq!(diff["improvements"].as_array().unwrap().len(), 0, "{diff}");
}

#[test]
fn a_slower_deploy_is_flagged_and_nothing_else_is() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let a = build(&dir.path().join("a"), false);
    let b = build(&dir.path().join("b"), true);
    let data = dir.path().join("data");
    let min_samples = MIN_SAMPLES.to_string();
    let up = AugurProcess::start(&[
        "up",
        "--data-dir",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--ingest",
        "127.0.0.1:0",
        "--window",
        "2s",
        "--frequency",
        HZ,
        "--compare-min-samples",
        &min_samples,
        "--compare-interval",
        "1s",
    ])
    .unwrap();
    let base = up.http.clone().unwrap();
    let url = format!("{base}api/v1/deploys?service={NAME}");
    let metrics = format!("{base}metrics");

    assert!(spawn(&a, CPU_SECONDS).wait().unwrap().success());
    // B's first second: the new deploy shows up, pending with its counts.
    assert!(spawn(&b, B_FIRST_CPU_SECONDS).wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let pending = loop {
        let first = http_json(&url).unwrap();
        std::thread::sleep(Duration::from_secs(4));
        let answer = http_json(&url).unwrap();
        if answer["deploys"].as_array().unwrap().len() == 2 && first["deploys"] == answer["deploys"]
        {
            break answer;
        }
        assert!(Instant::now() < deadline, "B not seen in time: {answer}");
    };
    let status = &pending["deploys"][1]["comparison"];
    assert_eq!(status["status"], "pending", "{pending}");
    assert_eq!(status["min_samples"], MIN_SAMPLES, "{pending}");
    assert_eq!(
        status["target_samples"], pending["deploys"][1]["cpu_samples"],
        "{pending}"
    );
    assert!(status["target_samples"].as_u64().unwrap() < MIN_SAMPLES);
    assert!(status["base_samples"].as_u64().unwrap() >= MIN_SAMPLES);
    assert_eq!(pending["comparisons"][0]["ready"], false, "{pending}");
    assert!(spawn(&b, B_REST_CPU_SECONDS).wait().unwrap().success());

    // The background task compares the pair on its own (as B's samples grow
    // past MIN_SAMPLES). Wait for it on /metrics alone: asking for the
    // deploys before it has compared anything would make the request
    // compute the comparison itself (a loaded machine can delay the task).
    let background = || {
        try_metric(
            &metrics,
            "augur_web_deploy_comparisons_total{trigger=\"background\"}",
        )
        .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while background() < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the background task compared nothing in time"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Then wait until the answer describes B's final samples: two polls two
    // windows apart see the same deploys. With a comparison cached, these
    // requests only read it. A pass compares every service on the host
    // (this host's own `augur` service included), which on a loaded
    // machine with debug builds can take tens of seconds.
    let deadline = Instant::now() + Duration::from_secs(150);
    let answer = loop {
        let first = http_json(&url).unwrap();
        std::thread::sleep(Duration::from_secs(4));
        let answer = http_json(&url).unwrap();
        let counts = |a: &serde_json::Value| {
            a["deploys"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| (d["version"].clone(), d["cpu_samples"].clone()))
                .collect::<Vec<_>>()
        };
        let done = &answer["deploys"][1]["comparison"];
        if counts(&first) == counts(&answer)
            && done["status"] == "done"
            && done["target_samples"] == answer["deploys"][1]["cpu_samples"]
            && done["base_samples"] == answer["deploys"][0]["cpu_samples"]
        {
            break answer;
        }
        if Instant::now() > deadline {
            let (_, text) = http_get(&metrics).unwrap();
            panic!(
                "deploys not compared in time: {answer}\n{}",
                String::from_utf8_lossy(&text)
            );
        }
    };
    println!("deploys: {answer:#}");
    // Computed by the background task, which also counted the regression
    // (other services on this host may add to the counters).
    assert_eq!(
        answer["deploys"][1]["comparison"]["computed_by"], "background",
        "{answer}"
    );
    assert!(background() >= 1.0, "the background task compared nothing");
    assert!(metric(&metrics, "augur_web_deploy_regressions_total") >= 1.0);

    // The deploy is detected: two builds, in order.
    let deploys = answer["deploys"].as_array().unwrap();
    assert_eq!(deploys.len(), 2, "{answer}");
    assert_ne!(deploys[0]["build_ids"], deploys[1]["build_ids"]);
    assert!(deploys[0]["comparison"].is_null(), "{answer}");
    let (old, new) = (
        deploys[0]["version"].as_str().unwrap().to_owned(),
        deploys[1]["version"].as_str().unwrap().to_owned(),
    );
    for d in deploys {
        assert!(d["cpu_samples"].as_u64().unwrap() >= 6000, "{d}");
    }
    let status = &deploys[1]["comparison"];
    assert_eq!(status["previous"], old.as_str());
    assert_only_hot_path_regressed(status);
    assert!(status["regressions"][0]["impact_seconds"].as_f64().unwrap() > 0.0);
    let diff = &answer["comparisons"][0]["diff"];
    assert_eq!(answer["comparisons"][0]["base"], old.as_str());
    assert_only_hot_path_regressed(diff);
    let tested = diff["all"].as_array().unwrap();
    for i in 0..20 {
        let name = format!("work_{i:02}");
        let work = tested.iter().find(|c| c["name"] == name.as_str());
        let work = work.unwrap_or_else(|| panic!("{name} not tested: {diff}"));
        assert_eq!(work["significant"], false, "{work}");
    }

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
            HZ,
            "-o",
            out.to_str().unwrap(),
            "--",
            a.to_str().unwrap(),
            "2",
            "2",
            "3",
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
    let tested: usize = stdout
        .split("; ")
        .find_map(|part| part.strip_suffix(" functions tested")?.parse().ok())
        .unwrap_or_else(|| panic!("no count of functions tested: {stdout}"));
    assert!(tested >= 21, "{stdout}");
    println!("regress: {:.0} s", started.elapsed().as_secs_f64());
}
