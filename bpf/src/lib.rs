//! Augur's BPF programs and the ABI user space shares with them.
//!
//! `build.rs` compiles `src/bpf/*.bpf.c` with clang (via libbpf-cargo) against
//! the checked-in `include/vmlinux.h` and generates a libbpf-rs skeleton for
//! each. This crate exposes those skeletons and `#[repr(C)]` mirrors of the
//! structs in `src/bpf/sampler.h`; it holds no policy.

/// Generated skeleton of `sampler.bpf.c`.
pub mod sampler {
    #![allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        non_camel_case_types,
        unsafe_op_in_unsafe_fn,
        rust_2018_idioms
    )]
    include!(concat!(env!("OUT_DIR"), "/sampler.skel.rs"));
}

/// Length of `comm` in the kernel's `task_struct`.
pub const TASK_COMM_LEN: usize = 16;
/// Deepest stack a stack map entry holds.
pub const MAX_STACK_DEPTH: usize = 127;

/// Mirror of `struct sample_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SampleKey {
    /// Process id (thread group id).
    pub tgid: u32,
    /// Stack id in the generation's stack map, or a negative errno.
    pub user_stack_id: i32,
    /// Stack id in the generation's stack map, or a negative errno.
    pub kernel_stack_id: i32,
    /// Padding, always zero.
    pub pad: u32,
    /// Task name, NUL-padded.
    pub comm: [u8; TASK_COMM_LEN],
}

// SAFETY: SampleKey is repr(C), made only of integers and byte arrays, with
// explicit padding, so every bit pattern is a valid value.
unsafe impl plain::Plain for SampleKey {}

/// Indices of the per-CPU `drops` array, mirroring `enum drop_reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DropReason {
    /// The user stack collided with another in the stack map's hash bucket.
    UserStackCollision = 0,
    /// The kernel stack collided with another in the stack map's hash bucket.
    KernelStackCollision = 1,
    /// The user stack could not be taken for another reason.
    UserStackOther = 2,
    /// The kernel stack could not be taken for another reason.
    KernelStackOther = 3,
    /// The counts map was full; the whole sample is lost.
    CountsFull = 4,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 5] = [
        DropReason::UserStackCollision,
        DropReason::KernelStackCollision,
        DropReason::UserStackOther,
        DropReason::KernelStackOther,
        DropReason::CountsFull,
    ];

    /// Stable name for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::UserStackCollision => "user_stack_collision",
            DropReason::KernelStackCollision => "kernel_stack_collision",
            DropReason::UserStackOther => "user_stack_error",
            DropReason::KernelStackOther => "kernel_stack_error",
            DropReason::CountsFull => "counts_map_full",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_key_matches_c_layout() {
        // 4 + 4 + 4 + 4 + 16, no implicit padding.
        assert_eq!(std::mem::size_of::<super::SampleKey>(), 32);
    }
}
