//! Every native binary is named (issue 18), checked as root with real
//! programs: Go built with and without symbols and through cgo, C linked
//! without a build-id, a static musl binary and a binary replaced on disk
//! while it runs are profiled by `augur record` and `augur up`, and their hot
//! functions must be named with whole call chains; the Go shares must agree
//! with `perf record` on the same binary within 5 points. Code with no file
//! (node's JIT without a perf map) shows Augur's placeholder and never a
//! library's reason string, and the fleet report splits the CPU nobody could
//! name by binary.

use std::io::Read;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use augur_profile::{FileId, RawFrame};
use augur_tests::*;

/// What blazesym and older agents said of frames they could not name; no
/// output may show any of them.
const LEGACY_REASONS: &[&str] = &[
    "proc maps entry has no component",
    "absolute address not found in virtual memory map of process",
    "address belongs to unsupported entity",
    "address not found in symbolization source",
    "file offset does not map to a valid piece of code/data",
    "symbolization source has no or no relevant symbols",
    "an error occurred but was ignored in batch mode",
    "no build-id",
];

/// The Go fixture's hot functions (`tests/fixtures/go/hot`).
const ALPHA: &str = "main.alphaWork";
const BETA: &str = "main.betaWork";

/// CPU seconds each Go run spins: about 1,000 samples at 99 Hz, so two
/// runs' shares (perf's and ours) differ by 5 points less than once in a
/// hundred by chance alone (400 samples left that at about one in eight).
const GO_SECONDS: &str = "10";

/// Panics naming `context` if `text` holds a legacy reason string.
fn assert_no_legacy(text: &str, context: &str) {
    for legacy in LEGACY_REASONS {
        assert!(
            !text.contains(legacy),
            "{context} shows the library reason {legacy:?}"
        );
    }
}

