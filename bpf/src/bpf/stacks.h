/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stack capture shared by the BPF programs: stacks are stored under a 64-bit
 * hash of their frames in generation-swapped hash maps, with per-CPU scratch
 * space and per-CPU drop counters. Include once per program, after
 * vmlinux.h and the libbpf headers.
 */
#ifndef AUGUR_STACKS_H
#define AUGUR_STACKS_H

#include "sampler.h"
#include "fp_walk.h"

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
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
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

/* Announces a process sampled for the first time to the agent. */
static __always_inline void announce(__u32 tgid)
{
	__u8 yes = 1;

	if (bpf_map_lookup_elem(&seen_pids, &tgid))
		return;
	bpf_map_update_elem(&seen_pids, &tgid, &yes, BPF_ANY);
	/* The agent sleeps on this ring buffer: it wakes for new processes
	 * (churn), not on a timer. */
	if (bpf_ringbuf_output(&new_pids, &tgid, sizeof(tgid), 0))
		count_drop(DROP_NEW_PID_QUEUE_FULL);
}

/*
 * FNV-1a over the flags and the frames as whole words, then a final
 * avalanche; never
 * STACK_NONE or STACK_LOST. A global function: the verifier checks its
 * bounded loop once, not once per call site.
 */
__noinline __u64 hash_stack(struct stack *st)
{
	__u64 hash = 0xcbf29ce484222325ULL;

	if (!st)
		return STACK_LOST;
	hash = (hash ^ st->flags) * 0x100000001b3ULL;
	for (int i = 0; i < MAX_STACK_DEPTH; i++) {
		if (i >= st->len)
			break;
		hash = (hash ^ st->ips[i]) * 0x100000001b3ULL;
	}
	hash ^= hash >> 33;
	hash *= 0xff51afd7ed558ccdULL;
	hash ^= hash >> 33;
	if (hash <= STACK_LOST)
		hash += 2;
	return hash;
}

/* Stores `st` under `hash` in `stacks` unless it is there already. */
static __always_inline __u64 store_stack(void *stacks, __u64 hash, struct stack *st)
{
	if (bpf_map_lookup_elem(stacks, &hash))
		return hash;
	long err = bpf_map_update_elem(stacks, &hash, st, BPF_NOEXIST);
	if (err == 0 || err == -EEXIST)
		return hash;
	count_drop(DROP_STACKS_FULL);
	return STACK_LOST;
}

