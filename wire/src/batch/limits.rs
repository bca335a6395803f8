//! The limits every incoming batch is held to, what is refused or cut
//! down when one is hit, the decode memory batches share, and the count of
//! a batch's elements on its encoded bytes, made before it is decoded.

use std::sync::{Arc, Mutex, PoisonError};

use crate::protobuf;

/// Longest path hint kept (Linux's `PATH_MAX`).
pub const MAX_PATH_HINT: usize = 4096;

/// Longest function name of a runtime frame kept, in bytes; a longer one is
/// shortened. Runtime names are read from a profiled process's memory, so
/// they are bounded here whatever the agent did.
pub const MAX_RUNTIME_FUNCTION: usize = 1024;

/// Longest source file of a runtime frame kept, in bytes (Linux's
/// `PATH_MAX`); a longer one is shortened.
pub const MAX_RUNTIME_FILE: usize = 4096;

/// Size and shape limits applied to every incoming batch.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted compressed payload, in bytes.
    pub max_compressed: usize,
    /// Largest accepted payload after decompression, in bytes.
    pub max_decompressed: usize,
    /// Deepest stack kept, in frames, the marker included; deeper stacks
    /// keep their leaf-most frames and end in an
    /// [`augur_profile::TRUNCATED_FUNCTION`] frame. At least 2.
    pub max_stack_depth: usize,
    /// Most stacks (samples) in one batch; more refuse the batch.
    pub max_stacks: usize,
    /// Most decoded items in one batch: frames, samples, processes, labels
    /// and binaries together. Each costs tens of bytes once decoded, even
    /// when it took two bytes on the wire, so this bounds a decoded batch's
    /// memory where `max_decompressed` cannot; more refuse the batch.
    pub max_items: usize,
    /// Most labels on one process, `service` included; the rest (last in
    /// name order) are dropped.
    pub max_labels: usize,
    /// Longest label name or value, in bytes: a longer value is shortened,
    /// a label with a longer name dropped.
    pub max_label_len: usize,
    /// Memory shared by every batch being decoded at once; `None` leaves
    /// it to the other limits.
    pub decode_memory: Option<DecodeMemory>,
}

/// Bytes a decoded item (frame, sample, process, label or binary) is
/// reserved for: its decoded struct (at most 56 bytes) and its validated
/// copy.
pub(super) const ITEM_BYTES: usize = 128;

/// Memory that every batch being decoded at once shares: each reserves the
/// bytes it inflates to before it inflates them, and then what its items
/// will take before it decodes them, until its [`Reservation`] is dropped.
/// A batch that does not fit while others are decoding is refused with
/// [`BatchError::Busy`], to be sent again later; one that is alone always
/// fits, so any batch within the other limits gets through eventually.
///
/// Without it, the other limits bound each batch, not all of them: sixteen
/// payloads of a few kilobytes that each inflate to the 64 MiB limit took
/// over a gigabyte at once.
#[derive(Clone, Debug)]
pub struct DecodeMemory {
    total: usize,
    used: Arc<Mutex<usize>>,
}

impl DecodeMemory {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        Self {
            total,
            used: Arc::new(Mutex::new(0)),
        }
    }

    /// Bytes reserved right now.
    pub fn in_use(&self) -> usize {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The budget, in bytes.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// Bytes of [`DecodeMemory`] one batch holds; given back when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    memory: Option<DecodeMemory>,
    bytes: usize,
}

impl Reservation {
    pub(super) fn new(memory: &Option<DecodeMemory>) -> Self {
        Self {
            memory: memory.clone(),
            bytes: 0,
        }
    }

    /// Takes `bytes` more, if they fit beside the other batches'.
    pub(super) fn grow(&mut self, bytes: usize) -> Result<(), BatchError> {
        let Some(memory) = &self.memory else {
            return Ok(());
        };
        let mut used = memory.used.lock().unwrap_or_else(PoisonError::into_inner);
        let others = *used - self.bytes;
        if others > 0 && others + self.bytes + bytes > memory.total {
            return Err(BatchError::Busy {
                needed: self.bytes + bytes,
                limit: memory.total,
            });
        }
        *used += bytes;
        self.bytes += bytes;
        Ok(())
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(memory) = &self.memory {
            *memory.used.lock().unwrap_or_else(PoisonError::into_inner) -= self.bytes;
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_compressed: 4 << 20,
            max_decompressed: 64 << 20,
            max_stack_depth: 1024,
            max_stacks: 1 << 18,
            max_items: 8 << 20,
            max_labels: 64,
            max_label_len: 1024,
            decode_memory: None,
        }
    }
}

/// What validation cut down to fit the [`Limits`] without refusing the
/// batch; [`LimitHits::by_limit`] names each for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitHits {
    /// Stacks truncated at the depth limit.
    pub stacks_truncated: u64,
    /// Labels dropped because a process had too many.
    pub labels_dropped: u64,
    /// Labels dropped for a long name or shortened for a long value.
    pub labels_too_long: u64,
    /// Path hints of binaries forgotten: relative, with `..`, a NUL or
    /// longer than [`MAX_PATH_HINT`].
    pub path_hints_dropped: u64,
    /// Runtime frames whose function name or file was shortened to
    /// [`MAX_RUNTIME_FUNCTION`] or [`MAX_RUNTIME_FILE`].
    pub runtime_names_shortened: u64,
}

