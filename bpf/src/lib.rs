//! Augur's BPF programs and the ABI user space shares with them.
//!
//! Programs: `sampler` counts stacks on perf event overflows (on-CPU time,
//! counters), walking user stacks with the agent's unwind tables
//! (`src/bpf/unwind.h`) where it has them; `offcpu` weighs stacks by the
//! time threads spent blocked; `memory` samples allocations by bytes from
//! uprobes on a process's allocator and tracks the live ones; `growth`
//! weighs stacks by the bytes `brk` and anonymous `mmap` ask for. All
//! share the stack capture in `src/bpf/stacks.h`, and with it
//! `name_kernel_addrs`, a `syscall` program the agent runs to have the
//! kernel name kernel addresses (`%ps`) instead of parsing `/proc/kallsyms`.
//!
//! `build.rs` compiles `src/bpf/*.bpf.c` with clang (via libbpf-cargo) against
//! the checked-in `include/vmlinux.h` and generates a libbpf-rs skeleton for
//! each. This crate exposes those skeletons and `#[repr(C)]` mirrors of the
//! structs in `src/bpf/sampler.h`; it holds no policy.

/// Declares the module holding one program's generated skeleton.
macro_rules! skeleton {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        pub mod $name {
            #![allow(
                missing_docs,
                clippy::all,
                clippy::pedantic,
                non_camel_case_types,
                unsafe_op_in_unsafe_fn,
                rust_2018_idioms
            )]
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

skeleton!(
    /// Generated skeleton of `sampler.bpf.c`.
    sampler,
    "sampler.skel.rs"
);
skeleton!(
    /// Generated skeleton of `offcpu.bpf.c`.
    offcpu,
    "offcpu.skel.rs"
);
skeleton!(
    /// Generated skeleton of `memory.bpf.c`.
    memory,
    "memory.skel.rs"
);
skeleton!(
    /// Generated skeleton of `growth.bpf.c`.
    growth,
    "growth.skel.rs"
);

/// Length of `comm` in the kernel's `task_struct`.
pub const TASK_COMM_LEN: usize = 16;
/// Deepest stack the sampler records.
pub const MAX_STACK_DEPTH: usize = 127;
/// Kernel addresses named per run of the `name_kernel_addrs` program.
pub const KSYM_BATCH: usize = 128;
/// Bytes for each name `name_kernel_addrs` writes, NUL included.
pub const KSYM_NAME_SIZE: usize = 256;
/// Stack hash meaning "this sample has no such stack".
pub const STACK_NONE: u64 = 0;
/// Stack hash meaning "the stack existed but could not be recorded".
pub const STACK_LOST: u64 = 1;

/// Mirror of `struct sample_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SampleKey {
    /// Process id (thread group id).
    pub tgid: u32,
    /// Padding, always zero.
    pub pad: u32,
    /// Hash of the user stack in the generation's stacks map, or
    /// [`STACK_NONE`] / [`STACK_LOST`].
    pub user_stack: u64,
    /// Hash of the kernel stack, or [`STACK_NONE`] / [`STACK_LOST`].
    pub kernel_stack: u64,
    /// Hash of the language runtime's own stack (a [`Stack`] flagged
    /// [`RUNTIME_PYTHON`]), or [`STACK_NONE`] / [`STACK_LOST`].
    pub runtime_stack: u64,
    /// Task name, NUL-padded.
    pub comm: [u8; TASK_COMM_LEN],
}

// SAFETY: SampleKey is repr(C), made only of integers and byte arrays, with
// explicit padding, so every bit pattern is a valid value.
unsafe impl plain::Plain for SampleKey {}

/// `Stack::flags`: the unwinder stopped before the outermost frame.
pub const STACK_TRUNCATED: u32 = 1;

/// Mirror of `struct stack`: instruction pointers, leaf first.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    /// Number of valid entries in `ips`.
    pub len: u32,
    /// [`STACK_TRUNCATED`] or 0.
    pub flags: u32,
    /// Instruction pointers, leaf first.
    pub ips: [u64; MAX_STACK_DEPTH],
}

