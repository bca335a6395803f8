//! `GET /api/v1/deploys` and `/api/v1/deploys/compare`.

use std::collections::BTreeMap;

use augur_profile::{ProfileType, RawFrame};
use augur_storage::{BatchWrite, WindowWrite};

use super::client::get;
use super::fixture::{MINUTE, PERIOD, Server, T0};

fn window(version: &str, start: i64, counts: &[(&str, u64)]) -> WindowWrite {
    WindowWrite {
        service: "shop".into(),
        labels: BTreeMap::from([
            ("version".to_owned(), version.to_owned()),
            ("host".to_owned(), "web-1".to_owned()),
            ("build_id".to_owned(), format!("b{version}")),
        ]),
        profile_type: ProfileType::cpu(),
        period: PERIOD,
        window_start_unix_nanos: start,
        stacks: counts
            .iter()
            .map(|(leaf, n)| {
                let frame = |f: &str| RawFrame::Kernel {
                    function: f.into(),
                    module: None,
                };
                (vec![frame(leaf), frame("main")].into(), *n)
            })
            .collect(),
    }
}

async fn server() -> Server {
    let server = Server::start().await;
    // v1, then v2 where `render` costs 30% more; twenty steady functions.
    let steady: Vec<(String, u64)> = (0..20).map(|i| (format!("f{i:02}"), 400)).collect();
    let counts = |render: u64| {
        let mut c: Vec<(&str, u64)> = steady.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        c.push(("render", render));
        c
    };
    let windows = vec![
        window("1", T0, &counts(4000)),
        window("2", T0 + 10 * MINUTE, &counts(5200)),
    ];
    server
        .store
        .write_batch(&BatchWrite {
            batch_id: "deploys".into(),
            received_unix_nanos: T0,
            binaries: vec![],
            windows,
        })
        .unwrap();
    server
}

#[tokio::test]
async fn each_deploy_is_compared_with_the_previous_one() {
    let server = server().await;
    let body = get(server.address, "/api/v1/deploys?service=shop")
        .await
        .json();
    let deploys = body["deploys"].as_array().unwrap();
    assert_eq!(deploys.len(), 2, "{body}");
    assert_eq!(deploys[0]["version"], "1");
    assert_eq!(deploys[0]["hosts"], serde_json::json!(["web-1"]));
    assert_eq!(deploys[1]["build_ids"], serde_json::json!(["b2"]));
    let comparison = &body["comparisons"][0];
    assert_eq!(comparison["ready"], true);
    let regressions = comparison["diff"]["regressions"].as_array().unwrap();
    assert_eq!(regressions.len(), 1, "{comparison}");
    assert_eq!(regressions[0]["name"], "render");
    assert!((regressions[0]["change"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    // 1,200 extra samples of 10 ms.
    assert!((regressions[0]["impact"].as_f64().unwrap() - 1200.0 * PERIOD as f64).abs() < 1.0);
    assert_eq!(
        comparison["diff"]["improvements"].as_array().unwrap().len(),
        0
    );

    // Not enough samples yet: listed, not compared.
    let early = get(
        server.address,
        "/api/v1/deploys?service=shop&min_samples=100000",
    )
    .await
    .json();
    assert_eq!(early["comparisons"][0]["ready"], false);
    assert!(early["comparisons"][0].get("diff").is_none());
}

#[tokio::test]
async fn any_two_deploys_can_be_compared_and_bad_requests_are_400() {
    let server = server().await;
    let body = get(
        server.address,
        "/api/v1/deploys/compare?service=shop&base=2&target=1",
    )
    .await
    .json();
    let improvements = body["diff"]["improvements"].as_array().unwrap();
    assert_eq!(improvements[0]["name"], "render", "{body}");
    for (target, expected) in [
        ("/api/v1/deploys", "service"),
        ("/api/v1/deploys/compare?service=shop&base=1", "`target`"),
        (
            "/api/v1/deploys/compare?service=shop&base=1&target=9",
            "not a deploy",
        ),
        (
            "/api/v1/deploys?service=shop&type=9heap",
            "not a valid name",
        ),
    ] {
        let response = get(server.address, target).await;
        assert_eq!(response.status, 400, "{target}: {}", response.text());
        assert!(response.error_message().contains(expected), "{target}");
    }
}
