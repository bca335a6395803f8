/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by sampler.bpf.c and the agent (src/lib.rs mirrors it with
 * #[repr(C)] structs). Change both sides together.
 */
#ifndef AUGUR_SAMPLER_H
#define AUGUR_SAMPLER_H

#define TASK_COMM_LEN 16
/* Deepest stack the kernel hands out by default (kernel.perf_event_max_stack). */
#define MAX_STACK_DEPTH 127

/* Stack hashes 0 and 1 are reserved; real hashes are mapped above them. */
#define STACK_NONE 0 /* the sample has no such stack (kernel thread, user mode) */
#define STACK_LOST 1 /* the stack existed but could not be recorded */

/* One stack, leaf first; the key in the stacks map is its hash. */
struct stack {
	__u64 len;
	__u64 ips[MAX_STACK_DEPTH];
};

/* One entry of the counts maps: who ran, and where. */
struct sample_key {
	__u32 tgid;
	__u32 _pad;
	__u64 user_stack;
	__u64 kernel_stack;
	char comm[TASK_COMM_LEN];
};

/* Kernel addresses named per run of name_kernel_addrs, and the room for
 * each name ("function [module]", NUL-terminated). */
#define KSYM_BATCH 128
#define KSYM_NAME_SIZE 256

/* Indices of the per-CPU `drops` array: samples (or parts) lost, by reason. */
enum drop_reason {
	DROP_USER_STACK_ERROR = 0,
	DROP_KERNEL_STACK_ERROR = 1,
	DROP_STACKS_FULL = 2,
	DROP_COUNTS_FULL = 3,
	DROP_NEW_PID_QUEUE_FULL = 4,
	DROP_REASON_COUNT = 5,
};

#endif
