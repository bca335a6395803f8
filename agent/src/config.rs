//! The agent's settings: the typed [`AgentConfig`] that [`start`](crate::start)
//! runs with, and the TOML configuration file, parsed with unknown keys
//! refused, then validated into it. Every setting of the file is optional;
//! the commented example is `docs/agent.example.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::identity::IdentityConfig;
use crate::identity::relabel::{self, RuleConfig};
use crate::sample::profiles::{ProfileKind, ProfileSpec};

/// Agent settings.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Aggregator URL, e.g. `http://127.0.0.1:7070`.
    pub server: String,
    /// Samples per second per CPU.
    pub frequency_hz: u64,
    /// How often maps are drained and a batch is sent.
    pub window: Duration,
    /// Host name put on every process.
    pub host: String,
    /// How processes are named and which are profiled.
    pub identity: IdentityConfig,
    /// Counter profiles taken besides on-CPU time.
    pub counter_profiles: Vec<ProfileSpec>,
    /// Directory of the on-disk spool: batches wait there until the server
    /// acknowledged them, across restarts.
    pub spool_dir: PathBuf,
    /// Bound of the spool in bytes; beyond it the oldest batches are dropped.
    pub spool_max_bytes: u64,
    /// Debug-info upload for binaries the server cannot name otherwise.
    pub upload: crate::debuginfo::UploadConfig,
    /// How user stacks are walked.
    pub unwinder: crate::unwind::Unwinder,
    /// TLS and bearer token for the server.
    pub security: crate::ship::transport::ClientSecurity,
    /// Which language runtimes' own frames are read.
    pub runtimes: crate::runtime::RuntimeConfig,
    /// Which processes the memory profile probes (when it is taken).
    pub memory: crate::sample::memory::MemoryOptions,
}

impl AgentConfig {
    /// Every profile to take: on-CPU time first, then the counters.
    pub fn profiles(&self) -> Vec<ProfileSpec> {
        std::iter::once(ProfileSpec::cpu(self.frequency_hz))
            .chain(self.counter_profiles.iter().copied())
            .collect()
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            server: "http://127.0.0.1:7070".into(),
            frequency_hz: 19,
            window: Duration::from_secs(10),
            host: host_name(),
            identity: IdentityConfig::default(),
            counter_profiles: Vec::new(),
            spool_dir: PathBuf::from("/var/lib/augur/spool"),
            spool_max_bytes: crate::ship::spool::DEFAULT_MAX_BYTES,
            upload: crate::debuginfo::UploadConfig::default(),
            unwinder: crate::unwind::Unwinder::default(),
            security: crate::ship::transport::ClientSecurity::default(),
            runtimes: crate::runtime::RuntimeConfig::default(),
            memory: crate::sample::memory::MemoryOptions::default(),
        }
    }
}

/// How long the agent sees a process before it gives the process's
/// binaries unwind tables (frame pointers until then). Building a table
/// parses the binary's `.eh_frame` (milliseconds to tens of milliseconds);
/// a process that lives shorter is sampled a few times at most, and on a
/// host that compiles code new short-lived binaries arrive by the hundred a
/// minute. `augur record` gives tables at once.
pub const DEFAULT_UNWIND_MIN_AGE: Duration = Duration::from_secs(3);

/// The host's name, from the kernel.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// Aggregator ingest URL.
    pub server: Option<String>,
    /// Samples per second per CPU.
    pub frequency_hz: Option<u64>,
    /// Drain and send interval, e.g. `10s`.
    pub window: Option<String>,
    /// Host label; the kernel's host name by default.
    pub host: Option<String>,
    /// Process identity settings.
    #[serde(default)]
    pub identity: IdentitySection,
    /// Profiles taken besides on-CPU time: `off-cpu[:MIN_BLOCK_NS]`,
    /// `page-faults[:PERIOD]`, `context-switches`, `cycles`, ...
    #[serde(default)]
    pub profiles: Vec<String>,
    /// On-disk spool settings.
    #[serde(default)]
    pub spool: SpoolSection,
    /// Relabel rules, applied in order.
    #[serde(default)]
    pub relabel: Vec<RuleConfig>,
    /// Debug-info upload settings.
    #[serde(default)]
    pub debuginfo: DebugInfoSection,
    /// Stack sampling settings.
    #[serde(default)]
    pub sampling: SamplingSection,
    /// A file holding the bearer token sent to the server (its first
    /// token); `AUGUR_INGEST_TOKEN` is used when not set.
    pub token_file: Option<std::path::PathBuf>,
    /// TLS settings for an `https://` server.
    #[serde(default)]
    pub tls: TlsSection,
    /// Which language runtimes' own frames are read.
    pub runtimes: Option<crate::runtime::RuntimeConfig>,
    /// The memory profile's settings.
    #[serde(default)]
    pub memory: MemorySection,
}

