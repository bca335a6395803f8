//! Compact unwind tables built from `.eh_frame` and `.debug_frame`, for an
//! in-kernel unwinder of stacks without frame pointers.
//!
//! A table belongs to one binary (one build-id) and is shared by every
//! process that maps it ([`cache::UnwindTableCache`]). It is a sorted array
//! of 12-byte [`UnwindRow`]s (layout in [`row`]): each says, from its `pc`
//! up to the next row's, how to find the caller's stack pointer (the CFA),
//! rbp and return address. Rows with equal rules are merged, and a row with
//! `CFA_END` marks where unwind information stops (an FDE ended and no
//! other began). The table always ends with such a marker.
//!
//! # Addresses are file offsets
//!
//! `pc` is the offset in the ELF file of the instruction, not its ELF
//! virtual address: the project's user frames are already `(build-id, file
//! offset)`, and the BPF side can compute it from the mapping alone,
//! `pc - vma->vm_start + (vma->vm_pgoff << PAGE_SHIFT)` (the `vm_area_struct`
//! from `bpf_find_vma`, or the start and offset columns of
//! `/proc/PID/maps` the agent already snapshots), without knowing the
//! binary's program headers or load bias. Offsets fit in `u32`; a binary
//! whose code lies beyond 4 GiB is refused ([`UnwindError::TooLarge`]).
//!
//! # Lookup on the BPF side
//!
//! All tables are copied one after another into one `BPF_MAP_TYPE_ARRAY` of
//! `struct unwind_row`; a per-process map from mapping start to `{first
//! row, row count, table id}` tells the program where a binary's rows are.
//! The program searches that slice for the last row whose `pc` is `<=` the
//! file offset: `lo = first, hi = first + count`, at most 25 halvings (2^25
//! rows would be 384 MiB), each one map lookup, in a bounded loop that
//! keeps the verifier happy. No row found, or a `CFA_END` row, means no
//! unwind information: fall back to frame pointers. For every frame but
//! the innermost, search with the return address minus one: a call that
//! does not return may be a function's last instruction, and its return
//! address then belongs to the next function's rows. [`UnwindTable::lookup`]
//! is the same search in Rust, used by the tests. [`kernel`] fills those
//! maps; `bpf/src/bpf/unwind.h` is the program.

pub mod build;
pub mod cache;
mod go;
pub mod kernel;
pub mod row;
pub mod worker;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use build::{build_table, build_table_from_path};
pub use cache::{CacheLimits, CacheStats, UnwindTableCache};
pub use row::{CfaRule, RaRule, RbpRule, Rules, UnwindRow, rows_as_bytes};

/// How user stacks are walked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unwinder {
    /// With unwind tables for processes whose binaries have them (a
    /// binary without one is stepped by frame pointer), else by frame
    /// pointers; also by frame pointers while a process's tables are
    /// being built.
    #[default]
    Auto,
    /// By frame pointers only.
    FramePointers,
}

impl std::str::FromStr for Unwinder {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Unwinder::Auto),
            "frame-pointers" => Ok(Unwinder::FramePointers),
            other => Err(format!(
                "{other:?} is not an unwinder (auto, frame-pointers)"
            )),
        }
    }
}

/// Why a binary has no table.
#[derive(Debug, thiserror::Error)]
pub enum UnwindError {
    /// The file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not an ELF file, or a malformed one.
    #[error("not a readable ELF file: {0}")]
    NotElf(String),
    /// Only x86_64 is encoded.
    #[error("unsupported architecture {0}")]
    Architecture(String),
    /// Neither `.eh_frame` nor `.debug_frame` (uncompressed).
    #[error("no .eh_frame or .debug_frame")]
    NoUnwindInfo,
    /// Code beyond what a `u32` file offset reaches.
    #[error("code at file offset {offset:#x} is beyond 4 GiB")]
    TooLarge {
        /// The first offset that does not fit.
        offset: u64,
    },
    /// More unwind information than the cache takes per binary: its table
    /// would crowd out every other process's (a compiler's 150 MB shared
    /// library); the binary is walked by frame pointers.
    #[error("{bytes} bytes of .eh_frame/.debug_frame, more than {max}")]
    TooMuchUnwindInfo {
        /// Size of the sections.
        bytes: u64,
        /// `CacheLimits::max_unwind_info`.
        max: u64,
    },
    /// The file at the path is another build than the one asked for (it was
    /// replaced on disk).
    #[error("{path} has build-id {found}, not {wanted}")]
    BuildIdMismatch {
        /// The file.
        path: PathBuf,
        /// The build-id asked for.
        wanted: String,
        /// The file's build-id, or `none`.
        found: String,
    },
}