/// Every frame name of `stacks` on one line each, for [`assert_no_legacy`].
fn all_names(stacks: &[(Vec<String>, u64)]) -> String {
    stacks
        .iter()
        .flat_map(|(frames, _)| frames)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The busiest stacks, for failure messages.
fn busiest(stacks: &[(Vec<String>, u64)]) -> String {
    let mut sorted: Vec<_> = stacks.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.1));
    sorted
        .iter()
        .take(12)
        .map(|(frames, n)| format!("  {n} {}", frames.join(";")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every string of a gzipped pprof file, undecoded: what any pprof reader
/// may show, before our decoder maps anything.
fn pprof_strings(path: &Path) -> String {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

/// Runs `augur record --format FORMAT -o OUT -- COMMAND` in the directory
/// of OUT (node drops V8 logs in its working directory) and returns its
/// stdout (the command's own output).
fn record(format: &str, out: &Path, command: &[&str]) -> String {
    let output = Command::new(augur_bin())
        .current_dir(out.parent().expect("OUT is in a directory"))
        .args(["record", "--frequency", "99", "--format", format, "-o"])
        .arg(out)
        .arg("--")
        .args(command)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "augur record {command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Root-first stacks of a pprof file.
fn pprof_stacks(path: &Path) -> (augur_profile::Profile, Vec<(Vec<String>, u64)>) {
    let profile = augur_wire::pprof::decode(&std::fs::read(path).unwrap(), 256 << 20).unwrap();
    let stacks = profile.folded_stacks();
    (profile, stacks)
}

/// Runs `check`, keeping its panic message in `failures` instead of
/// stopping: a test with several variants reports every one that fails.
fn attempt(failures: &mut Vec<String>, what: &str, check: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        if message.starts_with(what) {
            failures.push(message);
        } else {
            failures.push(format!("{what}: {message}"));
        }
    }
}

/// Fails with every message [`attempt`] kept.
fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} check(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

// ---------------------------------------------------------------------------
// Go

/// How the Go fixture is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GoBuild {
    /// Internal linking, symbol table and DWARF kept; no GNU build-id.
    Symbols,
    /// `-ldflags="-s -w"`: only `.gopclntab` names anything.
    Stripped,
    /// cgo: linked by gcc, started through libc.
    Cgo,
}

/// `go ARGS` offline, with a build cache kept between test runs in cargo's
/// scratch directory (a cold standard library build takes a minute here).
fn go(args: &[&str]) -> Command {
    offline_go(args, &Path::new(env!("CARGO_TARGET_TMPDIR")).join("go"))
}

/// Builds the Go fixture as `dir/name`.
fn build_go(dir: &Path, name: &str, build: GoBuild) -> PathBuf {
    let src = dir.join("go-src");
    if !src.exists() {
        std::fs::create_dir(&src).unwrap();
        for file in ["main.go", "nocgo.go", "cgo.go"] {
            std::fs::copy(fixture_source(&format!("go/hot/{file}")), src.join(file)).unwrap();
        }
        std::fs::write(src.join("go.mod"), "module augurhot\n\ngo 1.19\n").unwrap();
    }
    let out = dir.join(name);
    let mut command = go(&["build", "-o", path_str(&out)]);
    match build {
        GoBuild::Symbols => {}
        GoBuild::Stripped => {
            command.arg("-ldflags=-s -w");
        }
        GoBuild::Cgo => {
            command.args(["-tags", "augurcgo"]);
        }
    }
    let output = command
        .arg(".")
        .current_dir(&src)
        .env("CGO_ENABLED", if build == GoBuild::Cgo { "1" } else { "0" })
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "go build {build:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// Samples of each Go hot function: the samples whose stack contains it
/// anywhere. Its share is `alpha / (alpha + beta)`, for Augur and perf alike.
#[derive(Clone, Copy, Debug)]
struct GoSplit {
    alpha: u64,
    beta: u64,
}

impl GoSplit {
    fn of(stacks: &[(Vec<String>, u64)]) -> Self {
        Self {
            alpha: chain_count(stacks, &[ALPHA]),
            beta: chain_count(stacks, &[BETA]),
        }
    }

    fn alpha_share(self) -> f64 {
        self.alpha as f64 / (self.alpha + self.beta).max(1) as f64
    }
}

/// The split `perf record -g` sees on `binary`, the reference for Augur's.
fn perf_split(binary: &Path, dir: &Path) -> GoSplit {
    let data = dir.join("perf.data");
    let output = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "99", "-g", "-o"])
        .arg(&data)
        .arg("--")
        .arg(binary)
        .arg(GO_SECONDS)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "perf record failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let script = Command::new("perf")
        .args(["script", "-F", "ip,sym", "-i"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(script.status.success(), "perf script failed");
    // One block per sample, a frame per line: "\t ADDRESS SYMBOL".
    let stacks: Vec<(Vec<String>, u64)> = String::from_utf8_lossy(&script.stdout)
        .split("\n\n")
        .map(|block| {
            let frames = block
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
                .collect();
            (frames, 1)
        })
        .collect();
    let split = GoSplit::of(&stacks);
    assert!(
        split.alpha + split.beta >= 100,
        "perf named only {split:?} samples of the Go fixture:\n{}",
        busiest(&stacks)
    );
    println!("perf record on {}: {split:?}", binary.display());
    split
}

/// The Go fixture's hot functions are named, reached through
/// `runtime.main -> main.main`, and split as `perf` saw them.
fn assert_go_profile(stacks: &[(Vec<String>, u64)], perf: GoSplit, context: &str) {
    assert_no_legacy(&all_names(stacks), context);
    let split = GoSplit::of(stacks);
    assert!(
        split.alpha + split.beta >= 100,
        "{context}: only {split:?} samples name {ALPHA}/{BETA}; busiest stacks:\n{}",
        busiest(stacks)
    );
    let (ours, theirs) = (split.alpha_share(), perf.alpha_share());
    assert!(
        (ours - theirs).abs() <= 0.05,
        "{context}: {ALPHA} share {ours:.3} ({split:?}) is not within 5 points of perf's {theirs:.3} ({perf:?})"
    );
    for function in [ALPHA, BETA] {
        let all = chain_count(stacks, &[function]);
        let chained = chain_count(stacks, &["runtime.main", "main.main", function]);
        assert!(
            chained as f64 >= 0.9 * all as f64,
            "{context}: runtime.main -> main.main -> {function} covers only {chained} of its {all} samples; busiest stacks:\n{}",
            busiest(stacks)
        );
    }
}

/// Lines of `func NAME(` through its closing brace in the Go fixture.
fn go_function_lines(function: &str) -> RangeInclusive<u32> {
    let source = std::fs::read_to_string(fixture_source("go/hot/main.go")).unwrap();
    let short = function.trim_start_matches("main.");
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("func {short}(")))
        .expect("function in the fixture");
    let end = start
        + lines[start..]
            .iter()
            .position(|l| *l == "}")
            .expect("closing brace");
    (start as u32 + 1)..=(end as u32 + 1)
}

/// `go tool pprof -top -lines` on `pprof` shows both hot functions at lines
/// of their own bodies in `main.go`.
fn assert_go_pprof_lines(pprof: &Path, scratch: &Path, context: &str) {
    if !require(have("go", "version"), "go (Debian's golang-go)") {
        return;
    }
    let output = go(&["tool", "pprof", "-top", "-lines", "-nodecount=40"])
        .arg(pprof)
        .env("PPROF_TMPDIR", scratch)
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{context}: go tool pprof failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_legacy(&top, context);
    for function in [ALPHA, BETA] {
        let body = go_function_lines(function);
        let at_line = top.lines().any(|row| {
            let words: Vec<&str> = row.split_whitespace().collect();
            words.contains(&function)
                && words.iter().any(|w| {
                    w.rsplit_once(':').is_some_and(|(file, line)| {
                        file.ends_with("main.go") && line.parse().is_ok_and(|n| body.contains(&n))
                    })
                })
        });
        assert!(
            at_line,
            "{context}: go tool pprof -top -lines shows no row of {function} at main.go:{body:?}:\n{top}"
        );
    }
}

#[test]
fn go_binaries_are_named_by_record_as_perf_sees_them() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("go", "version"), "go (Debian's golang-go)")
        || !require(have("perf", "--version"), "perf")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let symbols = build_go(dir.path(), "augur-go-record", GoBuild::Symbols);
    let stripped = build_go(dir.path(), "augur-go-record-stripped", GoBuild::Stripped);
    let cgo = build_go(dir.path(), "augur-go-record-cgo", GoBuild::Cgo);
    let perf = perf_split(&symbols, dir.path());

    let mut failures = Vec::new();
    for (binary, what) in [
        (&symbols, "with symbols"),
        (&stripped, "stripped"),
        (&cgo, "through cgo"),
    ] {
        let context = format!("augur record of Go {what}");
        attempt(&mut failures, &context, || {
            let out = dir.path().join(format!("{what}.pb.gz"));
            record("pprof", &out, &[path_str(binary), GO_SECONDS]);
            assert_no_legacy(&pprof_strings(&out), &context);
            let (_, stacks) = pprof_stacks(&out);
            assert_go_profile(&stacks, perf, &context);
            assert_go_pprof_lines(&out, dir.path(), &context);
        });
    }
    assert_no_failures(&failures);
}

