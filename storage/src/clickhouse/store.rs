//! [`ClickHouseStore`] and its configuration: the connection to the
//! server (or every shard), the state one node keeps between calls, and
//! the names of the tables every job reads and writes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use augur_http_client::Trust;
use augur_profile::ProfileType;
use serde::Deserialize;

use super::client::{Client, quote};
use super::read_cache::{ReadCache, ReadCacheBounds};
use super::rows::Queued;
use super::schema;
use crate::error::StorageError;

/// How long a minute window must go without batches before it is settled,
/// by default: agents send a window's last batch within seconds of its end,
/// and spooled retries after an outage are re-settled anyway.
pub const DEFAULT_SETTLE_AFTER: Duration = Duration::from_secs(180);

/// Where ClickHouse is and how Augur's tables are laid out in it.
/// `Debug` shows everything but the password.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// HTTP(S) URL of the server statements go to, e.g.
    /// `http://127.0.0.1:8123` or `https://ch.example:8443`.
    pub url: String,
    /// Database holding Augur's tables; created if missing.
    pub database: String,
    /// User and password, if the server wants them; sent in headers.
    pub user: Option<String>,
    /// See `user`.
    pub password: Option<String>,
    /// Certificates trusted for `https://` servers (every shard too).
    pub trust: Trust,
    /// A cluster from the servers' `remote_servers` configuration: tables
    /// are sharded over it. `None`: one server, plain tables.
    pub cluster: Option<String>,
    /// Every shard's HTTP URL, for creating the local tables (ClickHouse
    /// cannot do `ON CLUSTER` without ZooKeeper). Only with `cluster`.
    pub shard_urls: Vec<String>,
    /// Longest a statement may take.
    pub timeout: Duration,
    /// A minute window is summed per service once no batch has reached it
    /// for this long ([`crate::Storage::settle`]); a later batch makes it
    /// be summed again.
    pub settle_after: Duration,
    /// Whether profiles without label matchers and fleet reports read the
    /// settled per-service rows; `false` reads `samples FINAL` as before
    /// (for comparisons).
    pub read_settled: bool,
    /// How many stacks and frames a query node keeps in memory once read
    /// (they never change); [`ReadCacheBounds::NONE`] reads them every
    /// time.
    pub read_cache: ReadCacheBounds,
}

impl ClickHouseConfig {
    /// One server at `url`, database `augur`.
    pub fn single(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            database: "augur".into(),
            user: None,
            password: None,
            trust: Trust::System,
            cluster: None,
            shard_urls: Vec::new(),
            timeout: Duration::from_secs(30),
            settle_after: DEFAULT_SETTLE_AFTER,
            read_settled: true,
            read_cache: ReadCacheBounds::DEFAULT,
        }
    }
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("trust", &self.trust)
            .field("cluster", &self.cluster)
            .field("shard_urls", &self.shard_urls)
            .field("timeout", &self.timeout)
            .field("settle_after", &self.settle_after)
            .field("read_settled", &self.read_settled)
            .field("read_cache", &self.read_cache)
            .finish()
    }
}

/// Profiles in ClickHouse.
pub struct ClickHouseStore {
    pub(super) client: Client,
    /// Every shard (or the one server), for partition operations.
    pub(super) shards: Vec<Client>,
    pub(super) clustered: bool,
    pub(super) db: String,
    /// Ids of frames and stacks this process wrote already.
    pub(super) known: Mutex<HashSet<u64>>,
    /// Units of profile types, as stored.
    pub(super) units: Mutex<HashMap<String, String>>,
    /// Last version given to a symbols row: strictly increasing.
    pub(super) last_version: AtomicU64,
    /// Batches encoded and waiting for the next group flush.
    pub(super) queue: Mutex<Vec<Queued>>,
    /// Held by the one caller flushing the queue.
    pub(super) flushing: Mutex<()>,
    /// See [`ClickHouseConfig::settle_after`].
    pub(super) settle_after_nanos: i64,
    /// See [`ClickHouseConfig::read_settled`].
    pub(super) read_settled: bool,
    /// Stacks, frames and symbols read before; see `read_cache.rs`.
    pub(super) read_cache: ReadCache,
    /// Held by the one query bringing the symbol cache up to date.
    pub(super) symbol_sync: Mutex<()>,
    /// This node's name in `symbol_writes`, and its last row number there.
    pub(super) writer_id: u64,
    pub(super) write_seq: AtomicU64,
}

impl fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("url", &self.client.url())
            .field("database", &self.db)
            .finish_non_exhaustive()
    }
}

