//! Against real HotSpots, 17 (Debian's OpenJDK) and 25 (Temurin), no JVM
//! flags: compile a fixture with each JDK's own javac, run it until C2 has
//! compiled its hot methods, then read the running VM from outside and
//! check what it reports against the maps of the process and the
//! fixture's own source text. The two run as separate tests, in parallel.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{MapEntry, read_maps};
use super::*;

/// A JDK the tests run against.
#[derive(Debug, Clone, Copy)]
struct Jdk {
    major: u32,
    home: &'static str,
    /// Entries this module reads on that release, checked one by one so a
    /// failure names the entry.
    used: &'static [(&'static str, &'static str)],
}

const JDK_17: Jdk = Jdk {
    major: 17,
    home: "/usr/lib/jvm/java-17-openjdk-amd64",
    used: USED_ON_17,
};

const JDK_25: Jdk = Jdk {
    major: 25,
    home: "/usr/lib/jvm/temurin-25-jdk-amd64",
    used: USED_ON_25,
};

impl Jdk {
    fn present(&self) -> bool {
        Path::new(&format!("{}/bin/java", self.home)).exists()
            && Path::new(&format!("{}/bin/javac", self.home)).exists()
    }
}

/// `tiny` is small enough for C2 to inline into both callers; its array
/// escapes through a static, so the allocation and its slow-path call stay,
/// and that call's debug info records `tiny`'s scope inside its caller.
/// `lane` runs on its own thread and is padded past HotSpot's 8000-byte
/// limit for compiling (`DontCompileHugeMethods`), so it stays interpreted
/// and its frames exercise the interpreter side of the walk.
const FIXTURE: &str = r#"public class Hot {
    static long sink;
    static int[] last;

    static int tiny(int x) {
        last = new int[(x & 3) + 1];
        return x * 31 + last.length;
    }

    static long alphaWork() {
        long alpha = 0;
        for (int i = 0; i < 1000; i++) { alpha += tiny(i); }
        return alpha;
    }

    static long betaWork() {
        long beta = 1;
        for (int i = 0; i < 500; i++) { beta ^= tiny(i) << 1; }
        return beta;
    }

    static void lane() {
        int v = 0;
        for (int i = 0; ; i++) {
            sink += betaWork();
/*PADDING*/
        }
    }

    public static void main(String[] args) {
        new Thread(Hot::lane, "lane").start();
        while (true) { sink += alphaWork(); sink += betaWork(); }
    }
}
"#;

/// The fixture's text, `lane` padded out.
fn fixture_source() -> String {
    let padding = "            v = v * 31 + i;\n".repeat(1200);
    FIXTURE.replace("/*PADDING*/\n", &padding)
}

/// The 1-based line of the fixture holding `needle`.
fn fixture_line(needle: &str) -> u32 {
    let source = fixture_source();
    let index = source.lines().position(|l| l.contains(needle)).unwrap();
    index as u32 + 1
}

/// A child process killed and reaped however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_fixture(jdk: Jdk, dir: &Path) -> KillOnDrop {
    std::fs::write(dir.join("Hot.java"), fixture_source()).unwrap();
    let javac = Command::new(format!("{}/bin/javac", jdk.home))
        .arg("-d")
        .arg(dir)
        .arg(dir.join("Hot.java"))
        .status()
        .unwrap();
    assert!(javac.success(), "javac failed");
    let child = Command::new(format!("{}/bin/java", jdk.home))
        .arg("-cp")
        .arg(dir)
        .arg("Hot")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// Attaches once the VM has mapped libjvm and set up its code cache.
