//! Finding the object file for a file id on this machine.
//!
//! Candidates are, in order: the standard `.build-id/xx/rest.debug` layout
//! under each debug directory; the path hints agents reported (useful when
//! the aggregator shares the host's files, as in `augur up`) if the file
//! there has full symbols; debuginfod servers, when configured and only
//! for GNU build-ids (they know no content ids); and last a stripped hinted
//! file, whose dynamic symbols name exported functions until something
//! better turns up. A candidate is used only if its own id matches, so a
//! binary replaced by a deploy is never used for the old build's frames.
//! A debug file in the `.build-id` layout for a content id is the one
//! exception: cut down to its symbols it no longer holds the bytes its id
//! hashes, so it is taken on the word of whoever put it there (an upload,
//! checked by the uploading agent), provided it carries no build-id of its
//! own. Results are cached, misses too, until `forget_misses`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use augur_profile::FileId;

use crate::debuginfod::DebuginfodClient;
use crate::elf::{has_symbols, is_debug_only, read_build_id, read_file_id};

/// Locates objects by build-id; caches answers per build-id.
#[derive(Debug)]
pub struct DebugInfoLocator {
    debug_dirs: Vec<PathBuf>,
    use_path_hints: bool,
    debuginfod: Option<DebuginfodClient>,
    /// Files with full symbols, and misses (`None`).
    cache: HashMap<FileId, Option<PathBuf>>,
    /// Stripped files (dynamic symbols only), used while nothing better is
    /// known; asked about again whenever misses are forgotten.
    weak: HashMap<FileId, PathBuf>,
}

impl DebugInfoLocator {
    /// Most build-ids remembered; the cache is cleared when it grows past this.
    const MAX_CACHED: usize = 65_536;

    /// A locator searching `debug_dirs` (e.g. `/usr/lib/debug`), and the
    /// agents' path hints when `use_path_hints` is set.
    pub fn new(debug_dirs: Vec<PathBuf>, use_path_hints: bool) -> Self {
        Self {
            debug_dirs,
            use_path_hints,
            debuginfod: None,
            cache: HashMap::new(),
            weak: HashMap::new(),
        }
    }

    /// Also asks debuginfod servers, after local directories and unstripped
    /// path hints and before stripped ones.
    pub fn with_debuginfod(mut self, client: DebuginfodClient) -> Self {
        self.debuginfod = Some(client);
        self
    }

    /// Forgets cached misses, so objects that appeared since are found.
    pub fn forget_misses(&mut self) {
        self.cache.retain(|_, found| found.is_some());
        self.weak.clear();
        if let Some(client) = &mut self.debuginfod {
            client.forget_misses();
        }
    }

    /// The files to symbolize `build_id` with, if any is reachable.
    pub fn locate(&mut self, build_id: &FileId, hints: &[String]) -> Option<Located> {
        let symbols = self.locate_symbols(build_id, hints)?;
        if !is_debug_only(&symbols) {
            return Some(Located {
                symbols,
                layout: None,
            });
        }
        // A separate debug file keeps no code, so file offsets must be
        // translated with the original binary's program headers.
        let layout = hints
            .iter()
            .filter(|_| self.use_path_hints)
            .map(PathBuf::from)
            .find(|p| p.is_absolute() && read_file_id(p).as_ref() == Some(build_id))
            .or_else(|| {
                let client = self
                    .debuginfod
                    .as_mut()
                    .filter(|_| build_id.is_build_id())?;
                client.fetch_executable(build_id).ok()
            });
        Some(Located { symbols, layout })
    }

    /// The file with the best symbols for `build_id`.
    fn locate_symbols(&mut self, build_id: &FileId, hints: &[String]) -> Option<PathBuf> {
        if let Some(found) = self.cache.get(build_id) {
            if found.as_deref().is_none_or(Path::exists) {
                return found.clone();
            }
        }
        if let Some(weak) = self.weak.get(build_id) {
            return Some(weak.clone());
        }
        let hex = build_id.to_hex();
        let by_layout = self.debug_dirs.iter().map(|dir| {
            dir.join(".build-id")
                .join(&hex[..2])
                .join(format!("{}.debug", &hex[2..]))
        });
        let hinted: Vec<PathBuf> = hints
            .iter()
            .filter(|_| self.use_path_hints)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && read_file_id(p).as_ref() == Some(build_id))
            .collect();
        let (full, stripped): (Vec<PathBuf>, Vec<PathBuf>) =
            hinted.into_iter().partition(|p| has_symbols(p));
        let mut found = by_layout
            .filter(|candidate| is_in_layout_for(candidate, build_id))
            .chain(full)
            .next();
        if found.is_none() && build_id.is_build_id() {
            if let Some(client) = &mut self.debuginfod {
                match client.fetch(build_id) {
                    Ok(path) => found = Some(path),
                    Err(miss) => tracing::debug!(build_id = %hex, ?miss, "debuginfod has no file"),
                }
            }
        }
        if self.cache.len() >= Self::MAX_CACHED {
            self.cache.clear();
            self.weak.clear();
        }
        match (found, stripped.into_iter().next()) {
            (Some(path), _) => {
                self.cache.insert(build_id.clone(), Some(path.clone()));
                Some(path)
            }
            (None, Some(weak)) => {
                self.weak.insert(build_id.clone(), weak.clone());
                Some(weak)
            }
            (None, None) => {
                self.cache.insert(build_id.clone(), None);
                None
            }
        }
    }
}

/// Where a build-id's symbols come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file with symbols (and DWARF, if any).
    pub symbols: PathBuf,
    /// For a separate debug file, the original binary whose program headers
    /// map file offsets to addresses; `None` when `symbols` has its own.
    pub layout: Option<PathBuf>,
}

/// Whether `path`, found in a `.build-id` directory under `id`'s name, is
/// the debug file for `id` (see the module's notes on content ids).
fn is_in_layout_for(path: &Path, id: &FileId) -> bool {
    if id.is_build_id() {
        return read_build_id(path).as_ref() == Some(id);
    }
    path.is_file() && read_build_id(path).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_executable_is_found_by_its_build_id_and_not_by_another() {
        let exe = std::env::current_exe().unwrap();
        let Some(id) = read_build_id(&exe) else {
            eprintln!("SKIPPED: test binary has no build-id");
            return;
        };
        let hint = vec![exe.display().to_string()];
        let mut locator = DebugInfoLocator::new(vec![], true);
        assert_eq!(
            locator.locate(&id, &hint),
            Some(Located {
                symbols: exe.clone(),
                layout: None
            })
        );
        let other = FileId::from_bytes(&[1; 20]).unwrap();
        assert_eq!(locator.locate(&other, &hint), None);
        let mut no_hints = DebugInfoLocator::new(vec![], false);
        assert_eq!(no_hints.locate(&id, &hint), None);
    }
}
