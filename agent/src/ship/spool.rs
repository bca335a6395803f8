//! The agent's durable, bounded, on-disk queue of batches waiting to be sent.
//!
//! Every batch is written here before any attempt to send it, and its file is
//! deleted only after the server acknowledged it, so a batch survives a
//! server outage and an agent restart. The batch id lives in the file: a
//! retry, even from the next agent process, carries the same id and the
//! server counts it once.
//!
//! One file per batch, `<sequence>.batch` with a zero-padded, monotonically
//! increasing sequence number, so the directory listing is the FIFO order. A
//! file is written under a temporary name, fsynced, renamed into place and the
//! directory fsynced, so a crash never leaves a half-written batch visible;
//! leftover temporary files are removed on open. A record whose header,
//! length or checksum is wrong is dropped and counted (`spool_corrupt`).
//!
//! The spool is bounded by bytes on disk: a push that would go beyond the
//! bound first deletes the oldest batches, counted (`spool_full`). The batch
//! being sent at that moment is never deleted under the sender's feet, so the
//! bound can be exceeded by at most that one batch.
//!
//! Record format, little-endian:
//!
//! ```text
//! offset size
//!      0    8  magic "AUGSPOOL"
//!      8    2  format version (1)
//!     10    2  reserved, 0
//!     12    4  batch id length in bytes (1..=MAX_BATCH_ID_LEN)
//!     16    8  samples in the batch
//!     24    8  payload length in bytes
//!     32    .  batch id, UTF-8
//!      .    .  payload: the zstd-compressed wire `Batch`, as pushed
//!    end-4  4  CRC-32 (IEEE) of every byte before it
//! ```

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Default bound of a spool, in bytes on disk (256 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// Longest batch id a record holds (the server accepts 256 bytes).
pub const MAX_BATCH_ID_LEN: usize = 1024;

/// Largest record read back; anything larger is corrupt. Far above what the
/// server accepts (a few MiB), far below what would hurt to allocate.
const MAX_RECORD_LEN: u64 = 1 << 30;

const MAGIC: &[u8; 8] = b"AUGSPOOL";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 32;
const CHECKSUM_LEN: usize = 4;
const SUFFIX: &str = ".batch";
const TEMP_SUFFIX: &str = ".batch.tmp";
const LOCK_FILE: &str = "lock";

/// Drop reason: the spool was full and this, its oldest batch, was deleted.
pub const REASON_FULL: &str = "spool_full";
/// Drop reason: a spool file could not be read back intact.
pub const REASON_CORRUPT: &str = "spool_corrupt";

/// Why the spool cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system operation failed.
    #[error("spool: {action} {path} failed: {source}")]
    Io {
        /// What was being done, e.g. "writing".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the spool directory.
    #[error("spool directory {path} is in use by another agent")]
    Locked {
        /// The spool directory.
        path: PathBuf,
    },
    /// The batch id cannot be stored.
    #[error("batch id of {len} bytes does not fit a spool record (1..={MAX_BATCH_ID_LEN})")]
    BatchId {
        /// Its length.
        len: usize,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError + use<> {
    let path = path.to_owned();
    move |source| SpoolError::Io {
        action,
        path,
        source,
    }
}

/// Why a record could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Shorter than its header and checksum, or than its header says.
    #[error("record is truncated or has trailing bytes ({len} bytes, expected {expected})")]
    Length {
        /// Bytes present.
        len: usize,
        /// Bytes the header announces.
        expected: usize,
    },
    /// Not a spool record.
    #[error("bad magic")]
    Magic,
    /// Written by a newer agent.
    #[error("unsupported record version {0}")]
    Version(u16),
    /// The checksum does not match.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC in the file.
        stored: u32,
        /// CRC of the bytes read.
        computed: u32,
    },
    /// The batch id is empty, too long or not UTF-8.
    #[error("invalid batch id")]
    BatchId,
}

/// A batch read back from the spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledBatch {
    /// Position in the spool; pass it to [`Spool::remove`].
    pub seq: u64,
    /// The idempotency key sent with every attempt.
    pub batch_id: String,
    /// Samples in the batch.
    pub samples: u64,
    /// The compressed wire batch.
    pub payload: Vec<u8>,
}

