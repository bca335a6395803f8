//! `/metrics`: the process's one registry, every stage's families once,
//! served as OpenMetrics to a scraper that asks for it (`Accept`) and as
//! the Prometheus text format (0.0.4) otherwise.
//!
//! The web server's own families join that registry through a collector
//! ([`Metrics::new`]): requests counted by route and status class, and the
//! deploy comparisons' counters once a server runs them. The route label is
//! one of the fixed routes, `/assets/*` for the page's files, or `other`,
//! so a scanner trying random paths cannot grow the label set.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

use crate::deploys::DeployComparisons;

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Everything one process exports on `/metrics`: its registry, with the web
/// server's families added. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    web: Arc<WebCollector>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Takes the process's registry, every other stage's metrics already in
    /// it, and adds the web server's (`augur_web_*`).
    pub fn new(mut registry: Registry) -> Self {
        let web = Arc::new(WebCollector::default());
        registry.register_collector(Box::new(web.clone()));
        Self {
            registry: Arc::new(registry),
            web,
        }
    }

    /// The exposition in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut text = String::new();
        let encoded = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            }
        };
        if encoded.is_err() {
            // Writing to a String fails only if a metric's own encoder does;
            // half a family would mislead more than nothing.
            text.clear();
        }
        text
    }

    pub(crate) fn requests(&self) -> Arc<RequestCounters> {
        self.web.requests.clone()
    }

    /// Exports `comparisons`' counters from now on (the first server's, if
    /// one registry serves several).
    pub(crate) fn watch_deploys(&self, comparisons: Arc<DeployComparisons>) {
        let _ = self.web.deploys.set(comparisons);
    }
}

/// The web server's families, read at each scrape.
#[derive(Debug, Default)]
struct WebCollector {
    requests: Arc<RequestCounters>,
    deploys: OnceLock<Arc<DeployComparisons>>,
}

impl Collector for WebCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.requests.encode(&mut encoder)?;
        if let Some(deploys) = self.deploys.get() {
            deploys.encode_metrics(&mut encoder)?;
        }
        Ok(())
    }
}

/// The two text formats `/metrics` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, ending in `# EOF`.
    OpenMetrics,
    /// The Prometheus text format, version 0.0.4.
    Prometheus,
}

impl Format {
    /// The format an `Accept` header prefers: OpenMetrics when it weighs
    /// `application/openmetrics-text` at least as high as plain text (as
    /// Prometheus does when it scrapes), the Prometheus text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// Routes the server answers; any other path is counted as `other`.
pub(crate) const ROUTES: &[&str] = &[
    "/",
    "/api/v1/services",
    "/api/v1/profile",
    "/api/v1/labels",
    "/api/v1/timeline",
    "/api/v1/deploys",
    "/api/v1/deploys/compare",
    "/api/v1/sql",
    "/api/v1/fleet/services",
    "/api/v1/fleet/functions",
    "/api/v1/fleet/binaries",
    "/metrics",
    "/healthz",
    "/push.v1.PusherService/Push",
    "/ingest",
];

/// The label for a request path: the route itself, `/assets/*`, or `other`.
pub(crate) fn route_label(path: &str) -> &'static str {
    if path.starts_with("/assets/") {
        return "/assets/*";
    }
    if path.starts_with("/querier.v1.QuerierService/") {
        return "/querier.v1.QuerierService/*";
    }
    ROUTES
        .iter()
        .copied()
        .find(|r| *r == path)
        .unwrap_or("other")
}

/// Requests served, by route label and status class.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl RequestCounters {
    /// Counts one answered request for a route label from [`route_label`].
    pub fn record(&self, route: &'static str, status: StatusCode) {
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        // A poisoned lock only means another request panicked mid-increment;
        // the map is still a valid set of counts.
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry((route, class)).or_default() += 1;
    }

    /// `augur_web_requests_total`, one sample per route and class seen.
    fn encode(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts: Vec<_> = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(&labels, &count)| (labels, count))
            .collect();
        let mut family = encoder.encode_descriptor(
            "augur_web_requests",
            "HTTP requests answered, by route and status class.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for ((route, class), count) in counts {
            let labels = [("route", route), ("status", class)];
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_class_with_bounded_labels() {
        let metrics = Metrics::new(Registry::default());
        let counters = metrics.requests();
        for (path, status) in [
            ("/api/v1/profile", StatusCode::OK),
            ("/api/v1/profile", StatusCode::OK),
            ("/api/v1/profile", StatusCode::BAD_REQUEST),
            ("/wp-admin", StatusCode::NOT_FOUND),
            ("/etc/passwd", StatusCode::NOT_FOUND),
        ] {
            counters.record(route_label(path), status);
        }
        let text = metrics.render(Format::Prometheus);
        assert!(
            text.contains("# TYPE augur_web_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("augur_web_requests_total{route=\"/api/v1/profile\",status=\"2xx\"} 2\n")
        );
        assert!(
            text.contains("augur_web_requests_total{route=\"/api/v1/profile\",status=\"4xx\"} 1\n")
        );
        assert!(text.contains("augur_web_requests_total{route=\"other\",status=\"4xx\"} 2\n"));
        assert!(!text.contains("wp-admin"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_the_counter_family_without_its_suffix_and_ends_once() {
        let mut registry = Registry::default();
        let stage = prometheus_client::metrics::counter::Counter::<u64>::default();
        stage.inc_by(7);
        registry.register("augur_test_stage", "A stage's counter", stage);
        let metrics = Metrics::new(registry);
        metrics.requests().record("/metrics", StatusCode::OK);
        let text = metrics.render(Format::OpenMetrics);
        assert!(text.contains("# TYPE augur_test_stage counter\naugur_test_stage_total 7\n"));
        assert!(
            text.contains("# TYPE augur_web_requests counter\n"),
            "{text}"
        );
        assert!(text.contains("augur_web_requests_total{route=\"/metrics\",status=\"2xx\"} 1\n"));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1);
        assert_eq!(text.matches("# TYPE ").count(), 2, "{text}");
    }

    #[test]
    fn prometheus_asking_for_openmetrics_gets_it_and_others_get_text() {
        // Prometheus 2.x and 3.x scrape with these.
        for accept in [
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            "application/openmetrics-text",
        ] {
            assert_eq!(
                Format::negotiate(Some(accept)),
                Format::OpenMetrics,
                "{accept}"
            );
        }
        for accept in [
            None,
            Some("*/*"),
            Some("text/plain"),
            Some("text/plain;q=0.9,application/openmetrics-text;q=0.5"),
            Some("application/openmetrics-text;q=0"),
            Some("application/json"),
        ] {
            assert_eq!(Format::negotiate(accept), Format::Prometheus, "{accept:?}");
        }
        assert!(
            Format::OpenMetrics
                .content_type()
                .starts_with("application/openmetrics-text; version=1.0.0")
        );
        assert!(
            Format::Prometheus
                .content_type()
                .starts_with("text/plain; version=0.0.4")
        );
    }

    #[test]
    fn the_page_files_share_one_label() {
        assert_eq!(route_label("/assets/main.js"), "/assets/*");
        assert_eq!(route_label("/assets/no-such-file.js"), "/assets/*");
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/assetsx"), "other");
    }
}