impl LimitHits {
    /// Each count with the stable name of its limit, for
    /// `augur_aggregator_limit_hits_total{limit=...}`.
    pub fn by_limit(&self) -> [(&'static str, u64); 5] {
        [
            ("stack_depth", self.stacks_truncated),
            ("label_count", self.labels_dropped),
            ("label_length", self.labels_too_long),
            ("path_hint", self.path_hints_dropped),
            ("runtime_name_length", self.runtime_names_shortened),
        ]
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
    /// The decompressed bytes are not protobuf this protocol uses; found
    /// while counting elements, before decoding.
    #[error("payload is not a valid Batch message: {0}")]
    Malformed(&'static str),
    /// The batch holds more stacks or decoded items than the limits allow.
    #[error("{what}: {count} exceed the limit of {limit}")]
    TooMany {
        /// What was counted, e.g. `stacks` or `decoded items`.
        what: &'static str,
        /// How many the batch holds.
        count: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The message decoded but breaks a rule of the protocol.
    #[error("invalid batch: {0}")]
    Invalid(String),
    /// Decoding would take more memory than other batches being decoded
    /// leave; the batch is fine and may be sent again later.
    #[error(
        "decoding needs {needed} bytes, more than the {limit}-byte decode memory leaves beside other batches; retry later"
    )]
    Busy {
        /// Bytes this batch needs.
        needed: usize,
        /// The shared budget.
        limit: usize,
    },
}

impl BatchError {
    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            BatchError::TooLarge { .. } => "too_large",
            BatchError::InflatesTooLarge { .. } => "inflates_too_large",
            BatchError::Compression { .. } => "bad_compression",
            BatchError::Decode { .. } | BatchError::Malformed(_) => "bad_protobuf",
            BatchError::TooMany { what: STACKS, .. } => "too_many_stacks",
            BatchError::TooMany { .. } => "too_many_items",
            BatchError::Invalid(_) => "invalid",
            BatchError::Busy { .. } => "decode_memory",
        }
    }

    /// The limit this refusal hit, named as in
    /// `augur_aggregator_limit_hits_total{limit=...}`; `None` for malformed
    /// input.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            BatchError::TooLarge { .. } => Some("compressed_size"),
            BatchError::InflatesTooLarge { .. } => Some("decompressed_size"),
            BatchError::TooMany { what: STACKS, .. } => Some("stacks_per_batch"),
            BatchError::TooMany { .. } => Some("batch_items"),
            BatchError::Busy { .. } => Some("decode_memory"),
            _ => None,
        }
    }
}

const STACKS: &str = "stacks";
const ITEMS: &str = "decoded items (frames, samples, processes, labels, binaries)";

/// How the bytes of a payload within its limits become a `T`.
pub(super) type Decoder<'l, T> = &'l mut dyn FnMut(&[u8], &Shape) -> Result<T, BatchError>;

/// Counts what decoding `bytes` would allocate, reserves it, then decodes.
pub(super) fn decode_bounded<T>(
    bytes: &[u8],
    limits: &Limits,
    reservation: &mut Reservation,
    decode: Decoder<'_, T>,
) -> Result<T, BatchError> {
    let shape = shape_of(bytes).map_err(BatchError::Malformed)?;
    if shape.samples > limits.max_stacks {
        return Err(BatchError::TooMany {
            what: STACKS,
            count: shape.samples,
            limit: limits.max_stacks,
        });
    }
    if shape.items > limits.max_items {
        return Err(BatchError::TooMany {
            what: ITEMS,
            count: shape.items,
            limit: limits.max_items,
        });
    }
    reservation.grow(shape.items * ITEM_BYTES)?;
    decode(bytes, &shape)
}

/// How many elements an encoded [`Batch`](crate::ingest::Batch) holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Shape {
    pub(super) samples: usize,
    /// Binaries, processes, labels, samples, frames and dropped reasons.
    pub(super) items: usize,
}

/// Counts the repeated elements of an encoded
/// [`Batch`](crate::ingest::Batch) without decoding it: a linear walk over
/// the bytes that allocates nothing. Field numbers are those of
/// `ingest.proto`.
pub(super) fn shape_of(bytes: &[u8]) -> protobuf::Result<Shape> {
    let mut shape = Shape::default();
    for_each_field(bytes, |field, value| {
        let Some(value) = value else { return Ok(()) };
        match field {
            // binaries, dropped
            7 | 10 => shape.items += 1,
            // processes, each with its labels (field 2)
            8 => {
                shape.items += 1;
                for_each_field(value, |field, _| {
                    shape.items += usize::from(field == 2);
                    Ok(())
                })?;
            }
            // samples, each with its frames (field 2)
            9 => {
                shape.samples += 1;
                shape.items += 1;
                for_each_field(value, |field, _| {
                    shape.items += usize::from(field == 2);
                    Ok(())
                })?;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(shape)
}

/// Calls `each` with the number of every field in `bytes`, and its bytes
/// when it is length-delimited. Groups, which this protocol never uses, are
/// refused.
#[inline]
fn for_each_field<'a>(
    mut bytes: &'a [u8],
    mut each: impl FnMut(u32, Option<&'a [u8]>) -> protobuf::Result<()>,
) -> protobuf::Result<()> {
    while !bytes.is_empty() {
        let (field, wire) = protobuf::key(&mut bytes)?;
        let value = match wire {
            protobuf::LENGTH_DELIMITED => Some(protobuf::length_delimited(&mut bytes)?),
            protobuf::VARINT => protobuf::varint(&mut bytes).map(|_| None)?,
            protobuf::FIXED64 => protobuf::take(&mut bytes, 8).map(|_| None)?,
            protobuf::FIXED32 => protobuf::take(&mut bytes, 4).map(|_| None)?,
            _ => return Err("unsupported protobuf wire type"),
        };
        each(field, value)?;
    }
    Ok(())
}