/// A batch the spool gave up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// [`REASON_FULL`] or [`REASON_CORRUPT`].
    pub reason: &'static str,
    /// Samples lost with it (0 when a corrupt record's count is unknown).
    pub samples: u64,
}

/// One batch in the spool, as [`list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Position in the spool.
    pub seq: u64,
    /// Its batch id.
    pub batch_id: String,
    /// Samples in the batch.
    pub samples: u64,
    /// Size of its file.
    pub bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    seq: u64,
    bytes: u64,
    samples: u64,
}

/// A spool directory opened for exclusive use by one agent.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    next_seq: u64,
    /// The batch being sent: eviction skips it.
    claimed: Option<u64>,
    /// Held for the spool's life; the flock dies with the process.
    _lock: File,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, bounded by `max_bytes`.
    ///
    /// Removes leftover temporary files, verifies every record, resumes the
    /// sequence after the highest one seen, and enforces the bound. Returns
    /// the batches dropped while doing so (corrupt, or beyond a bound that
    /// shrank since the last run).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Vec<Dropped>), SpoolError> {
        fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error("opening", &lock_path))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::WouldBlock {
                return Err(SpoolError::Locked {
                    path: dir.to_owned(),
                });
            }
            return Err(io_error("locking", &lock_path)(error));
        }

        let mut dropped = Vec::new();
        let mut found = Vec::new();
        let mut highest = 0;
        for dirent in fs::read_dir(dir).map_err(io_error("listing", dir))? {
            let dirent = dirent.map_err(io_error("listing", dir))?;
            let name = dirent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(TEMP_SUFFIX) {
                // A write that never reached its rename: never visible, never
                // acknowledged to anyone, so nothing is lost by removing it.
                let path = dirent.path();
                fs::remove_file(&path).map_err(io_error("removing", &path))?;
                tracing::debug!(path = %path.display(), "removed an unfinished spool file");
            } else if let Some(seq) = parse_name(name) {
                highest = highest.max(seq);
                found.push(seq);
            }
        }
        found.sort_unstable();

        let mut entries = VecDeque::with_capacity(found.len());
        let mut bytes = 0;
        for seq in found {
            let path = record_path(dir, seq);
            match read_record(&path) {
                Ok((record, len)) => {
                    bytes += len;
                    entries.push_back(Entry {
                        seq,
                        bytes: len,
                        samples: record.samples,
                    });
                }
                Err(ReadError::Io(source)) => {
                    return Err(SpoolError::Io {
                        action: "reading",
                        path,
                        source,
                    });
                }
                Err(ReadError::Corrupt(error)) => {
                    tracing::warn!(path = %path.display(), %error, "dropping a corrupt spool file");
                    remove_if_present(&path)?;
                    dropped.push(Dropped {
                        reason: REASON_CORRUPT,
                        samples: 0,
                    });
                }
            }
        }

        let mut spool = Self {
            dir: dir.to_owned(),
            max_bytes,
            entries,
            bytes,
            next_seq: highest + 1,
            claimed: None,
            _lock: lock,
        };
        dropped.extend(spool.evict(0)?);
        if !spool.is_empty() {
            tracing::info!(
                batches = spool.len(),
                bytes = spool.bytes(),
                dir = %dir.display(),
                "resuming the spool left by a previous run"
            );
        }
        Ok((spool, dropped))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no batch waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes on disk of the batches waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Samples in the batches waiting.
    pub fn samples(&self) -> u64 {
        self.entries.iter().map(|e| e.samples).sum()
    }

    /// The bound, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Durably appends a batch. Returns the batches deleted to make room;
    /// when the batch alone exceeds the bound it is itself the one dropped,
    /// and nothing older is touched.
    pub fn push(
        &mut self,
        batch_id: &str,
        samples: u64,
        payload: &[u8],
    ) -> Result<Vec<Dropped>, SpoolError> {
        if batch_id.is_empty() || batch_id.len() > MAX_BATCH_ID_LEN {
            return Err(SpoolError::BatchId {
                len: batch_id.len(),
            });
        }
        let record = encode_record(batch_id, samples, payload);
        let len = record.len() as u64;
        if len > self.max_bytes {
            tracing::warn!(
                bytes = len,
                max_bytes = self.max_bytes,
                batch_id,
                "a batch larger than the whole spool was dropped"
            );
            return Ok(vec![Dropped {
                reason: REASON_FULL,
                samples,
            }]);
        }
        // Make room first, so the bound holds even while writing.
        let dropped = self.evict(len)?;
        let seq = self.next_seq;
        let path = record_path(&self.dir, seq);
        let temp = self.dir.join(format!("{seq:020}{TEMP_SUFFIX}"));
        let mut written = write_durably(&temp, &path, &self.dir, &record);
        let vanished = matches!(&written, Err(SpoolError::Io { source, .. })
            if source.kind() == io::ErrorKind::NotFound);
        if vanished && !self.dir.exists() {
            // Someone removed the directory (a cleanup job, an operator):
            // spooling into a new one beats dropping every batch from now on.
            tracing::warn!(dir = %self.dir.display(), "the spool directory vanished; creating it again");
            fs::create_dir_all(&self.dir).map_err(io_error("creating", &self.dir))?;
            written = write_durably(&temp, &path, &self.dir, &record);
        }
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written?;
        self.next_seq += 1;
        self.bytes += len;
        self.entries.push_back(Entry {
            seq,
            bytes: len,
            samples,
        });
        Ok(dropped)
    }

    /// Reads the oldest batch. A head that cannot be read back intact is
    /// deleted and reported in the second value, and the next one is tried.
    pub fn head(&mut self) -> Result<(Option<SpooledBatch>, Vec<Dropped>), SpoolError> {
        let mut dropped = Vec::new();
        while let Some(entry) = self.entries.front().copied() {
            let path = record_path(&self.dir, entry.seq);
            match read_record(&path) {
                Ok((mut batch, _)) => {
                    batch.seq = entry.seq;
                    return Ok((Some(batch), dropped));
                }
                Err(ReadError::Io(source)) if source.kind() != io::ErrorKind::NotFound => {
                    // Possibly transient (EMFILE, EIO): keep it and let the
                    // caller retry later.
                    return Err(SpoolError::Io {
                        action: "reading",
                        path,
                        source,
                    });
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "dropping an unreadable spool file");
                    self.forget(entry.seq);
                    remove_if_present(&path)?;
                    dropped.push(Dropped {
                        reason: REASON_CORRUPT,
                        samples: entry.samples,
                    });
                }
            }
        }
        Ok((None, dropped))
    }

    /// Marks `seq` as being sent, so that eviction leaves it alone until
    /// [`Spool::release`]. Returns false if it is no longer in the spool.
    pub fn claim(&mut self, seq: u64) -> bool {
        let present = self.entries.iter().any(|e| e.seq == seq);
        self.claimed = present.then_some(seq);
        present
    }

    /// Ends a [`Spool::claim`].
    pub fn release(&mut self) {
        self.claimed = None;
    }

    /// Deletes a batch, after the server acknowledged it or refused it for
    /// good. Returns false if it was already gone.
    ///
    /// The directory is not fsynced: if the deletion is lost in a crash, the
    /// batch is sent again with the same id and the server counts it once.
    pub fn remove(&mut self, seq: u64) -> Result<bool, SpoolError> {
        if self.claimed == Some(seq) {
            self.claimed = None;
        }
        if !self.forget(seq) {
            return Ok(false);
        }
        remove_if_present(&record_path(&self.dir, seq))?;
        Ok(true)
    }

    /// Drops from the index; true if it was there.
    fn forget(&mut self, seq: u64) -> bool {
        let Some(index) = self.entries.iter().position(|e| e.seq == seq) else {
            return false;
        };
        if let Some(entry) = self.entries.remove(index) {
            self.bytes -= entry.bytes;
        }
        true
    }

    /// Deletes the oldest unclaimed batches until `incoming` more bytes fit.
    fn evict(&mut self, incoming: u64) -> Result<Vec<Dropped>, SpoolError> {
        let mut dropped = Vec::new();
        while self.bytes + incoming > self.max_bytes {
            let Some(victim) = self
                .entries
                .iter()
                .find(|e| Some(e.seq) != self.claimed)
                .copied()
            else {
                break;
            };
            tracing::warn!(
                seq = victim.seq,
                samples = victim.samples,
                max_bytes = self.max_bytes,
                "spool full; dropping its oldest batch"
            );
            self.forget(victim.seq);
            remove_if_present(&record_path(&self.dir, victim.seq))?;
            dropped.push(Dropped {
                reason: REASON_FULL,
                samples: victim.samples,
            });
        }
        Ok(dropped)
    }
}

