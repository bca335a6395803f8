//! The arguments of `augur up`, `augur agent` and `augur server`: the clap
//! structs, and how each turns into the component libraries' configs.
//!
//! Nothing here starts anything; [`daemon`](super::daemon) runs what these
//! describe.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use augur_agent::AgentConfig;
use augur_aggregator::AggregatorConfig;
use augur_http_client::Trust;
use clap::{Args, ValueEnum};

use crate::security::{GrpcClientArgs, ServerSecurityArgs};
use crate::{DEFAULT_HTTP, DEFAULT_INGEST, default_data_dir, parse_addr, parse_duration};

/// Agent settings shared by `up` and `agent`. A flag given here overrides
/// the same setting in the config file.
#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Agent configuration file (TOML; see docs/agent.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Samples per second on each CPU [default: 19].
    #[arg(long)]
    frequency: Option<u64>,
    /// How often the agent drains its maps and sends a batch [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    window: Option<Duration>,
    /// A profile to take besides on-CPU time; repeatable: off-cpu[:MIN_NS],
    /// page-faults[:PERIOD], context-switches[:PERIOD], cycles,
    /// instructions, cache-misses, branch-misses, brk, mmap,
    /// memory[:MEAN_BYTES].
    #[arg(long = "profile", value_name = "NAME[:N]")]
    profiles: Vec<String>,
    /// The memory profile probes only processes whose name (comm) matches
    /// this regular expression [default: every process].
    #[arg(long, value_name = "REGEX")]
    memory_processes: Option<String>,
}

impl SamplingArgs {
    /// The agent configuration: defaults, then the config file, then the
    /// environment (`AUGUR_HOST`), then these flags.
    pub(super) fn agent_config(&self, mut config: AgentConfig) -> anyhow::Result<AgentConfig> {
        if let Some(path) = &self.config {
            augur_agent::config::load(path)?.apply(&mut config)?;
        }
        if let Some(host) = std::env::var("AUGUR_HOST").ok().filter(|h| !h.is_empty()) {
            config.host = host;
        }
        if let Some(hz) = self.frequency {
            augur_agent::config::validate_frequency(hz)?;
            config.frequency_hz = hz;
        }
        if let Some(window) = self.window {
            config.window = window;
        }
        if !self.profiles.is_empty() {
            config.counter_profiles =
                augur_agent::config::parse_profiles(&self.profiles, config.frequency_hz)?;
        }
        if let Some(pattern) = &self.memory_processes {
            config.memory.processes = Some(augur_agent::config::memory_processes(pattern)?);
        }
        Ok(config)
    }
}

