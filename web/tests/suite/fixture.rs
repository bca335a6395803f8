//! A real server over a real SQLite store in a temporary directory, filled
//! with a small known batch.
//!
//! `checkout` has two one-minute windows at a fixed time (so assertions are
//! exact) and `search` one window in the current minute (so the default
//! `-1h..now` range has something to find).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use augur_profile::{FileId, ProfileType, RawFrame};
use augur_storage::{BatchWrite, Store, WindowWrite};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// 2026-11-24T14:00:00Z.
pub const T0: i64 = 1_795_528_800_000_000_000;
pub const T0_TEXT: &str = "2026-11-24T14:00:00Z";
pub const MINUTE: i64 = 60_000_000_000;
/// 10 ms between samples (100 Hz).
pub const PERIOD: u64 = 10_000_000;
pub const BUILD_ID: &str = "0badc0ffee";

/// The other stages' metrics: one counter, `augur_test_stage`, at 7.
pub fn other_metrics() -> augur_web::Metrics {
    let mut registry = prometheus_client::registry::Registry::default();
    let stage = prometheus_client::metrics::counter::Counter::<u64>::default();
    stage.inc_by(7);
    registry.register("augur_test_stage", "Another stage's counter", stage);
    augur_web::Metrics::new(registry)
}

pub struct Server {
    pub address: SocketAddr,
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Opens a store, writes the fixture batch and starts `serve`.
    pub async fn start() -> Server {
        Self::start_with(&[fixture_batch()], augur_web::WebOptions::default()).await
    }

    /// Opens a store, writes `batches` and starts `serve_with(options)`.
    pub async fn start_with(batches: &[BatchWrite], options: augur_web::WebOptions) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("augur.db")).expect("open store");
        for batch in batches {
            store.write_batch(batch).expect("write batch");
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let metrics = other_metrics();
        let task = tokio::spawn(augur_web::serve_with(
            listener,
            store.clone(),
            metrics,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            address,
            store,
            shutdown: Some(shutdown),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Resolves the shutdown future and waits for `serve` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let task = self.task.take().expect("server task");
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("server stops within 10 s")
            .expect("server task did not panic")
    }
}

fn kernel(name: &str) -> RawFrame {
    RawFrame::Kernel {
        function: name.to_owned(),
        module: None,
    }
}

fn stack(leaf_first: &[&str]) -> Vec<RawFrame> {
    leaf_first.iter().map(|name| kernel(name)).collect()
}

fn window(service: &str, start: i64, stacks: Vec<(Vec<RawFrame>, u64)>) -> WindowWrite {
    WindowWrite {
        service: service.to_owned(),
        labels: Default::default(),
        profile_type: ProfileType::cpu(),
        period: PERIOD,
        window_start_unix_nanos: start,
        stacks: stacks.into_iter().map(|(s, c)| (s.into(), c)).collect(),
    }
}

pub fn current_minute() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64;
    now - now % MINUTE
}

fn fixture_batch() -> BatchWrite {
    let build_id = FileId::parse_hex(BUILD_ID).expect("build id");
    let unsymbolized = RawFrame::User {
        build_id: build_id.clone(),
        file_offset: 0x1234,
    };
    let mut with_user_frame = stack(&["main"]);
    with_user_frame.insert(0, unsymbolized);
    BatchWrite {
        batch_id: "web-fixture-1".to_owned(),
        received_unix_nanos: T0 + 2 * MINUTE,
        binaries: vec![(build_id, "/usr/bin/shop".to_owned())],
        windows: vec![
            window(
                "checkout",
                T0,
                vec![
                    (stack(&["hot", "caller", "main"]), 5),
                    (stack(&["cold", "main"]), 2),
                ],
            ),
            window(
                "checkout",
                T0 + MINUTE,
                vec![(stack(&["hot", "caller", "main"]), 3), (with_user_frame, 1)],
            ),
            window(
                "search",
                // The previous minute, so it is inside `-1h..now` even when
                // the test starts right at a minute boundary.
                current_minute() - MINUTE,
                vec![(stack(&["score", "rank", "serve"]), 4)],
            ),
        ],
    }
}
