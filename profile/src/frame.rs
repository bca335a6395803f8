//! Frames as they cross the network and as storage interns them.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

/// The identity of an executable file: the key under which its frames are
/// stored and its debug info is found.
///
/// It is the file's GNU build-id where it has one. A file without one (a Go
/// binary, C linked with `--build-id=none`, many static musl binaries) gets
/// a *content id* instead ([`FileId::from_content`]): a fixed 4-byte tag,
/// [`FileId::CONTENT_TAG`], then 16 bytes of SHA-256 over the file's first
/// and last 4 KiB and its length. Both kinds are plain bytes everywhere
/// (wire, storage, paths), so data stored before content ids existed reads
/// unchanged; [`FileId::kind`] tells them apart, and only build-ids are
/// asked of debuginfod. A real build-id starting with the tag is taken for a
/// content id: one chance in 2^32 per binary, whose only cost is that
/// debuginfod is not asked for that file.
///
/// The bytes are shared: a clone, one per frame of a stack, costs a
/// reference count rather than an allocation. Build-ids made by
/// [`FileId::shared`] also share their bytes with every equal one made that
/// way, so comparing them usually stops at the pointer.
#[derive(Clone, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct FileId(Arc<[u8]>);

impl Ord for FileId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for FileId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FileId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for FileId {}

impl Hash for FileId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the bytes hash, so that a `[u8]` finds its build-id in a set.
        self.as_bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for FileId {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Most build-ids [`FileId::shared`] remembers; past it, it starts over
/// (ids handed out stay valid, only the sharing with new ones is lost).
const SHARED_CAPACITY: usize = 1 << 16;

/// The build-ids handed out by [`FileId::shared`].
fn shared_ids() -> &'static Mutex<HashSet<FileId>> {
    static IDS: OnceLock<Mutex<HashSet<FileId>>> = OnceLock::new();
    IDS.get_or_init(Default::default)
}

/// A build-id that is not a non-empty, even-length hex string of sane size.
#[derive(Debug, thiserror::Error)]
#[error("invalid build-id {text:?}: {reason}")]
pub struct FileIdError {
    text: String,
    reason: &'static str,
}

/// What a [`FileId`] was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileIdKind {
    /// The GNU build-id note the linker wrote.
    BuildId,
    /// The file's contents ([`FileId::from_content`]): it has no build-id.
    Content,
}

impl FileIdKind {
    /// The kind's name in the API and SQL: `build-id` or `content`.
    pub fn name(self) -> &'static str {
        match self {
            FileIdKind::BuildId => "build-id",
            FileIdKind::Content => "content",
        }
    }
}

impl FileId {
    /// Longest build-id accepted; real ones are 16 (md5) to 20 (sha1) bytes.
    pub const MAX_LEN: usize = 64;

    /// The first bytes of every content id (hex `f11e1d00`, "file id 0").
    pub const CONTENT_TAG: [u8; 4] = [0xf1, 0x1e, 0x1d, 0x00];

    /// Bytes of a file hashed at each end for its content id.
    pub const CONTENT_SPAN: usize = 4096;

    /// The content id of a file of `len` bytes whose first bytes are `head`
    /// and last bytes `tail` (each [`FileId::CONTENT_SPAN`] long, or the
    /// whole file when it is shorter). The ends hold the ELF header and the
    /// section headers, which differ between any two builds; reading 8 KiB
    /// keeps the cost per new binary small and independent of its size.
    pub fn from_content(head: &[u8], tail: &[u8], len: u64) -> Self {
        use sha2::Digest;

        let mut hash = sha2::Sha256::new();
        hash.update(head);
        hash.update(tail);
        hash.update(len.to_le_bytes());
        let digest = hash.finalize();
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(&Self::CONTENT_TAG);
        id[4..].copy_from_slice(&digest[..16]);
        Self(Arc::from(&id[..]))
    }

    /// The content id of a whole file, given its bytes (typically a map of
    /// it, of which only the ends are read).
    pub fn from_file_bytes(data: &[u8]) -> Self {
        let span = Self::CONTENT_SPAN.min(data.len());
        Self::from_content(&data[..span], &data[data.len() - span..], data.len() as u64)
    }

    /// Whether this is a GNU build-id or a content id.
    pub fn kind(&self) -> FileIdKind {
        if self.0.len() == 20 && self.0.starts_with(&Self::CONTENT_TAG) {
            FileIdKind::Content
        } else {
            FileIdKind::BuildId
        }
    }

