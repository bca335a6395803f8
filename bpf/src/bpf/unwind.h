/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The user-stack unwinder: walks a stack without frame pointers using the
 * unwind tables the agent built from each binary's .eh_frame (rows in
 * unwind_rows, each process's mappings in unwind_procs; layouts in
 * sampler.h). Per frame: find the mapping holding pc, turn pc into a file
 * offset, binary-search its binary's rows (pc - 1 for return addresses, as
 * a call may end a function), and step: CFA from rsp or rbp (or the PLT and
 * DRAP patterns), return address and saved rbp read from the user stack.
 * Signal trampolines restore the interrupted registers from the kernel's
 * ucontext. A pc outside known mappings, or in a binary or range without
 * rows, is stepped by frame pointer.
 *
 * The walk runs in bpf_loop (verified once, whatever the depth). It ends
 * cleanly where the return address is undefined (the outermost frame), or
 * at a zero return address or frame pointer; anywhere else it ends with
 * STACK_TRUNCATED set: a rule it cannot follow, an unreadable word (after
 * a table row or a frame-pointer step, counted apart), a return address
 * outside every executable mapping, or MAX_STACK_DEPTH frames. Include before stacks.h, after vmlinux.h and the
 * libbpf headers.
 */
#ifndef AUGUR_UNWIND_H
#define AUGUR_UNWIND_H

#include "sampler.h"

/* Set by the agent when it fills the tables (unwinder = "auto"). */
const volatile __u32 unwind_enabled = 0;

/* Every loaded binary's rows; sized and filled by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_row_chunk);
	__uint(max_entries, 1);
} unwind_rows SEC(".maps");

/* tgid -> executable mappings; processes without an entry are walked by
 * frame pointers (fp_walk.h). Sized by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct unwind_process);
	__uint(max_entries, 1);
} unwind_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, UNWIND_STAT_COUNT);
} unwind_stats SEC(".maps");

/*
 * The walk's registers and progress. They live in a per-CPU map, not on
 * the BPF stack: the verifier tracks no values in map memory, so the loop
 * callbacks below look the same to it on every iteration and it checks
 * them once, where values on the stack would make it follow each distinct
 * range (and exceed its limits in the binary searches).
 */
struct user_walk {
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u32 len;
	/* pc is a return address (every frame but the leaf and the frame a
	 * signal interrupted). */
	__u32 pc_is_return;
	__u32 frames_table;
	__u32 frames_fp;
	/* 0 while walking; else an unwind_stat truncation reason, or
	 * UNWIND_STACKS for a complete stack. */
	__u32 end;
	/* The binary search in progress: [lo, hi) over mappings or rows. */
	__u32 lo;
	__u32 hi;
	__u32 failed;
	__u64 key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct user_walk);
	__uint(max_entries, 1);
} unwind_walk SEC(".maps");

/* What the loop callbacks share, on the stack: pointers only. */
struct walk_ctx {
	struct user_walk *w;
	struct stack *st;
	struct unwind_process *proc;
};

static __always_inline void unwind_count(__u32 stat, __u64 n)
{
	__u64 *slot = bpf_map_lookup_elem(&unwind_stats, &stat);

	if (slot && n)
		*slot += n;
}

/* bpf_loop callback: one halving of the search for pc's mapping. */
static long mapping_search_step(__u32 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct user_walk *w = c->w;
	struct unwind_process *proc = c->proc;
	__u32 mid;

	if (!w || !proc || w->lo >= w->hi)
		return 1;
	mid = w->lo + (w->hi - w->lo) / 2;
	if (proc->mappings[mid & (MAX_UNWIND_MAPPINGS - 1)].start <= w->key)
		w->lo = mid + 1;
	else
		w->hi = mid;
	return 0;
}

/* The mapping of c->proc holding `pc`, or NULL. */
static __always_inline struct unwind_mapping *find_mapping(struct walk_ctx *c, __u64 pc)
{
	struct user_walk *w = c->w;
	struct unwind_process *proc = c->proc;
	struct unwind_mapping *m;
	__u32 len;

	if (!w || !proc)
		return NULL;
	len = proc->len;
	w->lo = 0;
	w->hi = len < MAX_UNWIND_MAPPINGS ? len : MAX_UNWIND_MAPPINGS;
	w->key = pc;
	/* log2(MAX_UNWIND_MAPPINGS) + 1 halvings settle it. */
	bpf_loop(8, mapping_search_step, c, 0);
	if (w->lo == 0 || w->lo != w->hi)
		return NULL;
	m = &proc->mappings[(w->lo - 1) & (MAX_UNWIND_MAPPINGS - 1)];
	return pc < m->end ? m : NULL;
}

