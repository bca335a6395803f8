//! Harness for Augur's end-to-end tests: finds the real `augur` binary,
//! builds fixture programs, starts servers on loopback ports with temporary
//! data directories, and talks to them over HTTP.
//!
//! Tests that need a capability this machine lacks (root for eBPF, `go` for
//! pprof checks) call [`require`], which skips loudly, or fails when
//! `AUGUR_REQUIRE_ALL=1` says the capability must be there (as in CI).

pub mod bench;
pub mod clickhouse;
pub mod pyroscope;
pub mod tls_front;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Serializes the tests that compare Augur with another profiler sampling
/// the same process (JFR, py-spy) or that share one ClickHouse cluster
/// between several nodes: each runs many busy processes, and two of them
/// side by side on a two-core machine starve the very threads they measure.
/// Tests run in parallel otherwise; hold the guard for the whole test.
pub fn heavy_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one still runs.
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `augur` binary under test: `$AUGUR_BIN`, or the one cargo built next
/// to this test executable.
pub fn augur_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("AUGUR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/augur
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("augur");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p augur` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns true if the test may go on; otherwise prints a loud skip notice,
/// or panics when `AUGUR_REQUIRE_ALL=1`.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("AUGUR_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("{what} is required (AUGUR_REQUIRE_ALL=1) but not available");
    }
    eprintln!("\n*** SKIPPED: {what} is not available on this machine ***\n");
    false
}

/// True when `program` runs.
pub fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Path of a fixture source in `tests/fixtures`.
pub fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Builds the 75/25 split fixture with frame pointers as `dir/name` and
/// returns its path. The executable name is its service name, so tests
/// running side by side use different names.
pub fn build_split_fixture(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    build_fixture(dir, "split.c", name)
}

/// Builds `tests/fixtures/SOURCE` with frame pointers, without inlining or
/// sibling calls, as `dir/name`.
pub fn build_fixture(dir: &Path, source: &str, name: &str) -> anyhow::Result<PathBuf> {
    build_fixture_with(dir, source, name, &[])
}

/// [`build_fixture`] with extra compiler arguments (e.g. `-DAUGUR_VARIANT=2`).
pub fn build_fixture_with(
    dir: &Path,
    source: &str,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<PathBuf> {
    let out = dir.join(name);
    let compiler = if source.ends_with(".cpp") {
        "c++"
    } else {
        "cc"
    };
    let status = Command::new(compiler)
        .args([
            "-O1",
            "-g",
            "-fno-omit-frame-pointer",
            "-mno-omit-leaf-frame-pointer",
            "-fno-optimize-sibling-calls",
            "-fno-inline",
        ])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(fixture_source(source))
        .status()
        .context("running cc")?;
    if !status.success() {
        bail!("cc failed to build fixture {source}: {status}");
    }
    Ok(out)
}

/// A running `augur` process; killed when dropped. Its stdout lines are
/// echoed to the test output and kept for [`AugurProcess::wait_for_line`]
/// and [`AugurProcess::output`].
pub struct AugurProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
    /// Web base URL, e.g. `http://127.0.0.1:1234/`.
    pub http: Option<String>,
    /// Ingest URL, e.g. `http://127.0.0.1:1235`.
    pub ingest: Option<String>,
}

impl AugurProcess {
    /// Starts `augur ARGS` without waiting for anything.
    pub fn spawn(args: &[&str]) -> anyhow::Result<Self> {
        Self::spawn_with_env(args, &[])
    }

