//! The server's configuration file, `augur server --config FILE` (and
//! `augur up --server-config FILE`): TOML with unknown keys refused, one key
//! for each flag of `augur server` (sections group them; the commented
//! example is `docs/server.example.toml`).
//!
//! The file stands for the flags it names: they go before the command
//! line's, so clap checks each value exactly as it checks the flag, the
//! defaults stay in one place, and a flag given on the command line
//! overrides the file's setting.

use std::ffi::OsString;
use std::path::Path;

use anyhow::Context;
use clap::Parser;
use serde::Deserialize;

use super::args::{ServerArgs, UpArgs};

/// The file as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// `--role`.
    role: Option<String>,
    /// `--data-dir`.
    data_dir: Option<String>,
    /// `--http`.
    http: Option<String>,
    /// `--ingest`.
    ingest: Option<String>,
    #[serde(default)]
    clickhouse: ClickHouseSection,
    #[serde(default)]
    aggregator: AggregatorSection,
    #[serde(default)]
    retention: RetentionSection,
    #[serde(default)]
    symbols: SymbolsSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    deploys: DeploysSection,
    #[serde(default)]
    security: SecuritySection,
}

/// `[clickhouse]`: the `--clickhouse*` flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickHouseSection {
    url: Option<String>,
    database: Option<String>,
    user: Option<String>,
    ca: Option<String>,
    cluster: Option<String>,
    shards: Option<Vec<String>>,
    settle_after: Option<String>,
    /// `false`: `--clickhouse-no-settled-reads`.
    settled_reads: Option<bool>,
    /// `false`: `--clickhouse-no-read-cache`.
    read_cache: Option<bool>,
}

/// `[aggregator]`: how much ingest holds and when it stores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AggregatorSection {
    max_in_flight: Option<u64>,
    flush_interval: Option<String>,
    max_buffered_bytes: Option<u64>,
    max_log_bytes: Option<u64>,
}

/// `[retention]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionSection {
    keep_minutes: Option<String>,
    keep_hours: Option<String>,
    max_storage_bytes: Option<u64>,
}

/// `[symbols]`: where names come from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolsSection {
    symbolizer_threads: Option<u64>,
    debug_dirs: Option<Vec<String>>,
    debuginfod: Option<Vec<String>>,
    debuginfod_ca: Option<String>,
    symbol_retry: Option<String>,
    /// `false`: `--no-path-hints`.
    path_hints: Option<bool>,
}

/// `[limits]`: the limits on what agents send.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_batch_bytes: Option<u64>,
    max_batch_inflated_bytes: Option<u64>,
    max_decode_memory: Option<u64>,
    max_stacks_per_batch: Option<u64>,
    max_batch_items: Option<u64>,
    max_stack_depth: Option<u64>,
    max_labels: Option<u64>,
    max_label_length: Option<u64>,
    max_label_values: Option<u64>,
    label_values_window: Option<String>,
    max_services: Option<u64>,
    max_tracked_label_values: Option<u64>,
    max_debuginfo_bytes: Option<u64>,
}

/// `[deploys]`: automatic deploy comparisons.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploysSection {
    compare_min_samples: Option<u64>,
    compare_interval: Option<String>,
}

/// `[security]`: TLS and token files (never tokens themselves).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecuritySection {
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_client_ca: Option<String>,
    ingest_token_file: Option<String>,
    allow_anonymous_ingest: Option<bool>,
    read_token_file: Option<String>,
    admin_token_file: Option<String>,
    allow_anonymous_admin: Option<bool>,
    http_tls_cert: Option<String>,
    http_tls_key: Option<String>,
}

/// One setting of the file as the flag it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFlag {
    /// Where it is in the file, e.g. `limits.max_labels`.
    pub key: &'static str,
    /// The flag, e.g. `--max-labels`.
    pub flag: &'static str,
    /// Its value; `None` for a switch.
    pub value: Option<String>,
}