/// Aggregator settings: where it finds debug info, and its ingest bound.
#[derive(Debug, Args)]
pub struct AggregatorArgs {
    /// Batches decoded or stored at once; more wait up to 200 ms, then are
    /// answered RESOURCE_EXHAUSTED and agents keep them in their spool.
    /// Bounds the server's memory [default: 16].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_in_flight: Option<u32>,
    /// How long one-minute windows are kept before they are rolled up into
    /// one-hour windows [default: 7d]. On ClickHouse, whole days roll up.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    keep_minutes: Option<Duration>,
    /// How long one-hour windows are kept [default: 90d].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    keep_hours: Option<Duration>,
    /// Most bytes the stored profiles may take; the oldest windows are
    /// deleted beyond it [default: no bound].
    #[arg(long, value_name = "BYTES")]
    max_storage_bytes: Option<u64>,
    /// Symbolization threads, each with its own share of the binaries; 0
    /// leaves symbolization to other nodes on the same storage
    /// [default: CPUs, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=64))]
    symbolizer_threads: Option<u32>,
    /// A directory with a `.build-id/xx/rest.debug` tree, searched before
    /// the agents' path hints; repeatable [default: /usr/lib/debug].
    #[arg(long = "debug-dir", value_name = "DIR")]
    debug_dirs: Vec<PathBuf>,
    /// A debuginfod server (http:// or https://) asked for debug info by
    /// build-id when no local file has full symbols; repeatable. Without
    /// this flag, the space-separated URLs in DEBUGINFOD_URLS are used, as
    /// elfutils' clients read them (unset or empty: no debuginfod).
    /// Downloads are cached in the data directory.
    #[arg(long = "debuginfod", value_name = "URL")]
    debuginfod_urls: Vec<String>,
    /// Trust this PEM CA for https:// debuginfod servers instead of the
    /// system's roots (which SSL_CERT_FILE may replace).
    #[arg(long, value_name = "FILE")]
    debuginfod_ca: Option<PathBuf>,
    /// How long a frame that could not be named waits before it is tried
    /// again (new debug info names old samples then) [default: 60s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    symbol_retry: Option<Duration>,
    /// Longest an acknowledged batch is held in memory (and in the ingest
    /// log) before it is stored; queries lag ingest by at most this much
    /// [default: 1s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    flush_interval: Option<Duration>,
    /// Most bytes of acknowledged batches held in memory before they are
    /// stored; beyond it pushes are answered RESOURCE_EXHAUSTED (agents
    /// spool them) until a flush frees room. It bounds memory while
    /// storage is slow or down [default: 134217728].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range((1 << 20)..))]
    max_buffered_bytes: Option<u64>,
    /// Most bytes the ingest log (acknowledged, not yet stored batches) may
    /// take on disk; beyond it pushes are answered RESOURCE_EXHAUSTED
    /// [default: 1073741824].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range((1 << 20)..))]
    max_log_bytes: Option<u64>,
    /// Never read binaries at the paths agents report. Set it when the
    /// server does not share the agents' files (any real fleet): names then
    /// come from debug directories, uploads and debuginfod only.
    #[arg(long)]
    no_path_hints: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Limits on what agents send. Each hit is counted in
/// `augur_aggregator_limit_hits_total{limit=...}`; a refused batch gets
/// INVALID_ARGUMENT with the reason.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest compressed batch, in bytes; larger ones are refused before
    /// anything is decompressed [default: 4194304].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=(1 << 30)))]
    max_batch_bytes: Option<u64>,
    /// Most bytes a batch may inflate to; decompression stops there and
    /// the batch is refused (zstd bombs) [default: 67108864].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=(4 << 30)))]
    max_batch_inflated_bytes: Option<u64>,
    /// Memory all batches being decoded at once may take together; a batch
    /// that does not fit beside the others gets RESOURCE_EXHAUSTED and is
    /// sent again later (one alone always fits) [default: 268435456].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range((1 << 20)..))]
    max_decode_memory: Option<u64>,
    /// Most stacks (samples) in one batch; more refuse it [default: 262144].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=(1 << 26)))]
    max_stacks_per_batch: Option<u64>,
    /// Most decoded items (frames, samples, processes, labels, binaries)
    /// in one batch; bounds a decoded batch's memory at tens of bytes each
    /// [default: 8388608].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=(1 << 30)))]
    max_batch_items: Option<u64>,
    /// Deepest stack kept; deeper ones keep their leaf-most frames and end
    /// in a `[truncated]` frame, within this depth [default: 1024].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=65536))]
    max_stack_depth: Option<u64>,
    /// Most labels on one process, `service` included; the rest are
    /// dropped [default: 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_labels: Option<u64>,
    /// Longest label name or value, in bytes: longer values are shortened,
    /// labels with longer names dropped [default: 1024].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_label_length: Option<u64>,
    /// Distinct values one label of one service may take within
    /// --label-values-window; further values are stored as `__overflow__`
    /// [default: 10000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
    max_label_values: Option<u64>,
    /// How long a label value keeps its place after it was last seen; 0
    /// keeps it forever [default: 1h].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    label_values_window: Option<Duration>,
    /// Distinct services within --label-values-window; further services
    /// are stored as `__overflow__` [default: 10000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
    max_services: Option<u64>,
    /// Label values tracked at once over all services, about 40 bytes each;
    /// beyond it new values are stored as `__overflow__` [default: 1000000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=(1 << 28)))]
    max_tracked_label_values: Option<u64>,
    /// Largest debug-info upload, in bytes [default: 1073741824].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_debuginfo_bytes: Option<u64>,
}