/// Lists the intact batches in a spool directory, oldest first, without
/// locking or changing anything (for inspection and tests).
pub fn list(dir: &Path) -> io::Result<Vec<SpoolEntry>> {
    let mut seqs: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|d| d.ok()?.file_name().to_str().and_then(parse_name))
        .collect();
    seqs.sort_unstable();
    let mut entries = Vec::with_capacity(seqs.len());
    for seq in seqs {
        match read_record(&record_path(dir, seq)) {
            Ok((record, bytes)) => entries.push(SpoolEntry {
                seq,
                batch_id: record.batch_id,
                samples: record.samples,
                bytes,
            }),
            // Sent and deleted meanwhile, or corrupt: not a waiting batch.
            Err(ReadError::Corrupt(_)) => {}
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
            Err(ReadError::Io(e)) => return Err(e),
        }
    }
    Ok(entries)
}

fn record_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SUFFIX}"))
}

/// The sequence number of a record file name, `<20 digits>.batch`.
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("removing", path)(e)),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `temp`, fsyncs it, renames it to `path` and fsyncs the
/// directory: after this returns, the record survives a crash, and before
/// it, no reader sees a partial one.
fn write_durably(temp: &Path, path: &Path, dir: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(io_error("creating", temp))?;
    file.write_all(bytes).map_err(io_error("writing", temp))?;
    file.sync_all().map_err(io_error("syncing", temp))?;
    drop(file);
    fs::rename(temp, path).map_err(io_error("renaming", temp))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing", dir))
}

