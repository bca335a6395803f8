//! Python frames (issue 19), checked as root against py-spy sampling the
//! same process in the same run: `augur record` and `augur up` must give
//! each hot function of a Python fixture an inclusive share within 5 points
//! of py-spy's, on the pyenv interpreter (`libpython3.11.so`) and on
//! Debian's statically linked `/usr/bin/python3.11`, with stacks that run
//! `<module>` → `main` → the hot function; Python calling into C (hashlib,
//! then OpenSSL) keeps the native frames below the Python ones; and every
//! other CPython 3.9-3.13 on the machine is named too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use augur_profile::{RawFrame, Runtime};
use augur_tests::*;

/// Points by which Augur's share of a function may differ from py-spy's.
const SHARE_TOLERANCE: f64 = 5.0;
/// Seconds of work each fixture does (on an idle machine).
const FIXTURE_SECONDS: &str = "10";
/// Samples per second, for both Augur and py-spy: about 4,000 samples of
/// the fixture each, so a 5-point difference is far beyond the noise (the
/// standard error of a 75% share over 4,000 samples is 0.7 points).
const HZ: &str = "399";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/python")
        .join(name)
}

/// A child killed when dropped, so a failing check leaves no process.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The interpreters the issue names: the `python3` on PATH (a pyenv build
/// with `libpython3.11.so`) and Debian's static `/usr/bin/python3.11`.
fn interpreters() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let on_path = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if require(on_path.is_some(), "python3 on PATH") {
        found.extend(on_path);
    }
    let debian = PathBuf::from("/usr/bin/python3.11");
    if require(debian.exists(), "Debian's /usr/bin/python3.11") {
        found.push(debian);
    }
    found
}

/// A copy of `python` under a name of its own in `dir`, so that its
/// samples form a service no concurrent test shares (the service is the
/// executable's name). Python finds its library from its build prefix.
fn own_copy(python: &Path, dir: &Path, name: &str) -> PathBuf {
    let copy = dir.join(name);
    std::fs::copy(python, &copy).unwrap();
    copy
}

fn have_py_spy() -> bool {
    require(have("py-spy", "--version"), "py-spy (pip install py-spy)")
}

/// Starts py-spy sampling `pid` at [`HZ`] without pausing it, writing
/// folded stacks to `out` when the process exits.
fn py_spy(pid: u32, out: &Path) -> Guard {
    Guard(
        Command::new("py-spy")
            .args(["record", "--nonblocking", "--rate", HZ, "--format", "raw"])
            .args(["--pid", &pid.to_string(), "--output"])
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("py-spy starts"),
    )
}

/// py-spy's folded stacks as function names, root first.
fn py_spy_stacks(out: &Path) -> Vec<(Vec<String>, u64)> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    parse_folded(&text)
        .into_iter()
        .map(|(frames, n)| {
            let names = frames
                .iter()
                .map(|f| f.split(" (").next().unwrap_or(f).to_owned())
                .collect();
            (names, n)
        })
        .collect()
}

