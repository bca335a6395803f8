//! Batches on the wire: compression with hard size limits, and validation of
//! a decoded [`Batch`] into plain Rust types the aggregator can trust.
//!
//! The limits are checked before any allocation that depends on the input:
//! the compressed size first, then the decompressed size while streaming, so
//! a zstd bomb costs at most `max_decompressed + one buffer` of memory.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use augur_profile::{BuildId, ProfileType, RawFrame};
use prost::Message;

use crate::ingest::{Batch, frame};

/// Size and shape limits applied to every incoming batch.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted compressed payload, in bytes.
    pub max_compressed: usize,
    /// Largest accepted payload after decompression, in bytes.
    pub max_decompressed: usize,
    /// Deepest accepted stack, in frames.
    pub max_stack_depth: usize,
    /// Most labels on one process.
    pub max_labels: usize,
    /// Longest label name or value, in bytes.
    pub max_label_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_compressed: 4 << 20,
            max_decompressed: 64 << 20,
            max_stack_depth: 1024,
            max_labels: 64,
            max_label_len: 1024,
        }
    }
}

/// Why a batch was refused. [`BatchError::reason`] names the metric label.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The compressed payload exceeds the limit.
    #[error("payload of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Compressed size received.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The payload inflates beyond the limit (a zstd bomb or a huge batch).
    #[error("payload inflates beyond the {limit}-byte limit")]
    InflatesTooLarge {
        /// Configured limit.
        limit: usize,
    },
    /// The payload is not a zstd frame.
    #[error("payload is not valid zstd: {source}")]
    Compression {
        /// Decoder error.
        #[source]
        source: std::io::Error,
    },
    /// The decompressed bytes are not a `Batch` message.
    #[error("payload is not a valid Batch message: {source}")]
    Decode {
        /// Protobuf error.
        #[source]
        source: prost::DecodeError,
    },
    /// The message decoded but breaks a rule of the protocol.
    #[error("invalid batch: {0}")]
    Invalid(String),
}

impl BatchError {
    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            BatchError::TooLarge { .. } => "too_large",
            BatchError::InflatesTooLarge { .. } => "inflates_too_large",
            BatchError::Compression { .. } => "bad_compression",
            BatchError::Decode { .. } => "bad_protobuf",
            BatchError::Invalid(_) => "invalid",
        }
    }
}

/// Encodes and compresses a batch for [`crate::ingest::PushRequest::payload`].
pub fn compress(batch: &Batch, level: i32) -> std::io::Result<Vec<u8>> {
    zstd::bulk::compress(&batch.encode_to_vec(), level)
}

/// Decompresses and decodes a payload within `limits`.
pub fn decompress(payload: &[u8], limits: &Limits) -> Result<Batch, BatchError> {
    if payload.len() > limits.max_compressed {
        return Err(BatchError::TooLarge {
            size: payload.len(),
            limit: limits.max_compressed,
        });
    }
    if let Some(decoded) = decode_declared(payload, limits.max_decompressed) {
        return decoded;
    }
    let bytes = inflate_streaming(payload, limits)?;
    Batch::decode(bytes.as_slice()).map_err(|source| BatchError::Decode { source })
}

/// Largest inflated buffer a thread keeps for the next batch.
const KEPT_BUFFER: usize = 8 << 20;

/// A thread's decompression context and output buffer, both reused: setting
/// up a context costs about as much as inflating a typical batch, and a
/// fresh large buffer per batch keeps the allocator busy.
#[derive(Default)]
struct Inflater {
    context: Option<zstd::bulk::Decompressor<'static>>,
    buffer: Vec<u8>,
}

thread_local! {
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater::default());
}

/// The fast path for payloads whose frame header declares a size within the
/// limit (what [`compress`] writes): inflate into a reused buffer and decode.
/// `None` sends anything else (no declared size, more than one frame, a
/// header that lies, corrupt data) to [`inflate_streaming`], which bounds
/// the output itself and names the error.
fn decode_declared(payload: &[u8], max_decompressed: usize) -> Option<Result<Batch, BatchError>> {
    let declared = zstd::zstd_safe::get_frame_content_size(payload).ok()??;
    let size = usize::try_from(declared)
        .ok()
        .filter(|&size| size <= max_decompressed)?;
    INFLATER.with(|cell| {
        let mut inflater = cell.try_borrow_mut().ok()?;
        let Inflater { context, buffer } = &mut *inflater;
        if context.is_none() {
            *context = zstd::bulk::Decompressor::new().ok();
        }
        buffer.clear();
        buffer.reserve(size);
        // Output stops at the buffer's capacity, which only a declared size
        // within the limit ever set; more than declared goes the slow way.
        let inflated = context.as_mut()?.decompress_to_buffer(payload, buffer);
        let decoded = match inflated {
            Ok(n) if n == size => Some(
                Batch::decode(buffer.as_slice()).map_err(|source| BatchError::Decode { source }),
            ),
            _ => None,
        };
        if buffer.capacity() > KEPT_BUFFER {
            *buffer = Vec::new();
        }
        decoded
    })
}