enum ReadError {
    Io(io::Error),
    Corrupt(RecordError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::Corrupt(e) => e.fmt(f),
        }
    }
}

/// Reads and verifies one record; returns it (with `seq` 0) and its size.
fn read_record(path: &Path) -> Result<(SpooledBatch, u64), ReadError> {
    let file = File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    if len > MAX_RECORD_LEN {
        return Err(ReadError::Corrupt(RecordError::Length {
            len: len as usize,
            expected: MAX_RECORD_LEN as usize,
        }));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // The file may grow after the size check; never read past the limit.
    file.take(MAX_RECORD_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    let record = decode_record(&bytes).map_err(ReadError::Corrupt)?;
    Ok((record, bytes.len() as u64))
}

/// Encodes one record (see the module docs for the layout).
pub fn encode_record(batch_id: &str, samples: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + batch_id.len() + payload.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(batch_id.len() as u32).to_le_bytes());
    out.extend_from_slice(&samples.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(batch_id.as_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and verifies one record; the returned batch has `seq` 0.
pub fn decode_record(bytes: &[u8]) -> Result<SpooledBatch, RecordError> {
    let length = |expected| RecordError::Length {
        len: bytes.len(),
        expected,
    };
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(length(HEADER_LEN + CHECKSUM_LEN));
    }
    if &bytes[..8] != MAGIC {
        return Err(RecordError::Magic);
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let version = u16_at(8);
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    let id_len = u32_at(12) as usize;
    let samples = u64_at(16);
    let payload_len = u64_at(24);
    // Checked arithmetic: the lengths come from the file.
    let expected = usize::try_from(payload_len)
        .ok()
        .and_then(|p| p.checked_add(id_len))
        .and_then(|n| n.checked_add(HEADER_LEN + CHECKSUM_LEN))
        .ok_or(length(usize::MAX))?;
    if bytes.len() != expected {
        return Err(length(expected));
    }
    let body = &bytes[..expected - CHECKSUM_LEN];
    let stored = u32_at(expected - CHECKSUM_LEN);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    if id_len == 0 || id_len > MAX_BATCH_ID_LEN {
        return Err(RecordError::BatchId);
    }
    let batch_id = std::str::from_utf8(&body[HEADER_LEN..HEADER_LEN + id_len])
        .map_err(|_| RecordError::BatchId)?
        .to_owned();
    Ok(SpooledBatch {
        seq: 0,
        batch_id,
        samples,
        payload: body[HEADER_LEN + id_len..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory removed when dropped (the agent has no tempfile dependency).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let path = std::env::temp_dir().join(format!(
                "augur-spool-test-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn record_len(id: &str, payload: usize) -> u64 {
        (HEADER_LEN + id.len() + payload + CHECKSUM_LEN) as u64
    }

    fn drain(spool: &mut Spool) -> Vec<(String, u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let (Some(batch), dropped) = spool.head().unwrap() {
            assert!(dropped.is_empty());
            out.push((batch.batch_id, batch.samples, batch.payload));
            assert!(spool.remove(batch.seq).unwrap());
        }
        out
    }

    fn batch_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != LOCK_FILE)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32fast::hash(b""), 0);
    }

    #[test]
    fn records_round_trip_and_reject_damage() {
        let record = encode_record("host-1-7", 42, b"payload bytes");
        let decoded = decode_record(&record).unwrap();
        assert_eq!(decoded.batch_id, "host-1-7");
        assert_eq!(decoded.samples, 42);
        assert_eq!(decoded.payload, b"payload bytes");

        for at in [0, 9, 13, 20, 28, 35, record.len() - 1] {
            let mut damaged = record.clone();
            damaged[at] ^= 0x40;
            assert!(decode_record(&damaged).is_err(), "flip at {at} accepted");
        }
        assert!(matches!(
            decode_record(&record[..record.len() - 1]),
            Err(RecordError::Length { .. })
        ));
        let mut longer = record.clone();
        longer.push(0);
        assert!(matches!(
            decode_record(&longer),
            Err(RecordError::Length { .. })
        ));
        // A huge announced payload length is refused, not allocated.
        let mut huge = record.clone();
        huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode_record(&huge),
            Err(RecordError::Length { .. })
        ));
        let mut version = record;
        version[8] = 9;
        assert_eq!(decode_record(&version), Err(RecordError::Version(9)));
    }

    #[test]
    fn a_vanished_directory_is_created_again() {
        let dir = TempDir::new();
        let (mut spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        spool.push("before", 1, b"one").unwrap();
        fs::remove_dir_all(&dir.0).unwrap();
        spool.push("after", 2, b"two").unwrap();
        assert_eq!(batch_files(&dir.0).len(), 1, "the new batch is on disk");
        // The batch whose file went with the directory is reported lost;
        // the new one comes out whole.
        let (head, dropped) = spool.head().unwrap();
        let head = head.expect("the new batch");
        assert_eq!(head.batch_id, "after");
        assert_eq!(dropped.iter().map(|d| d.samples).sum::<u64>(), 1);
    }

    #[test]
    fn batches_come_out_in_the_order_they_went_in() {
        let dir = TempDir::new();
        let (mut spool, dropped) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        assert!(dropped.is_empty() && spool.is_empty());
        for i in 0..5u64 {
            assert!(
                spool
                    .push(&format!("b{i}"), i, &[i as u8; 10])
                    .unwrap()
                    .is_empty()
            );
        }
        assert_eq!(spool.len(), 5);
        assert_eq!(spool.bytes(), 5 * record_len("b0", 10));
        assert_eq!(spool.samples(), 10);
        let out = drain(&mut spool);
        let ids: Vec<&str> = out.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, ["b0", "b1", "b2", "b3", "b4"]);
        assert_eq!(out[3].1, 3);
        assert_eq!(out[3].2, vec![3u8; 10]);
        assert_eq!((spool.len(), spool.bytes()), (0, 0));
        assert!(batch_files(&dir.0).is_empty());
    }

    #[test]
    fn a_reopened_spool_resumes_its_batches_and_sequence() {
        let dir = TempDir::new();
        {
            let (mut spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
            for i in 0..3 {
                spool.push(&format!("first-{i}"), 1, b"x").unwrap();
            }
            let (head, _) = spool.head().unwrap();
            spool.remove(head.unwrap().seq).unwrap();
        }
        let (mut spool, dropped) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        assert!(dropped.is_empty());
        assert_eq!(spool.len(), 2);
        spool.push("second-0", 1, b"y").unwrap();
        // The new batch gets a higher sequence than every resumed one.
        assert_eq!(
            batch_files(&dir.0),
            [
                "00000000000000000002.batch",
                "00000000000000000003.batch",
                "00000000000000000004.batch"
            ]
        );
        let ids: Vec<String> = drain(&mut spool).into_iter().map(|b| b.0).collect();
        assert_eq!(ids, ["first-1", "first-2", "second-0"]);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = TempDir::new();
        let (_spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        assert!(matches!(
            Spool::open(&dir.0, DEFAULT_MAX_BYTES),
            Err(SpoolError::Locked { .. })
        ));
    }

    #[test]
    fn a_full_spool_drops_its_oldest_batches_first() {
        let dir = TempDir::new();
        let one = record_len("b0", 100);
        let (mut spool, _) = Spool::open(&dir.0, 3 * one + one / 2).unwrap();
        for i in 0..3u64 {
            assert!(
                spool
                    .push(&format!("b{i}"), 10 + i, &[0; 100])
                    .unwrap()
                    .is_empty()
            );
        }
        let dropped = spool.push("b3", 13, &[0; 100]).unwrap();
        assert_eq!(
            dropped,
            [Dropped {
                reason: REASON_FULL,
                samples: 10
            }]
        );
        assert!(spool.bytes() <= spool.max_bytes());
        assert_eq!(spool.len(), 3);

        // A batch being sent is not pulled away; the next oldest goes.
        let (head, _) = spool.head().unwrap();
        let head = head.unwrap();
        assert_eq!(head.batch_id, "b1");
        assert!(spool.claim(head.seq));
        let dropped = spool.push("b4", 14, &[0; 100]).unwrap();
        assert_eq!(dropped[0].samples, 12);
        spool.release();

        // Two batches' worth evicts two.
        let dropped = spool.push("big", 1, &[0; 250]).unwrap();
        assert_eq!(dropped.iter().map(|d| d.samples).sum::<u64>(), 11 + 13);
        assert!(spool.bytes() <= spool.max_bytes());

        // Larger than the whole bound: only the newcomer is dropped.
        let before = spool.len();
        let dropped = spool.push("huge", 99, &[0; 1000]).unwrap();
        assert_eq!(
            dropped,
            [Dropped {
                reason: REASON_FULL,
                samples: 99
            }]
        );
        assert_eq!(spool.len(), before);

        let ids: Vec<String> = drain(&mut spool).into_iter().map(|b| b.0).collect();
        assert_eq!(ids, ["b4", "big"]);
    }

    #[test]
    fn a_smaller_bound_on_reopen_drops_the_oldest() {
        let dir = TempDir::new();
        let one = record_len("b0", 10);
        {
            let (mut spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
            for i in 0..4 {
                spool.push(&format!("b{i}"), 5, &[1; 10]).unwrap();
            }
        }
        let (mut spool, dropped) = Spool::open(&dir.0, 2 * one).unwrap();
        assert_eq!(dropped.len(), 2);
        assert!(
            dropped
                .iter()
                .all(|d| d.reason == REASON_FULL && d.samples == 5)
        );
        let ids: Vec<String> = drain(&mut spool).into_iter().map(|b| b.0).collect();
        assert_eq!(ids, ["b2", "b3"]);
    }

    #[test]
    fn corrupt_files_are_dropped_and_counted() {
        let dir = TempDir::new();
        {
            let (mut spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
            for i in 0..4 {
                spool.push(&format!("b{i}"), 7, &[2; 50]).unwrap();
            }
        }
        // Damage b1's payload and truncate b2.
        let b1 = record_path(&dir.0, 2);
        let mut bytes = fs::read(&b1).unwrap();
        bytes[HEADER_LEN + 10] ^= 1;
        fs::write(&b1, bytes).unwrap();
        let b2 = record_path(&dir.0, 3);
        let bytes = fs::read(&b2).unwrap();
        fs::write(&b2, &bytes[..bytes.len() / 2]).unwrap();

        let (mut spool, dropped) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(dropped.len(), 2);
        assert!(dropped.iter().all(|d| d.reason == REASON_CORRUPT));
        assert!(!b1.exists() && !b2.exists());
        assert_eq!(spool.len(), 2);

        // Damage found only when reading the head is dropped there.
        let b0 = record_path(&dir.0, 1);
        fs::write(&b0, b"AUGSPOOL garbage").unwrap();
        let (head, dropped) = spool.head().unwrap();
        assert_eq!(head.unwrap().batch_id, "b3");
        assert_eq!(
            dropped,
            [Dropped {
                reason: REASON_CORRUPT,
                samples: 7
            }]
        );
        assert_eq!(spool.len(), 1);
        assert_eq!(spool.bytes(), record_len("b3", 50));
    }

    #[test]
    fn temporary_and_foreign_files_are_not_batches() {
        let dir = TempDir::new();
        {
            let (mut spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
            spool.push("kept", 3, b"abc").unwrap();
        }
        // A write interrupted before its rename, with a higher sequence.
        let temp = dir.0.join(format!("{:020}{TEMP_SUFFIX}", 9));
        fs::write(&temp, &encode_record("half", 1, b"abc")[..20]).unwrap();
        let foreign = dir.0.join("README");
        fs::write(&foreign, "not a batch").unwrap();

        let (mut spool, dropped) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        assert!(dropped.is_empty());
        assert!(!temp.exists(), "temporary file left behind");
        assert!(
            foreign.exists(),
            "a file the spool does not own was removed"
        );
        assert_eq!(spool.len(), 1);
        assert_eq!(list(&dir.0).unwrap()[0].batch_id, "kept");
        spool.push("next", 1, b"d").unwrap();
        assert!(record_path(&dir.0, 2).exists());
        let ids: Vec<String> = drain(&mut spool).into_iter().map(|b| b.0).collect();
        assert_eq!(ids, ["kept", "next"]);
    }

    #[test]
    fn list_reports_waiting_batches_without_taking_the_spool() {
        let dir = TempDir::new();
        let (mut spool, _) = Spool::open(&dir.0, DEFAULT_MAX_BYTES).unwrap();
        spool.push("a", 4, b"1234").unwrap();
        spool.push("b", 6, b"56").unwrap();
        let listed = list(&dir.0).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|e| (e.batch_id.as_str(), e.samples, e.bytes))
                .collect::<Vec<_>>(),
            [("a", 4, record_len("a", 4)), ("b", 6, record_len("b", 2))]
        );
    }
}