/// `[memory]`: which processes the memory profile probes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySection {
    /// Only processes whose name (comm) matches this regular expression;
    /// every process when not set.
    pub processes: Option<String>,
    /// Sampled allocations tracked until freed (default 65536).
    pub live_allocations: Option<u32>,
}

/// Compiles a memory `processes` pattern.
pub fn memory_processes(pattern: &str) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(pattern).map_err(|e| ConfigError::Invalid {
        key: "memory.processes",
        message: e.to_string(),
    })
}

/// `[sampling]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingSection {
    /// `auto` (unwind tables where binaries have them) or `frame-pointers`.
    pub unwinder: Option<String>,
}

/// `[tls]`: files are PEM.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// CA certificates to trust instead of the system's roots.
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate, for servers that require one (mutual TLS).
    pub cert: Option<std::path::PathBuf>,
    /// The client certificate's key.
    pub key: Option<std::path::PathBuf>,
    /// Name expected in the server's certificate, if not the URL's host.
    pub server_name: Option<String>,
}

/// `[debuginfo]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugInfoSection {
    /// Offer binaries' symbols to the server (default true).
    pub upload: Option<bool>,
    /// Upload pace in bytes per second.
    pub bytes_per_second: Option<u64>,
    /// Largest debug file sent, in bytes.
    pub max_file_bytes: Option<u64>,
}

/// `[spool]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// Directory of the spool.
    pub dir: Option<std::path::PathBuf>,
    /// Bound in bytes.
    pub max_bytes: Option<u64>,
}

/// `[identity]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    /// Environment variable holding the version of a process.
    pub version_env: Option<String>,
    /// The host's `/run` as the agent sees it (container runtimes' specs).
    pub runtime_dir: Option<std::path::PathBuf>,
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("parsing {path}: {message}")]
    Parse {
        /// File path.
        path: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid {key}: {message}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Why.
        message: String,
    },
    /// A relabel rule is unusable.
    #[error(transparent)]
    Relabel(#[from] relabel::RuleError),
    /// The token file cannot be read or holds no valid token.
    #[error(transparent)]
    Token(#[from] augur_wire::auth::TokenError),
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<AgentFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|e| match e {
        ConfigError::Parse { message, .. } => ConfigError::Parse {
            path: path.display().to_string(),
            message,
        },
        other => other,
    })
}

/// Parses configuration text.
pub fn parse(text: &str) -> Result<AgentFile, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: "<text>".into(),
        message: e.to_string(),
    })
}

