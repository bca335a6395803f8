//! The HTTP handlers: the JSON API, the downloads, `/metrics` and `/healthz`
//! (the page and its files are in `assets`).
//!
//! Storage is blocking (SQLite), and rendering a large flame graph is CPU
//! work, so both run together on tokio's blocking pool; the async handlers
//! only parse parameters and shape responses.

use std::collections::HashMap;
use std::time::SystemTime;

use augur_profile::{Profile, ProfileType, StackTree};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::{Format as MetricsFormat, Metrics};
use crate::params::{Format, ParamError, ProfileParams, ProfileRequest};
use crate::time::format_rfc3339;

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: the process's registry, in the format `Accept` prefers.
pub(crate) async fn metrics(
    State(metrics): State<Metrics>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let format = MetricsFormat::negotiate(accept.as_deref());
    // Collectors read files and take locks; keep them off the reactor.
    let text = tokio::task::spawn_blocking(move || metrics.render(format)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::VARY, HeaderValue::from_static("Accept")),
        ],
        text,
    )
        .into_response())
}

/// Any path without a route.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        path: uri.path().chars().take(100).collect(),
    }
}

#[derive(Serialize)]
struct ServicesJson {
    services: Vec<ServiceJson>,
}

#[derive(Serialize)]
struct ServiceJson {
    name: String,
    /// On-CPU samples.
    samples: u64,
    profile_types: Vec<String>,
    /// Total per profile type in its unit (samples x period).
    totals: std::collections::BTreeMap<String, u64>,
    /// Instructions per cycle, where both hardware counters were sampled.
    ipc: Option<f64>,
    first_seen: String,
    last_seen: String,
}

/// Instructions per cycle from the counter profiles' totals, when both exist.
fn ipc(totals: &std::collections::BTreeMap<String, u64>) -> Option<f64> {
    let cycles = *totals.get("cycles")?;
    let instructions = *totals.get("instructions")?;
    (cycles > 0).then(|| instructions as f64 / cycles as f64)
}

/// `GET /api/v1/services`: every service with data, sorted by name.
pub(crate) async fn services(
    State(state): State<AppState>,
) -> Result<Json<impl Serialize>, ApiError> {
    let store = state.store.clone();
    let mut summaries = tokio::task::spawn_blocking(move || store.services()).await??;
    summaries.sort_by(|a, b| a.name.cmp(&b.name));
    let services = summaries
        .into_iter()
        .map(|s| ServiceJson {
            first_seen: format_rfc3339(s.first_window_unix_nanos),
            last_seen: format_rfc3339(s.last_window_unix_nanos),
            name: s.name,
            samples: s.total_samples,
            profile_types: s.profile_types,
            ipc: ipc(&s.totals),
            totals: s.totals,
        })
        .collect();
    Ok(Json(ServicesJson { services }))
}

#[derive(Serialize)]
struct TimelineJson<'a> {
    service: &'a str,
    profile_type: &'a str,
    /// The type's unit where it is known in advance (else empty).
    unit: &'static str,
    /// `sum` (points are totals per window) or `gauge` (the mean of the
    /// window's snapshots: memory in use).
    aggregation: &'static str,
    from: String,
    to: String,
    /// Width of a storage window; rolled-up hours are one point each.
    step_seconds: u64,
    points: Vec<PointJson>,
}

#[derive(Serialize)]
struct PointJson {
    unix_nanos: i64,
    samples: u64,
}

/// `GET /api/v1/timeline`: samples per window for the same selection as
/// `/api/v1/profile` (the chart the UI's range is dragged on).
pub(crate) async fn timeline(
    State(state): State<AppState>,
    params: Result<Query<ProfileParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let request = ProfileRequest::from_params(&params, SystemTime::now())?;
    let store = state.store.clone();
    let query = request.query();
    let points = tokio::task::spawn_blocking(move || store.timeline(&query)).await??;
    Ok(Json(TimelineJson {
        service: &request.service,
        profile_type: &request.profile_type,
        unit: augur_profile::canonical_unit(&request.profile_type).unwrap_or(""),
        aggregation: augur_profile::types::aggregation(&request.profile_type).as_str(),
        from: format_rfc3339(request.from_unix_nanos),
        to: format_rfc3339(request.to_unix_nanos),
        step_seconds: 60,
        points: points
            .into_iter()
            .map(|(unix_nanos, samples)| PointJson {
                unix_nanos,
                samples,
            })
            .collect(),
    })
    .into_response())
}

