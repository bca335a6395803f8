//! Pyroscope's `querier.v1.QuerierService` over Connect, so Grafana's
//! built-in Pyroscope data source, pointed at Augur's web address, reads
//! Augur's profiles.
//!
//! Every call is `POST /querier.v1.QuerierService/METHOD` (see `connect`).
//! Requests name a profile type by its Pyroscope id
//! (`process_cpu:cpu:nanoseconds:cpu:nanoseconds` is Augur's `cpu`), a
//! label selector (`selector`; `service_name` is Augur's service) and a
//! range in Unix milliseconds. Values are in the type's unit (samples times
//! their period), as Pyroscope reports them. The calls, and what Augur does
//! with the parts it has no counterpart for, are listed in `web/API.md`
//! ("Grafana"). Storage runs on the blocking pool, as for `/api/v1/*`.

mod flamegraph;
pub mod selector;
mod series;

use std::collections::{BTreeMap, BTreeSet};

use augur_profile::types::PyroscopeTypeId;
use augur_profile::{Profile, ProfileType, canonical_unit};
use augur_storage::{LabelMatcher, ProfileQuery, ServiceSummary, Store};
use augur_wire::connect::{Codec, ConnectMessage};
use augur_wire::pyroscope::google::v1 as google;
use augur_wire::pyroscope::querier::v1 as q;
use augur_wire::pyroscope::types::v1 as t;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::connect::{self, Code, ConnectError};
pub use flamegraph::NameTree;
use selector::{SERVICE_LABEL, Selector, parse_selector};

/// The route of every method.
pub(crate) const ROUTE: &str = "/querier.v1.QuerierService/{method}";

/// Most services one call reads (a selector like `{service_name=~".*"}`).
const MAX_SERVICES: usize = 1000;

/// `POST /querier.v1.QuerierService/{method}`.
pub(crate) async fn call(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (codec, body) = match connect::read_request(&headers, &body) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    let store = state.store.clone();
    match method.as_str() {
        "ProfileTypes" => unary(store, codec, body, profile_types).await,
        "LabelNames" => unary(store, codec, body, label_names).await,
        "LabelValues" => unary(store, codec, body, label_values).await,
        "Series" => unary(store, codec, body, series_sets).await,
        "SelectMergeStacktraces" => unary(store, codec, body, merge_stacktraces).await,
        "SelectMergeSpanProfile" => unary(store, codec, body, merge_span_profile).await,
        "SelectMergeProfile" => unary(store, codec, body, merge_profile).await,
        "SelectSeries" => unary(store, codec, body, series::select_series).await,
        "Diff" => unary(store, codec, body, diff).await,
        "GetProfileStats" => unary(store, codec, body, profile_stats).await,
        "AnalyzeQuery" => unary(store, codec, body, analyze_query).await,
        "SelectHeatmap" => ConnectError::new(
            Code::Unimplemented,
            "SelectHeatmap needs individual profiles, which Augur merges into windows",
        )
        .into_response(),
        other => ConnectError::new(
            Code::NotFound,
            format!(
                "querier.v1.QuerierService has no method {:?}",
                other.chars().take(100).collect::<String>()
            ),
        )
        .into_response(),
    }
}

/// Decodes, answers on the blocking pool, encodes.
async fn unary<Req: ConnectMessage, Resp: ConnectMessage>(
    store: Store,
    codec: Codec,
    body: Vec<u8>,
    answer: fn(&Store, Req) -> Result<Resp, ConnectError>,
) -> Response {
    let request: Req = match connect::decode(codec, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    match tokio::task::spawn_blocking(move || answer(&store, request)).await {
        Ok(Ok(reply)) => connect::respond(codec, &reply),
        Ok(Err(error)) => error.into_response(),
        Err(join) => ConnectError::from(join).into_response(),
    }
}

/// A range in Unix milliseconds as storage's nanoseconds; `end` 0 is open.
pub(crate) fn range_nanos(start_ms: i64, end_ms: i64) -> Result<(i64, i64), ConnectError> {
    let start = start_ms.max(0).saturating_mul(1_000_000);
    let end = if end_ms == 0 {
        i64::MAX
    } else {
        end_ms.saturating_mul(1_000_000)
    };
    if end < start {
        return Err(ConnectError::invalid(format!(
            "the range ends ({end_ms} ms) before it starts ({start_ms} ms)"
        )));
    }
    Ok((start, end))
}

/// Augur's type name and unit for a Pyroscope type id.
pub(crate) fn augur_type(id: &str) -> Result<(String, String), ConnectError> {
    PyroscopeTypeId::parse(id)
        .and_then(|id| id.augur_type())
        .ok_or_else(|| {
            ConnectError::invalid(format!(
                "unknown profile type id {:?}: expected name:sample_type:sample_unit:period_type:period_unit, e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds (ProfileTypes lists them)",
                id.chars().take(200).collect::<String>()
            ))
        })
}

pub(crate) fn selector(text: &str) -> Result<Selector, ConnectError> {
    parse_selector(text).map_err(|e| ConnectError::invalid(e.to_string()))
}

/// Selectors of a label request: a series passes if any does; none: all.
fn selectors(texts: &[String]) -> Result<Vec<Selector>, ConnectError> {
    let mut out: Vec<Selector> = texts
        .iter()
        .map(|t| selector(t))
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        out.push(Selector::default());
    }
    Ok(out)
}