    /// Whether this is a GNU build-id: the only kind debuginfod serves.
    pub fn is_build_id(&self) -> bool {
        self.kind() == FileIdKind::BuildId
    }

    /// Wraps raw build-id bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FileIdError> {
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(FileIdError {
                text: hex(bytes),
                reason: "length must be 1..=64 bytes",
            });
        }
        Ok(Self(Arc::from(bytes)))
    }

    /// As [`FileId::from_bytes`], sharing the bytes with every equal
    /// build-id made this way: what a server decoding the same few
    /// thousand build-ids in every batch uses.
    pub fn shared(bytes: &[u8]) -> Result<Self, FileIdError> {
        let mut ids = shared_ids()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(id) = ids.get(bytes) {
            return Ok(id.clone());
        }
        let id = Self::from_bytes(bytes)?;
        if ids.len() >= SHARED_CAPACITY {
            ids.clear();
        }
        ids.insert(id.clone());
        Ok(id)
    }

    /// Parses the lowercase or uppercase hex form.
    pub fn parse_hex(text: &str) -> Result<Self, FileIdError> {
        let err = |reason| FileIdError {
            text: text.chars().take(140).collect(),
            reason,
        };
        if text.len() % 2 != 0 {
            return Err(err("odd number of hex digits"));
        }
        // `from_str_radix` alone would take a sign: "+f" is not hex.
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("not a hex string"));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| err("not a hex string"))?;
        Self::from_bytes(&bytes).map_err(|e| err(e.reason))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex, the form used in paths, URLs and debuginfod.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({self})")
    }
}

impl From<FileId> for String {
    fn from(id: FileId) -> String {
        id.to_hex()
    }
}

impl TryFrom<String> for FileId {
    type Error = FileIdError;
    fn try_from(text: String) -> Result<Self, FileIdError> {
        Self::parse_hex(&text)
    }
}

/// The language runtime a [`RawFrame::Runtime`] frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// CPython: frames read from the interpreter's frame objects.
    Python,
    /// A JVM (HotSpot): interpreted and JIT-compiled methods.
    Java,
    /// Go, as its own profiler names it (an SDK or `net/http/pprof` push).
    Go,
    /// Node.js (V8), as its profiler names JavaScript functions.
    Node,
    /// Ruby, as rbspy names it.
    Ruby,
    /// .NET, as its profiler names managed methods.
    Dotnet,
}

impl Runtime {
    /// Every runtime, in code order.
    pub const ALL: [Runtime; 6] = [
        Runtime::Python,
        Runtime::Java,
        Runtime::Go,
        Runtime::Node,
        Runtime::Ruby,
        Runtime::Dotnet,
    ];

    /// The runtime's name on the wire, in the API and SQL: `python`, `java`,
    /// `go`, `node`, `ruby` or `dotnet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Java => "java",
            Runtime::Go => "go",
            Runtime::Node => "node",
            Runtime::Ruby => "ruby",
            Runtime::Dotnet => "dotnet",
        }
    }

    /// The runtime named `s` ([`Runtime::as_str`]); `None` for any other text.
    pub fn parse(s: &str) -> Option<Runtime> {
        match s {
            "python" => Some(Runtime::Python),
            "java" => Some(Runtime::Java),
            "go" => Some(Runtime::Go),
            "node" => Some(Runtime::Node),
            "ruby" => Some(Runtime::Ruby),
            "dotnet" => Some(Runtime::Dotnet),
            _ => None,
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The function name of the frame that ends a stack cut short, before its
/// root: by the unwinder on the host, or by the depth limit on ingest.
pub const TRUNCATED_FUNCTION: &str = "[truncated]";

/// Who cut a stack short; the origin of its [`TRUNCATED_FUNCTION`] frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncation {
    /// The host's unwinder stopped before the root.
    Unwinder,
    /// The aggregator kept only the leaf side of a stack deeper than its
    /// depth limit.
    DepthLimit,
}

impl Truncation {
    /// The origin its frame carries: `unwinder` or `limit`.
    pub const fn origin(self) -> &'static str {
        match self {
            Truncation::Unwinder => "unwinder",
            Truncation::DepthLimit => "limit",
        }
    }
}

