// SPDX-License-Identifier: GPL-2.0
/*
 * Off-CPU profiler: the time threads spend blocked (sleeping on I/O, locks,
 * timers), weighted in nanoseconds, attributed to the stack they blocked in.
 *
 * At sched_switch the thread leaving the CPU is current, so its stacks are
 * taken then, if it is going to sleep (not merely preempted). When the same
 * thread is switched back in, the blocked time is added to (process, user
 * stack, kernel stack) if it reached `min_block_ns`.
 *
 * Cost grows with the rate of voluntary context switches, which is the event
 * being profiled: there is no cheaper correct way to weigh blocked time.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "stacks.h"

/* Blocks shorter than this are not counted. */
const volatile __u64 min_block_ns = 1000000;

struct blocked {
	__u64 since;
	struct sample_key key;
};

/* Threads currently blocked, by thread id. LRU: threads that never wake
 * (or exit) age out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct blocked);
	__uint(max_entries, 65536);
} blocked SEC(".maps");

/* Kernels before 5.14 called the field `state`. */
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre_5_14 *)task, state);
}

static __always_inline void block(void *ctx, __u32 tid, __u32 tgid, __u64 now)
{
	struct blocked entry = {};

	entry.since = now;
	entry.key.tgid = tgid;
	bpf_get_current_comm(&entry.key.comm, sizeof(entry.key.comm));
	take_stacks(ctx, generation & 1, &entry.key);
	bpf_map_update_elem(&blocked, &tid, &entry, BPF_ANY);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_task, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 prev_tgid = BPF_CORE_READ(prev, tgid);
	__u32 prev_tid = BPF_CORE_READ(prev, pid);
	__u32 next_tid = BPF_CORE_READ(next, pid);
	struct blocked *entry;

	/* A thread going to sleep: remember when and where. */
	if (!preempt && prev_tgid != 0 && task_state(prev) != 0 &&
	    (!filter_tgid || in_filtered_tree())) {
		block(ctx, prev_tid, prev_tgid, now);
	}

	/* A thread waking up: count how long it was blocked. */
	entry = bpf_map_lookup_elem(&blocked, &next_tid);
	if (!entry)
		return 0;
	struct sample_key key = entry->key;
	__u64 blocked_ns = now - entry->since;

	bpf_map_delete_elem(&blocked, &next_tid);
	if (blocked_ns < min_block_ns)
		return 0;
	if (generation & 1)
		add_count(&counts_1, &key, blocked_ns);
	else
		add_count(&counts_0, &key, blocked_ns);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
