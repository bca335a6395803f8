//! The Debian package as a user installs it: `scripts/package-deb.sh` builds
//! it from the binary under test, `dpkg -i` installs it, `systemd-analyze
//! verify` accepts its units, and both services start from the installed
//! unit files as systemd would start them (PID 1 here is not systemd):
//! `ExecStart=` run as `User=`, with `Environment=`, `EnvironmentFile=` and
//! `AmbientCapabilities=`. The server answers `/healthz` and lists a
//! program the agent sampled; `dpkg -r` and `--purge` then take everything
//! away again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use augur_tests::*;

const UNITS: &str = "/lib/systemd/system";
/// The addresses the installed units use.
const SERVER_URL: &str = "http://127.0.0.1:7080";
const AGENT_METRICS: &str = "http://127.0.0.1:7071/metrics";

/// The `[Service]` settings a start needs, read from an installed unit.
#[derive(Debug, Default)]
struct Service {
    exec_start: Vec<String>,
    user: Option<String>,
    group: Option<String>,
    environment: BTreeMap<String, String>,
    ambient_capabilities: Vec<String>,
}

impl Service {
    /// Parses `path`. The units use no quoting and no line continuations;
    /// a setting this reader does not know how to honour fails the test.
    fn read(path: &Path) -> Service {
        let text = std::fs::read_to_string(path).unwrap();
        let mut service = Service::default();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            assert!(
                !line.ends_with('\\'),
                "{}: continuation lines",
                path.display()
            );
            let (key, value) = line.split_once('=').unwrap();
            if section != "Service" {
                continue;
            }
            let words = || value.split_whitespace().map(str::to_owned);
            match key {
                "ExecStart" => {
                    assert!(service.exec_start.is_empty(), "two ExecStart= lines");
                    service.exec_start = words().collect();
                }
                "User" => service.user = Some(value.to_owned()),
                "Group" => service.group = Some(value.to_owned()),
                "Environment" => {
                    for pair in words() {
                        let (k, v) = pair.split_once('=').unwrap();
                        service.environment.insert(k.to_owned(), v.to_owned());
                    }
                }
                "EnvironmentFile" => {
                    let (optional, file) = match value.strip_prefix('-') {
                        Some(file) => (true, file),
                        None => (false, value),
                    };
                    match std::fs::read_to_string(file) {
                        Ok(env) => {
                            let pairs = env
                                .lines()
                                .map(str::trim)
                                .filter(|l| !l.starts_with('#'))
                                .filter_map(|l| l.split_once('='));
                            for (k, v) in pairs {
                                service.environment.insert(k.to_owned(), v.to_owned());
                            }
                        }
                        Err(error) => assert!(optional, "{file}: {error}"),
                    }
                }
                "AmbientCapabilities" => service.ambient_capabilities = words().collect(),
                "ExecStartPre" | "ExecStartPost" | "WorkingDirectory" | "RootDirectory" => {
                    panic!("{}: {key}= is not started here", path.display())
                }
                _ => {}
            }
        }
        assert!(
            !service.exec_start.is_empty(),
            "{}: no ExecStart=",
            path.display()
        );
        service
    }

    /// Starts the service as systemd would: a clean environment plus the
    /// unit's, as its user, with its ambient capabilities.
    fn start(&self) -> Child {
        let mut command = Command::new("setpriv");
        if let Some(user) = &self.user {
            command.arg(format!("--reuid={user}")).arg("--init-groups");
            command.arg(format!("--regid={}", self.group.as_deref().unwrap_or(user)));
            command.env("USER", user).env("LOGNAME", user);
        }
        if !self.ambient_capabilities.is_empty() {
            let caps: Vec<String> = self
                .ambient_capabilities
                .iter()
                .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
                .collect();
            let caps = caps.join(",");
            command
                .arg(format!("--inh-caps={caps}"))
                .arg(format!("--ambient-caps={caps}"));
        }
        command
            .arg("--")
            .args(&self.exec_start)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(&self.environment)
            .stdin(Stdio::null());
        command.spawn().unwrap()
    }
}

