//! Resolves `(build-id, file offset)` frames to functions, files and lines.
//!
//! A [`Symbolizer`] owns one blazesym instance (blazesym is single-threaded),
//! so each worker thread gets its own. It finds the object for a build-id in
//! [`DebugInfoLocator`], checks that the file really carries that build-id (a
//! path hint from an agent may point at a newer binary after a deploy), and
//! returns one [`FrameResult`] per requested frame: symbols, or the reason why
//! there are none. One bad frame never fails the others.

pub mod debuginfod;
mod locate;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use augur_profile::{BuildId, Symbol};
use blazesym::symbolize::{self, Symbolized};

pub use debuginfod::{DebuginfodClient, DebuginfodConfig};
pub use locate::{DebugInfoLocator, Located, has_symbols, read_build_id};

/// One frame to symbolize.
#[derive(Clone, Debug)]
pub struct FrameRequest<'a> {
    /// Build-id of the object the frame is in.
    pub build_id: &'a BuildId,
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
}

impl Symbolizer {
    /// A symbolizer that looks for objects with `locator`.
    pub fn new(locator: DebugInfoLocator) -> Self {
        let inner = symbolize::Symbolizer::builder()
            .enable_code_info(true)
            .enable_inlined_fns(true)
            .enable_demangling(false)
            .enable_auto_reload(true)
            .build();
        Self {
            inner,
            locator,
            names: RefCell::default(),
        }
    }

    /// Forgets which build-ids were not found, so newly arrived files are used.
    pub fn forget_misses(&mut self) {
        self.locator.forget_misses();
    }

    /// Symbolizes `frames`; the result has one entry per request, in order.
    pub fn symbolize(&mut self, frames: &[FrameRequest<'_>]) -> Vec<FrameResult> {
        let mut results: Vec<Option<FrameResult>> = vec![None; frames.len()];
        // Group by build-id so each object is opened and searched once.
        let mut by_object: HashMap<&BuildId, Vec<usize>> = HashMap::new();
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
            match self.symbolize_object(&located, &offsets) {
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

    fn symbolize_object(
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
        let addresses = locate::file_offsets_to_addresses(layout, offsets)?;
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
