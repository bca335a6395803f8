/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The frame-pointer walk of a user stack: for processes the agent gave no
 * unwind tables (younger than its minimum age, tables being built, none
 * fit), and for every process with unwinder = "frame-pointers". It follows
 * the chain of frame records (rbp -> {saved rbp, return address}) as the
 * kernel's bpf_get_stack does, and also says whether the chain reached the
 * outermost frame. Through code built without frame pointers rbp holds
 * anything, so a walk stops early or wanders off; bpf_get_stack passes such
 * a stack for a whole one, this walk sets STACK_TRUNCATED.
 *
 * A walk ends cleanly only where a chain built with frame pointers ends:
 *  - at a record whose saved rbp is 0 (the ABI's mark of the outermost
 *    frame: glibc's thread start leaves rbp 0 from clone), or
 *  - in a process's main thread, at the first record that cannot be one
 *    (unreadable, below the last, at or above the initial stack pointer)
 *    right after a record within OUTERMOST_FRAMES_BYTES below that initial
 *    stack pointer (mm->start_stack): glibc's start code keeps argc in rbp,
 *    so main's saved rbp is argc, not 0, some 270 bytes below it;
 * and only if the last return address kept lies in an executable mapping.
 * That last check is one bpf_find_vma, made once per walk because in
 * interrupt context the helper works once per program run (its unlock is
 * deferred to an irq_work, an interrupt more), and remembered per process
 * in code_addrs: garbage a walk read from a stack without frame pointers
 * is kept in the middle of a stack, but never passes as its root.
 * Everything else sets STACK_TRUNCATED: a leaf whose rbp is 0 or below the
 * stack pointer, an unreadable record or a zero return address, a record
 * that is not above the previous one, a return address outside code, and
 * MAX_STACK_DEPTH frames.
 *
 * Frame pointers cannot see a function that has no record of its own (a
 * leaf built without one, libc's functions called from code with frame
 * pointers): the walk goes on from its caller's record and the caller is
 * missing from the stack, which is still marked whole. Include after
 * sampler.h, vmlinux.h and the libbpf headers.
 *
 * The rules above are those of unwinder = "frame-pointers". With tables on
 * (stacks.h), no chain counts as whole by itself, since glibc's start code
 * and thread start end chains without their own frames: the walk hands
 * its end (fp_walk_tail) to a table walk of the binary it ended in
 * (unwind.h's unwind_fp_tail), and the stack is whole only if that walk
 * reaches the outermost frame; else it is marked.
 */
#ifndef AUGUR_FP_WALK_H
#define AUGUR_FP_WALK_H

#include "sampler.h"

#define ENOENT 2
/* task_struct.flags: threads without user registers of their own. */
#define PF_USER_WORKER 0x00004000
#define PF_KTHREAD 0x00200000
/* vm_area_struct.vm_flags */
#define VM_EXEC 0x00000004
/* pt_regs.cs of a task running 64-bit code (__USER_CS). */
#define USER64_CS 0x33
/* How far below mm->start_stack main's frame record may lie for a chain
 * that ends there to count as whole: Debian 12's glibc puts it 272 bytes
 * below (_start, __libc_start_main and __libc_start_call_main). */
#define OUTERMOST_FRAMES_BYTES 1024

/* fp_walk.end */
#define FP_WALKING 0
#define FP_END_ZERO 1	/* a saved rbp of 0: the outermost frame */
#define FP_END_BROKEN 2 /* a record that is none; see fp_walk_whole() */
#define FP_END_DEPTH 3	/* more than MAX_STACK_DEPTH frames */

#define FP_WALK_COMPAT 1

/* 1: user stacks without tables are walked here; 0: by bpf_get_stack,
 * unmarked, on kernels without the helpers this walk calls (bpf_loop and
 * bpf_find_vma: before 5.17). Set by the agent at load. */
const volatile __u32 user_fp_walk = 1;

/* 1: every walk starts at a function's first instruction (a uprobe on an
 * allocator's entry), before the function saved rbp: its caller's return
 * address is at the stack pointer, and rbp is still the caller's. Set by
 * the agent at load. */
const volatile __u32 fp_at_entry = 0;

/*
 * The walk's state. In a per-CPU map rather than on the BPF stack, as in
 * unwind.h: the verifier tracks no values in map memory, so it checks the
 * loop callback once instead of once per distinct frame count.
 */
struct fp_walk {
	/* The next frame record's address. */
	__u64 bp;
	/* Records lie at or above `floor` (the stack pointer, then past the
	 * last record: the chain must move up the stack) and below
	 * `ceiling` (the main thread's start_stack, else ~0). */
	__u64 floor;
	__u64 ceiling;
	/* The last record read, 0 before the first, and its return address. */
	__u64 last;
	__u64 last_ra;
	__u32 len;
	__u32 end;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fp_walk);
	__uint(max_entries, 1);
} fp_walks SEC(".maps");

/* Return addresses found in an executable mapping, by process: a process's
 * walks mostly end at the same one (main's or start_thread's caller), so
 * the mapping lookup and the interrupt it costs are paid about once per
 * process rather than per sample. Only ever adds "is code"; a mapping
 * replaced at the same address by non-code would leave an entry stale. */
struct code_addr {
	__u32 tgid;
	__u32 _pad;
	__u64 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct code_addr);
	__type(value, __u8);
	__uint(max_entries, 4096);
} code_addrs SEC(".maps");

