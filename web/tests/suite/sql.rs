//! `GET /api/v1/sql`: read-only queries over the documented views.

use serde_json::json;

use super::client::{encode, get};
use super::fixture::Server;

#[tokio::test]
async fn answers_a_select_with_columns_and_rows() {
    let server = Server::start().await;
    let q = "SELECT service, SUM(count) AS samples FROM sql_samples \
             WHERE profile_type = 'cpu' GROUP BY service ORDER BY service";
    let response = get(server.address, &format!("/api/v1/sql?q={}", encode(q))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "columns": ["service", "samples"],
            "rows": [["checkout", 11], ["search", 4]],
            "truncated": false,
        })
    );
    let limited = get(
        server.address,
        &format!("/api/v1/sql?q={}&limit=1", encode(q)),
    )
    .await;
    assert_eq!(limited.json()["rows"], json!([["checkout", 11]]));
    assert_eq!(limited.json()["truncated"], true);
}

#[tokio::test]
async fn bad_queries_and_parameters_are_400_with_the_reason() {
    let server = Server::start().await;
    for (target, expected) in [
        ("/api/v1/sql".to_owned(), "`q`"),
        (format!("/api/v1/sql?q={}", encode("  ")), "`q`"),
        (
            format!("/api/v1/sql?q={}&limit=0", encode("SELECT 1")),
            "`limit`",
        ),
        (
            format!("/api/v1/sql?q={}&limit=x", encode("SELECT 1")),
            "`limit`",
        ),
        (
            format!("/api/v1/sql?q={}", encode("DELETE FROM samples")),
            "read-only",
        ),
        (
            format!("/api/v1/sql?q={}", encode("SELEKT 1")),
            "syntax error",
        ),
    ] {
        let response = get(server.address, &target).await;
        assert_eq!(response.status, 400, "{target}: {}", response.text());
        let message = response.error_message();
        assert!(message.contains(expected), "{target}: {message}");
    }
    // Nothing was deleted.
    let services = get(server.address, "/api/v1/services").await.json();
    assert_eq!(services["services"].as_array().unwrap().len(), 2);
}
