// SPDX-License-Identifier: GPL-2.0
/*
 * Memory growth from system calls: the bytes a `brk` grows the heap by,
 * or an anonymous `mmap` maps, weighted at the user stack that asked for
 * them (Brendan Gregg's memory flame graphs). A cheap signal of where
 * resident memory comes from: its cost follows those system calls, which
 * allocators make rarely, not allocations.
 *
 * One program on the raw `sys_enter` tracepoint serves both profiles;
 * `syscall_nr` (set by the agent at load) says which system call it
 * weighs. Shrinking (`brk` below the current break) and file mappings
 * count nothing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "unwind.h"
#include "py_walk.h"
#include "stacks.h"
#include "walks.h"

/* x86_64 system call numbers. */
#define NR_MMAP 9
#define NR_BRK 12
#define MAP_ANONYMOUS 0x20

/* NR_BRK or NR_MMAP. */
const volatile __u64 syscall_nr = NR_BRK;

SEC("tp_btf/sys_enter")
int BPF_PROG(grow, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sample_key key = {};
	__u32 gen = generation & 1;
	__u64 bytes = 0;

	if (id != (long)syscall_nr || tgid == 0)
		return 0;
	if (filter_tgid && !in_filtered_tree())
		return 0;
	if (syscall_nr == NR_BRK) {
		struct task_struct *task = bpf_get_current_task_btf();
		__u64 want = PT_REGS_PARM1_CORE_SYSCALL(regs);
		__u64 now = BPF_CORE_READ(task, mm, brk);

		if (want <= now)
			return 0;
		bytes = want - now;
	} else {
		__u64 len = PT_REGS_PARM2_CORE_SYSCALL(regs);
		__u64 flags = PT_REGS_PARM4_CORE_SYSCALL(regs);

		if (!(flags & MAP_ANONYMOUS))
			return 0;
		bytes = len;
	}
	if (bytes == 0)
		return 0;
	key.tgid = tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	take_user_side(ctx, gen, (__u32)pid_tgid, &key);
	if (gen)
		add_count(&counts_1, &key, bytes);
	else
		add_count(&counts_0, &key, bytes);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
