//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Some decoders read files, not byte slices (the ingest log, uploaded debug
//! info), because that is how they meet hostile bytes in production. Their
//! targets write each input to a scratch file first; the file lives in a
//! per-process directory so parallel fuzzing jobs do not collide, in
//! `/dev/shm` when there is one: on a disk the writes cost 50 times more.
//! `scripts/fuzz.sh` removes these directories after a run.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

static SCRATCH: LazyLock<PathBuf> = LazyLock::new(|| {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("augur-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
});

/// This process's scratch directory, created on first use.
pub fn scratch_dir() -> &'static Path {
    &SCRATCH
}

/// Writes `bytes` to the scratch file `name` and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = SCRATCH.join(name);
    std::fs::write(&path, bytes).expect("writing a scratch file");
    path
}
