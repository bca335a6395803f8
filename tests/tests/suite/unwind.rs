//! The in-kernel unwinder on code built without frame pointers: a C fixture
//! four calls deep keeps its whole chain with unwind tables and loses it
//! with frame pointers only; stacks through Debian's libc (`qsort`) and a
//! program no one here wrote (Debian's `python3`) reach their roots.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use augur_tests::*;

/// Starts `augur agent` with `config` and returns it with its metrics URL.
fn start_agent(ingest: &str, spool: &Path, config: &Path) -> (AugurProcess, String) {
    let (agent, metrics) = AugurProcess::start_and_wait_for(
        &[
            "agent",
            "--server",
            ingest,
            "--window",
            "2s",
            "--frequency",
            "99",
            "--spool-dir",
            spool.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
        "augur: agent metrics on ",
    )
    .unwrap();
    let metrics = metrics.trim().to_owned();
    // Tables for the processes already running are built first; a fixture
    // started meanwhile would wait for its snapshot.
    let mut previous = -1.0;
    wait_until(
        "the agent built its first tables",
        Duration::from_secs(120),
        || {
            std::thread::sleep(Duration::from_secs(2));
            let built = try_metric(&metrics, "augur_agent_drains_total").map(|_| {
                try_metric(&metrics, "augur_agent_unwind_tables_built_total").unwrap_or(0.0)
            });
            let settled = built == Some(previous);
            previous = built.unwrap_or(-1.0);
            settled
        },
    );
    (agent, metrics)
}

/// Agent settings keeping only executables named `augur-*`, each its own
/// service.
fn config(unwinder: &str) -> String {
    format!(
        r#"
[sampling]
unwinder = "{unwinder}"

[debuginfo]
upload = false

[[relabel]]
action = "keep"
source_labels = ["exe"]
regex = ".*/augur-[a-z-]+"
"#
    )
}

/// Builds the fixture without frame pointers under `name`.
fn build_nofp(dir: &Path, name: &str) -> std::path::PathBuf {
    build_fixture_with(dir, "nofp.c", name, &["-O2", "-fomit-frame-pointer"]).unwrap()
}

/// Root-first stacks of `service` once at least `min` samples arrived, the
/// count stopped growing and `root` is named.
fn stored_stacks(
    base: &str,
    service: &str,
    min: u64,
    root: &str,
) -> (Vec<(Vec<String>, u64)>, u64) {
    let url = format!("{base}api/v1/profile?service={service}&from=-10m&to=now");
    let mut previous = 0;
    let mut profile = serde_json::Value::Null;
    wait_until(
        &format!("{min} samples of {service} stored"),
        Duration::from_secs(90),
        || {
            profile = http_json(&url).unwrap();
            let total = profile["total_samples"].as_u64().unwrap_or(0);
            let (named, _) = function_counts(&profile, root);
            let done = total >= min && total == previous && named > 0;
            previous = total;
            if !done {
                std::thread::sleep(Duration::from_secs(2));
            }
            done
        },
    );
    let total = profile["total_samples"].as_u64().unwrap();
    (json_stacks(&profile), total)
}

/// Logs the agent's unwinder metrics and the verifier's instruction count.
fn log_unwinder_metrics(metrics: &str) -> f64 {
    let (_, body) = http_get(metrics).unwrap();
    let text = String::from_utf8(body).unwrap();
    for line in text
        .lines()
        .filter(|l| l.starts_with("augur_agent_unwind") || l.contains("verified_insns"))
    {
        eprintln!("agent metric: {line}");
    }
    metric(
        metrics,
        "augur_agent_bpf_verified_insns{program=\"cpu/sample_stack\"}",
    )
}

#[test]
fn unwind_tables_keep_the_whole_chain_that_frame_pointers_lose() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tables = build_nofp(dir.path(), "augur-nofp-tab");
    let pointers = build_nofp(dir.path(), "augur-nofp-fp");
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let chain = ["main", "level_a", "level_b", "level_c", "hot"];

    // With unwind tables (the default).
    let auto = dir.path().join("auto.toml");
    std::fs::write(&auto, config("auto")).unwrap();
    let (agent, metrics) = start_agent(&ingest, &dir.path().join("spool-auto"), &auto);
    assert!(
        Command::new(&tables)
            .args(["chain", "6"])
            .status()
            .unwrap()
            .success()
    );
    let (stacks, total) = stored_stacks(&base, "augur-nofp-tab", 60, "main");
    let whole = chain_count(&stacks, &chain);
    assert!(
        whole * 100 >= total * 90,
        "with unwind tables only {whole} of {total} samples show {chain:?}: {stacks:?}"
    );
    let verified = log_unwinder_metrics(&metrics);
    eprintln!("sample_stack: the verifier processed {verified} instructions");
    assert!(verified > 0.0);
    assert!(metric(&metrics, "augur_agent_unwind_tables_built_total") >= 1.0);
    assert!(
        metric(
            &metrics,
            "augur_agent_unwind_events_total{event=\"frames_table\"}"
        ) > 0.0
    );
    assert!(agent.terminate().unwrap().success());

    // Frame pointers only: the same code loses its callers.
    let fp = dir.path().join("fp.toml");
    std::fs::write(&fp, config("frame-pointers")).unwrap();
    let (agent, metrics) = start_agent(&ingest, &dir.path().join("spool-fp"), &fp);
    assert!(
        Command::new(&pointers)
            .args(["chain", "6"])
            .status()
            .unwrap()
            .success()
    );
    let url = format!("{base}api/v1/profile?service=augur-nofp-fp&from=-10m&to=now");
    let mut profile = serde_json::Value::Null;
    let mut previous = 0;
    wait_until(
        "frame-pointer samples stored",
        Duration::from_secs(90),
        || {
            profile = http_json(&url).unwrap();
            let (hot, _) = function_counts(&profile, "hot");
            let done = hot >= 60 && hot == previous;
            previous = hot;
            if !done {
                std::thread::sleep(Duration::from_secs(2));
            }
            done
        },
    );
    let stacks = json_stacks(&profile);
    let total = profile["total_samples"].as_u64().unwrap();
    let whole = chain_count(&stacks, &chain);
    assert!(
        whole * 100 <= total * 10,
        "frame pointers alone found {whole} of {total} whole chains: the fixture has frame pointers?"
    );
    assert_eq!(
        try_metric(&metrics, "augur_agent_unwind_tables_built_total"),
        Some(0.0),
        "no tables are built when frame pointers are forced"
    );
    assert!(agent.terminate().unwrap().success());
}

