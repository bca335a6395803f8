//! Debug info uploaded by agents, kept by file id (build-id or content id).
//!
//! Files live in a `.build-id/xx/rest.debug` tree (the layout debuggers and
//! the symbolizer's locator already read), so the store is just one more
//! debug directory to the symbolizer. The directory name comes from the
//! build-id's hex digits only, never from anything else a client sends, so no
//! upload can reach outside the tree. A build-id that is text holding a path
//! (`../../etc/passwd`, with `/`, `\`, `..` or NUL) is refused outright
//! before anything is created, with a clear error: it is someone's mistake
//! or an attack, never a GNU build-id. Path hints from agents are read only
//! when they are absolute and free of `..` ([`is_sane_path_hint`]), and
//! uploads are bounded in size (counted as `limit="debuginfo_size"`).
//!
//! `Wanted` answers which offered build-ids the server lacks (not uploaded,
//! not in a configured debug directory, not readable with symbols at the
//! agent's path when the server shares the agent's files) and promises each
//! to one asker for [`PROMISE`]: the rest of the fleet is told no meanwhile.
//! `Upload` streams into a temporary file, bounded in size, checks that the
//! file is ELF with symbols (or a Go line table) and carries the build-id
//! it claims, makes it durable, renames it into place, and queues the
//! stored frames of that file id for symbolization again, so old samples
//! get names. A file without a build-id is sent under its content id, which
//! its cut debug file no longer holds the bytes to prove: the server takes
//! the agent's word for it (the agent hashed the file just before cutting
//! it, and ingest needs its token) and checks only that the file carries no
//! build-id, which it would have been sent under.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use augur_profile::{FileId, FileIdKind};
use augur_storage::Store;
use augur_wire::batch::is_sane_path_hint;
use augur_wire::ingest::debug_info_server::DebugInfo;
use augur_wire::ingest::{UploadChunk, UploadResponse, WantedRequest, WantedResponse};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore};
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::AggregatorMetrics;

/// How long a build-id promised to one agent is refused to the others.
pub const PROMISE: Duration = Duration::from_secs(600);
/// Build-ids considered per `Wanted` call.
const MAX_OFFERS: usize = 1024;
/// Uploads received at once; more are told to retry later.
const MAX_CONCURRENT_UPLOADS: usize = 4;

/// The upload directory and what is promised.
#[derive(Debug)]
pub struct DebugInfoStore {
    root: PathBuf,
    /// Other debug directories: a build-id found there is not wanted.
    debug_dirs: Vec<PathBuf>,
    /// Whether agents' paths are readable here (one-host installs).
    use_path_hints: bool,
    max_bytes: u64,
    promises: Mutex<HashMap<FileId, Instant>>,
    /// Bumped on every stored upload; symbolization workers compare it to
    /// know when to forget cached misses.
    generation: AtomicU64,
}

impl DebugInfoStore {
    /// A store under `root` (created if missing); leftovers of uploads cut
    /// short by a crash are removed.
    pub fn open(
        root: &Path,
        debug_dirs: Vec<PathBuf>,
        use_path_hints: bool,
        max_bytes: u64,
    ) -> std::io::Result<Self> {
        let tree = root.join(".build-id");
        std::fs::create_dir_all(&tree)?;
        for prefix in std::fs::read_dir(&tree)?.flatten() {
            let Ok(entries) = std::fs::read_dir(prefix.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self {
            root: root.to_owned(),
            debug_dirs,
            use_path_hints,
            max_bytes,
            promises: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        })
    }

    /// The directory to hand the symbolizer as a debug directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Changes whenever an upload was stored.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn path_in(dir: &Path, build_id: &FileId) -> PathBuf {
        let hex = build_id.to_hex();
        dir.join(".build-id")
            .join(&hex[..2])
            .join(format!("{}.debug", &hex[2..]))
    }

    /// Where the upload for `build_id` is kept.
    pub fn path_of(&self, build_id: &FileId) -> PathBuf {
        Self::path_in(&self.root, build_id)
    }

