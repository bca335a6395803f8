//! The memory profile against the tools memory is checked with: a fixture
//! whose leaking path allocates a quarter of the bytes and holds all of
//! them, read back through `augur record` and `augur up`, compared with
//! `go tool pprof -sample_index=...` on our pprof files and with bcc's
//! `memleak` on the same process in the same run; and the edge cases
//! (frees of memory allocated before the probes, a full live map).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use augur_tests::*;

/// Mean bytes between samples in these tests: the fixture allocates about
/// 100 MB in 4 s, so about 1,500 samples, enough to tell 25/75 from 30/70.
const MEAN_BYTES: &str = "memory:65536";

/// `go tool pprof -sample_index=INDEX -top -cum` on `file`.
fn pprof_cum(file: &Path, index: &str, scratch: &Path) -> String {
    let output = offline_go(
        &[
            "tool",
            "pprof",
            &format!("-sample_index={index}"),
            "-top",
            "-cum",
            "-nodecount=40",
        ],
        scratch,
    )
    .arg(file)
    .env("PPROF_TMPDIR", scratch)
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "go tool pprof: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A function's cumulative share (0..1) in `pprof -top -cum` output; 0
/// when it is not listed.
fn cum_share(top: &str, function: &str) -> f64 {
    top.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 6 && fields[5] == function).then(|| fields[4])
        })
        .find_map(|pct| pct.trim_end_matches('%').parse::<f64>().ok())
        .map_or(0.0, |p| p / 100.0)
}

/// Asserts the fixture's two facts: the leaking path holds at least 90% of
/// the memory in use, and allocated 25% of the bytes (within 5 points).
fn assert_leak_and_split(in_use_leak: f64, alloc_leak: f64, alloc_churn: f64, context: &str) {
    eprintln!(
        "{context}: leak_block holds {:.1}% in use; allocated: leak {alloc_leak:.3}, churn {alloc_churn:.3}",
        in_use_leak * 100.0
    );
    assert!(
        in_use_leak >= 0.90,
        "{context}: leak_block holds only {:.1}% of the memory in use",
        in_use_leak * 100.0
    );
    let share = alloc_churn / (alloc_churn + alloc_leak);
    assert!(
        (0.70..=0.80).contains(&share),
        "{context}: churn_block allocated {:.1}% of the fixture's bytes, not 75% (leak {alloc_leak}, churn {alloc_churn})",
        share * 100.0
    );
}

/// Outstanding stacks as bcc's memleak reports them: (bytes, frames).
fn parse_memleak(text: &str) -> Vec<(u64, Vec<String>)> {
    let mut stacks: Vec<(u64, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some((bytes, rest)) = line.split_once(" bytes in ")
            && rest.contains("allocations from stack")
            && let Ok(bytes) = bytes.trim().parse()
        {
            stacks.push((bytes, Vec::new()));
        } else if let Some((_, frames)) = stacks.last_mut()
            && let Some(symbol) = line.split_whitespace().nth(1)
            && line.starts_with("0x")
        {
            frames.push(symbol.split('+').next().unwrap_or(symbol).to_owned());
        }
    }
    stacks
}

/// memleak needs kernel headers at /lib/modules/$(uname -r)/build
/// (scripts/test.sh links Debian's).
fn memleak_runs() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    have("memleak-bpfcc", "-h")
        && Path::new(&format!("/lib/modules/{}/build", release.trim())).exists()
}