/// One frame of a stack as the agent reports it and storage interns it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RawFrame {
    /// A user-space frame, normalized to its ELF object.
    User {
        /// Build-id of the mapped object.
        build_id: FileId,
        /// Offset of the instruction within the object file.
        file_offset: u64,
    },
    /// A kernel frame, named on the host where `/proc/kallsyms` was read.
    Kernel {
        /// Function name, `[unknown]` when kallsyms had none.
        function: String,
        /// Module name for frames in loadable modules.
        module: Option<String>,
    },
    /// A user-space frame that only its host could name, because no file
    /// off the host describes it: JIT-compiled code named by a perf map
    /// (`/tmp/perf-PID.map`), or the vDSO.
    Named {
        /// Function name as the host knew it.
        function: String,
        /// Where the name came from, e.g. `jit` or `vdso`.
        origin: String,
    },
    /// A frame that could not be normalized on the host; `reason` says why
    /// (for example `anonymous memory` or `no build-id`). It keeps its place
    /// in the stack so callers are not misattributed.
    Unknown {
        /// A short, stable, human-readable reason.
        reason: String,
    },
    /// Code run by a language runtime (an interpreter or a JIT), named on the
    /// host from the runtime's own structures.
    Runtime {
        /// The runtime that ran it.
        runtime: Runtime,
        /// Qualified function name: Python's `co_qualname` (e.g. `Server.handle`), Java's `package.Class.method`.
        function: String,
        /// Source file as the runtime knows it; empty when unknown.
        file: String,
        /// Source line; 0 when unknown.
        line: u32,
        /// Inlined by the JIT into the next frame toward the root (Java C2/C1 inlining); always false for Python.
        inlined: bool,
    },
}

/// A [`RawFrame`] borrowed: what a decoder holds before it knows whether a
/// stack is new, and what a known stack is compared with, so a stack seen
/// before is found without building its frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// See [`RawFrame::User`].
    User {
        /// Build-id of the mapped object.
        build_id: &'a FileId,
        /// Offset of the instruction within the object file.
        file_offset: u64,
    },
    /// See [`RawFrame::Kernel`].
    Kernel {
        /// Function name.
        function: &'a str,
        /// Module name for frames in loadable modules.
        module: Option<&'a str>,
    },
    /// See [`RawFrame::Named`].
    Named {
        /// Function name as the host knew it.
        function: &'a str,
        /// Where the name came from.
        origin: &'a str,
    },
    /// See [`RawFrame::Unknown`].
    Unknown {
        /// Why the frame could not be normalized.
        reason: &'a str,
    },
    /// See [`RawFrame::Runtime`].
    Runtime {
        /// The runtime that ran it.
        runtime: Runtime,
        /// Qualified function name.
        function: &'a str,
        /// Source file; empty when unknown.
        file: &'a str,
        /// Source line; 0 when unknown.
        line: u32,
        /// Inlined into the next frame toward the root.
        inlined: bool,
    },
}

impl FrameRef<'static> {
    /// The frame that ends a stack cut short by `by`, borrowed; see
    /// [`RawFrame::truncated`].
    pub const fn truncated(by: Truncation) -> Self {
        FrameRef::Named {
            function: TRUNCATED_FUNCTION,
            origin: by.origin(),
        }
    }
}

impl FrameRef<'_> {
    /// The frame, owned.
    pub fn to_raw(self) -> RawFrame {
        match self {
            FrameRef::User {
                build_id,
                file_offset,
            } => RawFrame::User {
                build_id: build_id.clone(),
                file_offset,
            },
            FrameRef::Kernel { function, module } => RawFrame::Kernel {
                function: function.to_owned(),
                module: module.map(str::to_owned),
            },
            FrameRef::Named { function, origin } => RawFrame::Named {
                function: function.to_owned(),
                origin: origin.to_owned(),
            },
            FrameRef::Unknown { reason } => RawFrame::Unknown {
                reason: reason.to_owned(),
            },
            FrameRef::Runtime {
                runtime,
                function,
                file,
                line,
                inlined,
            } => RawFrame::Runtime {
                runtime,
                function: function.to_owned(),
                file: file.to_owned(),
                line,
                inlined,
            },
        }
    }
}

impl RawFrame {
    /// The frame that ends a stack cut short by `by`: a named frame,
    /// [`TRUNCATED_FUNCTION`] from `by`'s origin. Every stage that cuts a
    /// stack builds its marker here, so they all read alike.
    pub fn truncated(by: Truncation) -> Self {
        FrameRef::truncated(by).to_raw()
    }