/// Services with data overlapping `[start, end)` (ns) that pass `pass`.
pub(crate) fn services_in(
    store: &Store,
    start: i64,
    end: i64,
    pass: impl Fn(&ServiceSummary) -> bool,
) -> Result<Vec<ServiceSummary>, ConnectError> {
    let services: Vec<ServiceSummary> = store
        .services()?
        .into_iter()
        // A window starting before `start` may still hold samples of it.
        .filter(|s| {
            s.last_window_unix_nanos >= start.saturating_sub(augur_storage::HOUR_NANOS)
                && s.first_window_unix_nanos < end
        })
        .filter(|s| pass(s))
        .collect();
    if services.len() > MAX_SERVICES {
        return Err(ConnectError::new(
            Code::ResourceExhausted,
            format!(
                "the selector matches {} services; narrow it to at most {MAX_SERVICES}",
                services.len()
            ),
        ));
    }
    Ok(services)
}

/// The unit of Augur type `name`: well known, else as stored.
fn unit_of(store: &Store, service: &str, name: &str) -> Result<String, ConnectError> {
    if let Some(unit) = canonical_unit(name) {
        return Ok(unit.to_owned());
    }
    // An empty range reads no samples, only the type's unit.
    let profile = store.query_profile(&ProfileQuery {
        service: service.to_owned(),
        labels: BTreeMap::new(),
        matchers: Vec::new(),
        profile_type: name.to_owned(),
        start_unix_nanos: 0,
        end_unix_nanos: 0,
    })?;
    Ok(profile.profile_type.unit)
}

fn profile_types(
    store: &Store,
    request: q::ProfileTypesRequest,
) -> Result<q::ProfileTypesResponse, ConnectError> {
    let (start, end) = if request.start == 0 && request.end == 0 {
        (0, i64::MAX)
    } else {
        range_nanos(request.start, request.end)?
    };
    let mut types: BTreeMap<String, t::ProfileType> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for service in services_in(store, start, end, |_| true)? {
        for name in &service.profile_types {
            if !seen.insert(name.clone()) {
                continue;
            }
            let unit = unit_of(store, &service.name, name)?;
            let id = PyroscopeTypeId::of(name, &unit);
            types.insert(
                id.to_string(),
                t::ProfileType {
                    id: id.to_string(),
                    name: id.name,
                    sample_type: id.sample_type,
                    sample_unit: id.sample_unit,
                    period_type: id.period_type,
                    period_unit: id.period_unit,
                },
            );
        }
    }
    Ok(q::ProfileTypesResponse {
        profile_types: types.into_values().collect(),
    })
}

/// The label sets (with `service_name`) of every series some selector
/// picks, over services with data in the range.
fn selected_series(
    store: &Store,
    selectors: &[Selector],
    start: i64,
    end: i64,
) -> Result<Vec<BTreeMap<String, String>>, ConnectError> {
    let services = services_in(store, start, end, |s| {
        selectors.iter().any(|sel| sel.selects_service(&s.name))
    })?;
    let mut out = Vec::new();
    for service in services {
        for mut labels in store.series(&service.name)? {
            let passes = selectors.iter().any(|sel| {
                sel.selects_service(&service.name) && sel.labels.iter().all(|m| m.selects(&labels))
            });
            if passes {
                labels.insert(SERVICE_LABEL.to_owned(), service.name.clone());
                out.push(labels);
            }
        }
    }
    Ok(out)
}

fn label_names(
    store: &Store,
    request: t::LabelNamesRequest,
) -> Result<t::LabelNamesResponse, ConnectError> {
    let (start, end) = range_nanos(request.start, request.end)?;
    let series = selected_series(store, &selectors(&request.matchers)?, start, end)?;
    let names: BTreeSet<String> = series.into_iter().flat_map(|l| l.into_keys()).collect();
    Ok(t::LabelNamesResponse {
        names: names.into_iter().collect(),
    })
}

