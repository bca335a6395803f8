//! The long-running roles: the servers `up` and `server` start, the agent
//! `up` and `agent` start, and the order they stop in.
//!
//! Everything is composed from the component libraries exactly as a fleet
//! runs them; the settings come from [`args`](super::args).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use augur_agent::{AgentConfig, AgentMetrics};
use augur_aggregator::dir_lock::DirLock;
use augur_aggregator::{AggregatorConfig, AggregatorMetrics};
use augur_storage::Store;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::args::{
    AgentArgs, AggregatorArgs, DeployCompareArgs, Role, ServerArgs, StorageArgs, UpArgs,
};
use crate::security::{Reloadable, ServerSecurityArgs};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Installs SIGINT and SIGTERM handlers now, before the caller announces
/// that it is up (a signal sent right after that line must stop it
/// cleanly, not kill it), and resolves on either.
fn termination() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

async fn until_stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopped| *stopped).await;
}

/// The process's one registry, closed: every stage registered, then the
/// process's own CPU and memory; the web server adds its families.
fn process_metrics(mut registry: Registry) -> augur_web::Metrics {
    registry.register_collector(Box::new(crate::memory::ProcessCollector));
    augur_web::Metrics::new(registry)
}

fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let path = data_dir.join("augur.db");
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// The store `augur server` uses: ClickHouse when one is named, else
/// SQLite in the data directory.
fn open_storage(storage: &StorageArgs, data_dir: &std::path::Path) -> anyhow::Result<Store> {
    let Some(config) = storage.clickhouse_config()? else {
        return open_store(data_dir);
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let url = config.url.clone();
    Store::clickhouse(config).with_context(|| format!("opening ClickHouse at {url}"))
}

/// The aggregator and web settings with their TLS and tokens, files read
/// now so a bad one stops the start.
fn secured(
    security: &ServerSecurityArgs,
    symbols: &AggregatorArgs,
    deploys: &DeployCompareArgs,
    data_dir: &std::path::Path,
) -> anyhow::Result<(AggregatorConfig, augur_web::WebOptions)> {
    let mut config = symbols.aggregator_config(data_dir)?;
    config.security = security.ingest_security()?;
    let mut web = deploys.web_options();
    web.auth = security.web_auth()?;
    web.tls = security.web_tls()?;
    Ok((config, web))
}

/// A fresh random token for `augur up`'s own agent.
fn internal_token() -> anyhow::Result<augur_wire::auth::Token> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom for the agent's token")?;
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(text.parse()?)
}

/// Installs the SIGHUP handler now (SIGHUP's default ends the process), and
/// from then on reads token files and certificates again on each.
/// Ends with the runtime.
fn reload_on_hangup(reloadable: Reloadable) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).context("installing a SIGHUP handler")?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match reloadable.reload() {
                Ok(()) => {
                    tracing::info!("SIGHUP: token files and certificates read again");
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "augur: reloaded token files and certificates");
                    let _ = out.flush();
                }
                Err(errors) => {
                    for error in errors {
                        tracing::error!("SIGHUP: {error:#}; keeping the settings in use");
                    }
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "augur: reload failed; keeping the settings in use");
                    let _ = out.flush();
                }
            }
        }
    });
    Ok(())
}

/// Servers started by `up` and `server`.
struct Servers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    ingest: Option<SocketAddr>,
    /// `https` when ingest is served over TLS.
    ingest_scheme: &'static str,
    http: Option<SocketAddr>,
    /// `https` when the web port is served over TLS.
    http_scheme: &'static str,
}

