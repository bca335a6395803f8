//! Debug-info uploads as the aggregator receives them: the build-id the first
//! chunk names, then the file, which the aggregator checks (ELF, carries that
//! build-id, has symbols).
//!
//! Input: one length byte, that many build-id bytes, then the file. Beyond
//! "no panic": whatever the build-id, its store path stays inside the
//! `.build-id` tree under hex names only; a build-id in hex parses back to
//! itself; and reading the file's build-id and symbols never panics.

#![no_main]

use std::path::{Component, Path};
use std::sync::LazyLock;

use augur_aggregator::debuginfo::DebugInfoStore;
use augur_profile::FileId;
use libfuzzer_sys::fuzz_target;

static STORE: LazyLock<DebugInfoStore> = LazyLock::new(|| {
    DebugInfoStore::open(
        &augur_fuzz::scratch_dir().join("store"),
        vec![],
        false,
        1 << 20,
    )
    .expect("opening the debug-info store")
});

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (id_bytes, file) = rest.split_at(usize::from(len).min(rest.len()));
    if let Ok(text) = std::str::from_utf8(id_bytes)
        && let Ok(id) = FileId::parse_hex(text)
    {
        assert!(
            text.eq_ignore_ascii_case(&id.to_hex()),
            "{text:?} parsed as {id}"
        );
    }
    let Ok(build_id) = FileId::from_bytes(id_bytes) else {
        return;
    };
    let path = STORE.path_of(&build_id);
    stays_in_tree(&path, STORE.root());

    // The aggregator's checks of the file. What passes them is symbolized
    // with blazesym, which is not fuzzed here: 0.2.3 panics on a
    // `.gnu_debuglink` section past the end of the file (fixed in 0.2.7),
    // and its segment arithmetic overflows on hostile program headers
    // (still in 0.2.7; it wraps in release builds). See docs/fuzzing.md.
    let upload = augur_fuzz::scratch_file("upload.debug", file);
    let _ = augur_symbolizer::read_build_id(&upload);
    let _ = augur_symbolizer::has_symbols(&upload);
});

fn stays_in_tree(path: &Path, root: &Path) {
    let inside = path
        .strip_prefix(root.join(".build-id"))
        .unwrap_or_else(|_| panic!("{} is outside the tree", path.display()));
    let parts: Vec<_> = inside.components().collect();
    assert_eq!(parts.len(), 2, "{}", path.display());
    for part in parts {
        let Component::Normal(name) = part else {
            panic!("{} has a {part:?} component", path.display());
        };
        let name = name.to_str().expect("hex names are UTF-8");
        let stem = name.strip_suffix(".debug").unwrap_or(name);
        assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()), "{name:?}");
    }
}
