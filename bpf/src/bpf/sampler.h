/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by sampler.bpf.c and the agent (src/lib.rs mirrors it with
 * #[repr(C)] structs). Change both sides together.
 */
#ifndef AUGUR_SAMPLER_H
#define AUGUR_SAMPLER_H

#define TASK_COMM_LEN 16
/* Deepest stack the kernel hands out by default (kernel.perf_event_max_stack). */
#define MAX_STACK_DEPTH 127

/* Stack hashes 0 and 1 are reserved; real hashes are mapped above them. */
#define STACK_NONE 0 /* the sample has no such stack (kernel thread, user mode) */
#define STACK_LOST 1 /* the stack existed but could not be recorded */

/* Stack flags. */
/* The walk stopped before the outermost frame: the table walk (unwind.h)
 * at a rule it cannot follow, an unreadable word or MAX_STACK_DEPTH frames,
 * the frame-pointer walk (fp_walk.h) where the chain of frame records broke
 * off anywhere but at the outermost frame. */
#define STACK_TRUNCATED 1

/* One stack, leaf first; the key in the stacks map is its hash (flags
 * included). */
struct stack {
	__u32 len;
	__u32 flags;
	__u64 ips[MAX_STACK_DEPTH];
};

/* One entry of the counts maps: who ran, and where. */
struct sample_key {
	__u32 tgid;
	__u32 _pad;
	__u64 user_stack;
	__u64 kernel_stack;
	/* The language runtime's own stack (py_walk.h), or STACK_NONE. */
	__u64 runtime_stack;
	char comm[TASK_COMM_LEN];
};

/* Kernel addresses named per run of name_kernel_addrs, and the room for
 * each name ("function [module]", NUL-terminated). */
#define KSYM_BATCH 128
#define KSYM_NAME_SIZE 256

/* Indices of the per-CPU `drops` array: samples (or parts) lost, by reason. */
enum drop_reason {
	DROP_USER_STACK_ERROR = 0,
	DROP_KERNEL_STACK_ERROR = 1,
	DROP_STACKS_FULL = 2,
	DROP_COUNTS_FULL = 3,
	DROP_NEW_PID_QUEUE_FULL = 4,
	DROP_REASON_COUNT = 5,
};

/*
 * The in-kernel unwinder's tables (unwind.h), filled by the agent.
 *
 * unwind_rows holds the rows of every loaded binary one after another, in
 * chunks of UNWIND_ROWS_PER_CHUNK (a multiple of 8 bytes, so that array
 * elements have no padding); row i is rows[i % N] of chunk i / N. Each
 * binary's rows start at a chunk. The row layout is the agent's
 * unwind::row::UnwindRow.
 */
#define UNWIND_ROWS_PER_CHUNK 64
/* Halvings of a row search: slices of up to 2^24 rows. */
#define UNWIND_MAX_SEARCH 24
/* Executable mappings of one process the unwinder knows (a power of two). */
#define MAX_UNWIND_MAPPINGS 128

/* CFA rules (bits 0-3 of unwind_row.rules). */
#define CFA_END 0
#define CFA_RSP 1
#define CFA_RBP 2
#define CFA_PLT 3
#define CFA_DEREF_RBP 4
#define CFA_SIGNAL 5
/* rbp rules (bits 4-5). */
#define RBP_UNCHANGED 0
#define RBP_AT_CFA 1
/* Return-address rules (bits 6-7). */
#define RA_AT_CFA 0
#define RA_UNDEFINED 1
/* Offsets of rbp, rsp and rip in the ucontext_t at rsp in a signal
 * trampoline (uc_mcontext.gregs[REG_RBP], [REG_RSP], [REG_RIP]). */
#define SIGNAL_RBP 120
#define SIGNAL_RSP 160
#define SIGNAL_RIP 168

struct unwind_row {
	__u32 pc; /* first file offset covered */
	__s32 cfa_offset;
	__s16 rbp_offset; /* CFA_PLT: the (pc & 15) threshold */
	__s8 ra_offset;
	__u8 rules;
};

struct unwind_row_chunk {
	struct unwind_row rows[UNWIND_ROWS_PER_CHUNK];
};

/* One executable mapping: its addresses, the file offset at `start`, and
 * its binary's rows (none: unwind it with frame pointers). */
struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 file_offset;
	__u32 first_row;
	__u32 rows;
};