impl LimitArgs {
    fn apply(&self, config: &mut AggregatorConfig) {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let limits = &mut config.limits;
        let labels = &mut config.label_cardinality;
        for (flag, field) in [
            (self.max_batch_bytes, &mut limits.max_compressed),
            (self.max_batch_inflated_bytes, &mut limits.max_decompressed),
            (self.max_stacks_per_batch, &mut limits.max_stacks),
            (self.max_batch_items, &mut limits.max_items),
            (self.max_stack_depth, &mut limits.max_stack_depth),
            (self.max_labels, &mut limits.max_labels),
            (self.max_label_length, &mut limits.max_label_len),
            (self.max_label_values, &mut labels.max_values),
            (self.max_services, &mut labels.max_services),
            (self.max_tracked_label_values, &mut labels.max_tracked),
        ] {
            if let Some(n) = flag {
                *field = size(n);
            }
        }
        if let Some(n) = self.max_decode_memory {
            limits.decode_memory = Some(augur_wire::batch::DecodeMemory::new(size(n)));
        }
        if let Some(window) = self.label_values_window {
            labels.window = window;
        }
        if let Some(n) = self.max_debuginfo_bytes {
            config.max_debuginfo_bytes = n;
        }
    }
}

impl AggregatorArgs {
    /// The aggregator's settings; a CA file is read now, so a bad one stops
    /// the start.
    pub(super) fn aggregator_config(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<AggregatorConfig> {
        let mut config = AggregatorConfig {
            debuginfo_dir: Some(data_dir.join("debuginfo")),
            ingest_log_dir: Some(data_dir.join("ingest-log")),
            ..AggregatorConfig::default()
        };
        if let Some(interval) = self.flush_interval {
            config.flush_interval = interval;
        }
        if let Some(bytes) = self.max_buffered_bytes {
            config.max_buffered_bytes = bytes;
        }
        if let Some(bytes) = self.max_log_bytes {
            config.max_log_bytes = bytes;
        }
        if !self.debug_dirs.is_empty() {
            config.symbolize.debug_dirs = self.debug_dirs.clone();
        }
        config.symbolize.use_path_hints = !self.no_path_hints;
        self.limits.apply(&mut config);
        if let Some(n) = self.max_in_flight {
            config.max_in_flight = n as usize;
        }
        if let Some(keep) = self.keep_minutes {
            config.retention.minute_windows = keep;
        }
        if let Some(keep) = self.keep_hours {
            config.retention.hour_windows = keep;
        }
        config.retention.max_bytes = self.max_storage_bytes;
        if let Some(n) = self.symbolizer_threads {
            config.symbolize.workers = n as usize;
        }
        if let Some(retry) = self.symbol_retry {
            config.symbolize.retry_after = retry;
        }
        let env = std::env::var(DEBUGINFOD_URLS_ENV).ok();
        let urls = debuginfod_urls(&self.debuginfod_urls, env.as_deref())?;
        if !urls.is_empty() {
            let mut debuginfod =
                augur_symbolizer::DebuginfodConfig::new(urls, data_dir.join("debuginfod-cache"));
            debuginfod.trust =
                Trust::from_ca_file(self.debuginfod_ca.as_deref()).context("--debuginfod-ca")?;
            config.symbolize.debuginfod = Some(debuginfod);
        }
        Ok(config)
    }
}

/// The variable elfutils' debuginfod clients read their servers from.
pub const DEBUGINFOD_URLS_ENV: &str = "DEBUGINFOD_URLS";

/// The debuginfod servers to ask: the `--debuginfod` flags if any, else the
/// space-separated URLs of `DEBUGINFOD_URLS` (`env`). A flag that is not an
/// http(s) URL is an error; such an entry of the variable (elfutils also
/// takes `file://`) is skipped with a warning.
fn debuginfod_urls(flags: &[String], env: Option<&str>) -> anyhow::Result<Vec<String>> {
    let is_http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
    if !flags.is_empty() {
        if let Some(bad) = flags.iter().find(|url| !is_http(url)) {
            anyhow::bail!("--debuginfod {bad}: not an http:// or https:// URL");
        }
        return Ok(flags.to_vec());
    }
    Ok(env
        .unwrap_or("")
        .split_whitespace()
        .filter(|url| {
            let usable = is_http(url);
            if !usable {
                tracing::warn!(
                    url,
                    "{DEBUGINFOD_URLS_ENV}: skipping a URL that is not http(s)"
                );
            }
            usable
        })
        .map(str::to_owned)
        .collect())
}

/// How the query role compares each new deploy with the previous one.
#[derive(Debug, Args)]
pub struct DeployCompareArgs {
    /// On-CPU samples each of two deploys needs before the server compares
    /// them on its own (and the API's default `min_samples`).
    #[arg(long, value_name = "N", default_value_t = 500)]
    compare_min_samples: u64,
    /// How often the server looks for new deploys and new data to compare.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    compare_interval: Duration,
}

impl DeployCompareArgs {
    pub(super) fn web_options(&self) -> augur_web::WebOptions {
        augur_web::WebOptions {
            deploys: augur_web::DeployCompareOptions {
                min_samples: self.compare_min_samples,
                interval: self.compare_interval,
                ..augur_web::DeployCompareOptions::default()
            },
            ..augur_web::WebOptions::default()
        }
    }
}

/// Arguments of `augur up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Server settings from this file (TOML, the keys of `augur server
    /// --config` but `role` and `[clickhouse]`; see
    /// docs/server.example.toml). A flag given here overrides the file.
    /// (`--config` is the embedded agent's file.)
    #[arg(long, value_name = "FILE")]
    pub(super) server_config: Option<PathBuf>,
    /// Where the SQLite database lives.
    #[arg(long, default_value_os_t = default_data_dir())]
    pub(super) data_dir: PathBuf,
    /// Address of the web UI and HTTP API.
    #[arg(long, default_value = DEFAULT_HTTP, value_parser = parse_addr)]
    pub(super) http: SocketAddr,
    /// Address of the gRPC ingest endpoint.
    #[arg(long, default_value = DEFAULT_INGEST, value_parser = parse_addr)]
    pub(super) ingest: SocketAddr,
    #[command(flatten)]
    pub(super) symbols: AggregatorArgs,
    #[command(flatten)]
    pub(super) deploys: DeployCompareArgs,
    #[command(flatten)]
    pub(super) sampling: SamplingArgs,
    #[command(flatten)]
    pub(super) security: ServerSecurityArgs,
}

