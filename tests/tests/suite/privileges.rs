//! Least privilege: the agent running as an unprivileged user with only
//! CAP_BPF, CAP_PERFMON, CAP_SYSLOG and CAP_SYS_PTRACE samples every
//! process and its stacks come out fully symbolized.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use augur_tests::*;

const NOBODY: u32 = 65534;
/// CAP_SYS_PTRACE (19), CAP_SYSLOG (34), CAP_PERFMON (38), CAP_BPF (39).
const FOUR_CAPS: u64 = (1 << 19) | (1 << 34) | (1 << 38) | (1 << 39);

#[test]
fn agent_as_unprivileged_user_with_four_capabilities() {
    if !require(is_root(), "root (to drop to an unprivileged user)") {
        return;
    }
    if !require(have("setpriv", "--version"), "setpriv (util-linux)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The agent reads binaries to find their build-ids, as any user would.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fixture = build_split_fixture(dir.path(), "augur-fixture-unpriv").unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let c_spool = std::ffi::CString::new(spool.to_str().unwrap()).unwrap();
    // SAFETY: a valid path and ids.
    assert_eq!(unsafe { libc::chown(c_spool.as_ptr(), NOBODY, NOBODY) }, 0);

    let data = dir.path().join("data");
    let server = start_server(&data, "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();

    let caps = "-all,+bpf,+perfmon,+syslog,+sys_ptrace";
    let mut agent = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            &format!("--inh-caps={caps}"),
            &format!("--ambient-caps={caps}"),
            &format!("--bounding-set={caps}"),
            "--",
        ])
        .arg(augur_bin())
        .args([
            "agent",
            "--server",
            &ingest,
            "--window",
            "2s",
            "--frequency",
            "99",
            "--metrics",
            "127.0.0.1:0",
        ])
        .arg("--spool-dir")
        .arg(&spool)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let agent_pid = agent.id();
    let _kill = KillOnPanic(agent_pid as i32);
    let stdout = agent.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[agent stdout] {line}");
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("augur: agent metrics on") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = agent.kill();
                panic!(
                    "the unprivileged agent did not start within {:?}",
                    started.elapsed()
                );
            }
        }
    }

    // It really runs as nobody with exactly the four capabilities.
    let status = std::fs::read_to_string(format!("/proc/{agent_pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap()
    };
    assert!(
        field("Uid:").iter().all(|&u| u == NOBODY.to_string()),
        "{status}"
    );
    let effective = u64::from_str_radix(field("CapEff:")[0], 16).unwrap();
    assert_eq!(
        effective, FOUR_CAPS,
        "effective capabilities {effective:#x}"
    );

    assert!(Command::new(&fixture).arg("6").status().unwrap().success());
    let profile = wait_for_split_profile(&base, "augur-fixture-unpriv", "-10m", 150);
    assert_split(&json_stacks(&profile), "unprivileged agent");

    // SAFETY: signalling a child we started.
    unsafe { libc::kill(agent_pid as i32, libc::SIGTERM) };
    let exit = agent.wait().unwrap();
    assert!(exit.success(), "the agent exited with {exit}");
    assert!(server.terminate().unwrap().success());
}

/// Kills the agent when the test fails before stopping it: a `Child` is not
/// killed on drop, and an agent left running outlives its temporary spool.
struct KillOnPanic(i32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY: signalling a child we started and have not reaped.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}