    /// Whether symbols for `build_id` are already at hand.
    fn have(&self, build_id: &FileId, agent_path: &str) -> bool {
        if self.path_of(build_id).exists() {
            return true;
        }
        let in_debug_dir = self.debug_dirs.iter().any(|dir| {
            augur_symbolizer::read_build_id(&Self::path_in(dir, build_id)).as_ref()
                == Some(build_id)
        });
        in_debug_dir
            || (self.use_path_hints && is_sane_path_hint(agent_path) && {
                let path = Path::new(agent_path);
                path.is_absolute()
                    && augur_symbolizer::read_file_id(path).as_ref() == Some(build_id)
                    && augur_symbolizer::has_symbols(path)
            })
    }

    /// Answers an offer: `Ok(())` means "upload it", and promises it.
    fn want(&self, build_id: &FileId, agent_path: &str) -> Result<(), &'static str> {
        if self.have(build_id, agent_path) {
            return Err("have");
        }
        let mut promises = self.promises.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        promises.retain(|_, at| now.duration_since(*at) < PROMISE);
        if promises.contains_key(build_id) {
            return Err("promised");
        }
        promises.insert(build_id.clone(), now);
        Ok(())
    }

    /// Copies a debug file another node shared for `build_id` into the
    /// tree, if there is one and this node has none; true when it did.
    pub fn fetch_shared(&self, profiles: &Store, build_id: &FileId) -> bool {
        let target = self.path_of(build_id);
        if target.exists() {
            return false;
        }
        match profiles.fetch_debuginfo(build_id, &target) {
            Ok(true) if carries(&target, build_id) => {
                tracing::info!(%build_id, "took debug info another node shared");
                self.generation.fetch_add(1, Ordering::AcqRel);
                true
            }
            Ok(true) => {
                // Not what it claims to be: do not keep it.
                let _ = std::fs::remove_file(&target);
                tracing::warn!(%build_id, "shared debug info carries another build-id; ignored");
                false
            }
            Ok(false) => false,
            Err(error) => {
                tracing::debug!(%build_id, %error, "fetching shared debug info failed");
                false
            }
        }
    }

    fn stored(&self, build_id: &FileId) {
        self.promises
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(build_id);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The build-id an upload names, or why it is refused. GNU build-ids are
/// hashes: random bytes that practically never read as printable text, let
/// alone text with a path in it. One that does is refused before anything
/// is written, though its hex form could not leave the tree anyway.
pub fn upload_build_id(bytes: &[u8]) -> Result<FileId, String> {
    let id = FileId::from_bytes(bytes).map_err(|e| e.to_string())?;
    let text = bytes.iter().all(|&b| b == 0 || (0x20..0x7f).contains(&b));
    let path_like = bytes.iter().any(|&b| matches!(b, b'/' | b'\\' | 0))
        || bytes.windows(2).any(|pair| pair == b"..");
    if text && path_like {
        return Err(format!(
            "the build-id is text holding a path ({:?}), not the raw bytes of a GNU build-id note",
            String::from_utf8_lossy(bytes)
        ));
    }
    Ok(id)
}

/// Implementation of `augur.ingest.v1.DebugInfo`.
pub struct DebugInfoService {
    store: Arc<DebugInfoStore>,
    profiles: Store,
    metrics: AggregatorMetrics,
    new_frames: Arc<Notify>,
    uploads: Semaphore,
}

impl DebugInfoService {
    /// A service keeping files in `store` and requeueing frames in `profiles`.
    pub fn new(
        store: Arc<DebugInfoStore>,
        profiles: Store,
        metrics: AggregatorMetrics,
        new_frames: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            profiles,
            metrics,
            new_frames,
            uploads: Semaphore::new(MAX_CONCURRENT_UPLOADS),
        }
    }

    fn refuse(&self, reason: &'static str, status: Status) -> Status {
        self.metrics
            .debuginfo_uploads
            .get_or_create(&vec![("outcome", reason.to_owned())])
            .inc();
        tracing::warn!(reason, %status, "debug-info upload refused");
        status
    }

    /// Receives the stream into `temp`; returns the bytes written.
    async fn receive(
        &self,
        first: Vec<u8>,
        stream: &mut Streaming<UploadChunk>,
        temp: &Path,
    ) -> Result<u64, Status> {
        let mut file = tokio::fs::File::create_new(temp)
            .await
            .map_err(|e| Status::internal(format!("creating {}: {e}", temp.display())))?;
        let mut written = 0u64;
        let mut data = first;
        loop {
            written += data.len() as u64;
            if written > self.store.max_bytes {
                self.metrics.limit_hit("debuginfo_size", 1);
                return Err(self.refuse(
                    "too_large",
                    Status::out_of_range(format!(
                        "debug info larger than the limit of {} bytes",
                        self.store.max_bytes
                    )),
                ));
            }
            file.write_all(&data)
                .await
                .map_err(|e| Status::unavailable(format!("writing debug info: {e}")))?;
            match stream.message().await? {
                Some(chunk) => data = chunk.data,
                None => break,
            }
        }
        file.sync_all()
            .await
            .map_err(|e| Status::unavailable(format!("syncing debug info: {e}")))?;
        Ok(written)
    }
}