/// Inflates any zstd payload, reading at most one byte past the limit.
fn inflate_streaming(payload: &[u8], limits: &Limits) -> Result<Vec<u8>, BatchError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(payload)
        .map_err(|source| BatchError::Compression { source })?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to tell "exactly at" from "beyond".
    decoder
        .take(limits.max_decompressed as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| BatchError::Compression { source })?;
    if bytes.len() > limits.max_decompressed {
        return Err(BatchError::InflatesTooLarge {
            limit: limits.max_decompressed,
        });
    }
    Ok(bytes)
}

/// One process's labels; shared by all its samples.
pub type Labels = Arc<BTreeMap<String, String>>;

/// A validated sample: labels, leaf-first frames and a count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidSample {
    /// Labels of the process; always contains `service`.
    pub labels: Labels,
    /// Frames, leaf first.
    pub frames: Vec<RawFrame>,
    /// Number of samples.
    pub count: u64,
}

/// A batch whose every index, id and label has been checked.
#[derive(Clone, Debug)]
pub struct ValidBatch {
    /// Reporting host.
    pub host: String,
    /// Window start, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Window end, Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// What the samples measure.
    pub profile_type: ProfileType,
    /// Value of one sample in the profile type's unit.
    pub period: u64,
    /// Objects referenced, with the path on the reporting host.
    pub binaries: Vec<(BuildId, String)>,
    /// Samples.
    pub samples: Vec<ValidSample>,
    /// What the agent lost before sending, by reason.
    pub dropped: BTreeMap<String, u64>,
}

impl ValidBatch {
    /// Total sample count.
    pub fn total_samples(&self) -> u64 {
        self.samples.iter().map(|s| s.count).sum()
    }
}