    /// [`AugurProcess::spawn`] with more environment variables. A
    /// `DEBUGINFOD_URLS` of the test's own environment is not passed on:
    /// a test names its debuginfod servers itself.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut child = Command::new(augur_bin())
            .args(args)
            .env_remove("DEBUGINFOD_URLS")
            .envs(env.iter().copied())
            .env("AUGUR_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting augur")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[augur stdout] {line}");
                let _ = tx.send(line);
            }
        });
        Ok(Self {
            child,
            lines: rx,
            output: Vec::new(),
            http: None,
            ingest: None,
        })
    }

    /// Starts `augur ARGS` and waits for it to announce its addresses.
    pub fn start(args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(args, &[])
    }

    /// [`AugurProcess::start`] with more environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut process = Self::spawn_with_env(args, env)?;
        let wants_http = !args.contains(&"ingest");
        let wants_ingest = !args.contains(&"query");
        let deadline = Instant::now() + Duration::from_secs(60);
        while (wants_http && process.http.is_none()) || (wants_ingest && process.ingest.is_none()) {
            let Some(line) = process.next_line(deadline) else {
                bail!("augur {args:?} did not announce its addresses within 60 s");
            };
            if let Some(url) = line.strip_prefix("Augur is up: ") {
                process.http = Some(url.trim().to_owned());
            } else if let Some(url) = line.strip_prefix("augur: ingest listening on ") {
                process.ingest = Some(url.trim().to_owned());
            }
        }
        Ok(process)
    }

    /// Starts `augur ARGS` and waits up to 60 s for a stdout line starting
    /// with `prefix`; returns the process and the rest of that line, e.g.
    /// `start_and_wait_for(&["agent", ...], "augur: agent metrics on ")`.
    pub fn start_and_wait_for(args: &[&str], prefix: &str) -> anyhow::Result<(Self, String)> {
        let mut process = Self::spawn(args)?;
        let rest = process
            .wait_for_line(prefix, Duration::from_secs(60))
            .with_context(|| format!("augur {args:?}"))?;
        Ok((process, rest))
    }

    /// Waits for the next stdout line starting with `prefix` and returns
    /// the rest of it. Lines printed before this call are not searched.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(line) = self.next_line(deadline) else {
                bail!("no stdout line starting with {prefix:?} within {timeout:?}");
            };
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.to_owned());
            }
        }
    }

    /// The next stdout line, or None at the deadline or end of output.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left).ok()?;
        self.output.push(line.clone());
        Some(line)
    }

    /// Every stdout line read so far.
    pub fn output(&self) -> &[String] {
        &self.output
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits up to 30 s for a clean exit.
    pub fn terminate(self) -> anyhow::Result<std::process::ExitStatus> {
        Ok(self.terminate_with_output()?.0)
    }

    /// Sends SIGTERM, waits up to 30 s for a clean exit, and returns the
    /// exit status with every line the process printed.
    pub fn terminate_with_output(
        mut self,
    ) -> anyhow::Result<(std::process::ExitStatus, Vec<String>)> {
        // SAFETY: kill with a pid we own and a valid signal.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!("augur did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The pipe closes at exit; collect what is still in flight.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.next_line(deadline).is_some() {}
        Ok((status, std::mem::take(&mut self.output)))
    }

    /// Kills the process with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.child.kill().context("killing augur")?;
        Ok(self.child.wait()?)
    }
}

impl Drop for AugurProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `augur server` (both roles) with its data in `data_dir`, gRPC
/// ingest on `ingest` (e.g. `127.0.0.1:0`) and HTTP on a free loopback port.
pub fn start_server(data_dir: &Path, ingest: &str) -> anyhow::Result<AugurProcess> {
    start_server_with(data_dir, ingest, &[])
}

/// [`start_server`] with more arguments (a role, storage, limits...).
pub fn start_server_with(
    data_dir: &Path,
    ingest: &str,
    extra: &[&str],
) -> anyhow::Result<AugurProcess> {
    let data = data_dir.to_str().context("data dir is not UTF-8")?;
    let mut args = vec![
        "server",
        "--data-dir",
        data,
        "--http",
        "127.0.0.1:0",
        "--ingest",
        ingest,
    ];
    args.extend_from_slice(extra);
    AugurProcess::start(&args)
}

/// Starts `augur agent` sending to `ingest`, spooling in `spool`, with the
/// config file `config`, draining every 2 s at 99 Hz; returns it with its
/// metrics URL.
pub fn start_agent_with_config(
    ingest: &str,
    spool: &Path,
    config: &Path,
) -> (AugurProcess, String) {
    start_agent_at(ingest, spool, config, 99)
}

