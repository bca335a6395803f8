//! The Augur web server: the last stage of the data flow, and the only crate
//! that knows HTTP and JSON.
//!
//! It answers queries from [`augur_storage::Store`] over HTTP:
//! - `GET /api/v1/services` and `GET /api/v1/profile` (JSON, pprof, folded,
//!   SVG), described in `web/API.md`;
//! - `GET /api/v1/deploys`, each deploy compared with the previous one by a
//!   background task once both have enough samples (`deploys`);
//! - `GET /`, the page to browse flame graphs, and `GET /assets/NAME`, its
//!   stylesheet and ES modules, all embedded from `web/assets` (`assets`);
//! - `POST /querier.v1.QuerierService/*`, Pyroscope's query API over the
//!   Connect protocol, for Grafana's Pyroscope data source (`querier`, on
//!   the plumbing in `connect`);
//! - `GET /metrics` (the process's one registry, [`Metrics`], as OpenMetrics
//!   or Prometheus text) and `GET /healthz`;
//! - with an ingest beside it ([`WebOptions::ingest`]), Pyroscope's push
//!   endpoints, `POST /push.v1.PusherService/Push` and `POST /ingest`
//!   (`pyroscope`), and OTLP profiles, `POST /v1development/profiles`
//!   (`otlp`).
//!
//! Answers are compressed with zstd or gzip when the client accepts it.
//! With [`WebOptions::tls`] the port serves HTTPS only ([`tls`]).
//!
//! [`serve`] runs it on a listener the caller bound, until a shutdown future
//! resolves ([`serve_with`] also takes [`WebOptions`]). Parameter rules live in `params`, time parsing in [`parse_time`],
//! the handlers in `handlers`; [`auth`] decides who may read and who may
//! administer ([`WebAuth`]).

mod assets;
pub mod auth;
mod connect;
mod deploys;
mod error;
mod handlers;
pub mod metrics;
mod otlp;
mod params;
mod pyroscope;
mod querier;
mod time;
pub mod tls;
mod tree;

use std::future::Future;
use std::sync::Arc;

use augur_storage::Store;
use augur_wire::sink::BatchSink;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

pub use augur_wire::tls::TlsError;
pub use auth::WebAuth;
pub use deploys::{DeployCompareOptions, DeployComparisons};
pub use error::ApiError;
pub use metrics::Metrics;
pub use params::{PROFILE_TYPES, ParamError};
#[doc(hidden)]
pub use querier::selector;
#[doc(hidden)]
pub use querier::selector::{Selector, SelectorError, parse_selector};
pub use time::{TimeError, format_rfc3339, parse_time};
pub use tls::WebTls;
#[doc(hidden)]
pub use tree::encode_tree;

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    store: Store,
    metrics: Metrics,
    deploys: Arc<DeployComparisons>,
}

impl axum::extract::FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

/// Settings of the web server.
#[derive(Clone, Default)]
pub struct WebOptions {
    /// Automatic deploy comparisons.
    pub deploys: DeployCompareOptions,
    /// Read and admin tokens.
    pub auth: WebAuth,
    /// The ingest beside this server, for pushes in other protocols
    /// (Pyroscope, OTLP); `None` when this process runs no ingest.
    pub ingest: Option<Arc<dyn BatchSink>>,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<WebTls>,
}

impl std::fmt::Debug for WebOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebOptions")
            .field("deploys", &self.deploys)
            .field("auth", &self.auth)
            .field("ingest", &self.ingest.is_some())
            .field("tls", &self.tls)
            .finish()
    }
}

/// Serves the API and the page on `listener` until `shutdown` resolves, then
/// lets in-flight requests finish; default [`WebOptions`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, store, metrics, WebOptions::default(), shutdown).await
}

/// [`serve`] with options; also runs the deploy comparison watcher until
/// `shutdown` resolves.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    store: Store,
    metrics: Metrics,
    options: WebOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "web server listening");
    let comparisons = Arc::new(DeployComparisons::new(options.deploys));
    metrics.watch_deploys(comparisons.clone());
    let gate = auth::Gate::new(options.auth, Some(address));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(deploys::watch(comparisons.clone(), store.clone(), stopped));
    let router = router_with(store, metrics, comparisons, gate, options.ingest);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let result = serve_on(listener, options.tls, router, shutdown).await;
    // A pass in flight finishes on the blocking pool; nothing waits for it.
    watcher.abort();
    result?;
    tracing::info!(%address, "web server stopped");
    Ok(())
}