    /// The frame, borrowed.
    pub fn as_frame_ref(&self) -> FrameRef<'_> {
        match self {
            RawFrame::User {
                build_id,
                file_offset,
            } => FrameRef::User {
                build_id,
                file_offset: *file_offset,
            },
            RawFrame::Kernel { function, module } => FrameRef::Kernel {
                function,
                module: module.as_deref(),
            },
            RawFrame::Named { function, origin } => FrameRef::Named { function, origin },
            RawFrame::Unknown { reason } => FrameRef::Unknown { reason },
            RawFrame::Runtime {
                runtime,
                function,
                file,
                line,
                inlined,
            } => FrameRef::Runtime {
                runtime: *runtime,
                function,
                file,
                line: *line,
                inlined: *inlined,
            },
        }
    }

    /// The symbol a frame names itself with: a runtime frame arrives named,
    /// so it is never symbolized and reads back as this one symbol; every
    /// other kind has none of its own.
    pub fn own_symbol(&self) -> Option<Symbol> {
        match self {
            RawFrame::Runtime {
                function,
                file,
                line,
                ..
            } => Some(Symbol {
                function: function.clone(),
                file: (!file.is_empty()).then(|| file.clone()),
                line: (*line != 0).then_some(*line),
            }),
            RawFrame::User { .. }
            | RawFrame::Kernel { .. }
            | RawFrame::Named { .. }
            | RawFrame::Unknown { .. } => None,
        }
    }

    /// The language of the code the frame ran, as the API and the page name
    /// it: `native` (a binary's code, or code named on its host such as the
    /// vDSO), `jit` (JIT code named by a perf map), `kernel`, `python`,
    /// `java`, or `unknown` (a placeholder frame nobody could name).
    pub fn language(&self) -> &'static str {
        match self {
            RawFrame::User { .. } => "native",
            RawFrame::Kernel { .. } => "kernel",
            RawFrame::Named { origin, .. } if origin == "jit" => "jit",
            RawFrame::Named { .. } => "native",
            RawFrame::Unknown { .. } => "unknown",
            RawFrame::Runtime { runtime, .. } => runtime.as_str(),
        }
    }

    /// Approximate heap bytes of the frame's own strings and ids, for the
    /// size accounting of caches and decoders.
    pub fn heap_bytes(&self) -> usize {
        match self {
            RawFrame::User { build_id, .. } => build_id.as_bytes().len(),
            RawFrame::Kernel { function, module } => {
                function.len() + module.as_ref().map_or(0, String::len)
            }
            RawFrame::Named { function, origin } => function.len() + origin.len(),
            RawFrame::Unknown { reason } => reason.len(),
            RawFrame::Runtime { function, file, .. } => function.len() + file.len(),
        }
    }
}

