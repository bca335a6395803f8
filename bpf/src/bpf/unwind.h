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

/* Every binary with rows in unwind_rows, by file: lets a frame-pointer
 * walk of a process without an entry go on with the table of the binary
 * its chain ended in (unwind_fp_tail). Filled by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct unwind_file_key);
	__type(value, struct unwind_file);
	__uint(max_entries, UNWIND_MAX_FILES);
} unwind_files SEC(".maps");

/* The one-mapping process unwind_fp_tail walks with. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_process);
	__uint(max_entries, 1);
} unwind_tail_proc SEC(".maps");

/* Set by the agent when Java frames are wanted. */
const volatile __u32 jvm_enabled = 0;

/* tgid -> its JVM's code heaps, interpreter and offsets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct jvm_proc);
	__uint(max_entries, 1024);
} jvm_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, JVM_STAT_COUNT);
} jvm_stats SEC(".maps");

/* The Java frames of the walk in progress (the runtime stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct stack);
	__uint(max_entries, 1);
} runtime_scratch SEC(".maps");

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
	/* Java steps: r13 at the sample (the interpreter's live bcp), the
	 * segment being searched and the code blob header read. */
	__u64 r13;
	__u64 segment;
	__u64 segmap;
	__u32 java_frames;
	__u32 leaf;
	__u8 blob[JVM_BLOB_WINDOW];
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
	/* A JVM's layout, and its Java frames (NULL: not a JVM). */
	struct jvm_proc *jvm;
	struct stack *rt;
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

static __always_inline void jvm_count(__u32 stat)
{
	__u64 *slot = bpf_map_lookup_elem(&jvm_stats, &stat);

	if (slot)
		*slot += 1;
}

/* The heap of `j` holding pc, or -1. */
static __always_inline int jvm_heap_of(struct jvm_proc *j, __u64 pc)
{
	for (int i = 0; i < JVM_MAX_HEAPS; i++) {
		if (i < j->heaps_len && pc >= j->heaps[i].low && pc < j->heaps[i].high)
			return i;
	}
	return -1;
}

/* bpf_loop callback: one hop back through a code heap's segment map
 * (0: the first segment of a block; 0xFF: free; else hop that many). */
static long jvm_segmap_step(__u32 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct user_walk *w = c->w;
	__u8 hop = 0;

	if (!w)
		return 1;
	if (bpf_probe_read_user(&hop, 1, (const void *)(w->segmap + w->segment)) || hop == 0xff ||
	    hop > w->segment) {
		w->failed = 1;
		return 1;
	}
	if (hop == 0)
		return 1;
	w->segment -= hop;
	return 0;
}

static __always_inline __u64 blob_u64(struct user_walk *w, __u16 off)
{
	if (off > JVM_BLOB_WINDOW - 8)
		return 0;
	return *(__u64 *)&w->blob[off & (JVM_BLOB_WINDOW - 1)];
}

static __always_inline __u32 blob_u32(struct user_walk *w, __u16 off)
{
	if (off > JVM_BLOB_WINDOW - 4)
		return 0;
	return *(__u32 *)&w->blob[off & (JVM_BLOB_WINDOW - 1)];
}

/* Appends a Java word for the frame just recorded. */
static __always_inline void jvm_record(struct walk_ctx *c, __u64 kind, __u64 method, __u64 bci)
{
	struct user_walk *w = c->w;
	struct stack *rt = c->rt;
	__u32 n;

	if (!w || !rt)
		return;
	n = w->java_frames;
	if (n >= MAX_STACK_DEPTH)
		return;
	if (bci > JVM_BCI_MAX)
		bci = JVM_BCI_MAX;
	rt->ips[n] = (kind << JVM_KIND_SHIFT) | (bci << JVM_METHOD_BITS) |
		     ((method >> 3) & ((1ULL << JVM_METHOD_BITS) - 1));
	w->java_frames = n + 1;
}

/*
 * One step through a frame whose pc lies in the JVM's code: the
 * interpreter's frames are rbp-based (Method* and bcp in slots below rbp);
 * a compiled method or stub is found through its heap's segment map and
 * stepped by its frame size (compiled code keeps no frame pointer); the
 * call stub hands the walk back to native code.
 */
