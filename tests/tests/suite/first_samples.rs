//! Whole stacks from a process's first sample (issue 23): the split
//! fixture, built with frame pointers into a binary the agent has never
//! seen, runs under `augur up` on a host where libc's unwind table is
//! already built. At least 99% of its samples in `hot_a` or `hot_b` must
//! carry the whole chain `_start -> ... -> main -> caller_x -> hot_x` (the
//! issue's `orchestrate -> crunch_*`), both over a ten-second run and over
//! a process that lives for one CPU second, and every sample that does not
//! start at `_start` must be marked `[truncated]`.
//!
//! Storage keeps one-minute windows, coarser than a second, so "its first
//! second" is a process of its own: a second build of the fixture (its
//! own build-id, so its table is never seen either) that spins for one CPU
//! second; every one of its samples is from its first second.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use augur_tests::*;

/// Root-first stacks of `service` over the last 10 minutes, once the
/// fixture exited and its sample total stopped growing.
fn final_stacks(base: &str, service: &str) -> Vec<(Vec<String>, u64)> {
    let url = format!("{base}api/v1/profile?service={service}&from=-10m&to=now");
    let mut previous = u64::MAX;
    let mut stacks = Vec::new();
    wait_until(
        &format!("{service}: its last samples stored"),
        Duration::from_secs(180),
        || {
            // A window (2 s) and a server flush, then look again.
            std::thread::sleep(Duration::from_secs(5));
            stacks = json_stacks(&http_json(&url).unwrap());
            let total: u64 = stacks.iter().map(|(_, n)| n).sum();
            // The fixture's own frames are named late, by the server's
            // symbolizer; wait for their names too.
            let unnamed = format!("[{service}+0x");
            let named = stacks
                .iter()
                .all(|(frames, _)| !frames.iter().any(|f| f.starts_with(&unnamed)));
            let done = total > 0 && total == previous && named;
            previous = total;
            done
        },
    );
    stacks
}

/// Whether a root-first stack is the whole chain: `_start` at the root,
/// then somewhere `main -> caller_a -> hot_a` or `main -> caller_b ->
/// hot_b`.
fn is_whole(frames: &[String]) -> bool {
    frames.first().is_some_and(|f| f == "_start")
        && frames.windows(3).any(|w| {
            w[0] == "main"
                && ((w[1] == "caller_a" && w[2] == "hot_a")
                    || (w[1] == "caller_b" && w[2] == "hot_b"))
        })
}

/// Whether a stack names one of the hot functions anywhere.
fn in_hot(frames: &[String]) -> bool {
    frames.iter().any(|f| f == "hot_a" || f == "hot_b")
}

/// (samples in `hot_x`, of those the whole chains, marked truncated,
/// neither rooted at `_start` nor marked). Samples outside `hot_x` (the
/// loop in `main`, its clock reads: about 1%) count only if cut short.
fn shares(stacks: &[(Vec<String>, u64)]) -> (u64, u64, u64, u64) {
    let count = |keep: &dyn Fn(&[String]) -> bool| -> u64 {
        stacks
            .iter()
            .filter(|(frames, _)| keep(frames))
            .map(|(_, n)| n)
            .sum()
    };
    let total = count(&|f| in_hot(f));
    let whole = count(&|f| in_hot(f) && is_whole(f));
    let marked = count(&|f| f.first().is_some_and(|r| r == "[truncated]"));
    let unmarked = count(&|f| {
        f.first()
            .is_none_or(|r| r != "[truncated]" && r != "_start")
            && !in_exec_or_exit(f)
    });
    (total, whole, marked, unmarked)
}

/// Runs `program SECONDS` to its end and returns its stored stacks.
fn run(base: &str, program: &Path, seconds: &str) -> Vec<(Vec<String>, u64)> {
    let status = Command::new(program)
        .arg(seconds)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{}: {status}", program.display());
    let service = program.file_name().unwrap().to_str().unwrap();
    final_stacks(base, service)
}

/// Asserts the target on `stacks`: at least `min_samples` in
/// `hot_x`, 99% of those whole, and nothing cut short left unmarked.
fn assert_whole(what: &str, stacks: &[(Vec<String>, u64)], min_samples: u64) {
    let (total, whole, marked, unmarked) = shares(stacks);
    let percent = whole as f64 * 100.0 / total.max(1) as f64;
    let all: u64 = stacks.iter().map(|(_, n)| n).sum();
    eprintln!(
        "{what}: {whole} of {total} samples in hot_x whole ({percent:.1}%; {all} samples in all), {marked} marked [truncated], {unmarked} cut short unmarked"
    );
    assert!(
        total >= min_samples,
        "{what}: only {total} samples (wanted {min_samples}): {stacks:?}"
    );
    assert!(
        whole * 100 >= total * 99,
        "{what}: {whole} of {total} samples carry _start -> ... -> main -> caller_x -> hot_x ({percent:.1}%, wanted 99%): {}",
        busiest(stacks, 12)
    );
    assert_eq!(
        unmarked,
        0,
        "{what}: stacks that do not reach _start must be marked [truncated]: {}",
        busiest(stacks, 12)
    );
}

/// Logs the agent's unwinder metrics.
fn log_unwinder(metrics: &str) {
    let Ok((_, body)) = http_get(metrics) else {
        return;
    };
    for line in String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with("augur_agent_unwind"))
    {
        eprintln!("agent metric: {line}");
    }
}

#[test]
fn a_frame_pointer_fixture_is_whole_from_its_first_second() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let _alone = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    // Three builds, three build-ids: each is new to the agent when it runs.
    let build = |name: &str, variant: &str| {
        build_fixture_with(
            dir.path(),
            "split.c",
            name,
            &[&format!("-DAUGUR_VARIANT={variant}")],
        )
        .unwrap()
    };
    let warm = build("augur-first-warm", "1");
    let first_second = build("augur-first-second", "2");
    let longer = build("augur-first-ten", "3");
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    let metrics = format!("{base}metrics");

    // Any process using libc has its table built within moments of being
    // seen, once the agent is through the processes it found at its start
    // (seconds, in a debug build on a busy machine). Short runs of a third
    // build until one shows a whole chain make sure libc's rows are in
    // before the measured runs, as on any host whose agent has run a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        let stacks = run(&base, &warm, "0.3");
        let (total, whole, marked, _) = shares(&stacks);
        eprintln!("warm-up: {whole} of {total} samples whole, {marked} marked");
        if whole > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the warm-up fixture never had a whole stack: {}",
            busiest(&stacks, 12)
        );
    }

    log_unwinder(&metrics);
    let stacks = run(&base, &first_second, "1");
    log_unwinder(&metrics);
    assert_whole("one CPU second, never-seen binary", &stacks, 50);
    let stacks = run(&base, &longer, "10");
    assert_whole("ten CPU seconds, never-seen binary", &stacks, 500);

    for event in [
        "stacks_without_tables",
        "stacks_without_tables_completed",
        "stacks_without_tables_truncated",
    ] {
        eprintln!(
            "{event}: {:?}",
            try_metric(
                &metrics,
                &format!("augur_agent_unwind_events_total{{event=\"{event}\"}}")
            )
        );
    }
    assert!(up.terminate().unwrap().success());
}