static __always_inline struct unwind_row *row_at(__u32 i)
{
	__u32 chunk = i / UNWIND_ROWS_PER_CHUNK;
	struct unwind_row_chunk *c = bpf_map_lookup_elem(&unwind_rows, &chunk);

	if (!c)
		return NULL;
	return &c->rows[i & (UNWIND_ROWS_PER_CHUNK - 1)];
}

/* bpf_loop callback: one halving of the search for the row. */
static long row_search_step(__u32 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct user_walk *w = c->w;
	struct unwind_row *row;
	__u32 mid;

	if (!w || w->lo >= w->hi)
		return 1;
	mid = w->lo + (w->hi - w->lo) / 2;
	row = row_at(mid);
	if (!row) {
		w->failed = 1;
		return 1;
	}
	if (row->pc <= w->key)
		w->lo = mid + 1;
	else
		w->hi = mid;
	return 0;
}

/* The last row of rows [first, first + count) starting at or before
 * `offset`, or NULL. */
static __always_inline struct unwind_row *find_row(struct walk_ctx *c, __u32 first, __u32 count,
						   __u32 offset)
{
	struct user_walk *w = c->w;

	if (!w)
		return NULL;
	w->lo = first;
	w->hi = first + count;
	w->key = offset;
	w->failed = 0;
	bpf_loop(UNWIND_MAX_SEARCH + 1, row_search_step, c, 0);
	if (w->failed || w->lo != w->hi || w->lo == first)
		return NULL;
	return row_at(w->lo - 1);
}

static __always_inline int read_word(__u64 *dst, __u64 addr)
{
	return bpf_probe_read_user(dst, sizeof(*dst), (const void *)addr);
}

/* One frame step by frame pointer. */
static __always_inline long step_frame_pointer(struct user_walk *s)
{
	__u64 bp = s->bp, ra, next_bp;

	/* The end of a frame-pointer chain (_start clears rbp). */
	if (bp == 0) {
		s->end = UNWIND_STACKS;
		return 1;
	}
	if (read_word(&ra, bp + 8) || read_word(&next_bp, bp)) {
		s->end = UNWIND_TRUNC_READ_FP;
		return 1;
	}
	s->frames_fp++;
	s->sp = bp + 16;
	s->bp = next_bp;
	s->pc = ra;
	s->pc_is_return = 1;
	return 0;
}