/// Polls the JSON profile of `service` until its Go hot functions hold at
/// least `min` samples that stopped changing between two polls, or 60 s
/// passed; returns the last profile either way, for the assertions to judge.
fn wait_for_go_profile(base: &str, service: &str, min: u64) -> serde_json::Value {
    let url = format!("{base}api/v1/profile?service={service}&from=-10m&to=now");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut previous = 0;
    loop {
        let profile = http_json(&url).unwrap();
        let split = GoSplit::of(&json_stacks(&profile));
        let named = split.alpha + split.beta;
        if (named >= min && named == previous) || Instant::now() > deadline {
            return profile;
        }
        previous = named;
        std::thread::sleep(Duration::from_secs(3));
    }
}

#[test]
fn go_binaries_are_named_through_up_as_perf_sees_them() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("go", "version"), "go (Debian's golang-go)")
        || !require(have("perf", "--version"), "perf")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let symbols = build_go(dir.path(), "augur-go-up", GoBuild::Symbols);
    let stripped = build_go(dir.path(), "augur-go-up-stripped", GoBuild::Stripped);
    let perf = perf_split(&symbols, dir.path());

    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    // `augur up` walks a process by frame pointers alone until it has run
    // for DEFAULT_UNWIND_MIN_AGE, which loses the caller of a frameless Go
    // leaf; the fixture warms up in main.warmUp past that age first.
    let warm_up = (augur_agent::DEFAULT_UNWIND_MIN_AGE + Duration::from_secs(1)).as_secs();
    for binary in [&symbols, &stripped] {
        let status = Command::new(binary)
            .args([GO_SECONDS, &warm_up.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut failures = Vec::new();
    for service in ["augur-go-up", "augur-go-up-stripped"] {
        let context = format!("augur up API, {service}");
        attempt(&mut failures, &context, || {
            let profile = wait_for_go_profile(&base, service, 150);
            assert_go_profile(&json_stacks(&profile), perf, &context);
        });
    }
    attempt(&mut failures, "augur export of stripped Go", || {
        let pprof = dir.path().join("stripped.pb.gz");
        let export = Command::new(augur_bin())
            .args(["export", "--server", base.trim_end_matches('/')])
            .args(["--service", "augur-go-up-stripped", "--from", "-10m"])
            .args(["--format", "pprof", "-o"])
            .arg(&pprof)
            .status()
            .unwrap();
        assert!(export.success(), "augur export failed");
        assert_no_legacy(&pprof_strings(&pprof), "augur export of stripped Go");
        assert_go_pprof_lines(&pprof, dir.path(), "augur export of stripped Go");
    });
    assert!(up.terminate().unwrap().success());
    assert_no_failures(&failures);
}

// ---------------------------------------------------------------------------
// C without a build-id

/// The id Augur gives `path`: its GNU build-id, else its content id (the
/// documented definition, computed here independently of the agent).
fn file_id_of(path: &Path) -> FileId {
    use object::Object;

    let data = std::fs::read(path).unwrap();
    if let Some(id) = object::File::parse(&*data)
        .ok()
        .and_then(|elf| elf.build_id().ok().flatten())
    {
        return FileId::from_bytes(id).unwrap();
    }
    let span = FileId::CONTENT_SPAN.min(data.len());
    FileId::from_content(&data[..span], &data[data.len() - span..], data.len() as u64)
}

/// A linker flag that makes a fixture's bytes its own: its stack size, in
/// the program headers (the first 4 KiB, which the content id hashes),
/// derived from `name`. Without it, tests running at once under one
/// host-wide agent would run byte-identical binaries, one content id
/// reported under each other's paths.
fn unique(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("-Wl,-z,stack-size={}", (1 << 20) + (hash % 4096) * 4096)
}

/// Content ids of the user frames in `profile`: the fixture's file id, as
/// its libraries carry build-ids. Not picked by path: a binary's path is
/// the first a host reported for its id, and concurrent tests under one
/// host-wide agent run byte-identical fixtures (the same content id) from
/// other paths.
fn file_ids_of(profile: &augur_profile::Profile) -> Vec<FileId> {
    let ids: std::collections::BTreeSet<FileId> = profile
        .samples
        .iter()
        .flat_map(|s| &s.locations)
        .filter_map(|l| match &l.frame {
            RawFrame::User { build_id, .. } if !build_id.is_build_id() => Some(build_id.clone()),
            _ => None,
        })
        .collect();
    ids.into_iter().collect()
}

#[test]
fn c_without_a_build_id_is_named_by_record() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    const NAME: &str = "augur-fixture-no-build-id";
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture_with(
        dir.path(),
        "split.c",
        NAME,
        &["-Wl,--build-id=none", &unique(NAME)],
    )
    .unwrap();
    let id = file_id_of(&fixture);
    assert!(!id.is_build_id(), "the fixture must have no build-id: {id}");

    let out = dir.path().join("out.pb.gz");
    record("pprof", &out, &[path_str(&fixture), "3"]);
    assert_no_legacy(&pprof_strings(&out), "pprof of C without a build-id");
    let (profile, stacks) = pprof_stacks(&out);
    assert_eq!(
        file_ids_of(&profile),
        vec![id],
        "the fixture's frames must carry its content id"
    );
    assert_split(&stacks, "augur record of C without a build-id");
}

#[test]
fn static_musl_binary_is_named_by_record() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(
            have("musl-gcc", "--version"),
            "musl-gcc (Debian's musl-tools)",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("augur-fixture-musl");
    let status = Command::new("musl-gcc")
        .args([
            "-static",
            "-O1",
            "-g",
            "-fno-omit-frame-pointer",
            "-mno-omit-leaf-frame-pointer",
            "-fno-optimize-sibling-calls",
            "-fno-inline",
            "-o",
        ])
        .arg(&fixture)
        .arg(fixture_source("split.c"))
        .status()
        .unwrap();
    assert!(status.success(), "musl-gcc failed");

    let out = dir.path().join("out.folded");
    record("folded", &out, &[path_str(&fixture), "3"]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_no_legacy(&text, "folded of a static musl binary");
    assert_split(&parse_folded(&text), "augur record of a static musl binary");
}

/// Two builds without a build-id under one name: the split fixture that
/// runs (`v1`) and a different program (`regress.c`, `v2`) moved over its
/// path while it runs, so names taken from the path would be wrong ones.
struct Replacement {
    dir: tempfile::TempDir,
    v1: PathBuf,
    v2: PathBuf,
    v1_id: FileId,
    v2_id: FileId,
}

fn replacement(name: &str) -> Replacement {
    let dir = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::create_dir(&old_dir).unwrap();
    std::fs::create_dir(&new_dir).unwrap();
    let v1 = build_fixture_with(
        &old_dir,
        "split.c",
        name,
        &["-Wl,--build-id=none", &unique(name)],
    )
    .unwrap();
    let v2 = build_fixture_with(
        &new_dir,
        "regress.c",
        name,
        &["-Wl,--build-id=none", "-pthread", &unique(name)],
    )
    .unwrap();
    let (v1_id, v2_id) = (file_id_of(&v1), file_id_of(&v2));
    assert!(!v1_id.is_build_id() && !v2_id.is_build_id());
    Replacement {
        dir,
        v1,
        v2,
        v1_id,
        v2_id,
    }
}

/// The binary is replaced 50 ms after it starts, before the first drain:
/// only the mapped file itself gives the identity and the names of what ran.
#[test]
fn replaced_binary_without_a_build_id_keeps_its_identity() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    const NAME: &str = "augur-fixture-replaced";
    let r = replacement(NAME);
    let app = r.dir.path().join(NAME);
    std::fs::copy(&r.v1, &app).unwrap();
    let out = r.dir.path().join("replaced.pb.gz");
    let script = format!(
        "{} 3 & sleep 0.05; mv {} {}; wait",
        app.display(),
        r.v2.display(),
        app.display()
    );
    record("pprof", &out, &["/bin/sh", "-c", &script]);
    assert_no_legacy(&pprof_strings(&out), "pprof of a replaced binary");
    let (profile, stacks) = pprof_stacks(&out);
    assert_eq!(
        file_ids_of(&profile),
        vec![r.v1_id.clone()],
        "frames must carry the content id of the file that ran, not the new file's {}",
        r.v2_id
    );
    assert_split(&stacks, "augur record of a binary replaced while it ran");
}

/// As above through `augur up`: no debug directory, no debuginfod; the
/// agent has the only copy of what ran.
#[test]
fn replaced_binary_without_a_build_id_is_named_through_up() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    const NAME: &str = "augur-fixture-replaced-up";
    let r = replacement(NAME);
    let up = start_up(&r.dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    let app_dir = r.dir.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    let app = app_dir.join(NAME);
    std::fs::copy(&r.v1, &app).unwrap();
    let mut running = Command::new(&app).arg("6").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    std::fs::rename(&r.v2, &app).unwrap();
    assert!(running.wait().unwrap().success());

    wait_until(
        "the replaced binary's samples stored",
        Duration::from_secs(60),
        || service_samples(&base, NAME) >= 150,
    );
    let (status, bytes) = http_get(&format!(
        "{base}api/v1/profile?service={NAME}&from=-10m&format=pprof"
    ))
    .unwrap();
    assert_eq!(status, 200);
    let pprof = augur_wire::pprof::decode(&bytes, 256 << 20).unwrap();
    assert_eq!(
        file_ids_of(&pprof),
        vec![r.v1_id.clone()],
        "stored frames must carry the content id that ran, not {}",
        r.v2_id
    );
    let profile = wait_for_split_profile(&base, NAME, "-10m", 150);
    assert_split(
        &json_stacks(&profile),
        "augur up, binary replaced while it ran",
    );
    assert!(up.terminate().unwrap().success());
}

// ---------------------------------------------------------------------------
// Code with no file: node's JIT

/// A hot JavaScript loop for SECONDS (argv[2]) that prints its pid.
const NODE_SCRIPT: &str = r#"
function hotLoop(n) { let x = 0; for (let i = 0; i < n; i++) { x = (x * 31 + i) | 0; } return x; }
const end = Date.now() + Number(process.argv[2]) * 1000;
let sink = 0;
while (Date.now() < end) { sink = (sink + hotLoop(1e6)) | 0; }
console.log(`pid ${process.pid} ${sink}`);
"#;

const NODE_PLACEHOLDER: &str = "[anonymous code in node]";

/// Share of `stacks`' samples with a frame for which `is_jit` holds.
fn jit_share(stacks: &[(Vec<String>, u64)], is_jit: impl Fn(&str) -> bool) -> f64 {
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let jit: u64 = stacks
        .iter()
        .filter(|(frames, _)| frames.iter().any(|f| is_jit(f)))
        .map(|(_, n)| n)
        .sum();
    jit as f64 / total.max(1) as f64
}

#[test]
fn node_jit_frames_carry_the_placeholder_or_their_perf_map_names() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("node", "--version"), "node (Debian's nodejs)")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hot.js");
    std::fs::write(&script, NODE_SCRIPT).unwrap();
    let script = path_str(&script);

    // Without a perf map: every output says Augur's words for JIT code.
    let folded = dir.path().join("node.folded");
    record("folded", &folded, &["node", script, "2"]);
    let text = std::fs::read_to_string(&folded).unwrap();
    assert_no_legacy(&text, "folded of node");
    let stacks = parse_folded(&text);
    let share = jit_share(&stacks, |f| f == NODE_PLACEHOLDER);
    assert!(
        share >= 0.5,
        "only {share:.2} of node's samples show {NODE_PLACEHOLDER}; busiest stacks:\n{}",
        busiest(&stacks)
    );

    let pprof = dir.path().join("node.pb.gz");
    record("pprof", &pprof, &["node", script, "2"]);
    let strings = pprof_strings(&pprof);
    assert_no_legacy(&strings, "pprof of node");
    assert!(
        strings.contains(NODE_PLACEHOLDER),
        "the pprof names no {NODE_PLACEHOLDER}"
    );

    let svg = dir.path().join("node.svg");
    record("svg", &svg, &["node", script, "2"]);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert_no_legacy(&svg, "SVG of node");
    assert!(
        svg.contains(NODE_PLACEHOLDER),
        "the SVG names no {NODE_PLACEHOLDER}"
    );

    // With node's perf map the JavaScript function is named.
    let folded = dir.path().join("node-perf-map.folded");
    let stdout = record(
        "folded",
        &folded,
        &["node", "--perf-basic-prof", script, "2"],
    );
    if let Some(pid) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid ")?.split(' ').next())
    {
        let _ = std::fs::remove_file(format!("/tmp/perf-{pid}.map"));
    }
    let text = std::fs::read_to_string(&folded).unwrap();
    assert_no_legacy(&text, "folded of node --perf-basic-prof");
    let stacks = parse_folded(&text);
    let share = jit_share(&stacks, |f| f.contains("hotLoop"));
    assert!(
        share >= 0.5,
        "only {share:.2} of node --perf-basic-prof's samples name hotLoop; busiest stacks:\n{}",
        busiest(&stacks)
    );
}