fn label_values(
    store: &Store,
    request: t::LabelValuesRequest,
) -> Result<t::LabelValuesResponse, ConnectError> {
    let (start, end) = range_nanos(request.start, request.end)?;
    let series = selected_series(store, &selectors(&request.matchers)?, start, end)?;
    let name = if request.name == "service" {
        SERVICE_LABEL
    } else {
        request.name.as_str()
    };
    let values: BTreeSet<String> = series
        .into_iter()
        .filter_map(|mut l| l.remove(name))
        .collect();
    Ok(t::LabelValuesResponse {
        names: values.into_iter().collect(),
    })
}

fn series_sets(
    store: &Store,
    request: q::SeriesRequest,
) -> Result<q::SeriesResponse, ConnectError> {
    let (start, end) = range_nanos(request.start, request.end)?;
    let series = selected_series(store, &selectors(&request.matchers)?, start, end)?;
    let mut sets = BTreeSet::new();
    for labels in series {
        let projected: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(k, _)| request.label_names.is_empty() || request.label_names.contains(k))
            .collect();
        sets.insert(projected);
    }
    Ok(q::SeriesResponse {
        labels_set: sets
            .into_iter()
            .map(|pairs| t::Labels {
                labels: pairs
                    .into_iter()
                    .map(|(name, value)| t::LabelPair { name, value })
                    .collect(),
            })
            .collect(),
    })
}

