/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by sampler.bpf.c and the agent (src/sampler.rs mirrors it
 * with #[repr(C)] structs). Change both sides together.
 */
#ifndef AUGUR_SAMPLER_H
#define AUGUR_SAMPLER_H

#define TASK_COMM_LEN 16
/* Deepest stack the kernel hands out by default (kernel.perf_event_max_stack). */
#define MAX_STACK_DEPTH 127

/* One entry of the counts maps: who ran, and where. */
struct sample_key {
	__u32 tgid;
	/* Negative errno from bpf_get_stackid when no stack was recorded. */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 _pad;
	char comm[TASK_COMM_LEN];
};

/* Indices of the per-CPU `drops` array: samples (or parts) lost, by reason. */
enum drop_reason {
	DROP_USER_STACK_COLLISION = 0,
	DROP_KERNEL_STACK_COLLISION = 1,
	DROP_USER_STACK_OTHER = 2,
	DROP_KERNEL_STACK_OTHER = 3,
	DROP_COUNTS_FULL = 4,
	DROP_REASON_COUNT = 5,
};

#endif
