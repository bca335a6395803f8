//! Batches on the wire: compression with hard size limits, and decoding
//! with validation into plain Rust types the aggregator can trust.
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
//! side and ends in an [`augur_profile::TRUNCATED_FUNCTION`] frame, extra
//! labels are dropped, long values shortened and odd path hints forgotten.
//!
//! By job: [`Limits`] and the refusals in `limits`, zstd in `inflate`, the
//! rules and validated types in `validate`, the agent's side ([`to_wire`],
//! [`compress`]) in `encode`, and the aggregator's side ([`decode()`]) in
//! `decode`. The prost-then-validate decoder that [`decode()`] must agree with
//! lives in `reference`, built for tests and with the `reference` feature
//! (fuzzing, the decode benchmark) only.

mod decode;
mod encode;
mod inflate;
mod limits;
#[cfg(any(test, feature = "reference"))]
pub mod reference;
mod validate;

pub use decode::{decode, owned_frames};
pub use encode::{compress, to_wire};
pub use limits::{
    BatchError, DecodeMemory, LimitHits, Limits, MAX_PATH_HINT, MAX_RUNTIME_FILE,
    MAX_RUNTIME_FUNCTION, Reservation,
};
pub use validate::{Labels, ValidBatch, ValidSample, is_sane_path_hint};

#[cfg(test)]
mod tests;
