/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The CPython walker: records the Python call stack of the sampled thread
 * beside its native stack, as one word per frame (layout in sampler.h), for
 * processes the agent registered in py_procs with their interpreter's
 * offsets.
 *
 * The thread's PyThreadState is found by its kernel tid (3.11+) or its
 * pthread_t (3.9, 3.10: the fs base): the interpreter's
 * thread list is searched once (native_thread_id, at most PY_MAX_THREADS
 * entries) and the answer kept in py_threads, checked again on every use.
 * From it the walk follows the frame chain (f_back or previous, at most
 * MAX_STACK_DEPTH frames), one PY_FRAME_WINDOW read per frame. It never
 * names anything: code objects are named on the host.
 *
 * Per sample the work is bounded: one map lookup and one read to check the
 * cached thread state (or the bounded search), and one read per frame.
 * Include after sampler.h and unwind.h, before stacks.h.
 */
#ifndef AUGUR_PY_WALK_H
#define AUGUR_PY_WALK_H

#include "sampler.h"

/* Set by the agent when Python frames are wanted. */
const volatile __u32 py_enabled = 0;

/* tgid -> the interpreter's address and offsets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct py_proc);
	__uint(max_entries, 4096);
} py_procs SEC(".maps");

/* Thread id -> its PyThreadState, as last found. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16384);
} py_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PY_STAT_COUNT);
} py_stats SEC(".maps");

/* The walk's state, in map memory for the reason given in unwind.h. */
struct py_walk {
	__u8 window[PY_FRAME_WINDOW];
	__u64 frame;
	__u64 tstate;
	/* What the sought thread state holds at id_offset: the kernel tid,
	 * or the pthread_t (fs base). */
	__u64 want;
	__u32 id_offset;
	__u32 len;
	__u32 failed;
	__u32 found;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct py_walk);
	__uint(max_entries, 1);
} py_walks SEC(".maps");

struct py_ctx {
	struct py_walk *w;
	struct py_proc *proc;
	struct stack *st;
};

static __always_inline void py_count(__u32 stat, __u64 n)
{
	__u64 *slot = bpf_map_lookup_elem(&py_stats, &stat);

	if (slot && n)
		*slot += n;
}

static __always_inline int py_read(void *dst, __u32 size, __u64 addr)
{
	return bpf_probe_read_user(dst, size, (const void *)addr);
}

/* The u64 at `off` in the frame window (0 when out of it). */
static __always_inline __u64 window_u64(struct py_walk *w, __u16 off)
{
	if (off > PY_FRAME_WINDOW - 8)
		return 0;
	return *(__u64 *)&w->window[off & (PY_FRAME_WINDOW - 1)];
}

static __always_inline __u8 window_u8(struct py_walk *w, __u16 off)
{
	return w->window[off & (PY_FRAME_WINDOW - 1)];
}

static __always_inline __u32 window_u32(struct py_walk *w, __u16 off)
{
	if (off > PY_FRAME_WINDOW - 4)
		return 0;
	return *(__u32 *)&w->window[off & (PY_FRAME_WINDOW - 1)];
}

/* bpf_loop callback: one thread state of the search for w->want. */
static long py_thread_step(__u32 i, void *ctx)
{
	struct py_ctx *c = ctx;
	struct py_walk *w = c->w;
	struct py_proc *p = c->proc;
	__u64 id = 0, next = 0;

	if (!w || !p || w->tstate == 0)
		return 1;
	if (py_read(&id, sizeof(id), w->tstate + w->id_offset)) {
		w->failed = 1;
		return 1;
	}
	if (id == w->want) {
		w->found = 1;
		return 1;
	}
	if (py_read(&next, sizeof(next), w->tstate + p->o.tstate_next)) {
		w->failed = 1;
		return 1;
	}
	w->tstate = next;
	return 0;
}

/* The sampled thread's PyThreadState, or 0. */
static __always_inline __u64 py_thread_state(struct py_ctx *c, __u32 tid)
{
	struct py_walk *w = c->w;
	struct py_proc *p = c->proc;
	__u64 *cached = bpf_map_lookup_elem(&py_threads, &tid);
	__u64 interp = 0, check = 0;

	if (!w || !p)
		return 0;
	if (p->o.tstate_thread_id) {
		struct task_struct *task = bpf_get_current_task_btf();

		w->want = BPF_CORE_READ(task, thread.fsbase);
		w->id_offset = p->o.tstate_thread_id;
	} else {
		w->want = tid;
		w->id_offset = p->o.tstate_native_thread_id;
	}
	if (cached && *cached && !py_read(&check, sizeof(check), *cached + w->id_offset) &&
	    check == w->want)
		return *cached;
	w->found = 0;
	w->failed = 0;
	w->tstate = 0;
	if (py_read(&interp, sizeof(interp), p->runtime + p->o.interpreters_head) || !interp ||
	    py_read(&w->tstate, sizeof(w->tstate), interp + p->o.threads_head)) {
		py_count(PY_READ_FAILED, 1);
		return 0;
	}
	bpf_loop(PY_MAX_THREADS, py_thread_step, c, 0);
	if (!w->found) {
		if (w->failed)
			py_count(PY_READ_FAILED, 1);
		return 0;
	}
	bpf_map_update_elem(&py_threads, &tid, &w->tstate, BPF_ANY);
	return w->tstate;
}