#[test]
fn record_finds_the_leak_and_the_split_as_go_pprof_and_memleak_do() {
    if !require(is_root(), "root (eBPF uprobes)")
        || !require(have("go", "version"), "go (go tool pprof)")
        || !require(memleak_runs(), "memleak-bpfcc with kernel headers")
    {
        return;
    }
    let _heavy = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "memory.c", "memfix-rec").unwrap();
    // bcc's memleak on a run of the fixture first, alone: the kernel
    // refuses a second uprobe on an address, in any process, unless both
    // give the same reference counter, and Debian's bcc 0.26 gives a stray
    // one (EINVAL). It compiles its program (seconds), then reports what
    // is outstanding after 6 s.
    let mut alone = Command::new(&fixture).arg("12").spawn().unwrap();
    let memleak = Command::new("memleak-bpfcc")
        .args(["-p", &alone.id().to_string(), "--top", "5", "6", "1"])
        .output()
        .unwrap();
    assert!(alone.wait().unwrap().success());

    let out = dir.path().join("memory.pb.gz");
    let mut record = Command::new(augur_bin())
        .args(["record", "--profile", MEAN_BYTES, "-o"])
        .arg(&out)
        .arg("--")
        .arg(&fixture)
        .arg("6")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let status = record.wait().unwrap();
    assert!(status.success(), "augur record exited with {status}");

    let scratch = dir.path().join("go");
    let in_use = pprof_cum(&out, "inuse_space", &scratch);
    let allocated = pprof_cum(&out, "alloc_space", &scratch);
    assert_leak_and_split(
        cum_share(&in_use, "leak_block"),
        cum_share(&allocated, "leak_block"),
        cum_share(&allocated, "churn_block"),
        "augur record, read by go tool pprof",
    );
    assert!(
        cum_share(&in_use, "churn_block") < 0.02,
        "churn_block frees every block, yet holds memory:\n{in_use}"
    );
    // Objects agree with bytes: one block size.
    let objects = pprof_cum(&out, "inuse_objects", &scratch);
    assert!(cum_share(&objects, "leak_block") >= 0.90, "{objects}");

    let report = String::from_utf8_lossy(&memleak.stdout);
    let stacks = parse_memleak(&report);
    let total: u64 = stacks.iter().map(|(b, _)| b).sum();
    let (top_bytes, top_frames) = stacks.iter().max_by_key(|(b, _)| *b).unwrap_or_else(|| {
        panic!(
            "memleak reported nothing:\n{report}\n{}",
            String::from_utf8_lossy(&memleak.stderr)
        )
    });
    assert!(
        top_frames.iter().any(|f| f == "leak_block"),
        "memleak's top outstanding stack is not leak_block's: {top_frames:?}\n{report}"
    );
    assert!(
        *top_bytes as f64 >= 0.90 * total as f64,
        "memleak: leak_block holds {top_bytes} of {total} outstanding bytes\n{report}"
    );
    // The same chain on both sides: our stacks add only the allocator's
    // own frame at the leaf.
    for function in ["orchestrate", "main"] {
        assert!(
            top_frames.iter().any(|f| f == function),
            "memleak's stack lacks {function}: {top_frames:?}"
        );
        assert!(
            cum_share(&in_use, function) >= 0.90,
            "our in-use stacks lack {function}:\n{in_use}"
        );
    }
}

