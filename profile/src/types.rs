//! Profile types are open-ended: what Augur's agents produce, what the
//! Pyroscope SDKs and Go's `net/http/pprof` send, and whatever an OTLP
//! exporter names. This module says which names are valid, which unit a
//! well-known name is counted in, how a type's windows aggregate (a sum of
//! counts, or a gauge), and how a name maps to and from Pyroscope's type ids
//! (`process_cpu:cpu:nanoseconds:cpu:nanoseconds`).
//!
//! Aggregation follows from the name, as in Pyroscope: in-use memory and
//! goroutine counts are gauges, everything else adds up. Storage keeps the
//! name and its unit; nothing else has to be stored for a type to read back
//! the same way after a restart or on another node.

use std::fmt;

/// Names of the profile types Augur's own agents produce: on-CPU time,
/// off-CPU time, the perf-event counters, and heap growth (`brk`, `mmap`,
/// in bytes); the memory profile's four are Go's names, in `KNOWN_UNITS`.
pub const PROFILE_TYPES: &[&str] = &[
    "cpu",
    "off-cpu",
    "page-faults",
    "context-switches",
    "cycles",
    "instructions",
    "cache-misses",
    "branch-misses",
    "brk",
    "mmap",
];

/// Well-known types other producers send (Go's runtime profiles, the
/// Pyroscope SDKs), each with the unit it must be counted in.
const KNOWN_UNITS: &[(&str, &str)] = &[
    // Augur's own: bytes the heap grew by, bytes mapped anonymously.
    ("brk", "bytes"),
    ("mmap", "bytes"),
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
    ("goroutine", "count"),
    ("mutex_contentions", "count"),
    ("mutex_delay", "nanoseconds"),
    ("block_contentions", "count"),
    ("block_delay", "nanoseconds"),
    ("wall", "nanoseconds"),
    ("exceptions", "count"),
];

/// Longest profile type name.
pub const MAX_TYPE_NAME_LEN: usize = 64;
/// Longest unit name.
pub const MAX_UNIT_LEN: usize = 32;

/// How the values of one profile type combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// A count of events or time: a window adds every batch, a range adds
    /// its windows.
    Sum,
    /// A value at a point in time (memory in use, goroutines): a window
    /// keeps the mean of the snapshots pushed into it, and a range the mean
    /// of its windows; never a sum across pushes.
    Gauge,
}

impl Aggregation {
    /// `sum` or `gauge`, as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Gauge => "gauge",
        }
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the profile type `name` aggregates.
pub fn aggregation(name: &str) -> Aggregation {
    if name.starts_with("inuse_") || name == "goroutine" || name == "goroutines" {
        Aggregation::Gauge
    } else {
        Aggregation::Sum
    }
}

/// The unit samples of a well-known profile type are counted in: time for
/// `cpu` and `off-cpu`, events for the counters, bytes or objects for
/// memory; `None` for a name not known in advance, whose producer names
/// the unit.
pub fn canonical_unit(profile_type: &str) -> Option<&'static str> {
    match profile_type {
        "cpu" | "off-cpu" => Some("nanoseconds"),
        name => KNOWN_UNITS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, unit)| *unit)
            .or_else(|| PROFILE_TYPES.contains(&name).then_some("count")),
    }
}

/// Why a profile type name or unit is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// Not 1..=64 characters of `a-z`, `0-9`, `_`, `-` and `.`, starting
    /// with a letter.
    #[error(
        "profile type {0:?} is not a valid name: 1 to {MAX_TYPE_NAME_LEN} of a-z, 0-9, `_`, `-`, `.`, starting with a letter"
    )]
    BadName(String),
    /// Not 1..=32 characters of `a-z`, `0-9` and `_`.
    #[error("unit {0:?} is not valid: 1 to {MAX_UNIT_LEN} of a-z, 0-9 and `_`")]
    BadUnit(String),
    /// A well-known type in another unit.
    #[error("profile type {name:?} is counted in {canonical:?}, not {unit:?}")]
    WrongUnit {
        /// The type.
        name: String,
        /// Its unit.
        canonical: &'static str,
        /// The unit given.
        unit: String,
    },
}

/// Whether `name` is a valid profile type name.
pub fn valid_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_TYPE_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
}

