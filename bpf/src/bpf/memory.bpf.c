// SPDX-License-Identifier: GPL-2.0
/*
 * Memory profiler: uprobes on a process's allocator (malloc, calloc,
 * realloc, the aligned allocators and free), attached per process by the
 * agent.
 *
 * Allocations are sampled by bytes, as tcmalloc and Go do: a per-CPU
 * countdown falls by each allocation's size, and an allocation during
 * which it crosses zero is sampled once per crossing ("points"), after
 * which a new interval is drawn from `intervals` (quantiles of an
 * exponential with mean `sample_bytes`). Each point stands for
 * `sample_bytes` bytes, so R x points is an unbiased estimate of the bytes
 * allocated and R x points / size of the allocations; user space computes
 * both. An allocation of 64 intervals or more is taken whole, at its size.
 *
 * A sampled allocation's stack is taken at the entry probe; its address
 * arrives at the return probe, which counts it in the generation's
 * `allocs` map (allocation stack and size -> points) and keeps it in
 * `live` (process and address -> stack, size, points) until a `free` or
 * `realloc` of that address removes it. `live` is bounded: an allocation
 * it has no room for is counted (MEM_LIVE_FULL) and not tracked.
 *
 * Cost: every call traps into the kernel once (a session uprobe, whose
 * return probe is skipped unless the call was sampled; on kernels without
 * sessions a uprobe and a uretprobe, two traps); an unsampled allocation
 * then does a per-CPU subtraction, an unsampled free one hash lookup. The
 * trap is the cost: see docs/design/memory.md. Each probe's BPF cookie
 * says which function it sits on (enum alloc_fn).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "unwind.h"
#include "py_walk.h"
#include "stacks.h"
#include "walks.h"

/* Quantiles of the exponential sampling interval, in bytes, filled by the
 * agent before load; the countdown draws one at random. */
#define INTERVAL_QUANTILES 256
/* An allocation crossing this many intervals is taken at its size. */
#define MAX_POINTS 64

const volatile __u64 sample_bytes = 512 * 1024;
const volatile __u64 intervals[INTERVAL_QUANTILES] = {};

/* One sampled allocation site: where, and how big. */
struct alloc_key {
	struct sample_key key;
	__u64 size;
};

/* A tracked live allocation. */
struct live_key {
	__u32 tgid;
	__u32 _pad;
	__u64 addr;
};

struct live_alloc {
	struct sample_key key;
	__u64 size;
	__u64 points;
};

/* An allocation sampled at its entry, waiting for its address. */
struct pending {
	struct sample_key key;
	__u64 size;
	__u64 points;
	/* posix_memalign: where the address will be written. */
	__u64 memptr;
};

#define ALLOCS_MAP(name)                                                       \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_HASH);                               \
		__type(key, struct alloc_key);                                 \
		__type(value, __u64);                                          \
		__uint(max_entries, 16384);                                    \
	} name SEC(".maps")

ALLOCS_MAP(allocs_0);
ALLOCS_MAP(allocs_1);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct live_key);
	__type(value, struct live_alloc);
	__uint(max_entries, 65536);
} live SEC(".maps");

/* By thread id. LRU: a thread that never returns (longjmp, exit in a
 * signal handler) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct pending);
	__uint(max_entries, 16384);
} pending SEC(".maps");

/* Bytes left before the next sample, per CPU; 0 before the first draw. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 1);
} countdown SEC(".maps");

/* Indices of the per-CPU mem_stats array; mirrored in src/lib.rs. */
enum mem_stat {
	MEM_SAMPLED = 0,	/* allocations sampled, address known */
	MEM_LIVE_FULL = 1,	/* sampled, not tracked: `live` was full */
	MEM_FREED = 2,		/* tracked allocations freed */
	MEM_FREE_UNTRACKED = 3, /* frees of blocks not tracked (unsampled, or
				 * allocated before the probes were attached) */
	MEM_FAILED = 4,		/* sampled calls that returned no memory */
	MEM_ALLOCS_FULL = 5,	/* sampled, not counted: `allocs` was full */
	MEM_STAT_COUNT = 6,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MEM_STAT_COUNT);
} mem_stats SEC(".maps");

static __always_inline void mem_count(__u32 stat)
{
	__u64 *slot = bpf_map_lookup_elem(&mem_stats, &stat);

	if (slot)
		*slot += 1;
}

static __always_inline __s64 draw_interval(void)
{
	__u32 i = bpf_get_prandom_u32() % INTERVAL_QUANTILES;

	return (__s64)intervals[i];
}

/* How many sample points an allocation of `size` bytes crosses; 0 for
 * most. Moves the CPU's countdown. */
static __always_inline __u64 sample_points(__u64 size)
{
	__u32 zero = 0;
	__s64 *left = bpf_map_lookup_elem(&countdown, &zero);
	__u64 points = 0;

	if (!left || size == 0)
		return 0;
	if (*left == 0)
		*left = draw_interval();
	if ((__s64)size < *left) {
		*left -= size;
		return 0;
	}
	if (size >= MAX_POINTS * sample_bytes) {
		/* Taken whole: R x points comes to its size (rounded down). */
		*left = draw_interval();
		return size / sample_bytes;
	}
	__s64 rest = *left - (__s64)size;
	for (int i = 0; i < MAX_POINTS + 1; i++) {
		if (rest > 0)
			break;
		rest += draw_interval();
		points++;
	}
	*left = rest > 0 ? rest : draw_interval();
	return points;
}