// SAFETY: Stack is repr(C) and made only of u64s.
unsafe impl plain::Plain for Stack {}

impl Stack {
    /// The valid instruction pointers, leaf first.
    pub fn frames(&self) -> &[u64] {
        &self.ips[..(self.len as usize).min(MAX_STACK_DEPTH)]
    }

    /// Whether the unwinder stopped before the outermost frame.
    pub fn truncated(&self) -> bool {
        self.flags & STACK_TRUNCATED != 0
    }
}

/// `Stack::flags` of a runtime stack: its words are Python frames
/// ([`PyFrameWord`]).
pub const RUNTIME_PYTHON: u32 = 0x100;
/// `Stack::flags` of a Python stack: the thread held the GIL.
pub const PY_STACK_GIL_HELD: u32 = 0x200;

/// `Stack::flags` of a runtime stack: its words are Java frames
/// ([`JvmFrameWord`]), one per user frame in the JVM's code.
pub const RUNTIME_JAVA: u32 = 0x400;

/// What a [`JvmFrameWord`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JvmFrameKind {
    /// An interpreted method, with its bytecode index.
    Interpreted,
    /// A compiled method (C1, C2 or a JNI wrapper).
    Compiled,
    /// A stub or adapter: no method.
    Stub,
}

/// One word of a Java stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JvmFrameWord(pub u64);

impl JvmFrameWord {
    const METHOD_BITS: u32 = 45;
    /// The bytecode index meaning "not known".
    pub const BCI_UNKNOWN: u32 = 0x1ffff;

    /// The frame's kind; `None` for a malformed word.
    pub fn kind(self) -> Option<JvmFrameKind> {
        match self.0 >> 62 {
            1 => Some(JvmFrameKind::Interpreted),
            2 => Some(JvmFrameKind::Compiled),
            3 => Some(JvmFrameKind::Stub),
            _ => None,
        }
    }

    /// The `Method*`.
    pub fn method(self) -> u64 {
        (self.0 & ((1 << Self::METHOD_BITS) - 1)) << 3
    }

    /// An interpreted frame's bytecode index ([`Self::BCI_UNKNOWN`] if
    /// it could not be told).
    pub fn bci(self) -> u32 {
        ((self.0 >> Self::METHOD_BITS) as u32) & Self::BCI_UNKNOWN
    }

    /// The word BPF writes, for tests.
    pub fn new(kind: JvmFrameKind, method: u64, bci: u32) -> Self {
        let kind = match kind {
            JvmFrameKind::Interpreted => 1u64,
            JvmFrameKind::Compiled => 2,
            JvmFrameKind::Stub => 3,
        };
        let bci = u64::from(bci.min(Self::BCI_UNKNOWN));
        Self(
            (kind << 62)
                | (bci << Self::METHOD_BITS)
                | ((method >> 3) & ((1 << Self::METHOD_BITS) - 1)),
        )
    }
}

/// Code heaps a [`JvmProc`] describes at most.
pub const JVM_MAX_HEAPS: usize = 4;

/// Mirror of `struct jvm_heap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JvmHeap {
    /// First address of the heap.
    pub low: u64,
    /// One past its last reserved address.
    pub high: u64,
    /// Its segment map's first byte.
    pub segmap: u64,
    /// log2 of its segment size.
    pub log2_segment: u32,
    /// Padding, zero.
    pub pad: u32,
}

/// Mirror of `struct jvm_proc`: the value of `jvm_procs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct JvmProc {
    pub heaps: [JvmHeap; JVM_MAX_HEAPS],
    pub interp_start: u64,
    pub interp_end: u64,
    pub call_stub_return: u64,
    pub nmethod_name: u64,
    pub native_nmethod_name: u64,
    pub heaps_len: u32,
    pub heap_block: u16,
    pub blob_frame_complete: u16,
    pub blob_frame_size: u16,
    pub blob_code_begin: u16,
    pub blob_name: u16,
    pub blob_method: u16,
    pub interp_method: i16,
    pub interp_bcp: i16,
    pub interp_sender_sp: i16,
    pub method_const_method: u16,
    pub const_method_size: u16,
    pub blob_code_is_offset: u16,
    pub blob_frame_complete_i16: u16,
    pub pad: u16,
}

