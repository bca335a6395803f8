//! Query parameters of the profile endpoint, validated into a typed
//! [`ProfileRequest`] before anything touches storage.
//!
//! Kept apart from the handlers so the rules (defaults, accepted formats and
//! types, time range checks) are plain functions with unit tests.

use std::collections::BTreeMap;

use std::str::FromStr;
use std::time::SystemTime;

use augur_storage::ProfileQuery;
use serde::Deserialize;

use crate::time::{TimeError, format_rfc3339, parse_time};

/// Profile types the API accepts in `type=`: the ones agents produce.
pub use augur_profile::PROFILE_TYPES;

/// Longest accepted service name, in bytes (the ingest label limit).
const MAX_SERVICE_LEN: usize = 1024;
/// How much of a rejected value an error message quotes.
const QUOTE_LEN: usize = 100;

/// The profile endpoint's query string as sent. Unknown keys are ignored so
/// that links may carry extra state (the flame graph keeps its zoom there).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProfileParams {
    service: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "type")]
    profile_type: Option<String>,
    format: Option<String>,
    labels: Option<String>,
}

/// `from` and `to` (defaults `-1h` and `now`) as Unix nanoseconds, `from`
/// strictly before `to`; relative times are taken from `now`.
pub(crate) fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
    now: SystemTime,
) -> Result<(i64, i64), ParamError> {
    let time = |param: &'static str, value: Option<&str>, default: &str| {
        parse_time(value.unwrap_or(default), now)
            .map_err(|source| ParamError::Time { param, source })
    };
    let from = time("from", from, "-1h")?;
    let to = time("to", to, "now")?;
    if from >= to {
        return Err(ParamError::EmptyRange {
            from: format_rfc3339(from),
            to: format_rfc3339(to),
        });
    }
    Ok((from, to))
}

/// A `limit`-style count: `default` when absent, else a whole number in
/// `1..=max`.
pub(crate) fn parse_count(text: Option<&str>, default: u64, max: u64) -> Result<u64, ParamError> {
    match text {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or(ParamError::BadLimit {
                max: usize::try_from(max).unwrap_or(usize::MAX),
            }),
    }
}

/// Most label matchers in one request.
const MAX_MATCHERS: usize = 32;

/// Parses `labels=host=web-1,version=1.1` into equality matchers. Names are
/// Prometheus-style (`[A-Za-z_][A-Za-z0-9_]*`); a value runs to the next
/// comma not escaped as `\,` (`\\` is a backslash) and must not be empty;
/// a name may appear once.
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, ParamError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let mut matchers = BTreeMap::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let bad = |why: &'static str| ParamError::Labels {
            matcher: quote(part),
            why,
        };
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=VALUE"))?;
        let (name, value) = (name.trim(), value.trim());
        let mut chars = name.chars();
        let valid_name = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(bad(
                "label names are letters, digits and _, not starting with a digit",
            ));
        }
        if name == "service" {
            return Err(bad("the service is its own parameter, `service=`"));
        }
        if value.is_empty() {
            return Err(bad("empty value"));
        }
        if matchers.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(bad("label given twice"));
        }
        if matchers.len() > MAX_MATCHERS {
            return Err(bad("too many label matchers"));
        }
    }
    Ok(matchers)
}

/// How the profile endpoint renders its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Stacks and top functions as JSON.
    Json,
    /// Gzipped pprof `profile.proto`.
    Pprof,
    /// Folded stacks, one `root;...;leaf count` per line.
    Folded,
    /// An interactive inferno flame graph.
    Svg,
    /// speedscope's JSON file format (https://www.speedscope.app).
    Speedscope,
    /// The call tree in flat binary arrays, for the page (`tree.rs`).
    Tree,
}

impl FromStr for Format {
    type Err = ParamError;

    fn from_str(text: &str) -> Result<Self, ParamError> {
        match text {
            "json" => Ok(Self::Json),
            "pprof" => Ok(Self::Pprof),
            "folded" => Ok(Self::Folded),
            "svg" => Ok(Self::Svg),
            "speedscope" => Ok(Self::Speedscope),
            "tree" => Ok(Self::Tree),
            _ => Err(ParamError::UnknownFormat(quote(text))),
        }
    }
}