#[tonic::async_trait]
impl DebugInfo for DebugInfoService {
    async fn wanted(
        &self,
        request: Request<WantedRequest>,
    ) -> Result<Response<WantedResponse>, Status> {
        let offers = request.into_inner().binaries;
        if offers.len() > MAX_OFFERS {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_OFFERS} build-ids per request"
            )));
        }
        let store = self.store.clone();
        let profiles = self.profiles.clone();
        let metrics = self.metrics.clone();
        // Answers read files (build-id checks); keep them off the reactor.
        let wanted = tokio::task::spawn_blocking(move || {
            let mut wanted = Vec::new();
            for offer in offers {
                // Never ask for what the upload would refuse.
                let Ok(build_id) = upload_build_id(&offer.build_id) else {
                    continue;
                };
                // Uploaded to another node on the same storage: take that.
                store.fetch_shared(&profiles, &build_id);
                let answer = match store.want(&build_id, &offer.path) {
                    Ok(()) => {
                        wanted.push(offer.build_id);
                        "wanted"
                    }
                    Err(why) => why,
                };
                metrics
                    .debuginfo_offers
                    .get_or_create(&vec![("answer", answer.to_owned())])
                    .inc();
            }
            wanted
        })
        .await
        .map_err(|e| Status::internal(format!("answering offers failed: {e}")))?;
        Ok(Response::new(WantedResponse { build_ids: wanted }))
    }

    async fn upload(
        &self,
        request: Request<Streaming<UploadChunk>>,
    ) -> Result<Response<UploadResponse>, Status> {
        let Ok(_slot) = self.uploads.try_acquire() else {
            return Err(Status::resource_exhausted(
                "too many debug-info uploads at once; retry later",
            ));
        };
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty upload"))?;
        let build_id = upload_build_id(&first.build_id).map_err(|e| {
            self.refuse(
                "bad_build_id",
                Status::invalid_argument(format!("the first chunk must name a build-id: {e}")),
            )
        })?;
        let target = self.store.path_of(&build_id);
        if target.exists() {
            return Err(self.refuse(
                "duplicate",
                Status::already_exists(format!("debug info for {build_id} is stored already")),
            ));
        }
        let dir = target.parent().expect("a build-id path has a parent");
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Status::unavailable(format!("creating {}: {e}", dir.display())))?;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let temp = dir.join(format!(
            ".{}.{nonce}.tmp",
            target.file_name().unwrap().to_string_lossy()
        ));
        let received = self.receive(first.data, &mut stream, &temp).await;
        let written = match received {
            Ok(written) => written,
            Err(status) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(status);
            }
        };
        let (check_path, expected) = (temp.clone(), build_id.clone());
        let verdict = tokio::task::spawn_blocking(move || {
            let found = augur_symbolizer::read_build_id(&check_path);
            match (expected.kind(), found) {
                (FileIdKind::BuildId, None) => Err("not an ELF file with a build-id"),
                (FileIdKind::BuildId, Some(id)) if id != expected => {
                    Err("the file carries another build-id")
                }
                (FileIdKind::Content, Some(_)) => {
                    Err("the file carries a build-id: send it under that id")
                }
                _ if !augur_symbolizer::has_symbols(&check_path) => {
                    Err("the file has no symbol table, no DWARF and no Go line table")
                }
                _ => Ok(()),
            }
        })
        .await
        .map_err(|e| Status::internal(format!("checking the upload failed: {e}")))?;
        if let Err(why) = verdict {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(self.refuse(
                "invalid",
                Status::invalid_argument(format!("debug info for {build_id}: {why}")),
            ));
        }
        if let Err(e) = tokio::fs::rename(&temp, &target).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(Status::unavailable(format!("storing debug info: {e}")));
        }
        // The rename is durable once the directory is.
        if let Ok(dir) = tokio::fs::File::open(dir).await {
            let _ = dir.sync_all().await;
        }
        self.store.stored(&build_id);
        // Every node on the same storage can use it from now on.
        let (profiles, id, file) = (self.profiles.clone(), build_id.clone(), target.clone());
        match tokio::task::spawn_blocking(move || profiles.share_debuginfo(&id, &file)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%build_id, %error, "sharing debug info with other nodes failed; only this node has it")
            }
            Err(error) => tracing::warn!(%build_id, %error, "sharing debug info panicked"),
        }
        self.metrics
            .debuginfo_uploads
            .get_or_create(&vec![("outcome", "stored".to_owned())])
            .inc();
        self.metrics.debuginfo_bytes.inc_by(written);
        tracing::info!(%build_id, bytes = written, "stored uploaded debug info");
        let (profiles, id) = (self.profiles.clone(), build_id.clone());
        match tokio::task::spawn_blocking(move || profiles.requeue_binary(&id)).await {
            Ok(Ok(queued)) => tracing::debug!(%build_id, queued, "frames queued for new symbols"),
            Ok(Err(error)) => {
                tracing::warn!(%build_id, %error, "queueing frames failed; they are retried on the usual schedule")
            }
            Err(error) => tracing::warn!(%build_id, %error, "queueing frames panicked"),
        }
        self.new_frames.notify_waiters();
        Ok(Response::new(UploadResponse { bytes: written }))
    }
}