/* Samples an allocation of `size` at its entry: takes the stack and
 * leaves it for the return probe. Returns whether it was sampled. */
static __always_inline int alloc_enter(struct pt_regs *ctx, __u64 size, __u64 memptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u64 points = sample_points(size);
	struct pending p = {};
	__u32 gen = generation & 1;

	if (points == 0)
		return 0;
	p.size = size;
	p.points = points;
	p.memptr = memptr;
	p.key.tgid = tgid;
	bpf_get_current_comm(&p.key.comm, sizeof(p.key.comm));
	take_user_side(ctx, gen, tid, &p.key);
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 1;
}

/* Forgets the tracked allocation at `addr`, if any. */
static __always_inline void forget(__u64 addr)
{
	struct live_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .addr = addr };

	if (addr == 0)
		return;
	if (bpf_map_delete_elem(&live, &k) == 0)
		mem_count(MEM_FREED);
	else
		mem_count(MEM_FREE_UNTRACKED);
}

/* The address of a sampled allocation arrived: count it and track it. */
static __always_inline void alloc_return(__u64 addr, int from_memptr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	struct alloc_key ak = {};
	struct live_alloc la = {};
	struct live_key lk = {};

	if (!p)
		return;
	if (from_memptr) {
		/* posix_memalign returned 0 (success): the address is in *memptr. */
		if (addr != 0 || bpf_probe_read_user(&addr, sizeof(addr), (void *)p->memptr))
			addr = 0;
	}
	if (addr == 0) {
		mem_count(MEM_FAILED);
		bpf_map_delete_elem(&pending, &tid);
		return;
	}
	ak.key = p->key;
	ak.size = p->size;
	la.key = p->key;
	la.size = p->size;
	la.points = p->points;
	bpf_map_delete_elem(&pending, &tid);

	__u64 *points = bpf_map_lookup_elem(generation & 1 ? (void *)&allocs_1 : (void *)&allocs_0, &ak);
	if (points) {
		__sync_fetch_and_add(points, la.points);
	} else if (bpf_map_update_elem(generation & 1 ? (void *)&allocs_1 : (void *)&allocs_0, &ak,
				       &la.points, BPF_NOEXIST)) {
		mem_count(MEM_ALLOCS_FULL);
	}
	mem_count(MEM_SAMPLED);
	lk.tgid = la.key.tgid;
	lk.addr = addr;
	if (bpf_map_update_elem(&live, &lk, &la, BPF_ANY))
		mem_count(MEM_LIVE_FULL);
}

/* Which allocator function a probe sits on: its BPF cookie. */
enum alloc_fn {
	FN_MALLOC = 0,
	FN_CALLOC = 1,
	FN_REALLOC = 2,
	FN_MEMALIGN = 3, /* memalign and aligned_alloc: (alignment, size) */
	FN_POSIX_MEMALIGN = 4,
};

/* Samples an allocation at its entry; returns whether it was sampled
 * (its return must be seen). */
static __always_inline int alloc_entry_of(struct pt_regs *ctx, __u64 fn)
{
	__u64 a = PT_REGS_PARM1(ctx), b = PT_REGS_PARM2(ctx);

	switch (fn) {
	case FN_MALLOC:
		return alloc_enter(ctx, a, 0);
	case FN_CALLOC:
		/* Both factors below 2^32 cannot overflow. Larger ones are
		 * taken only when the other is 0 or 1 (the compiler turns an
		 * exact overflow test into a 128-bit multiply BPF lacks):
		 * calloc(2, 4 GiB) is not sampled. */
		if (((a >> 32) && b > 1) || ((b >> 32) && a > 1))
			return 0;
		return alloc_enter(ctx, a * b, 0);
	case FN_REALLOC:
		forget(a);
		/* glibc's realloc(NULL, n) calls malloc, whose own probe
		 * samples it: sampling here too would count it twice. */
		if (a == 0)
			return 0;
		return alloc_enter(ctx, b, 0);
	case FN_MEMALIGN:
		return alloc_enter(ctx, b, 0);
	case FN_POSIX_MEMALIGN:
		return alloc_enter(ctx, PT_REGS_PARM3(ctx), a);
	}
	return 0;
}

/*
 * Kernels with session uprobes (6.12): one program at entry and return,
 * and the return probe only for sampled calls (returning 1 from the entry
 * skips it), so an unsampled allocation costs one trap, not two.
 */
extern bool bpf_session_is_return(void) __ksym __weak;

SEC("uprobe.session")
int alloc_session(struct pt_regs *ctx)
{
	__u64 fn = bpf_get_attach_cookie(ctx);

	if (bpf_session_is_return()) {
		alloc_return(PT_REGS_RC(ctx), fn == FN_POSIX_MEMALIGN);
		return 0;
	}
	return alloc_entry_of(ctx, fn) ? 0 : 1;
}

/* Older kernels: a uprobe and a uretprobe on every allocation. */
SEC("uprobe")
int alloc_entry(struct pt_regs *ctx)
{
	alloc_entry_of(ctx, bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("uretprobe")
int alloc_exit(struct pt_regs *ctx)
{
	alloc_return(PT_REGS_RC(ctx), bpf_get_attach_cookie(ctx) == FN_POSIX_MEMALIGN);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_entry, __u64 addr)
{
	forget(addr);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
