//! Service identity on real processes: a fixture started in its own cgroup,
//! named like a systemd service, gets the service name the relabel rules
//! give it, and a process a rule drops is not profiled at all.

use std::process::Command;

use augur_tests::*;

/// The cgroup v2 mount point, if the machine has one.
fn cgroup2_root() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| std::path::PathBuf::from(f[1]))
}

/// Removes the test's cgroups when the test ends, however it ends.
struct CgroupGuard(Vec<std::path::PathBuf>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn relabel_rules_name_a_process_in_its_own_cgroup() {
    if !require(is_root(), "root (eBPF sampling, cgroups)") {
        return;
    }
    let Some(root) = cgroup2_root() else {
        require(false, "a cgroup v2 hierarchy");
        return;
    };
    let slice = root.join(format!("augur-test-{}.slice", std::process::id()));
    let unit = slice.join("payments-api.service");
    std::fs::create_dir_all(&unit).unwrap();
    let _guard = CgroupGuard(vec![slice.clone(), unit.clone()]);

    let dir = tempfile::tempdir().unwrap();
    let kept = build_split_fixture(dir.path(), "augur-fixture-relabel").unwrap();
    let dropped = build_split_fixture(dir.path(), "augur-fixture-dropped").unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        r#"
[identity]
version_env = "AUGUR_TEST_VERSION"

# payments-api.service -> checkout-payments
[[relabel]]
source_labels = ["unit"]
regex = "(.+)-api\\.service"
target_label = "service"
replacement = "checkout-$1"

[[relabel]]
action = "drop"
source_labels = ["exe"]
regex = ".*/augur-fixture-dropped"
"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let up = start_up(&data, &["--config", config.to_str().unwrap()]).unwrap();
    let base = up.http.clone().unwrap();

    // Join the unit's cgroup before exec, as systemd would.
    let procs = unit.join("cgroup.procs");
    let mut in_unit = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {} && exec {} 6",
            procs.display(),
            kept.display()
        ))
        .env("AUGUR_TEST_VERSION", "v9.9.9")
        .spawn()
        .unwrap();
    let mut other = Command::new(&dropped).arg("6").spawn().unwrap();
    assert!(in_unit.wait().unwrap().success());
    assert!(other.wait().unwrap().success());

    let profile = wait_for_split_profile(&base, "checkout-payments", "-10m", 150);
    assert_split(&json_stacks(&profile), "relabelled service");

    let services = http_json(&format!("{base}api/v1/services")).unwrap();
    let names: Vec<&str> = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"checkout-payments"), "services: {names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("augur-fixture-dropped") || n.contains("augur-fixture-relabel")),
        "a dropped or renamed process kept its executable's name: {names:?}"
    );

    // The process's labels are stored with its samples, and select them.
    let labels = http_json(&format!("{base}api/v1/labels?service=checkout-payments")).unwrap();
    let values = |name: &str| -> Vec<String> {
        labels["labels"][name]
            .as_array()
            .unwrap_or_else(|| panic!("no {name} label: {labels}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values("unit"), ["payments-api.service"]);
    assert_eq!(values("version"), ["v9.9.9"]);
    assert!(
        values("exe")[0].ends_with("/augur-fixture-relabel"),
        "{labels}"
    );
    let selected = http_json(&format!(
        "{base}api/v1/profile?service=checkout-payments&from=-10m&labels=version=v9.9.9"
    ))
    .unwrap();
    assert_eq!(selected["total_samples"], profile["total_samples"]);
    let none = http_json(&format!(
        "{base}api/v1/profile?service=checkout-payments&from=-10m&labels=version=v0"
    ))
    .unwrap();
    assert_eq!(none["total_samples"], 0);
    let exit = up.terminate().unwrap();
    assert!(exit.success());
}