/// [`start_agent_with_config`] sampling at `hz`.
pub fn start_agent_at(
    ingest: &str,
    spool: &Path,
    config: &Path,
    hz: u32,
) -> (AugurProcess, String) {
    let hz = hz.to_string();
    let (agent, metrics) = AugurProcess::start_and_wait_for(
        &[
            "agent",
            "--server",
            ingest,
            "--window",
            "2s",
            "--frequency",
            &hz,
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
    (agent, metrics.trim().to_owned())
}

/// A loopback port nobody listens on right now (another process may take it
/// before it is used; the tests accept that).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

/// Polls `done` every 250 ms; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts `augur up` with its data in `data_dir`, on free loopback ports,
/// draining every 2 s at 99 Hz (for test speed), plus `extra` arguments.
pub fn start_up(data_dir: &Path, extra: &[&str]) -> anyhow::Result<AugurProcess> {
    start_up_with_env(data_dir, extra, &[])
}

/// [`start_up`] with more environment variables.
pub fn start_up_with_env(
    data_dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<AugurProcess> {
    let data = data_dir.to_str().context("data dir is not UTF-8")?;
    let mut args = vec![
        "up",
        "--data-dir",
        data,
        "--http",
        "127.0.0.1:0",
        "--ingest",
        "127.0.0.1:0",
        "--window",
        "2s",
        "--frequency",
        "99",
    ];
    args.extend_from_slice(extra);
    AugurProcess::start_with_env(&args, env)
}

/// GET `url`; returns status and body.
pub fn http_get(url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut response = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()?;
    Ok((status, body))
}

/// Whether a root-first stack was sampled while its process was calling
/// `execve` or exiting: its user part, if any, is not the program's
/// (the image before exec, or none once the address space is gone), so
/// it says nothing about how the program's stacks are walked.
pub fn in_exec_or_exit(frames: &[String]) -> bool {
    frames
        .iter()
        .any(|f| f == "__x64_sys_execve" || f == "__x64_sys_exit_group" || f == "do_exit")
}

/// POST `body` to `url` with `headers`; returns status and body text.
pub fn http_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// The value of the Prometheus sample `name` (with its labels, as exposed:
/// `x_total{outcome="stored"}`) at the metrics endpoint `url`, or `None`
/// when the series is not exposed (yet).
pub fn try_metric(url: &str, name: &str) -> Option<f64> {
    let (_, body) = http_get(url).unwrap();
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// [`try_metric`], panicking when the series is missing.
pub fn metric(url: &str, name: &str) -> f64 {
    try_metric(url, name).unwrap_or_else(|| {
        let (_, body) = http_get(url).unwrap();
        panic!(
            "{name} missing from {url}:\n{}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// Runs `augur loadgen --report json ARGS` and parses its report; panics
/// (a test failure) when loadgen fails.
pub fn loadgen(args: &[&str]) -> serde_json::Value {
    let output = Command::new(augur_bin())
        .arg("loadgen")
        .args(["--report", "json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("[loadgen report] {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}"))
}

/// Sum of `samples` over every service the server at `base` stores.
pub fn stored_samples(base: &str) -> u64 {
    let services = http_json(&format!("{base}api/v1/services")).unwrap();
    services["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["samples"].as_u64().unwrap())
        .sum()
}

/// Waits up to `timeout` for the stored total at `base` to reach
/// `expected`; returns the last value seen.
pub fn settle_stored(base: &str, expected: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let stored = stored_samples(base);
        if stored == expected || Instant::now() > deadline {
            return stored;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// GET `url` and parse JSON, requiring 200.
pub fn http_json(url: &str) -> anyhow::Result<serde_json::Value> {
    let (status, body) = http_get(url)?;
    if status != 200 {
        bail!(
            "GET {url}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Polls `base`'s JSON profile of `service` over the last `range` (e.g.
/// `-10m`) until the split fixture's `hot_a` and `hot_b` hold at least `min`
/// symbolized samples and the count stopped changing between two polls 3 s
/// apart: the last window has arrived and been named. Panics after 90 s.
pub fn wait_for_split_profile(
    base: &str,
    service: &str,
    range: &str,
    min: u64,
) -> serde_json::Value {
    let url = format!("{base}api/v1/profile?service={service}&from={range}&to=now");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut previous = 0;
    loop {
        let profile = http_json(&url).unwrap();
        let (a, _) = function_counts(&profile, "hot_a");
        let (b, _) = function_counts(&profile, "hot_b");
        if a + b >= min && a + b == previous {
            return profile;
        }
        previous = a + b;
        assert!(
            Instant::now() < deadline,
            "samples of {service} did not arrive symbolized in time: {profile}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Samples per function in a JSON profile's stacks: (total where the
/// function is anywhere on the stack, total where it is the leaf).
pub fn function_counts(profile: &serde_json::Value, function: &str) -> (u64, u64) {
    let mut total = 0;
    let mut leaf = 0;
    for stack in profile["stacks"].as_array().into_iter().flatten() {
        let frames: Vec<&str> = stack["frames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .collect();
        let count = stack["count"].as_u64().unwrap_or(0);
        if frames.contains(&function) {
            total += count;
        }
        if frames.last() == Some(&function) {
            leaf += count;
        }
    }
    (total, leaf)
}

/// Samples whose stack contains `chain` as consecutive frames (root first).
pub fn chain_count(stacks: &[(Vec<String>, u64)], chain: &[&str]) -> u64 {
    stacks
        .iter()
        .filter(|(frames, _)| {
            frames
                .windows(chain.len())
                .any(|w| w.iter().map(String::as_str).eq(chain.iter().copied()))
        })
        .map(|(_, count)| count)
        .sum()
}

/// Samples whose stack holds the frame `frame` (root-first stacks).
pub fn count_with(stacks: &[(Vec<String>, u64)], frame: &str) -> u64 {
    stacks
        .iter()
        .filter(|(frames, _)| frames.iter().any(|f| f == frame))
        .map(|(_, n)| n)
        .sum()
}

/// Samples whose root-first stack holds frames matching `chain` in this
/// order, other frames allowed between; `matches(frame, wanted)` says
/// whether a frame is the one wanted.
pub fn in_order_count(
    stacks: &[(Vec<String>, u64)],
    chain: &[&str],
    matches: impl Fn(&str, &str) -> bool,
) -> u64 {
    stacks
        .iter()
        .filter(|(frames, _)| {
            let mut want = chain.iter().peekable();
            for frame in frames {
                if want.peek().is_some_and(|w| matches(frame, w)) {
                    want.next();
                }
            }
            want.peek().is_none()
        })
        .map(|(_, n)| n)
        .sum()
}

/// The `n` busiest stacks, one per line, for failure messages.
pub fn busiest(stacks: &[(Vec<String>, u64)], n: usize) -> String {
    let mut sorted: Vec<_> = stacks.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.1));
    sorted
        .iter()
        .take(n)
        .map(|(frames, count)| format!("  {count} {}", frames.join(";")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Root-first stacks of a JSON profile.
pub fn json_stacks(profile: &serde_json::Value) -> Vec<(Vec<String>, u64)> {
    profile["stacks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let frames = s["frames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect();
            (frames, s["count"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// Parses folded text into root-first stacks.
pub fn parse_folded(text: &str) -> Vec<(Vec<String>, u64)> {
    text.lines()
        .filter_map(|line| {
            let (stack, count) = line.rsplit_once(' ')?;
            Some((
                stack.split(';').map(str::to_owned).collect(),
                count.parse().ok()?,
            ))
        })
        .collect()
}

/// Asserts the 75/25 split and full call chains of the split fixture.
pub fn assert_split(stacks: &[(Vec<String>, u64)], context: &str) {
    let a = chain_count(stacks, &["hot_a"]);
    let b = chain_count(stacks, &["hot_b"]);
    assert!(
        a + b >= 100,
        "{context}: only {a}+{b} samples in hot_a/hot_b; stacks: {stacks:?}"
    );
    let share = a as f64 / (a + b) as f64;
    assert!(
        (share - 0.75).abs() <= 0.10,
        "{context}: hot_a share {share:.3} is not within 10 points of 0.75 (hot_a {a}, hot_b {b})"
    );
    let chain_a = chain_count(stacks, &["main", "caller_a", "hot_a"]);
    let chain_b = chain_count(stacks, &["main", "caller_b", "hot_b"]);
    assert!(
        chain_a as f64 >= 0.9 * a as f64 && chain_b as f64 >= 0.9 * b as f64,
        "{context}: full chains main->caller_x->hot_x cover only {chain_a}/{a} and {chain_b}/{b} samples"
    );
}

/// `go ARGS` offline (no module proxy, no toolchain download), with its
/// home, build cache and module path under `scratch`.
pub fn offline_go(args: &[&str], scratch: &Path) -> Command {
    let mut command = Command::new("go");
    command
        .args(args)
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("HOME", scratch.join("home"))
        .env("GOCACHE", scratch.join("cache"))
        .env("GOPATH", scratch.join("gopath"));
    command
}

/// Runs `go tool pprof -top` offline on `file` and returns its output.
pub fn go_pprof_top(file: &Path, scratch: &Path) -> anyhow::Result<String> {
    let output = offline_go(&["tool", "pprof", "-top", "-nodecount=20"], scratch)
        .arg(file)
        .env("PPROF_TMPDIR", scratch)
        .output()
        .context("running go tool pprof")?;
    if !output.status.success() {
        bail!(
            "go tool pprof failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The function named on the first data row of `pprof -top` output.
pub fn pprof_top_function(top: &str) -> Option<String> {
    top.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .nth(1)
        .and_then(|row| row.split_whitespace().nth(5).map(str::to_owned))
}
