//! The profile data model every Augur stage shares.
//!
//! A sample travels as a [`RawFrame`] stack from the agent to storage: user
//! frames are `(file id, file offset)` pairs and never raw virtual addresses,
//! kernel frames and language-runtime frames (Python, Java) are already named
//! on the host. At query time storage joins the symbols known *now* onto
//! those raw frames and hands out a [`Profile`], which
//! the renderers in [`render`] and the pprof encoder in `augur-wire` consume.

pub mod diff;
mod frame;
pub mod placeholder;
mod profile;
pub mod render;
pub mod rng;
mod stack_tree;
pub mod types;

pub use frame::{
    FileId, FileIdError, FileIdKind, FrameRef, RawFrame, Runtime, Symbol, TRUNCATED_FUNCTION,
    Truncation,
};
pub use profile::{FunctionTotals, Location, Profile, ProfileType, Sample};
pub use stack_tree::{ROOT, StackNode, StackTree};
pub use types::{Aggregation, PROFILE_TYPES, canonical_unit};
