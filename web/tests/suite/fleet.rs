//! `GET /api/v1/fleet/{services,functions,binaries}`: fleet-wide reports.

use super::client::get;
use super::fixture::{MINUTE, Server, T0, T0_TEXT};

#[tokio::test]
async fn reports_rank_the_fleet_over_a_range() {
    let server = Server::start().await;
    let to = augur_web::format_rfc3339(T0 + 2 * MINUTE);
    let services = get(
        server.address,
        &format!("/api/v1/fleet/services?from={T0_TEXT}&to={to}"),
    )
    .await;
    assert_eq!(services.status, 200, "{}", services.text());
    let body = services.json();
    assert_eq!(body["report"], "services");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only checkout has data then: {body}");
    assert_eq!(rows[0]["name"], "checkout");
    assert_eq!(rows[0]["samples"], 11);
    assert_eq!(rows[0]["share"], 1.0);

    // The default range (the last hour) holds search's current window.
    let recent = get(server.address, "/api/v1/fleet/functions").await.json();
    let names: Vec<&str> = recent["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty(), "{recent}");
    let shares: f64 = recent["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["share"].as_f64().unwrap())
        .sum();
    assert!(
        (shares - 1.0).abs() < 1e-9,
        "shares add up to the whole: {recent}"
    );
}

#[tokio::test]
async fn unknown_reports_and_bad_ranges_are_400() {
    let server = Server::start().await;
    for (target, expected) in [
        ("/api/v1/fleet/regions", "unknown fleet report"),
        ("/api/v1/fleet/services?from=soon", "`from`"),
        ("/api/v1/fleet/services?from=-1h&to=-2h", "before"),
        ("/api/v1/fleet/services?limit=0", "`limit`"),
    ] {
        let response = get(server.address, target).await;
        assert_eq!(response.status, 400, "{target}: {}", response.text());
        assert!(response.error_message().contains(expected), "{target}");
    }
}

#[tokio::test]
async fn unsymbolized_leaves_are_reported_per_binary() {
    let server = Server::start().await;
    let to = augur_web::format_rfc3339(T0 + 2 * MINUTE);
    let body = get(
        server.address,
        &format!("/api/v1/fleet/functions?from={T0_TEXT}&to={to}"),
    )
    .await
    .json();
    let rows: Vec<(&str, u64)> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["samples"].as_u64().unwrap()))
        .collect();
    // checkout's one sample in /usr/bin/shop at 0x1234, not yet named.
    assert_eq!(
        rows,
        [("hot", 8), ("cold", 2), ("[unsymbolized] /usr/bin/shop", 1)],
        "{body}"
    );
}