/* unwind_process.flags: `mappings` lists every executable mapping the
 * agent's snapshot of the process has (none left out), so a return address
 * outside all of them is not code: the walk stops there. */
#define UNWIND_PROC_COMPLETE 1

/* A process's executable mappings, sorted by start. */
struct unwind_process {
	__u32 len;
	__u32 flags;
	struct unwind_mapping mappings[MAX_UNWIND_MAPPINGS];
};

/* Indices of the per-CPU unwind_stats array. */
enum unwind_stat {
	UNWIND_STACKS = 0,	   /* user stacks walked with tables */
	UNWIND_FRAMES_TABLE = 1,   /* frames stepped by a table row */
	UNWIND_FRAMES_FP = 2,	   /* frames stepped by frame pointer */
	UNWIND_TRUNC_UNSUPPORTED = 3, /* stopped at a rule it cannot follow */
	UNWIND_TRUNC_READ = 4,	   /* a table row led to an unreadable word */
	UNWIND_TRUNC_DEPTH = 5,	   /* stopped at MAX_STACK_DEPTH frames */
	UNWIND_TRUNC_READ_FP = 6,  /* a frame-pointer step read an unreadable word */
	UNWIND_TRUNC_NO_MAPPING = 7, /* a return address outside every mapping */
	UNWIND_STACKS_NO_TABLES = 8, /* user stacks by frame pointers: no entry */
	UNWIND_NO_TABLES_TRUNCATED = 9, /* ... of which marked truncated */
	UNWIND_NO_TABLES_COMPLETED = 10, /* ... of which a table completed */
	UNWIND_STAT_COUNT = 11,
};

/* A binary file as the kernel names it (inode->i_sb->s_dev, inode->i_ino):
 * the key of unwind_files, which holds the rows of every binary the agent
 * loaded, so that a process without an entry yet is walked with them. */
struct unwind_file_key {
	__u64 dev;
	__u64 ino;
};

struct unwind_file {
	__u32 first_row;
	__u32 rows;
};

/* Binaries unwind_files holds at most. */
#define UNWIND_MAX_FILES 8192


/*
 * CPython's frames (py_walk.h), filled by the agent per process
 * (agent/src/runtime/python). A runtime stack holds one word per Python
 * frame, leaf first: the code object's address shifted right by 3 in bits
 * 0-43, the instruction offset in 2-byte code units in bits 44-62
 * (saturated), and PY_FRAME_ENTRY in bit 63 on the outermost frame of each
 * call of the evaluation loop from C, so that user space puts each run of
 * frames in place of its _PyEval_EvalFrameDefault.
 */
#define PY_FRAME_CODE_BITS 44
#define PY_FRAME_INSTR_MAX 0x7ffff
#define PY_FRAME_ENTRY (1ULL << 63)
/* Runtime stack flags (struct stack.flags, beside STACK_TRUNCATED). */
#define RUNTIME_PYTHON 0x100
#define PY_STACK_GIL_HELD 0x200
#define RUNTIME_JAVA 0x400

/* py_proc.model: how the interpreter lays out its frames. */
#define PY_MODEL_FRAME_OBJECT 1 /* 3.9, 3.10: PyFrameObject, f_lasti */
#define PY_MODEL_FRAME_OBJECT_BYTES 2 /* 3.9: f_lasti counts bytes */
#define PY_MODEL_CFRAME_311 3	/* 3.11: cframe, is_entry */
#define PY_MODEL_CFRAME_312 4	/* 3.12: cframe, owner (C shims) */
#define PY_MODEL_DIRECT_313 5	/* 3.13: current_frame, owner */
/* _PyInterpreterFrame.owner of the shim frame a call from C pushes. */
#define PY_FRAME_OWNED_BY_CSTACK 3
/* Python threads searched for the sampled thread's state. */
#define PY_MAX_THREADS 256
/* Bytes of a frame read at once; every field the walk uses lies in them. */
#define PY_FRAME_WINDOW 128

