//! `SelectSeries`: a profile type's value over time, one series per
//! distinct value of the `group_by` labels, one point per `step`.
//!
//! Storage counts samples per window (a minute, or an hour once rolled
//! up); a window's value is its count times the service's sampling period
//! in the range. A point is placed at the start of its step (aligned to
//! the epoch) and combines the windows starting in it: summed for counts
//! and time, averaged for gauges (`inuse_*`, goroutines), unless the
//! request asks for one or the other. Series of several services with the
//! same group labels add up.

use std::collections::BTreeMap;

use augur_profile::types::{Aggregation, aggregation};
use augur_storage::{LabelMatcher, MatchOp, Store};
use augur_wire::pyroscope::querier::v1 as q;
use augur_wire::pyroscope::types::v1 as t;

use super::Selection;
use super::selector::SERVICE_LABEL;
use crate::connect::{Code, ConnectError};

/// Most series one answer holds before `limit`.
const MAX_GROUPS: usize = 2000;

/// Most points per series.
const MAX_POINTS: i64 = 100_000;

/// A group's labels and the matchers that select it.
type Group = (Vec<(String, String)>, Vec<LabelMatcher>);

/// One group's points: step start (ms) -> (sum of values, windows).
type Points = BTreeMap<i64, (f64, u32)>;

pub(super) fn select_series(
    store: &Store,
    request: q::SelectSeriesRequest,
) -> Result<q::SelectSeriesResponse, ConnectError> {
    let selection = Selection::new(
        &request.profile_type_id,
        &request.label_selector,
        request.start,
        request.end,
    )?;
    if !request.step.is_finite() || request.step < 0.0 {
        return Err(ConnectError::invalid(format!(
            "step must be a positive number of seconds, not {}",
            request.step
        )));
    }
    // At least a second, and few enough points to answer.
    let mut step_ms = ((request.step * 1000.0) as i64).max(1000);
    if request.end > request.start {
        step_ms = step_ms.max((request.end - request.start) / MAX_POINTS);
    }
    let average = match request.aggregation {
        Some(a) if a == t::TimeSeriesAggregationType::Average as i32 => true,
        Some(a) if a == t::TimeSeriesAggregationType::Sum as i32 => false,
        Some(other) => {
            return Err(ConnectError::invalid(format!(
                "unknown aggregation {other}"
            )));
        }
        None => aggregation(&selection.profile_type) == Aggregation::Gauge,
    };
    let services = selection.services(store)?;
    let mut groups: BTreeMap<Vec<(String, String)>, Points> = BTreeMap::new();
    for service in services {
        // The range's period turns counts into values.
        let profile = store.query_profile(&selection.query(&service, Vec::new()))?;
        if profile.samples.is_empty() {
            continue;
        }
        let period = profile.period as f64;
        for (key, extra) in group_keys(store, &selection, &service, &request.group_by)? {
            let windows = store.timeline(&selection.query(&service, extra))?;
            if windows.is_empty() {
                continue;
            }
            if !groups.contains_key(&key) && groups.len() >= MAX_GROUPS {
                return Err(ConnectError::new(
                    Code::ResourceExhausted,
                    format!(
                        "more than {MAX_GROUPS} series; group by fewer labels or narrow the selector"
                    ),
                ));
            }
            let mut own: Points = BTreeMap::new();
            for (window_start, count) in windows {
                let ms = window_start.div_euclid(1_000_000);
                let slot = own.entry(ms.div_euclid(step_ms) * step_ms).or_default();
                slot.0 += count as f64 * period;
                slot.1 += 1;
            }
            // Combine in time within the service's series, then add series.
            let points = groups.entry(key).or_default();
            for (ts, (sum, windows)) in own {
                let value = if average {
                    sum / f64::from(windows)
                } else {
                    sum
                };
                points.entry(ts).or_default().0 += value;
            }
        }
    }
    let mut series: Vec<(f64, t::Series)> = groups
        .into_iter()
        .map(|(key, points)| {
            let total = points.values().map(|p| p.0).sum::<f64>();
            let series = t::Series {
                labels: key
                    .into_iter()
                    .map(|(name, value)| t::LabelPair { name, value })
                    .collect(),
                points: points
                    .into_iter()
                    .map(|(timestamp, (value, _))| t::Point {
                        value,
                        timestamp,
                        ..Default::default()
                    })
                    .collect(),
            };
            (total, series)
        })
        .collect();
    if let Some(limit) = request.limit.filter(|&l| l > 0) {
        series.sort_by(|a, b| b.0.total_cmp(&a.0));
        series.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(q::SelectSeriesResponse {
        series: series.into_iter().map(|(_, s)| s).collect(),
    })
}

/// The groups of one service: each a label set (the `group_by` labels it
/// has, `service_name` included when asked) and the matchers selecting it.
fn group_keys(
    store: &Store,
    selection: &Selection,
    service: &str,
    group_by: &[String],
) -> Result<Vec<Group>, ConnectError> {
    let others: Vec<&String> = group_by.iter().filter(|n| *n != SERVICE_LABEL).collect();
    let service_pair = group_by
        .iter()
        .any(|n| n == SERVICE_LABEL)
        .then(|| (SERVICE_LABEL.to_owned(), service.to_owned()));
    if others.is_empty() {
        return Ok(vec![(service_pair.into_iter().collect(), Vec::new())]);
    }
    let mut keys: BTreeMap<Vec<(String, Option<String>)>, ()> = BTreeMap::new();
    for labels in store.series(service)? {
        if !selection.selector.labels.iter().all(|m| m.selects(&labels)) {
            continue;
        }
        let key = others
            .iter()
            .map(|name| ((*name).clone(), labels.get(*name).cloned()))
            .collect();
        keys.insert(key, ());
        if keys.len() > MAX_GROUPS {
            return Err(ConnectError::new(
                Code::ResourceExhausted,
                format!(
                    "more than {MAX_GROUPS} series; group by fewer labels or narrow the selector"
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for key in keys.into_keys() {
        let mut pairs: Vec<(String, String)> = service_pair.clone().into_iter().collect();
        let mut matchers = Vec::new();
        for (name, value) in key {
            // A series without the label groups under its absence (`=""`).
            let value = value.unwrap_or_default();
            matchers.push(
                LabelMatcher::new(name.clone(), MatchOp::Eq, value.clone())
                    .map_err(|e| ConnectError::invalid(e.to_string()))?,
            );
            if !value.is_empty() {
                pairs.push((name, value));
            }
        }
        pairs.sort();
        out.push((pairs, matchers));
    }
    Ok(out)
}