#[test]
fn stacks_through_libc_and_python_reach_their_roots() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let python = Path::new("/usr/bin/python3");
    let dir = tempfile::tempdir().unwrap();
    let sorter = build_nofp(dir.path(), "augur-qsort");
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let auto = dir.path().join("auto.toml");
    std::fs::write(&auto, config("auto")).unwrap();
    let (agent, metrics) = start_agent(&ingest, &dir.path().join("spool"), &auto);

    // qsort calls the comparator from inside libc, built without frame
    // pointers.
    assert!(
        Command::new(&sorter)
            .args(["qsort", "6"])
            .status()
            .unwrap()
            .success()
    );
    let (stacks, total) = stored_stacks(&base, "augur-qsort", 60, "main");
    let through_libc: u64 = stacks
        .iter()
        .filter(|(frames, _)| {
            let at = |name: &str| frames.iter().position(|f| f == name);
            match (at("main"), at("sort_round"), at("compare")) {
                (Some(m), Some(s), Some(c)) => {
                    m < s
                        && s + 1 < c
                        && frames[s + 1..c]
                            .iter()
                            .any(|f| f.contains("qsort") || f.contains("msort"))
                }
                _ => false,
            }
        })
        .map(|(_, n)| n)
        .sum();
    let (in_compare, _) = {
        let profile = http_json(&format!(
            "{base}api/v1/profile?service=augur-qsort&from=-10m&to=now"
        ))
        .unwrap();
        function_counts(&profile, "compare")
    };
    assert!(
        in_compare * 100 >= total * 50,
        "compare should be hot: {in_compare} of {total}"
    );
    assert!(
        through_libc * 100 >= in_compare * 90,
        "only {through_libc} of {in_compare} samples in compare show main -> sort_round -> qsort internals -> compare: {stacks:?}"
    );

    // Debian's python3, copied under a name of its own (it finds its
    // library in the built-in prefix).
    if require(python.exists(), "/usr/bin/python3") {
        let link = dir.path().join("augur-python");
        std::fs::copy(python, &link).unwrap();
        let program = "import time\n\
                       def work(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n\
                       end = time.time() + 8\n\
                       while time.time() < end:\n    work(100000)\n";
        assert!(
            Command::new(&link)
                .args(["-c", program])
                .status()
                .unwrap()
                .success()
        );
        let (stacks, total) = stored_stacks(&base, "augur-python", 100, "Py_RunMain");
        let rooted: u64 = stacks
            .iter()
            .filter(|(frames, _)| frames.iter().any(|f| f == "Py_RunMain" || f == "main"))
            .map(|(_, n)| n)
            .sum();
        let truncated = chain_count(&stacks, &["[truncated]"]);
        eprintln!("python3: {rooted} of {total} samples reach Py_RunMain, {truncated} truncated");
        assert!(
            rooted * 100 > total * 90,
            "only {rooted} of {total} python3 samples reach Py_RunMain or main"
        );
    }
    log_unwinder_metrics(&metrics);
    assert!(agent.terminate().unwrap().success());
}
