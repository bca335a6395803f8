//! The JVMs of a host: each process mapping `libjvm.so` is attached (its
//! VM tables read once), registered in the BPF map `jvm_procs` with its code
//! heaps, interpreter and the offsets the walker reads, and the Java words
//! BPF records for it are named here: interpreted frames from their
//! `Method*` and bytecode index, compiled ones from their `Method*` and
//! the nmethod's inlining scopes at the frame's pc.
//!
//! A JVM is registered once it has compiled a first method (the walker
//! tells nmethods from stubs by the address of their shared name, which only
//! an nmethod shows); until then, and while a VM starting up has no code
//! heaps yet, it is profiled natively and tried again every drain. A VM
//! whose tables lack what the walker needs is reported once and left
//! native.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use augur_bpf::{JVM_BLOB_WINDOW, JVM_MAX_HEAPS, JvmFrameKind, JvmFrameWord, JvmHeap, JvmProc};
use augur_profile::{RawFrame, Runtime, placeholder};
use libbpf_rs::libbpf_sys;

use super::{BlobKind, CodeCacheSnapshot, Jvm, JvmError, NmethodScopes};
use crate::unwind::kernel::ExecMapping;

/// Inlining scopes kept per JVM at most; the cache starts over beyond.
const MAX_SCOPES: usize = 20_000;

/// What the Java support did, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JavaStats {
    /// JVMs registered with BPF.
    pub processes: u64,
    /// JVMs whose tables could not be read (profiled natively).
    pub attach_failed: u64,
    /// JVMs that could not be registered (BPF map full).
    pub register_failed: u64,
    /// Methods left unnamed (unreadable metadata).
    pub unnamed: u64,
    /// Compiled frames named without their inlined methods (the nmethod was
    /// gone or its scopes unreadable when the drain read them).
    pub no_inline_info: u64,
}

/// One attached JVM.
struct JvmProcess {
    jvm: Jvm,
    /// Reserved ranges of its code heaps, and its interpreter's code: the
    /// frames BPF recorded a Java word for.
    code: Vec<Range<u64>>,
    registered: bool,
    /// The code cache as last read, and whether it was read this drain.
    snapshot: Option<CodeCacheSnapshot>,
    fresh: bool,
    /// Inlining scopes by (nmethod address, compile id).
    scopes: HashMap<(u64, i32), Option<Arc<NmethodScopes>>>,
    /// Whether registering it failed once (logged once).
    failed_once: bool,
}

/// The host's JVMs and their method names.
pub struct JvmProcesses {
    procs_map: Option<OwnedFd>,
    processes: HashMap<u32, JvmProcess>,
    /// JVMs that could not be attached: not tried again while they live.
    failed: HashSet<u32>,
    /// Reasons reported already (once each).
    reported: HashSet<String>,
    stats: JavaStats,
}

impl JvmProcesses {
    /// Java support writing to the BPF map `jvm_procs` (its fd), or naming
    /// nothing when `procs_map` is `None` (disabled).
    pub fn new(procs_map: Option<OwnedFd>) -> Self {
        Self {
            procs_map,
            processes: HashMap::new(),
            failed: HashSet::new(),
            reported: HashSet::new(),
            stats: JavaStats::default(),
        }
    }

    /// Whether Java frames are walked at all.
    pub fn enabled(&self) -> bool {
        self.procs_map.is_some()
    }

    /// Counters so far.
    pub fn stats(&self) -> &JavaStats {
        &self.stats
    }

    /// Whether `pid` runs a JVM the agent attached (registered or not).
    pub fn attached(&self, pid: u32) -> bool {
        self.processes.contains_key(&pid)
    }

    /// JVMs registered with BPF now.
    pub fn registered(&self) -> usize {
        self.processes.values().filter(|p| p.registered).count()
    }