/* What the loop callback shares, on the stack: pointers only. */
struct fp_walk_ctx {
	struct fp_walk *w;
	struct stack *st;
};

/* bpf_loop callback: reads the record at w->bp, keeps its return address
 * and moves to the caller's record. */
static long fp_step(__u32 i, void *ctx)
{
	struct fp_walk_ctx *c = ctx;
	struct fp_walk *w = c->w;
	struct stack *st = c->st;
	__u64 record[2]; /* saved rbp, return address */
	__u64 bp;
	__u32 len;

	if (!w || !st)
		return 1;
	bp = w->bp;
	if (bp < w->floor || bp >= w->ceiling || (bp & 7) ||
	    bpf_probe_read_user(record, sizeof(record), (const void *)bp) || record[1] == 0) {
		w->end = FP_END_BROKEN;
		return 1;
	}
	len = w->len;
	if (len >= MAX_STACK_DEPTH) {
		w->end = FP_END_DEPTH;
		return 1;
	}
	st->ips[len] = record[1];
	w->len = len + 1;
	w->last = bp;
	w->last_ra = record[1];
	if (record[0] == 0) {
		w->end = FP_END_ZERO;
		return 1;
	}
	w->floor = bp + 16;
	w->bp = record[0];
	return 0;
}

/* bpf_find_vma callback: whether the mapping holds code. */
static long fp_vma_is_code(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	__u32 *code = ctx;

	*code = (BPF_CORE_READ(vma, vm_flags) & VM_EXEC) != 0;
	return 0;
}

/* Whether `ra` may be a return address of `task`: in an executable
 * mapping, or not known (the mmap lock is taken, or the helper's one use
 * in this program run is spent). */
static __always_inline int return_address_may_be_code(struct task_struct *task, __u64 ra)
{
	struct code_addr key = { .tgid = BPF_CORE_READ(task, tgid), .addr = ra };
	__u8 yes = 1;
	__u32 code = 0;
	long err;

	if (bpf_map_lookup_elem(&code_addrs, &key))
		return 1;
	err = bpf_find_vma(task, ra - 1, fp_vma_is_code, &code, 0);
	if (err == 0 && code)
		bpf_map_update_elem(&code_addrs, &key, &yes, BPF_ANY);
	if (err == 0)
		return code;
	return err != -ENOENT;
}

/* Whether the walk in `w` reached the outermost frame (see the top). */
static __always_inline int fp_walk_whole(struct fp_walk *w)
{
	if (w->end == FP_END_ZERO)
		return 1;
	return w->end == FP_END_BROKEN && w->last != 0 && w->ceiling != ~0ULL &&
	       w->ceiling - w->last <= OUTERMOST_FRAMES_BYTES;
}

