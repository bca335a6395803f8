//! The agent's TOML configuration file: `config::parse`, then
//! `AgentFile::apply`, which validates every setting and compiles the
//! relabel rules, then those rules run over a typical process.
//!
//! Beyond "no panic": a configuration that applies holds only values in
//! their documented ranges, and relabeling never leaks meta labels.

#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use augur_agent::{AgentConfig, ProfileKind, config, relabel};
use libfuzzer_sys::fuzz_target;

/// Defaults read the host name once, not per input.
static DEFAULTS: LazyLock<AgentConfig> = LazyLock::new(AgentConfig::default);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = config::parse(text) else {
        return;
    };
    let mut config = DEFAULTS.clone();
    if file.apply(&mut config).is_err() {
        return;
    }
    assert!((1..=10_000).contains(&config.frequency_hz));
    assert!(
        (Duration::from_millis(100)..=Duration::from_secs(600)).contains(&config.window),
        "{:?}",
        config.window
    );
    assert!(config.server.starts_with("http://") || config.server.starts_with("https://"));
    assert!(!config.host.is_empty());
    assert!(config.spool_max_bytes >= 1 << 20);
    assert!(config.upload.bytes_per_second >= 4096);
    let kinds: Vec<ProfileKind> = config.counter_profiles.iter().map(|p| p.kind).collect();
    assert!(!kinds.contains(&ProfileKind::Cpu));
    for (i, kind) in kinds.iter().enumerate() {
        assert!(!kinds[..i].contains(kind), "{kind} listed twice");
    }
    let process: BTreeMap<String, String> = [
        ("service", "python3"),
        ("exe", "/usr/bin/python3"),
        ("unit", "payments-api.service"),
        ("__comm", "python3"),
        ("__cgroup", "/system.slice/payments-api.service"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(labels) = relabel::apply(&config.identity.rules, process) {
        assert!(labels.keys().all(|k| !k.starts_with("__")), "{labels:?}");
    }
});