/* The per-CPU scratch stack, or NULL (never, in practice). */
static __always_inline struct stack *scratch_stack(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/*
 * Stores the stack in `st` in generation `gen`'s stacks map under its hash
 * if it is new, and returns the hash (or STACK_LOST).
 */
static __always_inline __u64 keep_stack(__u32 gen, struct stack *st)
{
	__u64 hash = hash_stack(st);

	if (gen & 1)
		return store_stack(&stacks_1, hash, st);
	return store_stack(&stacks_0, hash, st);
}

/*
 * Takes a stack with bpf_get_stack (`flags`: 0 for the kernel stack, which
 * keeps frame pointers, or BPF_F_USER_STACK) into scratch space and keeps
 * it (keep_stack); returns its hash, or STACK_NONE or STACK_LOST.
 */
static __always_inline __u64 take_stack(void *ctx, __u32 gen, __u64 flags, __u32 error_reason)
{
	struct stack *st = scratch_stack();
	long bytes;

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
	st->flags = 0;
	return keep_stack(gen, st);
}

/*
 * Takes the user stack by frame pointers (fp_walk.h), marked truncated
 * unless it reached the outermost frame, and keeps it; returns its hash,
 * or STACK_NONE or STACK_LOST. A 32-bit task's goes to the kernel's walk,
 * unmarked, as does every task's on a kernel too old for fp_walk.h.
 */
static __always_inline __u64 take_user_stack(void *ctx, __u32 gen)
{
	struct stack *st = scratch_stack();
	int walked;

	if (!user_fp_walk)
		return take_stack(ctx, gen, BPF_F_USER_STACK, DROP_USER_STACK_ERROR);
	if (!st)
		return STACK_LOST;
#ifdef AUGUR_UNWIND_H
	walked = walk_user_frame_pointers(st, !unwind_enabled);
#else
	walked = walk_user_frame_pointers(st, 1);
#endif
	if (walked == FP_WALK_COMPAT)
		return take_stack(ctx, gen, BPF_F_USER_STACK, DROP_USER_STACK_ERROR);
	if (walked)
		return STACK_NONE;
#ifdef AUGUR_UNWIND_H
	/* With tables on, a frame-pointer chain proves nothing about its
	 * root: it ends alike at _start and where a function without a frame
	 * record left rbp 0 or anything else (glibc's start code and thread
	 * start: main's and a thread function's callers are missing). A
	 * table walk from where it ended tells; without one (no rows for
	 * that binary) the stack is marked. With frame pointers forced,
	 * fp_walk.h's rules stand: a chain into glibc's start code is the
	 * best there is. */
	if (unwind_enabled) {
		__u64 tail_pc, tail_sp, tail_bp;

		if (fp_walk_tail(&tail_pc, &tail_sp, &tail_bp) == 0 &&
		    unwind_fp_tail(st, tail_pc, tail_sp, tail_bp)) {
			st->flags = 0;
			unwind_count(UNWIND_NO_TABLES_COMPLETED, 1);
			return keep_stack(gen, st);
		}
		st->flags = STACK_TRUNCATED;
		unwind_count(UNWIND_NO_TABLES_TRUNCATED, 1);
	}
#endif
	return keep_stack(gen, st);
}

/*
 * Takes the kernel stack and, unless `key->user_stack` is set already (an
 * unwound one), the user stack by frame pointers into `key`, and announces
 * the process if it has a user stack: kernel threads have nothing for the
 * agent to read.
 */
static __always_inline void take_stacks(void *ctx, __u32 gen, struct sample_key *key)
{
	if (key->user_stack == STACK_NONE)
		key->user_stack = take_user_stack(ctx, gen);
	key->kernel_stack = take_stack(ctx, gen, 0, DROP_KERNEL_STACK_ERROR);
	if (key->user_stack != STACK_NONE)
		announce(key->tgid);
}

/* Adds `value` to the count of `key` in `counts`. */
static __always_inline void add_count(void *counts, struct sample_key *key, __u64 value)
{
	__u64 *count = bpf_map_lookup_elem(counts, key);

	if (count) {
		__sync_fetch_and_add(count, value);
		return;
	}
	if (bpf_map_update_elem(counts, key, &value, BPF_NOEXIST) == 0)
		return;
	/* Another CPU may have inserted the same key meanwhile. */
	count = bpf_map_lookup_elem(counts, key);
	if (count)
		__sync_fetch_and_add(count, value);
	else
		count_drop(DROP_COUNTS_FULL);
}

/*
 * Kernel symbolization by the kernel: the agent writes up to KSYM_BATCH
 * return-adjusted kernel addresses to ksym_addrs and their number to
 * ksym_count, runs name_kernel_addrs (BPF_PROG_TEST_RUN), and reads
 * "function" or "function [module]" back from ksym_names: one kallsyms
 * lookup per address, instead of reading and parsing all of /proc/kallsyms
 * (5 MB of text the kernel formats, ~60 ms of agent CPU) in user space.
 * An address kallsyms does not know comes back as "0x..."; a name cut off
 * by KSYM_NAME_SIZE comes back empty.
 */
__u64 ksym_addrs[KSYM_BATCH];
char ksym_names[KSYM_BATCH][KSYM_NAME_SIZE];
__u32 ksym_count = 0;

/* bpf_snprintf takes its format from read-only data. */
static const char ksym_format[] = "%ps";

static long name_one(__u32 i, void *unused)
{
	long len;

	if (i >= KSYM_BATCH)
		return 1;
	len = bpf_snprintf(ksym_names[i], KSYM_NAME_SIZE, ksym_format, &ksym_addrs[i],
			   sizeof(__u64));
	if (len > KSYM_NAME_SIZE)
		ksym_names[i][0] = 0;
	return 0;
}

SEC("syscall")
int name_kernel_addrs(void *ctx)
{
	/* bpf_loop: verified once, whatever the batch size. */
	bpf_loop(ksym_count < KSYM_BATCH ? ksym_count : KSYM_BATCH, name_one, NULL, 0);
	return 0;
}

/* A process exited: forget it, so a new process reusing the pid is announced. */
SEC("tp_btf/sched_process_exit")
int process_exit(u64 *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	/* Only the thread group leader's exit ends the process. */
	if ((__u32)id != tgid)
		return 0;
	bpf_map_delete_elem(&seen_pids, &tgid);
#ifdef AUGUR_UNWIND_H
	/* Its mappings must not unwind a later process with the same pid. */
	bpf_map_delete_elem(&unwind_procs, &tgid);
	bpf_map_delete_elem(&jvm_procs, &tgid);
#endif
#ifdef AUGUR_PY_WALK_H
	bpf_map_delete_elem(&py_procs, &tgid);
#endif
	return 0;
}

/*
 * A process called exec: it is a new program under the same pid, with new
 * mappings and possibly a new cgroup, executable and service. Forget it, so
 * its next sample announces it again and the agent reads it afresh.
 */
SEC("tp_btf/sched_process_exec")
int process_exec(u64 *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	bpf_map_delete_elem(&seen_pids, &tgid);
#ifdef AUGUR_UNWIND_H
	/* The old program's mappings are gone; frame pointers until the
	 * agent has read the new ones. */
	bpf_map_delete_elem(&unwind_procs, &tgid);
	bpf_map_delete_elem(&jvm_procs, &tgid);
#endif
#ifdef AUGUR_PY_WALK_H
	/* The new program may be no Python, or another one. */
	bpf_map_delete_elem(&py_procs, &tgid);
#endif
	return 0;
}

#endif