/// A validated request for one service's profile over a time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProfileRequest {
    pub service: String,
    pub labels: BTreeMap<String, String>,
    pub profile_type: String,
    pub from_unix_nanos: i64,
    pub to_unix_nanos: i64,
    pub format: Format,
}

impl ProfileRequest {
    /// Applies defaults (`from=-1h`, `to=now`, `type=cpu`, `format=json`)
    /// and checks every parameter; relative times are taken from `now`.
    pub fn from_params(params: &ProfileParams, now: SystemTime) -> Result<Self, ParamError> {
        let service = params
            .service
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ParamError::MissingService)?;
        if service.len() > MAX_SERVICE_LEN {
            return Err(ParamError::ServiceTooLong {
                limit: MAX_SERVICE_LEN,
            });
        }
        let (from_unix_nanos, to_unix_nanos) =
            parse_range(params.from.as_deref(), params.to.as_deref(), now)?;
        let profile_type = params.profile_type.as_deref().unwrap_or("cpu");
        check_type_name(profile_type)?;
        let format = params.format.as_deref().unwrap_or("json").parse()?;
        let labels = parse_labels(params.labels.as_deref().unwrap_or(""))?;
        Ok(Self {
            service: service.to_owned(),
            labels,
            profile_type: profile_type.to_owned(),
            from_unix_nanos,
            to_unix_nanos,
            format,
        })
    }

    /// The storage query this request asks for.
    pub fn query(&self) -> ProfileQuery {
        ProfileQuery {
            service: self.service.clone(),
            labels: self.labels.clone(),
            matchers: Vec::new(),
            profile_type: self.profile_type.clone(),
            start_unix_nanos: self.from_unix_nanos,
            end_unix_nanos: self.to_unix_nanos,
        }
    }
}

/// A request parameter that cannot be served; answered with 400.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// The query string itself is malformed (bad escapes, repeated keys).
    #[error("invalid query string: {0}")]
    Query(String),
    /// No `service=` given.
    #[error("missing required parameter `service`")]
    MissingService,
    /// The service name is longer than any service can be.
    #[error("parameter `service` is longer than {limit} bytes")]
    ServiceTooLong {
        /// Longest accepted name.
        limit: usize,
    },
    /// `from` or `to` does not parse.
    #[error("invalid `{param}`: {source}")]
    Time {
        /// Which parameter.
        param: &'static str,
        /// Why it does not parse.
        #[source]
        source: TimeError,
    },
    /// `from` is not before `to`.
    #[error("`from` ({from}) must be before `to` ({to})")]
    EmptyRange {
        /// The start, as understood.
        from: String,
        /// The end, as understood.
        to: String,
    },
    /// `format=` names no known format.
    #[error("unknown format {0:?}; use json, tree, pprof, folded, svg or speedscope")]
    UnknownFormat(String),
    /// A `labels=` matcher does not parse.
    #[error("invalid label matcher {matcher:?} in `labels`: {why}")]
    Labels {
        /// The matcher as given.
        matcher: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `base=` or `target=` missing on the deploy comparison.
    #[error("missing required parameter `{0}` (a version of the service)")]
    MissingDeploy(&'static str),
    /// A version the service never had.
    #[error("`base` or `target` is not a deploy of this service; see /api/v1/deploys")]
    UnknownDeploy,
    /// The fleet report's name is not one we have.
    #[error("unknown fleet report {0:?}; use services, functions or binaries")]
    UnknownReport(String),
    /// `q=` is missing or empty on the SQL endpoint.
    #[error("missing required parameter `q` (a SELECT over the views in docs/sql.md)")]
    MissingQuery,
    /// `limit=` is not a number in range.
    #[error("`limit` must be a whole number from 1 to {max}")]
    BadLimit {
        /// Largest accepted.
        max: usize,
    },
    /// `type=` is not a valid profile type name. Types are open-ended:
    /// a valid name no data has yet is an empty profile, not an error.
    #[error(
        "profile type {0:?} is not a valid name (a-z, 0-9, `_`, `-`, `.`; for example {examples})",
        examples = PROFILE_TYPES[..3].join(", ")
    )]
    BadType(String),
}