// SAFETY: repr(C) integers with explicit padding; every bit pattern is valid.
unsafe impl plain::Plain for JvmProc {}

/// Bytes of a code blob's header the walker reads: every offset in a
/// [`JvmProc`] must lie within it.
pub const JVM_BLOB_WINDOW: u16 = 128;

/// Indices of the per-CPU `jvm_stats` array, mirroring `enum jvm_stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum JvmStat {
    /// Walks that met Java code.
    Stacks = 0,
    /// Interpreted frames recorded.
    FramesInterpreted = 1,
    /// Compiled frames recorded.
    FramesCompiled = 2,
    /// Stub frames recorded.
    FramesStub = 3,
    /// A pc in a code heap but in no blob.
    LostBlob = 4,
    /// A Java frame that could not be read.
    LostRead = 5,
}

impl JvmStat {
    /// Every counter, in index order.
    pub const ALL: [JvmStat; 6] = [
        JvmStat::Stacks,
        JvmStat::FramesInterpreted,
        JvmStat::FramesCompiled,
        JvmStat::FramesStub,
        JvmStat::LostBlob,
        JvmStat::LostRead,
    ];
}

/// One word of a Python stack: a code object and where in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PyFrameWord(pub u64);

impl PyFrameWord {
    const CODE_BITS: u32 = 44;
    /// Largest instruction offset a word holds (larger ones saturate).
    pub const INSTR_MAX: u32 = 0x7ffff;
    const ENTRY: u64 = 1 << 63;

    /// The code object's address.
    pub fn code(self) -> u64 {
        (self.0 & ((1 << Self::CODE_BITS) - 1)) << 3
    }

    /// The instruction offset, in 2-byte code units.
    pub fn instr(self) -> u32 {
        ((self.0 >> Self::CODE_BITS) as u32) & Self::INSTR_MAX
    }

    /// Whether this frame is the outermost of a call of the evaluation
    /// loop from C.
    pub fn entry(self) -> bool {
        self.0 & Self::ENTRY != 0
    }

    /// The word BPF writes, for tests.
    pub fn new(code: u64, instr: u32, entry: bool) -> Self {
        let instr = u64::from(instr.min(Self::INSTR_MAX));
        let mut word = ((code >> 3) & ((1 << Self::CODE_BITS) - 1)) | (instr << Self::CODE_BITS);
        if entry {
            word |= Self::ENTRY;
        }
        Self(word)
    }
}

/// `PyProc::model` values, mirroring `PY_MODEL_*`.
pub mod py_model {
    /// 3.10: PyFrameObject, `f_lasti` in code units.
    pub const FRAME_OBJECT: u32 = 1;
    /// 3.9: PyFrameObject, `f_lasti` in bytes.
    pub const FRAME_OBJECT_BYTES: u32 = 2;
    /// 3.11: `cframe`, `is_entry`.
    pub const CFRAME_311: u32 = 3;
    /// 3.12: `cframe`, C entry shims.
    pub const CFRAME_312: u32 = 4;
    /// 3.13: `current_frame`, C entry shims.
    pub const DIRECT_313: u32 = 5;
}

/// Mirror of `struct py_offsets`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct PyOffsetsAbi {
    pub interpreters_head: u16,
    pub threads_head: u16,
    pub tstate_next: u16,
    pub tstate_native_thread_id: u16,
    pub tstate_frame: u16,
    pub cframe_current_frame: u16,
    pub frame_previous: u16,
    pub frame_code: u16,
    pub frame_instr: u16,
    pub frame_owner: u16,
    pub code_adaptive: u16,
    pub gil_locked: u16,
    pub gil_last_holder: u16,
    pub gil_offset: u16,
    pub gil_in_interp: u16,
    pub tstate_thread_id: u16,
}

/// Mirror of `struct py_proc`: the value of `py_procs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PyProc {
    /// `_PyRuntime`'s address in the process.
    pub runtime: u64,
    /// A [`py_model`] value.
    pub model: u32,
    /// Padding, zero.
    pub pad: u32,
    /// Field offsets.
    pub offsets: PyOffsetsAbi,
}