/// One merged query: the profile type, selector and range of a request.
pub(crate) struct Selection {
    pub(crate) profile_type: String,
    pub(crate) unit: String,
    pub(crate) selector: Selector,
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl Selection {
    pub(crate) fn new(
        type_id: &str,
        label_selector: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Self, ConnectError> {
        let (profile_type, unit) = augur_type(type_id)?;
        let selector = selector(label_selector)?;
        let (start, end) = range_nanos(start_ms, end_ms)?;
        Ok(Self {
            profile_type,
            unit,
            selector,
            start,
            end,
        })
    }

    /// Services the selection reads.
    pub(crate) fn services(&self, store: &Store) -> Result<Vec<String>, ConnectError> {
        Ok(services_in(store, self.start, self.end, |s| {
            self.selector.selects_service(&s.name) && s.profile_types.contains(&self.profile_type)
        })?
        .into_iter()
        .map(|s| s.name)
        .collect())
    }

    /// The storage query for one service, with `extra` matchers.
    pub(crate) fn query(&self, service: &str, extra: Vec<LabelMatcher>) -> ProfileQuery {
        let mut matchers = self.selector.labels.clone();
        matchers.extend(extra);
        ProfileQuery {
            service: service.to_owned(),
            labels: BTreeMap::new(),
            matchers,
            profile_type: self.profile_type.clone(),
            start_unix_nanos: self.start,
            end_unix_nanos: self.end,
        }
    }

    /// Each selected service's merged profile.
    fn profiles(&self, store: &Store) -> Result<Vec<Profile>, ConnectError> {
        let mut out = Vec::new();
        for service in self.services(store)? {
            let profile = store.query_profile(&self.query(&service, Vec::new()))?;
            if !profile.samples.is_empty() {
                out.push(profile);
            }
        }
        Ok(out)
    }

    /// Adds every selected stack, by function names, to `side` of `tree`.
    fn add_to(&self, store: &Store, tree: &mut NameTree, side: usize) -> Result<(), ConnectError> {
        for profile in self.profiles(store)? {
            for (stack, count) in profile.folded_stacks() {
                tree.add(&stack, count.saturating_mul(profile.period), side);
            }
        }
        Ok(())
    }
}

fn merge_stacktraces(
    store: &Store,
    request: q::SelectMergeStacktracesRequest,
) -> Result<q::SelectMergeStacktracesResponse, ConnectError> {
    let selection = Selection::new(
        &request.profile_type_id,
        &request.label_selector,
        request.start,
        request.end,
    )?;
    match request.format() {
        q::ProfileFormat::Unspecified | q::ProfileFormat::Flamegraph => {
            let mut tree = NameTree::default();
            selection.add_to(store, &mut tree, 0)?;
            Ok(q::SelectMergeStacktracesResponse {
                flamegraph: Some(tree.flame_graph(request.max_nodes)),
                ..Default::default()
            })
        }
        q::ProfileFormat::Pprof => Ok(q::SelectMergeStacktracesResponse {
            pprof: Some(q::PprofProfile {
                profile: Some(merged_pprof(store, &selection)?),
            }),
            ..Default::default()
        }),
        other => Err(ConnectError::new(
            Code::Unimplemented,
            format!(
                "format {} is not served; ask for PROFILE_FORMAT_FLAMEGRAPH or PROFILE_FORMAT_PPROF",
                other.as_str_name()
            ),
        )),
    }
}

/// Augur keeps no span ids, so no sample belongs to a span: the request is
/// checked and answered with no flame graph, as Pyroscope answers a range
/// without data.
fn merge_span_profile(
    _store: &Store,
    request: q::SelectMergeSpanProfileRequest,
) -> Result<q::SelectMergeSpanProfileResponse, ConnectError> {
    Selection::new(
        &request.profile_type_id,
        &request.label_selector,
        request.start,
        request.end,
    )?;
    Ok(q::SelectMergeSpanProfileResponse::default())
}

/// The selected profiles as one pprof message; services sampled at other
/// periods are rescaled to the first one's, keeping their values.
fn merged_pprof(store: &Store, selection: &Selection) -> Result<google::Profile, ConnectError> {
    let profiles = selection.profiles(store)?;
    let mut merged = Profile {
        service: String::new(),
        profile_type: ProfileType {
            name: selection.profile_type.clone(),
            unit: selection.unit.clone(),
        },
        period: profiles.first().map_or(1, |p| p.period.max(1)),
        start_unix_nanos: selection.start,
        end_unix_nanos: selection.end.min(i64::MAX / 2),
        samples: Vec::new(),
    };
    for profile in profiles {
        merged.service = if merged.service.is_empty() {
            profile.service.clone()
        } else {
            format!("{}, {}", merged.service, profile.service)
        };
        for mut sample in profile.samples {
            if profile.period != merged.period {
                let value = u128::from(sample.count) * u128::from(profile.period);
                sample.count = u64::try_from(value / u128::from(merged.period))
                    .unwrap_or(u64::MAX)
                    .max(1);
            }
            merged.samples.push(sample);
        }
    }
    Ok(augur_wire::pyroscope::google_profile(&merged))
}

fn merge_profile(
    store: &Store,
    request: q::SelectMergeProfileRequest,
) -> Result<google::Profile, ConnectError> {
    let selection = Selection::new(
        &request.profile_type_id,
        &request.label_selector,
        request.start,
        request.end,
    )?;
    merged_pprof(store, &selection)
}

fn diff(store: &Store, request: q::DiffRequest) -> Result<q::DiffResponse, ConnectError> {
    let (Some(left), Some(right)) = (request.left, request.right) else {
        return Err(ConnectError::invalid("a diff needs both left and right"));
    };
    let mut tree = NameTree::default();
    for (side, query) in [(0, &left), (1, &right)] {
        let selection = Selection::new(
            &query.profile_type_id,
            &query.label_selector,
            query.start,
            query.end,
        )?;
        selection.add_to(store, &mut tree, side)?;
    }
    let max_nodes = left.max_nodes.or(right.max_nodes);
    Ok(q::DiffResponse {
        flamegraph: Some(tree.diff(max_nodes)),
    })
}

fn profile_stats(
    store: &Store,
    _request: t::GetProfileStatsRequest,
) -> Result<t::GetProfileStatsResponse, ConnectError> {
    let services = store.services()?;
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    Ok(t::GetProfileStatsResponse {
        data_ingested: !services.is_empty(),
        oldest_profile_time: services
            .iter()
            .map(|s| ms(s.first_window_unix_nanos))
            .min()
            .unwrap_or(0),
        newest_profile_time: services
            .iter()
            .map(|s| ms(s.last_window_unix_nanos))
            .max()
            .unwrap_or(0),
    })
}

/// What a query would read: its series, in Augur's one storage tier.
fn analyze_query(
    store: &Store,
    request: q::AnalyzeQueryRequest,
) -> Result<q::AnalyzeQueryResponse, ConnectError> {
    let (start, end) = range_nanos(request.start, request.end)?;
    // The query may start with a profile type id: `TYPE{selector}`.
    let text = request.query.find('{').map_or("", |i| &request.query[i..]);
    let series = selected_series(store, &[selector(text)?], start, end)?;
    let count = series.len() as u64;
    Ok(q::AnalyzeQueryResponse {
        query_scopes: vec![q::QueryScope {
            component_type: "augur storage".into(),
            component_count: 1,
            series_count: count,
            ..Default::default()
        }],
        query_impact: Some(q::QueryImpact {
            total_queried_series: count,
            ..Default::default()
        }),
    })
}