/// `?service=` of the labels endpoint.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LabelsParams {
    service: Option<String>,
}

#[derive(Serialize)]
struct LabelsJson {
    service: String,
    /// Label name -> values seen, sorted.
    labels: std::collections::BTreeMap<String, Vec<String>>,
}

/// `GET /api/v1/labels?service=S`: the label names of a service's series
/// and the values each has taken, for selectors.
pub(crate) async fn labels(
    State(state): State<AppState>,
    params: Result<Query<LabelsParams>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let service = params
        .service
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or(ParamError::MissingService)?;
    let store = state.store.clone();
    let name = service.clone();
    let labels = tokio::task::spawn_blocking(move || store.label_values(&name)).await??;
    Ok(Json(LabelsJson { service, labels }))
}

/// Parameters of the fleet reports.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct FleetParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
struct FleetJson {
    report: &'static str,
    from: String,
    to: String,
    rows: Vec<augur_storage::ReportRow>,
}

/// `GET /api/v1/fleet/{services|functions|binaries}`: the fleet's CPU by
/// service, by function (self time) or by binary, over a time range.
pub(crate) async fn fleet(
    State(state): State<AppState>,
    axum::extract::Path(report): axum::extract::Path<String>,
    params: Result<Query<FleetParams>, QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let kind = augur_storage::FleetReport::parse(&report)
        .ok_or_else(|| ParamError::UnknownReport(report.chars().take(100).collect()))?;
    let (from, to) = crate::params::parse_range(
        params.from.as_deref(),
        params.to.as_deref(),
        SystemTime::now(),
    )?;
    let limit = crate::params::parse_count(params.limit.as_deref(), 20, 10_000)? as usize;
    let store = state.store.clone();
    let rows =
        tokio::task::spawn_blocking(move || store.fleet_report(kind, from, to, limit)).await??;
    Ok(Json(FleetJson {
        report: kind.name(),
        from: format_rfc3339(from),
        to: format_rfc3339(to),
        rows,
    }))
}

/// Parameters of the SQL endpoint.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct SqlParams {
    q: Option<String>,
    limit: Option<String>,
}

/// Rows a SQL answer holds at most.
const MAX_SQL_ROWS: usize = 100_000;

/// `GET /api/v1/sql?q=SELECT...`: a read-only query over the documented
/// views, answered as columns and rows.
pub(crate) async fn sql(
    State(state): State<AppState>,
    params: Result<Query<SqlParams>, QueryRejection>,
) -> Result<Json<augur_storage::SqlAnswer>, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let query = params
        .q
        .filter(|q| !q.trim().is_empty())
        .ok_or(ParamError::MissingQuery)?;
    let limit =
        crate::params::parse_count(params.limit.as_deref(), 1000, MAX_SQL_ROWS as u64)? as usize;
    let store = state.store.clone();
    let answer = tokio::task::spawn_blocking(move || store.sql(&query, limit)).await??;
    Ok(Json(answer))
}

