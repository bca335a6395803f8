//! The ingest log: accepted batches, as their compressed payloads, in
//! append-only segment files, fsynced before a push is acknowledged.
//!
//! A segment is a magic header and records; a record is its body's length
//! and CRC-32, then the body: batch id, receipt time and payload. Segments
//! hold what memory holds until a flush stores it; the flush deletes them,
//! and a start replays whatever is left. A crash while appending leaves a
//! torn record at the end of a segment: its batch was never acknowledged,
//! and reading stops there.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// First bytes of every segment.
const MAGIC: &[u8; 8] = b"AUGLOG01";
/// Bytes before a record's body: length and CRC-32.
const RECORD_HEADER: usize = 8;
/// Largest record body read back; a larger length is a torn or damaged
/// record, not an allocation.
const MAX_BODY: usize = 256 << 20;

/// One accepted batch as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The batch's idempotency key.
    pub batch_id: String,
    /// When the aggregator received it, Unix nanoseconds.
    pub received_unix_nanos: i64,
    /// The batch as the agent sent it (zstd-compressed protobuf).
    pub payload: Vec<u8>,
}

/// Appends the record for one batch to `out`; returns its length.
pub fn encode_record(
    batch_id: &str,
    received_unix_nanos: i64,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    let id = batch_id.as_bytes();
    // Batch ids are checked to be short long before this.
    let id_len = u16::try_from(id.len()).expect("batch ids are at most 256 bytes");
    let body_len = 2 + id.len() + 8 + payload.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let body_start = out.len();
    out.extend_from_slice(&id_len.to_le_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(&received_unix_nanos.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[body_start..]);
    out[body_start - 4..body_start].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub struct SegmentContents {
    /// The whole records, in order.
    pub records: Vec<LogRecord>,
    /// Bytes after the last whole record (a torn append), if any.
    pub torn_bytes: usize,
}

/// Reads one segment's records, stopping at the first torn or damaged one.
pub fn read_segment(path: &Path) -> io::Result<SegmentContents> {
    let bytes = std::fs::read(path)?;
    let mut contents = SegmentContents::default();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        // Created but its header never reached the disk: nothing in it was
        // acknowledged.
        contents.torn_bytes = bytes.len();
        return Ok(contents);
    }
    let mut at = MAGIC.len();
    while at < bytes.len() {
        match decode_record(&bytes[at..]) {
            Some((record, used)) => {
                contents.records.push(record);
                at += used;
            }
            None => {
                contents.torn_bytes = bytes.len() - at;
                break;
            }
        }
    }
    Ok(contents)
}

/// One record from the start of `bytes` and its length, or `None` when it
/// is incomplete or fails its checksum.
fn decode_record(bytes: &[u8]) -> Option<(LogRecord, usize)> {
    let header = bytes.get(..RECORD_HEADER)?;
    let body_len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if body_len > MAX_BODY {
        return None;
    }
    let body = bytes.get(RECORD_HEADER..RECORD_HEADER + body_len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let id_len = u16::from_le_bytes(body.get(..2)?.try_into().ok()?) as usize;
    let batch_id = std::str::from_utf8(body.get(2..2 + id_len)?)
        .ok()?
        .to_owned();
    let received = body.get(2 + id_len..2 + id_len + 8)?;
    let received_unix_nanos = i64::from_le_bytes(received.try_into().ok()?);
    let payload = body[2 + id_len + 8..].to_vec();
    Some((
        LogRecord {
            batch_id,
            received_unix_nanos,
            payload,
        },
        RECORD_HEADER + body_len,
    ))
}

/// The segments in `dir`, oldest first, with their sequence numbers.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("segment-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            segments.push((seq, path));
        }
    }
    segments.sort();
    Ok(segments)
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("segment-{seq:020}.log"))
}

/// Appends to the newest segment; one writer per directory.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    /// The open segment, created at the first append after a seal.
    file: Option<File>,
    next_seq: u64,
    /// Segments written since the last seal, the open one last.
    unsealed: Vec<PathBuf>,
}

impl SegmentWriter {
    /// A writer whose first segment will be numbered `next_seq`.
    pub fn new(dir: &Path, next_seq: u64) -> Self {
        Self {
            dir: dir.to_owned(),
            file: None,
            next_seq,
            unsealed: Vec::new(),
        }
    }

    /// Appends `records` (whole encoded records) and makes them durable.
    /// After an error the segment is left behind, ending in what may be a
    /// torn record, and the next append starts a new one.
    pub fn append(&mut self, records: &[u8]) -> io::Result<()> {
        let result = self.try_append(records);
        if result.is_err() {
            self.file = None;
        }
        result
    }

    fn try_append(&mut self, records: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let path = segment_path(&self.dir, self.next_seq);
                self.next_seq += 1;
                let mut file = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(&path)?;
                self.unsealed.push(path);
                file.write_all(MAGIC)?;
                // The new name must survive a crash as well as its bytes.
                File::open(&self.dir)?.sync_all()?;
                self.file.insert(file)
            }
        };
        file.write_all(records)?;
        file.sync_data()
    }

    /// Closes the open segment; returns every segment written since the
    /// last seal. The next append starts a new segment.
    pub fn seal(&mut self) -> Vec<PathBuf> {
        self.file = None;
        std::mem::take(&mut self.unsealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32fast::hash(b""), 0);
    }

    fn record(id: &str, payload: &[u8]) -> LogRecord {
        LogRecord {
            batch_id: id.into(),
            received_unix_nanos: 42,
            payload: payload.to_vec(),
        }
    }

    fn encoded(records: &[LogRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            encode_record(&r.batch_id, r.received_unix_nanos, &r.payload, &mut out);
        }
        out
    }

    #[test]
    fn appended_records_read_back_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SegmentWriter::new(dir.path(), 7);
        let (a, b, c) = (record("a", b"one"), record("b", b""), record("c", b"three"));
        writer.append(&encoded(&[a.clone(), b.clone()])).unwrap();
        let sealed = writer.seal();
        assert_eq!(sealed.len(), 1);
        writer.append(&encoded(std::slice::from_ref(&c))).unwrap();
        let segments = list_segments(dir.path()).unwrap();
        assert_eq!(
            segments.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            [7, 8]
        );
        assert_eq!(read_segment(&segments[0].1).unwrap().records, [a, b]);
        let second = read_segment(&segments[1].1).unwrap();
        assert_eq!((second.records, second.torn_bytes), (vec![c], 0));
    }

    #[test]
    fn reading_stops_at_a_torn_or_damaged_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SegmentWriter::new(dir.path(), 0);
        let bytes = encoded(&[record("a", b"payload"), record("b", b"payload")]);
        // The second record half written, as a crash mid-append leaves it.
        writer.append(&bytes[..bytes.len() - 3]).unwrap();
        let path = &list_segments(dir.path()).unwrap()[0].1;
        let contents = read_segment(path).unwrap();
        assert_eq!(contents.records, [record("a", b"payload")]);
        assert!(contents.torn_bytes > 0);
        // A flipped bit in a whole record: that record and what follows
        // are not trusted.
        let mut damaged = MAGIC.to_vec();
        damaged.extend_from_slice(&bytes);
        damaged[MAGIC.len() + RECORD_HEADER + 3] ^= 1;
        std::fs::write(path, &damaged).unwrap();
        assert!(read_segment(path).unwrap().records.is_empty());
        // A header that never reached the disk.
        std::fs::write(path, b"AUG").unwrap();
        assert!(read_segment(path).unwrap().records.is_empty());
    }
}
