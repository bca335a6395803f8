// SPDX-License-Identifier: GPL-2.0
/*
 * Stack sampler: runs on every cpu-clock (or other perf event) overflow and
 * counts (process, user stack, kernel stack) in kernel maps.
 *
 * Maps come in two generations. The agent flips `generation`, waits for
 * in-flight programs to finish, and then drains the idle generation at leisure:
 * nothing is read while it is written, and nothing is lost between drains.
 * Per-event work is constant: two stack walks and one hash update.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "sampler.h"

#define EFAULT 14
#define EEXIST 17
#define MAX_ANCESTRY 16

/* Only sample this process tree when non-zero (augur record). */
const volatile __u32 filter_tgid = 0;

/* Which generation of maps the program writes to; flipped by the agent. */
__u32 generation = 0;

#define STACK_MAP(name)                                                        \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                        \
		__uint(key_size, sizeof(__u32));                               \
		__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));           \
		__uint(max_entries, 16384);                                    \
	} name SEC(".maps")

#define COUNTS_MAP(name)                                                       \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_HASH);                               \
		__type(key, struct sample_key);                                \
		__type(value, __u64);                                          \
		__uint(max_entries, 16384);                                    \
	} name SEC(".maps")

STACK_MAP(stacks_0);
STACK_MAP(stacks_1);
COUNTS_MAP(counts_0);
COUNTS_MAP(counts_1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DROP_REASON_COUNT);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
	__u64 *slot = bpf_map_lookup_elem(&drops, &reason);

	if (slot)
		*slot += 1;
}

/* True when the current task belongs to filter_tgid's process tree. */
static __always_inline int in_filtered_tree(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	for (int i = 0; i < MAX_ANCESTRY; i++) {
		if (!task)
			return 0;
		if (BPF_CORE_READ(task, tgid) == filter_tgid)
			return 1;
		task = BPF_CORE_READ(task, real_parent);
	}
	return 0;
}

static __always_inline void record(struct bpf_perf_event_data *ctx, void *stacks, void *counts,
				   __u32 tgid)
{
	struct sample_key key = {};
	__u64 one = 1, *count;

	key.tgid = tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));

	key.user_stack_id = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
	/* -EFAULT: no user stack (kernel thread); not a loss. */
	if (key.user_stack_id == -EEXIST)
		count_drop(DROP_USER_STACK_COLLISION);
	else if (key.user_stack_id < 0 && key.user_stack_id != -EFAULT)
		count_drop(DROP_USER_STACK_OTHER);

	key.kernel_stack_id = bpf_get_stackid(ctx, stacks, 0);
	/* -EFAULT: the sample hit user mode; there is no kernel stack. */
	if (key.kernel_stack_id == -EEXIST)
		count_drop(DROP_KERNEL_STACK_COLLISION);
	else if (key.kernel_stack_id < 0 && key.kernel_stack_id != -EFAULT)
		count_drop(DROP_KERNEL_STACK_OTHER);

	count = bpf_map_lookup_elem(counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	if (bpf_map_update_elem(counts, &key, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU may have inserted the same key meanwhile. */
	count = bpf_map_lookup_elem(counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		count_drop(DROP_COUNTS_FULL);
}

SEC("perf_event")
int sample_stack(struct bpf_perf_event_data *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* The idle task: the CPU had nothing to run. */
	if (tgid == 0)
		return 0;
	if (filter_tgid && !in_filtered_tree())
		return 0;

	if (generation & 1)
		record(ctx, &stacks_1, &counts_1, tgid);
	else
		record(ctx, &stacks_0, &counts_0, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