/// Checks every reference in `batch` and converts it to plain types.
pub fn validate(batch: Batch, limits: &Limits) -> Result<ValidBatch, BatchError> {
    let invalid = |msg: String| BatchError::Invalid(msg);
    if batch.profile_type.is_empty() || batch.unit.is_empty() {
        return Err(invalid("profile_type and unit are required".into()));
    }
    if batch.period == 0 {
        return Err(invalid("period must be positive".into()));
    }
    if batch.end_unix_nanos < batch.start_unix_nanos {
        return Err(invalid("window ends before it starts".into()));
    }
    let binaries = batch
        .binaries
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            BuildId::from_bytes(&b.build_id)
                .map(|id| (id, b.path))
                .map_err(|e| invalid(format!("binary {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let processes = batch
        .processes
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if p.labels.len() > limits.max_labels {
                return Err(invalid(format!(
                    "process {i}: {} labels exceed the limit of {}",
                    p.labels.len(),
                    limits.max_labels
                )));
            }
            for (k, v) in &p.labels {
                if k.is_empty() || k.len() > limits.max_label_len || v.len() > limits.max_label_len
                {
                    return Err(invalid(format!(
                        "process {i}: label {k:.40?} is empty or too long"
                    )));
                }
            }
            match p.labels.get("service") {
                Some(s) if !s.is_empty() => {}
                _ => return Err(invalid(format!("process {i} has no service label"))),
            }
            Ok(Arc::new(p.labels.into_iter().collect::<BTreeMap<_, _>>()))
        })
        .collect::<Result<Vec<Labels>, _>>()?;

    let mut samples = Vec::with_capacity(batch.samples.len());
    for (i, sample) in batch.samples.into_iter().enumerate() {
        let labels = processes
            .get(sample.process as usize)
            .ok_or_else(|| {
                invalid(format!(
                    "sample {i}: process index {} out of range",
                    sample.process
                ))
            })?
            .clone();
        if sample.frames.is_empty() {
            return Err(invalid(format!("sample {i} has no frames")));
        }
        if sample.frames.len() > limits.max_stack_depth {
            return Err(invalid(format!(
                "sample {i}: {} frames exceed the depth limit of {}",
                sample.frames.len(),
                limits.max_stack_depth
            )));
        }
        if sample.count == 0 {
            continue;
        }
        let frames = sample
            .frames
            .into_iter()
            .map(|f| match f.kind {
                Some(frame::Kind::User(u)) => binaries
                    .get(u.binary as usize)
                    .map(|(id, _)| RawFrame::User {
                        build_id: id.clone(),
                        file_offset: u.file_offset,
                    })
                    .ok_or_else(|| {
                        invalid(format!(
                            "sample {i}: binary index {} out of range",
                            u.binary
                        ))
                    }),
                Some(frame::Kind::Kernel(k)) if !k.function.is_empty() => Ok(RawFrame::Kernel {
                    function: k.function,
                    module: (!k.module.is_empty()).then_some(k.module),
                }),
                Some(frame::Kind::Unknown(reason)) => Ok(RawFrame::Unknown { reason }),
                Some(frame::Kind::Named(n)) if !n.function.is_empty() && !n.origin.is_empty() => {
                    Ok(RawFrame::Named {
                        function: n.function,
                        origin: n.origin,
                    })
                }
                _ => Err(invalid(format!("sample {i} has an empty frame"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        samples.push(ValidSample {
            labels,
            frames,
            count: sample.count,
        });
    }
    Ok(ValidBatch {
        host: batch.host,
        start_unix_nanos: batch.start_unix_nanos,
        end_unix_nanos: batch.end_unix_nanos,
        profile_type: ProfileType {
            name: batch.profile_type,
            unit: batch.unit,
        },
        period: batch.period,
        binaries,
        samples,
        dropped: batch.dropped.into_iter().collect(),
    })
}

/// Encodes a validated batch for the wire, interning binaries and processes.
pub fn to_wire(batch: &ValidBatch) -> Batch {
    use std::collections::HashMap;

    use crate::ingest::{Binary, Frame, KernelFrame, Process, Sample, UserFrame};

    let binary_index: HashMap<&BuildId, u32> = batch
        .binaries
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id, i as u32))
        .collect();
    let mut binaries: Vec<Binary> = batch
        .binaries
        .iter()
        .map(|(id, path)| Binary {
            build_id: id.as_bytes().to_vec(),
            path: path.clone(),
        })
        .collect();
    let mut extra_binaries: HashMap<BuildId, u32> = HashMap::new();
    let mut processes: Vec<Process> = Vec::new();
    let mut process_index: HashMap<*const BTreeMap<String, String>, u32> = HashMap::new();
    let mut samples = Vec::with_capacity(batch.samples.len());
    for sample in &batch.samples {
        let process = *process_index
            .entry(Arc::as_ptr(&sample.labels))
            .or_insert_with(|| {
                processes.push(Process {
                    pid: 0,
                    labels: sample
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
                processes.len() as u32 - 1
            });
        let frames = sample
            .frames
            .iter()
            .map(|frame| Frame {
                kind: Some(match frame {
                    RawFrame::User {
                        build_id,
                        file_offset,
                    } => {
                        let binary = match binary_index.get(build_id) {
                            Some(&i) => i,
                            None => *extra_binaries.entry(build_id.clone()).or_insert_with(|| {
                                binaries.push(Binary {
                                    build_id: build_id.as_bytes().to_vec(),
                                    path: String::new(),
                                });
                                binaries.len() as u32 - 1
                            }),
                        };
                        frame::Kind::User(UserFrame {
                            binary,
                            file_offset: *file_offset,
                        })
                    }
                    RawFrame::Kernel { function, module } => frame::Kind::Kernel(KernelFrame {
                        function: function.clone(),
                        module: module.clone().unwrap_or_default(),
                    }),
                    RawFrame::Unknown { reason } => frame::Kind::Unknown(reason.clone()),
                    RawFrame::Named { function, origin } => {
                        frame::Kind::Named(crate::ingest::NamedFrame {
                            function: function.clone(),
                            origin: origin.clone(),
                        })
                    }
                }),
            })
            .collect();
        samples.push(Sample {
            process,
            frames,
            count: sample.count,
        });
    }
    Batch {
        host: batch.host.clone(),
        start_unix_nanos: batch.start_unix_nanos,
        end_unix_nanos: batch.end_unix_nanos,
        profile_type: batch.profile_type.name.clone(),
        unit: batch.profile_type.unit.clone(),
        period: batch.period,
        binaries,
        processes,
        samples,
        dropped: batch.dropped.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Binary, Frame, KernelFrame, Process, Sample, UserFrame};

    fn good_batch() -> Batch {
        Batch {
            host: "h".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 10,
            profile_type: "cpu".into(),
            unit: "nanoseconds".into(),
            period: 1_000_000,
            binaries: vec![Binary {
                build_id: vec![0xab; 20],
                path: "/bin/x".into(),
            }],
            processes: vec![Process {
                pid: 7,
                labels: [("service".to_string(), "x".to_string())].into(),
            }],
            samples: vec![Sample {
                process: 0,
                frames: vec![
                    Frame {
                        kind: Some(frame::Kind::User(UserFrame {
                            binary: 0,
                            file_offset: 0x1234,
                        })),
                    },
                    Frame {
                        kind: Some(frame::Kind::Kernel(KernelFrame {
                            function: "do_syscall_64".into(),
                            module: String::new(),
                        })),
                    },
                ],
                count: 3,
            }],
            dropped: Default::default(),
        }
    }

    #[test]
    fn round_trip_validates() {
        let limits = Limits::default();
        let payload = compress(&good_batch(), 3).unwrap();
        let batch = validate(decompress(&payload, &limits).unwrap(), &limits).unwrap();
        assert_eq!(batch.total_samples(), 3);
        assert_eq!(batch.samples[0].labels["service"], "x");
        assert!(matches!(
            batch.samples[0].frames[0],
            RawFrame::User {
                file_offset: 0x1234,
                ..
            }
        ));
    }

    #[test]
    fn to_wire_round_trips_through_validate() {
        let limits = Limits::default();
        let valid = validate(good_batch(), &limits).unwrap();
        let again = validate(to_wire(&valid), &limits).unwrap();
        assert_eq!(again.samples, valid.samples);
        assert_eq!(again.binaries, valid.binaries);
        assert_eq!(again.period, valid.period);
    }

    #[test]
    fn host_named_frames_cross_the_wire() {
        let limits = Limits::default();
        let mut valid = validate(good_batch(), &limits).unwrap();
        valid.samples[0].frames.push(RawFrame::Named {
            function: "jit_hot_loop".into(),
            origin: "jit".into(),
        });
        let again = validate(to_wire(&valid), &limits).unwrap();
        assert_eq!(again.samples, valid.samples);
        let mut empty = to_wire(&valid);
        empty.samples[0].frames.last_mut().unwrap().kind =
            Some(frame::Kind::Named(crate::ingest::NamedFrame {
                function: String::new(),
                origin: "jit".into(),
            }));
        assert!(
            validate(empty, &limits).is_err(),
            "a nameless named frame is invalid"
        );
    }

    #[test]
    fn zstd_bomb_is_refused_with_bounded_output() {
        let limits = Limits {
            max_decompressed: 1 << 20,
            ..Limits::default()
        };
        let zeros = vec![0u8; 64 << 20];
        let bomb = zstd::bulk::compress(&zeros, 19).unwrap();
        assert!(
            bomb.len() < 64 << 10,
            "bomb should be small, is {}",
            bomb.len()
        );
        let err = decompress(&bomb, &limits).unwrap_err();
        assert_eq!(err.reason(), "inflates_too_large");
    }

    #[test]
    fn payloads_without_a_true_declared_size_take_the_bounded_path() {
        let limits = Limits::default();
        let encoded = good_batch().encode_to_vec();
        // Streamed: no content size in the header.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut encoder, &encoded).unwrap();
        let streamed = encoder.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
            None
        );
        assert_eq!(decompress(&streamed, &limits).unwrap(), good_batch());
        // Two frames: the first header declares only its own size.
        let half = encoded.len() / 2;
        let mut two = zstd::bulk::compress(&encoded[..half], 3).unwrap();
        two.extend(zstd::bulk::compress(&encoded[half..], 3).unwrap());
        assert_eq!(decompress(&two, &limits).unwrap(), good_batch());
        // Two frames that together inflate beyond the limit.
        let small = Limits {
            max_decompressed: encoded.len() - 1,
            ..Limits::default()
        };
        assert_eq!(
            decompress(&two, &small).unwrap_err().reason(),
            "inflates_too_large"
        );
    }

    #[test]
    fn oversized_and_corrupt_payloads_are_refused() {
        let limits = Limits {
            max_compressed: 16,
            ..Limits::default()
        };
        assert_eq!(
            decompress(&[0u8; 17], &limits).unwrap_err().reason(),
            "too_large"
        );
        let limits = Limits::default();
        assert_eq!(
            decompress(b"not zstd at all", &limits)
                .unwrap_err()
                .reason(),
            "bad_compression"
        );
        let not_proto = zstd::bulk::compress(&[0xff; 32], 1).unwrap();
        assert_eq!(
            decompress(&not_proto, &limits).unwrap_err().reason(),
            "bad_protobuf"
        );
    }

    #[test]
    fn dangling_indices_and_missing_service_are_invalid() {
        let limits = Limits::default();
        let mut b = good_batch();
        b.samples[0].process = 9;
        assert!(validate(b, &limits).is_err());
        let mut b = good_batch();
        b.processes[0].labels.clear();
        assert!(validate(b, &limits).is_err());
        let mut b = good_batch();
        b.samples[0].frames[0].kind = Some(frame::Kind::User(UserFrame {
            binary: 5,
            file_offset: 0,
        }));
        assert!(validate(b, &limits).is_err());
        let mut b = good_batch();
        b.samples[0].frames = vec![b.samples[0].frames[0].clone(); limits.max_stack_depth + 1];
        assert!(validate(b, &limits).is_err());
    }
}
