//! A merged, symbolized profile as queries return it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{RawFrame, Symbol};

/// What a sample's value measures, in pprof terms (`cpu`/`nanoseconds`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProfileType {
    /// Name of the profile type, e.g. `cpu`.
    pub name: String,
    /// Unit of one period, e.g. `nanoseconds`.
    pub unit: String,
}

impl ProfileType {
    /// How windows of this type combine ([`crate::types::aggregation`]).
    pub fn aggregation(&self) -> crate::types::Aggregation {
        crate::types::aggregation(&self.name)
    }

    /// On-CPU time sampled from the cpu-clock software event.
    pub fn cpu() -> Self {
        Self {
            name: "cpu".into(),
            unit: "nanoseconds".into(),
        }
    }
}

/// One location of a stack: a raw frame, where it was mapped from, and the
/// symbols known for it now (empty when it is not symbolized yet).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The frame as stored.
    pub frame: RawFrame,
    /// Path of the object on the host that reported it, if any.
    pub path: Option<String>,
    /// Inline chain, innermost first; empty if unsymbolized.
    pub symbols: Vec<Symbol>,
}

impl Location {
    /// A location of `frame` with the symbols storage knows for it; a
    /// runtime frame, named on its host and never symbolized, gets its own
    /// ([`RawFrame::own_symbol`]) instead, so everything reading symbols
    /// sees its function, file and line.
    pub fn new(frame: RawFrame, path: Option<String>, symbols: Vec<Symbol>) -> Self {
        let symbols = match frame.own_symbol() {
            Some(own) => vec![own],
            None => symbols,
        };
        Self {
            frame,
            path,
            symbols,
        }
    }

    /// Names to show for this location, innermost first. Unsymbolized user
    /// frames show as `[build-id+0xoffset]`, so they stay distinguishable.
    pub fn names(&self) -> Vec<String> {
        if !self.symbols.is_empty() {
            return self.symbols.iter().map(|s| s.function.clone()).collect();
        }
        vec![match &self.frame {
            RawFrame::User {
                build_id,
                file_offset,
            } => {
                let object = self
                    .path
                    .as_deref()
                    .and_then(|p| p.rsplit('/').next())
                    .map(str::to_owned)
                    .unwrap_or_else(|| build_id.to_hex());
                format!("[{object}+{file_offset:#x}]")
            }
            RawFrame::Kernel { function, module } => match module {
                Some(m) => format!("{function} [{m}]"),
                None => function.clone(),
            },
            RawFrame::Named { function, .. } | RawFrame::Runtime { function, .. } => {
                function.clone()
            }
            RawFrame::Unknown { reason } => crate::placeholder::display(reason),
        }]
    }
}

/// One distinct stack and how many samples it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Locations, leaf first (the pprof order).
    pub locations: Vec<Location>,
    /// Number of samples.
    pub count: u64,
}

/// A merged profile of one service over a time range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Service the samples belong to.
    pub service: String,
    /// What one sample measures.
    pub profile_type: ProfileType,
    /// Value of one sample in `profile_type.unit` (e.g. ns between samples).
    pub period: u64,
    /// Start of the covered range, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// End of the covered range (exclusive), Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// Distinct stacks with their counts.
    pub samples: Vec<Sample>,
}

impl Profile {
    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.samples.iter().map(|s| s.count).sum()
    }

    /// Stacks as root-first function names with counts; inline chains are
    /// expanded, callers before callees. Identical name stacks are merged.
    pub fn folded_stacks(&self) -> Vec<(Vec<String>, u64)> {
        let mut merged: HashMap<Vec<String>, u64> = HashMap::new();
        for sample in &self.samples {
            let mut names = Vec::new();
            for location in sample.locations.iter().rev() {
                // Symbols are innermost first; callers come first in folded order.
                names.extend(location.names().into_iter().rev());
            }
            *merged.entry(names).or_default() += sample.count;
        }
        let mut stacks: Vec<_> = merged.into_iter().collect();
        stacks.sort();
        stacks
    }

    /// Self and total counts per function name, sorted by self count, descending.
    pub fn top_functions(&self) -> Vec<FunctionTotals> {
        let mut by_name: HashMap<String, FunctionTotals> = HashMap::new();
        for (stack, count) in self.folded_stacks() {
            let mut seen = std::collections::HashSet::new();
            for (i, name) in stack.iter().enumerate() {
                let entry = by_name
                    .entry(name.clone())
                    .or_insert_with(|| FunctionTotals {
                        name: name.clone(),
                        self_count: 0,
                        total_count: 0,
                    });
                if seen.insert(name.as_str()) {
                    entry.total_count += count;
                }
                if i + 1 == stack.len() {
                    entry.self_count += count;
                }
            }
        }
        let mut out: Vec<_> = by_name.into_values().collect();
        out.sort_by(|a, b| {
            b.self_count
                .cmp(&a.self_count)
                .then(b.total_count.cmp(&a.total_count))
                .then(a.name.cmp(&b.name))
        });
        out
    }
}