// SAFETY: repr(C) integers with explicit padding; every bit pattern is valid.
unsafe impl plain::Plain for PyProc {}

/// Indices of the per-CPU `py_stats` array, mirroring `enum py_stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PyStat {
    /// Samples with a Python stack.
    Stacks = 0,
    /// Python frames recorded.
    Frames = 1,
    /// Samples of a registered process whose thread has no thread state.
    NoThread = 2,
    /// Reads of interpreter memory that failed.
    ReadFailed = 3,
    /// Stacks cut at [`MAX_STACK_DEPTH`] frames.
    Truncated = 4,
    /// Samples of a thread with a thread state but no Python frame.
    NoFrame = 5,
}

impl PyStat {
    /// Every counter, in index order.
    pub const ALL: [PyStat; 6] = [
        PyStat::Stacks,
        PyStat::Frames,
        PyStat::NoThread,
        PyStat::ReadFailed,
        PyStat::Truncated,
        PyStat::NoFrame,
    ];
}

/// Rows per element of the `unwind_rows` array map.
pub const UNWIND_ROWS_PER_CHUNK: usize = 64;
/// Bytes of one unwind row (`struct unwind_row`, the agent's `UnwindRow`).
pub const UNWIND_ROW_SIZE: usize = 12;
/// Executable mappings of one process the unwinder knows.
pub const MAX_UNWIND_MAPPINGS: usize = 128;
/// `UnwindProcess::flags`: the mappings are all of the process's executable
/// mappings (as the agent's snapshot has them), so a return address outside
/// them is not code and the walk stops there.
pub const UNWIND_PROC_COMPLETE: u32 = 1;

/// Mirror of `struct unwind_mapping`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnwindMapping {
    /// First address of the mapping.
    pub start: u64,
    /// One past its last address.
    pub end: u64,
    /// File offset mapped at `start`.
    pub file_offset: u64,
    /// Index of its binary's first row in `unwind_rows`.
    pub first_row: u32,
    /// Rows of its binary; 0 to unwind it by frame pointers.
    pub rows: u32,
}

/// Mirror of `struct unwind_process`: the value of `unwind_procs`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UnwindProcess {
    /// Valid entries of `mappings`.
    pub len: u32,
    /// [`UNWIND_PROC_COMPLETE`] or 0.
    pub flags: u32,
    /// Sorted by `start`.
    pub mappings: [UnwindMapping; MAX_UNWIND_MAPPINGS],
}

impl Default for UnwindProcess {
    fn default() -> Self {
        Self {
            len: 0,
            flags: 0,
            mappings: [UnwindMapping::default(); MAX_UNWIND_MAPPINGS],
        }
    }
}

// SAFETY: repr(C) integers with explicit padding; every bit pattern is valid.
unsafe impl plain::Plain for UnwindProcess {}

/// Binaries `unwind_files` holds at most.
pub const UNWIND_MAX_FILES: u32 = 8192;

/// Mirror of `struct unwind_file_key`: a file as the kernel names it, its
/// superblock's device in the kernel's encoding (major << 20 | minor) and
/// its inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UnwindFileKey {
    /// `inode->i_sb->s_dev`.
    pub dev: u64,
    /// `inode->i_ino`.
    pub ino: u64,
}

/// Mirror of `struct unwind_file`: a binary's rows in `unwind_rows`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnwindFile {
    /// Index of its first row.
    pub first_row: u32,
    /// Its rows.
    pub rows: u32,
}

