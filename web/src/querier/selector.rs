//! Label selectors as Grafana writes them: `{service_name="api", k=~"re",
//! k!="v", k!~"re"}`, Prometheus' syntax without a metric name.
//!
//! `service_name` (or `service`) names Augur's service; every other name is
//! a label of the series. Values are quoted with `"`, `'` (both with
//! backslash escapes) or backquotes (raw). The input comes from the
//! network: its length and number of matchers are bounded, and a bad
//! selector is an error that says where, never a panic.

use augur_storage::{LabelMatcher, MatchOp};

/// Longest selector accepted, in bytes.
pub const MAX_SELECTOR_LEN: usize = 8 << 10;

/// Most matchers in one selector.
pub const MAX_MATCHERS: usize = 64;

/// The label Grafana and Pyroscope call the service.
pub const SERVICE_LABEL: &str = "service_name";

/// A parsed selector: conditions on the service, and on the other labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// Matchers of the service's name.
    pub service: Vec<LabelMatcher>,
    /// Matchers of the series' other labels.
    pub labels: Vec<LabelMatcher>,
}

impl Selector {
    /// Whether the service `name` passes.
    pub fn selects_service(&self, name: &str) -> bool {
        self.service.iter().all(|m| m.matches(name))
    }
}

/// Why a selector was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad label selector at byte {at}: {reason}")]
pub struct SelectorError {
    /// Where in the text.
    pub at: usize,
    /// What was wrong.
    pub reason: String,
}

/// Parses a selector. The empty text selects everything, as `{}` does.
pub fn parse_selector(text: &str) -> Result<Selector, SelectorError> {
    if text.len() > MAX_SELECTOR_LEN {
        return Err(SelectorError {
            at: MAX_SELECTOR_LEN,
            reason: format!("longer than {MAX_SELECTOR_LEN} bytes"),
        });
    }
    let mut p = Parser { text, pos: 0 };
    p.skip_space();
    if p.pos == text.len() {
        return Ok(Selector::default());
    }
    p.expect('{')?;
    let mut selector = Selector::default();
    let mut count = 0;
    loop {
        p.skip_space();
        if p.eat('}') {
            break;
        }
        let name = p.name()?;
        p.skip_space();
        let op = p.op()?;
        p.skip_space();
        let at = p.pos;
        let value = p.string()?;
        count += 1;
        if count > MAX_MATCHERS {
            return Err(p.error(format!("more than {MAX_MATCHERS} matchers")));
        }
        let target = if name == SERVICE_LABEL || name == "service" {
            &mut selector.service
        } else {
            &mut selector.labels
        };
        target.push(
            LabelMatcher::new(name, op, value).map_err(|e| SelectorError {
                at,
                reason: e.to_string(),
            })?,
        );
        p.skip_space();
        if p.eat(',') {
            continue;
        }
        p.expect('}')?;
        break;
    }
    p.skip_space();
    if p.pos != text.len() {
        return Err(p.error("text after the closing `}`".into()));
    }
    Ok(selector)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn error(&self, reason: String) -> SelectorError {
        SelectorError {
            at: self.pos,
            reason,
        }
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SelectorError> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = self.rest().chars().next();
            Err(self.error(match found {
                Some(f) => format!("expected `{c}`, found `{f}`"),
                None => format!("expected `{c}`, found the end"),
            }))
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_.]*`.
    fn name(&mut self) -> Result<String, SelectorError> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c == '_'
                    || c.is_ascii_alphabetic()
                    || (i > 0 && (c.is_ascii_digit() || c == '.')))
            })
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(self.error("expected a label name".into()));
        }
        let name = rest[..len].to_owned();
        self.pos += len;
        Ok(name)
    }

    fn op(&mut self) -> Result<MatchOp, SelectorError> {
        for (text, op) in [
            ("=~", MatchOp::Re),
            ("!~", MatchOp::Nre),
            ("!=", MatchOp::Neq),
            ("=", MatchOp::Eq),
        ] {
            if self.rest().starts_with(text) {
                self.pos += text.len();
                return Ok(op);
            }
        }
        Err(self.error("expected one of `=`, `!=`, `=~`, `!~`".into()))
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        let Some(quote) = self
            .rest()
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\'' | '`'))
        else {
            return Err(self.error("expected a quoted value".into()));
        };
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(value);
            }
            if c != '\\' || quote == '`' {
                value.push(c);
                continue;
            }
            let Some((_, escaped)) = chars.next() else {
                break;
            };
            match escaped {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '\\' | '"' | '\'' => value.push(escaped),
                // Anything else keeps its backslash: regexes such as `\d`
                // and `\.` mean what their author wrote.
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
        }
        Err(SelectorError {
            at: start,
            reason: "unterminated quoted value".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &Selector) -> (Vec<String>, Vec<String>) {
        (
            s.service.iter().map(ToString::to_string).collect(),
            s.labels.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn grafana_selectors_parse() {
        let s =
            parse_selector(r#"{service_name="api", host=~"web-\d+", version!="v1", pod!~'x.*',}"#)
                .unwrap();
        assert_eq!(
            parts(&s),
            (
                vec![r#"service_name="api""#.to_string()],
                vec![
                    r#"host=~"web-\\d+""#.to_string(),
                    r#"version!="v1""#.to_string(),
                    r#"pod!~"x.*""#.to_string(),
                ]
            )
        );
        assert!(s.selects_service("api"));
        assert!(!s.selects_service("db"));
        assert_eq!(parse_selector("{}").unwrap(), Selector::default());
        assert_eq!(parse_selector("  ").unwrap(), Selector::default());
        let s = parse_selector(r#"{service_name=~"a|b", k="say \"hi\""}"#).unwrap();
        assert!(s.selects_service("b") && !s.selects_service("ab"));
        assert_eq!(s.labels[0].value(), "say \"hi\"");
    }

    #[test]
    fn written_matchers_parse_back() {
        // The property the `label_selector` fuzz target checks on any input.
        for text in [
            r#"{service_name="api", host=~"web-\d+"}"#,
            r#"{k='say "hi"\there', j!~`a\.b`, service="x"}"#,
            "{k=\"tab\\tnew\\nline\"}",
        ] {
            let s = parse_selector(text).unwrap();
            let again = format!(
                "{{{}}}",
                s.service
                    .iter()
                    .chain(&s.labels)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            assert_eq!(parse_selector(&again).unwrap(), s, "{text} -> {again}");
        }
    }

    #[test]
    fn bad_selectors_say_where() {
        for (text, at) in [
            ("service_name=\"x\"", 0),
            ("{service_name}", 13),
            ("{k=\"unterminated}", 3),
            ("{k=v}", 3),
            ("{k=\"v\"} extra", 8),
            ("{k=~\"(\"}", 4),
            ("{=\"v\"}", 1),
        ] {
            let error = parse_selector(text).unwrap_err();
            assert_eq!(error.at, at, "{text}: {error}");
        }
        let many = format!(
            "{{{}}}",
            (0..=MAX_MATCHERS)
                .map(|i| format!("k{i}=\"v\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(
            parse_selector(&many)
                .unwrap_err()
                .reason
                .contains("matchers")
        );
        assert!(parse_selector(&"{".repeat(MAX_SELECTOR_LEN + 1)).is_err());
    }
}