/// Self and total sample counts of one function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionTotals {
    /// Function name.
    pub name: String,
    /// Samples where it was the leaf.
    pub self_count: u64,
    /// Samples where it was anywhere on the stack (counted once per stack).
    pub total_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Location {
        Location {
            frame: RawFrame::Kernel {
                function: name.into(),
                module: None,
            },
            path: None,
            symbols: vec![],
        }
    }

    fn profile(samples: Vec<(Vec<&str>, u64)>) -> Profile {
        Profile {
            service: "s".into(),
            profile_type: ProfileType::cpu(),
            period: 1,
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            samples: samples
                .into_iter()
                .map(|(leaf_first, count)| Sample {
                    locations: leaf_first.into_iter().map(named).collect(),
                    count,
                })
                .collect(),
        }
    }

    #[test]
    fn runtime_locations_name_themselves_and_merge_by_function() {
        let frame = |line| RawFrame::Runtime {
            runtime: crate::Runtime::Python,
            function: "Server.handle".into(),
            file: "server.py".into(),
            line,
            inlined: false,
        };
        // Storage's symbols never replace a runtime frame's own.
        let stale = vec![Symbol {
            function: "other".into(),
            file: None,
            line: None,
        }];
        let at_42 = Location::new(frame(42), None, stale);
        assert_eq!(at_42.names(), ["Server.handle"]);
        assert_eq!(at_42.symbols[0].line, Some(42));
        let bare = Location {
            symbols: vec![],
            ..at_42.clone()
        };
        assert_eq!(bare.names(), ["Server.handle"]);
        // Two lines of one function are one name, as native frames are.
        let mut p = profile(vec![(vec!["main"], 2), (vec!["main"], 3)]);
        p.samples[0].locations.insert(0, at_42);
        p.samples[1]
            .locations
            .insert(0, Location::new(frame(57), None, vec![]));
        assert_eq!(
            p.folded_stacks(),
            [(vec!["main".to_string(), "Server.handle".into()], 5)]
        );
        // Other kinds keep the symbols they are given.
        let user = Location::new(named("x").frame, None, vec![]);
        assert!(user.symbols.is_empty());
    }

    #[test]
    fn folded_is_root_first_and_merges_equal_names() {
        let p = profile(vec![
            (vec!["hot", "caller", "main"], 3),
            (vec!["hot", "caller", "main"], 2),
            (vec!["cold", "main"], 1),
        ]);
        assert_eq!(
            p.folded_stacks(),
            vec![
                (vec!["main".to_string(), "caller".into(), "hot".into()], 5),
                (vec!["main".to_string(), "cold".into()], 1),
            ]
        );
    }

    #[test]
    fn inline_chains_expand_caller_first() {
        let mut loc = named("ignored");
        loc.symbols = vec![
            Symbol {
                function: "inner".into(),
                file: None,
                line: None,
            },
            Symbol {
                function: "outer".into(),
                file: None,
                line: None,
            },
        ];
        let p = Profile {
            samples: vec![Sample {
                locations: vec![loc, named("main")],
                count: 1,
            }],
            ..profile(vec![])
        };
        assert_eq!(
            p.folded_stacks()[0].0,
            vec!["main".to_string(), "outer".into(), "inner".into()]
        );
    }

    #[test]
    fn top_functions_count_recursion_once() {
        let p = profile(vec![(vec!["f", "f", "main"], 4), (vec!["g", "main"], 1)]);
        let top = p.top_functions();
        assert_eq!(top[0].name, "f");
        assert_eq!((top[0].self_count, top[0].total_count), (4, 4));
        let main = top.iter().find(|t| t.name == "main").unwrap();
        assert_eq!((main.self_count, main.total_count), (0, 5));
    }
}
