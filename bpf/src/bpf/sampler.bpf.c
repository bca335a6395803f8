// SPDX-License-Identifier: GPL-2.0
/*
 * Stack sampler: runs on every cpu-clock (or other perf event) overflow and
 * counts (process, user stack, kernel stack) in kernel maps.
 *
 * Stacks are stored under a 64-bit hash of their frames rather than in a
 * BPF_MAP_TYPE_STACK_TRACE map, whose buckets collide and silently refuse
 * stacks (1.7% of samples in 30 s on these machines). A 64-bit hash makes a
 * collision between two live stacks vanishingly unlikely, and a full map is
 * counted, never silent.
 *
 * Stack and count maps are preallocated (allocation in NMI context can fail)
 * and sized by the agent at load time for the samples one window can hold.
 *
 * Maps come in two generations. The agent flips `generation`, waits for
 * in-flight programs to finish, and then drains the idle generation at leisure:
 * nothing is read while it is written, and nothing is lost between drains.
 * Per-event work is bounded: two stack walks, two hash loops of at most
 * MAX_STACK_DEPTH steps, and a few map operations.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "sampler.h"

#define EFAULT 14
#define EEXIST 17
#define MAX_ANCESTRY 16

/* Only sample this process and its descendants when non-zero (augur record). */
const volatile __u32 filter_tgid = 0;

/* Which generation of maps the program writes to; flipped by the agent. */
__u32 generation = 0;

#define STACKS_MAP(name)                                                       \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_HASH);                               \
		__type(key, __u64);                                            \
		__type(value, struct stack);                                   \
		__uint(max_entries, 16384);                                    \
	} name SEC(".maps")

#define COUNTS_MAP(name)                                                       \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_HASH);                               \
		__type(key, struct sample_key);                                \
		__type(value, __u64);                                          \
		__uint(max_entries, 16384);                                    \
	} name SEC(".maps")

STACKS_MAP(stacks_0);
STACKS_MAP(stacks_1);
COUNTS_MAP(counts_0);
COUNTS_MAP(counts_1);

/* Scratch space for one stack; too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct stack);
	__uint(max_entries, 1);
} scratch SEC(".maps");

/* Processes already announced to the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 32768);
} seen_pids SEC(".maps");

/*
 * Processes sampled for the first time: the agent reads their memory maps
 * right away, so a process that exits before the next drain is still
 * normalized.
 */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 4096);
} new_pids SEC(".maps");

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

/*
 * Takes the user or kernel stack into scratch space, stores it in `stacks`
 * under its hash if it is new, and returns the hash (or STACK_NONE or
 * STACK_LOST).
 */
static __always_inline __u64 take_stack(struct bpf_perf_event_data *ctx, void *stacks, __u64 flags,
					__u32 error_reason)
{
	__u32 zero = 0;
	struct stack *st = bpf_map_lookup_elem(&scratch, &zero);
	long bytes;
	__u64 hash = 0xcbf29ce484222325ULL;

	if (!st)
		return STACK_LOST;
	bytes = bpf_get_stack(ctx, st->ips, sizeof(st->ips), flags);
	if (bytes == 0 || bytes == -EFAULT)
		return STACK_NONE;
	if (bytes < 0) {
		count_drop(error_reason);
		return STACK_LOST;
	}
	st->len = bytes / sizeof(__u64);
	for (int i = 0; i < MAX_STACK_DEPTH; i++) {
		if (i >= st->len)
			break;
		/* FNV-1a over whole words, then a final avalanche below. */
		hash = (hash ^ st->ips[i]) * 0x100000001b3ULL;
	}
	hash ^= hash >> 33;
	hash *= 0xff51afd7ed558ccdULL;
	hash ^= hash >> 33;
	if (hash <= STACK_LOST)
		hash += 2;

	if (bpf_map_lookup_elem(stacks, &hash))
		return hash;
	long err = bpf_map_update_elem(stacks, &hash, st, BPF_NOEXIST);
	if (err == 0 || err == -EEXIST)
		return hash;
	count_drop(DROP_STACKS_FULL);
	return STACK_LOST;
}

static __always_inline void record(struct bpf_perf_event_data *ctx, void *stacks, void *counts,
				   __u32 tgid)
{
	struct sample_key key = {};
	__u64 one = 1, *count;

	key.tgid = tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	key.user_stack = take_stack(ctx, stacks, BPF_F_USER_STACK, DROP_USER_STACK_ERROR);
	key.kernel_stack = take_stack(ctx, stacks, 0, DROP_KERNEL_STACK_ERROR);

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

static __always_inline void announce(__u32 tgid)
{
	__u8 yes = 1;

	if (bpf_map_lookup_elem(&seen_pids, &tgid))
		return;
	bpf_map_update_elem(&seen_pids, &tgid, &yes, BPF_ANY);
	if (bpf_map_push_elem(&new_pids, &tgid, 0))
		count_drop(DROP_NEW_PID_QUEUE_FULL);
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

	announce(tgid);
	if (generation & 1)
		record(ctx, &stacks_1, &counts_1, tgid);
	else
		record(ctx, &stacks_0, &counts_0, tgid);
	return 0;
}

/* A process exited: forget it, so a new process reusing the pid is announced. */
SEC("tp_btf/sched_process_exit")
int process_exit(u64 *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	/* Only the thread group leader's exit ends the process. */
	if ((__u32)id == tgid)
		bpf_map_delete_elem(&seen_pids, &tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
