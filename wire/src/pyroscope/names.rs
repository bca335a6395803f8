//! Who pushed a profile: the service, labels, runtime and window of a
//! Pyroscope push, read from its labels (`push.v1`) or from the legacy
//! `/ingest` query (`name=app.cpu{k=v}`, `spyName`, `from`, `until`).

use std::collections::BTreeMap;

use augur_profile::Runtime;

use super::TranslateError;

/// The origin of named frames that no known runtime produced (folded text
/// without a `spyName`).
pub const NAMED_ORIGIN: &str = "pyroscope";

/// Most labels one series (or one `name=` query) may carry; a push beyond
/// it is refused rather than cut, since the cut would be arbitrary.
pub const MAX_SERIES_LABELS: usize = 256;

/// Labels that name the service, in the order they are looked for.
const SERVICE_LABELS: &[&str] = &["service_name", "service"];

/// Where a profile came from, as its batch needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushOrigin {
    /// Augur's `service`.
    pub service: String,
    /// The other labels (no `service`, no `__*__` internals).
    pub labels: BTreeMap<String, String>,
    /// Pyroscope's profile name (`process_cpu`, `memory`, `wall`...), the
    /// family pprof sample types are named in; empty when unknown.
    pub profile_name: String,
    /// The runtime whose frames the profile names; `None` leaves pprof
    /// frames to Go, the producer of pprof without a spy.
    pub runtime: Option<Runtime>,
    /// The batch's host: the `hostname` label if any.
    pub host: String,
    /// The window the client gave, Unix nanoseconds; `None` takes the
    /// profile's own time (pprof), else the time of the request.
    pub window: Option<(i64, i64)>,
}

