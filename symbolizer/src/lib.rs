//! Resolves `(build-id, file offset)` frames to functions, files and lines.
//!
//! A [`Symbolizer`] owns one blazesym instance (blazesym is single-threaded),
//! so each worker thread gets its own. It finds the object for a build-id in
//! [`DebugInfoLocator`], checks that the file really carries that build-id (a
//! path hint from an agent may point at a newer binary after a deploy), and
//! returns one [`FrameResult`] per requested frame: symbols, or the reason why
//! there are none. One bad frame never fails the others. Go binaries are
//! named from their own `.gopclntab` ([`GoTable`], kept open per file),
//! which stripping never removes; blazesym answers for everything else.
//! Reading ELF files themselves (build-ids, symbol tables, program
//! headers) is the `elf` module's job.

pub mod debuginfod;
mod elf;
mod go;
mod locate;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use augur_profile::{FileId, Symbol};
use blazesym::symbolize::{self, Symbolized};

pub use debuginfod::{DebuginfodClient, DebuginfodConfig};
pub use elf::{has_symbols, read_build_id, read_file_id};
pub use go::{GoFunction, GoTable, GoTableError};
pub use locate::{DebugInfoLocator, Located};

/// One frame to symbolize.
#[derive(Clone, Debug)]
pub struct FrameRequest<'a> {
    /// Build-id of the object the frame is in.
    pub build_id: &'a FileId,
    /// Offset in the object file.
    pub file_offset: u64,
    /// Paths where reporting hosts had the object (hints, verified before use).
    pub path_hints: &'a [String],
}

/// Why a frame has no symbols.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsymbolized {
    /// No file with this build-id was found.
    #[error("no debug info for build-id {0}")]
    NoDebugInfo(String),
    /// The object was found but has no symbol covering the offset.
    #[error("no symbol at offset {offset:#x}: {reason}")]
    NoSymbol {
        /// Offset asked for.
        offset: u64,
        /// blazesym's reason.
        reason: String,
    },
    /// Reading the object failed.
    #[error("reading {path}: {message}")]
    Read {
        /// Object path.
        path: String,
        /// Error text.
        message: String,
    },
}

impl Unsymbolized {
    /// Stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Unsymbolized::NoDebugInfo(_) => "no_debuginfo",
            Unsymbolized::NoSymbol { .. } => "no_symbol",
            Unsymbolized::Read { .. } => "read_error",
        }
    }
}

/// The outcome for one frame: its inline chain (innermost first) or a reason.
pub type FrameResult = Result<Vec<Symbol>, Unsymbolized>;

/// A single-threaded symbolizer over local files.
pub struct Symbolizer {
    inner: symbolize::Symbolizer,
    locator: DebugInfoLocator,
    names: RefCell<HashMap<String, String>>,
    go_tables: RefCell<GoTables>,
}

/// Go tables of recently symbolized files, most recent first; files found
/// not to be Go are remembered too, so each is parsed once.
#[derive(Default)]
struct GoTables {
    entries: Vec<(FileStamp, Option<Rc<GoTable>>)>,
}

/// A file's identity: a path whose file was replaced is opened again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl GoTables {
    /// Open files kept; each costs a mapping and a few hundred bytes.
    const MAX_FILES: usize = 32;

    /// The Go table of `path`, or `None` when it is not a Go binary or its
    /// table cannot be read (then blazesym answers for it).
    fn get(&mut self, path: &Path) -> Option<Rc<GoTable>> {
        use std::os::unix::fs::MetadataExt;

        let meta = std::fs::metadata(path).ok()?;
        let stamp = FileStamp {
            path: path.to_owned(),
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        };
        if let Some(at) = self.entries.iter().position(|(s, _)| *s == stamp) {
            let entry = self.entries.remove(at);
            let table = entry.1.clone();
            self.entries.insert(0, entry);
            return table;
        }
        let table = match GoTable::open(path) {
            Ok(table) => table.map(Rc::new),
            Err(error) => {
                tracing::debug!(%error, path = %path.display(), "Go table unreadable; using blazesym");
                None
            }
        };
        self.entries.retain(|(s, _)| s.path != stamp.path);
        self.entries.truncate(Self::MAX_FILES - 1);
        self.entries.insert(0, (stamp, table.clone()));
        table
    }
}

impl Symbolizer {
    /// A symbolizer that looks for objects with `locator`.
    pub fn new(locator: DebugInfoLocator) -> Self {
        Self {
            inner: Self::blazesym(),
            locator,
            names: RefCell::default(),
            go_tables: RefCell::default(),
        }
    }

    fn blazesym() -> symbolize::Symbolizer {
        symbolize::Symbolizer::builder()
            .enable_code_info(true)
            .enable_inlined_fns(true)
            .enable_demangling(false)
            .enable_auto_reload(true)
            .build()
    }

    /// Forgets which build-ids were not found, so newly arrived files are used.
    pub fn forget_misses(&mut self) {
        self.locator.forget_misses();
    }