    /// Looks for HotSpot in `pid`'s executable `mappings` (a new or changed
    /// snapshot) and attaches it.
    pub fn update(&mut self, pid: u32, mappings: &[ExecMapping]) {
        if self.procs_map.is_none() {
            return;
        }
        let is_jvm = mappings
            .iter()
            .any(|m| m.path.as_deref().is_some_and(|p| p.ends_with("/libjvm.so")));
        if !is_jvm {
            self.forget(pid);
            return;
        }
        if !self.processes.contains_key(&pid) && self.failed.insert(pid) {
            match Jvm::attach(pid) {
                Ok(jvm) => {
                    self.failed.remove(&pid);
                    self.processes.insert(
                        pid,
                        JvmProcess {
                            jvm,
                            code: Vec::new(),
                            registered: false,
                            snapshot: None,
                            fresh: false,
                            scopes: HashMap::new(),
                            failed_once: false,
                        },
                    );
                }
                Err(error) => {
                    self.stats.attach_failed += 1;
                    self.report(pid, &error);
                }
            }
        }
        self.register(pid);
    }

    /// A new drain: code caches are read again when a frame needs them,
    /// and JVMs that had compiled nothing yet are tried again.
    pub fn begin_drain(&mut self) {
        let pending: Vec<u32> = self
            .processes
            .iter_mut()
            .map(|(pid, p)| {
                p.fresh = false;
                (*pid, p.registered)
            })
            .filter(|(_, registered)| !registered)
            .map(|(pid, _)| pid)
            .collect();
        for pid in pending {
            self.register(pid);
        }
    }

    /// Forgets a process (exited, or no JVM any more).
    pub fn forget(&mut self, pid: u32) {
        self.failed.remove(&pid);
        if let Some(process) = self.processes.remove(&pid)
            && process.registered
            && let Some(map) = &self.procs_map
        {
            // SAFETY: the key is a live u32, the map's key type.
            unsafe {
                libbpf_sys::bpf_map_delete_elem(map.as_raw_fd(), (&raw const pid).cast());
            }
        }
    }

    /// Puts Java frames in place of the user frames BPF recorded a Java
    /// word for: `ips` are the user stack's raw addresses (leaf first) and
    /// `native` their frames. A frame in a stub is dropped; a compiled
    /// frame becomes its method preceded by the methods inlined into it.
    pub fn merge(
        &mut self,
        pid: u32,
        ips: &[u64],
        native: Vec<RawFrame>,
        words: &[u64],
    ) -> Vec<RawFrame> {
        let Some(process) = self.processes.get_mut(&pid) else {
            return native;
        };
        let mut words = words.iter().map(|&w| JvmFrameWord(w));
        let mut out = Vec::with_capacity(native.len() + 8);
        for (&ip, frame) in ips.iter().zip(native) {
            if !process.code.iter().any(|r| r.contains(&ip)) {
                out.push(frame);
                continue;
            }
            match words.next() {
                Some(word) => process.name(ip, word, &mut self.stats, &mut out),
                None => out.push(frame),
            }
        }
        out
    }

    fn report(&mut self, pid: u32, error: &JvmError) {
        let reason = error.to_string();
        if self.reported.insert(reason.clone()) {
            tracing::warn!(pid, %reason, "cannot read this JVM's structures: its Java frames are not named (native frames only)");
        } else {
            tracing::debug!(pid, %reason, "cannot read this JVM's structures");
        }
    }

    /// Registers `pid` with BPF once its JVM has compiled a method.
    fn register(&mut self, pid: u32) {
        let Some(process) = self.processes.get_mut(&pid) else {
            return;
        };
        let entry = match process.bpf_entry() {
            Ok(Some(entry)) => entry,
            // Nothing compiled yet: native until a later drain.
            Ok(None) => return,
            // A VM still starting has no interpreter or code heaps yet;
            // a layout the walker cannot use stays so. Tried again each
            // drain (one failing read), reported once.
            Err(error) => {
                if !process.failed_once {
                    process.failed_once = true;
                    tracing::debug!(pid, %error, "JVM not registered yet");
                }
                return;
            }
        };
        let Some(map) = &self.procs_map else {
            return;
        };
        // SAFETY: key and value are live and of the map's sizes (`u32`,
        // `struct jvm_proc`).
        let ret = unsafe {
            libbpf_sys::bpf_map_update_elem(
                map.as_raw_fd(),
                (&raw const pid).cast(),
                (&raw const entry).cast(),
                u64::from(libbpf_sys::BPF_ANY),
            )
        };
        if ret != 0 {
            self.stats.register_failed += 1;
            tracing::debug!(pid, ret, "no room for the JVM in jvm_procs");
            return;
        }
        if !process.registered {
            self.stats.processes += 1;
        }
        process.registered = true;
    }
}

