//! Label matchers beyond equality: `=`, `!=`, `=~` and `!~`, the four
//! operators of Prometheus-style selectors, which Grafana's profile queries
//! use. A [`ProfileQuery`](crate::ProfileQuery) carries them, and both
//! backends filter series through `ProfileQuery::selects`, so they agree.
//!
//! As in Prometheus, a label a series lacks reads as the empty string, and a
//! regular expression must match the whole value (it is anchored). Patterns
//! come from the network, so their length and compiled size are bounded.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Most memory one compiled pattern may take.
const MAX_COMPILED_BYTES: usize = 1 << 20;

/// How a matcher compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Neq,
    /// `=~`: the whole value matches the pattern.
    Re,
    /// `!~`: the whole value does not match the pattern.
    Nre,
}

impl MatchOp {
    /// The operator as written in a selector.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// One condition on one label.
#[derive(Clone, Debug)]
pub struct LabelMatcher {
    name: String,
    op: MatchOp,
    value: String,
    /// Compiled, anchored pattern of `Re` and `Nre`.
    regex: Option<Regex>,
}

/// A pattern that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    /// Longer than [`MAX_PATTERN_LEN`].
    #[error(
        "the pattern for label `{name}` is {len} bytes; at most {MAX_PATTERN_LEN} are accepted"
    )]
    TooLong {
        /// The label.
        name: String,
        /// Its pattern's length.
        len: usize,
    },
    /// Not a valid regular expression, or too large once compiled.
    #[error("the pattern for label `{name}` is not a usable regular expression: {reason}")]
    BadRegex {
        /// The label.
        name: String,
        /// What the regex engine said.
        reason: String,
    },
}

impl LabelMatcher {
    /// A matcher of `name` against `value`; patterns (`Re`, `Nre`) are
    /// compiled here, anchored at both ends.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Eq | MatchOp::Neq => None,
            MatchOp::Re | MatchOp::Nre => {
                if value.len() > MAX_PATTERN_LEN {
                    return Err(MatcherError::TooLong {
                        len: value.len(),
                        name,
                    });
                }
                let regex = regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(MAX_COMPILED_BYTES)
                    .dfa_size_limit(MAX_COMPILED_BYTES)
                    .build()
                    .map_err(|e| MatcherError::BadRegex {
                        name: name.clone(),
                        reason: e.to_string(),
                    })?;
                Some(regex)
            }
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// The label it tests.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or pattern, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `value` (the empty string for a missing label) passes.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::Neq, _) => value != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::Nre, Some(re)) => !re.is_match(value),
            // `new` compiles a pattern for both regex operators.
            (MatchOp::Re | MatchOp::Nre, None) => false,
        }
    }

    /// Whether a series with `labels` passes.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels.get(&self.name).map_or("", String::as_str))
    }
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for LabelMatcher {}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators_compare_whole_values() {
        let set = labels(&[("host", "web-1"), ("version", "v2")]);
        let m = |name, op, value| LabelMatcher::new(name, op, value).unwrap();
        assert!(m("host", MatchOp::Eq, "web-1").selects(&set));
        assert!(!m("host", MatchOp::Neq, "web-1").selects(&set));
        assert!(m("host", MatchOp::Re, "web-.*").selects(&set));
        // Anchored: a pattern matching a part only does not select.
        assert!(!m("host", MatchOp::Re, "web").selects(&set));
        assert!(m("host", MatchOp::Nre, "db-.*").selects(&set));
        assert!(!m("host", MatchOp::Nre, "web-1|web-2").selects(&set));
    }

    #[test]
    fn a_missing_label_reads_as_empty() {
        let set = labels(&[("host", "web-1")]);
        let m = |name, op, value| LabelMatcher::new(name, op, value).unwrap();
        assert!(m("pod", MatchOp::Neq, "x").selects(&set));
        assert!(m("pod", MatchOp::Eq, "").selects(&set));
        assert!(!m("pod", MatchOp::Re, ".+").selects(&set));
        assert!(m("pod", MatchOp::Re, ".*").selects(&set));
    }

    #[test]
    fn bad_and_huge_patterns_are_refused() {
        assert!(matches!(
            LabelMatcher::new("k", MatchOp::Re, "(unclosed"),
            Err(MatcherError::BadRegex { .. })
        ));
        assert!(matches!(
            LabelMatcher::new("k", MatchOp::Re, "a".repeat(MAX_PATTERN_LEN + 1)),
            Err(MatcherError::TooLong { .. })
        ));
        // Small text, enormous automaton.
        assert!(matches!(
            LabelMatcher::new("k", MatchOp::Re, "(\\w{100}){100}"),
            Err(MatcherError::BadRegex { .. })
        ));
        // Equality takes any text as is.
        assert!(LabelMatcher::new("k", MatchOp::Eq, "(unclosed").is_ok());
    }
}