#[derive(Default)]
struct Flags(Vec<FileFlag>);

impl Flags {
    fn value(&mut self, key: &'static str, flag: &'static str, value: &Option<impl ToString>) {
        if let Some(value) = value {
            self.0.push(FileFlag {
                key,
                flag,
                value: Some(value.to_string()),
            });
        }
    }

    fn values(&mut self, key: &'static str, flag: &'static str, values: &Option<Vec<String>>) {
        for value in values.iter().flatten() {
            self.value(key, flag, &Some(value));
        }
    }

    /// A switch the file turns on with `on`.
    fn switch(&mut self, key: &'static str, flag: &'static str, on: bool) {
        if on {
            self.0.push(FileFlag {
                key,
                flag,
                value: None,
            });
        }
    }
}

impl ServerFile {
    /// The flags this file stands for, in the file's order.
    pub fn flags(&self) -> Vec<FileFlag> {
        let mut f = Flags::default();
        f.value("role", "--role", &self.role);
        f.value("data_dir", "--data-dir", &self.data_dir);
        f.value("http", "--http", &self.http);
        f.value("ingest", "--ingest", &self.ingest);
        let c = &self.clickhouse;
        f.value("clickhouse.url", "--clickhouse", &c.url);
        f.value("clickhouse.database", "--clickhouse-database", &c.database);
        f.value("clickhouse.user", "--clickhouse-user", &c.user);
        f.value("clickhouse.ca", "--clickhouse-ca", &c.ca);
        f.value("clickhouse.cluster", "--clickhouse-cluster", &c.cluster);
        f.values("clickhouse.shards", "--clickhouse-shard", &c.shards);
        let settle = &c.settle_after;
        f.value(
            "clickhouse.settle_after",
            "--clickhouse-settle-after",
            settle,
        );
        let no_settled = c.settled_reads == Some(false);
        f.switch(
            "clickhouse.settled_reads",
            "--clickhouse-no-settled-reads",
            no_settled,
        );
        let no_cache = c.read_cache == Some(false);
        f.switch(
            "clickhouse.read_cache",
            "--clickhouse-no-read-cache",
            no_cache,
        );
        let a = &self.aggregator;
        f.value(
            "aggregator.max_in_flight",
            "--max-in-flight",
            &a.max_in_flight,
        );
        f.value(
            "aggregator.flush_interval",
            "--flush-interval",
            &a.flush_interval,
        );
        let buffered = &a.max_buffered_bytes;
        f.value(
            "aggregator.max_buffered_bytes",
            "--max-buffered-bytes",
            buffered,
        );
        f.value(
            "aggregator.max_log_bytes",
            "--max-log-bytes",
            &a.max_log_bytes,
        );
        let r = &self.retention;
        f.value("retention.keep_minutes", "--keep-minutes", &r.keep_minutes);
        f.value("retention.keep_hours", "--keep-hours", &r.keep_hours);
        let bytes = &r.max_storage_bytes;
        f.value("retention.max_storage_bytes", "--max-storage-bytes", bytes);
        let s = &self.symbols;
        let threads = &s.symbolizer_threads;
        f.value(
            "symbols.symbolizer_threads",
            "--symbolizer-threads",
            threads,
        );
        f.values("symbols.debug_dirs", "--debug-dir", &s.debug_dirs);
        f.values("symbols.debuginfod", "--debuginfod", &s.debuginfod);
        f.value("symbols.debuginfod_ca", "--debuginfod-ca", &s.debuginfod_ca);
        f.value("symbols.symbol_retry", "--symbol-retry", &s.symbol_retry);
        let no_hints = s.path_hints == Some(false);
        f.switch("symbols.path_hints", "--no-path-hints", no_hints);
        let l = &self.limits;
        for (key, flag, value) in [
            (
                "limits.max_batch_bytes",
                "--max-batch-bytes",
                l.max_batch_bytes,
            ),
            (
                "limits.max_batch_inflated_bytes",
                "--max-batch-inflated-bytes",
                l.max_batch_inflated_bytes,
            ),
            (
                "limits.max_decode_memory",
                "--max-decode-memory",
                l.max_decode_memory,
            ),
            (
                "limits.max_stacks_per_batch",
                "--max-stacks-per-batch",
                l.max_stacks_per_batch,
            ),
            (
                "limits.max_batch_items",
                "--max-batch-items",
                l.max_batch_items,
            ),
            (
                "limits.max_stack_depth",
                "--max-stack-depth",
                l.max_stack_depth,
            ),
            ("limits.max_labels", "--max-labels", l.max_labels),
            (
                "limits.max_label_length",
                "--max-label-length",
                l.max_label_length,
            ),
            (
                "limits.max_label_values",
                "--max-label-values",
                l.max_label_values,
            ),
            ("limits.max_services", "--max-services", l.max_services),
            (
                "limits.max_tracked_label_values",
                "--max-tracked-label-values",
                l.max_tracked_label_values,
            ),
            (
                "limits.max_debuginfo_bytes",
                "--max-debuginfo-bytes",
                l.max_debuginfo_bytes,
            ),
        ] {
            f.value(key, flag, &value);
        }
        let window = &l.label_values_window;
        f.value(
            "limits.label_values_window",
            "--label-values-window",
            window,
        );
        let d = &self.deploys;
        let min = &d.compare_min_samples;
        f.value("deploys.compare_min_samples", "--compare-min-samples", min);
        let interval = &d.compare_interval;
        f.value("deploys.compare_interval", "--compare-interval", interval);
        let t = &self.security;
        f.value("security.tls_cert", "--tls-cert", &t.tls_cert);
        f.value("security.tls_key", "--tls-key", &t.tls_key);
        f.value(
            "security.tls_client_ca",
            "--tls-client-ca",
            &t.tls_client_ca,
        );
        let ingest_tokens = &t.ingest_token_file;
        f.value(
            "security.ingest_token_file",
            "--ingest-token-file",
            ingest_tokens,
        );
        let anonymous_ingest = t.allow_anonymous_ingest == Some(true);
        f.switch(
            "security.allow_anonymous_ingest",
            "--allow-anonymous-ingest",
            anonymous_ingest,
        );
        let read = &t.read_token_file;
        f.value("security.read_token_file", "--read-token-file", read);
        let admin = &t.admin_token_file;
        f.value("security.admin_token_file", "--admin-token-file", admin);
        let anonymous_admin = t.allow_anonymous_admin == Some(true);
        f.switch(
            "security.allow_anonymous_admin",
            "--allow-anonymous-admin",
            anonymous_admin,
        );
        f.value(
            "security.http_tls_cert",
            "--http-tls-cert",
            &t.http_tls_cert,
        );
        f.value("security.http_tls_key", "--http-tls-key", &t.http_tls_key);
        f.0
    }
}