/// Arguments of `augur agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Aggregator ingest URL [default: http://127.0.0.1:7070].
    #[arg(long)]
    pub(super) server: Option<String>,
    /// Where to serve the agent's own /metrics.
    #[arg(long, default_value = "127.0.0.1:7071", value_parser = parse_addr)]
    pub(super) metrics: SocketAddr,
    /// Where batches wait until the server acknowledged them (created if
    /// missing); a restarted agent sends what an earlier one left there
    /// [default: /var/lib/augur/spool].
    #[arg(long, value_name = "DIR")]
    pub(super) spool_dir: Option<PathBuf>,
    /// Bound of the spool in bytes; when full, the oldest batches are
    /// dropped and counted [default: 268435456].
    #[arg(long, value_name = "N")]
    pub(super) spool_max_bytes: Option<u64>,
    #[command(flatten)]
    pub(super) sampling: SamplingArgs,
    #[command(flatten)]
    pub(super) transport: GrpcClientArgs,
}

/// What a server node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Accept batches from agents.
    Ingest,
    /// Serve the web UI and API.
    Query,
    /// Both.
    Both,
}

impl Role {
    /// The role as `--role` takes it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Query => "query",
            Role::Both => "both",
        }
    }
}

/// Arguments of `augur server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Server configuration file (TOML; see docs/server.example.toml).
    /// A flag given here overrides the same setting in the file.
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Which parts to run.
    #[arg(long, value_enum, default_value = "both")]
    pub(super) role: Role,
    /// Where the SQLite database lives (and, with any backend, uploaded
    /// debug info and the debuginfod cache).
    #[arg(long, default_value_os_t = default_data_dir())]
    pub(super) data_dir: PathBuf,
    #[command(flatten)]
    pub(super) storage: StorageArgs,
    /// Address of the web UI and HTTP API (query role), or of /metrics alone
    /// (ingest role).
    #[arg(long, default_value = DEFAULT_HTTP, value_parser = parse_addr)]
    pub(super) http: SocketAddr,
    /// Address of the gRPC ingest endpoint (ingest role).
    #[arg(long, default_value = DEFAULT_INGEST, value_parser = parse_addr)]
    pub(super) ingest: SocketAddr,
    #[command(flatten)]
    pub(super) symbols: AggregatorArgs,
    #[command(flatten)]
    pub(super) deploys: DeployCompareArgs,
    #[command(flatten)]
    pub(super) security: ServerSecurityArgs,
}

