//! A deploy replaces a binary while it runs: its samples keep the build-id
//! of the build that actually ran, never the new file's, and are named from
//! that build's debug info once the server has it.

use std::process::Command;
use std::time::Duration;

use augur_profile::RawFrame;
use augur_tests::*;

fn build_id_of(path: &std::path::Path) -> String {
    let out = Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .expect("running readelf");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_owned))
        .expect("the fixture has a build-id")
}

/// Build-ids of the user frames in `profile` whose object path ends in `name`.
fn build_ids_of(profile: &augur_profile::Profile, name: &str) -> Vec<String> {
    let ids: std::collections::BTreeSet<String> = profile
        .samples
        .iter()
        .flat_map(|s| &s.locations)
        .filter(|l| l.path.as_deref().is_some_and(|p| p.ends_with(name)))
        .filter_map(|l| match &l.frame {
            RawFrame::User { build_id, .. } => Some(build_id.to_hex()),
            _ => None,
        })
        .collect();
    ids.into_iter().collect()
}

/// Two builds of the split fixture with different build-ids.
struct Builds {
    dir: tempfile::TempDir,
    v1: std::path::PathBuf,
    v2: std::path::PathBuf,
    v1_id: String,
    v2_id: String,
}

const NAME: &str = "augur-fixture-deploy";

fn builds() -> Builds {
    let dir = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::create_dir(&old_dir).unwrap();
    std::fs::create_dir(&new_dir).unwrap();
    let v1 = build_fixture_with(&old_dir, "split.c", NAME, &["-DAUGUR_VARIANT=1"]).unwrap();
    let v2 = build_fixture_with(&new_dir, "split.c", NAME, &["-DAUGUR_VARIANT=2"]).unwrap();
    let (v1_id, v2_id) = (build_id_of(&v1), build_id_of(&v2));
    assert_ne!(v1_id, v2_id, "the two builds must differ");
    Builds {
        dir,
        v1,
        v2,
        v1_id,
        v2_id,
    }
}

/// The deploy happens 50 ms after start, before the agent's first drain
/// reads any build-id, so the only way to the right one is the mapped file.
#[test]
fn replaced_binary_keeps_the_build_id_that_ran() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("readelf", "--version"), "readelf")
    {
        return;
    }
    let b = builds();
    let app = b.dir.path().join(NAME);
    std::fs::copy(&b.v1, &app).unwrap();
    let out = b.dir.path().join("deploy.pb.gz");
    let script = format!(
        "{} 3 & sleep 0.05; mv {} {}; wait",
        app.display(),
        b.v2.display(),
        app.display()
    );
    let status = Command::new(augur_bin())
        .args(["record", "--frequency", "99", "--format", "pprof", "-o"])
        .arg(&out)
        .args(["--", "/bin/sh", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let profile = augur_wire::pprof::decode(&std::fs::read(&out).unwrap(), 256 << 20).unwrap();
    assert_eq!(
        build_ids_of(&profile, NAME),
        vec![b.v1_id.clone()],
        "frames must carry the build-id that ran, not the new build's {}",
        b.v2_id
    );
}

/// Through `augur up`: the old build's debug info, found by build-id in a
/// debug directory, names the frames of the replaced binary.
#[test]
fn replaced_binary_is_named_from_its_own_debug_info() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("readelf", "--version"), "readelf")
    {
        return;
    }
    let b = builds();
    let debug = b.dir.path().join("debug");
    let debug_file = debug
        .join(".build-id")
        .join(&b.v1_id[..2])
        .join(format!("{}.debug", &b.v1_id[2..]));
    std::fs::create_dir_all(debug_file.parent().unwrap()).unwrap();
    std::fs::copy(&b.v1, &debug_file).unwrap();

    let data = b.dir.path().join("data");
    let up = start_up(&data, &["--debug-dir", debug.to_str().unwrap()]).unwrap();
    let base = up.http.clone().unwrap();
    let app_dir = b.dir.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    let app = app_dir.join(NAME);
    std::fs::copy(&b.v1, &app).unwrap();
    let mut running = Command::new(&app).arg("8").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    std::fs::rename(&b.v2, &app).unwrap();
    assert!(running.wait().unwrap().success());

    let profile = wait_for_split_profile(&base, NAME, "-10m", 150);
    assert_split(&json_stacks(&profile), "replaced binary");
    let (status, bytes) = http_get(&format!(
        "{base}api/v1/profile?service={NAME}&from=-10m&format=pprof"
    ))
    .unwrap();
    assert_eq!(status, 200);
    let pprof = augur_wire::pprof::decode(&bytes, 256 << 20).unwrap();
    assert_eq!(build_ids_of(&pprof, NAME), vec![b.v1_id.clone()]);
    assert!(up.terminate().unwrap().success());
}