impl AgentFile {
    /// Validates the file and writes its settings into `config`.
    pub fn apply(self, config: &mut crate::AgentConfig) -> Result<(), ConfigError> {
        if let Some(server) = self.server {
            if !(server.starts_with("http://") || server.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: "server",
                    message: format!("{server:?} is not an http:// or https:// URL"),
                });
            }
            config.server = server;
        }
        if let Some(hz) = self.frequency_hz {
            validate_frequency(hz)?;
            config.frequency_hz = hz;
        }
        if let Some(window) = self.window {
            config.window = parse_window(&window)?;
        }
        if let Some(host) = self.host {
            if host.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "host",
                    message: "must not be empty".into(),
                });
            }
            config.host = host;
        }
        config.counter_profiles = parse_profiles(&self.profiles, config.frequency_hz)?;
        if let Some(dir) = self.spool.dir {
            config.spool_dir = dir;
        }
        if let Some(max_bytes) = self.spool.max_bytes {
            if max_bytes < 1 << 20 {
                return Err(ConfigError::Invalid {
                    key: "spool.max_bytes",
                    message: format!("{max_bytes} is below the 1 MiB minimum"),
                });
            }
            config.spool_max_bytes = max_bytes;
        }
        if let Some(unwinder) = self.sampling.unwinder {
            config.unwinder = unwinder.parse().map_err(|message| ConfigError::Invalid {
                key: "sampling.unwinder",
                message,
            })?;
        }
        if let Some(pattern) = &self.memory.processes {
            config.memory.processes = Some(memory_processes(pattern)?);
        }
        if let Some(entries) = self.memory.live_allocations {
            if entries == 0 {
                return Err(ConfigError::Invalid {
                    key: "memory.live_allocations",
                    message: "must be at least 1".into(),
                });
            }
            config.memory.live_capacity = entries;
        }
        if let Some(runtimes) = self.runtimes {
            config.runtimes = runtimes;
        }
        if let Some(upload) = self.debuginfo.upload {
            config.upload.enabled = upload;
        }
        if let Some(rate) = self.debuginfo.bytes_per_second {
            if rate < 4096 {
                return Err(ConfigError::Invalid {
                    key: "debuginfo.bytes_per_second",
                    message: format!("{rate} is below the 4096 minimum"),
                });
            }
            config.upload.bytes_per_second = rate;
        }
        if let Some(max) = self.debuginfo.max_file_bytes {
            config.upload.max_file_bytes = max;
        }
        if let Some(path) = self.token_file {
            config.security.token = augur_wire::auth::read_token_file(&path)?.into_iter().next();
        }
        let tls = crate::ship::transport::ClientTls {
            ca: self.tls.ca,
            cert: self.tls.cert,
            key: self.tls.key,
            server_name: self.tls.server_name,
        };
        if !tls.is_empty() {
            config.security.tls = tls;
        }
        config.identity = IdentityConfig {
            version_env: self.identity.version_env.filter(|v| !v.is_empty()),
            rules: relabel::compile(&self.relabel)?,
            runtime_dir: self.identity.runtime_dir,
        };
        Ok(())
    }
}

/// Parses the extra profiles; on-CPU time is always taken and not listed.
pub fn parse_profiles(names: &[String], cpu_hz: u64) -> Result<Vec<ProfileSpec>, ConfigError> {
    let mut specs: Vec<ProfileSpec> = Vec::new();
    for name in names {
        let spec = ProfileSpec::parse(name, cpu_hz).map_err(|message| ConfigError::Invalid {
            key: "profiles",
            message,
        })?;
        if spec.kind == ProfileKind::Cpu {
            return Err(ConfigError::Invalid {
                key: "profiles",
                message: "cpu is always profiled; list only the others".into(),
            });
        }
        if specs.iter().any(|s| s.kind == spec.kind) {
            return Err(ConfigError::Invalid {
                key: "profiles",
                message: format!("{} is listed twice", spec.kind),
            });
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// Accepts 1..=10000 Hz.
pub fn validate_frequency(hz: u64) -> Result<(), ConfigError> {
    if (1..=10_000).contains(&hz) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key: "frequency_hz",
            message: format!("{hz} is outside 1..=10000"),
        })
    }
}