impl Servers {
    // One value per part the server composes.
    #[allow(clippy::too_many_arguments)]
    async fn start(
        role: Role,
        store: Store,
        ingest: SocketAddr,
        http: SocketAddr,
        aggregator_config: AggregatorConfig,
        mut web: augur_web::WebOptions,
        mut registry: Registry,
        extra: impl FnOnce(&mut Registry),
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let aggregator_metrics = AggregatorMetrics::default();
        aggregator_metrics.register(&mut registry);
        extra(&mut registry);
        let mut ingest_addr = None;
        let held_batches = aggregator_config.held_batches.clone();
        let ingest_scheme = match aggregator_config.security.tls {
            Some(_) => "https",
            None => "http",
        };
        if matches!(role, Role::Ingest | Role::Both) {
            // Pushes in other protocols reach this ingest through the web port.
            web.ingest = Some(Arc::new(aggregator_config.pushes.clone()));
            let listener = TcpListener::bind(ingest)
                .await
                .with_context(|| format!("binding ingest address {ingest}"))?;
            ingest_addr = Some(listener.local_addr()?);
            let (store, shutdown) = (store.clone(), until_stopped(stopped.clone()));
            tasks.push(tokio::spawn(async move {
                augur_aggregator::serve(
                    aggregator_config,
                    listener,
                    store,
                    aggregator_metrics,
                    shutdown,
                )
                .await
                .context("ingest server")
            }));
        }
        let mut http_addr = None;
        let http_scheme = if web.tls.is_some() { "https" } else { "http" };
        // Every role serves /metrics on the HTTP address; only query roles
        // serve the UI and API there.
        let listener = TcpListener::bind(http)
            .await
            .with_context(|| format!("binding HTTP address {http}"))?;
        let bound = listener.local_addr()?;
        let metrics = process_metrics(registry);
        let shutdown = until_stopped(stopped.clone());
        if matches!(role, Role::Query | Role::Both) {
            http_addr = Some(bound);
            // The first views after a start should not pay for reading
            // every stack and frame cold. Not a task to wait for at stop.
            let warm = store.clone();
            tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                match warm.warm_caches() {
                    Ok((nodes, frames)) => tracing::info!(
                        nodes,
                        frames,
                        took = ?started.elapsed(),
                        "read cache warmed"
                    ),
                    Err(error) => tracing::warn!(%error, "warming the read cache failed"),
                }
            });
            // Queries see every batch the aggregator beside them acknowledged.
            let store = augur_aggregator::FlushingStore::wrap(store, held_batches);
            tasks.push(tokio::spawn(async move {
                augur_web::serve_with(listener, store, metrics, web, shutdown)
                    .await
                    .context("web server")
            }));
        } else {
            println!("augur: metrics on {http_scheme}://{bound}/metrics");
            tasks.push(tokio::spawn(async move {
                augur_web::serve_metrics_with(
                    listener, metrics, web.auth, web.ingest, web.tls, shutdown,
                )
                .await
                .context("metrics server")
            }));
        }
        Ok(Self {
            stop,
            tasks,
            ingest: ingest_addr,
            ingest_scheme,
            http: http_addr,
            http_scheme,
        })
    }

    async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        for mut task in self.tasks {
            // Each server bounds its own drain; this only guards against a
            // server that fails to.
            match tokio::time::timeout(Duration::from_secs(15), &mut task).await {
                Ok(joined) => joined.context("server task panicked")??,
                Err(_) => {
                    tracing::warn!("a server did not stop within 15 s; abandoning it");
                    task.abort();
                }
            }
        }
        Ok(())
    }
}

fn announce(servers: &Servers) {
    let mut out = std::io::stdout().lock();
    if let Some(addr) = servers.ingest {
        let scheme = servers.ingest_scheme;
        let _ = writeln!(out, "augur: ingest listening on {scheme}://{addr}");
    }
    if let Some(addr) = servers.http {
        let scheme = servers.http_scheme;
        let _ = writeln!(out, "Augur is up: {scheme}://{addr}/");
    }
    let _ = out.flush();
}

/// The agent's last words on stdout, one line that scripts and tests parse.
fn print_summary(metrics: &AgentMetrics) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "augur: agent stopped: {}", metrics.summary());
    let _ = out.flush();
}

/// Locks the data directory for this process, before anything in it is
/// touched; held until the process exits.
fn lock_data_dir(data_dir: &std::path::Path, holder: &str) -> anyhow::Result<DirLock> {
    Ok(DirLock::acquire(data_dir, holder)?)
}

/// What an agent that failed to start is told: the capability hint only
/// when the kernel refused an operation, so other failures (a locked spool,
/// a bad config) are not blamed on privileges.
fn agent_start_failed(error: impl Into<anyhow::Error>) -> anyhow::Error {
    let error: anyhow::Error = error.into();
    let denied = error.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().is_some_and(|e| {
            e.kind() == std::io::ErrorKind::PermissionDenied
                || e.raw_os_error() == Some(libc::EPERM)
        });
        let text = cause.to_string();
        io || text.contains("Operation not permitted") || text.contains("Permission denied")
    });
    if denied {
        error.context("starting the agent (sampling needs root or CAP_BPF + CAP_PERFMON)")
    } else {
        error.context("starting the agent")
    }
}