/// Indices of the per-CPU `unwind_stats` array, mirroring `enum unwind_stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum UnwindStat {
    /// User stacks walked with tables.
    Stacks = 0,
    /// Frames stepped by a table row.
    FramesTable = 1,
    /// Frames stepped by frame pointer (no table for the code).
    FramesFramePointer = 2,
    /// Stacks cut at a rule the unwinder cannot follow.
    TruncatedUnsupported = 3,
    /// Stacks cut at an unreadable stack word a table row pointed to.
    TruncatedRead = 4,
    /// Stacks cut at [`MAX_STACK_DEPTH`] frames.
    TruncatedDepth = 5,
    /// Stacks cut at an unreadable word while stepping by frame pointer
    /// through code without a table (built without frame pointers).
    TruncatedReadFramePointer = 6,
    /// Stacks cut at a return address outside every executable mapping:
    /// a frame-pointer step through code without a table read garbage.
    TruncatedNoMapping = 7,
    /// User stacks taken by frame pointers while tables are enabled:
    /// processes without an entry (younger than the agent's minimum age,
    /// tables being built, or no binary with a table).
    StacksNoTables = 8,
    /// Of [`UnwindStat::StacksNoTables`], those the frame-pointer walk
    /// marked truncated: the chain of frame records broke off before the
    /// outermost frame (code built without frame pointers).
    StacksNoTablesTruncated = 9,
    /// Of [`UnwindStat::StacksNoTables`], those whose frame-pointer chain
    /// a table walk continued to the outermost frame, from the binary of
    /// the chain's last return address (`unwind_files`).
    StacksNoTablesCompleted = 10,
}

impl UnwindStat {
    /// Every counter, in index order.
    pub const ALL: [UnwindStat; 11] = [
        UnwindStat::Stacks,
        UnwindStat::FramesTable,
        UnwindStat::FramesFramePointer,
        UnwindStat::TruncatedUnsupported,
        UnwindStat::TruncatedRead,
        UnwindStat::TruncatedDepth,
        UnwindStat::TruncatedReadFramePointer,
        UnwindStat::TruncatedNoMapping,
        UnwindStat::StacksNoTables,
        UnwindStat::StacksNoTablesTruncated,
        UnwindStat::StacksNoTablesCompleted,
    ];
}

/// Indices of the per-CPU `drops` array, mirroring `enum drop_reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DropReason {
    /// The user stack could not be read (not "absent": that is normal).
    UserStackError = 0,
    /// The kernel stack could not be read.
    KernelStackError = 1,
    /// The stacks map was full; the stack is recorded as lost.
    StacksFull = 2,
    /// The counts map was full; the whole sample is lost.
    CountsFull = 3,
    /// The new-process queue was full; the process is normalized at drain
    /// time instead, which fails if it has exited by then.
    NewPidQueueFull = 4,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 5] = [
        DropReason::UserStackError,
        DropReason::KernelStackError,
        DropReason::StacksFull,
        DropReason::CountsFull,
        DropReason::NewPidQueueFull,
    ];

    /// Stable name for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::UserStackError => "user_stack_error",
            DropReason::KernelStackError => "kernel_stack_error",
            DropReason::StacksFull => "stacks_map_full",
            DropReason::CountsFull => "counts_map_full",
            DropReason::NewPidQueueFull => "new_pid_queue_full",
        }
    }
}

/// Quantiles of the memory profile's sampling interval (`intervals` in
/// `memory.bpf.c`).
pub const INTERVAL_QUANTILES: usize = 256;

/// Mirror of `struct alloc_key`: a sampled allocation's site and size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AllocKey {
    /// Process, stacks and task name, as for every sample.
    pub key: SampleKey,
    /// Bytes asked for.
    pub size: u64,
}

// SAFETY: AllocKey is repr(C) and made of a Plain struct and a u64.
unsafe impl plain::Plain for AllocKey {}

/// Mirror of `struct live_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LiveKey {
    /// Process id.
    pub tgid: u32,
    /// Padding, always zero.
    pub pad: u32,
    /// The allocation's address.
    pub addr: u64,
}

// SAFETY: LiveKey is repr(C), integers only, with explicit padding.
unsafe impl plain::Plain for LiveKey {}

/// Mirror of `struct live_alloc`: a tracked allocation not freed yet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LiveAlloc {
    /// Where it was allocated.
    pub key: SampleKey,
    /// Bytes asked for.
    pub size: u64,
    /// Sample points it crossed: it stands for `points` x the mean interval
    /// in bytes.
    pub points: u64,
}

// SAFETY: LiveAlloc is repr(C) and made of a Plain struct and u64s.
unsafe impl plain::Plain for LiveAlloc {}