/// Polls the JSON profile of `service` of `profile_type` until its count
/// is non-zero, stopped changing between two polls, and every frame of
/// the service's own binary is named (the server symbolizes after it
/// stores: until then a frame reads `[service+0x...]`).
fn settled_profile(base: &str, service: &str, profile_type: &str) -> serde_json::Value {
    let url =
        format!("{base}api/v1/profile?service={service}&type={profile_type}&from=-10m&to=now");
    let deadline = Instant::now() + Duration::from_secs(90);
    let unnamed = format!("[{service}+0x");
    let mut previous = None;
    loop {
        let profile = http_json(&url).unwrap();
        let stacks = json_stacks(&profile);
        let total: u64 = stacks.iter().map(|(_, n)| n).sum();
        let named = !stacks
            .iter()
            .any(|(frames, _)| frames.iter().any(|f| f.starts_with(&unnamed)));
        if total > 0 && named && previous == Some(total) {
            return profile;
        }
        previous = Some(total);
        assert!(
            Instant::now() < deadline,
            "{profile_type} of {service} did not settle: {profile}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

#[test]
fn augur_up_stores_allocations_and_memory_in_use_for_the_page_and_pprof() {
    if !require(is_root(), "root (eBPF uprobes)")
        || !require(have("go", "version"), "go (go tool pprof)")
    {
        return;
    }
    let _heavy = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "memory.c", "memfix-up").unwrap();
    let up = start_up(
        &dir.path().join("data"),
        &["--profile", MEAN_BYTES, "--memory-processes", "^memfix-up$"],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    let metrics = format!("{base}metrics");
    let mut running = Command::new(&fixture).arg("8").spawn().unwrap();
    wait_until("the fixture to be probed", Duration::from_secs(8), || {
        try_metric(&metrics, "augur_agent_memory_processes").is_some_and(|n| n >= 1.0)
    });
    let status = running.wait().unwrap();
    assert!(status.success());

    let in_use = settled_profile(&base, "memfix-up", "inuse_space");
    let allocated = settled_profile(&base, "memfix-up", "alloc_space");
    let share = |profile: &serde_json::Value, function: &str| {
        let stacks = json_stacks(profile);
        let total: u64 = stacks.iter().map(|(_, n)| n).sum();
        count_with(&stacks, function) as f64 / total.max(1) as f64
    };
    assert_leak_and_split(
        share(&in_use, "leak_block"),
        share(&allocated, "leak_block"),
        share(&allocated, "churn_block"),
        "augur up, /api/v1/profile",
    );

    // The pprof download of the in-use type, read by go tool pprof.
    let (code, body) = http_get(&format!(
        "{base}api/v1/profile?service=memfix-up&type=inuse_space&from=-10m&to=now&format=pprof"
    ))
    .unwrap();
    assert_eq!(code, 200);
    let file = dir.path().join("inuse.pb.gz");
    std::fs::write(&file, body).unwrap();
    let top = pprof_cum(&file, "inuse_space", &dir.path().join("go"));
    assert!(
        cum_share(&top, "leak_block") >= 0.90,
        "go tool pprof -sample_index=inuse_space on the download:\n{top}"
    );
    assert!(top.contains("Type: inuse_space"), "{top}");

    // In use over time: the timeline has the gauge's points.
    let timeline = http_json(&format!(
        "{base}api/v1/timeline?service=memfix-up&type=inuse_space&from=-10m&to=now"
    ))
    .unwrap();
    let points = timeline["points"].as_array().cloned().unwrap_or_default();
    assert!(!points.is_empty(), "no in-use timeline: {timeline}");

    assert!(
        metric(
            &metrics,
            "augur_agent_memory_events_total{event=\"sampled\"}"
        ) > 100.0
    );
    up.terminate().unwrap();
}

#[test]
fn frees_of_memory_allocated_earlier_and_a_full_live_map_are_counted() {
    if !require(is_root(), "root (eBPF uprobes)") {
        return;
    }
    let _heavy = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "memory.c", "memfix-early").unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[memory]\nlive_allocations = 16\n").unwrap();
    // 20,000 blocks allocated before the agent starts, freed 8 s later,
    // once it probes the process; then a leak far larger than 16 entries.
    let mut early = Command::new(&fixture)
        .args(["4", "20000", "8"])
        .spawn()
        .unwrap();
    let mut up = start_up(
        &dir.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "memory:4096",
            "--memory-processes",
            "^memfix-early$",
        ],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    let status = early.wait().unwrap();
    assert!(status.success(), "the fixture failed: {status}");

    let metrics = format!("{base}metrics");
    wait_until(
        "the memory events to be reported",
        Duration::from_secs(30),
        || {
            try_metric(
                &metrics,
                "augur_agent_memory_events_total{event=\"live_map_full\"}",
            )
            .is_some_and(|n| n > 0.0)
        },
    );
    let untracked = metric(
        &metrics,
        "augur_agent_memory_events_total{event=\"free_untracked\"}",
    );
    assert!(
        untracked >= 20_000.0,
        "only {untracked} frees of untracked blocks; the 20,000 early ones must be among them"
    );
    // Nothing went negative or wrong: what is held is at most the 16
    // tracked allocations, each a sample of 4 KiB or more.
    let in_use = settled_profile(&base, "memfix-early", "inuse_objects");
    for (frames, count) in json_stacks(&in_use) {
        assert!(
            count < 1 << 40,
            "implausible in-use count {count} at {frames:?}"
        );
    }
    assert!(up.is_running(), "augur up died");
    up.terminate().unwrap();
}

#[test]
fn a_python_process_allocation_profile_names_its_python_functions() {
    if !require(is_root(), "root (eBPF uprobes)")
        || !require(have("go", "version"), "go (go tool pprof)")
        || !require(have("python3", "--version"), "python3")
    {
        return;
    }
    let _heavy = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lists.pb.gz");
    let status = Command::new(augur_bin())
        .args(["record", "--profile", MEAN_BYTES, "-o"])
        .arg(&out)
        .args(["--", "python3"])
        .arg(fixture_source("python/lists.py"))
        .arg("5")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "augur record exited with {status}");
    let top = pprof_cum(&out, "alloc_space", &dir.path().join("go"));
    let (big, small) = (cum_share(&top, "build_big"), cum_share(&top, "build_small"));
    // The list item arrays grow by realloc in proportion to their lengths:
    // 200,000 items against 3 x 20,000.
    let share = big / (big + small);
    assert!(
        (big + small) >= 0.9 && (0.72..=0.82).contains(&share),
        "build_big {big:.3}, build_small {small:.3} of the bytes (expected about 0.77 of their sum):\n{top}"
    );
}

/// Runs `augur record --profile PROFILE --format folded` on `command`.
fn record_folded(
    profile: &str,
    dir: &Path,
    command: &[&std::ffi::OsStr],
) -> Vec<(Vec<String>, u64)> {
    let out = dir.join(format!("{profile}.folded"));
    let status = Command::new(augur_bin())
        .args(["record", "--profile", profile, "--format", "folded", "-o"])
        .arg(&out)
        .arg("--")
        .args(command)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "augur record --profile {profile}: {status}"
    );
    parse_folded(&std::fs::read_to_string(&out).unwrap())
}