/// Parses configuration text; errors name the key and its line.
pub fn parse(text: &str) -> Result<ServerFile, toml::de::Error> {
    toml::from_str(text)
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> anyhow::Result<ServerFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading server config {}", path.display()))?;
    parse(&text).map_err(|error| {
        anyhow::anyhow!(
            "server config {}: {}",
            path.display(),
            error.to_string().trim_end()
        )
    })
}

/// `file`'s flags, then the command line's (`command_line`: what follows
/// `server`), leaving out every file flag the command line gives itself.
pub fn merged_args(file: &[FileFlag], command_line: &[OsString]) -> Vec<OsString> {
    let given = |flag: &str| {
        command_line.iter().any(|arg| {
            let arg = arg.to_string_lossy();
            arg == flag
                || arg
                    .strip_prefix(flag)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    };
    let mut args = Vec::new();
    for setting in file.iter().filter(|setting| !given(setting.flag)) {
        args.push(OsString::from(setting.flag));
        if let Some(value) = &setting.value {
            args.push(OsString::from(value));
        }
    }
    args.extend(command_line.iter().cloned());
    args
}

/// One command's arguments alone (`augur server`'s or `augur up`'s), to
/// parse the merged flags with.
#[derive(Debug, Parser)]
struct WithFile<A: clap::Args> {
    #[command(flatten)]
    args: A,
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(error: &clap::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The arguments of `augur COMMAND` (`server` or `up`) from the config file
/// at `path` and `command_line` (what follows the command), the command
/// line winning. A value of the file that its flag would refuse, or a key
/// the command has no flag for, is an error naming the file and the key.
fn args_with_file<A: clap::Args + clap::FromArgMatches>(
    command: &str,
    path: &Path,
    command_line: &[OsString],
) -> anyhow::Result<A> {
    let flags = load(path)?.flags();
    let program = || std::iter::once(OsString::from(format!("augur {command}")));
    // The file alone first, so a bad value is blamed on its key.
    let file_only = merged_args(&flags, &[]);
    if let Err(error) = WithFile::<A>::try_parse_from(program().chain(file_only)) {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        let arg = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => Some(arg.clone()),
            _ => None,
        };
        let setting = arg.as_deref().and_then(|arg| {
            let flag = arg.split([' ', '=']).next().unwrap_or(arg);
            flags.iter().find(|setting| setting.flag == flag)
        });
        let what = match error.kind() {
            ErrorKind::InvalidValue | ErrorKind::ValueValidation => Some(clap_message(&error)),
            ErrorKind::UnknownArgument => Some(format!("not a setting of augur {command}")),
            _ => None,
        };
        if let (Some(what), Some(setting)) = (what, setting) {
            anyhow::bail!("server config {}: {}: {what}", path.display(), setting.key);
        }
    }
    let merged = merged_args(&flags, command_line);
    let parsed = WithFile::<A>::try_parse_from(program().chain(merged)).map_err(|error| {
        anyhow::anyhow!(
            "server config {} with the command line: {}",
            path.display(),
            clap_message(&error)
        )
    })?;
    Ok(parsed.args)
}

/// `augur server`'s arguments from the config file at `path` and
/// `command_line` (what follows `server`), the command line winning.
pub fn server_args(path: &Path, command_line: &[OsString]) -> anyhow::Result<ServerArgs> {
    args_with_file("server", path, command_line)
}

/// What follows `command` on this process's command line.
fn command_line_after(command: &str) -> Vec<OsString> {
    std::env::args_os()
        .skip(1)
        .skip_while(|arg| arg != command)
        .skip(1)
        .collect()
}

/// [`server_args`] with this process's command line.
pub fn server_args_of_process(path: &Path) -> anyhow::Result<ServerArgs> {
    server_args(path, &command_line_after("server"))
}

/// `augur up`'s arguments from the server config file at `path` (its
/// server keys; `role` and `[clickhouse]` are `augur server`'s alone) and
/// this process's command line, the command line winning.
pub fn up_args_of_process(path: &Path) -> anyhow::Result<UpArgs> {
    args_with_file("up", path, &command_line_after("up"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("server.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_example_parses_with_its_comments_too() {
        let text = include_str!("../../../docs/server.example.toml");
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), text);
        let args = server_args(&path, &[]).unwrap();
        assert_eq!(args.http, "127.0.0.1:7080".parse().unwrap());
        // Every commented setting, uncommented, is a valid key and type.
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let keys: Vec<_> = parse(&uncommented)
            .unwrap()
            .flags()
            .into_iter()
            .map(|f| f.key)
            .collect();
        for key in [
            "clickhouse.url",
            "symbols.debuginfod",
            "security.http_tls_key",
        ] {
            assert!(keys.contains(&key), "{key} not in {keys:?}");
        }
    }

    #[test]
    fn file_settings_become_flags_in_order() {
        let file = parse(
            r#"
            http = "0.0.0.0:7080"
            [symbols]
            debug_dirs = ["/a", "/b"]
            path_hints = false
            [security]
            allow_anonymous_admin = false
            "#,
        )
        .unwrap();
        let flags: Vec<_> = file
            .flags()
            .into_iter()
            .map(|f| (f.flag, f.value))
            .collect();
        assert_eq!(
            flags,
            vec![
                ("--http", Some("0.0.0.0:7080".to_owned())),
                ("--debug-dir", Some("/a".to_owned())),
                ("--debug-dir", Some("/b".to_owned())),
                ("--no-path-hints", None),
            ]
        );
    }

    #[test]
    fn command_line_flags_replace_the_files() {
        let file = parse(
            "http = \"127.0.0.1:1\"\ningest = \"127.0.0.1:2\"\n[symbols]\ndebug_dirs = [\"/a\"]\n",
        )
        .unwrap();
        let merged = merged_args(
            &file.flags(),
            &os(&["--http=127.0.0.1:3", "--debug-dir", "/c"]),
        );
        assert_eq!(
            merged,
            os(&[
                "--ingest",
                "127.0.0.1:2",
                "--http=127.0.0.1:3",
                "--debug-dir",
                "/c"
            ])
        );
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "http = \"127.0.0.1:1\"\n[aggregator]\nmax_in_flight = 7\n",
        );
        let args = server_args(&path, &os(&["--http", "127.0.0.1:9"])).unwrap();
        assert_eq!(args.http, "127.0.0.1:9".parse().unwrap());
        let args = server_args(&path, &[]).unwrap();
        assert_eq!(args.http, "127.0.0.1:1".parse().unwrap());
        assert_eq!(args.ingest, crate::DEFAULT_INGEST.parse().unwrap());
    }

    #[test]
    fn unknown_keys_and_bad_types_name_the_key() {
        let error = parse("[limits]\nmax_lables = 3\n").unwrap_err().to_string();
        assert!(error.contains("max_lables"), "{error}");
        let error = parse("[aggregator]\nmax_in_flight = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_in_flight"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "colour = \"blue\"\n");
        let error = format!("{:#}", server_args(&path, &[]).unwrap_err());
        assert!(error.contains("colour"), "{error}");
        assert!(error.contains("server.toml"), "{error}");
    }

    #[test]
    fn up_takes_the_server_keys_it_has_and_names_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "http = \"127.0.0.1:5\"\n[retention]\nkeep_hours = \"30d\"\n",
        );
        let args: UpArgs = args_with_file("up", &path, &os(&["--frequency", "49"])).unwrap();
        assert_eq!(args.http, "127.0.0.1:5".parse().unwrap());
        for (text, key) in [
            ("role = \"query\"\n", "role"),
            ("[clickhouse]\nurl = \"http://ch:8123\"\n", "clickhouse.url"),
        ] {
            let path = write(dir.path(), text);
            let error = args_with_file::<UpArgs>("up", &path, &[]).unwrap_err();
            let error = format!("{error:#}");
            assert!(error.contains(key), "{error}");
            assert!(error.contains("not a setting of augur up"), "{error}");
        }
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [
            (
                "[aggregator]\nmax_in_flight = 5000\n",
                "aggregator.max_in_flight",
            ),
            (
                "[retention]\nkeep_hours = \"3 weeks\"\n",
                "retention.keep_hours",
            ),
            ("http = \"localhost\"\n", "http"),
            ("role = \"everything\"\n", "role"),
        ] {
            let path = write(dir.path(), text);
            let error = format!("{:#}", server_args(&path, &[]).unwrap_err());
            assert!(error.contains(key), "{text}: {error}");
            assert!(error.contains("server.toml"), "{text}: {error}");
        }
    }
}
