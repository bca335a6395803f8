//! Relabel rules from the agent's configuration, built directly (any
//! strings, any action) so the fuzzer need not learn TOML first:
//! `relabel::compile`, then `relabel::apply` over any label set.
//!
//! Beyond "no panic": meta labels never survive, applying is deterministic,
//! and a rule's regex is anchored at both ends, as documented: a `replace`
//! rule writing `${0}` (the whole match) writes the whole source value or
//! nothing.

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use augur_agent::relabel::{self, Action, RuleConfig};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    rules: Vec<Rule>,
    labels: Vec<(String, String)>,
    /// Matched against the first rule's regex to check anchoring.
    probe: String,
}

#[derive(Debug, Arbitrary)]
struct Rule {
    action: u8,
    source_labels: Vec<String>,
    separator: String,
    regex: String,
    target_label: Option<String>,
    replacement: String,
}

/// Regexes compile in time roughly linear in their length times repetition;
/// a few short rules reach every branch without slow inputs.
const MAX_RULES: usize = 4;
const MAX_REGEX: usize = 64;

fn action(byte: u8) -> Action {
    match byte % 5 {
        0 => Action::Replace,
        1 => Action::Keep,
        2 => Action::Drop,
        3 => Action::LabelDrop,
        _ => Action::LabelKeep,
    }
}

fuzz_target!(|input: Input| {
    if input.rules.len() > MAX_RULES || input.rules.iter().any(|r| r.regex.len() > MAX_REGEX) {
        return;
    }
    let configs: Vec<RuleConfig> = input
        .rules
        .iter()
        .map(|r| RuleConfig {
            action: action(r.action),
            source_labels: r.source_labels.clone(),
            separator: r.separator.clone(),
            regex: r.regex.clone(),
            target_label: r.target_label.clone(),
            replacement: r.replacement.clone(),
        })
        .collect();
    let Ok(rules) = relabel::compile(&configs) else {
        return;
    };
    let labels: BTreeMap<String, String> = input.labels.into_iter().collect();
    let out = relabel::apply(&rules, labels.clone());
    if let Some(out) = &out {
        assert!(out.keys().all(|k| !k.starts_with("__")), "{out:?}");
    }
    assert_eq!(relabel::apply(&rules, labels), out);

    let Some(first) = configs.first() else {
        return;
    };
    let whole_match = RuleConfig {
        action: Action::Replace,
        source_labels: vec!["source".into()],
        separator: ";".into(),
        regex: first.regex.clone(),
        target_label: Some("target".into()),
        replacement: "${0}".into(),
    };
    let rules = relabel::compile(&[whole_match]).expect("the same regex compiled before");
    let source = BTreeMap::from([("source".to_owned(), input.probe.clone())]);
    let out = relabel::apply(&rules, source).expect("replace never drops a process");
    if let Some(written) = out.get("target") {
        assert_eq!(
            written, &input.probe,
            "regex {:?} matched only part",
            first.regex
        );
    }
});