/// Indices of the memory program's per-CPU `mem_stats` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MemStat {
    /// Allocations sampled, address known.
    Sampled = 0,
    /// Sampled but not tracked: the live map was full.
    LiveFull = 1,
    /// Tracked allocations freed.
    Freed = 2,
    /// Frees of blocks not tracked: not sampled, or allocated before the
    /// probes were attached.
    FreeUntracked = 3,
    /// Sampled calls that returned no memory.
    Failed = 4,
    /// Sampled but not counted: the allocations map was full.
    AllocsFull = 5,
}

impl MemStat {
    /// Every counter, in index order.
    pub const ALL: [MemStat; 6] = [
        MemStat::Sampled,
        MemStat::LiveFull,
        MemStat::Freed,
        MemStat::FreeUntracked,
        MemStat::Failed,
        MemStat::AllocsFull,
    ];

    /// Stable name for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            MemStat::Sampled => "sampled",
            MemStat::LiveFull => "live_map_full",
            MemStat::Freed => "freed",
            MemStat::FreeUntracked => "free_untracked",
            MemStat::Failed => "failed",
            MemStat::AllocsFull => "allocs_map_full",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_key_matches_c_layout() {
        // 4 + 4 + 8 + 8 + 8 + 16, no implicit padding.
        assert_eq!(std::mem::size_of::<super::SampleKey>(), 48);
        assert_eq!(std::mem::size_of::<super::PyProc>(), 16 + 32);
        // 4 heaps of 32, 5 addresses, then 4 + 14 x 2 bytes.
        assert_eq!(std::mem::size_of::<super::JvmProc>(), 4 * 32 + 5 * 8 + 32);
        assert_eq!(std::mem::size_of::<super::Stack>(), 8 * 128);
        assert_eq!(std::mem::offset_of!(super::Stack, flags), 4);
        assert_eq!(std::mem::size_of::<super::AllocKey>(), 48 + 8);
        assert_eq!(std::mem::size_of::<super::LiveKey>(), 16);
        assert_eq!(std::mem::size_of::<super::LiveAlloc>(), 48 + 16);
    }

    #[test]
    fn java_frame_words_round_trip() {
        use super::{JvmFrameKind, JvmFrameWord};
        let word = JvmFrameWord::new(JvmFrameKind::Interpreted, 0x7f00_1234_5678, 77);
        assert_eq!(word.kind(), Some(JvmFrameKind::Interpreted));
        assert_eq!((word.method(), word.bci()), (0x7f00_1234_5678, 77));
        let word = JvmFrameWord::new(JvmFrameKind::Compiled, 0x8_0000_1000, u32::MAX);
        assert_eq!(word.kind(), Some(JvmFrameKind::Compiled));
        assert_eq!(word.bci(), JvmFrameWord::BCI_UNKNOWN);
        assert_eq!(JvmFrameWord(0).kind(), None);
    }

    #[test]
    fn python_frame_words_round_trip() {
        let word = super::PyFrameWord::new(0x7f12_3456_7890, 1234, true);
        assert_eq!(word.code(), 0x7f12_3456_7890);
        assert_eq!(word.instr(), 1234);
        assert!(word.entry());
        let saturated = super::PyFrameWord::new(0x5550_0000_0010, u32::MAX, false);
        assert_eq!(saturated.instr(), super::PyFrameWord::INSTR_MAX);
        assert_eq!(saturated.code(), 0x5550_0000_0010);
        assert!(!saturated.entry());
    }

    #[test]
    fn unwind_structs_match_c_layout() {
        // 8 + 8 + 8 + 4 + 4; 4 + 4 + 128 mappings.
        assert_eq!(std::mem::size_of::<super::UnwindMapping>(), 32);
        assert_eq!(std::mem::size_of::<super::UnwindProcess>(), 8 + 32 * 128);
        assert_eq!(std::mem::size_of::<super::UnwindFileKey>(), 16);
        assert_eq!(std::mem::size_of::<super::UnwindFile>(), 8);
        assert_eq!(
            super::UNWIND_ROWS_PER_CHUNK * super::UNWIND_ROW_SIZE % 8,
            0,
            "array elements have no padding"
        );
    }
}
