//! Batches on the wire: compression with hard size limits, and validation of
//! a decoded [`Batch`] into plain Rust types the aggregator can trust.
//!
//! The limits are checked before any allocation that depends on the input:
//! the compressed size first; then the decompressed size, from the frame
//! header when it declares one within the limit, else by a first inflating
//! pass that keeps only the zstd window (itself bounded) and stops past the
//! limit; then the number of stacks and of decoded items, counted on the
//! encoded bytes before protobuf decoding. So a zstd bomb costs a window,
//! not its output, and a message of many tiny elements cannot decode into
//! more than its limits' worth of memory.
//!
//! What a well-meaning agent can overrun is cut down instead of refused, and
//! reported in [`LimitHits`]: a stack deeper than the limit keeps its leaf
//! side and ends in a [`TRUNCATED_FUNCTION`] frame, extra labels are dropped,
//! long values shortened and odd path hints forgotten.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use augur_profile::{FileId, FrameRef, ProfileType, RawFrame, Runtime};
use prost::Message;

use crate::ingest::{Batch, frame};

mod direct;

/// The function name of the frame that ends a stack cut short at the depth
/// limit; the in-kernel unwinder ends the stacks it cuts with the same name.
pub const TRUNCATED_FUNCTION: &str = "[truncated]";

/// The origin of a [`TRUNCATED_FUNCTION`] frame added by validation.
pub const TRUNCATED_ORIGIN: &str = "limit";

