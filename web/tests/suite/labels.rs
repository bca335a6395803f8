//! `GET /api/v1/labels` and the profile endpoint's `labels=` matchers.

use std::collections::BTreeMap;

use augur_profile::{ProfileType, RawFrame};
use augur_storage::{BatchWrite, WindowWrite};
use serde_json::json;

use super::client::{encode, get};
use super::fixture::{MINUTE, PERIOD, Server, T0, T0_TEXT};

fn window(host: &str, version: &str, leaf: &str, count: u64) -> WindowWrite {
    WindowWrite {
        service: "labelled".into(),
        labels: BTreeMap::from([
            ("host".to_owned(), host.to_owned()),
            ("version".to_owned(), version.to_owned()),
        ]),
        profile_type: ProfileType::cpu(),
        period: PERIOD,
        window_start_unix_nanos: T0,
        stacks: vec![(
            vec![RawFrame::Kernel {
                function: leaf.into(),
                module: None,
            }]
            .into(),
            count,
        )],
    }
}

async fn labelled_server() -> Server {
    let server = Server::start().await;
    server
        .store
        .write_batch(&BatchWrite {
            batch_id: "labelled-1".into(),
            received_unix_nanos: T0,
            binaries: vec![],
            windows: vec![
                window("web-1", "1.0", "slow_path", 30),
                window("web-2", "1.0", "slow_path", 10),
                window("web-2", "1.1", "fast_path", 5),
            ],
        })
        .unwrap();
    server
}

#[tokio::test]
async fn lists_label_names_and_values_of_a_service() {
    let server = labelled_server().await;
    let response = get(server.address, "/api/v1/labels?service=labelled").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!({
            "service": "labelled",
            "labels": {"host": ["web-1", "web-2"], "version": ["1.0", "1.1"]},
        })
    );
    let unknown = get(server.address, "/api/v1/labels?service=nope").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json()["labels"], json!({}));
    let missing = get(server.address, "/api/v1/labels").await;
    assert_eq!(missing.status, 400);
    assert!(missing.error_message().contains("service"));
}

#[tokio::test]
async fn label_matchers_narrow_the_profile() {
    let server = labelled_server().await;
    let to = augur_web::format_rfc3339(T0 + MINUTE);
    let total = |labels: &'static str| {
        let target = format!(
            "/api/v1/profile?service=labelled&from={T0_TEXT}&to={to}&labels={}",
            encode(labels)
        );
        let address = server.address;
        async move {
            let response = get(address, &target).await;
            assert_eq!(response.status, 200, "{labels}: {}", response.text());
            let body = response.json();
            assert_eq!(
                body["labels"].as_object().unwrap().len(),
                labels.split(',').filter(|p| !p.is_empty()).count()
            );
            body["total_samples"].as_u64().unwrap()
        }
    };
    assert_eq!(total("").await, 45);
    assert_eq!(total("host=web-2").await, 15);
    assert_eq!(total("host=web-2,version=1.0").await, 10);
    assert_eq!(total("version=1.1").await, 5);
    assert_eq!(total("host=web-9").await, 0);

    let bad = get(
        server.address,
        &format!("/api/v1/profile?service=labelled&labels={}", encode("host")),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.error_message().contains("NAME=VALUE"), "{}", bad.text());
}