impl UnwindError {
    /// A short stable name for counting failures by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            UnwindError::Read { .. } => "read_error",
            UnwindError::NotElf(_) => "not_elf",
            UnwindError::Architecture(_) => "architecture",
            UnwindError::NoUnwindInfo => "no_unwind_info",
            UnwindError::TooLarge { .. } => "too_large",
            UnwindError::TooMuchUnwindInfo { .. } => "too_much_unwind_info",
            UnwindError::BuildIdMismatch { .. } => "build_id_mismatch",
        }
    }
}

/// What building one table found and cost.
#[derive(Clone, Debug, Default)]
pub struct TableStats {
    /// FDEs turned into rows.
    pub fdes: u64,
    /// Of those, from `.debug_frame`.
    pub fdes_debug_frame: u64,
    /// FDEs for discarded code (address 0, empty) or outside executable
    /// segments.
    pub fdes_skipped: u64,
    /// FDEs (or their CIEs or instructions) that could not be parsed.
    pub fdes_malformed: u64,
    /// Entries after which a section could not be read further.
    pub section_errors: u64,
    /// True when `.debug_frame` exists but is compressed or unreadable.
    pub debug_frame_unreadable: bool,
    /// Rows (before merging) starting inside an earlier row's range.
    pub overlapping_rows: u64,
    /// Rows (before merging) whose CFA rule is not encodable.
    pub rows_cfa_unsupported: u64,
    /// Rows (before merging) whose rbp rule is not encodable.
    pub rows_rbp_unsupported: u64,
    /// Rows (before merging) whose return-address rule is not encodable.
    pub rows_ra_unsupported: u64,
    /// Rows in the table.
    pub rows: usize,
    /// Bytes of the rows.
    pub bytes: usize,
    /// Size of `.text`.
    pub text_bytes: u64,
    /// Bytes of `.text` covered by rows (any rule but the end marker).
    pub text_covered_bytes: u64,
    /// Bytes of `.text` covered by rows whose CFA and return-address rules
    /// are supported.
    pub text_supported_bytes: u64,
    /// Time to build the table.
    pub build_time: Duration,
}

impl TableStats {
    /// Share of `.text` with unwind information, 0..=1.
    pub fn text_coverage(&self) -> f64 {
        if self.text_bytes == 0 {
            return 0.0;
        }
        self.text_covered_bytes as f64 / self.text_bytes as f64
    }

    /// Share of `.text` an unwinder can step through, 0..=1.
    pub fn text_supported(&self) -> f64 {
        if self.text_bytes == 0 {
            return 0.0;
        }
        self.text_supported_bytes as f64 / self.text_bytes as f64
    }
}

/// The unwind table of one binary.
#[derive(Debug)]
pub struct UnwindTable {
    rows: Box<[UnwindRow]>,
    stats: TableStats,
}

impl UnwindTable {
    /// The rows, sorted by `pc`, ending with an end marker.
    pub fn rows(&self) -> &[UnwindRow] {
        &self.rows
    }

    /// The rows as bytes for a BPF array map.
    pub fn as_bytes(&self) -> &[u8] {
        rows_as_bytes(&self.rows)
    }

    /// What building the table found and cost.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Memory held by the table.
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&self.rows[..]) + std::mem::size_of::<Self>()
    }

    /// The row covering `file_offset`, or `None` where there is no unwind
    /// information: the BPF program's binary search.
    pub fn lookup(&self, file_offset: u32) -> Option<&UnwindRow> {
        let i = self.rows.partition_point(|row| row.pc <= file_offset);
        let row = self.rows.get(i.checked_sub(1)?)?;
        (!row.is_end()).then_some(row)
    }
}