#[test]
fn brk_and_mmap_growth_are_weighed_in_bytes_where_they_were_asked_for() {
    if !require(is_root(), "root (eBPF tracepoints)") {
        return;
    }
    let _heavy = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    // 40 anonymous maps of 32 MiB, each by touch_new_memory.
    let faults = build_fixture(dir.path(), "faults.c", "growth-faults").unwrap();
    let stacks = record_folded("mmap", dir.path(), &[faults.as_os_str(), "40".as_ref()]);
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let expected = 40u64 * (32 << 20);
    assert!(
        total >= expected && total < expected + (16 << 20),
        "mmap counted {total} bytes; the fixture maps {expected} anonymously (and the loader a little)"
    );
    // Walked with libc's table, every map is touch_new_memory's; before
    // the table is in (how many maps that is depends on the machine's
    // load), frame pointers lose the leaf wrapper's caller, and say so.
    let touching = count_with(&stacks, "touch_new_memory");
    assert!(touching > 0, "{}", busiest(&stacks, 5));
    for (frames, bytes) in &stacks {
        assert!(
            *bytes < 32 << 20
                || frames.iter().any(|f| f == "touch_new_memory")
                || frames.first().is_some_and(|f| f == "[truncated]"),
            "{bytes} bytes at a stack that lost touch_new_memory unmarked: {frames:?}"
        );
    }

    // The heap grows by brk under malloc, for the fixture's leak.
    let memory = build_fixture(dir.path(), "memory.c", "growth-brk").unwrap();
    let stacks = record_folded("brk", dir.path(), &[memory.as_os_str(), "3".as_ref()]);
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let grown = count_with(&stacks, "sysmalloc");
    assert!(
        total > 4 << 20 && grown as f64 >= 0.9 * total as f64,
        "brk grew the heap by {total} bytes, {grown} of them in malloc's sysmalloc: {}",
        busiest(&stacks, 5)
    );
    assert!(
        count_with(&stacks, "orchestrate") as f64 >= 0.9 * total as f64,
        "{}",
        busiest(&stacks, 5)
    );
}
