//! Debug-info upload: symbols for binaries only this host has.
//!
//! The sampling thread hands each build-id it meets, once, to [`run`]. The
//! uploader checks the file locally first (it must still carry that
//! build-id and have a symbol table or DWARF: a stripped binary has nothing
//! worth sending), then asks the server which of them it wants. The server
//! promises each build-id to one asker at a time, so a fleet running the same
//! binary sends it once. Wanted files are cut to their symbol and debug
//! sections ([`extract`]) into a scratch file and streamed in chunks, one
//! upload at a time, paced to a byte rate so an upload never competes with
//! the workload for the network.
//!
//! Upload is best effort: a failure is counted and the build-id is offered
//! again later; profiles never wait for it.

pub mod extract;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use augur_profile::FileId;
use augur_wire::ingest::debug_info_client::DebugInfoClient;
use augur_wire::ingest::{Binary, UploadChunk, WantedRequest};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Code;

use crate::metrics::AgentMetrics;
use crate::ship::transport::AuthChannel;

/// Build-ids asked about in one request, at most.
const MAX_ASK: usize = 256;
/// Bytes per upload message.
const CHUNK: usize = 256 << 10;
/// How long a failed ask or upload waits before the build-id is offered again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Upload settings.
#[derive(Clone, Debug)]
pub struct UploadConfig {
    /// Whether to upload at all.
    pub enabled: bool,
    /// Upload pace, bytes per second.
    pub bytes_per_second: u64,
    /// Largest debug file sent; bigger ones are skipped and counted.
    pub max_file_bytes: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bytes_per_second: 2 << 20,
            max_file_bytes: 512 << 20,
        }
    }
}

/// A binary seen in a profile, offered for upload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Its build-id.
    pub build_id: FileId,
    /// Where this host has it: the path reported to the server.
    pub path: String,
    /// Where the agent reads it, when not at `path` (a binary replaced on
    /// disk since it ran, read through a descriptor the agent holds).
    pub read_from: Option<String>,
}

impl Candidate {
    /// The path the file is read from.
    fn source(&self) -> &str {
        self.read_from.as_deref().unwrap_or(&self.path)
    }
}

/// Offers build-ids to the uploader, each once per agent run.
#[derive(Debug)]
pub struct Offers {
    seen: HashSet<FileId>,
    tx: mpsc::Sender<Candidate>,
}

impl Offers {
    /// Offers sent on `tx`.
    pub fn new(tx: mpsc::Sender<Candidate>) -> Self {
        Self {
            seen: HashSet::new(),
            tx,
        }
    }

    /// Offers `build_id`, at `path` and read from `read_from` when given,
    /// unless it was offered before. Never blocks: when the uploader is
    /// behind, the build-id is offered again next time.
    pub fn offer(&mut self, build_id: &FileId, path: &str, read_from: Option<&str>) {
        if self.seen.contains(build_id) {
            return;
        }
        let candidate = Candidate {
            build_id: build_id.clone(),
            path: path.to_owned(),
            read_from: read_from.map(str::to_owned),
        };
        if self.tx.try_send(candidate).is_ok() {
            self.seen.insert(build_id.clone());
        }
    }
}

/// A local file ready to offer, or why not.
enum Checked {
    Ready,
    Skip(&'static str),
}

/// Checks that `path` still is `build_id` and has symbols worth sending.
fn check(candidate: &Candidate, max_bytes: u64) -> Checked {
    let Ok(file) = std::fs::File::open(candidate.source()) else {
        return Checked::Skip("unreadable");
    };
    let Ok(layout) = extract::ElfSections::read(&file) else {
        return Checked::Skip("unreadable");
    };
    // A build-id is read from its note; a content id only by hashing the
    // file again.
    let same = if candidate.build_id.is_build_id() {
        layout.build_id(&file).as_deref() == Some(candidate.build_id.as_bytes())
    } else {
        crate::identity::file_id(&file).is_ok_and(|id| id == candidate.build_id)
    };
    if !same {
        // Replaced by a deploy since the process mapped it.
        return Checked::Skip("replaced");
    }
    if !layout.has_symbols() {
        return Checked::Skip("no_symbols");
    }
    if layout.kept_bytes() > max_bytes {
        return Checked::Skip("too_large");
    }
    Checked::Ready
}

/// Spaces out bytes sent so that they average `rate` per second.
struct Pacer {
    rate: u64,
    next: Instant,
}

impl Pacer {
    async fn take(&mut self, bytes: usize) {
        let now = Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.rate.max(1) as f64);
        self.next = self.next.max(now) + cost;
    }
}