/// Refuses a `type=` that no profile type could have.
pub(crate) fn check_type_name(profile_type: &str) -> Result<(), ParamError> {
    if augur_profile::types::valid_type_name(profile_type) {
        Ok(())
    } else {
        Err(ParamError::BadType(quote(profile_type)))
    }
}

fn quote(text: &str) -> String {
    text.chars().take(QUOTE_LEN).collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    const NOW: i64 = 1_795_532_400_000_000_000;

    fn request(pairs: &[(&str, &str)]) -> Result<ProfileRequest, ParamError> {
        let mut params = ProfileParams::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "service" => params.service = value,
                "from" => params.from = value,
                "to" => params.to = value,
                "type" => params.profile_type = value,
                "format" => params.format = value,
                "labels" => params.labels = value,
                _ => unreachable!("test uses only known keys"),
            }
        }
        let now = UNIX_EPOCH + Duration::from_nanos(NOW as u64);
        ProfileRequest::from_params(&params, now)
    }

    #[test]
    fn defaults_are_last_hour_cpu_json() {
        let r = request(&[("service", "api")]).unwrap();
        assert_eq!(
            r,
            ProfileRequest {
                service: "api".into(),
                labels: BTreeMap::new(),
                profile_type: "cpu".into(),
                from_unix_nanos: NOW - 3_600_000_000_000,
                to_unix_nanos: NOW,
                format: Format::Json,
            }
        );
    }

    #[test]
    fn explicit_values_are_used() {
        let r = request(&[
            ("service", "api"),
            ("from", "2026-11-24T14:00:00Z"),
            ("to", "-15m"),
            ("type", "page-faults"),
            ("format", "svg"),
        ])
        .unwrap();
        assert_eq!(
            request(&[("service", "api"), ("format", "tree")])
                .unwrap()
                .format,
            Format::Tree
        );
        assert_eq!(r.from_unix_nanos, NOW - 3_600_000_000_000);
        assert_eq!(r.to_unix_nanos, NOW - 900_000_000_000);
        assert_eq!(r.profile_type, "page-faults");
        assert_eq!(r.format, Format::Svg);
        let r = request(&[("service", "api"), ("labels", "host=web-1, version=v=2")]).unwrap();
        assert_eq!(r.labels["host"], "web-1");
        assert_eq!(r.labels["version"], "v=2");
        let r = request(&[("service", "api"), ("labels", r"pod=a\,b,path=c:\\d")]).unwrap();
        assert_eq!(r.labels["pod"], "a,b");
        assert_eq!(r.labels["path"], r"c:\d");
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let message = |pairs: &[(&str, &str)]| request(pairs).unwrap_err().to_string();
        assert!(message(&[]).contains("service"));
        assert!(message(&[("service", "  ")]).contains("service"));
        assert!(message(&[("service", &"x".repeat(2000))]).contains("longer"));
        assert!(message(&[("service", "a"), ("from", "yesterday")]).contains("`from`"));
        assert!(message(&[("service", "a"), ("to", "soon")]).contains("`to`"));
        assert!(message(&[("service", "a"), ("from", "now")]).contains("before"));
        assert!(message(&[("service", "a"), ("from", "-1h"), ("to", "-2h")]).contains("before"));
        assert!(message(&[("service", "a"), ("format", "png")]).contains("json, tree, pprof"));
        for (labels, expected) in [
            ("host", "NAME=VALUE"),
            ("1host=a", "label names"),
            ("host=", "empty value"),
            ("service=x", "its own parameter"),
            ("host=a,host=b", "twice"),
        ] {
            let m = message(&[("service", "a"), ("labels", labels)]);
            assert!(
                m.contains(expected) && m.contains("`labels`"),
                "{labels}: {m}"
            );
        }
        // Types are open-ended: `heap` is a type no data has yet, not an
        // error; a name no type can have is refused, with examples.
        assert!(request(&[("service", "a"), ("type", "heap")]).is_ok());
        let bad_type = message(&[("service", "a"), ("type", "Heap!")]);
        assert!(
            bad_type.contains("\"Heap!\"") && bad_type.contains("cpu"),
            "{bad_type}"
        );
    }
}
