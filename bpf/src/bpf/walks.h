/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The user and runtime stack walks every stack-taking program shares: the
 * user stack by the agent's unwind tables when it gave some for the
 * process (unwind.h), and the Python stack of a registered interpreter
 * (py_walk.h). Include after unwind.h, py_walk.h and stacks.h.
 */
#ifndef AUGUR_WALKS_H
#define AUGUR_WALKS_H

/*
 * The user stack by the unwinder when the agent gave tables for this
 * process, and in a JVM its Java frames as the runtime stack;
 * STACK_NONE (take it by frame pointers) otherwise.
 */
static __always_inline __u64 take_unwound_stack(__u32 gen, __u32 tgid, __u64 *runtime)
{
	struct unwind_process *proc;
	struct stack *st, *rt;
	__u32 zero = 0;
	__u64 user;

	if (!unwind_enabled)
		return STACK_NONE;
	proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (!proc)
		return STACK_NONE;
	st = scratch_stack();
	rt = bpf_map_lookup_elem(&runtime_scratch, &zero);
	if (rt)
		rt->len = 0;
	if (!st || unwind_user_stack(proc, st, tgid) || st->len == 0)
		return STACK_NONE;
	user = keep_stack(gen, st);
	if (rt && rt->len > 0)
		*runtime = keep_stack(gen, rt);
	return user;
}

/* The Python stack of the sampled thread, kept; STACK_NONE without one. */
static __always_inline __u64 take_python_stack(__u32 gen, __u32 tgid, __u32 tid)
{
	struct stack *st;

	if (!py_enabled)
		return STACK_NONE;
	st = scratch_stack();
	if (!st || py_walk_stack(tgid, tid, st) == 0)
		return STACK_NONE;
	return keep_stack(gen, st);
}

/*
 * Fills `key`'s user and runtime stacks for a program that runs in the
 * task's own context but not on a perf event (a uprobe, a system call's
 * entry): the unwinder's tables where the agent gave some, else frame
 * pointers; no kernel stack, which would only show the probe's own path.
 * Announces the process when it has a user stack.
 */
static __always_inline void take_user_side(void *ctx, __u32 gen, __u32 tid,
					   struct sample_key *key)
{
	key->user_stack = take_unwound_stack(gen, key->tgid, &key->runtime_stack);
	if (key->user_stack == STACK_NONE)
		key->user_stack = take_user_stack(ctx, gen);
	key->kernel_stack = STACK_NONE;
	if (key->user_stack != STACK_NONE)
		announce(key->tgid);
	if (key->user_stack != STACK_NONE && key->runtime_stack == STACK_NONE)
		key->runtime_stack = take_python_stack(gen, key->tgid, tid);
}

#endif