    /// Symbolizes `frames`; the result has one entry per request, in order.
    pub fn symbolize(&mut self, frames: &[FrameRequest<'_>]) -> Vec<FrameResult> {
        let mut results: Vec<Option<FrameResult>> = vec![None; frames.len()];
        // Group by build-id so each object is opened and searched once.
        let mut by_object: HashMap<&FileId, Vec<usize>> = HashMap::new();
        for (i, frame) in frames.iter().enumerate() {
            by_object.entry(frame.build_id).or_default().push(i);
        }
        for (build_id, indices) in by_object {
            let hints = frames[indices[0]].path_hints;
            let Some(located) = self.locator.locate(build_id, hints) else {
                for &i in &indices {
                    results[i] = Some(Err(Unsymbolized::NoDebugInfo(build_id.to_hex())));
                }
                continue;
            };
            let offsets: Vec<u64> = indices.iter().map(|&i| frames[i].file_offset).collect();
            let path = located.symbols.clone();
            // A hostile or broken file (an upload, say) can make blazesym
            // panic (an unwrap on a section past the end of the file, an
            // overflow on odd program headers); the frames then fail with
            // the reason, and a fresh blazesym instance replaces the one
            // whose caches the panic may have left half-built.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.symbolize_object(&located, &offsets)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(format!("the symbolizer panicked on this file: {what}"))
            });
            if outcome
                .as_ref()
                .is_err_and(|message| message.starts_with("the symbolizer panicked"))
            {
                self.inner = Self::blazesym();
                self.names.borrow_mut().clear();
                self.go_tables.borrow_mut().entries.clear();
            }
            match outcome {
                Ok(per_offset) => {
                    for (&i, result) in indices.iter().zip(per_offset) {
                        results[i] = Some(result);
                    }
                }
                Err(message) => {
                    let err = Unsymbolized::Read {
                        path: path.display().to_string(),
                        message,
                    };
                    for &i in &indices {
                        results[i] = Some(Err(err.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every request index is filled exactly once"))
            .collect()
    }

    /// Symbolizes offsets of one object: Go code from its `.gopclntab`
    /// (the runtime's own names, lines and inlined calls, stripped or not),
    /// everything else (all of a non-Go file, C in a cgo one) with blazesym.
    fn symbolize_object(
        &self,
        located: &Located,
        offsets: &[u64],
    ) -> Result<Vec<FrameResult>, String> {
        let go = self.go_tables.borrow_mut().get(&located.symbols);
        let Some(go) = go else {
            return self.symbolize_native(located, offsets);
        };
        let layout = located.layout.as_deref().unwrap_or(&located.symbols);
        let addresses = elf::file_offsets_to_addresses(layout, offsets)?;
        let mut results: Vec<Option<FrameResult>> = Vec::with_capacity(offsets.len());
        let mut native = Vec::new();
        for (i, (address, &offset)) in addresses.iter().zip(offsets).enumerate() {
            results.push(match address.map(|a| go.symbolize(a)) {
                None => Some(Err(Unsymbolized::NoSymbol {
                    offset,
                    reason: "offset outside the binary's loadable segments".into(),
                })),
                Some(Ok(Some(chain))) => Some(Ok(chain)),
                Some(Ok(None)) => {
                    native.push(i);
                    None
                }
                Some(Err(error)) => Some(Err(Unsymbolized::NoSymbol {
                    offset,
                    reason: error.to_string(),
                })),
            });
        }
        if !native.is_empty() {
            let native_offsets: Vec<u64> = native.iter().map(|&i| offsets[i]).collect();
            let answers = self.symbolize_native(located, &native_offsets)?;
            for (i, answer) in native.into_iter().zip(answers) {
                results[i] = Some(answer);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every offset is answered by Go or blazesym"))
            .collect())
    }

    fn symbolize_native(
        &self,
        located: &Located,
        offsets: &[u64],
    ) -> Result<Vec<FrameResult>, String> {
        let mut elf = symbolize::source::Elf::new(&located.symbols);
        elf.debug_syms = true;
        let source = symbolize::source::Source::Elf(elf);
        let to_result = |s: Symbolized<'_>, offset: u64| match s {
            Symbolized::Sym(sym) => Ok(inline_chain(&sym, &mut self.names.borrow_mut())),
            Symbolized::Unknown(reason) => Err(Unsymbolized::NoSymbol {
                offset,
                reason: reason.to_string(),
            }),
        };
        let Some(layout) = &located.layout else {
            let symbolized = self
                .inner
                .symbolize(&source, symbolize::Input::FileOffset(offsets))
                .map_err(|e| format!("{e:#}"))?;
            return Ok(symbolized
                .into_iter()
                .zip(offsets)
                .map(|(s, &o)| to_result(s, o))
                .collect());
        };
        // A separate debug file: map offsets with the original binary's
        // program headers, then look the addresses up in the debug file.
        let addresses = elf::file_offsets_to_addresses(layout, offsets)?;
        let known: Vec<u64> = addresses.iter().flatten().copied().collect();
        let mut symbolized = self
            .inner
            .symbolize(&source, symbolize::Input::VirtOffset(&known))
            .map_err(|e| format!("{e:#}"))?
            .into_iter();
        Ok(addresses
            .iter()
            .zip(offsets)
            .map(|(address, &offset)| match address {
                Some(_) => to_result(symbolized.next().expect("one result per address"), offset),
                None => Err(Unsymbolized::NoSymbol {
                    offset,
                    reason: "offset outside the binary's loadable segments".into(),
                }),
            })
            .collect())
    }
}

/// Converts blazesym's outermost-first symbol and inline list into our
/// innermost-first chain. blazesym gives each function of the chain its own
/// location: the outermost function's line is where it calls the first
/// inlined one, and each inlined function's line is where it stands (the
/// innermost: the instruction itself). Checked by the inline fixture test.
fn inline_chain(sym: &symbolize::Sym<'_>, names: &mut HashMap<String, String>) -> Vec<Symbol> {
    // A line-table row with line 0 ("no source line") still names whatever
    // file the table last mentioned, often an unrelated header; a file
    // without a line would mislead, so it is dropped with the line.
    let mut symbol = |name: &str, info: Option<&symbolize::CodeInfo<'_>>| {
        let info = info.filter(|c| c.line.is_some());
        Symbol {
            function: demangled(names, name),
            file: info.map(code_path),
            line: info.and_then(|c| c.line),
        }
    };
    let mut chain: Vec<Symbol> = std::iter::once(symbol(&sym.name, sym.code_info.as_deref()))
        .chain(
            sym.inlined
                .iter()
                .map(|f| symbol(&f.name, f.code_info.as_ref())),
        )
        .collect();
    chain.reverse();
    chain
}

fn demangled(cache: &mut HashMap<String, String>, name: &str) -> String {
    if let Some(d) = cache.get(name) {
        return d.clone();
    }
    let d = match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => cpp_demangle::Symbol::new(name)
            .ok()
            .and_then(|s| s.demangle().ok())
            .unwrap_or_else(|| name.to_owned()),
    };
    if cache.len() >= 1 << 16 {
        cache.clear();
    }
    cache.insert(name.to_owned(), d.clone());
    d
}

fn code_path(c: &symbolize::CodeInfo<'_>) -> String {
    match c.to_path() {
        Cow::Borrowed(p) => p.to_string_lossy().into_owned(),
        Cow::Owned(p) => p
            .into_os_string()
            .into_string()
            .unwrap_or_else(|p| p.to_string_lossy().into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte offset of section `name`'s header field `sh_offset` in an
    /// ELF64 little-endian file.
    fn sh_offset_field(elf: &[u8], name: &str) -> Option<usize> {
        let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
        let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
        let (shoff, shentsize, shnum, shstrndx) =
            (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
        let names = u64_at(shoff + shstrndx * shentsize + 0x18);
        (0..shnum).find_map(|i| {
            let header = shoff + i * shentsize;
            let at =
                names + u32::from_le_bytes(elf[header..header + 4].try_into().unwrap()) as usize;
            let end = elf[at..].iter().position(|&b| b == 0)? + at;
            (&elf[at..end] == name.as_bytes()).then_some(header + 0x18)
        })
    }

    #[test]
    fn a_file_that_makes_blazesym_panic_fails_its_frames_and_the_next_file_still_works() {
        let original = std::fs::read("/bin/true").expect("Debian's /bin/true");
        let build_id = elf::read_build_id(std::path::Path::new("/bin/true")).expect("a build-id");
        let mut broken = original.clone();
        let field = sh_offset_field(&broken, ".gnu_debuglink").expect("a .gnu_debuglink");
        // The section now lies far past the end of the file.
        broken[field..field + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("true-broken");
        std::fs::write(&bad, &broken).unwrap();

        let mut symbolizer = Symbolizer::new(DebugInfoLocator::new(vec![], true));
        let hints = [bad.display().to_string()];
        let results = symbolizer.symbolize(&[FrameRequest {
            build_id: &build_id,
            file_offset: 0x2000,
            path_hints: &hints,
        }]);
        assert_eq!(results.len(), 1);
        // Whatever blazesym makes of it (a panic in 0.2.3, an error later),
        // the frame fails with a reason and the worker lives on.
        assert!(results[0].is_err(), "{results:?}");

        // The same symbolizer still names frames of a good file.
        let mut fine = Symbolizer::new(DebugInfoLocator::new(vec![], true));
        let good = [String::from("/bin/true")];
        let request = FrameRequest {
            build_id: &build_id,
            file_offset: 0x2000,
            path_hints: &good,
        };
        let expected = fine.symbolize(&[FrameRequest { ..request }]);
        symbolizer.forget_misses();
        assert_eq!(symbolizer.symbolize(&[request]), expected);
    }
}