/// `GET /api/v1/profile`: one service's merged profile over a time range,
/// as JSON, a binary call tree, pprof, folded stacks, SVG or speedscope.
pub(crate) async fn profile(
    State(state): State<AppState>,
    params: Result<Query<ProfileParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| ParamError::Query(rejection.body_text()))?;
    let request = ProfileRequest::from_params(&params, SystemTime::now())?;
    let store = state.store.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        // The call tree is built from storage's prefix tree; every other
        // format spells the stacks out.
        let (rendered, stacks) = if request.format == Format::Tree {
            let tree = store.query_stack_tree(&request.query())?;
            let queried = started.elapsed();
            (render_tree(&request, &tree), (tree.nodes.len(), queried))
        } else {
            let profile = store.query_profile(&request.query())?;
            let queried = started.elapsed();
            (render(&request, &profile), (profile.samples.len(), queried))
        };
        let (count, queried) = stacks;
        tracing::debug!(
            service = request.service,
            format = ?request.format,
            stacks_or_nodes = count,
            query_ms = queried.as_secs_f64() * 1e3,
            render_ms = (started.elapsed() - queried).as_secs_f64() * 1e3,
            "profile answered"
        );
        rendered
    })
    .await??;
    Ok(rendered)
}

/// `format=tree`: the call tree in flat arrays (`crate::tree`).
fn render_tree(request: &ProfileRequest, tree: &StackTree) -> Result<Response, ApiError> {
    let header = ProfileHead {
        service: &request.service,
        labels: &request.labels,
        profile_type: &tree.profile_type,
        aggregation: augur_profile::types::aggregation(&tree.profile_type.name).as_str(),
        period: tree.period,
        from: format_rfc3339(request.from_unix_nanos),
        to: format_rfc3339(request.to_unix_nanos),
        total_samples: tree.total(),
    };
    let bytes = crate::tree::CallTree::from_stack_tree(tree)
        .encode(&header)
        .map_err(|source| ApiError::Render {
            format: "tree",
            source: source.into(),
        })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::tree::CONTENT_TYPE),
        )],
        Body::from(bytes),
    )
        .into_response())
}

fn render(request: &ProfileRequest, profile: &Profile) -> Result<Response, ApiError> {
    let response = match request.format {
        Format::Json => Json(profile_json(request, profile)).into_response(),
        Format::Tree => return render_tree(request, &StackTree::from_profile(profile)),
        Format::Folded => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            augur_profile::render::folded(profile),
        )
            .into_response(),
        Format::Svg => {
            let title = format!(
                "{} ({}), {} to {}",
                request.service,
                request.profile_type,
                format_rfc3339(request.from_unix_nanos),
                format_rfc3339(request.to_unix_nanos),
            );
            let svg =
                augur_profile::render::svg(profile, &title).map_err(|source| ApiError::Render {
                    format: "svg",
                    source,
                })?;
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml"),
                )],
                Body::from(svg),
            )
                .into_response()
        }
        Format::Speedscope => {
            let disposition = format!(
                "attachment; filename=\"{}.speedscope.json\"",
                file_name(&request.service)
            );
            let disposition = HeaderValue::try_from(disposition).unwrap_or_else(|_| {
                HeaderValue::from_static("attachment; filename=\"profile.speedscope.json\"")
            });
            (
                [(header::CONTENT_DISPOSITION, disposition)],
                Json(speedscope(request, profile)),
            )
                .into_response()
        }
        Format::Pprof => {
            let bytes = augur_wire::pprof::encode(profile).map_err(|source| ApiError::Render {
                format: "pprof",
                source,
            })?;
            let disposition = format!(
                "attachment; filename=\"{}.pb.gz\"",
                file_name(&request.service)
            );
            let disposition = HeaderValue::try_from(disposition).unwrap_or_else(|_| {
                HeaderValue::from_static("attachment; filename=\"profile.pb.gz\"")
            });
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                Body::from(bytes),
            )
                .into_response()
        }
    };
    Ok(response)
}

#[derive(Serialize)]
struct ProfileJson<'a> {
    #[serde(flatten)]
    head: ProfileHead<'a>,
    stacks: Vec<StackJson>,
    top_functions: Vec<FunctionJson>,
}