/*
 * Where a table walk may take over the chain just walked (unwind.h's
 * unwind_fp_tail): the last return address kept, the stack pointer above
 * its record and the rbp that record saved. -1 when no record was read or
 * the walk ran out of depth.
 */
static __always_inline int fp_walk_tail(__u64 *pc, __u64 *sp, __u64 *bp)
{
	__u32 zero = 0;
	struct fp_walk *w = bpf_map_lookup_elem(&fp_walks, &zero);

	if (!w || w->last == 0 || w->end == FP_END_DEPTH)
		return -1;
	*pc = w->last_ra;
	*sp = w->last + 16;
	*bp = w->end == FP_END_ZERO ? 0 : w->bp;
	return 0;
}

/*
 * Walks the current task's user stack by frame pointers into `st` (len,
 * flags, ips). Returns 0; -1 when the task has no user stack (a kernel
 * thread, no user registers); FP_WALK_COMPAT when it runs 32-bit code,
 * whose 4-byte records this walk does not read. With `check_root` 0 the
 * last return address is not looked up (the caller spends the program
 * run's one bpf_find_vma itself).
 */
static __always_inline int walk_user_frame_pointers(struct stack *st, int check_root)
{
	__u32 zero = 0;
	struct fp_walk *w = bpf_map_lookup_elem(&fp_walks, &zero);
	struct fp_walk_ctx c = { .w = w, .st = st };
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct pt_regs *regs;
	__u64 pc, sp, start_stack;
	__u32 len;

	/* A kernel thread, or a task past exit_mm(). */
	if (!w || !st || !mm)
		return -1;
	/* Threads with no user registers of their own, as bpf_get_stack. */
	if (BPF_CORE_READ(task, flags) & (PF_KTHREAD | PF_USER_WORKER))
		return -1;
	/* The user registers saved on entry to the kernel: by the timer
	 * interrupt if the task ran in user mode, else by its syscall or
	 * fault. */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return -1;
	pc = BPF_CORE_READ(regs, ip);
	sp = BPF_CORE_READ(regs, sp);
	if (pc == 0)
		return -1;
	if ((BPF_CORE_READ(regs, cs) & 0xffff) != USER64_CS)
		return FP_WALK_COMPAT;
	__builtin_memset(w, 0, sizeof(*w));
	w->bp = BPF_CORE_READ(regs, bp);
	w->floor = sp;
	w->ceiling = ~0ULL;
	/* In the main thread nothing at or above start_stack is a frame,
	 * unless it runs on a stack mapped above that (sp tells). */
	start_stack = BPF_CORE_READ(mm, start_stack);
	if (BPF_CORE_READ(task, pid) == BPF_CORE_READ(task, tgid) && sp < start_stack)
		w->ceiling = start_stack;
	st->ips[0] = pc;
	w->len = 1;
	if (fp_at_entry) {
		__u64 ra = 0;

		if (bpf_probe_read_user(&ra, sizeof(ra), (void *)sp) || ra == 0)
			return -1;
		st->ips[1] = ra;
		w->len = 2;
		w->floor = sp + 8;
	}
	bpf_loop(MAX_STACK_DEPTH, fp_step, &c, 0);

	len = w->len;
	st->len = len < MAX_STACK_DEPTH ? len : MAX_STACK_DEPTH;
	st->flags = 0;
	if (!fp_walk_whole(w)) {
		st->flags = STACK_TRUNCATED;
		return 0;
	}
	/* A whole chain ends at a return address (len >= 2 here); garbage
	 * read through code without frame pointers may end at 0 too, but
	 * rarely at an address in code. Not kept if it is not. */
	if (check_root && st->len >= 2 && !return_address_may_be_code(task, w->last_ra)) {
		st->len -= 1;
		st->flags = STACK_TRUNCATED;
	}
	return 0;
}

#endif
