//! A user-space model of the BPF walk over HotSpot frames (x86_64): from a
//! stopped thread's (pc, sp, fp), through interpreted, compiled and stub
//! frames, to the call stub that entered Java from native code. The BPF
//! program does the same reads with the same bounds; this one exists to pin
//! the frame layout down against a live VM and to name what BPF will see.
//!
//! Layout facts and where they come from:
//! - interpreted frames keep `fp` (rbp) as their frame pointer; the slots
//!   below it are `frame::interpreter_frame_*_offset` (frame_x86.hpp).
//!   HotSpot exports `sender_sp` (-1) and `last_sp` (-2); `method` (-3) and
//!   `bcp` (-8) follow from the enum's order (last_sp, method, mirror, mdp,
//!   cache, locals, bcp), unchanged on x86_64 from JDK 9 to 25 (checked
//!   live on 17 and 25).
//! - a compiled frame of `frame_size` words ends, at the caller's sp, with
//!   the return address (-1 word) and the caller's fp (-2 words,
//!   `frame::sender_sp_offset` = 2);
//! - the call stub's frame returns to `StubRoutines::_call_stub_return_address`
//!   and keeps an fp chain into `JavaCalls::call_helper`.

use super::codecache::{BlobKind, CodeCacheSnapshot};
use super::vmstructs::VmStructs;
use super::{JvmError, Memory, read_u64};

/// Registers of a sampled thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registers {
    pub pc: u64,
    pub sp: u64,
    pub fp: u64,
    /// r13, where the template interpreter keeps the bcp (`rbcp`) while it
    /// runs bytecodes; the frame slot is only written at calls.
    pub r13: u64,
}

/// One Java-level frame as the walker records it; naming is for later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFrame {
    /// An interpreted frame: its `Method*` and the bcp saved in the frame
    /// (current for callers, as of the last call for the top frame), plus,
    /// for the top frame, r13: the live bcp whenever the interpreter is
    /// executing bytecodes. User space takes `live_bcp` when it falls
    /// inside the method's bytecodes, else `bcp`.
    Interpreted {
        method: u64,
        bcp: u64,
        live_bcp: Option<u64>,
    },
    /// A compiled frame: the nmethod's `Method*`, the `CodeBlob*` and the
    /// pc (a return address except at the top) for inline expansion.
    Compiled { method: u64, blob: u64, pc: u64 },
    /// A stub or adapter frame, kept so gaps are visible.
    Stub { blob: u64, pc: u64 },
}

/// Why a walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// Back in native code through the call stub: these registers continue
    /// the native unwind inside `JavaCalls::call_helper`.
    CallStub(Registers),
    /// A pc outside the code cache (native code, not via the call stub).
    Native(Registers),
    /// A read failed or a frame did not make sense.
    Lost(&'static str),
    DepthLimit,
}

/// Offsets the walk needs, resolved once per VM.
#[derive(Debug, Clone, Copy)]
pub struct FrameLayout {
    /// Word offsets from fp in an interpreted frame.
    sender_sp: i64,
    method: i64,
    bcp: i64,
    /// The pc the call stub returns to.
    call_stub_return: u64,
}

impl FrameLayout {
    pub fn new(vm: &VmStructs, mem: &dyn Memory) -> Result<Self, JvmError> {
        let sender_sp = i64::from(vm.int_constant("frame::interpreter_frame_sender_sp_offset")?);
        let last_sp = i64::from(vm.int_constant("frame::interpreter_frame_last_sp_offset")?);
        let at = vm.static_address("StubRoutines", "_call_stub_return_address")?;
        Ok(Self {
            sender_sp,
            method: last_sp - 1,
            bcp: last_sp - 6,
            call_stub_return: read_u64(mem, at, "StubRoutines::_call_stub_return_address")?,
        })
    }

    pub fn call_stub_return(&self) -> u64 {
        self.call_stub_return
    }

    /// Byte offsets from rbp of an interpreted frame's `Method*`, bcp and
    /// sender sp slots.
    pub fn interpreter_slots(&self) -> (i64, i64, i64) {
        (self.method * 8, self.bcp * 8, self.sender_sp * 8)
    }

    /// Walks from `regs` through at most `max_frames` frames.
    pub fn walk(
        &self,
        mem: &dyn Memory,
        code: &CodeCacheSnapshot,
        regs: Registers,
        max_frames: usize,
    ) -> (Vec<RawFrame>, WalkEnd) {
        let mut frames = Vec::new();
        let Registers {
            mut pc,
            mut sp,
            mut fp,
            r13,
        } = regs;
        let word = |addr: u64| read_u64(mem, addr, "stack").ok();
        let slot = |fp: u64, words: i64| fp.wrapping_add_signed(words * 8);
        for depth in 0..max_frames {
            if pc == self.call_stub_return {
                // The entry frame: an fp frame whose caller is native.
                let (Some(ra), Some(caller_fp)) = (word(fp + 8), word(fp)) else {
                    return (frames, WalkEnd::Lost("call stub frame unreadable"));
                };
                let regs = Registers {
                    pc: ra,
                    sp: fp + 16,
                    fp: caller_fp,
                    r13: 0,
                };
                return (frames, WalkEnd::CallStub(regs));
            }
            let Some(blob) = code.blob_at(pc) else {
                return (frames, WalkEnd::Native(Registers { pc, sp, fp, r13: 0 }));
            };
            if code.interpreter.contains(&pc) || blob.kind == BlobKind::Interpreter {
                let (Some(method), Some(bcp)) =
                    (word(slot(fp, self.method)), word(slot(fp, self.bcp)))
                else {
                    return (frames, WalkEnd::Lost("interpreter frame unreadable"));
                };
                let live_bcp = (depth == 0).then_some(r13);
                frames.push(RawFrame::Interpreted {
                    method,
                    bcp,
                    live_bcp,
                });
                // The caller's sp as it was before the interpreter extended
                // it for locals: a compiled caller's frame size counts from it.
                let (Some(ra), Some(caller_fp), Some(caller_sp)) =
                    (word(fp + 8), word(fp), word(slot(fp, self.sender_sp)))
                else {
                    return (frames, WalkEnd::Lost("interpreter frame unreadable"));
                };
                (pc, sp, fp) = (ra, caller_sp, caller_fp);
                continue;
            }
            match blob.kind {
                BlobKind::Nmethod { method, .. } => frames.push(RawFrame::Compiled {
                    method,
                    blob: blob.address,
                    pc,
                }),
                _ => frames.push(RawFrame::Stub {
                    blob: blob.address,
                    pc,
                }),
            }
            let in_prologue = depth == 0
                && (pc - blob.code.start) < u64::try_from(blob.frame_complete_offset).unwrap_or(0);
            if blob.frame_size_words == 0 || in_prologue {
                // No frame of its own yet: the return address is on top.
                // (Frameless stubs that push rbp are the known gap.)
                let Some(ra) = word(sp) else {
                    return (frames, WalkEnd::Lost("stack unreadable"));
                };
                (pc, sp) = (ra, sp + 8);
                continue;
            }
            let caller_sp = sp + 8 * u64::from(blob.frame_size_words);
            let (Some(ra), Some(caller_fp)) = (word(caller_sp - 8), word(caller_sp - 16)) else {
                return (frames, WalkEnd::Lost("compiled frame unreadable"));
            };
            (pc, sp, fp) = (ra, caller_sp, caller_fp);
        }
        (frames, WalkEnd::DepthLimit)
    }
}