/// Parses a window such as `10s`, accepting 100 ms to 10 min.
pub fn parse_window(text: &str) -> Result<Duration, ConfigError> {
    let window = humantime::parse_duration(text).map_err(|e| ConfigError::Invalid {
        key: "window",
        message: format!("{text:?}: {e}"),
    })?;
    if window < Duration::from_millis(100) || window > Duration::from_secs(600) {
        return Err(ConfigError::Invalid {
            key: "window",
            message: format!("{text} is outside 100ms..=10m"),
        });
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../docs/agent.example.toml");
        let mut config = crate::AgentConfig::default();
        parse(text).unwrap().apply(&mut config).unwrap();
        assert_eq!(config.frequency_hz, 19);
        assert_eq!(config.window, Duration::from_secs(10));
        assert!(!config.identity.rules.is_empty());
        assert_eq!(config.counter_profiles.len(), 1);
        assert_eq!(config.counter_profiles[0].kind, ProfileKind::OffCpu);
    }

    #[test]
    fn the_daemonset_config_is_valid() {
        let manifest = include_str!("../../deploy/kubernetes/augur-agent.yaml");
        let block = manifest
            .split_once("agent.toml: |\n")
            .expect("the ConfigMap holds agent.toml")
            .1
            .split_once("\n---")
            .expect("the ConfigMap ends before the DaemonSet")
            .0;
        let text: String = block
            .lines()
            .map(|l| l.strip_prefix("    ").unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut config = crate::AgentConfig::default();
        parse(&text).unwrap().apply(&mut config).unwrap();
        assert_eq!(
            config.identity.runtime_dir.as_deref(),
            Some(std::path::Path::new("/host/run"))
        );
        assert_eq!(config.identity.rules.len(), 2);
    }

    #[test]
    fn tls_and_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "# ingest\n0123456789abcdef0123\n").unwrap();
        let text = format!(
            "server = \"https://augur.example:7070\"\ntoken_file = {:?}\n[tls]\nca = \"/etc/augur/ca.pem\"\ncert = \"/etc/augur/agent.pem\"\nkey = \"/etc/augur/agent.key\"\n",
            token.display().to_string()
        );
        let mut config = crate::AgentConfig::default();
        parse(&text).unwrap().apply(&mut config).unwrap();
        assert_eq!(
            config.security.token.as_ref().unwrap().expose(),
            "0123456789abcdef0123"
        );
        assert_eq!(
            config.security.tls.ca.as_deref(),
            Some(std::path::Path::new("/etc/augur/ca.pem"))
        );
        assert!(config.security.tls.key.is_some());
        std::fs::write(&token, "too-short\n").unwrap();
        let err = parse(&text).unwrap().apply(&mut config).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = parse("[tls]\nclient_cert = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("client_cert"), "{err}");
    }

    #[test]
    fn empty_file_keeps_defaults() {
        let mut config = crate::AgentConfig::default();
        parse("").unwrap().apply(&mut config).unwrap();
        assert_eq!(config.frequency_hz, 19);
        assert_eq!(config.unwinder, crate::unwind::Unwinder::Auto);
    }

    #[test]
    fn python_frames_are_on_by_default_and_can_be_turned_off() {
        let mut config = crate::AgentConfig::default();
        assert!(config.runtimes.python);
        parse("[runtimes]\npython = false\n")
            .unwrap()
            .apply(&mut config)
            .unwrap();
        assert!(!config.runtimes.python);
        let err = parse("[runtimes]\nruby = true\n").unwrap_err().to_string();
        assert!(err.contains("ruby"), "{err}");
    }

    #[test]
    fn the_unwinder_is_chosen_in_the_sampling_section() {
        let mut config = crate::AgentConfig::default();
        parse("[sampling]\nunwinder = \"auto\"\n")
            .unwrap()
            .apply(&mut config)
            .unwrap();
        assert_eq!(config.unwinder, crate::unwind::Unwinder::Auto);
        parse("[sampling]\nunwinder = \"frame-pointers\"\n")
            .unwrap()
            .apply(&mut config)
            .unwrap();
        assert_eq!(config.unwinder, crate::unwind::Unwinder::FramePointers);
        let err = parse("[sampling]\nunwinder = \"dwarf\"\n")
            .unwrap()
            .apply(&mut config)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sampling.unwinder") && err.contains("dwarf"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let err = parse("frequncy_hz = 19\n").unwrap_err().to_string();
        assert!(err.contains("frequncy_hz"), "{err}");
        let err = parse("[debuginfo]\nuplod = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("uplod"), "{err}");
        let mut config = crate::AgentConfig::default();
        let err = parse("frequency_hz = 0\n")
            .unwrap()
            .apply(&mut config)
            .unwrap_err();
        assert!(err.to_string().contains("frequency_hz"));
        let err = parse("window = \"3 fortnights\"\n")
            .unwrap()
            .apply(&mut config)
            .unwrap_err();
        assert!(err.to_string().contains("window"));
        let err = parse("server = \"127.0.0.1:7070\"\n")
            .unwrap()
            .apply(&mut config)
            .unwrap_err();
        assert!(err.to_string().contains("server"));
        for (text, expected) in [
            ("profiles = [\"off-cpu\", \"off-cpu\"]\n", "twice"),
            ("profiles = [\"cpu\"]\n", "always"),
            ("profiles = [\"gpu-time\"]\n", "unknown profile"),
            ("[spool]\nmax_bytes = 10\n", "spool.max_bytes"),
            (
                "[debuginfo]\nbytes_per_second = 1\n",
                "debuginfo.bytes_per_second",
            ),
        ] {
            let err = parse(text)
                .unwrap()
                .apply(&mut config)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        let err = parse("[[relabel]]\naction = \"keep\"\n")
            .unwrap()
            .apply(&mut config)
            .unwrap_err();
        assert!(err.to_string().contains("rule 1"));
    }
}
