//! Stripped binaries are named from a real debuginfod server (elfutils'
//! `debuginfod -F DIR` on loopback). While the server is down their frames
//! are stored unsymbolized; once it is up, the same stored samples show the
//! names, without re-ingesting anything.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use augur_tests::*;

/// A debuginfod server on loopback, killed when dropped.
struct Debuginfod(Child);

impl Drop for Debuginfod {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

#[test]
fn debuginfod_names_stripped_frames_once_it_is_reachable() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("debuginfod", "--version"), "debuginfod (elfutils)")
        || !require(have("objcopy", "--version"), "objcopy (binutils)")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = "augur-fixture-stripped";
    // A build-id of its own: other tests run the same fixture source, and
    // the agent of this test's `augur up` samples every process on the
    // host, so their unstripped copies would offer this server symbols.
    let fixture = build_fixture_with(dir.path(), "split.c", name, &["-DAUGUR_VARIANT=31"]).unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let debug_file = served.join(format!("{name}.debug"));
    run(
        "objcopy",
        &[
            "--only-keep-debug",
            fixture.to_str().unwrap(),
            debug_file.to_str().unwrap(),
        ],
    );
    run("strip", &["--strip-all", fixture.to_str().unwrap()]);

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data");
    let up = start_up(&data, &["--debuginfod", &url, "--symbol-retry", "2s"]).unwrap();
    let base = up.http.clone().unwrap();

    // The server is down: samples are stored, their frames stay unnamed.
    assert!(Command::new(&fixture).arg("5").status().unwrap().success());
    let profile_url = format!("{base}api/v1/profile?service={name}&from=-10m&to=now");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut previous = 0;
    let stored = loop {
        let profile = http_json(&profile_url).unwrap();
        let total = profile["total_samples"].as_u64().unwrap();
        if total >= 150 && total == previous {
            break profile;
        }
        previous = total;
        assert!(
            Instant::now() < deadline,
            "the stripped fixture's samples were not stored: {profile}"
        );
        std::thread::sleep(Duration::from_secs(3));
    };
    let (hot_a, _) = function_counts(&stored, "hot_a");
    assert_eq!(
        hot_a, 0,
        "a stripped binary cannot be named without its debug info"
    );

    // Bring debuginfod up; the stored frames get their names.
    let _server = Debuginfod(
        Command::new("debuginfod")
            .args([
                "-F",
                served.to_str().unwrap(),
                "-p",
                &port.to_string(),
                "-d",
            ])
            .arg(dir.path().join("debuginfod.sqlite"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let profile = wait_for_split_profile(&base, name, "-10m", 150);
    assert_split(&json_stacks(&profile), "named from debuginfod");
    assert_eq!(
        profile["total_samples"], stored["total_samples"],
        "naming must not change what was stored"
    );
    assert!(up.terminate().unwrap().success());
}
