//! Augur's BPF programs and the ABI user space shares with them.
//!
//! Programs: `sampler` counts stacks on perf event overflows (on-CPU time,
//! counters); `offcpu` weighs stacks by the time threads spent blocked. Both
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
    /// Task name, NUL-padded.
    pub comm: [u8; TASK_COMM_LEN],
}

// SAFETY: SampleKey is repr(C), made only of integers and byte arrays, with
// explicit padding, so every bit pattern is a valid value.
unsafe impl plain::Plain for SampleKey {}

/// Mirror of `struct stack`: instruction pointers, leaf first.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    /// Number of valid entries in `ips`.
    pub len: u64,
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

#[cfg(test)]
mod tests {
    #[test]
    fn sample_key_matches_c_layout() {
        // 4 + 4 + 8 + 8 + 16, no implicit padding.
        assert_eq!(std::mem::size_of::<super::SampleKey>(), 40);
        assert_eq!(std::mem::size_of::<super::Stack>(), 8 * 128);
    }
}
