//! `GET /api/v1/services`.

use serde_json::json;

use super::client::get;
use super::fixture::{MINUTE, Server, T0_TEXT, current_minute};

#[tokio::test]
async fn lists_every_service_sorted_by_name_with_totals_and_times() {
    let server = Server::start().await;
    let response = get(server.address, "/api/v1/services").await;
    assert_eq!(response.status, 200);
    assert!(response.content_type().starts_with("application/json"));
    let search_window = augur_web::format_rfc3339(current_minute() - MINUTE);
    let body = response.json();
    let services = body["services"].as_array().expect("services array");
    assert_eq!(services.len(), 2, "{body}");
    assert_eq!(
        services[0],
        json!({
            "name": "checkout",
            "samples": 11,
            "profile_types": ["cpu"],
            "first_seen": T0_TEXT,
            "last_seen": "2026-11-24T14:01:00Z",
        })
    );
    assert_eq!(services[1]["name"], "search");
    assert_eq!(services[1]["samples"], 4);
    // The window was written for the minute before the test started; the
    // clock may have ticked over a minute since.
    let first_seen = services[1]["first_seen"].as_str().expect("first_seen");
    assert!(
        first_seen == search_window
            || first_seen == augur_web::format_rfc3339(current_minute() - 2 * MINUTE),
        "{first_seen} vs {search_window}"
    );
    assert_eq!(services[1]["first_seen"], services[1]["last_seen"]);
}