impl JvmProcess {
    /// The walker's view of this JVM, or `None` while no method is
    /// compiled (no nmethod shows the name address to look for).
    fn bpf_entry(&mut self) -> Result<Option<JvmProc>, JvmError> {
        let snapshot = self.jvm.code_cache()?;
        let name_of = |native: bool| {
            snapshot.blobs.iter().find_map(|b| match b.kind {
                BlobKind::Nmethod { level, .. } if (level == 0) == native => Some(b.name_address),
                _ => None,
            })
        };
        let Some(nmethod_name) = name_of(false) else {
            return Ok(None);
        };
        let layout = self.jvm.code_cache_layout();
        let missing = |what: &str| JvmError::Corrupt {
            what: "walker layout",
            addr: 0,
            detail: format!("{what} is outside what the BPF walker reads"),
        };
        let offsets = layout.blob_offsets();
        let (code_begin, code_is_offset) = match offsets.code {
            super::CodeStart::Pointer(at) => (at, 0),
            super::CodeStart::Offset(at) => (at, 1),
        };
        let frame_complete_i16 = match layout.frame_complete_size() {
            4 => 0,
            2 => 1,
            _ => return Err(missing("a CodeBlob::_frame_complete_offset of this width")),
        };
        let [complete, frame_size, code_begin, name, method] = [
            offsets.frame_complete,
            offsets.frame_size,
            code_begin,
            offsets.name,
            offsets.method,
        ]
        .map(|o| u16::try_from(o).ok().filter(|&o| o <= JVM_BLOB_WINDOW - 8));
        let (Some(complete), Some(frame_size), Some(code_begin), Some(name), Some(method)) =
            (complete, frame_size, code_begin, name, method)
        else {
            return Err(missing("a CodeBlob field"));
        };
        let frames = self.jvm.frame_layout()?;
        let (interp_method, interp_bcp, interp_sender_sp) = frames.interpreter_slots();
        let (const_method, const_method_size) = self.jvm.bytecode_base();
        if snapshot.heaps.len() > JVM_MAX_HEAPS {
            return Err(missing("a fifth code heap"));
        }
        let mut entry = JvmProc {
            interp_start: snapshot.interpreter.start,
            interp_end: snapshot.interpreter.end,
            call_stub_return: frames.call_stub_return(),
            nmethod_name,
            native_nmethod_name: name_of(true).unwrap_or(0),
            heaps_len: snapshot.heaps.len() as u32,
            heap_block: u16::try_from(layout.heap_block_size())
                .map_err(|_| missing("HeapBlock"))?,
            blob_frame_complete: complete,
            blob_frame_size: frame_size,
            blob_code_begin: code_begin,
            blob_name: name,
            blob_method: method,
            interp_method: i16::try_from(interp_method).map_err(|_| missing("Method* slot"))?,
            interp_bcp: i16::try_from(interp_bcp).map_err(|_| missing("bcp slot"))?,
            interp_sender_sp: i16::try_from(interp_sender_sp)
                .map_err(|_| missing("sender sp slot"))?,
            method_const_method: u16::try_from(const_method)
                .map_err(|_| missing("Method::_constMethod"))?,
            const_method_size: u16::try_from(const_method_size)
                .map_err(|_| missing("sizeof(ConstMethod)"))?,
            blob_code_is_offset: code_is_offset,
            blob_frame_complete_i16: frame_complete_i16,
            ..JvmProc::default()
        };
        self.code = vec![snapshot.interpreter.clone()];
        for (slot, heap) in entry.heaps.iter_mut().zip(&snapshot.heaps) {
            // The segment map counts from the heap's low end.
            *slot = JvmHeap {
                low: heap.memory.start,
                high: heap.reserved.end,
                segmap: heap.segmap.start,
                log2_segment: heap.log2_segment_size,
                pad: 0,
            };
            self.code.push(heap.memory.start..heap.reserved.end);
        }
        self.snapshot = Some(snapshot);
        self.fresh = true;
        Ok(Some(entry))
    }

