//! Relabel rules over process labels, in the spirit of Prometheus
//! `relabel_configs`: they decide a process's service name, which labels it
//! keeps, and whether it is profiled at all.
//!
//! Rules run in order over a label set that also holds meta labels (names
//! starting with `__`, such as `__comm` and `__cgroup`); meta labels are
//! removed once every rule has run.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

/// What a rule does when its regex matches (or does not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set `target_label` to the expanded `replacement` when the regex matches.
    #[default]
    Replace,
    /// Profile the process only if the regex matches.
    Keep,
    /// Do not profile the process if the regex matches.
    Drop,
    /// Remove every label whose name matches.
    LabelDrop,
    /// Keep only labels whose name matches (meta labels always stay).
    LabelKeep,
}

/// One rule as written in the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// What to do.
    #[serde(default)]
    pub action: Action,
    /// Labels whose values, joined by `separator`, the regex is matched
    /// against (not used by `labeldrop`/`labelkeep`).
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Joins source label values; `;` by default.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Anchored regular expression; `(.*)` by default.
    #[serde(default = "default_regex")]
    pub regex: String,
    /// Label written by `replace`.
    #[serde(default)]
    pub target_label: Option<String>,
    /// Value written by `replace`; `$1` and `${name}` expand to groups.
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

fn default_separator() -> String {
    ";".into()
}
fn default_regex() -> String {
    "(.*)".into()
}
fn default_replacement() -> String {
    "$1".into()
}

/// A rule that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The regex does not compile.
    #[error("relabel rule {index}: invalid regex {regex:?}: {source}")]
    Regex {
        /// Position of the rule, from 1.
        index: usize,
        /// The pattern.
        regex: String,
        /// Why.
        #[source]
        source: regex::Error,
    },
    /// A `replace` rule without a target.
    #[error("relabel rule {index}: action replace needs target_label")]
    MissingTarget {
        /// Position of the rule, from 1.
        index: usize,
    },
    /// A rule that matches values without naming any.
    #[error("relabel rule {index}: action {action:?} needs source_labels")]
    MissingSources {
        /// Position of the rule, from 1.
        index: usize,
        /// The action.
        action: Action,
    },
}

/// A validated, compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
}

/// Compiles and checks rules; the first bad one is reported with its position.
pub fn compile(rules: &[RuleConfig]) -> Result<Vec<Rule>, RuleError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let index = i + 1;
            let compile = |pattern: &str| {
                Regex::new(pattern).map_err(|source| RuleError::Regex {
                    index,
                    regex: r.regex.clone(),
                    source,
                })
            };
            // The pattern must parse on its own: `a)|(b` would otherwise
            // close the anchoring group and match anywhere.
            compile(&r.regex)?;
            let regex = compile(&format!("^(?:{})$", r.regex))?;
            match r.action {
                Action::Replace if r.target_label.as_deref().is_none_or(str::is_empty) => {
                    return Err(RuleError::MissingTarget { index });
                }
                Action::Replace | Action::Keep | Action::Drop if r.source_labels.is_empty() => {
                    return Err(RuleError::MissingSources {
                        index,
                        action: r.action,
                    });
                }
                _ => {}
            }
            Ok(Rule {
                action: r.action,
                source_labels: r.source_labels.clone(),
                separator: r.separator.clone(),
                regex,
                target_label: r.target_label.clone().unwrap_or_default(),
                replacement: r.replacement.clone(),
            })
        })
        .collect()
}

/// Applies `rules` in order. Returns `None` when a rule drops the process;
/// otherwise the final labels without meta labels.
pub fn apply(rules: &[Rule], labels: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    apply_with_switches(rules, labels).map(|(labels, _)| labels)
}

/// The meta label that decides whether a process's Python frames are read:
/// `on` before the rules run; a rule that sets it to anything else (say
/// `off`) leaves the process to native profiling.
pub const PYTHON_FRAMES: &str = "__python_frames";

/// The meta label that decides whether a JVM's Java frames are read, as
/// [`PYTHON_FRAMES`] does for Python.
pub const JAVA_FRAMES: &str = "__java_frames";

/// Per-process switches the rules set through meta labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switches {
    /// Whether Python frames are read ([`PYTHON_FRAMES`]).
    pub python_frames: bool,
    /// Whether Java frames are read ([`JAVA_FRAMES`]).
    pub java_frames: bool,
}