/// The frame that ends a stack cut at [`Limits::max_stack_depth`].
pub fn truncated_frame() -> RawFrame {
    RawFrame::Named {
        function: TRUNCATED_FUNCTION.to_owned(),
        origin: TRUNCATED_ORIGIN.to_owned(),
    }
}

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
    /// keep their leaf-most frames and end in a [`TRUNCATED_FUNCTION`]
    /// frame. At least 2.
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
const ITEM_BYTES: usize = 128;

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
    fn new(memory: &Option<DecodeMemory>) -> Self {
        Self {
            memory: memory.clone(),
            bytes: 0,
        }
    }

    /// Takes `bytes` more, if they fit beside the other batches'.
    fn grow(&mut self, bytes: usize) -> Result<(), BatchError> {
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

/// Encodes and compresses a batch for [`crate::ingest::PushRequest::payload`].
pub fn compress(batch: &Batch, level: i32) -> std::io::Result<Vec<u8>> {
    zstd::bulk::compress(&batch.encode_to_vec(), level)
}

/// Decompresses and decodes a payload within `limits`: sizes first, then
/// the count of stacks and items on the encoded bytes, then decoding.
pub fn decompress(payload: &[u8], limits: &Limits) -> Result<Batch, BatchError> {
    decompress_reserved(payload, limits).map(|(batch, _)| batch)
}

/// [`decompress`], returning with the batch the share of
/// [`Limits::decode_memory`] it holds; keep it while the batch (or what is
/// made of it) is in memory.
pub fn decompress_reserved(
    payload: &[u8],
    limits: &Limits,
) -> Result<(Batch, Reservation), BatchError> {
    decompress_with(payload, limits, &mut |bytes, _| {
        Batch::decode(bytes).map_err(|source| BatchError::Decode { source })
    })
}

/// [`decompress_reserved`] and [`validate_counted`] in one step, decoding
/// straight into the validated batch: the same batch, hits and refusals,
/// at a fraction of the work.
pub fn decompress_valid(
    payload: &[u8],
    limits: &Limits,
) -> Result<(ValidBatch, LimitHits, Reservation), BatchError> {
    decompress_valid_with(payload, limits, frames_to_raw)
}

/// [`decompress_valid`], handing the stacks of the samples kept, as
/// borrowed frames, to `stacks`, which makes of each what the batch keeps
/// in its place (in the same order): the aggregator finds the stacks it
/// already holds there, and builds only the new ones.
pub fn decompress_valid_with<S>(
    payload: &[u8],
    limits: &Limits,
    mut stacks: impl FnMut(&[&[FrameRef<'_>]]) -> Vec<S>,
) -> Result<(ValidBatch<S>, LimitHits, Reservation), BatchError> {
    let ((batch, hits), reservation) = decompress_with(payload, limits, &mut |bytes, shape| {
        direct::decode(bytes, shape, limits, &mut stacks)
    })?;
    Ok((batch, hits, reservation))
}

/// Each stack's frames, owned.
fn frames_to_raw(stacks: &[&[FrameRef<'_>]]) -> Vec<Vec<RawFrame>> {
    stacks
        .iter()
        .map(|frames| frames.iter().map(|f| f.to_raw()).collect())
        .collect()
}

/// Decodes and validates an encoded, uncompressed [`Batch`] as
/// [`decompress_valid`] does, within the same counts.
pub fn decode_valid(bytes: &[u8], limits: &Limits) -> Result<(ValidBatch, LimitHits), BatchError> {
    let mut reservation = Reservation::new(&None);
    decode_bounded(bytes, limits, &mut reservation, &mut |bytes, shape| {
        direct::decode(bytes, shape, limits, &mut frames_to_raw)
    })
}

/// An encoded, uncompressed [`Batch`] decoded with prost within the same
/// counts, then validated: what [`decode_valid`] must agree with.
pub fn decode_then_validate(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(ValidBatch, LimitHits), BatchError> {
    let mut reservation = Reservation::new(&None);
    let batch = decode_bounded(bytes, limits, &mut reservation, &mut |bytes, _| {
        Batch::decode(bytes).map_err(|source| BatchError::Decode { source })
    })?;
    validate_counted(batch, limits)
}

/// How the bytes of a payload within its limits become a `T`.
type Decoder<'l, T> = &'l mut dyn FnMut(&[u8], &Shape) -> Result<T, BatchError>;

/// Sizes, decompression and counts for any decoder of the inflated bytes.
fn decompress_with<T>(
    payload: &[u8],
    limits: &Limits,
    decode: Decoder<'_, T>,
) -> Result<(T, Reservation), BatchError> {
    if payload.len() > limits.max_compressed {
        return Err(BatchError::TooLarge {
            size: payload.len(),
            limit: limits.max_compressed,
        });
    }
    let mut reservation = Reservation::new(&limits.decode_memory);
    if let Some(decoded) = decode_declared(payload, limits, &mut reservation, decode) {
        return decoded.map(|batch| (batch, reservation));
    }
    let bytes = inflate_streaming(payload, limits, &mut reservation)?;
    let batch = decode_bounded(&bytes, limits, &mut reservation, decode)?;
    Ok((batch, reservation))
}

/// Counts what decoding `bytes` would allocate, reserves it, then decodes.
fn decode_bounded<T>(
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

/// How many elements an encoded [`Batch`] holds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    samples: usize,
    /// Binaries, processes, labels, samples, frames and dropped reasons.
    items: usize,
}

/// Counts the repeated elements of an encoded [`Batch`] without decoding
/// it: a linear walk over the bytes that allocates nothing. Field numbers
/// are those of `ingest.proto`.
fn shape_of(bytes: &[u8]) -> Result<Shape, &'static str> {
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
    mut each: impl FnMut(u64, Option<&'a [u8]>) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    #[inline(always)]
    fn varint(bytes: &mut &[u8]) -> Result<u64, &'static str> {
        // Keys, lengths and small numbers: most varints are one byte.
        if let Some((&byte, rest)) = bytes.split_first() {
            if byte < 0x80 {
                *bytes = rest;
                return Ok(u64::from(byte));
            }
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first().ok_or("truncated varint")?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }
    fn skip<'a>(bytes: &mut &'a [u8], n: u64) -> Result<&'a [u8], &'static str> {
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= bytes.len())
            .ok_or("field runs past the end of its message")?;
        let (value, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(value)
    }
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        if key >> 3 == 0 {
            return Err("field number 0");
        }
        let value = match key & 7 {
            0 => varint(&mut bytes).map(|_| None)?,
            1 => skip(&mut bytes, 8).map(|_| None)?,
            2 => {
                let len = varint(&mut bytes)?;
                Some(skip(&mut bytes, len)?)
            }
            5 => skip(&mut bytes, 4).map(|_| None)?,
            _ => return Err("unsupported protobuf wire type"),
        };
        each(key >> 3, value)?;
    }
    Ok(())
}

/// What `size` inflated bytes cost until the batch is done: themselves, and
/// the strings and bytes decoded from them, which take at most as much.
fn inflated_cost(size: usize) -> usize {
    size.saturating_mul(2)
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
fn decode_declared<T>(
    payload: &[u8],
    limits: &Limits,
    reservation: &mut Reservation,
    decode: Decoder<'_, T>,
) -> Option<Result<T, BatchError>> {
    let declared = zstd::zstd_safe::get_frame_content_size(payload).ok()??;
    let size = usize::try_from(declared)
        .ok()
        .filter(|&size| size <= limits.max_decompressed)?;
    if let Err(busy) = reservation.grow(inflated_cost(size)) {
        return Some(Err(busy));
    }
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
            Ok(n) if n == size => Some(decode_bounded(buffer, limits, reservation, decode)),
            _ => None,
        };
        if buffer.capacity() > KEPT_BUFFER {
            *buffer = Vec::new();
        }
        decoded
    })
}

/// The largest zstd window (log2 bytes) a payload may ask the streaming
/// decoder to keep: 8 MiB, what zstd's levels 1 to 19 use (only `--ultra`
/// and `--long` ask for more), instead of zstd's own bound of 128 MiB, which
/// a bomb would otherwise fill besides the output.
const WINDOW_LOG_MAX: u32 = 23;

/// Inflates any zstd payload into at most `max_decompressed` bytes, in two
/// passes: the first counts the inflated bytes, keeping nothing but the
/// decoder's window (bounded by [`WINDOW_LOG_MAX`]), and stops one byte past
/// the limit; only a payload within the limit is inflated again, into a
/// buffer of exactly its size. A bomb thus costs a window, never its output.
/// Payloads take this path only when their header declares no size or a
/// wrong one: [`compress`] declares it.
fn inflate_streaming(
    payload: &[u8],
    limits: &Limits,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, BatchError> {
    let compression = |source| BatchError::Compression { source };
    // The decoder's window, at most.
    reservation.grow(1 << WINDOW_LOG_MAX)?;
    let decoder = || -> Result<_, BatchError> {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(payload).map_err(compression)?;
        decoder
            .window_log_max(WINDOW_LOG_MAX)
            .map_err(compression)?;
        Ok(decoder.take(limits.max_decompressed as u64 + 1))
    };
    let size = std::io::copy(&mut decoder()?, &mut std::io::sink()).map_err(compression)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&size| size <= limits.max_decompressed)
        .ok_or(BatchError::InflatesTooLarge {
            limit: limits.max_decompressed,
        })?;
    reservation.grow(inflated_cost(size))?;
    let mut bytes = Vec::with_capacity(size);
    decoder()?
        .take(size as u64)
        .read_to_end(&mut bytes)
        .map_err(compression)?;
    Ok(bytes)
}

/// One process's labels; shared by all its samples.
pub type Labels = Arc<BTreeMap<String, String>>;

/// A validated sample: labels, leaf-first frames and a count. The frames
/// are a list of [`RawFrame`]s, or whatever a decoder's caller made of them
/// ([`decompress_valid_with`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidSample<F = Vec<RawFrame>> {
    /// Labels of the process; always contains `service`.
    pub labels: Labels,
    /// Frames, leaf first.
    pub frames: F,
    /// Number of samples.
    pub count: u64,
}

/// A batch whose every index, id and label has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidBatch<F = Vec<RawFrame>> {
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
    pub binaries: Vec<(FileId, String)>,
    /// Samples.
    pub samples: Vec<ValidSample<F>>,
    /// What the agent lost before sending, by reason.
    pub dropped: BTreeMap<String, u64>,
}

impl<F> ValidBatch<F> {
    /// Total sample count.
    pub fn total_samples(&self) -> u64 {
        self.samples.iter().map(|s| s.count).sum()
    }
}

/// Checks every reference in `batch` and converts it to plain types;
/// [`validate_counted`] also says what was cut to fit the limits.
pub fn validate(batch: Batch, limits: &Limits) -> Result<ValidBatch, BatchError> {
    validate_counted(batch, limits).map(|(batch, _)| batch)
}

/// Whether `path` may be kept as a hint to where a binary lives: absolute,
/// without `..` components or NUL bytes, at most [`MAX_PATH_HINT`] bytes.
/// Hints are only ever read, and only files carrying the expected build-id
/// are used, but nothing odd needs to reach the file system at all.
pub fn is_sane_path_hint(path: &str) -> bool {
    path.len() <= MAX_PATH_HINT
        && path.starts_with('/')
        && !path.contains('\0')
        && !path.split('/').any(|part| part == "..")
}

/// The longest prefix of `text` within `max` bytes that ends on a
/// character boundary.
fn shorten(text: &mut String, max: usize) {
    let end = shortened(text, max).len();
    text.truncate(end);
}

/// The longest prefix of `text` within `max` bytes that ends on a
/// character boundary, borrowed.
fn shortened(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A runtime frame's fields checked, with its strings cut to their limits
/// (counted in `hits`); both decoders use it, so they agree. An unknown
/// runtime or an empty function refuses the batch.
fn runtime_frame<'a>(
    i: usize,
    runtime: &str,
    function: &'a str,
    file: &'a str,
    hits: &mut LimitHits,
) -> Result<(Runtime, &'a str, &'a str), BatchError> {
    let runtime = Runtime::parse(runtime).ok_or_else(|| {
        BatchError::Invalid(format!(
            "sample {i} has a frame of unknown runtime {:?}",
            shortened(runtime, 64)
        ))
    })?;
    if function.is_empty() {
        return Err(BatchError::Invalid(format!(
            "sample {i} has a {runtime} frame without a function"
        )));
    }
    let (short_function, short_file) = (
        shortened(function, MAX_RUNTIME_FUNCTION),
        shortened(file, MAX_RUNTIME_FILE),
    );
    if short_function.len() < function.len() || short_file.len() < file.len() {
        hits.runtime_names_shortened += 1;
    }
    Ok((runtime, short_function, short_file))
}

/// One process's labels within `limits`: `service` first, then the others
/// in name order until `max_labels`; names too long are dropped, values too
/// long shortened.
fn bounded_labels(
    i: usize,
    labels: impl IntoIterator<Item = (String, String)>,
    limits: &Limits,
    hits: &mut LimitHits,
) -> Result<Labels, BatchError> {
    let mut sorted: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in labels {
        if k.is_empty() {
            return Err(BatchError::Invalid(format!(
                "process {i} has a label with an empty name"
            )));
        }
        if k.len() > limits.max_label_len {
            hits.labels_too_long += 1;
            continue;
        }
        sorted.insert(k, v);
    }
    let mut service = match sorted.remove("service") {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(BatchError::Invalid(format!(
                "process {i} has no service label"
            )));
        }
    };
    let keep = limits.max_labels.saturating_sub(1);
    if sorted.len() > keep {
        hits.labels_dropped += (sorted.len() - keep) as u64;
        while sorted.len() > keep {
            sorted.pop_last();
        }
    }
    for value in sorted.values_mut().chain(std::iter::once(&mut service)) {
        if value.len() > limits.max_label_len {
            hits.labels_too_long += 1;
            shorten(value, limits.max_label_len);
        }
    }
    if service.is_empty() {
        // Its first character alone was longer than the limit.
        return Err(BatchError::Invalid(format!(
            "process {i}: the service label is longer than {} bytes",
            limits.max_label_len
        )));
    }
    sorted.insert("service".to_owned(), service);
    Ok(Arc::new(sorted))
}