impl PushOrigin {
    /// The origin of a `push.v1` series with `labels`; `user_agent` names
    /// the SDK (`pyroscope-rs/pyspy/1.4.0`), a runtime hint when the labels
    /// carry none.
    pub fn from_labels<'a>(
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        user_agent: Option<&str>,
    ) -> Result<PushOrigin, TranslateError> {
        let mut all: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in labels {
            if all.len() == MAX_SERIES_LABELS {
                return Err(too_many_labels());
            }
            all.insert(name, value);
        }
        let profile_name = all.get("__name__").copied().unwrap_or_default();
        let service = SERVICE_LABELS
            .iter()
            .find_map(|l| all.get(l).filter(|v| !v.is_empty()))
            .or_else(|| all.get("__name__").filter(|v| !v.is_empty()))
            .ok_or(TranslateError::NoService)?;
        let runtime = all
            .get("__spy_name__")
            .or(all.get("pyroscope_spy"))
            .and_then(|spy| runtime_of_spy(spy))
            .or_else(|| {
                all.get("process.runtime.name")
                    .and_then(|name| runtime_of_name(name))
            })
            .or_else(|| user_agent.and_then(runtime_of_user_agent));
        Ok(PushOrigin {
            service: (*service).to_owned(),
            labels: kept_labels(all.iter().map(|(k, v)| (*k, *v))),
            profile_name: profile_name.to_owned(),
            runtime,
            host: all.get("hostname").copied().unwrap_or_default().to_owned(),
            window: None,
        })
    }

    /// The origin of a legacy `/ingest` upload named `name`, by the spy
    /// `spy_name`, over `window` (Unix nanoseconds) when the query gave one.
    pub fn from_legacy(
        name: &LegacyName,
        spy_name: Option<&str>,
        window: Option<(i64, i64)>,
    ) -> PushOrigin {
        let tag = |k: &str| {
            name.tags
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let service = SERVICE_LABELS
            .iter()
            .find_map(|l| tag(l).filter(|v| !v.is_empty()))
            .unwrap_or(&name.app)
            .to_owned();
        let runtime = spy_name
            .and_then(runtime_of_spy)
            .or_else(|| tag("process.runtime.name").and_then(runtime_of_name));
        PushOrigin {
            service,
            labels: kept_labels(name.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            profile_name: name.profile_name.clone(),
            runtime,
            host: tag("hostname").unwrap_or_default().to_owned(),
            window,
        }
    }
}

fn too_many_labels() -> TranslateError {
    TranslateError::Invalid(format!(
        "a series carries more than {MAX_SERIES_LABELS} labels"
    ))
}

/// The labels Augur keeps: all but the service's own and `__*` internals.
fn kept_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    labels
        .filter(|(name, value)| {
            !name.is_empty()
                && !value.is_empty()
                && !name.starts_with("__")
                && !SERVICE_LABELS.contains(name)
        })
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The runtime of a Pyroscope spy name (`pyspy`, `nodespy`, ...).
pub fn runtime_of_spy(spy: &str) -> Option<Runtime> {
    Some(match spy.to_ascii_lowercase().as_str() {
        "pyspy" | "pyroscope-rs/pyspy" => Runtime::Python,
        "nodespy" => Runtime::Node,
        "gospy" | "ebpfspy-go" => Runtime::Go,
        "javaspy" | "asyncprofiler" => Runtime::Java,
        "rbspy" => Runtime::Ruby,
        "dotnetspy" => Runtime::Dotnet,
        _ => return None,
    })
}

/// The runtime of an OpenTelemetry `process.runtime.name`.
fn runtime_of_name(name: &str) -> Option<Runtime> {
    Some(match name.to_ascii_lowercase().as_str() {
        "cpython" | "python" | "pypy" => Runtime::Python,
        "nodejs" | "node" => Runtime::Node,
        "go" => Runtime::Go,
        "java" | "openjdk runtime environment" | "jvm" => Runtime::Java,
        "ruby" | "cruby" => Runtime::Ruby,
        "dotnet" | ".net" | ".net core" => Runtime::Dotnet,
        _ => return None,
    })
}

/// The runtime named by an SDK's user agent (`pyroscope-rs/pyspy/1.4.0`).
fn runtime_of_user_agent(agent: &str) -> Option<Runtime> {
    agent.split(['/', ' ']).take(8).find_map(runtime_of_spy)
}

/// A legacy `/ingest` name: `app.cpu{k=v,k2=v2}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyName {
    /// The application name, without the profile suffix.
    pub app: String,
    /// Pyroscope's profile name for the suffix (`cpu` is `process_cpu`,
    /// `alloc_space` is `memory`), empty without a known suffix.
    pub profile_name: String,
    /// The suffix as sent (`cpu`, `alloc_objects`), empty without one.
    pub suffix: String,
    /// The tags, in the order sent.
    pub tags: Vec<(String, String)>,
}

impl LegacyName {
    /// Parses `app.suffix{k=v,...}`; the braces and the suffix are
    /// optional.
    pub fn parse(name: &str) -> Result<LegacyName, TranslateError> {
        let invalid = |why: &str| {
            TranslateError::Invalid(format!(
                "name {:?}: {why}",
                name.chars().take(80).collect::<String>()
            ))
        };
        let (head, tags) = match name.split_once('{') {
            Some((head, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| invalid("the tags do not end with `}`"))?;
                (head, body)
            }
            None => (name, ""),
        };
        let head = head.trim();
        let mut parsed = Vec::new();
        for pair in tags.split(',').filter(|p| !p.trim().is_empty()) {
            if parsed.len() == MAX_SERIES_LABELS {
                return Err(too_many_labels());
            }
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| invalid("a tag is not `name=value`"))?;
            parsed.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let (app, suffix, profile_name) = match head.rsplit_once('.') {
            Some((app, suffix)) if !app.is_empty() => match profile_of_suffix(suffix) {
                Some(profile) => (app, suffix, profile),
                None => (head, "", ""),
            },
            _ => (head, "", ""),
        };
        if app.is_empty() {
            return Err(invalid("no application name"));
        }
        Ok(LegacyName {
            app: app.to_owned(),
            profile_name: profile_name.to_owned(),
            suffix: suffix.to_owned(),
            tags: parsed,
        })
    }
}