/* One frame step by a table row; `offset` is pc's file offset. */
static __always_inline long step_row(struct user_walk *s, struct unwind_row *row, __u64 offset)
{
	__u8 cfa_rule = row->rules & 0x0f;
	__u8 rbp_rule = (row->rules >> 4) & 0x03;
	__u8 ra_rule = row->rules >> 6;
	__u64 cfa, ra, bp;

	switch (cfa_rule) {
	case CFA_RSP:
		cfa = s->sp + row->cfa_offset;
		break;
	case CFA_RBP:
		cfa = s->bp + row->cfa_offset;
		break;
	case CFA_PLT:
		cfa = s->sp + row->cfa_offset;
		/* From the threshold on, the lazy PLT entry has pushed its
		 * relocation index. */
		if ((offset & 15) >= (__u64)row->rbp_offset)
			cfa += 8;
		break;
	case CFA_DEREF_RBP:
		if (read_word(&cfa, s->bp + row->cfa_offset)) {
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		break;
	case CFA_SIGNAL:
		/* A signal handler returned into the trampoline: the
		 * interrupted registers are in the ucontext at rsp. */
		if (read_word(&s->pc, s->sp + SIGNAL_RIP) || read_word(&bp, s->sp + SIGNAL_RBP) ||
		    read_word(&cfa, s->sp + SIGNAL_RSP)) {
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		s->frames_table++;
		s->sp = cfa;
		s->bp = bp;
		/* The interrupted instruction, not a return address. */
		s->pc_is_return = 0;
		return 0;
	default:
		s->end = UNWIND_TRUNC_UNSUPPORTED;
		return 1;
	}

	if (ra_rule == RA_UNDEFINED) {
		/* The outermost frame: the stack is complete. */
		s->end = UNWIND_STACKS;
		return 1;
	}
	if (ra_rule != RA_AT_CFA) {
		s->end = UNWIND_TRUNC_UNSUPPORTED;
		return 1;
	}
	if (read_word(&ra, cfa + row->ra_offset)) {
		s->end = UNWIND_TRUNC_READ;
		return 1;
	}
	if (rbp_rule == RBP_AT_CFA) {
		if (read_word(&bp, cfa + row->rbp_offset)) {
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		s->bp = bp;
	} else if (rbp_rule != RBP_UNCHANGED) {
		/* Not recoverable: a later rbp-based rule reads from 0 and
		 * ends the walk as unreadable. */
		s->bp = 0;
	}
	s->frames_table++;
	s->sp = cfa;
	s->pc = ra;
	s->pc_is_return = 1;
	return 0;
}

/* bpf_loop callback: records the current frame and steps to its caller. */
static long unwind_step(__u32 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct user_walk *s = c->w;
	struct stack *st = c->st;
	struct unwind_mapping *m;
	struct unwind_row *row;
	__u64 pc, offset;
	__u32 len;

	if (!s || !st || !c->proc)
		return 1;
	len = s->len;
	pc = s->pc;
	if (len >= MAX_STACK_DEPTH) {
		s->end = UNWIND_TRUNC_DEPTH;
		return 1;
	}
	/* A zero return address also ends some outermost frames. */
	if (pc == 0) {
		s->end = UNWIND_STACKS;
		return 1;
	}
	m = find_mapping(c, pc);
	/* A return address outside every executable mapping is garbage that
	 * a frame-pointer step read from code built without frame pointers:
	 * kept, it would add frames that name nothing and make every such
	 * stack distinct. The leaf is always kept: code mapped after the
	 * agent's snapshot (dlopen, JIT) shows there, and the agent then
	 * reads the process's mappings again. */
	if (!m && s->pc_is_return && (c->proc->flags & UNWIND_PROC_COMPLETE)) {
		s->end = UNWIND_TRUNC_NO_MAPPING;
		return 1;
	}
	st->ips[len] = pc;
	s->len = len + 1;
	if (!m || m->rows == 0)
		return step_frame_pointer(s);
	offset = pc - m->start + m->file_offset;
	row = find_row(c, m->first_row, m->rows, (__u32)(offset - (s->pc_is_return ? 1 : 0)));
	if (!row || (row->rules & 0x0f) == CFA_END)
		return step_frame_pointer(s);
	return step_row(s, row, offset);
}

/*
 * Unwinds the current task's user stack with `proc`'s tables into `st`
 * (len, flags, ips). Returns 0, or -1 when there are no user registers.
 */
static __always_inline int unwind_user_stack(struct unwind_process *proc, struct stack *st)
{
	__u32 zero = 0;
	struct user_walk *s = bpf_map_lookup_elem(&unwind_walk, &zero);
	struct walk_ctx c = { .w = s, .st = st, .proc = proc };
	/* The user registers saved on entry to the kernel: by the timer
	 * interrupt if the task ran in user mode, else by its syscall or
	 * fault. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 end;

	if (!s || !regs)
		return -1;
	__builtin_memset(s, 0, sizeof(*s));
	s->pc = BPF_CORE_READ(regs, ip);
	s->sp = BPF_CORE_READ(regs, sp);
	s->bp = BPF_CORE_READ(regs, bp);
	if (s->pc == 0)
		return -1;
	/* One more iteration than frames, to tell a stack of exactly
	 * MAX_STACK_DEPTH frames from a longer one. */
	bpf_loop(MAX_STACK_DEPTH + 1, unwind_step, &c, 0);
	st->len = s->len < MAX_STACK_DEPTH ? s->len : MAX_STACK_DEPTH;
	st->flags = 0;
	end = s->end;
	if (end != UNWIND_STACKS) {
		/* bpf_loop cannot run out without an end (the step past
		 * MAX_STACK_DEPTH frames sets one); count it as depth. */
		st->flags = STACK_TRUNCATED;
		unwind_count(end ? end : UNWIND_TRUNC_DEPTH, 1);
	}
	unwind_count(UNWIND_STACKS, 1);
	unwind_count(UNWIND_FRAMES_TABLE, s->frames_table);
	unwind_count(UNWIND_FRAMES_FP, s->frames_fp);
	return 0;
}

#endif