/// The checks of a batch's own fields: a known profile type in its unit, a
/// positive period, a window that does not end before it starts.
fn check_header(
    profile_type: &str,
    unit: &str,
    period: u64,
    start_unix_nanos: i64,
    end_unix_nanos: i64,
) -> Result<(), BatchError> {
    let invalid = |msg: String| Err(BatchError::Invalid(msg));
    if profile_type.is_empty() || unit.is_empty() {
        return invalid("profile_type and unit are required".into());
    }
    // Checked before the batch is acknowledged: storage keeps one unit per
    // type and would refuse another one only when the batch is flushed.
    match augur_profile::canonical_unit(profile_type) {
        Some(canonical) if canonical == unit => {}
        Some(canonical) => {
            return invalid(format!(
                "profile type {profile_type:?} is counted in {canonical:?}, not {unit:?}"
            ));
        }
        None => {
            return invalid(format!(
                "unknown profile type {profile_type:?} (known: {})",
                augur_profile::PROFILE_TYPES.join(", ")
            ));
        }
    }
    if period == 0 {
        return invalid("period must be positive".into());
    }
    if end_unix_nanos < start_unix_nanos {
        return invalid("window ends before it starts".into());
    }
    Ok(())
}

/// The labels of sample `i`, whose process index is `process`.
fn sample_labels(i: usize, process: u32, processes: &[Labels]) -> Result<Labels, BatchError> {
    processes.get(process as usize).cloned().ok_or_else(|| {
        BatchError::Invalid(format!("sample {i}: process index {process} out of range"))
    })
}