impl ClickHouseStore {
    /// Connects and creates the database and tables if missing.
    pub fn open(config: ClickHouseConfig) -> Result<Self, StorageError> {
        let client = |url: &str| {
            Client::new(
                url,
                config.user.as_deref(),
                config.password.as_deref(),
                config.timeout,
                &config.trust,
            )
        };
        let main = client(&config.url);
        let shards: Vec<Client> = if config.cluster.is_some() {
            config.shard_urls.iter().map(|u| client(u)).collect()
        } else {
            vec![main.clone()]
        };
        match &config.cluster {
            None => schema::create(&main, &config.database, None)?,
            Some(cluster) => {
                if config.shard_urls.is_empty() {
                    return Err(StorageError::ClickHouse {
                        operation: "create the schema",
                        message: "a cluster needs the URL of every shard".into(),
                        transient: false,
                    });
                }
                for url in &config.shard_urls {
                    schema::create(&client(url), &config.database, Some(cluster))?;
                }
            }
        }
        for shard in &shards {
            schema::create_views(shard, &config.database)?;
        }
        let store = Self {
            client: main,
            shards,
            clustered: config.cluster.is_some(),
            db: config.database,
            known: Mutex::new(HashSet::new()),
            units: Mutex::new(HashMap::new()),
            last_version: AtomicU64::new(0),
            queue: Mutex::new(Vec::new()),
            flushing: Mutex::new(()),
            settle_after_nanos: i64::try_from(config.settle_after.as_nanos()).unwrap_or(i64::MAX),
            read_settled: config.read_settled,
            read_cache: ReadCache::new(config.read_cache),
            symbol_sync: Mutex::new(()),
            writer_id: random_id(),
            write_seq: AtomicU64::new(0),
        };
        store.backfill_hours()?;
        store.record_old_windows()?;
        Ok(store)
    }

    pub(super) fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.db)
    }

    /// A version for a symbols row: now in nanoseconds, strictly increasing.
    pub(super) fn next_version(&self) -> u64 {
        let now = now_unix_nanos();
        let mut last = self.last_version.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_version.compare_exchange(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    pub(super) fn check_unit(&self, profile_type: &ProfileType) -> Result<(), StorageError> {
        let mut units = self.units.lock().unwrap_or_else(|p| p.into_inner());
        let stored = match units.get(&profile_type.name) {
            Some(unit) => unit.clone(),
            None => {
                #[derive(Deserialize)]
                struct Row {
                    unit: String,
                }
                let rows: Vec<Row> = self.client.select(
                    "look up a profile type",
                    &format!(
                        "SELECT any(unit) AS unit FROM {} WHERE name = {} GROUP BY name",
                        self.table("profile_types"),
                        quote(&profile_type.name)
                    ),
                )?;
                let unit = match rows.into_iter().next() {
                    Some(row) => row.unit,
                    None => {
                        self.client.insert(
                            "insert a profile type",
                            &self.table("profile_types"),
                            &[serde_json::json!({
                                "name": profile_type.name,
                                "unit": profile_type.unit,
                            })],
                        )?;
                        profile_type.unit.clone()
                    }
                };
                units.insert(profile_type.name.clone(), unit.clone());
                unit
            }
        };
        if stored != profile_type.unit {
            return Err(StorageError::UnitConflict {
                profile_type: profile_type.name.clone(),
                stored,
                received: profile_type.unit.clone(),
            });
        }
        Ok(())
    }

    /// The table partitions are dropped from: the local table on a cluster.
    pub(super) fn local(&self, name: &str) -> String {
        if self.clustered {
            format!("{}.{name}_local", self.db)
        } else {
            self.table(name)
        }
    }

    /// Runs `sql` on every shard (or the one server): partition drops must
    /// address the local tables.
    pub(super) fn on_every_shard(
        &self,
        operation: &'static str,
        sql: &str,
    ) -> Result<(), StorageError> {
        for client in &self.shards {
            client.execute(operation, sql)?;
        }
        Ok(())
    }

    /// Every sample row matching `filter` (a condition on the samples'
    /// columns), at minute resolution for days not rolled up yet and hour
    /// resolution for days that were, with a `resolution` column. Minute
    /// rows of rolled days and hour rows of days not marked rolled are
    /// ignored, so a query during a rollup sees each day whole, once.
    pub(super) fn samples_source(&self, filter: &str) -> String {
        let watermark = schema::watermark(&self.db);
        format!(
            "(SELECT service, labels, profile_type, window_start, stack_id, period, count,
                     'minute' AS resolution
              FROM {minutes} FINAL WHERE window_start >= {watermark} AND ({filter})
              UNION ALL
              SELECT service, labels, profile_type, window_start, stack_id, period, count,
                     'hour' AS resolution
              FROM {hours} FINAL WHERE window_start < {watermark} AND ({filter}))",
            minutes = self.table("samples"),
            hours = self.table("samples_hourly"),
        )
    }
}

/// A random 64-bit name for this process's writes.
pub(super) fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_unix_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

pub(super) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_debug_hides_the_password() {
        let mut config = ClickHouseConfig::single("https://ch.example:8443");
        config.user = Some("augur".into());
        config.password = Some("s3cret".into());
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<hidden>"), "{debug}");
        assert!(debug.contains("https://ch.example:8443"), "{debug}");
    }
}