/// What a profile answer says about itself: the first fields of the JSON
/// format and the whole JSON header of `format=tree`, whose arrays carry
/// the stacks and top functions.
#[derive(Serialize)]
struct ProfileHead<'a> {
    service: &'a str,
    /// The label matchers applied (empty: every series of the service).
    labels: &'a std::collections::BTreeMap<String, String>,
    profile_type: &'a ProfileType,
    /// `sum` or `gauge` (values are means of snapshots: compare them as
    /// amounts, not shares).
    aggregation: &'static str,
    period: u64,
    from: String,
    to: String,
    total_samples: u64,
}

fn profile_head<'a>(request: &'a ProfileRequest, profile: &'a Profile) -> ProfileHead<'a> {
    ProfileHead {
        service: &request.service,
        labels: &request.labels,
        profile_type: &profile.profile_type,
        aggregation: augur_profile::types::aggregation(&profile.profile_type.name).as_str(),
        period: profile.period,
        from: format_rfc3339(request.from_unix_nanos),
        to: format_rfc3339(request.to_unix_nanos),
        total_samples: profile.total(),
    }
}

#[derive(Serialize)]
struct StackJson {
    /// Function names, root first.
    frames: Vec<String>,
    count: u64,
}

#[derive(Serialize)]
struct FunctionJson {
    name: String,
    #[serde(rename = "self")]
    self_count: u64,
    total: u64,
    /// `native`, `kernel`, `jit`, `python`, `java` or `unknown`.
    language: &'static str,
    /// Source file of a runtime function, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// Source line of a runtime function (one met in the profile), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

/// Each function name of `profile` with the origin of the first frame
/// that shows it, as the tree format gives it.
fn name_origins(profile: &Profile) -> HashMap<String, crate::tree::NameOrigin<'_>> {
    let mut origins = HashMap::new();
    for location in profile.samples.iter().flat_map(|s| &s.locations) {
        let origin = crate::tree::NameOrigin::of(location);
        for name in location.names() {
            origins.entry(name).or_insert(origin);
        }
    }
    origins
}

fn profile_json<'a>(request: &'a ProfileRequest, profile: &'a Profile) -> ProfileJson<'a> {
    ProfileJson {
        head: profile_head(request, profile),
        stacks: profile
            .folded_stacks()
            .into_iter()
            .map(|(frames, count)| StackJson { frames, count })
            .collect(),
        top_functions: {
            let origins = name_origins(profile);
            profile
                .top_functions()
                .into_iter()
                .map(|f| {
                    let origin = origins.get(&f.name);
                    let source = origin.and_then(|o| o.source);
                    FunctionJson {
                        language: origin.map_or("unknown", |o| o.language),
                        file: source
                            .map(|(file, _)| file.to_owned())
                            .filter(|f| !f.is_empty()),
                        line: source.map(|(_, line)| line).filter(|&l| l != 0),
                        name: f.name,
                        self_count: f.self_count,
                        total: f.total_count,
                    }
                })
                .collect()
        },
    }
}

/// The profile in speedscope's file format, weighted in nanoseconds for
/// time profiles and in samples otherwise.
fn speedscope(request: &ProfileRequest, profile: &Profile) -> augur_profile::render::Speedscope {
    let timed = profile.profile_type.unit == "nanoseconds" && profile.period > 0;
    let name = format!(
        "{} {} {} to {}",
        request.service,
        request.profile_type,
        format_rfc3339(request.from_unix_nanos),
        format_rfc3339(request.to_unix_nanos)
    );
    augur_profile::render::speedscope(
        "augur",
        &name,
        if timed { "nanoseconds" } else { "none" },
        &profile.folded_stacks(),
        if timed { profile.period } else { 1 },
    )
}

/// A download file name from a service name: only characters every
/// filesystem and header parser accept.
fn file_name(service: &str) -> String {
    let name: String = service
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "profile".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_safe() {
        assert_eq!(file_name("checkout-api"), "checkout-api");
        assert_eq!(file_name("a b/\"c\"\r\n"), "a_b__c___");
        assert_eq!(file_name("../../etc"), "_.._etc");
        assert_eq!(file_name("..."), "profile");
        assert_eq!(file_name("服务"), "__");
    }
}
