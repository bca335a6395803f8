//! Debug-info upload from agents: a server that cannot read the agent's
//! files (`--no-path-hints`, no debug directory, no debuginfod) stores a
//! binary's frames unnamed; once an agent uploads the binary's symbols, the
//! frames stored before are named too, and a second agent offering the same
//! build-id is told it is not needed.

use std::process::Command;
use std::time::Duration;

use augur_tests::*;

/// Profiles only the fixture, so that other binaries with symbols on the
/// host (test binaries, a debug `augur`) are neither sampled nor offered.
const ONLY_FIXTURE: &str = "
[[relabel]]
action = \"keep\"
source_labels = [\"exe\"]
regex = \".*/augur-fixture-upload\"
";

#[test]
fn uploaded_debug_info_names_frames_stored_before_it_and_is_sent_once() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = "augur-fixture-upload";
    let fixture = build_fixture(dir.path(), "split.c", name).unwrap();
    let no_debug = dir.path().join("no-debug");
    std::fs::create_dir(&no_debug).unwrap();
    let data = dir.path().join("data");
    let server = start_server_with(
        &data,
        "127.0.0.1:0",
        &[
            "--no-path-hints",
            "--debug-dir",
            no_debug.to_str().unwrap(),
            "--symbol-retry",
            "2s",
        ],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let server_metrics = format!("{base}metrics");

    // 1. An agent that does not upload: the samples arrive, unnamed.
    let no_upload = dir.path().join("no-upload.toml");
    std::fs::write(
        &no_upload,
        format!("[debuginfo]\nupload = false\n{ONLY_FIXTURE}"),
    )
    .unwrap();
    let (agent, _) = start_agent_with_config(&ingest, &dir.path().join("spool-1"), &no_upload);
    assert!(Command::new(&fixture).arg("4").status().unwrap().success());
    let profile_url = format!("{base}api/v1/profile?service={name}&from=-10m&to=now");
    let mut first = serde_json::Value::Null;
    wait_until(
        "the first run's samples stored",
        Duration::from_secs(60),
        || {
            first = http_json(&profile_url).unwrap();
            first["total_samples"].as_u64().unwrap() >= 150
        },
    );
    assert!(agent.terminate().unwrap().success());
    let first = http_json(&profile_url).unwrap();
    let first_total = first["total_samples"].as_u64().unwrap();
    assert_eq!(
        function_counts(&first, "hot_a").0,
        0,
        "without the binary or its debug info the server cannot name it"
    );

    // 2. An agent that uploads: it offers the fixture's build-id, the
    // server wants it, and the upload names every stored frame.
    let upload = dir.path().join("upload.toml");
    std::fs::write(
        &upload,
        format!("[debuginfo]\nupload = true\n{ONLY_FIXTURE}"),
    )
    .unwrap();
    let (agent, agent_metrics) =
        start_agent_with_config(&ingest, &dir.path().join("spool-2"), &upload);
    assert!(Command::new(&fixture).arg("4").status().unwrap().success());
    let uploaded = "augur_agent_debuginfo_uploads_total{outcome=\"uploaded\"}";
    wait_until(
        "the agent uploaded the fixture's symbols",
        Duration::from_secs(60),
        || try_metric(&agent_metrics, uploaded) == Some(1.0),
    );
    let stored = "augur_aggregator_debuginfo_uploads_total{outcome=\"stored\"}";
    assert_eq!(metric(&server_metrics, stored), 1.0);
    let profile = wait_for_split_profile(&base, name, "-10m", 300);
    assert_split(&json_stacks(&profile), "named from uploaded debug info");
    let total = profile["total_samples"].as_u64().unwrap();
    assert!(total >= first_total + 150, "{total} after {first_total}");
    let (with_main, _) = function_counts(&profile, "main");
    assert!(
        with_main * 100 >= total * 95,
        "frames stored before the upload must be named too: {with_main} of {total} samples reach main"
    );
    assert!(agent.terminate().unwrap().success());

    // The stored file is the symbols, not the binary.
    let build_id = Command::new("readelf")
        .args(["-n", fixture.to_str().unwrap()])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| Some(l.trim().strip_prefix("Build ID: ")?.to_owned()))
        });
    if let Some(hex) = build_id {
        let kept = data
            .join("debuginfo/.build-id")
            .join(&hex[..2])
            .join(format!("{}.debug", &hex[2..]));
        let kept_len = std::fs::metadata(&kept).unwrap().len();
        assert!(kept_len > 0, "{} is empty", kept.display());
        let sections = Command::new("readelf")
            .args(["-S", "-W", kept.to_str().unwrap()])
            .output()
            .unwrap();
        let sections = String::from_utf8_lossy(&sections.stdout);
        let text = sections
            .lines()
            .find(|l| l.contains(" .text "))
            .expect(".text header kept");
        assert!(text.contains("NOBITS"), "code must not be uploaded: {text}");
        assert!(sections.contains(".debug_info"), "{sections}");
    }

    // 3. Another agent offering the same build-id is told no.
    let (agent, agent_metrics) =
        start_agent_with_config(&ingest, &dir.path().join("spool-3"), &upload);
    assert!(Command::new(&fixture).arg("3").status().unwrap().success());
    let not_wanted = "augur_agent_debuginfo_uploads_total{outcome=\"not_wanted\"}";
    wait_until(
        "the second agent offered the build-id",
        Duration::from_secs(60),
        || try_metric(&agent_metrics, not_wanted).is_some_and(|n| n >= 1.0),
    );
    assert_eq!(try_metric(&agent_metrics, uploaded), None);
    assert_eq!(metric(&server_metrics, stored), 1.0);
    assert!(agent.terminate().unwrap().success());
    assert!(server.terminate().unwrap().success());
}