/* Byte offsets; see agent/src/runtime/python/offsets.rs. */
struct py_offsets {
	__u16 interpreters_head; /* _PyRuntime.interpreters.head */
	__u16 threads_head;	 /* PyInterpreterState's first thread */
	__u16 tstate_next;
	__u16 tstate_native_thread_id;
	__u16 tstate_frame;	     /* frame, cframe or current_frame */
	__u16 cframe_current_frame;  /* 3.11, 3.12 */
	__u16 frame_previous;
	__u16 frame_code;
	__u16 frame_instr;
	__u16 frame_owner;	/* is_entry (3.11), owner (3.12+) */
	__u16 code_adaptive;	/* co_code_adaptive (3.11+) */
	__u16 gil_locked;
	__u16 gil_last_holder;
	__u16 gil_offset;	/* in _PyRuntime, or of the pointer in the interpreter */
	__u16 gil_in_interp;	/* 1: gil_offset is a pointer in PyInterpreterState */
	/* PyThreadState.thread_id, the pthread_t (3.9, 3.10, which record no
	 * kernel tid): compared with the thread's fs base, glibc's and musl's
	 * pthread_self(). 0: tstate_native_thread_id is used. */
	__u16 tstate_thread_id;
};

struct py_proc {
	__u64 runtime; /* _PyRuntime's address in the process */
	__u32 model;
	__u32 _pad;
	struct py_offsets o;
};

/* Indices of the per-CPU py_stats array. */
enum py_stat {
	PY_STACKS = 0,		/* samples with a Python stack */
	PY_FRAMES = 1,		/* Python frames recorded */
	PY_NO_THREAD = 2,	/* the thread has no thread state (yet) */
	PY_READ_FAILED = 3,	/* a read of interpreter memory failed */
	PY_TRUNCATED = 4,	/* more than MAX_STACK_DEPTH frames */
	PY_NO_FRAME = 5,	/* the thread runs no Python code */
	PY_STAT_COUNT = 6,
};


/*
 * HotSpot's frames (unwind.h's Java steps), filled by the agent per JVM
 * (agent/src/runtime/jvm). The user stack keeps every frame's pc; the
 * runtime stack holds one word per frame whose pc lies in a code heap, in
 * the same order: the kind in bits 62-63, the Method* shifted right by 3
 * in bits 0-44, and for an interpreted frame its bytecode index in bits
 * 45-61 (saturated).
 */
#define JVM_KIND_SHIFT 62
#define JVM_INTERPRETED 1ULL
#define JVM_COMPILED 2ULL
#define JVM_STUB 3ULL
#define JVM_METHOD_BITS 45
#define JVM_BCI_MAX 0x1ffff
#define JVM_MAX_HEAPS 4
/* Segment map hops to a blob's start (the largest blobs seen take ~19). */
#define JVM_SEGMAP_HOPS 64
/* Bytes of a code blob's header read at once. */
#define JVM_BLOB_WINDOW 128

struct jvm_heap {
	__u64 low;    /* reserved range of the heap */
	__u64 high;
	__u64 segmap; /* the segment map's first byte */
	__u32 log2_segment;
	__u32 _pad;
};

struct jvm_proc {
	struct jvm_heap heaps[JVM_MAX_HEAPS];
	__u64 interp_start; /* the template interpreter's code */
	__u64 interp_end;
	__u64 call_stub_return; /* where Java returns into JavaCalls */
	__u64 nmethod_name;	/* CodeBlob::_name of every nmethod */
	__u64 native_nmethod_name;
	__u32 heaps_len;
	__u16 heap_block;	/* sizeof(HeapBlock): a blob's offset in its block */
	__u16 blob_frame_complete; /* CodeBlob fields (in the header window) */
	__u16 blob_frame_size;
	__u16 blob_code_begin;
	__u16 blob_name;
	__u16 blob_method;	/* CompiledMethod::_method */
	__s16 interp_method;	/* bytes from rbp in an interpreted frame */
	__s16 interp_bcp;
	__s16 interp_sender_sp;
	__u16 method_const_method; /* Method::_constMethod */
	__u16 const_method_size;   /* bytecodes follow the ConstMethod */
	/* 1: blob_code_begin is an i32 offset from the blob (JDK 23+), not a
	 * pointer. */
	__u16 blob_code_is_offset;
	/* 1: CodeBlob::_frame_complete_offset is an int16_t (JDK 23+). */
	__u16 blob_frame_complete_i16;
	__u16 _pad;
};

/* Indices of the per-CPU jvm_stats array. */
enum jvm_stat {
	JVM_STACKS = 0,		 /* walks that met Java code */
	JVM_FRAMES_INTERPRETED = 1,
	JVM_FRAMES_COMPILED = 2,
	JVM_FRAMES_STUB = 3,
	JVM_LOST_BLOB = 4,	 /* a pc in a heap, in no blob */
	JVM_LOST_READ = 5,	 /* a frame that could not be read */
	JVM_STAT_COUNT = 6,
};

#endif
