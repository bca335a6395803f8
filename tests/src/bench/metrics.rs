//! Reading Prometheus text from `/metrics`: any metric's series, and the
//! agent's per-runtime walker series (`augur_agent_runtime_*`).

use std::collections::BTreeMap;

/// Every series of the Prometheus metric `name` in `text`: its labels
/// (`{...}`, empty without labels) and value.
pub fn metric_series(text: &str, name: &str) -> Vec<(String, f64)> {
    let mut series = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name value` or `name{labels} value`, not a longer name.
        let (labels, value) = match rest.strip_prefix('{') {
            Some(_) => match rest.rsplit_once("} ") {
                Some((labels, value)) => (format!("{labels}}}"), value),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(value) => (String::new(), value),
                None => continue,
            },
        };
        if let Ok(value) = value.trim().parse::<f64>() {
            series.push((labels, value));
        }
    }
    series
}

/// One runtime's `augur_agent_runtime_*` series at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimeCounts {
    /// Stacks the walker walked.
    pub stacks: f64,
    /// Frames it read in them.
    pub frames: f64,
    /// By reason.
    pub failures: BTreeMap<String, f64>,
    /// Processes registered with the walker (a gauge).
    pub processes: f64,
}

impl RuntimeCounts {
    /// `runtime`'s series in a `/metrics` text.
    pub fn parse(text: &str, runtime: &str) -> Self {
        let wanted = format!("runtime=\"{runtime}\"");
        let of = |name: &str| -> Vec<(String, f64)> {
            metric_series(text, name)
                .into_iter()
                .filter(|(labels, _)| labels.contains(&wanted))
                .collect()
        };
        // Not `Sum`, which starts at -0.0 and would print "-0" for nothing.
        let sum = |name: &str| of(name).iter().fold(0.0, |total, (_, v)| total + v);
        let failures = of("augur_agent_runtime_failures_total")
            .into_iter()
            .map(|(labels, v)| (label(&labels, "reason").unwrap_or_default(), v))
            .collect();
        Self {
            stacks: sum("augur_agent_runtime_stacks_total"),
            frames: sum("augur_agent_runtime_frames_total"),
            failures,
            processes: sum("augur_agent_runtime_processes"),
        }
    }

    /// Counters from `earlier` to `self`; the gauge as of `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        let failures = self
            .failures
            .iter()
            .map(|(reason, n)| {
                let was = earlier.failures.get(reason).copied().unwrap_or(0.0);
                (reason.clone(), (n - was).max(0.0))
            })
            .filter(|(_, n)| *n > 0.0)
            .collect();
        Self {
            stacks: (self.stacks - earlier.stacks).max(0.0),
            frames: (self.frames - earlier.frames).max(0.0),
            failures,
            processes: self.processes,
        }
    }

    /// Adds `other`'s counters; keeps the larger gauge.
    pub fn add(&mut self, other: &Self) {
        self.stacks += other.stacks;
        self.frames += other.frames;
        for (reason, n) in &other.failures {
            *self.failures.entry(reason.clone()).or_default() += n;
        }
        self.processes = self.processes.max(other.processes);
    }

    /// Frames per walked stack; `None` without stacks.
    pub fn frames_per_stack(&self) -> Option<f64> {
        (self.stacks > 0.0).then(|| self.frames / self.stacks)
    }

    /// `reason n, ...`, or `none`.
    pub fn failures_text(&self) -> String {
        let failures: Vec<String> = self
            .failures
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(reason, n)| format!("{reason} {n:.0}"))
            .collect();
        if failures.is_empty() {
            return "none".into();
        }
        failures.join(", ")
    }
}

/// The value of label `name` in `{a="x",name="y"}`.
pub fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metric_series() {
        let text = "# HELP x\n\
                    augur_agent_runtime_frames_total{runtime=\"python\"} 12\n\
                    augur_agent_runtime_frames_total_extra 5\n\
                    augur_agent_runtime_failures_total{runtime=\"python\",reason=\"a\"} 2\n\
                    up 1\n";
        assert_eq!(
            metric_series(text, "augur_agent_runtime_frames_total"),
            [("{runtime=\"python\"}".to_owned(), 12.0)]
        );
        assert_eq!(
            metric_series(text, "augur_agent_runtime_failures_total"),
            [("{runtime=\"python\",reason=\"a\"}".to_owned(), 2.0)]
        );
        assert_eq!(metric_series(text, "up"), [(String::new(), 1.0)]);
        assert!(metric_series(text, "missing").is_empty());
    }
}
