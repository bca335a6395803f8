//! The web server's own counters, rendered in Prometheus text format after
//! the other stages' metrics on `/metrics`.
//!
//! Requests are counted by route and status class. The route label is one of
//! the fixed routes, `/assets/*` for the page's files, or `other`, so a
//! scanner trying random paths cannot grow the label set.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use axum::http::StatusCode;

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

    /// Prometheus text exposition of the counters.
    pub fn render(&self) -> String {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = String::from(
            "# HELP augur_web_requests_total HTTP requests answered by the web server, by route and status class.\n\
             # TYPE augur_web_requests_total counter\n",
        );
        for ((route, class), count) in counts.iter() {
            // Labels are our own constants: nothing to escape.
            let _ = writeln!(
                out,
                "augur_web_requests_total{{route=\"{route}\",status=\"{class}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_class_with_bounded_labels() {
        let counters = RequestCounters::default();
        for (path, status) in [
            ("/api/v1/profile", StatusCode::OK),
            ("/api/v1/profile", StatusCode::OK),
            ("/api/v1/profile", StatusCode::BAD_REQUEST),
            ("/wp-admin", StatusCode::NOT_FOUND),
            ("/etc/passwd", StatusCode::NOT_FOUND),
        ] {
            counters.record(route_label(path), status);
        }
        let text = counters.render();
        assert!(text.contains("# TYPE augur_web_requests_total counter\n"));
        assert!(
            text.contains("augur_web_requests_total{route=\"/api/v1/profile\",status=\"2xx\"} 2\n")
        );
        assert!(
            text.contains("augur_web_requests_total{route=\"/api/v1/profile\",status=\"4xx\"} 1\n")
        );
        assert!(text.contains("augur_web_requests_total{route=\"other\",status=\"4xx\"} 2\n"));
        assert!(!text.contains("wp-admin"));
    }

    #[test]
    fn the_page_files_share_one_label() {
        assert_eq!(route_label("/assets/main.js"), "/assets/*");
        assert_eq!(route_label("/assets/no-such-file.js"), "/assets/*");
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/assetsx"), "other");
    }
}
