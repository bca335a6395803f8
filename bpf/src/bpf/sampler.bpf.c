// SPDX-License-Identifier: GPL-2.0
/*
 * On-CPU and counter sampler: runs on every overflow of a perf event
 * (cpu-clock, page faults, hardware counters...) and counts (process, user
 * stack, kernel stack) in kernel maps.
 *
 * Stacks are stored under a 64-bit hash of their frames rather than in a
 * BPF_MAP_TYPE_STACK_TRACE map, whose buckets collide and silently refuse
 * stacks (1.7% of samples in 30 s on these machines). A 64-bit hash makes a
 * collision between two live stacks vanishingly unlikely, and a full map is
 * counted, never silent. Stack and count maps are preallocated (allocation
 * in NMI context can fail) and sized by the agent at load time for the
 * samples one window can hold.
 *
 * Maps come in two generations. The agent flips `generation`, waits for
 * in-flight programs to finish, and then drains the idle generation at leisure:
 * nothing is read while it is written, and nothing is lost between drains.
 * Per-event work is bounded: two stack walks, two hash loops of at most
 * MAX_STACK_DEPTH steps, and a few map operations. The user stack of a
 * process the agent gave unwind tables for is walked by unwind.h (at most
 * MAX_STACK_DEPTH steps of two binary searches each), else by frame
 * pointers (fp_walk.h: at most MAX_STACK_DEPTH reads of a frame record and
 * one mapping lookup), either walk marking a stack it could not follow to
 * its outermost frame as truncated. A thread of a Python process the agent
 * registered also gets its Python stack (py_walk.h: a bounded search for
 * its thread state, then at most MAX_STACK_DEPTH frame reads).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "unwind.h"
#include "py_walk.h"
#include "stacks.h"
#include "walks.h"


SEC("perf_event")
int sample_stack(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct sample_key key = {};
	__u32 gen = generation & 1;
	bool unwound;

	/* The idle task: the CPU had nothing to run. */
	if (tgid == 0)
		return 0;
	if (filter_tgid && !in_filtered_tree())
		return 0;

	key.tgid = tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	key.user_stack = take_unwound_stack(gen, tgid, &key.runtime_stack);
	unwound = key.user_stack != STACK_NONE;
	take_stacks(ctx, gen, &key);
	if (key.user_stack != STACK_NONE && key.runtime_stack == STACK_NONE)
		key.runtime_stack = take_python_stack(gen, tgid, (__u32)id);
	/* With tables enabled, a user stack taken by frame pointers is one of
	 * a process without an entry (too young, being built, or none of its
	 * binaries has a table): counted (take_user_stack counts those marked
	 * truncated), as what the minimum age costs in whole stacks. */
	if (unwind_enabled && !unwound && key.user_stack != STACK_NONE &&
	    key.user_stack != STACK_LOST)
		unwind_count(UNWIND_STACKS_NO_TABLES, 1);
	if (gen)
		add_count(&counts_1, &key, 1);
	else
		add_count(&counts_0, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