/// Serves only `/metrics` (and `/healthz`): for daemons without the web UI,
/// such as `augur agent`. Anyone may read it.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_metrics_with(listener, metrics, WebAuth::default(), None, None, shutdown).await
}

/// Runs `router` on `listener`, over TLS when `tls` is set, until
/// `shutdown` resolves.
async fn serve_on(
    listener: tokio::net::TcpListener,
    tls: Option<WebTls>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        Some(tls) => {
            axum::serve(tls.listen(listener)?, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// [`serve_metrics`] where `/metrics` needs a read token if `auth` has any
/// (an ingest node beside a query node with tokens), with `ingest`,
/// Pyroscope's push endpoints handing batches to it, and with `tls`, over
/// HTTPS.
pub async fn serve_metrics_with(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    auth: WebAuth,
    ingest: Option<Arc<dyn BatchSink>>,
    tls: Option<WebTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let gate = Arc::new(auth::Gate::new(auth, Some(address)));
    tracing::info!(%address, "metrics server listening");
    let requests = metrics.requests();
    let mut router = Router::new()
        .route("/metrics", get(handlers::metrics))
        .route("/healthz", get(handlers::healthz));
    if let Some(sink) = ingest {
        router = router.merge(pyroscope::routes(sink));
    }
    let router = router
        .layer(middleware::from_fn_with_state(gate, auth::require_access))
        .layer(middleware::from_fn_with_state(requests, count_and_harden))
        .with_state(metrics);
    serve_on(listener, tls, router, shutdown).await
}

/// The routes, for callers that run their own server (deploys are compared
/// on request only: no watcher runs; no tokens, admin endpoints open: the
/// caller decides who reaches it).
pub fn router(store: Store, metrics: Metrics) -> Router {
    let comparisons = Arc::new(DeployComparisons::new(DeployCompareOptions::default()));
    let gate = auth::Gate::new(
        WebAuth {
            allow_anonymous_admin: true,
            ..WebAuth::default()
        },
        None,
    );
    router_with(store, metrics, comparisons, gate, None)
}

fn router_with(
    store: Store,
    metrics: Metrics,
    deploys: Arc<DeployComparisons>,
    gate: auth::Gate,
    ingest: Option<Arc<dyn BatchSink>>,
) -> Router {
    let requests = metrics.requests();
    let state = AppState {
        store,
        metrics,
        deploys,
    };
    let mut routes = Router::new()
        .route("/", get(assets::page))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/v1/services", get(handlers::services))
        .route("/api/v1/profile", get(handlers::profile))
        .route("/api/v1/labels", get(handlers::labels))
        .route("/api/v1/timeline", get(handlers::timeline))
        .route("/api/v1/deploys", get(deploys::deploys))
        .route("/api/v1/deploys/compare", get(deploys::compare))
        .route("/api/v1/sql", get(handlers::sql))
        .route("/api/v1/fleet/{report}", get(handlers::fleet))
        .route(querier::ROUTE, post(querier::call))
        .route("/metrics", get(handlers::metrics))
        .route("/healthz", get(handlers::healthz));
    // Pyroscope's pushes pass the web's gate open (`auth`): the ingest
    // checks their ingest token.
    if let Some(sink) = &ingest {
        routes = routes.merge(pyroscope::routes(sink.clone()));
    }
    let routes = routes
        .fallback(handlers::not_found)
        // Inside the counting layer, so refusals are counted too.
        .layer(middleware::from_fn_with_state(
            Arc::new(gate),
            auth::require_access,
        ));
    // Pushes show an ingest token, checked by the ingest: merged past the
    // web's own token gate.
    let routes = match ingest {
        Some(sink) => routes.merge(otlp::routes(sink)),
        None => routes,
    };
    routes
        .layer(middleware::from_fn_with_state(requests, count_and_harden))
        .layer(compression())
        .with_state(state)
}

/// zstd or gzip by the client's `Accept-Encoding`, for every answer worth
/// it: JSON, trees, SVG, the page and its assets. pprof downloads are gzip
/// already and go as they are.
fn compression() -> tower_http::compression::CompressionLayer<impl Predicate> {
    tower_http::compression::CompressionLayer::new()
        .no_br()
        .no_deflate()
        .compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream")),
        )
}

/// Counts every answered request (including 404s) and marks responses so
/// browsers never sniff a download into something executable.
async fn count_and_harden(
    State(requests): State<Arc<metrics::RequestCounters>>,
    request: Request,
    next: Next,
) -> Response {
    let route = metrics::route_label(request.uri().path());
    let mut response = next.run(request).await;
    requests.record(route, response.status());
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
