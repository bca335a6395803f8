//! A debuginfod client: fetches debug info by build-id from debuginfod
//! servers (`GET /buildid/<hex>/debuginfo`), as elfutils' `debuginfod` and
//! the public distribution servers serve it.
//!
//! Downloads land in a cache laid out like `/usr/lib/debug`
//! (`.build-id/xx/rest.debug`), written to a temporary name and renamed only
//! after their own build-id was checked, so a partial or wrong file is never
//! used. A build-id no server has, or a server that cannot be reached, is
//! remembered for `retry_after` before it is asked for again: a server that
//! was down names the frames once it is back, without re-ingesting anything.
//!
//! Servers are reached over `http://` or `https://`; TLS trusts the
//! system's roots or the CA file of [`DebuginfodConfig::trust`]. Which URLs
//! to use (flags, `DEBUGINFOD_URLS`) is the caller's business: a library
//! reads no environment.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use augur_http_client::Trust;
use augur_profile::FileId;

use crate::elf::read_build_id;

/// How to reach debuginfod servers.
#[derive(Clone, Debug)]
pub struct DebuginfodConfig {
    /// Server base URLs, tried in order.
    pub urls: Vec<String>,
    /// Where downloaded files are kept.
    pub cache_dir: PathBuf,
    /// How long a miss (404 or an unreachable server) is remembered.
    pub retry_after: Duration,
    /// Largest file downloaded.
    pub max_bytes: u64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Certificates trusted for `https://` servers.
    pub trust: Trust,
}

impl DebuginfodConfig {
    /// Servers at `urls`, caching under `cache_dir`, with defaults otherwise.
    pub fn new(urls: Vec<String>, cache_dir: PathBuf) -> Self {
        Self {
            urls,
            cache_dir,
            retry_after: Duration::from_secs(60),
            max_bytes: 2 << 30,
            timeout: Duration::from_secs(60),
            trust: Trust::System,
        }
    }
}

/// Fetches and caches debug info by build-id.
#[derive(Debug)]
pub struct DebuginfodClient {
    config: DebuginfodConfig,
    agent: ureq::Agent,
    misses: HashMap<(FileId, Artifact), Instant>,
}

/// What a debuginfod server serves for a build-id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Artifact {
    Debuginfo,
    Executable,
}

/// Why a fetch found nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum FetchMiss {
    /// Asked recently; not asking again before the retry interval.
    RecentlyMissed,
    /// No server has it, or none could be reached; the text says which.
    NotFound(String),
}

impl DebuginfodClient {
    /// A client for `config`.
    pub fn new(config: DebuginfodConfig) -> Self {
        let agent = augur_http_client::agent(&config.trust, Some(config.timeout));
        Self {
            config,
            agent,
            misses: HashMap::new(),
        }
    }

    /// Where a build-id's file is cached.
    pub fn cache_path(&self, build_id: &FileId) -> PathBuf {
        let hex = build_id.to_hex();
        self.config
            .cache_dir
            .join(".build-id")
            .join(&hex[..2])
            .join(format!("{}.debug", &hex[2..]))
    }

    /// Forgets remembered misses, so the next fetch asks the servers again.
    pub fn forget_misses(&mut self) {
        self.misses.clear();
    }

    /// The debug file for `build_id`: from the cache, else downloaded.
    pub fn fetch(&mut self, build_id: &FileId) -> Result<PathBuf, FetchMiss> {
        self.fetch_artifact(build_id, Artifact::Debuginfo)
    }

    /// The original executable or library for `build_id`, whose program
    /// headers map file offsets to addresses for a separate debug file.
    pub fn fetch_executable(&mut self, build_id: &FileId) -> Result<PathBuf, FetchMiss> {
        self.fetch_artifact(build_id, Artifact::Executable)
    }

    fn fetch_artifact(
        &mut self,
        build_id: &FileId,
        artifact: Artifact,
    ) -> Result<PathBuf, FetchMiss> {
        let cached = match artifact {
            Artifact::Debuginfo => self.cache_path(build_id),
            Artifact::Executable => self.cache_path(build_id).with_extension(""),
        };
        if read_build_id(&cached).as_ref() == Some(build_id) {
            return Ok(cached);
        }
        if let Some(when) = self.misses.get(&(build_id.clone(), artifact)) {
            if when.elapsed() < self.config.retry_after {
                return Err(FetchMiss::RecentlyMissed);
            }
        }
        let mut reasons = Vec::new();
        for url in &self.config.urls {
            match self.download(url, build_id, artifact, &cached) {
                Ok(()) => {
                    self.misses.remove(&(build_id.clone(), artifact));
                    return Ok(cached);
                }
                Err(reason) => reasons.push(format!("{url}: {reason}")),
            }
        }
        self.misses
            .insert((build_id.clone(), artifact), Instant::now());
        Err(FetchMiss::NotFound(reasons.join("; ")))
    }

    fn download(
        &self,
        base: &str,
        build_id: &FileId,
        artifact: Artifact,
        dest: &Path,
    ) -> Result<(), String> {
        // The build-id is hex by construction, so it cannot escape the URL
        // path or the cache directory.
        let kind = match artifact {
            Artifact::Debuginfo => "debuginfo",
            Artifact::Executable => "executable",
        };
        let url = format!(
            "{}/buildid/{}/{kind}",
            base.trim_end_matches('/'),
            build_id.to_hex()
        );
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| augur_http_client::explain(&e))?;
        let status = response.status();
        if status.as_u16() == 404 {
            return Err("not found".into());
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let dir = dest.parent().ok_or("cache path has no parent")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let partial = dir.join(format!(
            ".{}.partial-{}",
            build_id.to_hex(),
            std::process::id()
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&partial)
                .map_err(|e| format!("creating {}: {e}", partial.display()))?;
            let mut body = response
                .body_mut()
                .as_reader()
                .take(self.config.max_bytes + 1);
            let written =
                std::io::copy(&mut body, &mut file).map_err(|e| format!("downloading: {e}"))?;
            if written > self.config.max_bytes {
                return Err(format!(
                    "larger than the {}-byte limit",
                    self.config.max_bytes
                ));
            }
            file.sync_all().map_err(|e| format!("syncing: {e}"))?;
            if read_build_id(&partial).as_ref() != Some(build_id) {
                return Err("the server sent a file with another build-id".into());
            }
            std::fs::rename(&partial, dest).map_err(|e| format!("renaming into the cache: {e}"))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_server_is_a_remembered_miss() {
        let dir = tempfile::tempdir().unwrap();
        // Port 1 on loopback: nothing listens there.
        let mut config =
            DebuginfodConfig::new(vec!["http://127.0.0.1:1".into()], dir.path().into());
        config.timeout = Duration::from_secs(2);
        let mut client = DebuginfodClient::new(config);
        let id = FileId::from_bytes(&[0xab; 20]).unwrap();
        assert!(matches!(client.fetch(&id), Err(FetchMiss::NotFound(_))));
        assert_eq!(client.fetch(&id), Err(FetchMiss::RecentlyMissed));
        client.forget_misses();
        assert!(matches!(client.fetch(&id), Err(FetchMiss::NotFound(_))));
    }

    #[test]
    fn cache_paths_follow_the_build_id_layout() {
        let client = DebuginfodClient::new(DebuginfodConfig::new(vec![], "/cache".into()));
        let id = FileId::parse_hex("abcdef01").unwrap();
        assert_eq!(
            client.cache_path(&id),
            PathBuf::from("/cache/.build-id/ab/cdef01.debug")
        );
    }
}