fn attach_when_ready(pid: u32, deadline: Instant) -> Jvm {
    loop {
        let last = match Jvm::attach(pid).and_then(|j| j.code_cache().map(|_| j)) {
            Ok(jvm) => return jvm,
            Err(e) => e,
        };
        assert!(Instant::now() < deadline, "never attached: {last:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const USED_ON_17: &[(&str, &str)] = &[
    ("CodeCache", "_heaps"),
    ("GrowableArrayBase", "_len"),
    ("GrowableArray<int>", "_data"),
    ("CodeHeap", "_memory"),
    ("CodeHeap", "_segmap"),
    ("CodeHeap", "_log2_segment_size"),
    ("VirtualSpace", "_low"),
    ("VirtualSpace", "_high"),
    ("HeapBlock", "_header"),
    ("HeapBlock::Header", "_length"),
    ("HeapBlock::Header", "_used"),
    ("CodeBlob", "_name"),
    ("CodeBlob", "_code_begin"),
    ("CodeBlob", "_code_end"),
    ("CodeBlob", "_frame_size"),
    ("CodeBlob", "_frame_complete_offset"),
    ("CompiledMethod", "_method"),
    ("CompiledMethod", "_scopes_data_begin"),
    ("nmethod", "_compile_id"),
    ("nmethod", "_comp_level"),
    ("nmethod", "_scopes_pcs_offset"),
    ("nmethod", "_dependencies_offset"),
    ("nmethod", "_metadata_offset"),
    ("PcDesc", "_pc_offset"),
    ("PcDesc", "_scope_decode_offset"),
    ("AbstractInterpreter", "_code"),
    ("StubQueue", "_stub_buffer"),
    ("StubQueue", "_buffer_limit"),
    ("Method", "_constMethod"),
    ("ConstMethod", "_constants"),
    ("ConstMethod", "_flags"),
    ("ConstMethod", "_code_size"),
    ("ConstMethod", "_name_index"),
    ("ConstMethod", "_signature_index"),
    ("ConstantPool", "_pool_holder"),
    ("ConstantPool", "_source_file_name_index"),
    ("Klass", "_name"),
    ("Symbol", "_length"),
    ("Symbol", "_body"),
];

const USED_ON_25: &[(&str, &str)] = &[
    ("CodeCache", "_heaps"),
    ("GrowableArrayBase", "_len"),
    ("GrowableArray<int>", "_data"),
    ("CodeHeap", "_memory"),
    ("CodeHeap", "_segmap"),
    ("CodeHeap", "_log2_segment_size"),
    ("VirtualSpace", "_low"),
    ("VirtualSpace", "_high"),
    ("HeapBlock", "_header"),
    ("HeapBlock::Header", "_length"),
    ("HeapBlock::Header", "_used"),
    ("CodeBlob", "_name"),
    ("CodeBlob", "_code_offset"),
    ("CodeBlob", "_data_offset"),
    ("CodeBlob", "_frame_size"),
    ("CodeBlob", "_frame_complete_offset"),
    ("CodeBlob", "_mutable_data"),
    ("CodeBlob", "_mutable_data_size"),
    ("CodeBlob", "_relocation_size"),
    ("nmethod", "_method"),
    ("nmethod", "_compile_id"),
    ("nmethod", "_comp_level"),
    ("nmethod", "_immutable_data"),
    ("nmethod", "_immutable_data_size"),
    ("nmethod", "_scopes_data_offset"),
    ("nmethod", "_scopes_pcs_offset"),
    ("PcDesc", "_pc_offset"),
    ("PcDesc", "_scope_decode_offset"),
    ("AbstractInterpreter", "_code"),
    ("StubQueue", "_stub_buffer"),
    ("StubQueue", "_buffer_limit"),
    ("Method", "_constMethod"),
    ("ConstMethod", "_constants"),
    ("ConstMethod", "_flags._flags"),
    ("ConstMethod", "_code_size"),
    ("ConstMethod", "_name_index"),
    ("ConstMethod", "_signature_index"),
    ("ConstantPool", "_pool_holder"),
    ("ConstantPool", "_source_file_name_index"),
    ("Klass", "_name"),
    ("Symbol", "_length"),
    ("Symbol", "_body"),
];

#[test]
fn reads_a_live_hotspot_17() {
    reads_a_live_hotspot(JDK_17);
}

#[test]
fn reads_a_live_hotspot_25() {
    reads_a_live_hotspot(JDK_25);
}

/// The live tests skip a JDK that is absent, but never all of them.
#[test]
fn some_live_jdk_is_installed() {
    assert!(
        [JDK_17, JDK_25].iter().any(Jdk::present),
        "no JDK at {} or {}: the live JVM tests would all skip",
        JDK_17.home,
        JDK_25.home
    );
}

fn reads_a_live_hotspot(jdk: Jdk) {
    let tag = format!("jvm{}", jdk.major);
    if !jdk.present() {
        eprintln!(
            "SKIP reads_a_live_hotspot_{}: no JDK {} at {}",
            jdk.major, jdk.major, jdk.home
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let java = start_fixture(jdk, dir.path());
    let javac_time = t.elapsed();
    let started = Instant::now();
    let pid = java.0.id();
    let deadline = started + Duration::from_secs(30);
    let mut jvm = attach_when_ready(pid, deadline);
    assert_eq!(jvm.major_version(), jdk.major);
    for (t, f) in jdk.used {
        assert!(
            jvm.vm_structs().field(t, f).is_some(),
            "vmStructs lacks {t}::{f}"
        );
    }
    let (fields, types, ints, longs) = jvm.vm_structs().counts();
    assert!(fields > 500 && types > 300 && ints > 100 && longs > 5);

    // Poll until C2 (tier 4) has compiled alphaWork.
    let (snap, alpha_blob, snapshot_time) = loop {
        let t = Instant::now();
        let snap = jvm.code_cache().unwrap();
        let snapshot_time = t.elapsed();
        let alpha = snap.blobs.iter().find(|b| match b.kind {
            BlobKind::Nmethod {
                method, level: 4, ..
            } => jvm
                .method(method)
                .is_ok_and(|m| m.class == "Hot" && m.name == "alphaWork"),
            _ => false,
        });
        if let Some(blob) = alpha {
            let blob = blob.clone();
            break (snap, blob, snapshot_time);
        }
        assert!(Instant::now() < deadline, "alphaWork never reached C2");
        std::thread::sleep(Duration::from_millis(200));
    };
    let c2_after = started.elapsed();

    // Resolve every compiled method, timed, on a fresh cache.
    let mut fresh = Jvm::attach(pid).unwrap();
    let t = Instant::now();
    let mut named = 0;
    for b in &snap.blobs {
        if let BlobKind::Nmethod { method, .. } = b.kind {
            match fresh.method(method) {
                Ok(_) => named += 1,
                Err(e) => eprintln!("{tag}: method {method:#x} of {b:x?}: {e:#}"),
            }
        }
    }
    let resolve_time = t.elapsed();
    let nmethods = snap
        .blobs
        .iter()
        .filter(|b| matches!(b.kind, BlobKind::Nmethod { .. }))
        .count();
    eprintln!(
        "{tag}: javac {javac_time:?}; C2-compiled alphaWork {c2_after:?} after java started; {} blobs ({nmethods} nmethods) in {} heaps, \
         snapshot {snapshot_time:?}, {named} methods named in {resolve_time:?}, {} blocks skipped",
        snap.blobs.len(),
        snap.heaps.len(),
        snap.skipped,
    );
    assert!(
        named * 10 >= nmethods * 9,
        "only {named} of {nmethods} methods named"
    );

    let maps = read_maps(pid).unwrap();
    // The interpreter: non-empty, in executable memory, in its own blob.
    assert!(!snap.interpreter.is_empty());
    assert!(
        maps.iter()
            .any(|m| m.executable() && m.contains(&snap.interpreter)),
        "interpreter {:x?} is not in an executable mapping",
        snap.interpreter
    );
    let interp_blob = snap.blob_at(snap.interpreter.start).unwrap();
    assert_eq!(interp_blob.kind, BlobKind::Interpreter);

    // alphaWork's compiled code: a real frame, in anonymous executable memory.
    assert!(alpha_blob.frame_size_words > 0);
    assert!(alpha_blob.frame_complete_offset >= 0);
    let mapping = maps
        .iter()
        .find(|m| m.contains(&alpha_blob.code))
        .expect("alphaWork's code is not mapped");
    assert!(mapping.path.is_none(), "{mapping:?}");
    assert!(
        mapping.perms.starts_with("rwx") || mapping.perms.starts_with("r-x"),
        "{mapping:?}"
    );

    // The segment map finds the same blob from any pc inside it.
    let layout = CodeCacheLayout::new(jvm.vm_structs()).unwrap();
    let heap = snap
        .heaps
        .iter()
        .find(|h| h.memory.contains(&alpha_blob.code.start))
        .unwrap();
    for pc in [
        alpha_blob.code.start,
        (alpha_blob.code.start + alpha_blob.code.end) / 2,
    ] {
        let found = layout
            .blob_at_via_segmap(jvm.memory(), heap, pc, 64)
            .unwrap();
        assert_eq!(found, Some(alpha_blob.address));
    }

    // ... and every blob from its last byte; the reads a lookup needs grow
    // with the blob (one hop per 254 segments), which bounds the BPF loop.
    let mut most_reads = (0, 0);
    for blob in &snap.blobs {
        let Some(heap) = snap.heaps.iter().find(|h| h.memory.contains(&blob.address)) else {
            panic!("blob {blob:x?} is in no code heap");
        };
        let last = blob.code.end.max(blob.code.start + 1) - 1;
        let reads = (1..=256)
            .find(|&budget| {
                let found = layout.blob_at_via_segmap(jvm.memory(), heap, last, budget);
                found.unwrap() == Some(blob.address)
            })
            .unwrap_or_else(|| panic!("segment map never reaches {blob:x?}"));
        most_reads = most_reads.max((reads, blob.address));
        if let BlobKind::Nmethod { .. } = blob.kind {
            assert!(
                reads <= 8,
                "{reads} segment map reads for nmethod {blob:x?}"
            );
        }
    }
    eprintln!(
        "{tag}: segment map lookups take at most {} reads (blob {:#x})",
        most_reads.0, most_reads.1
    );
    eprintln!(
        "{tag}: alphaWork nmethod: code {} bytes, frame {} words, frame complete at +{}",
        alpha_blob.code.end - alpha_blob.code.start,
        alpha_blob.frame_size_words,
        alpha_blob.frame_complete_offset
    );

    // Names and lines.
    let BlobKind::Nmethod { method: alpha, .. } = alpha_blob.kind else {
        unreachable!()
    };
    let alpha_method = jvm.method(alpha).unwrap();
    assert_eq!(alpha_method.signature, "()J");
    assert_eq!(alpha_method.source_file.as_deref(), Some("Hot.java"));
    assert_eq!(
        alpha_method.line_at(0),
        Some(fixture_line("long alpha = 0;"))
    );

    // Inlining: some pc of alphaWork runs tiny inlined.
    let t = Instant::now();
    let scopes = jvm.nmethod_scopes(&alpha_blob).unwrap();
    let scopes_time = t.elapsed();
    let mut inlined = None;
    for (pc, chain) in &scopes.pcs {
        let [inner, outer, ..] = chain.as_slice() else {
            continue;
        };
        let (i, o) = (
            jvm.method(inner.method).unwrap(),
            jvm.method(outer.method).unwrap(),
        );
        if i.name == "tiny" && o.name == "alphaWork" {
            inlined = Some((*pc, i, inner.bci, o, outer.bci));
            break;
        }
    }
    let (pc, tiny, tiny_bci, outer, outer_bci) =
        inlined.expect("no PcDesc of alphaWork has tiny inlined");
    assert!(alpha_blob.code.contains(&pc));
    assert_eq!(scopes.chain_at(pc).unwrap().len(), 2);
    assert_eq!(tiny.signature, "(I)I");
    assert_eq!(tiny.line_at(tiny_bci), Some(fixture_line("last = new int")));
    assert_eq!(
        outer.line_at(outer_bci),
        Some(fixture_line("alpha += tiny(i)"))
    );
    eprintln!(
        "{tag}: {} PcDescs of alphaWork decoded in {scopes_time:?}; tiny@{tiny_bci} inlined at {pc:#x}",
        scopes.pcs.len()
    );

    check_blob_offsets(&jvm, &snap, &tag);
    check_stack_walks(&mut jvm, &maps, &tag);
}

/// What the BPF walker is handed: fields at the offsets it reads, and one
/// `_name` address per blob name, so an nmethod is told by its name
/// pointer alone.
fn check_blob_offsets(jvm: &Jvm, snap: &CodeCacheSnapshot, tag: &str) {
    let layout = jvm.code_cache_layout();
    let offsets = layout.blob_offsets();
    eprintln!(
        "{tag}: blob offsets {offsets:?}, frame complete offset {} bytes",
        layout.frame_complete_size()
    );
    let mut names: std::collections::HashMap<String, std::collections::BTreeSet<u64>> =
        Default::default();
    for blob in &snap.blobs {
        let mut bytes = [0u8; 8];
        let at = blob.address + offsets.name;
        jvm.memory().read_exact(at, &mut bytes).unwrap();
        assert_eq!(u64::from_le_bytes(bytes), blob.name_address);
        let name = read_c_string(jvm.memory(), blob.name_address, 256, "name").unwrap();
        names.entry(name).or_default().insert(blob.name_address);
        if let BlobKind::Nmethod { method, .. } = blob.kind {
            jvm.memory()
                .read_exact(blob.address + offsets.method, &mut bytes)
                .unwrap();
            assert_eq!(u64::from_le_bytes(bytes), method);
        }
    }
    for kind in ["nmethod", "native nmethod"] {
        if let Some(addresses) = names.get(kind) {
            eprintln!("{tag}: every {kind:?} blob names it at {addresses:x?}");
            assert_eq!(addresses.len(), 1, "{kind} has names at {addresses:x?}");
        }
    }
    assert!(names.contains_key("nmethod"));
}

/// Stops the fixture's two busy threads many times and walks their stacks
/// as the BPF program will: every walk must pass a `Hot` frame and end in
/// the call stub, returning into libjvm's text.
fn check_stack_walks(jvm: &mut Jvm, maps: &[MapEntry], tag: &str) {
    let pid = jvm.pid();
    let layout = jvm.frame_layout().unwrap();
    let libjvm_path = jvm.libjvm().path.clone();
    let libjvm_text = |pc: u64| {
        maps.iter().any(|m| {
            m.executable()
                && m.path.as_deref() == Some(&*libjvm_path)
                && m.start <= pc
                && pc < m.end
        })
    };
    for (thread, outer) in [("lane", "run"), ("java", "main")] {
        let tid = busiest_thread(pid, thread);
        let (mut tries, mut complete, mut interpreted, mut live_bcps) = (0, 0, 0, 0);
        let mut lane_lines = std::collections::BTreeSet::new();
        let mut example = String::new();
        // Lane's top frame is betaWork's for stretches; sample on until an
        // interpreted top frame has been seen in the padded loop.
        let call = fixture_line("sink += betaWork();");
        let mut snap = jvm.code_cache().unwrap();
        while tries < 150
            && (complete < 10 || (thread == "lane" && !lane_lines.iter().any(|&l| l > call)))
        {
            tries += 1;
            std::thread::sleep(Duration::from_millis(5));
            if tries % 10 == 0 {
                snap = jvm.code_cache().unwrap();
            }
            let Some((frames, end)) =
                with_stopped_thread(tid, |regs| layout.walk(jvm.memory(), &snap, regs, 64))
            else {
                continue;
            };
            // A sample outside Java code (GC, the runtime) needs the native
            // unwinder first; this model starts only from Java code.
            if frames.is_empty() {
                continue;
            }
            // Samples in frameless stubs that keep an fp frame (the gap
            // the BPF design handles by an fp fallback) may end elsewhere.
            let WalkEnd::CallStub(native) = end else {
                eprintln!("{tag}: {thread}: walk ended with {end:x?} after {frames:x?}");
                continue;
            };
            assert!(
                libjvm_text(native.pc),
                "call stub returns to {:#x}",
                native.pc
            );
            let mut names = Vec::new();
            for f in &frames {
                let name = match *f {
                    RawFrame::Interpreted {
                        method,
                        bcp,
                        live_bcp,
                    } => {
                        let m = jvm.method(method).unwrap();
                        let saved = jvm.bci_of(method, bcp);
                        assert!(
                            saved.is_some(),
                            "bcp {bcp:#x} outside {}.{}",
                            m.class,
                            m.name
                        );
                        let live = live_bcp.and_then(|b| jvm.bci_of(method, b));
                        if let Some(bci) = live {
                            live_bcps += 1;
                            if m.name == "lane" {
                                lane_lines.insert(m.line_at(bci).unwrap());
                            }
                        }
                        interpreted += 1;
                        let bci = live.or(saved).unwrap();
                        format!("{}.{}@{} (interpreted)", m.class, m.name, bci)
                    }
                    RawFrame::Compiled { method, .. } => {
                        let m = jvm.method(method).unwrap();
                        format!("{}.{} (compiled)", m.class, m.name)
                    }
                    RawFrame::Stub { blob, .. } => format!("stub {blob:#x}"),
                };
                names.push(name);
            }
            assert!(
                names.iter().any(|n| n.starts_with("Hot.")),
                "{thread}: no Hot frame in {names:?}"
            );
            assert!(
                names.last().unwrap().contains(&format!(".{outer}")),
                "{thread}: walk ends at {names:?}, not in {outer}"
            );
            complete += 1;
            example = names.join(" <- ");
        }
        eprintln!(
            "{tag}: thread {thread}: {complete} of {tries} samples walked to the call stub \
             ({interpreted} interpreted frames, {live_bcps} live bcps in r13, lane lines \
             {lane_lines:?}); e.g. {example}"
        );
        if thread == "lane" {
            // The live bcp moves through the padded loop; the saved slot
            // stays at the last call, betaWork's.
            assert!(
                lane_lines.iter().any(|&l| l > call),
                "lane's top frame only seen at lines {lane_lines:?}"
            );
        }
        assert!(
            complete >= 5,
            "{thread}: only {complete} of {tries} walks completed"
        );
    }
}

/// The thread of `pid` named `comm` that has run longest.
fn busiest_thread(pid: u32, comm: &str) -> i32 {
    let mut best = (0u64, 0i32);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.trim_end() != comm {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name; utime is the 14th overall.
        let after = stat.rsplit_once(") ").map(|(_, a)| a).unwrap_or("");
        let utime: u64 = after
            .split(' ')
            .nth(11)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let tid: i32 = task.file_name().unwrap().to_str().unwrap().parse().unwrap();
        best = best.max((utime, tid));
    }
    assert!(best.1 != 0, "no thread {comm} in {pid}");
    best.1
}

/// Runs `f` on the registers of thread `tid` while it is stopped
/// (`PTRACE_SEIZE` + `PTRACE_INTERRUPT`, no signal sent to the VM), and
/// detaches however `f` ends, re-injecting a signal the stop caught.
fn with_stopped_thread<R>(tid: i32, f: impl FnOnce(Registers) -> R) -> Option<R> {
    struct Detach {
        tid: i32,
        signal: i32,
    }
    impl Drop for Detach {
        fn drop(&mut self) {
            // SAFETY: plain ptrace request on a thread we seized.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, self.tid, 0usize, self.signal as usize) };
        }
    }
    // SAFETY: ptrace requests with no pointers, then GETREGS into a local.
    unsafe {
        if libc::ptrace(libc::PTRACE_SEIZE, tid, 0usize, 0usize) != 0 {
            return None;
        }
        let mut guard = Detach { tid, signal: 0 };
        libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0usize, 0usize);
        let mut status = 0;
        if libc::waitpid(tid, &mut status, libc::__WALL) != tid || !libc::WIFSTOPPED(status) {
            return None;
        }
        if status >> 16 == 0 {
            // A signal-delivery stop (HotSpot uses SIGSEGV for polls and
            // null checks): the signal must go on when we let go.
            guard.signal = libc::WSTOPSIG(status);
        }
        let mut regs: libc::user_regs_struct = std::mem::zeroed();
        if libc::ptrace(libc::PTRACE_GETREGS, tid, 0usize, &mut regs as *mut _) != 0 {
            return None;
        }
        Some(f(Registers {
            pc: regs.rip,
            sp: regs.rsp,
            fp: regs.rbp,
            r13: regs.r13,
        }))
    }
}
