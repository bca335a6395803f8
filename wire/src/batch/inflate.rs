//! Payloads inflated within the limits: the compressed size first, then the
//! inflated size, from a zstd frame header that declares one within the
//! limit (the fast path, into a reused buffer) or else by a first pass that
//! keeps only the decoder's bounded window; a zstd bomb costs a window, not
//! its output. Then the count, then whichever decoder the caller gives.

use std::cell::RefCell;
use std::io::Read;

use super::limits::{BatchError, Decoder, Limits, Reservation, decode_bounded};

/// Sizes, decompression and counts for any decoder of the inflated bytes.
pub(super) fn decompress_with<T>(
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
/// limit (what [`compress`](super::compress) writes): inflate into a reused
/// buffer and decode. `None` sends anything else (no declared size, more
/// than one frame, a header that lies, corrupt data) to
/// [`inflate_streaming`], which bounds the output itself and names the
/// error.
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
/// wrong one: [`compress`](super::compress) declares it.
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