/// What a frame means in source terms: one entry per inlined function, with
/// the innermost first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Symbol {
    /// Demangled function name.
    pub function: String,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_frames_name_who_cut_the_stack() {
        assert_eq!(
            RawFrame::truncated(Truncation::Unwinder),
            RawFrame::Named {
                function: "[truncated]".into(),
                origin: "unwinder".into(),
            }
        );
        let limit = RawFrame::truncated(Truncation::DepthLimit);
        assert_eq!(
            limit.as_frame_ref(),
            FrameRef::truncated(Truncation::DepthLimit)
        );
        assert!(matches!(limit, RawFrame::Named { origin, .. } if origin == "limit"));
    }

    #[test]
    fn shared_build_ids_share_their_bytes_and_compare_as_bytes() {
        let a = FileId::shared(&[7; 20]).unwrap();
        let b = FileId::shared(&[7; 20]).unwrap();
        let copy = FileId::from_bytes(&[7; 20]).unwrap();
        let other = FileId::shared(&[8; 20]).unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(!Arc::ptr_eq(&a.0, &copy.0));
        // Equality, order and hash follow the bytes, shared or not.
        assert_eq!(a, copy);
        assert_eq!(a.cmp(&copy), std::cmp::Ordering::Equal);
        assert!(a < other && copy < other);
        let mut set = HashSet::new();
        set.insert(copy);
        assert!(set.contains(&a));
        assert!(set.contains(&[7u8; 20][..]));
        assert!(FileId::shared(&[]).is_err());
        assert!(FileId::shared(&[0; 65]).is_err());
    }

    #[test]
    fn content_ids_are_tagged_stable_and_differ_with_any_end_or_length() {
        let head = [1u8; FileId::CONTENT_SPAN];
        let tail = [2u8; FileId::CONTENT_SPAN];
        let id = FileId::from_content(&head, &tail, 1 << 20);
        assert_eq!(id.kind(), FileIdKind::Content);
        assert!(!id.is_build_id());
        assert!(id.to_hex().starts_with("f11e1d00"), "{id}");
        assert_eq!(id.as_bytes().len(), 20);
        // A known answer (Python's hashlib agrees): the id must not change
        // across releases, or stored binaries would lose their symbols.
        assert_eq!(id.to_hex(), "f11e1d0059217071570330d7e2de51ae2a435ac9");
        assert_eq!(id, FileId::from_content(&head, &tail, 1 << 20));
        let mut other_head = head;
        other_head[4095] = 0;
        let mut other_tail = tail;
        other_tail[0] = 0;
        for other in [
            FileId::from_content(&other_head, &tail, 1 << 20),
            FileId::from_content(&head, &other_tail, 1 << 20),
            FileId::from_content(&head, &tail, (1 << 20) + 1),
        ] {
            assert_ne!(other, id);
        }
        // Build-ids of every usual length stay build-ids, and a hex round
        // trip keeps the kind.
        for len in [8, 16, 20, 32] {
            let build_id = FileId::from_bytes(&vec![0xf1; len]).unwrap();
            assert_eq!(build_id.kind(), FileIdKind::BuildId);
        }
        assert_eq!(
            FileId::parse_hex(&id.to_hex()).unwrap().kind(),
            FileIdKind::Content
        );
        // A whole file: its ends, short files whole.
        let mut file = vec![1u8; FileId::CONTENT_SPAN];
        file.extend_from_slice(&[9; 100]);
        file.extend_from_slice(&tail);
        assert_eq!(
            FileId::from_file_bytes(&file),
            FileId::from_content(&head, &tail, file.len() as u64)
        );
        assert_eq!(
            FileId::from_file_bytes(b"abc"),
            FileId::from_content(b"abc", b"abc", 3)
        );
    }

    #[test]
    fn runtime_names_round_trip_and_frames_borrow_back() {
        for runtime in Runtime::ALL {
            assert_eq!(Runtime::parse(runtime.as_str()), Some(runtime));
            let json = serde_json::to_string(&runtime).unwrap();
            assert_eq!(json, format!("\"{}\"", runtime.as_str()));
        }
        assert_eq!(Runtime::parse("Python"), None);
        assert_eq!(Runtime::parse(""), None);
        let frame = RawFrame::Runtime {
            runtime: Runtime::Java,
            function: "com.example.Cache.get".into(),
            file: "Cache.java".into(),
            line: 88,
            inlined: true,
        };
        assert_eq!(frame.as_frame_ref().to_raw(), frame);
        assert_eq!(frame.language(), "java");
        assert_eq!(
            frame.own_symbol(),
            Some(Symbol {
                function: "com.example.Cache.get".into(),
                file: Some("Cache.java".into()),
                line: Some(88),
            })
        );
        let bare = RawFrame::Runtime {
            runtime: Runtime::Python,
            function: "<module>".into(),
            file: String::new(),
            line: 0,
            inlined: false,
        };
        let symbol = bare.own_symbol().unwrap();
        assert_eq!((symbol.file, symbol.line), (None, None));
        assert_eq!(RawFrame::Unknown { reason: "x".into() }.own_symbol(), None);
    }

    #[test]
    fn build_id_hex_round_trip() {
        let id = FileId::parse_hex("00ffA1").unwrap();
        assert_eq!(id.as_bytes(), &[0x00, 0xff, 0xa1]);
        assert_eq!(id.to_hex(), "00ffa1");
    }

    #[test]
    fn build_id_rejects_paths_and_garbage() {
        assert!(FileId::parse_hex("../../etc/passwd").is_err());
        assert!(FileId::parse_hex("abc").is_err());
        assert!(FileId::parse_hex("").is_err());
        assert!(FileId::parse_hex(&"ab".repeat(65)).is_err());
        assert!(FileId::parse_hex("+fff").is_err());
        assert!(FileId::parse_hex("ab+f").is_err());
    }
}
