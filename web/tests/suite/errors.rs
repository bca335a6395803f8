//! Bad parameters answer 400 with a message that says what to fix; unknown
//! paths 404; storage failures 500 with the cause.

use super::client::{get, request};
use super::fixture::Server;

async fn bad_request(server: &Server, target: &str) -> String {
    let response = get(server.address, target).await;
    assert_eq!(response.status, 400, "{target}: {}", response.text());
    response.error_message()
}

#[tokio::test]
async fn bad_parameters_are_400_with_a_clear_message() {
    let server = Server::start().await;
    let cases = [
        ("/api/v1/profile", "missing required parameter `service`"),
        (
            "/api/v1/profile?service=",
            "missing required parameter `service`",
        ),
        ("/api/v1/profile?service=a&from=yesterday", "invalid `from`"),
        // Midnight, before the default `from` of an hour ago.
        (
            "/api/v1/profile?service=a&to=2026-01-01",
            "must be before `to`",
        ),
        (
            "/api/v1/profile?service=a&to=2026-13-01T00:00:00Z",
            "invalid `to`",
        ),
        (
            "/api/v1/profile?service=a&from=-15x",
            "cannot parse duration",
        ),
        ("/api/v1/profile?service=a&from=now", "must be before `to`"),
        (
            "/api/v1/profile?service=a&from=-1h&to=-2h",
            "must be before `to`",
        ),
        (
            "/api/v1/profile?service=a&from=9999-01-01T00:00:00Z",
            "out of range",
        ),
        (
            "/api/v1/profile?service=a&format=png",
            "unknown format \"png\"",
        ),
        (
            "/api/v1/profile?service=a&type=Heap%21",
            "profile type \"Heap!\" is not a valid name",
        ),
        (
            "/api/v1/profile?service=a&service=b",
            "invalid query string",
        ),
    ];
    for (target, expected) in cases {
        let message = bad_request(&server, target).await;
        assert!(
            message.contains(expected),
            "{target}: {message:?} lacks {expected:?}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405() {
    let server = Server::start().await;
    let response = get(server.address, "/api/v1/nope").await;
    assert_eq!(response.status, 404);
    assert!(response.error_message().contains("/api/v1/nope"));
    let response = get(server.address, "/index.html").await;
    assert_eq!(response.status, 404);

    let response = request(server.address, "POST", "/api/v1/profile?service=a").await;
    assert_eq!(response.status, 405);
    let response = request(server.address, "DELETE", "/api/v1/services").await;
    assert_eq!(response.status, 405);
}

#[tokio::test]
async fn storage_failures_are_500_with_the_cause() {
    let server = Server::start().await;
    // Break the database under the running server: drop every table.
    let path = server.store.path().expect("a SQLite store").to_owned();
    let connection = rusqlite::Connection::open(&path).expect("open database");
    connection
        .execute_batch("PRAGMA foreign_keys = OFF")
        .expect("pragma");
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("list tables")
        .collect::<Result<_, _>>()
        .expect("table names");
    for table in tables {
        connection
            .execute_batch(&format!("DROP TABLE \"{table}\""))
            .expect("drop table");
    }
    drop(connection);

    for target in [
        "/api/v1/services",
        "/api/v1/profile?service=checkout&from=-1d",
    ] {
        let response = get(server.address, target).await;
        assert_eq!(response.status, 500, "{target}: {}", response.text());
        let message = response.error_message();
        assert!(
            message.starts_with("storage query failed: "),
            "{target}: {message}"
        );
        assert!(message.contains("no such table"), "{target}: {message}");
    }
}