/// Checks a profile type and its unit: a valid name, a valid unit, and the
/// canonical unit of a well-known type.
pub fn check_type(name: &str, unit: &str) -> Result<(), TypeError> {
    let quoted = |s: &str| s.chars().take(80).collect::<String>();
    if !valid_type_name(name) {
        return Err(TypeError::BadName(quoted(name)));
    }
    let unit_ok = !unit.is_empty()
        && unit.len() <= MAX_UNIT_LEN
        && unit
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !unit_ok {
        return Err(TypeError::BadUnit(quoted(unit)));
    }
    match canonical_unit(name) {
        Some(canonical) if canonical != unit => Err(TypeError::WrongUnit {
            name: name.to_owned(),
            canonical,
            unit: quoted(unit),
        }),
        _ => Ok(()),
    }
}

/// Profiles of Pyroscope's vocabulary whose sample types keep their own
/// names in Augur (`memory:alloc_space` is `alloc_space`).
const PLAIN_FAMILIES: &[&str] = &["memory", "goroutines", "goroutine"];
/// Profiles whose sample types Augur prefixes with the profile's name
/// (`mutex:delay` is `mutex_delay`).
const PREFIXED_FAMILIES: &[&str] = &["mutex", "block"];

/// The Augur type name of a pprof sample type (`sample_type`, counted in
/// `unit`) in a profile Pyroscope calls `profile_name` (`process_cpu`,
/// `memory`, `mutex`, ...; the `__name__` label of a push). `None` for a
/// sample type Augur keeps no series of: the `samples` count beside CPU
/// time, which the time says already.
pub fn from_pprof_sample_type(profile_name: &str, sample_type: &str, unit: &str) -> Option<String> {
    let name = match (profile_name, sample_type, unit) {
        (_, "samples", "count") => return None,
        (_, "cpu", "nanoseconds") => "cpu".to_owned(),
        (family, sample, _) if PREFIXED_FAMILIES.contains(&family) => format!("{family}_{sample}"),
        (family, sample, _) if PLAIN_FAMILIES.contains(&family) || family == sample => {
            sample.to_owned()
        }
        ("", sample, _) => sample.to_owned(),
        (family, sample, _) => format!("{family}_{sample}"),
    };
    Some(name.to_ascii_lowercase())
}

/// A Pyroscope profile type id, `name:sample_type:sample_unit:period_type:period_unit`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PyroscopeTypeId {
    /// The profile (`process_cpu`, `memory`).
    pub name: String,
    /// The sample type (`cpu`, `alloc_space`).
    pub sample_type: String,
    /// Its unit.
    pub sample_unit: String,
    /// The period's type.
    pub period_type: String,
    /// The period's unit.
    pub period_unit: String,
}

impl PyroscopeTypeId {
    /// The id of the Augur profile type `name`, counted in `unit`: the
    /// inverse of [`PyroscopeTypeId::augur_type`].
    pub fn of(name: &str, unit: &str) -> PyroscopeTypeId {
        let id =
            |profile: &str, sample: &str, period_type: &str, period_unit: &str| PyroscopeTypeId {
                name: profile.to_owned(),
                sample_type: sample.to_owned(),
                sample_unit: unit.to_owned(),
                period_type: period_type.to_owned(),
                period_unit: period_unit.to_owned(),
            };
        match name {
            "cpu" => id("process_cpu", "cpu", "cpu", "nanoseconds"),
            "goroutine" => id("goroutines", "goroutine", "goroutine", "count"),
            _ if name.starts_with("alloc_") || name.starts_with("inuse_") => {
                id("memory", name, "space", "bytes")
            }
            _ => {
                for family in PREFIXED_FAMILIES {
                    if let Some(sample) = name
                        .strip_prefix(family)
                        .and_then(|rest| rest.strip_prefix('_'))
                    {
                        return id(family, sample, "contentions", "count");
                    }
                }
                id(name, name, name, unit)
            }
        }
    }