/// `augur up`.
pub fn run_up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let args = match &args.server_config {
        Some(path) => super::config::up_args_of_process(path)?,
        None => args,
    };
    runtime()?.block_on(async move {
        let _lock = lock_data_dir(&args.data_dir, "augur up")?;
        let (aggregator_config, web) =
            secured(&args.security, &args.symbols, &args.deploys, &args.data_dir)?;
        aggregator_config.security.check_exposure(args.ingest)?;
        let mut reloadable = args.security.reloadable(&aggregator_config.security, &web);
        // The embedded agent presents a token of its own, which never leaves
        // this process, so a reloaded token file cannot lock it out.
        let token = if aggregator_config.security.tokens.is_empty() {
            None
        } else {
            let token = internal_token()?;
            reloadable.keep_ingest_token(token.clone());
            Some(token)
        };
        reload_on_hangup(reloadable)?;
        let store = open_store(&args.data_dir)?;
        let agent_metrics = AgentMetrics::default();
        let servers = Servers::start(
            Role::Both,
            store,
            args.ingest,
            args.http,
            aggregator_config,
            web,
            Registry::default(),
            |r| agent_metrics.register(r),
        )
        .await?;
        let ingest = servers.ingest.expect("both roles bind ingest");
        let mut config = args.sampling.agent_config(AgentConfig {
            spool_dir: args.data_dir.join("spool"),
            ..AgentConfig::default()
        })?;
        // All in one process: the agent always ships to this process; with
        // TLS it trusts what the config file's [tls] says.
        config.server = format!("{}://{ingest}", servers.ingest_scheme);
        if token.is_some() {
            config.security.token = token;
        }
        let agent = match augur_agent::start(config, agent_metrics.clone()).await {
            Ok(agent) => agent,
            Err(error) => {
                servers.shutdown().await?;
                return Err(agent_start_failed(error));
            }
        };
        let terminated = termination()?;
        announce(&servers);
        terminated.await;
        tracing::info!("stopping: sending the last window");
        agent.stop().await.context("stopping the agent")?;
        print_summary(&agent_metrics);
        servers.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `augur agent`.
pub fn run_agent(args: AgentArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut config = args.sampling.agent_config(AgentConfig::default())?;
        if let Some(server) = args.server {
            config.server = server;
        }
        args.transport.apply(&mut config.security)?;
        if let Some(dir) = args.spool_dir {
            config.spool_dir = dir;
        }
        if let Some(max_bytes) = args.spool_max_bytes {
            config.spool_max_bytes = max_bytes;
        }
        let metrics = AgentMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let listener = TcpListener::bind(args.metrics)
            .await
            .with_context(|| format!("binding metrics address {}", args.metrics))?;
        let metrics_addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let metrics_server = tokio::spawn(augur_web::serve_metrics(
            listener,
            process_metrics(registry),
            until_stopped(stopped),
        ));
        let agent = augur_agent::start(config, metrics.clone())
            .await
            .map_err(agent_start_failed)?;
        let terminated = termination()?;
        println!("augur: agent metrics on http://{metrics_addr}/metrics");
        terminated.await;
        agent.stop().await.context("stopping the agent")?;
        print_summary(&metrics);
        let _ = stop.send(true);
        let _ = metrics_server.await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `augur server`.
pub fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let args = match &args.config {
        Some(path) => super::config::server_args_of_process(path)?,
        None => args,
    };
    runtime()?.block_on(async move {
        let holder = format!("augur server --role {}", args.role.name());
        let _lock = lock_data_dir(&args.data_dir, &holder)?;
        let (aggregator_config, web) =
            secured(&args.security, &args.symbols, &args.deploys, &args.data_dir)?;
        // A query node has no ingest port to refuse.
        if args.role != Role::Query {
            aggregator_config.security.check_exposure(args.ingest)?;
        }
        reload_on_hangup(args.security.reloadable(&aggregator_config.security, &web))?;
        let store = open_storage(&args.storage, &args.data_dir)?;
        let servers = Servers::start(
            args.role,
            store,
            args.ingest,
            args.http,
            aggregator_config,
            web,
            Registry::default(),
            |_| {},
        )
        .await?;
        let terminated = termination()?;
        announce(&servers);
        terminated.await;
        servers.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}