/// Binary `i` of a batch: its build-id, shared, and its path hint, kept
/// only when sane.
fn binary_path(
    i: usize,
    build_id: &[u8],
    path: String,
    hits: &mut LimitHits,
) -> Result<(FileId, String), BatchError> {
    let path = if path.is_empty() || is_sane_path_hint(&path) {
        path
    } else {
        hits.path_hints_dropped += 1;
        String::new()
    };
    FileId::shared(build_id)
        .map(|id| (id, path))
        .map_err(|e| BatchError::Invalid(format!("binary {i}: {e}")))
}

/// [`validate`], returning what was cut down to fit `limits` besides the
/// batch: stacks truncated, labels dropped or shortened, path hints
/// forgotten. Broken references, a missing `service` label and empty frames
/// still refuse the batch.
pub fn validate_counted(
    batch: Batch,
    limits: &Limits,
) -> Result<(ValidBatch, LimitHits), BatchError> {
    let invalid = |msg: String| BatchError::Invalid(msg);
    let mut hits = LimitHits::default();
    check_header(
        &batch.profile_type,
        &batch.unit,
        batch.period,
        batch.start_unix_nanos,
        batch.end_unix_nanos,
    )?;
    let binaries = batch
        .binaries
        .into_iter()
        .enumerate()
        .map(|(i, b)| binary_path(i, &b.build_id, b.path, &mut hits))
        .collect::<Result<Vec<_>, _>>()?;
    let processes = batch
        .processes
        .into_iter()
        .enumerate()
        .map(|(i, p)| bounded_labels(i, p.labels, limits, &mut hits))
        .collect::<Result<Vec<Labels>, _>>()?;

    // The marker takes the last place: no stack is deeper than the limit.
    let keep_frames = limits.max_stack_depth.max(2) - 1;
    let mut samples = Vec::with_capacity(batch.samples.len());
    for (i, sample) in batch.samples.into_iter().enumerate() {
        let labels = sample_labels(i, sample.process, &processes)?;
        if sample.frames.is_empty() {
            return Err(invalid(format!("sample {i} has no frames")));
        }
        if sample.count == 0 {
            continue;
        }
        let mut wire_frames = sample.frames;
        let truncated = wire_frames.len() > limits.max_stack_depth.max(2);
        if truncated {
            // Leaf first: the root side goes.
            wire_frames.truncate(keep_frames);
            hits.stacks_truncated += 1;
        }
        let mut frames = wire_frames
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
                Some(frame::Kind::Runtime(r)) => {
                    let (runtime, function, file) =
                        runtime_frame(i, &r.runtime, &r.function, &r.file, &mut hits)?;
                    let (function_len, file_len) = (function.len(), file.len());
                    let (mut function, mut file) = (r.function, r.file);
                    function.truncate(function_len);
                    file.truncate(file_len);
                    Ok(RawFrame::Runtime {
                        runtime,
                        function,
                        file,
                        line: r.line,
                        inlined: r.inlined,
                    })
                }
                _ => Err(invalid(format!("sample {i} has an empty frame"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if truncated {
            frames.push(truncated_frame());
        }
        samples.push(ValidSample {
            labels,
            frames,
            count: sample.count,
        });
    }
    let batch = ValidBatch {
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
    };
    Ok((batch, hits))
}

/// Encodes a validated batch for the wire, interning binaries and processes.
pub fn to_wire(batch: &ValidBatch) -> Batch {
    use std::collections::HashMap;

    use crate::ingest::{Binary, Frame, KernelFrame, Process, Sample, UserFrame};

    let binary_index: HashMap<&FileId, u32> = batch
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
    let mut extra_binaries: HashMap<FileId, u32> = HashMap::new();
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
                    RawFrame::Runtime {
                        runtime,
                        function,
                        file,
                        line,
                        inlined,
                    } => frame::Kind::Runtime(crate::ingest::RuntimeFrame {
                        runtime: runtime.as_str().to_owned(),
                        function: function.clone(),
                        file: file.clone(),
                        line: *line,
                        inlined: *inlined,
                    }),
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
    fn a_profile_type_needs_its_own_unit_and_a_known_name() {
        let limits = Limits::default();
        let mut counter = good_batch();
        counter.profile_type = "page-faults".into();
        counter.unit = "count".into();
        assert!(validate(counter, &limits).is_ok());
        let mut wrong = good_batch();
        wrong.unit = "bytes".into();
        let error = validate(wrong, &limits).unwrap_err().to_string();
        assert!(error.contains("counted in \"nanoseconds\""), "{error}");
        let mut unknown = good_batch();
        unknown.profile_type = "wall".into();
        let error = validate(unknown, &limits).unwrap_err().to_string();
        assert!(error.contains("unknown profile type \"wall\""), "{error}");
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
    fn runtime_frames_cross_the_wire_and_unknown_runtimes_are_refused() {
        let mut valid = validate(good_batch(), &Limits::default()).unwrap();
        let java = RawFrame::Runtime {
            runtime: Runtime::Java,
            function: "com.example.Cache.get".into(),
            file: "Cache.java".into(),
            line: 88,
            inlined: true,
        };
        valid.samples[0].frames.insert(0, java.clone());
        let wire = to_wire(&valid);
        assert!(matches!(
            &wire.samples[0].frames[0].kind,
            Some(frame::Kind::Runtime(r)) if r.runtime == "java" && r.line == 88 && r.inlined
        ));
        let (back, hits) = validate_counted(wire.clone(), &Limits::default()).unwrap();
        assert_eq!(back.samples[0].frames[0], java);
        assert_eq!(hits, LimitHits::default());

        let mut wire = wire;
        let Some(frame::Kind::Runtime(r)) = &mut wire.samples[0].frames[0].kind else {
            unreachable!()
        };
        r.runtime = "Python".into();
        let err = validate(wire, &Limits::default()).unwrap_err();
        assert!(
            err.to_string().contains("unknown runtime \"Python\""),
            "{err}"
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
        b.processes[0].labels.insert(String::new(), "v".into());
        assert!(validate(b, &limits).is_err(), "an empty label name");
    }

    fn kernel(function: &str) -> Frame {
        Frame {
            kind: Some(frame::Kind::Kernel(KernelFrame {
                function: function.into(),
                module: String::new(),
            })),
        }
    }

    #[test]
    fn deep_stacks_keep_their_leaf_side_and_end_in_a_marker() {
        let limits = Limits {
            max_stack_depth: 8,
            ..Limits::default()
        };
        let mut b = good_batch();
        let deep: Vec<Frame> = (0..100_000).map(|i| kernel(&format!("f{i}"))).collect();
        // Frames beyond the limit are not looked at: a dangling index there
        // does not matter.
        let mut with_dangling = deep.clone();
        with_dangling[50].kind = Some(frame::Kind::User(UserFrame {
            binary: 99,
            file_offset: 0,
        }));
        b.samples[0].frames = with_dangling;
        b.samples.push(Sample {
            process: 0,
            frames: deep[..8].to_vec(),
            count: 1,
        });
        let (valid, hits) = validate_counted(b, &limits).unwrap();
        let frames = &valid.samples[0].frames;
        assert_eq!(frames.len(), 8);
        assert_eq!(
            frames[..7],
            (0..7)
                .map(|i| RawFrame::Kernel {
                    function: format!("f{i}"),
                    module: None
                })
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(frames[7], truncated_frame());
        assert!(
            matches!(&frames[7], RawFrame::Named { function, .. } if function == "[truncated]")
        );
        assert_eq!(valid.samples[1].frames.len(), 8, "at the limit: kept whole");
        assert!(!valid.samples[1].frames.contains(&truncated_frame()));
        assert_eq!(hits.stacks_truncated, 1);
        assert_eq!(hits.by_limit()[0], ("stack_depth", 1));
        assert_eq!(valid.total_samples(), 4, "counts are kept");
    }

    #[test]
    fn too_many_labels_are_dropped_and_long_ones_shortened() {
        let limits = Limits {
            max_labels: 4,
            max_label_len: 8,
            ..Limits::default()
        };
        let mut b = good_batch();
        let labels = &mut b.processes[0].labels;
        labels.insert("service".into(), "a-service-name".into());
        for k in ["a", "b", "c", "d", "e"] {
            labels.insert(k.into(), "v".into());
        }
        labels.insert("a-very-long-name".into(), "v".into());
        labels.insert("aa".into(), "ééééé".into());
        let (valid, hits) = validate_counted(b, &limits).unwrap();
        let got = &*valid.samples[0].labels;
        let want: BTreeMap<String, String> = [
            ("service", "a-servic"),
            ("a", "v"),
            ("aa", "éééé"),
            ("b", "v"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, &want);
        assert_eq!(hits.labels_dropped, 3, "c, d and e");
        let tiny = Limits {
            max_label_len: 1,
            ..Limits::default()
        };
        let mut b = good_batch();
        b.processes[0].labels.insert("service".into(), "é".into());
        assert!(validate(b, &tiny).is_err(), "no service is left");
        assert_eq!(
            hits.labels_too_long, 3,
            "one name dropped, two values shortened"
        );
    }

    #[test]
    fn odd_path_hints_are_forgotten_not_refused() {
        let limits = Limits::default();
        for (path, kept) in [
            ("/usr/bin/app", true),
            ("", true),
            ("relative/app", false),
            ("/opt/../../etc/shadow", false),
            ("/usr/bin/a\0b", false),
            ("/usr/bin/..app", true),
        ] {
            let mut b = good_batch();
            b.binaries[0].path = path.into();
            let (valid, hits) = validate_counted(b, &limits).unwrap();
            let expected = if kept { path } else { "" };
            assert_eq!(valid.binaries[0].1, expected, "{path:?}");
            assert_eq!(hits.path_hints_dropped, u64::from(!kept), "{path:?}");
        }
        let mut long = String::from("/");
        long.push_str(&"a".repeat(MAX_PATH_HINT));
        assert!(!is_sane_path_hint(&long));
    }

    #[test]
    fn stacks_and_items_are_counted_before_decoding() {
        let mut b = good_batch();
        b.samples = vec![b.samples[0].clone(); 10];
        let encoded = b.encode_to_vec();
        let frames = 2 * 10;
        assert_eq!(
            shape_of(&encoded).unwrap(),
            Shape {
                samples: 10,
                items: 1 + 1 + 1 + 10 + frames,
            },
            "one binary, one process with one label, the samples and frames"
        );
        let payload = compress(&b, 1).unwrap();
        let limits = Limits {
            max_stacks: 9,
            ..Limits::default()
        };
        let err = decompress(&payload, &limits).unwrap_err();
        assert_eq!(
            (err.reason(), err.limit()),
            ("too_many_stacks", Some("stacks_per_batch"))
        );
        assert!(
            err.to_string().contains("10 exceed the limit of 9"),
            "{err}"
        );
        let limits = Limits {
            max_items: 32,
            ..Limits::default()
        };
        let err = decompress(&payload, &limits).unwrap_err();
        assert_eq!(
            (err.reason(), err.limit()),
            ("too_many_items", Some("batch_items"))
        );
        let limits = Limits {
            max_stacks: 10,
            max_items: 33,
            ..Limits::default()
        };
        assert_eq!(decompress(&payload, &limits).unwrap(), b);
    }

    #[test]
    fn two_byte_frames_cannot_inflate_into_gigabytes_of_structs() {
        // 16 MiB of empty frames in one sample: each two bytes on the wire,
        // tens of bytes once decoded.
        let sample_tail = [0x12u8, 0x00].repeat(8 << 20);
        let mut sample = vec![0x08, 0x00, 0x18, 0x01, 0x12, 0x00];
        sample.extend_from_slice(&sample_tail);
        let mut encoded = Vec::new();
        encoded.push(0x4a); // field 9, length-delimited
        let mut len = sample.len();
        while len >= 0x80 {
            encoded.push((len as u8) | 0x80);
            len >>= 7;
        }
        encoded.push(len as u8);
        encoded.extend_from_slice(&sample);
        let payload = zstd::bulk::compress(&encoded, 1).unwrap();
        let err = decompress(&payload, &Limits::default()).unwrap_err();
        assert_eq!(err.reason(), "too_many_items", "{err}");
    }

    #[test]
    fn malformed_bytes_are_refused_by_the_count() {
        for bytes in [
            &[0x4a, 0x05, 0x01][..], // length past the end
            &[0x4b][..],             // a group
            &[0xff; 11][..],         // endless varint
            &[0x4a, 0x02, 0x12][..], // nested field past the end
        ] {
            assert!(shape_of(bytes).is_err(), "{bytes:?}");
            let payload = zstd::bulk::compress(bytes, 1).unwrap();
            assert_eq!(
                decompress(&payload, &Limits::default())
                    .unwrap_err()
                    .reason(),
                "bad_protobuf"
            );
        }
    }

    /// A zstd frame of RLE blocks: `blocks` x 128 KiB of zeros in a few
    /// bytes each, with a `2^window_log`-byte window and, if `declare`, the
    /// true content size in its header.
    fn rle_bomb(blocks: u32, window_log: u8, declare: bool) -> Vec<u8> {
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
        frame.push(if declare { 0xc0 } else { 0x00 });
        frame.push((window_log - 10) << 3);
        if declare {
            frame.extend_from_slice(&(u64::from(blocks) * (128 << 10)).to_le_bytes());
        }
        for i in 0..blocks {
            let last = u32::from(i + 1 == blocks);
            let header = last | (1 << 1) | ((128 << 10) << 3);
            frame.extend_from_slice(&header.to_le_bytes()[..3]);
            frame.push(0);
        }
        frame
    }

    #[test]
    fn bombs_without_a_declared_size_stop_at_the_limit() {
        let limits = Limits {
            max_decompressed: 1 << 20,
            ..Limits::default()
        };
        // 1 GiB from 32 KiB, undeclared and declared.
        for declare in [false, true] {
            let bomb = rle_bomb(8192, 20, declare);
            assert!(bomb.len() < 33 << 10);
            let started = std::time::Instant::now();
            let err = decompress(&bomb, &limits).unwrap_err();
            assert_eq!(err.reason(), "inflates_too_large", "{err}");
            assert_eq!(err.limit(), Some("decompressed_size"));
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
        // A bomb that asks for a 2 GiB window is refused before inflating.
        let err = decompress(&rle_bomb(4, 31, false), &limits).unwrap_err();
        assert_eq!(err.reason(), "bad_compression", "{err}");
        assert!(err.to_string().contains("too much memory"), "{err}");
        // Small frames inflate as before: 128 KiB of zeros, not a batch.
        let err = decompress(&rle_bomb(1, 20, false), &limits).unwrap_err();
        assert!(
            matches!(err, BatchError::Malformed("field number 0")),
            "{err}"
        );
    }

    #[test]
    fn batches_share_the_decode_memory_and_one_alone_always_fits() {
        let memory = DecodeMemory::new(1000);
        let some = Some(memory.clone());
        let mut first = Reservation::new(&some);
        first.grow(600).unwrap();
        let mut second = Reservation::new(&some);
        let busy = second.grow(500).unwrap_err();
        assert_eq!(
            (busy.reason(), busy.limit()),
            ("decode_memory", Some("decode_memory"))
        );
        second.grow(400).unwrap();
        assert_eq!(memory.in_use(), 1000);
        drop(first);
        // Alone, a batch may take more than the whole.
        second.grow(5000).unwrap();
        assert_eq!(memory.in_use(), 5400);
        drop(second);
        assert_eq!(memory.in_use(), 0);

        // A decoded batch holds its inflated bytes and items until dropped.
        let limits = Limits {
            decode_memory: Some(memory.clone()),
            ..Limits::default()
        };
        let payload = compress(&good_batch(), 3).unwrap();
        let (batch, held) = decompress_reserved(&payload, &limits).unwrap();
        let encoded = batch.encoded_len();
        // Inflated once, strings once, six items (a binary, a process, its
        // label, a sample and its two frames).
        assert_eq!(held.bytes(), 2 * encoded + 6 * ITEM_BYTES);
        assert_eq!(memory.in_use(), held.bytes());
        let other = Limits {
            decode_memory: Some(DecodeMemory::new(held.bytes())),
            ..Limits::default()
        };
        let _other_held = decompress_reserved(&payload, &other).unwrap().1;
        let busy = decompress_reserved(&payload, &other).unwrap_err();
        assert_eq!(busy.reason(), "decode_memory", "{busy}");
        drop(held);
        assert_eq!(memory.in_use(), 0);
    }

    #[test]
    fn frames_from_any_ordinary_level_fit_the_window_bound() {
        let limits = Limits::default();
        let encoded = [good_batch().encode_to_vec(), [0x78, 0x01].repeat(1 << 20)].concat();
        for level in [1, 3, 19] {
            // Streamed, so no size is declared and the window matters.
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), level).unwrap();
            std::io::Write::write_all(&mut encoder, &encoded).unwrap();
            let streamed = encoder.finish().unwrap();
            assert_eq!(
                decompress(&streamed, &limits).unwrap(),
                good_batch(),
                "level {level}"
            );
        }
    }
}