/// [`apply`], also returning the [`Switches`] the rules left.
pub fn apply_with_switches(
    rules: &[Rule],
    mut labels: BTreeMap<String, String>,
) -> Option<(BTreeMap<String, String>, Switches)> {
    labels.insert(PYTHON_FRAMES.to_owned(), "on".to_owned());
    labels.insert(JAVA_FRAMES.to_owned(), "on".to_owned());
    for rule in rules {
        let value = || {
            rule.source_labels
                .iter()
                .map(|name| labels.get(name).map(String::as_str).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&rule.separator)
        };
        match rule.action {
            Action::Replace => {
                let joined = value();
                if let Some(captures) = rule.regex.captures(&joined) {
                    let mut expanded = String::new();
                    captures.expand(&rule.replacement, &mut expanded);
                    if expanded.is_empty() {
                        labels.remove(&rule.target_label);
                    } else {
                        labels.insert(rule.target_label.clone(), expanded);
                    }
                }
            }
            Action::Keep => {
                if !rule.regex.is_match(&value()) {
                    return None;
                }
            }
            Action::Drop => {
                if rule.regex.is_match(&value()) {
                    return None;
                }
            }
            Action::LabelDrop => labels.retain(|name, _| !rule.regex.is_match(name)),
            Action::LabelKeep => {
                labels.retain(|name, _| name.starts_with("__") || rule.regex.is_match(name))
            }
        }
    }
    let switches = Switches {
        python_frames: labels.get(PYTHON_FRAMES).map(String::as_str) == Some("on"),
        java_frames: labels.get(JAVA_FRAMES).map(String::as_str) == Some("on"),
    };
    labels.retain(|name, _| !name.starts_with("__"));
    Some((labels, switches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_can_turn_python_frames_off_per_process() {
        let rules = rules(
            r#"
            [[relabel]]
            source_labels = ["__comm"]
            regex = "batch-.*"
            target_label = "__python_frames"
            replacement = "off"
            "#,
        );
        let of = |comm: &str| {
            let labels = BTreeMap::from([("__comm".to_owned(), comm.to_owned())]);
            apply_with_switches(&rules, labels).unwrap()
        };
        let (labels, switches) = of("batch-nightly");
        assert!(!switches.python_frames);
        assert!(switches.java_frames, "only the switch a rule sets changes");
        assert!(labels.is_empty(), "meta labels never leave: {labels:?}");
        assert!(of("web").1.python_frames);
    }

    fn rules(toml_text: &str) -> Vec<Rule> {
        #[derive(Deserialize)]
        struct File {
            relabel: Vec<RuleConfig>,
        }
        let file: File = toml::from_str(toml_text).unwrap();
        compile(&file.relabel).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replace_sets_service_from_unit_and_meta_labels_vanish() {
        let r = rules(
            r#"
            [[relabel]]
            source_labels = ["unit"]
            regex = "(.+)-api\\.service"
            target_label = "service"
            replacement = "${1}"
            "#,
        );
        let out = apply(
            &r,
            labels(&[
                ("service", "python3"),
                ("unit", "payments-api.service"),
                ("__comm", "python3"),
            ]),
        )
        .unwrap();
        assert_eq!(out["service"], "payments");
        assert!(!out.contains_key("__comm"));
    }

    #[test]
    fn regex_is_anchored_and_non_matching_replace_changes_nothing() {
        let r = rules(
            r#"
            [[relabel]]
            source_labels = ["exe"]
            regex = "bin/x"
            target_label = "service"
            replacement = "x"
            "#,
        );
        let out = apply(&r, labels(&[("service", "s"), ("exe", "/usr/bin/x")])).unwrap();
        assert_eq!(out["service"], "s");
    }

    #[test]
    fn keep_and_drop_decide_whether_a_process_is_profiled() {
        let keep = rules(
            "[[relabel]]\naction = \"keep\"\nsource_labels = [\"service\"]\nregex = \"web|db\"\n",
        );
        assert!(apply(&keep, labels(&[("service", "web")])).is_some());
        assert!(apply(&keep, labels(&[("service", "cron")])).is_none());
        let drop = rules(
            "[[relabel]]\naction = \"drop\"\nsource_labels = [\"__comm\"]\nregex = \"kworker/.*\"\n",
        );
        assert!(
            apply(
                &drop,
                labels(&[("service", "k"), ("__comm", "kworker/0:1")])
            )
            .is_none()
        );
    }

    #[test]
    fn labeldrop_and_labelkeep_prune_names() {
        let r = rules("[[relabel]]\naction = \"labeldrop\"\nregex = \"exe|unit\"\n");
        let out = apply(
            &r,
            labels(&[("service", "s"), ("exe", "/x"), ("unit", "u")]),
        )
        .unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["service"]);
        let r = rules("[[relabel]]\naction = \"labelkeep\"\nregex = \"service|host\"\n");
        let out = apply(
            &r,
            labels(&[("service", "s"), ("host", "h"), ("exe", "/x")]),
        )
        .unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["host", "service"]);
    }

    #[test]
    fn multiple_sources_join_with_the_separator() {
        let r = rules(
            r#"
            [[relabel]]
            source_labels = ["namespace", "pod"]
            separator = "/"
            regex = "(.+)/(.+)-[a-z0-9]+-[a-z0-9]+"
            target_label = "service"
            replacement = "$1/$2"
            "#,
        );
        let out = apply(
            &r,
            labels(&[("namespace", "shop"), ("pod", "cart-7d9f8b-x2k4q")]),
        )
        .unwrap();
        assert_eq!(out["service"], "shop/cart");
    }

    #[test]
    fn bad_rules_are_reported_with_their_position() {
        let bad = |text: &str| {
            #[derive(Deserialize)]
            struct File {
                relabel: Vec<RuleConfig>,
            }
            let file: File = toml::from_str(text).unwrap();
            compile(&file.relabel).unwrap_err().to_string()
        };
        assert!(
            bad("[[relabel]]\nsource_labels=[\"a\"]\nregex = \"(\"\ntarget_label=\"b\"\n")
                .contains("rule 1")
        );
        assert!(bad("[[relabel]]\nsource_labels=[\"a\"]\n").contains("needs target_label"));
        assert!(bad("[[relabel]]\naction=\"drop\"\n").contains("needs source_labels"));
        // A pattern that would break out of the anchors.
        assert!(
            bad("[[relabel]]\nsource_labels=[\"a\"]\nregex = \"x)|(y\"\ntarget_label=\"b\"\n")
                .contains("invalid regex")
        );
    }
}
