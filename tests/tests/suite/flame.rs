//! `augur flame` on a service's metrics.json: 100,000 `/`-separated keys
//! become a flame graph whose per-prefix counts are exactly the number of
//! keys under each prefix.

use std::collections::BTreeMap;
use std::process::Command;

use augur_tests::*;

/// 100,000 metric names in a Twitter-like hierarchy: 4 top-level keyspaces
/// of different sizes, 25 clients, 1,000 leaves per client.
fn metrics_json() -> (String, BTreeMap<String, u64>) {
    let mut json = String::from("{\n");
    let mut prefixes: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..100_000u64 {
        let space = match i % 10 {
            0..=5 => "clnt",
            6..=8 => "srv",
            _ => "jvm",
        };
        let client = format!("svc{}", i % 25);
        // Empty segments (`clnt//s/...`) are skipped like Finagle's.
        let key = format!("{space}//s/{client}/stat{i}");
        for prefix in [space.to_owned(), format!("{space};s;{client}")] {
            *prefixes.entry(prefix).or_default() += 1;
        }
        json.push_str(&format!("\"{key}\": {},\n", i % 7));
    }
    json.push_str("\"jvm/uptime\": 12.5\n}\n");
    *prefixes.entry("jvm".into()).or_default() += 1;
    (json, prefixes)
}

fn flame(args: &[&str]) -> Vec<u8> {
    let output = Command::new(augur_bin())
        .arg("flame")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "augur flame {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn a_hundred_thousand_metric_keys_make_a_flame_graph_with_exact_prefix_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (json, prefixes) = metrics_json();
    let file = dir.path().join("metrics.json");
    std::fs::write(&file, json).unwrap();
    let path = file.to_str().unwrap();

    let folded = String::from_utf8(flame(&["--split", "/", "--format", "folded", path])).unwrap();
    let stacks = parse_folded(&folded);
    assert_eq!(stacks.len(), 100_001, "one stack per key");
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for (frames, count) in &stacks {
        *got.entry(frames[0].clone()).or_default() += count;
        if frames.len() >= 3 {
            *got.entry(frames[..3].join(";")).or_default() += count;
        }
    }
    for (prefix, expected) in &prefixes {
        assert_eq!(got.get(prefix), Some(expected), "keys under {prefix}");
    }
    assert_eq!(got["clnt"], 60_000);

    // Weighted by value instead: clnt keys sum their values.
    let weighted =
        String::from_utf8(flame(&["--weight", "value", "--format", "folded", path])).unwrap();
    let clnt_value: u64 = parse_folded(&weighted)
        .iter()
        .filter(|(f, _)| f[0] == "clnt")
        .map(|(_, n)| n)
        .sum();
    let expected: u64 = (0..100_000u64).filter(|i| i % 10 <= 5).map(|i| i % 7).sum();
    assert_eq!(clnt_value, expected);

    // The SVG names the whole and the biggest tower.
    let svg = String::from_utf8(flame(&["--title", "strato metrics", path])).unwrap();
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "{}",
        &svg[..100]
    );
    assert!(svg.contains("strato metrics"));
    assert!(
        svg.contains("all (100,001 keys, 100%)"),
        "total missing from the SVG"
    );
    assert!(
        svg.contains("clnt (60,000 keys, 60.00%)"),
        "clnt tower missing"
    );

    // Folded text round-trips through augur flame itself.
    let folded_file = dir.path().join("metrics.folded");
    std::fs::write(&folded_file, &folded).unwrap();
    let again = String::from_utf8(flame(&[
        "--format",
        "folded",
        folded_file.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(again, folded);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.folded");
    std::fs::write(&file, "a;b;c twelve\n").unwrap();
    let output = Command::new(augur_bin())
        .args(["flame", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 1") && stderr.contains("twelve"),
        "{stderr}"
    );
}