/// Runs until `candidates` closes; cuts files into `scratch_dir`.
pub async fn run(
    config: UploadConfig,
    scratch_dir: PathBuf,
    channel: AuthChannel,
    mut candidates: mpsc::Receiver<Candidate>,
    metrics: AgentMetrics,
) {
    let mut client = DebugInfoClient::new(channel);
    let mut pacer = Pacer {
        rate: config.bytes_per_second,
        next: Instant::now(),
    };
    // Failed attempts wait here until they are due again.
    let mut retry: Vec<(Instant, Candidate)> = Vec::new();
    loop {
        let mut batch: Vec<Candidate> = Vec::new();
        let now = Instant::now();
        retry.retain(|(due, candidate)| {
            let keep = *due > now;
            if !keep {
                batch.push(candidate.clone());
            }
            keep
        });
        if batch.is_empty() {
            let wait = retry
                .iter()
                .map(|(due, _)| due.saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_secs(3600));
            match tokio::time::timeout(wait, candidates.recv()).await {
                Ok(Some(candidate)) => batch.push(candidate),
                Ok(None) => return,
                Err(_) => continue,
            }
        }
        while batch.len() < MAX_ASK {
            match candidates.try_recv() {
                Ok(candidate) => batch.push(candidate),
                Err(_) => break,
            }
        }
        let max = config.max_file_bytes;
        let checked = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|c| {
                    let verdict = check(&c, max);
                    (c, verdict)
                })
                .collect::<Vec<_>>()
        })
        .await
        .expect("checking binaries panicked");
        let mut ready = Vec::new();
        for (candidate, verdict) in checked {
            match verdict {
                Checked::Ready => ready.push(candidate),
                Checked::Skip(why) => metrics.debuginfo(why),
            }
        }
        if ready.is_empty() {
            continue;
        }
        let request = WantedRequest {
            binaries: ready
                .iter()
                .map(|c| Binary {
                    build_id: c.build_id.as_bytes().to_vec(),
                    path: c.path.clone(),
                })
                .collect(),
        };
        let wanted: HashSet<Vec<u8>> = match client.wanted(request).await {
            Ok(reply) => reply.into_inner().build_ids.into_iter().collect(),
            Err(status) => {
                tracing::debug!(%status, "asking which debug info the server wants failed");
                let due = Instant::now() + RETRY_AFTER;
                retry.extend(ready.into_iter().map(|c| (due, c)));
                continue;
            }
        };
        for candidate in ready {
            if !wanted.contains(candidate.build_id.as_bytes()) {
                metrics.debuginfo("not_wanted");
                continue;
            }
            match upload(&mut client, &scratch_dir, &candidate, &mut pacer).await {
                Ok(bytes) => {
                    metrics.debuginfo("uploaded");
                    metrics.debuginfo_upload_bytes.inc_by(bytes);
                    tracing::info!(build_id = %candidate.build_id, path = candidate.path, bytes, "uploaded debug info");
                }
                Err(UploadError::Refused(status)) => {
                    // The server will not take this file; offering it again
                    // cannot help.
                    metrics.debuginfo("refused");
                    tracing::warn!(build_id = %candidate.build_id, path = candidate.path, %status, "server refused debug info");
                }
                Err(error) => {
                    metrics.debuginfo("failed");
                    tracing::warn!(build_id = %candidate.build_id, path = candidate.path, %error, "debug-info upload failed; will offer it again");
                    retry.push((Instant::now() + RETRY_AFTER, candidate));
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum UploadError {
    #[error("cutting the binary: {0}")]
    Extract(#[from] extract::ExtractError),
    #[error("reading the scratch file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Failed(tonic::Status),
    #[error("{0}")]
    Refused(tonic::Status),
}

/// Cuts the candidate into a scratch file and streams it; returns bytes sent.
async fn upload(
    client: &mut DebugInfoClient<AuthChannel>,
    scratch_dir: &Path,
    candidate: &Candidate,
    pacer: &mut Pacer,
) -> Result<u64, UploadError> {
    let scratch = scratch_dir.join(".debuginfo-upload.tmp");
    let (binary, out) = (PathBuf::from(candidate.source()), scratch.clone());
    let cut = tokio::task::spawn_blocking(move || extract::extract(&binary, &out))
        .await
        .expect("cutting a binary panicked");
    let result = match cut {
        Ok(Some(_)) => send_file(client, &scratch, &candidate.build_id, pacer).await,
        Ok(None) => Err(UploadError::Extract(extract::ExtractError::Unsupported(
            "no symbols",
        ))),
        Err(error) => Err(error.into()),
    };
    let _ = tokio::fs::remove_file(&scratch).await;
    result
}

async fn send_file(
    client: &mut DebugInfoClient<AuthChannel>,
    path: &Path,
    build_id: &FileId,
    pacer: &mut Pacer,
) -> Result<u64, UploadError> {
    let mut file = tokio::fs::File::open(path).await?;
    let (tx, rx) = mpsc::channel::<UploadChunk>(2);
    let call = client.upload(tokio_stream::wrappers::ReceiverStream::new(rx));
    let build_id = build_id.as_bytes().to_vec();
    let feed = async move {
        let mut first = true;
        let mut sent = 0u64;
        loop {
            let mut data = vec![0u8; CHUNK];
            let n = read_full(&mut file, &mut data).await?;
            if n == 0 && !first {
                return Ok::<u64, std::io::Error>(sent);
            }
            data.truncate(n);
            pacer.take(n).await;
            let chunk = UploadChunk {
                build_id: if first { build_id.clone() } else { Vec::new() },
                data,
            };
            first = false;
            sent += n as u64;
            if tx.send(chunk).await.is_err() {
                // The call ended early; its status says why.
                return Ok(sent);
            }
            if n < CHUNK {
                return Ok(sent);
            }
        }
    };
    let (reply, fed) = tokio::join!(call, feed);
    fed?;
    match reply {
        Ok(reply) => Ok(reply.into_inner().bytes),
        Err(status)
            if matches!(
                status.code(),
                Code::InvalidArgument | Code::AlreadyExists | Code::OutOfRange
            ) =>
        {
            Err(UploadError::Refused(status))
        }
        Err(status) => Err(UploadError::Failed(status)),
    }
}

/// Reads until `buf` is full or the file ends.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spreads_bytes_at_its_rate() {
        let mut pacer = Pacer {
            rate: 1 << 20,
            next: Instant::now(),
        };
        let start = Instant::now();
        // The first chunk goes at once; each later one waits for the time
        // the bytes before it cost.
        for _ in 0..5 {
            pacer.take(256 << 10).await;
        }
        let elapsed = start.elapsed();
        assert_eq!(
            elapsed,
            Duration::from_secs(1),
            "4 x 256 KiB waited for at 1 MiB/s"
        );
        // Idle time is not saved up into a burst.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        pacer.take(512 << 10).await;
        pacer.take(1).await;
        assert_eq!(before.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn offers_go_once_and_a_full_queue_offers_again_later() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut offers = Offers::new(tx);
        let a = FileId::from_bytes(&[1; 20]).unwrap();
        let b = FileId::from_bytes(&[2; 20]).unwrap();
        offers.offer(&a, "/bin/a", None);
        offers.offer(&a, "/bin/a", None);
        // The queue holds one: b does not fit and is not marked as sent.
        offers.offer(&b, "/bin/b", None);
        assert_eq!(rx.recv().await.unwrap().build_id, a);
        assert!(rx.try_recv().is_err());
        offers.offer(&b, "/bin/b", None);
        assert_eq!(rx.recv().await.unwrap().build_id, b);
        offers.offer(&a, "/bin/a", None);
        assert!(rx.try_recv().is_err());
    }
}