/// Which storage backend `augur server` uses: SQLite in the data directory
/// unless a ClickHouse server is named.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Store profiles in ClickHouse at this HTTP or HTTPS URL (e.g.
    /// http://127.0.0.1:8123, https://ch.example:8443) instead of SQLite.
    /// The password, if any, comes from the AUGUR_CLICKHOUSE_PASSWORD
    /// environment variable.
    #[arg(long, value_name = "URL")]
    clickhouse: Option<String>,
    /// ClickHouse database for Augur's tables; created if missing.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "augur",
        requires = "clickhouse"
    )]
    clickhouse_database: String,
    /// ClickHouse user. It and the password travel in the
    /// X-ClickHouse-User and X-ClickHouse-Key headers, never in the URL.
    #[arg(long, value_name = "USER", requires = "clickhouse")]
    clickhouse_user: Option<String>,
    /// Trust this PEM CA for an https:// ClickHouse (and its shards)
    /// instead of the system's roots (which SSL_CERT_FILE may replace).
    #[arg(long, value_name = "FILE", requires = "clickhouse")]
    clickhouse_ca: Option<PathBuf>,
    /// Shard tables over this cluster of the ClickHouse servers'
    /// `remote_servers` configuration.
    #[arg(long, value_name = "NAME", requires_all = ["clickhouse", "clickhouse_shard"])]
    clickhouse_cluster: Option<String>,
    /// HTTP URL of one shard of the cluster, to create its local tables;
    /// give every shard.
    #[arg(long, value_name = "URL", requires = "clickhouse_cluster")]
    clickhouse_shard: Vec<String>,
    /// Sum a minute window per service once no batch has reached it for
    /// this long (a later batch has it summed again).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "clickhouse")]
    clickhouse_settle_after: Option<std::time::Duration>,
    /// Read profiles without label matchers and fleet reports from the
    /// sample rows of every host, not the settled per-service rows (for
    /// comparisons).
    #[arg(long, requires = "clickhouse")]
    clickhouse_no_settled_reads: bool,
    /// Keep no stacks and frames in memory between profile queries: read
    /// them from ClickHouse every time (for comparisons; the cache holds
    /// at most about 120 MB).
    #[arg(long, requires = "clickhouse")]
    clickhouse_no_read_cache: bool,
}

impl StorageArgs {
    /// The ClickHouse settings, or `None` for SQLite in the data directory;
    /// a CA file is read now.
    pub(super) fn clickhouse_config(
        &self,
    ) -> anyhow::Result<Option<augur_storage::ClickHouseConfig>> {
        let Some(url) = self.clickhouse.as_ref() else {
            return Ok(None);
        };
        let mut config = augur_storage::ClickHouseConfig::single(url);
        config.trust =
            Trust::from_ca_file(self.clickhouse_ca.as_deref()).context("--clickhouse-ca")?;
        config.database = self.clickhouse_database.clone();
        config.user = self.clickhouse_user.clone();
        config.password = std::env::var("AUGUR_CLICKHOUSE_PASSWORD").ok();
        config.cluster = self.clickhouse_cluster.clone();
        config.shard_urls = self.clickhouse_shard.clone();
        if let Some(after) = self.clickhouse_settle_after {
            config.settle_after = after;
        }
        config.read_settled = !self.clickhouse_no_settled_reads;
        if self.clickhouse_no_read_cache {
            config.read_cache = augur_storage::ReadCacheBounds::NONE;
        }
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debuginfod_flags_win_over_the_environment() {
        let flags = vec!["https://a.example".to_owned()];
        assert_eq!(
            debuginfod_urls(&flags, Some("https://b.example")).unwrap(),
            flags
        );
    }

    #[test]
    fn debuginfod_urls_come_from_the_environment_without_flags() {
        assert_eq!(
            debuginfod_urls(
                &[],
                Some("  https://a.example\thttp://b.example:8002/ file:///srv/debug ")
            )
            .unwrap(),
            vec!["https://a.example", "http://b.example:8002/"]
        );
        assert!(debuginfod_urls(&[], Some("")).unwrap().is_empty());
        assert!(debuginfod_urls(&[], None).unwrap().is_empty());
    }

    #[test]
    fn a_debuginfod_flag_must_be_http() {
        let error = debuginfod_urls(&["ftp://x".to_owned()], None).unwrap_err();
        assert!(error.to_string().contains("ftp://x"), "{error}");
    }
}