static __always_inline long jvm_step(struct walk_ctx *c, __u64 pc)
{
	struct user_walk *s = c->w;
	struct jvm_proc *j = c->jvm;
	__u64 ra = 0, bp = 0, sp, method = 0, bcp = 0, cm = 0, base, name, code;
	__u32 frame_size, complete;
	int heap;

	if (!s || !j)
		return 1;
	if (pc == j->call_stub_return) {
		jvm_record(c, JVM_STUB, 0, 0);
		jvm_count(JVM_FRAMES_STUB);
		return step_frame_pointer(s);
	}
	if (pc >= j->interp_start && pc < j->interp_end) {
		if (read_word(&method, s->bp + j->interp_method) ||
		    read_word(&bcp, s->bp + j->interp_bcp) ||
		    read_word(&cm, method + j->method_const_method)) {
			jvm_count(JVM_LOST_READ);
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		base = cm + j->const_method_size;
		/* The top frame's slot holds the bcp of its last call; r13 the
		 * live one while bytecodes run. */
		if (s->leaf && s->r13 >= base && s->r13 - base <= JVM_BCI_MAX)
			bcp = s->r13;
		jvm_record(c, JVM_INTERPRETED, method, bcp >= base ? bcp - base : JVM_BCI_MAX);
		jvm_count(JVM_FRAMES_INTERPRETED);
		if (read_word(&ra, s->bp + 8) || read_word(&sp, s->bp + j->interp_sender_sp) ||
		    read_word(&bp, s->bp)) {
			jvm_count(JVM_LOST_READ);
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		s->pc = ra;
		s->sp = sp;
		s->bp = bp;
		s->pc_is_return = 1;
		s->leaf = 0;
		s->frames_fp++;
		return 0;
	}
	heap = jvm_heap_of(j, pc);
	if (heap < 0 || heap >= JVM_MAX_HEAPS)
		return 1;
	s->segmap = j->heaps[heap].segmap;
	s->segment = (pc - j->heaps[heap].low) >> (j->heaps[heap].log2_segment & 31);
	s->failed = 0;
	bpf_loop(JVM_SEGMAP_HOPS, jvm_segmap_step, c, 0);
	base = j->heaps[heap].low + (s->segment << (j->heaps[heap].log2_segment & 31)) +
	       j->heap_block;
	if (s->failed || bpf_probe_read_user(s->blob, JVM_BLOB_WINDOW, (const void *)base)) {
		jvm_count(JVM_LOST_BLOB);
		s->end = UNWIND_TRUNC_NO_MAPPING;
		return 1;
	}
	name = blob_u64(s, j->blob_name);
	if (name && (name == j->nmethod_name || name == j->native_nmethod_name)) {
		jvm_record(c, JVM_COMPILED, blob_u64(s, j->blob_method), 0);
		jvm_count(JVM_FRAMES_COMPILED);
	} else {
		jvm_record(c, JVM_STUB, 0, 0);
		jvm_count(JVM_FRAMES_STUB);
	}
	frame_size = blob_u32(s, j->blob_frame_size);
	complete = j->blob_frame_complete_i16 ? (__u32)(__s32)(__s16)blob_u32(s, j->blob_frame_complete)
					      : blob_u32(s, j->blob_frame_complete);
	code = j->blob_code_is_offset ? base + (__s32)blob_u32(s, j->blob_code_begin)
				      : blob_u64(s, j->blob_code_begin);
	sp = s->sp;
	if (frame_size == 0 || frame_size > 0x10000 || (s->leaf && pc - code < complete)) {
		/* No frame of its own yet: the return address is on top. */
		if (read_word(&ra, sp)) {
			jvm_count(JVM_LOST_READ);
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		s->sp = sp + 8;
	} else {
		sp += (__u64)frame_size * 8;
		if (read_word(&ra, sp - 8) || read_word(&bp, sp - 16)) {
			jvm_count(JVM_LOST_READ);
			s->end = UNWIND_TRUNC_READ;
			return 1;
		}
		s->sp = sp;
		s->bp = bp;
	}
	s->pc = ra;
	s->pc_is_return = 1;
	s->leaf = 0;
	s->frames_table++;
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
	if (c->jvm && (jvm_heap_of(c->jvm, pc) >= 0 ||
		       (pc >= c->jvm->interp_start && pc < c->jvm->interp_end))) {
		st->ips[len] = pc;
		s->len = len + 1;
		return jvm_step(c, pc);
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
	s->leaf = 0;
	if (!m || m->rows == 0)
		return step_frame_pointer(s);
	offset = pc - m->start + m->file_offset;
	row = find_row(c, m->first_row, m->rows, (__u32)(offset - (s->pc_is_return ? 1 : 0)));
	if (!row || (row->rules & 0x0f) == CFA_END)
		return step_frame_pointer(s);
	return step_row(s, row, offset);
}

/* The mapping holding a return address, as bpf_find_vma saw it. */
struct tail_vma {
	__u64 start;
	__u64 end;
	__u64 pgoff;
	__u64 dev;
	__u64 ino;
	__u64 exec;
};

static long tail_vma_found(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct tail_vma *t = ctx;

	t->start = BPF_CORE_READ(vma, vm_start);
	t->end = BPF_CORE_READ(vma, vm_end);
	t->pgoff = BPF_CORE_READ(vma, vm_pgoff);
	t->exec = BPF_CORE_READ(vma, vm_flags) & 0x4; /* VM_EXEC */
	t->ino = BPF_CORE_READ(vma, vm_file, f_inode, i_ino);
	t->dev = BPF_CORE_READ(vma, vm_file, f_inode, i_sb, s_dev);
	return 0;
}

/*
 * Goes on, with tables, from where a frame-pointer walk of a process
 * without an entry ended: `st` holds the chain, its last frame `pc` (a
 * return address), `sp` the stack pointer above that frame's record and
 * `bp` the rbp the record saved. The binary holding `pc` is found with
 * bpf_find_vma (once per program run: the caller spends it nowhere else)
 * and its rows through unwind_files; the walk then runs as for a process
 * whose only known mapping is that one, so code elsewhere is stepped by
 * frame pointers. Returns 1 if the walk reached the outermost frame (a
 * row's undefined return address, or _start's zero rbp), else 0; `st`
 * keeps the frames found either way.
 *
 * This is what makes a process's first samples whole: glibc's start code
 * and thread start have no frame pointers but have tables (libc's rows
 * are in from other processes), and the chain of a program built with
 * frame pointers ends in them.
 */
static __always_inline int unwind_fp_tail(struct stack *st, __u64 pc, __u64 sp, __u64 bp)
{
	__u32 zero = 0;
	struct user_walk *s = bpf_map_lookup_elem(&unwind_walk, &zero);
	struct unwind_process *proc = bpf_map_lookup_elem(&unwind_tail_proc, &zero);
	struct walk_ctx c = { .w = s, .st = st, .proc = proc };
	struct task_struct *task = bpf_get_current_task_btf();
	struct unwind_file_key key = {};
	struct unwind_file *file;
	struct tail_vma t = {};
	__u32 len;

	if (!s || !proc || !st || st->len == 0 || st->len > MAX_STACK_DEPTH || pc == 0)
		return 0;
	if (bpf_find_vma(task, pc - 1, tail_vma_found, &t, 0) || !t.exec || !t.ino)
		return 0;
	key.dev = t.dev;
	key.ino = t.ino;
	file = bpf_map_lookup_elem(&unwind_files, &key);
	if (!file || file->rows == 0)
		return 0;
	proc->len = 1;
	proc->flags = 0;
	proc->mappings[0].start = t.start;
	proc->mappings[0].end = t.end;
	proc->mappings[0].file_offset = t.pgoff << 12;
	proc->mappings[0].first_row = file->first_row;
	proc->mappings[0].rows = file->rows;
	__builtin_memset(s, 0, sizeof(*s));
	s->pc = pc;
	s->sp = sp;
	s->bp = bp;
	s->pc_is_return = 1;
	/* The walk records pc again, in place of the chain's last frame. */
	s->len = st->len - 1;
	bpf_loop(MAX_STACK_DEPTH + 1, unwind_step, &c, 0);
	len = s->len;
	st->len = len < MAX_STACK_DEPTH ? len : MAX_STACK_DEPTH;
	unwind_count(UNWIND_FRAMES_TABLE, s->frames_table);
	unwind_count(UNWIND_FRAMES_FP, s->frames_fp);
	return s->end == UNWIND_STACKS;
}

/*
 * Unwinds the current task's user stack with `proc`'s tables into `st`
 * (len, flags, ips). Returns 0, or -1 when there are no user registers.
 */
static __always_inline int unwind_user_stack(struct unwind_process *proc, struct stack *st,
					     __u32 tgid)
{
	__u32 zero = 0;
	struct user_walk *s = bpf_map_lookup_elem(&unwind_walk, &zero);
	struct walk_ctx c = { .w = s, .st = st, .proc = proc };

	if (jvm_enabled) {
		c.jvm = bpf_map_lookup_elem(&jvm_procs, &tgid);
		c.rt = bpf_map_lookup_elem(&runtime_scratch, &zero);
	}
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
	s->r13 = BPF_CORE_READ(regs, r13);
	s->leaf = 1;
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
	if (c.rt) {
		c.rt->len = s->java_frames < MAX_STACK_DEPTH ? s->java_frames : MAX_STACK_DEPTH;
		c.rt->flags = RUNTIME_JAVA;
		if (s->java_frames)
			jvm_count(JVM_STACKS);
	}
	unwind_count(UNWIND_STACKS, 1);
	unwind_count(UNWIND_FRAMES_TABLE, s->frames_table);
	unwind_count(UNWIND_FRAMES_FP, s->frames_fp);
	return 0;
}

#endif