    /// Parses `name:sample_type:sample_unit:period_type:period_unit`.
    pub fn parse(text: &str) -> Option<PyroscopeTypeId> {
        let parts: Vec<&str> = text.split(':').collect();
        let [name, sample_type, sample_unit, period_type, period_unit] = parts[..] else {
            return None;
        };
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(PyroscopeTypeId {
            name: name.to_owned(),
            sample_type: sample_type.to_owned(),
            sample_unit: sample_unit.to_owned(),
            period_type: period_type.to_owned(),
            period_unit: period_unit.to_owned(),
        })
    }

    /// The Augur profile type this id names, and its unit.
    pub fn augur_type(&self) -> Option<(String, String)> {
        let name = from_pprof_sample_type(&self.name, &self.sample_type, &self.sample_unit)?;
        Some((name, self.sample_unit.clone()))
    }
}

impl fmt::Display for PyroscopeTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.name, self.sample_type, self.sample_unit, self.period_type, self.period_unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_and_well_known_types_have_their_units() {
        assert_eq!(canonical_unit("cpu"), Some("nanoseconds"));
        assert_eq!(canonical_unit("page-faults"), Some("count"));
        assert_eq!(canonical_unit("inuse_space"), Some("bytes"));
        assert_eq!(canonical_unit("my_custom"), None);
        assert!(check_type("my_custom", "widgets").is_ok());
        assert!(matches!(
            check_type("inuse_space", "count"),
            Err(TypeError::WrongUnit { .. })
        ));
        for bad in ["", "Cpu", "9lives", "a b", &"x".repeat(65)] {
            assert!(check_type(bad, "count").is_err(), "{bad:?}");
        }
        assert!(check_type("cpu", "").is_err());
        assert!(check_type("cpu", "Nanoseconds").is_err());
    }

    #[test]
    fn in_use_memory_and_goroutines_are_gauges() {
        for gauge in ["inuse_space", "inuse_objects", "goroutine"] {
            assert_eq!(aggregation(gauge), Aggregation::Gauge, "{gauge}");
        }
        for sum in ["cpu", "alloc_space", "mutex_delay", "off-cpu", "wall"] {
            assert_eq!(aggregation(sum), Aggregation::Sum, "{sum}");
        }
    }

    #[test]
    fn pyroscope_ids_round_trip_through_augur_names() {
        let cases = [
            (
                "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                "cpu",
                "nanoseconds",
            ),
            (
                "memory:alloc_space:bytes:space:bytes",
                "alloc_space",
                "bytes",
            ),
            (
                "memory:inuse_objects:count:space:bytes",
                "inuse_objects",
                "count",
            ),
            (
                "goroutines:goroutine:count:goroutine:count",
                "goroutine",
                "count",
            ),
            (
                "mutex:delay:nanoseconds:contentions:count",
                "mutex_delay",
                "nanoseconds",
            ),
            (
                "block:contentions:count:contentions:count",
                "block_contentions",
                "count",
            ),
            (
                "off-cpu:off-cpu:nanoseconds:off-cpu:nanoseconds",
                "off-cpu",
                "nanoseconds",
            ),
            (
                "wall:wall:nanoseconds:wall:nanoseconds",
                "wall",
                "nanoseconds",
            ),
        ];
        for (id, name, unit) in cases {
            let parsed = PyroscopeTypeId::parse(id).unwrap();
            assert_eq!(parsed.to_string(), id);
            assert_eq!(
                parsed.augur_type(),
                Some((name.to_owned(), unit.to_owned())),
                "{id}"
            );
            assert_eq!(PyroscopeTypeId::of(name, unit).to_string(), id, "{name}");
        }
        assert_eq!(PyroscopeTypeId::parse("a:b:c:d"), None);
        assert_eq!(PyroscopeTypeId::parse("a:b::d:e"), None);
    }

    #[test]
    fn the_sample_count_beside_cpu_time_is_not_a_type() {
        assert_eq!(
            from_pprof_sample_type("process_cpu", "samples", "count"),
            None
        );
        assert_eq!(
            from_pprof_sample_type("process_cpu", "cpu", "nanoseconds").as_deref(),
            Some("cpu")
        );
        assert_eq!(
            from_pprof_sample_type("", "alloc_space", "bytes").as_deref(),
            Some("alloc_space")
        );
        assert_eq!(
            from_pprof_sample_type("exceptions", "exceptions", "count").as_deref(),
            Some("exceptions")
        );
    }
}