/* bpf_loop callback: records the frame at w->frame and moves to its caller. */
static long py_frame_step(__u32 i, void *ctx)
{
	struct py_ctx *c = ctx;
	struct py_walk *w = c->w;
	struct py_proc *p = c->proc;
	struct stack *st = c->st;
	__u64 code, instr, word;
	__u32 len, model;

	if (!w || !p || !st || w->frame == 0)
		return 1;
	if (py_read(w->window, PY_FRAME_WINDOW, w->frame)) {
		w->failed = 1;
		return 1;
	}
	model = p->model;
	code = window_u64(w, p->o.frame_code);
	w->frame = window_u64(w, p->o.frame_previous);
	len = w->len;
	if (model >= PY_MODEL_CFRAME_312 &&
	    window_u8(w, p->o.frame_owner) == PY_FRAME_OWNED_BY_CSTACK) {
		/* A call from C entered the evaluation loop here: the frame
		 * below this shim is the outermost of that call's run. */
		__u32 last = len - 1;

		if (len > 0 && last < MAX_STACK_DEPTH)
			st->ips[last] |= PY_FRAME_ENTRY;
		return 0;
	}
	if (len >= MAX_STACK_DEPTH) {
		w->failed = 2;
		return 1;
	}
	if (model <= PY_MODEL_FRAME_OBJECT_BYTES) {
		instr = window_u32(w, p->o.frame_instr);
		/* f_lasti is -1 before the first instruction. */
		if ((__s32)instr < 0)
			instr = 0;
		if (model == PY_MODEL_FRAME_OBJECT_BYTES)
			instr /= 2;
	} else {
		instr = window_u64(w, p->o.frame_instr);
		/* A frame pushed but not started points just before its code. */
		instr = instr > code + p->o.code_adaptive ? (instr - code - p->o.code_adaptive) / 2 : 0;
	}
	if (instr > PY_FRAME_INSTR_MAX)
		instr = PY_FRAME_INSTR_MAX;
	word = ((code >> 3) & ((1ULL << PY_FRAME_CODE_BITS) - 1)) | (instr << PY_FRAME_CODE_BITS);
	/* 3.9, 3.10: every frame is its own call of the evaluation loop;
	 * 3.11: the frame says so itself. */
	if (model <= PY_MODEL_FRAME_OBJECT_BYTES ||
	    (model == PY_MODEL_CFRAME_311 && window_u8(w, p->o.frame_owner)))
		word |= PY_FRAME_ENTRY;
	st->ips[len] = word;
	w->len = len + 1;
	return 0;
}

/*
 * Walks the current thread's Python stack into `st` (flags RUNTIME_PYTHON,
 * STACK_TRUNCATED). Returns the number of frames, or 0 when there is no
 * Python stack (not a registered process, no thread state, no frame).
 */
static __always_inline __u32 py_walk_stack(__u32 tgid, __u32 tid, struct stack *st)
{
	__u32 zero = 0;
	struct py_walk *w = bpf_map_lookup_elem(&py_walks, &zero);
	struct py_proc *p = bpf_map_lookup_elem(&py_procs, &tgid);
	struct py_ctx c = { .w = w, .proc = p, .st = st };
	__u64 tstate, frame = 0, gil = 0, holder = 0;
	__u32 locked = 0;

	if (!w || !p || !st)
		return 0;
	tstate = py_thread_state(&c, tid);
	if (!tstate) {
		py_count(PY_NO_THREAD, 1);
		return 0;
	}
	if (py_read(&frame, sizeof(frame), tstate + p->o.tstate_frame)) {
		py_count(PY_READ_FAILED, 1);
		return 0;
	}
	if (frame && (p->model == PY_MODEL_CFRAME_311 || p->model == PY_MODEL_CFRAME_312) &&
	    py_read(&frame, sizeof(frame), frame + p->o.cframe_current_frame)) {
		py_count(PY_READ_FAILED, 1);
		return 0;
	}
	if (!frame) {
		py_count(PY_NO_FRAME, 1);
		return 0;
	}
	w->frame = frame;
	w->len = 0;
	w->failed = 0;
	bpf_loop(MAX_STACK_DEPTH + 1, py_frame_step, &c, 0);
	st->len = w->len < MAX_STACK_DEPTH ? w->len : MAX_STACK_DEPTH;
	st->flags = RUNTIME_PYTHON;
	if (w->failed == 1) {
		st->flags |= STACK_TRUNCATED;
		py_count(PY_READ_FAILED, 1);
	} else if (w->failed == 2 || w->frame) {
		st->flags |= STACK_TRUNCATED;
		py_count(PY_TRUNCATED, 1);
	}
	/* Whether this thread holds the GIL: its state is the last holder
	 * and the lock is taken. */
	if (p->o.gil_in_interp) {
		__u64 interp = 0;

		if (!py_read(&interp, sizeof(interp), p->runtime + p->o.interpreters_head) && interp)
			py_read(&gil, sizeof(gil), interp + p->o.gil_offset);
	} else {
		gil = p->runtime + p->o.gil_offset;
	}
	if (gil && !py_read(&holder, sizeof(holder), gil + p->o.gil_last_holder) &&
	    !py_read(&locked, sizeof(locked), gil + p->o.gil_locked) && holder == tstate && locked)
		st->flags |= PY_STACK_GIL_HELD;
	py_count(PY_STACKS, 1);
	py_count(PY_FRAMES, st->len);
	return st->len;
}

#endif
