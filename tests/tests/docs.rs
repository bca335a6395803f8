//! Keeps `ARCHITECTURE.md` a true, short map: every repository path it names
//! in backticks or links to must exist, and it stays within 400 lines.
//!
//! A backticked token counts as a path when it contains `/` or ends in a
//! source or document extension, unless it is absolute (an HTTP route, a
//! `/proc` file), a flag, a URL, or a pattern (`*`, `{`, `<`, `|`, spaces).
//! Paths are relative to the repository root. Fenced code blocks are
//! diagrams, not references, and are skipped.

use std::path::{Path, PathBuf};

/// The map's length limit, from issue 20 and STYLE.md's "Keep the map short".
const MAX_LINES: usize = 400;

/// Endings that make a token a file reference even without a `/`.
const FILE_ENDINGS: &[&str] = &[".rs", ".md", ".toml", ".html", ".js", ".css", ".h", ".c"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .to_path_buf()
}

fn architecture() -> String {
    let path = repo_root().join("ARCHITECTURE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Whether a backticked token names a file or folder of the repository.
fn looks_like_path(token: &str) -> bool {
    let pattern_or_prose = |c: char| c.is_whitespace() || "*{}<>|$:".contains(c);
    if token.is_empty() || token.starts_with('/') || token.starts_with('-') {
        return false;
    }
    if token.chars().any(pattern_or_prose) {
        return false;
    }
    token.contains('/') || FILE_ENDINGS.iter().any(|ending| token.ends_with(ending))
}

/// Repository paths a Markdown text names: backticked tokens that look like
/// paths and the targets of relative links, each with its line number.
fn named_paths(text: &str) -> Vec<(usize, String)> {
    let mut paths = Vec::new();
    let mut in_fence = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Between an odd and the next even backtick is code.
        for (i, piece) in line.split('`').enumerate() {
            if i % 2 == 1 && looks_like_path(piece) {
                paths.push((number, piece.to_string()));
            }
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split('#').next().unwrap_or_default();
            let external = target.contains("://") || target.starts_with("mailto:");
            if !target.is_empty() && !external {
                paths.push((number, target.to_string()));
            }
            rest = &after[end..];
        }
    }
    paths
}

#[test]
fn every_path_architecture_md_names_exists() {
    let root = repo_root();
    let missing: Vec<String> = named_paths(&architecture())
        .into_iter()
        .filter(|(_, path)| !root.join(path).exists())
        .map(|(line, path)| format!("  line {line}: {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist (fix the map or the path):\n{}",
        missing.join("\n")
    );
}

#[test]
fn architecture_md_stays_a_short_map() {
    let lines = architecture().lines().count();
    assert!(
        lines <= MAX_LINES,
        "ARCHITECTURE.md has {lines} lines, more than {MAX_LINES}: move detail into docs/"
    );
}

#[test]
fn path_tokens_are_told_from_prose() {
    for path in [
        "storage/src/clickhouse/",
        "Cargo.toml",
        "web/assets/index.html",
        ".ci/run",
    ] {
        assert!(looks_like_path(path), "{path} is a path");
    }
    for not_path in [
        "/api/v1/services",
        "--role ingest|query|both",
        "https://example.invalid/x",
        "fleet/{report}",
        "bpf/src/bpf/*.bpf.c",
        "augur_profile::placeholder",
        "(file id, file offset)",
        "",
    ] {
        assert!(!looks_like_path(not_path), "{not_path:?} is not a path");
    }
    let text =
        "a `docs/a.md` and [b](docs/b.md#x), [c](https://x.invalid/c)\n```\n`in/fence.rs`\n```\n";
    let found: Vec<String> = named_paths(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(found, ["docs/a.md", "docs/b.md"]);
}
