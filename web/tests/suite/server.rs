//! The page, `/healthz`, `/metrics`, headers and shutdown.

use super::client::{get, get_with, request};
use super::fixture::Server;

#[tokio::test]
async fn healthz_says_ok() {
    let server = Server::start().await;
    let response = get(server.address, "/healthz").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "ok");
}

#[tokio::test]
async fn page_is_one_self_contained_html_document() {
    let server = Server::start().await;
    let response = get(server.address, "/").await;
    assert_eq!(response.status, 200);
    assert!(response.content_type().starts_with("text/html"));
    // The page and the ES modules it loads, as the browser assembles them.
    let html = &with_modules(server.address, response.text()).await;
    assert!(html.starts_with("<!doctype html>"));
    for needle in [
        "<select id=\"service\"",
        "api/v1/services",
        "api/v1/profile",
        "\"15m\", \"1h\", \"6h\", \"24h\", \"7d\"",
        "image/svg+xml",
        "download-pprof",
        "download-folded",
        "download-svg",
        "Top functions",
        "URLSearchParams(location.search)",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
    // No external assets: the style is inline, and every script is one of
    // Augur's own modules under /assets/ (fetched above) importing only its
    // siblings.
    for external in ["<link", "src=\"http", "src='http", "@import", "<script src"] {
        assert!(!html.contains(external), "page loads {external}");
    }
    for src in response.text().split(" src=\"").skip(1) {
        assert!(
            src.starts_with("assets/"),
            "page loads a script from {src:.40}"
        );
    }
    for import in html.split(" from \"").skip(1) {
        assert!(import.starts_with("./"), "a module imports {import:.40}");
    }
    // The same page whatever the view in the query string.
    let with_view = get(server.address, "/?service=checkout&range=6h").await;
    assert_eq!(with_view.status, 200);
    assert_eq!(with_view.body, response.body);
    let head = request(server.address, "HEAD", "/").await;
    assert_eq!(head.status, 200);
}

/// `page` followed by every module it loads from `/assets/` (the entry
/// script, then each relative `import`), fetched from the server.
async fn with_modules(address: std::net::SocketAddr, page: &str) -> String {
    let mut text = page.to_owned();
    let mut queue: Vec<String> = page
        .split("src=\"assets/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    let mut seen = Vec::new();
    while let Some(name) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        let module = get(address, &format!("/assets/{name}")).await;
        assert_eq!(module.status, 200, "/assets/{name}");
        for rest in module.text().split("from \"./").skip(1) {
            queue.push(rest.split('"').next().unwrap().to_owned());
        }
        text.push('\n');
        text.push_str(module.text());
        seen.push(name);
    }
    text
}

#[tokio::test]
async fn assets_are_served_with_their_types_and_unknown_names_are_404() {
    let server = Server::start().await;
    for (path, content_type) in [
        ("/assets/main.js", "text/javascript"),
        ("/assets/flame.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let response = get(server.address, path).await;
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response.content_type().starts_with(content_type),
            "{path}: {}",
            response.content_type()
        );
        assert_eq!(response.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    for path in [
        "/assets/nope.js",
        "/assets/",
        "/assets/index.html",
        "/assets/../Cargo.toml",
    ] {
        assert_eq!(get(server.address, path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn metrics_show_the_other_stages_and_request_counters_in_one_registry() {
    let server = Server::start().await;
    assert_eq!(get(server.address, "/healthz").await.status, 200);
    assert_eq!(get(server.address, "/api/v1/profile").await.status, 400);
    assert_eq!(get(server.address, "/no/such/path").await.status, 404);
    assert_eq!(get(server.address, "/wp-login.php").await.status, 404);

    let response = get(server.address, "/metrics").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text();
    assert!(
        text.contains("# TYPE augur_test_stage_total counter\naugur_test_stage_total 7\n"),
        "{text}"
    );
    for line in [
        "# TYPE augur_web_requests_total counter",
        "augur_web_requests_total{route=\"/healthz\",status=\"2xx\"} 1",
        "augur_web_requests_total{route=\"/api/v1/profile\",status=\"4xx\"} 1",
        "augur_web_requests_total{route=\"other\",status=\"4xx\"} 2",
        "# TYPE augur_web_deploy_comparisons_total counter",
        "# TYPE augur_web_deploy_comparisons_cached gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "metrics lack {line}:\n{text}"
        );
    }
    assert!(!text.contains("wp-login"));
    assert!(!text.contains("# EOF"), "{text}");
    assert_families_once(text);

    // This scrape is counted in the next one.
    let again = get(server.address, "/metrics").await;
    assert!(
        again
            .text()
            .contains("augur_web_requests_total{route=\"/metrics\",status=\"2xx\"} 1")
    );
}

#[tokio::test]
async fn metrics_are_openmetrics_when_the_scraper_asks() {
    let server = Server::start().await;
    // What Prometheus sends.
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let response = get_with(server.address, "/metrics", &[("Accept", accept)]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(response.header("vary"), Some("Accept"));
    let text = response.text();
    assert!(
        text.contains("# TYPE augur_test_stage counter\naugur_test_stage_total 7\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE augur_web_requests counter\n"),
        "{text}"
    );
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1);
    assert_families_once(text);
}

/// Each family has one `# TYPE` and one `# HELP` line.
fn assert_families_once(text: &str) {
    for prefix in ["# TYPE ", "# HELP "] {
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().filter_map(|l| l.strip_prefix(prefix)) {
            let name = line.split(' ').next().unwrap();
            assert!(seen.insert(name), "{prefix}{name} twice:\n{text}");
        }
        assert!(seen.len() >= 8, "{text}");
    }
}

#[tokio::test]
async fn responses_are_not_sniffed() {
    let server = Server::start().await;
    for target in ["/", "/healthz", "/api/v1/services", "/nope"] {
        let response = get(server.address, target).await;
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{target}"
        );
    }
}

#[tokio::test]
async fn serve_returns_once_shutdown_resolves() {
    let server = Server::start().await;
    let address = server.address;
    assert_eq!(get(address, "/healthz").await.status, 200);
    server.stop().await.expect("serve returns Ok");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
}