/// Whether the debug file at `path` is one for `id`: its build-id note
/// says so, or, for a content id (whose cut debug file no longer holds the
/// bytes the id hashes), it is an ELF file with symbols and no build-id.
fn carries(path: &Path, id: &FileId) -> bool {
    match id.kind() {
        FileIdKind::BuildId => augur_symbolizer::read_build_id(path).as_ref() == Some(id),
        FileIdKind::Content => {
            augur_symbolizer::read_build_id(path).is_none() && augur_symbolizer::has_symbols(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_id_is_promised_to_one_asker_and_never_leaves_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = DebugInfoStore::open(dir.path(), vec![], false, 1 << 20).unwrap();
        let id = FileId::from_bytes(&[0xab; 20]).unwrap();
        assert_eq!(store.want(&id, "/bin/x"), Ok(()));
        assert_eq!(store.want(&id, "/bin/x"), Err("promised"));
        let path = store.path_of(&id);
        assert!(path.starts_with(dir.path().join(".build-id").join("ab")));
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("{}.debug", "ab".repeat(19))
        );
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        store.stored(&id);
        assert_eq!(store.generation(), 1);
        assert_eq!(store.want(&id, "/bin/x"), Err("have"));
    }

    #[test]
    fn build_ids_holding_paths_are_refused() {
        for bad in [
            &b"../../etc/passwd"[..],
            b"ab/cd",
            b"..",
            b"abc\0",
            b"C:\\x",
            b"",
            &[0xab; 65],
        ] {
            let err = upload_build_id(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(
            upload_build_id(b"../../etc/passwd")
                .unwrap_err()
                .contains("holding a path")
        );
        // Real build-ids are random bytes: slashes, dots and NULs among
        // others are fine, and so is hex text (checked against the file).
        let mut real = [0x2fu8; 20];
        real[3] = 0x00;
        real[7] = 0x9c;
        for good in [&real[..], b"2e2e2f2e2e2f", &[0x2e, 0x2e, 0xff]] {
            assert!(upload_build_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn leftover_temporary_files_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(".build-id").join("ab");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(".cd.debug.1.tmp"), b"partial").unwrap();
        std::fs::write(sub.join("cd.debug"), b"kept").unwrap();
        DebugInfoStore::open(dir.path(), vec![], false, 1 << 20).unwrap();
        assert!(!sub.join(".cd.debug.1.tmp").exists());
        assert!(sub.join("cd.debug").exists());
    }
}