// ---------------------------------------------------------------------------
// The fleet report

/// Samples `base` stores for `service`, 0 when it has none.
fn service_samples(base: &str, service: &str) -> u64 {
    let services = http_json(&format!("{base}api/v1/services")).unwrap();
    services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == service)
        .and_then(|s| s["samples"].as_u64())
        .unwrap_or(0)
}

/// Builds the split fixture as `dir/name` and strips it of every symbol.
fn build_stripped(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = build_fixture_with(dir, "split.c", name, extra).unwrap();
    let status = Command::new("strip")
        .arg("--strip-all")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "strip failed");
    path
}

/// Two stripped binaries with no debug info anywhere: the fleet's functions
/// report shows each one's unnamed CPU on its own `[unsymbolized] PATH` row.
#[test]
fn fleet_functions_split_unnamed_cpu_by_binary() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("strip", "--version"), "strip (binutils)")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = build_stripped(dir.path(), "augur-unnamed-a", &[]);
    let b = build_stripped(dir.path(), "augur-unnamed-b", &["-DAUGUR_VARIANT=2"]);
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    let mut running: Vec<_> = [&a, &b]
        .iter()
        .map(|p| {
            Command::new(p)
                .arg("3")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut running {
        assert!(child.wait().unwrap().success());
    }

    let samples_of = |service: &str| service_samples(&base, service);
    // Every window of both fixtures stored: the counts reached the floor
    // and held still over one more drain and flush, so the report below is
    // read after the last sample it is compared against.
    let mut previous = (0, 0);
    wait_until(
        "both stripped fixtures stored",
        Duration::from_secs(60),
        || {
            let now = (samples_of("augur-unnamed-a"), samples_of("augur-unnamed-b"));
            let settled = now.0 >= 150 && now.1 >= 150 && now == previous;
            previous = now;
            if !settled {
                std::thread::sleep(Duration::from_secs(3));
            }
            settled
        },
    );

    let expected: Vec<String> = [&a, &b]
        .iter()
        .map(|p| format!("[unsymbolized] {}", p.canonicalize().unwrap().display()))
        .collect();
    let url = format!("{base}api/v1/fleet/functions?from=-10m&to=now&limit=10000");
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let report = http_json(&url).unwrap();
        let rows = report["rows"].as_array().unwrap();
        let found = expected
            .iter()
            .all(|name| rows.iter().any(|r| r["name"] == name.as_str()));
        if found || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let rows = report["rows"].as_array().unwrap();
    let listing: Vec<String> = rows
        .iter()
        .take(15)
        .map(|r| format!("  {} {}", r["samples"], r["name"]))
        .collect();
    for (name, service) in expected.iter().zip(["augur-unnamed-a", "augur-unnamed-b"]) {
        let samples = rows
            .iter()
            .find(|r| r["name"] == name.as_str())
            .and_then(|r| r["samples"].as_u64())
            .unwrap_or(0);
        let stored = samples_of(service);
        assert!(
            samples as f64 >= 0.8 * stored as f64,
            "fleet functions: the row {name:?} has {samples} of {service}'s {stored} samples; top rows:\n{}",
            listing.join("\n")
        );
    }
    assert!(up.terminate().unwrap().success());
}
