//! `GET /api/v1/timeline` and `format=speedscope`.

use super::client::get;
use super::fixture::{MINUTE, PERIOD, Server, T0, T0_TEXT};

#[tokio::test]
async fn the_timeline_has_one_point_per_window_with_data() {
    let server = Server::start().await;
    let to = augur_web::format_rfc3339(T0 + 10 * MINUTE);
    let target = format!("/api/v1/timeline?service=checkout&from={T0_TEXT}&to={to}");
    let response = get(server.address, &target).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["step_seconds"], 60);
    let points = body["points"].as_array().unwrap();
    let starts: Vec<i64> = points
        .iter()
        .map(|p| p["unix_nanos"].as_i64().unwrap())
        .collect();
    assert_eq!(starts, [T0, T0 + MINUTE]);
    let sum: u64 = points.iter().map(|p| p["samples"].as_u64().unwrap()).sum();
    let profile = get(
        server.address,
        &format!("/api/v1/profile?service=checkout&from={T0_TEXT}&to={to}"),
    )
    .await
    .json();
    assert_eq!(sum, profile["total_samples"].as_u64().unwrap());
    // Same parameter rules as the profile endpoint.
    let bad = get(server.address, "/api/v1/timeline?from=-1h").await;
    assert_eq!(bad.status, 400);
    let none = get(server.address, "/api/v1/timeline?service=nope")
        .await
        .json();
    assert_eq!(none["points"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn speedscope_files_weigh_stacks_in_nanoseconds() {
    let server = Server::start().await;
    let to = augur_web::format_rfc3339(T0 + 10 * MINUTE);
    let response = get(
        server.address,
        &format!("/api/v1/profile?service=checkout&from={T0_TEXT}&to={to}&format=speedscope"),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-disposition")
            .unwrap()
            .contains(".speedscope.json")
    );
    let body = response.json();
    assert_eq!(
        body["$schema"],
        "https://www.speedscope.app/file-format-schema.json"
    );
    let frames = body["shared"]["frames"].as_array().unwrap();
    let profile = &body["profiles"][0];
    assert_eq!(profile["type"], "sampled");
    assert_eq!(profile["unit"], "nanoseconds");
    let samples = profile["samples"].as_array().unwrap();
    let weights = profile["weights"].as_array().unwrap();
    assert_eq!(samples.len(), weights.len());
    for sample in samples {
        for index in sample.as_array().unwrap() {
            assert!((index.as_u64().unwrap() as usize) < frames.len());
        }
    }
    let total: u64 = weights.iter().map(|w| w.as_u64().unwrap()).sum();
    assert_eq!(total, 11 * PERIOD);
    assert_eq!(profile["endValue"], total);
}