/// The first child process of `parent`, waited for up to 10 s.
fn child_of(parent: u32) -> u32 {
    let mut child = None;
    wait_until(
        "the recorded command to start",
        Duration::from_secs(10),
        || {
            child = std::fs::read_dir(format!("/proc/{parent}/task"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
                .flat_map(|text| {
                    text.split_whitespace()
                        .filter_map(|pid| pid.parse::<u32>().ok())
                        .collect::<Vec<_>>()
                })
                .next();
            child.is_some()
        },
    );
    child.unwrap()
}

/// Percentage of the samples in the fixture's `main` whose stack holds
/// `function`: both tools' shares of the same work, whatever each saw of
/// the interpreter's start and exit (py-spy attaches after the start).
fn share(stacks: &[(Vec<String>, u64)], function: &str) -> f64 {
    let in_main = count_with(stacks, "main");
    let with = stacks
        .iter()
        .filter(|(frames, _)| {
            frames.iter().any(|f| f == "main") && frames.iter().any(|f| f == function)
        })
        .map(|(_, n)| n)
        .sum::<u64>();
    100.0 * with as f64 / in_main.max(1) as f64
}

/// Samples whose root-first stack holds `chain` in this order (other
/// frames may come between: CPython's C call path in 3.9 and 3.10).
fn ordered_count(stacks: &[(Vec<String>, u64)], chain: &[&str]) -> u64 {
    in_order_count(stacks, chain, |frame, wanted| frame == wanted)
}

/// `augur up` on `data` sampling at `hz` and draining every `window`.
fn up_at(data: &Path, window: &str, hz: &str) -> AugurProcess {
    let data = data.to_str().unwrap();
    AugurProcess::start(&[
        "up",
        "--data-dir",
        data,
        "--http",
        "127.0.0.1:0",
        "--ingest",
        "127.0.0.1:0",
        "--window",
        window,
        "--frequency",
        hz,
    ])
    .unwrap()
}

/// `service`'s stacks from the web API at `base` once at least `min`
/// samples are stored and the count stopped growing between two reads.
fn settled_stacks(
    base: &str,
    service: &str,
    min: u64,
    timeout: Duration,
) -> Vec<(Vec<String>, u64)> {
    let url = format!("{base}api/v1/profile?service={service}&from=-5m&to=now");
    let mut stacks = Vec::new();
    let mut previous = 0;
    wait_until("the Python samples to be stored", timeout, || {
        std::thread::sleep(Duration::from_secs(3));
        stacks = http_json(&url).map(|p| json_stacks(&p)).unwrap_or_default();
        let total: u64 = stacks.iter().map(|(_, n)| n).sum();
        let settled = total >= min && total == previous;
        previous = total;
        settled
    });
    stacks
}

/// Checks Augur's shares of the hot functions against py-spy's and the
/// `<module>` → `main` → hot function chains.
fn assert_matches_py_spy(context: &str, ours: &[(Vec<String>, u64)], spy: &[(Vec<String>, u64)]) {
    let total = count_with(ours, "main");
    let spy_total = count_with(spy, "main");
    assert!(
        total >= 1000 && spy_total >= 1000,
        "{context}: too few samples to compare (augur {total}, py-spy {spy_total})\n{}",
        busiest(ours, 10)
    );
    for function in ["alpha_work", "beta_work"] {
        let (a, p) = (share(ours, function), share(spy, function));
        eprintln!(
            "{context}: {function} augur {a:.1}% py-spy {p:.1}% ({total} / {spy_total} samples)"
        );
        assert!(
            (a - p).abs() <= SHARE_TOLERANCE,
            "{context}: {function} is {a:.1}% of Augur's samples but {p:.1}% of py-spy's\naugur:\n{}\npy-spy:\n{}",
            busiest(ours, 10),
            busiest(spy, 10)
        );
        let chained = ordered_count(ours, &["<module>", "main", function]);
        let with = count_with(ours, function);
        assert!(
            chained as f64 >= 0.95 * with as f64,
            "{context}: only {chained} of {with} samples in {function} run <module> -> main -> {function}\n{}",
            busiest(ours, 10)
        );
    }
}

/// `augur record` of `python script` with py-spy on the same process;
/// returns (Augur's profile, py-spy's stacks).
fn record_beside_py_spy(
    dir: &Path,
    python: &Path,
    script: &Path,
    args: &[&str],
) -> (augur_profile::Profile, Vec<(Vec<String>, u64)>) {
    let out = dir.join("python.pb.gz");
    let spy_out = dir.join("py-spy.txt");
    let mut record = Guard(
        Command::new(augur_bin())
            .args(["record", "--frequency", HZ, "--format", "pprof", "-o"])
            .arg(&out)
            .arg("--")
            .arg(python)
            .arg(script)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child_of(record.0.id());
    let mut spy = py_spy(pid, &spy_out);
    let status = record.0.wait().unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = record.0.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "augur record failed: {status}\n{stderr}");
    let _ = spy.0.wait();
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    (profile, py_spy_stacks(&spy_out))
}

#[test]
fn python_functions_match_py_spy_under_record() {
    if !require(is_root(), "root (eBPF)") || !have_py_spy() {
        return;
    }
    let _alone = heavy_test_lock();
    for python in interpreters() {
        let dir = tempfile::tempdir().unwrap();
        let (profile, spy) =
            record_beside_py_spy(dir.path(), &python, &fixture("hot.py"), &[FIXTURE_SECONDS]);
        let context = format!("record {}", python.display());
        let ours = profile.folded_stacks();
        assert_matches_py_spy(&context, &ours, &spy);
        // Python frames carry their file and line.
        let alpha = profile
            .samples
            .iter()
            .flat_map(|s| &s.locations)
            .find_map(|l| match &l.frame {
                RawFrame::Runtime {
                    runtime: Runtime::Python,
                    function,
                    file,
                    line,
                    ..
                } if function == "alpha_work" => Some((file.clone(), *line)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{context}: no Python frame alpha_work"));
        assert!(alpha.0.ends_with("hot.py"), "{context}: {alpha:?}");
        assert!(
            (10..=15).contains(&alpha.1),
            "{context}: alpha_work at line {}",
            alpha.1
        );
    }
}

#[test]
fn python_calling_c_keeps_the_native_frames_below() {
    if !require(is_root(), "root (eBPF)") {
        return;
    }
    let Some(python) = interpreters().into_iter().next() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mixed.pb.gz");
    let status = Command::new(augur_bin())
        .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&python)
        .arg(fixture("mixed.py"))
        .arg("5")
        .status()
        .unwrap();
    assert!(status.success());
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    // Leaf first: a libcrypto frame, later (rootward) the Python frame
    // hash_work, and between them at least one native frame of the
    // interpreter or _hashlib (C called from Python).
    let is_python = |l: &augur_profile::Location, name: &str| matches!(&l.frame, RawFrame::Runtime { function, .. } if function == name);
    let in_libcrypto = |l: &augur_profile::Location| {
        matches!(&l.frame, RawFrame::User { .. })
            && l.path.as_deref().is_some_and(|p| p.contains("libcrypto"))
    };
    let mut mixed = 0;
    let mut hashing = 0;
    for sample in &profile.samples {
        let locations = &sample.locations;
        let Some(python_at) = locations.iter().position(|l| is_python(l, "hash_work")) else {
            continue;
        };
        hashing += sample.count;
        let Some(crypto_at) = locations.iter().position(in_libcrypto) else {
            continue;
        };
        let c_between = locations[crypto_at + 1..python_at]
            .iter()
            .any(|l| matches!(l.frame, RawFrame::User { .. }) && !in_libcrypto(l));
        let main_above = locations[python_at..].iter().any(|l| is_python(l, "main"));
        if crypto_at < python_at && c_between && main_above {
            mixed += sample.count;
        }
    }
    let stacks = profile.folded_stacks();
    assert!(
        hashing >= 50 && mixed as f64 >= 0.5 * hashing as f64,
        "{mixed} of {hashing} samples in hash_work show main -> hash_work -> C -> libcrypto\n{}",
        busiest(&stacks, 10)
    );
    // JSON's C accelerator sits below parse_work too.
    let json = ordered_count(&stacks, &["main", "parse_work", "scanner_call"])
        + ordered_count(&stacks, &["main", "parse_work", "_json_scanner_call"])
        + ordered_count(&stacks, &["main", "parse_work", "scan_once_unicode"]);
    assert!(
        json > 0,
        "no JSON C frame below parse_work\n{}",
        busiest(&stacks, 10)
    );
}

#[test]
fn every_installed_cpython_from_3_9_to_3_13_is_named() {
    if !require(is_root(), "root (eBPF)") {
        return;
    }
    let mut named = 0;
    for minor in 9..=13 {
        let Some(python) = std::fs::read_dir("/root/.pyenv/versions")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("3.{minor}.")))
            })
            .map(|p| p.join(format!("bin/python3.{minor}")))
            .filter(|p| p.exists())
        else {
            eprintln!("\n*** SKIPPED: CPython 3.{minor} is not installed under pyenv ***\n");
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("hot.pb.gz");
        let status = Command::new(augur_bin())
            .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
            .arg(&out)
            .arg("--")
            .arg(&python)
            .arg(fixture("hot.py"))
            .args(["3", "threads"])
            .status()
            .unwrap();
        assert!(status.success(), "3.{minor}");
        let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
        let stacks = profile.folded_stacks();
        let total: u64 = stacks.iter().map(|(_, n)| n).sum();
        // Two threads: the main one from <module>, the worker from the
        // threading module's bootstrap.
        let main_thread = ordered_count(&stacks, &["<module>", "main", "alpha_work"]);
        let worker = ordered_count(&stacks, &["_bootstrap", "run", "main", "alpha_work"])
            + ordered_count(
                &stacks,
                &["Thread._bootstrap", "Thread.run", "main", "alpha_work"],
            );
        eprintln!(
            "3.{minor}: {total} samples, alpha_work {main_thread} in main, {worker} in the worker"
        );
        assert!(
            main_thread > 0 && worker > 0 && share(&stacks, "alpha_work") > 30.0,
            "3.{minor}: alpha_work not named in both threads ({main_thread}, {worker})\n{}",
            busiest(&stacks, 10)
        );
        named += 1;
    }
    assert!(named > 0, "no CPython 3.9-3.13 to check");
}

#[test]
fn python_functions_match_py_spy_under_up() {
    if !require(is_root(), "root (eBPF)") || !have_py_spy() {
        return;
    }
    let _alone = heavy_test_lock();
    for (i, python) in interpreters().into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("augur-py-up-{i}");
        let copy = own_copy(&python, dir.path(), &name);
        let data = dir.path().join("data");
        let up = up_at(&data, "2s", HZ);
        let spy_out = dir.path().join("py-spy.txt");
        // Started after the agent, so both see the whole run; the agent
        // takes up to a few seconds to read a new process.
        let mut python_run = Guard(
            Command::new(&copy)
                .arg(fixture("hot.py"))
                .arg("12")
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut spy = py_spy(python_run.0.id(), &spy_out);
        assert!(python_run.0.wait().unwrap().success());
        let _ = spy.0.wait();
        let base = up.http.clone().unwrap();
        let ours = settled_stacks(&base, &name, 1000, Duration::from_secs(60));
        // The agent may miss the first moments of the process (it reads a
        // new process's interpreter on its first sample): compare the
        // shares, which do not depend on that.
        assert_matches_py_spy(
            &format!("up {}", python.display()),
            &ours,
            &py_spy_stacks(&spy_out),
        );
    }
}

#[test]
fn an_unknown_cpython_version_is_reported_once_and_profiled_natively() {
    if !require(is_root(), "root (eBPF)") {
        return;
    }
    // A version before the offsets table (3.9+): pyenv's 3.8, 3.7 or 3.6.
    let Some(old) = ["3.8", "3.7", "3.6"].iter().find_map(|minor| {
        std::fs::read_dir("/root/.pyenv/versions")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{minor}.")))
            })
            .map(|p| p.join(format!("bin/python{minor}")))
            .filter(|p| p.exists())
    }) else {
        eprintln!("\n*** SKIPPED: no CPython older than 3.9 under pyenv ***\n");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("old.pb.gz");
    let output = Command::new(augur_bin())
        .env("AUGUR_LOG", "warn")
        .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&old)
        .arg(fixture("hot.py"))
        .args(["2", "threads"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reports = stderr
        .matches("CPython version without known offsets")
        .count();
    assert_eq!(reports, 1, "reported {reports} times:\n{stderr}");
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    let stacks = profile.folded_stacks();
    assert!(
        !profile
            .samples
            .iter()
            .flat_map(|s| &s.locations)
            .any(|l| matches!(l.frame, RawFrame::Runtime { .. })),
        "a Python frame from an interpreter without offsets"
    );
    // Profiled natively: the interpreter's own functions, whole.
    let eval = count_with(&stacks, "_PyEval_EvalFrameDefault");
    assert!(
        eval >= 100,
        "{eval} samples in the evaluation loop\n{}",
        busiest(&stacks, 10)
    );
}

#[test]
fn a_python_process_gone_before_its_names_are_read_keeps_every_sample() {
    if !require(is_root(), "root (eBPF)") {
        return;
    }
    let Some(python) = interpreters().into_iter().next() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = "augur-py-short";
    let copy = own_copy(&python, dir.path(), name);
    let data = dir.path().join("data");
    // A long window: the process is gone long before the agent drains (a
    // drain while it still ran would name its code objects, and the cache
    // keeps those names).
    let _alone = heavy_test_lock();
    let up = up_at(&data, "30s", "99");
    let base = up.http.clone().unwrap();
    let started = std::time::Instant::now();
    // Four seconds of work: the samples before the agent reads the new
    // interpreter (a fixed start-up cost) stay a small part of them.
    let status = Command::new(&copy)
        .arg(fixture("hot.py"))
        .arg("4")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ran = started.elapsed();
    assert!(
        ran < Duration::from_secs(25),
        "the short process ran {ran:?}, past the agent's 30 s window"
    );
    let stacks = settled_stacks(&base, name, 50, Duration::from_secs(90));
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let placeholder = "[python code, process exited]";
    let kept = count_with(&stacks, placeholder);
    let named = count_with(&stacks, "alpha_work");
    eprintln!("{total} samples: {kept} with {placeholder}, {named} named alpha_work");
    // Every sample is stored, its Python frames in place as placeholders
    // (never dropped, never a wrong name), unless the agent happened to
    // drain while the process still ran.
    assert!(
        kept + named >= total * 9 / 10,
        "samples lost their Python frames\n{}",
        busiest(&stacks, 10)
    );
    assert!(
        kept > 0,
        "no placeholder: the process outlived a drain?\n{}",
        busiest(&stacks, 10)
    );
}