/// Purges the package and stops what the test started, also when it fails.
struct Cleanup {
    children: Vec<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let _ = Command::new("dpkg").args(["--purge", "augur"]).status();
        }
    }
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "augur"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn dpkg(args: &[&str]) {
    let out = Command::new("dpkg").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "dpkg {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends SIGTERM and expects a clean exit within 30 s.
fn stop(child: &mut Child, what: &str) {
    // SAFETY: signalling a child we started and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut status = None;
    wait_until(&format!("{what} stops"), Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    assert!(status.success(), "{what} exited with {status}");
}

#[test]
fn debian_package_installs_and_its_units_start_agent_and_server() {
    if !require(is_root(), "root (dpkg -i, eBPF sampling)")
        || !require(have("dpkg-deb", "--version"), "dpkg-deb")
        || !require(have("objcopy", "--version"), "objcopy (binutils)")
        || !require(have("setpriv", "--version"), "setpriv (util-linux)")
        || !require(
            have("systemd-analyze", "--version"),
            "systemd-analyze (systemd)",
        )
        || !require(!installed(), "no augur package installed before the test")
    {
        return;
    }
    assert!(
        std::net::TcpStream::connect("127.0.0.1:7080").is_err()
            && std::net::TcpStream::connect("127.0.0.1:7070").is_err(),
        "something already listens on the units' ports 7080/7070"
    );
    let dir = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new("bash")
        .arg(workspace.join("scripts/package-deb.sh"))
        .arg("--binary")
        .arg(augur_bin())
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "package-deb.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(
        deb.starts_with(dir.path()) && deb.exists(),
        "{}",
        deb.display()
    );

    let mut cleanup = Cleanup { children: vec![] };
    dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(installed());
    for path in [
        "/usr/bin/augur",
        "/etc/augur/agent.toml",
        "/lib/systemd/system/augur-agent.service",
        "/lib/systemd/system/augur-server.service",
        "/usr/share/doc/augur/copyright",
    ] {
        assert!(Path::new(path).exists(), "{path} not installed");
    }
    let id = Command::new("id").args(["-u", "augur"]).output().unwrap();
    assert!(id.status.success(), "no augur user after install");
    let uid: u32 = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata("/var/lib/augur").unwrap().uid(), uid);

    let units = [
        format!("{UNITS}/augur-server.service"),
        format!("{UNITS}/augur-agent.service"),
    ];
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );

    let server = Service::read(Path::new(&units[0]));
    let agent = Service::read(Path::new(&units[1]));
    assert_eq!(server.exec_start[0], "/usr/bin/augur");
    assert_eq!(agent.exec_start[0], "/usr/bin/augur");
    assert_eq!(server.user.as_deref(), Some("augur"));
    assert_eq!(agent.user.as_deref(), Some("augur"));

    cleanup.children.push(server.start());
    wait_until(
        "the server answers /healthz",
        Duration::from_secs(60),
        || http_get(&format!("{SERVER_URL}/healthz")).is_ok_and(|(status, _)| status == 200),
    );

    // A program the agent must find: readable by the augur user.
    let fixtures = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fixtures.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fixture = build_split_fixture(fixtures.path(), "augur-fixture-deb").unwrap();
    cleanup.children.push(agent.start());
    wait_until(
        "the agent's /metrics answers",
        Duration::from_secs(60),
        || http_get(AGENT_METRICS).is_ok_and(|(status, _)| status == 200),
    );
    let agent_pid = cleanup.children[1].id();
    let status = std::fs::read_to_string(format!("/proc/{agent_pid}/status")).unwrap();
    let agent_uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap();
    assert_eq!(agent_uid, uid.to_string(), "the agent runs as augur");
    assert!(Command::new(&fixture).arg("4").status().unwrap().success());
    wait_until(
        "the fixture in the services list",
        Duration::from_secs(90),
        || {
            http_json(&format!("{SERVER_URL}/api/v1/services"))
                .ok()
                .and_then(|v| v["services"].as_array().cloned())
                .is_some_and(|s| s.iter().any(|s| s["name"] == "augur-fixture-deb"))
        },
    );

    let mut agent = cleanup.children.pop().unwrap();
    stop(&mut agent, "the agent");
    let mut server = cleanup.children.pop().unwrap();
    stop(&mut server, "the server");

    dpkg(&["-r", "augur"]);
    assert!(!Path::new("/usr/bin/augur").exists());
    assert!(!Path::new(&units[0]).exists());
    // A conffile stays until purge, as does the data.
    assert!(Path::new("/etc/augur/agent.toml").exists());
    assert!(Path::new("/var/lib/augur/augur.db").exists());
    dpkg(&["--purge", "augur"]);
    assert!(!Path::new("/etc/augur/agent.toml").exists());
    assert!(!Path::new("/var/lib/augur").exists());
    assert!(!installed());
}