    /// Appends the frames one Java word names.
    fn name(
        &mut self,
        ip: u64,
        word: JvmFrameWord,
        stats: &mut JavaStats,
        out: &mut Vec<RawFrame>,
    ) {
        match word.kind() {
            Some(JvmFrameKind::Interpreted) => {
                let bci = word.bci();
                let bci = (bci != JvmFrameWord::BCI_UNKNOWN).then_some(bci as i32);
                out.push(self.method_frame(word.method(), bci, false, stats));
            }
            Some(JvmFrameKind::Compiled) => self.compiled(ip, word.method(), stats, out),
            // Adapters and runtime stubs are the VM's plumbing.
            Some(JvmFrameKind::Stub) | None => {}
        }
    }

    /// A compiled frame: the methods inlined at `pc`, innermost first,
    /// then the compiled method itself.
    fn compiled(&mut self, pc: u64, method: u64, stats: &mut JavaStats, out: &mut Vec<RawFrame>) {
        let chain = self.scopes_at(pc, method).and_then(|scopes| {
            scopes
                .chain_at(pc)
                .filter(|chain| chain.last().is_some_and(|f| f.method == method))
                .map(<[_]>::to_vec)
        });
        match chain {
            Some(chain) => {
                let outermost = chain.len() - 1;
                for (i, frame) in chain.iter().enumerate() {
                    let bci = (frame.bci >= 0).then_some(frame.bci);
                    out.push(self.method_frame(frame.method, bci, i < outermost, stats));
                }
            }
            None => {
                stats.no_inline_info += 1;
                out.push(self.method_frame(method, None, false, stats));
            }
        }
    }

    /// The scopes of the nmethod of `method` holding `pc`, reading the code
    /// cache again (once per drain) when it is not in the last snapshot.
    fn scopes_at(&mut self, pc: u64, method: u64) -> Option<Arc<NmethodScopes>> {
        let matches = |s: &CodeCacheSnapshot| {
            s.blob_at(pc).is_some_and(
                |b| matches!(b.kind, BlobKind::Nmethod { method: m, .. } if m == method),
            )
        };
        if !self.snapshot.as_ref().is_some_and(matches) && !self.fresh {
            self.snapshot = self.jvm.code_cache().ok();
            self.fresh = true;
        }
        let snapshot = self.snapshot.as_ref().filter(|s| matches(s))?;
        let blob = snapshot.blob_at(pc)?;
        let BlobKind::Nmethod { compile_id, .. } = blob.kind else {
            return None;
        };
        if self.scopes.len() > MAX_SCOPES {
            self.scopes.clear();
        }
        let jvm = &self.jvm;
        self.scopes
            .entry((blob.address, compile_id))
            .or_insert_with(|| jvm.nmethod_scopes(blob).ok().map(Arc::new))
            .clone()
    }

    fn method_frame(
        &mut self,
        method: u64,
        bci: Option<i32>,
        inlined: bool,
        stats: &mut JavaStats,
    ) -> RawFrame {
        match self.jvm.method(method) {
            Ok(m) => RawFrame::Runtime {
                runtime: Runtime::Java,
                function: format!("{}.{}", m.class, m.name),
                file: m.source_file.clone().unwrap_or_default(),
                line: bci.and_then(|b| m.line_at(b)).unwrap_or(0),
                inlined,
            },
            Err(error) => {
                stats.unnamed += 1;
                tracing::debug!(pid = self.jvm.pid(), method, %error, "unreadable Java method");
                RawFrame::Unknown {
                    reason: placeholder::JAVA_METHOD_UNREADABLE.to_owned(),
                }
            }
        }
    }
}
