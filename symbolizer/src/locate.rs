//! Finding the object file for a build-id on this machine.
//!
//! Candidates are, in order: the path hints agents reported (useful when the
//! aggregator shares the host's files, as in `augur up`), and the standard
//! `.build-id/xx/rest.debug` layout under each debug directory. A candidate is
//! used only if its own build-id matches, so a binary replaced by a deploy is
//! never used for the old build's frames. Results are cached, misses too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use augur_profile::BuildId;

/// Locates objects by build-id; caches answers per build-id.
#[derive(Debug)]
pub struct DebugInfoLocator {
    debug_dirs: Vec<PathBuf>,
    use_path_hints: bool,
    cache: HashMap<BuildId, Option<PathBuf>>,
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
            cache: HashMap::new(),
        }
    }

    /// Forgets cached misses, so objects that appeared since are found.
    pub fn forget_misses(&mut self) {
        self.cache.retain(|_, found| found.is_some());
    }

    /// The path of a file carrying `build_id`, if one is reachable.
    pub fn locate(&mut self, build_id: &BuildId, hints: &[String]) -> Option<PathBuf> {
        if let Some(found) = self.cache.get(build_id) {
            if found.as_deref().is_none_or(Path::exists) {
                return found.clone();
            }
        }
        let hex = build_id.to_hex();
        let by_layout = self.debug_dirs.iter().map(|dir| {
            dir.join(".build-id")
                .join(&hex[..2])
                .join(format!("{}.debug", &hex[2..]))
        });
        let hinted = hints
            .iter()
            .filter(|_| self.use_path_hints)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let found = by_layout
            .chain(hinted)
            .find(|candidate| read_build_id(candidate).as_ref() == Some(build_id));
        if self.cache.len() >= Self::MAX_CACHED {
            self.cache.clear();
        }
        self.cache.insert(build_id.clone(), found.clone());
        found
    }
}

/// Reads the GNU build-id note of an ELF file.
pub(crate) fn read_build_id(path: &Path) -> Option<BuildId> {
    use object::Object;

    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the map is read-only; a file truncated underneath us could
    // fault, which is the accepted risk of every mmap-based ELF reader.
    let data = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let elf = object::File::parse(&*data).ok()?;
    let id = elf.build_id().ok()??;
    BuildId::from_bytes(id).ok()
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
        assert_eq!(locator.locate(&id, &hint), Some(exe.clone()));
        let other = BuildId::from_bytes(&[1; 20]).unwrap();
        assert_eq!(locator.locate(&other, &hint), None);
        let mut no_hints = DebugInfoLocator::new(vec![], false);
        assert_eq!(no_hints.locate(&id, &hint), None);
    }
}