/// Pyroscope's profile name of a legacy name suffix.
fn profile_of_suffix(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "cpu" | "itimer" => "process_cpu",
        "wall" => "wall",
        "alloc_objects" | "alloc_space" | "inuse_objects" | "inuse_space" => "memory",
        "goroutines" | "goroutine" => "goroutines",
        "mutex_count" | "mutex_duration" => "mutex",
        "block_count" | "block_duration" => "block",
        "lock_count" | "lock_duration" => "lock",
        "exceptions" => "exceptions",
        _ => return None,
    })
}

/// A legacy query time (`from`, `until`) in Unix nanoseconds: seconds as
/// the SDKs send them, or milli-, micro- or nanoseconds told apart by size.
pub fn legacy_time(text: &str) -> Result<i64, TranslateError> {
    let value: i64 = text
        .trim()
        .parse()
        .map_err(|_| TranslateError::Invalid(format!("time {text:?} is not an integer")))?;
    if value < 0 {
        return Err(TranslateError::Invalid(format!(
            "time {value} is before 1970"
        )));
    }
    Ok(match value {
        v if v >= 100_000_000_000_000_000 => v,
        v if v >= 100_000_000_000_000 => v.saturating_mul(1_000),
        v if v >= 100_000_000_000 => v.saturating_mul(1_000_000),
        v => v.saturating_mul(1_000_000_000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_split_app_suffix_and_tags() {
        let name = LegacyName::parse("my.app.cpu{region=eu, env=prod}").unwrap();
        assert_eq!(name.app, "my.app");
        assert_eq!(name.profile_name, "process_cpu");
        assert_eq!(
            name.tags,
            vec![
                ("region".into(), "eu".into()),
                ("env".into(), "prod".into())
            ]
        );
        let node = LegacyName::parse("nodeapp{process.runtime.name=nodejs}").unwrap();
        assert_eq!(node.app, "nodeapp");
        assert_eq!(node.profile_name, "");
        let origin = PushOrigin::from_legacy(&node, None, None);
        assert_eq!(origin.runtime, Some(Runtime::Node));
        assert_eq!(origin.service, "nodeapp");
        assert!(LegacyName::parse("app{a=b").is_err());
        assert!(LegacyName::parse("{a=b}").is_err());
        let many = format!(
            "app{{{}}}",
            (0..300)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(LegacyName::parse(&many).is_err());
    }

    #[test]
    fn push_labels_name_service_runtime_and_drop_internals() {
        let labels = [
            ("__name__", "process_cpu"),
            ("service_name", "pyapp"),
            ("region", "eu"),
            ("__session_id__", "x"),
        ];
        let origin =
            PushOrigin::from_labels(labels, Some("pyroscope-rs/pyspy/1.4.0 reqwest")).unwrap();
        assert_eq!(origin.service, "pyapp");
        assert_eq!(origin.profile_name, "process_cpu");
        assert_eq!(origin.runtime, Some(Runtime::Python));
        assert_eq!(
            origin.labels.into_iter().collect::<Vec<_>>(),
            vec![("region".to_owned(), "eu".to_owned())]
        );
        assert!(matches!(
            PushOrigin::from_labels([("region", "eu")], None),
            Err(TranslateError::NoService)
        ));
    }

    #[test]
    fn legacy_times_in_any_unit() {
        let s = 1_796_666_244_i64;
        assert_eq!(legacy_time("1796666244").unwrap(), s * 1_000_000_000);
        assert_eq!(legacy_time("1796666244000").unwrap(), s * 1_000_000_000);
        assert_eq!(
            legacy_time("1796666244000000000").unwrap(),
            s * 1_000_000_000
        );
        assert!(legacy_time("-1").is_err());
        assert!(legacy_time("soon").is_err());
    }
}
