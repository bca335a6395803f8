//! Symbolization of fixtures compiled here, at addresses read from their own
//! symbol tables (never hard-coded, so a new compiler cannot break them):
//! demangled Rust names (legacy and v0 mangling) and C++ names, inline
//! chains innermost first with each function's file and line, the same
//! answers from a stripped copy plus its `.build-id/xx/rest.debug` file, and
//! `no_symbol` for offsets outside every function.
//!
//! Fixtures are in `tests/fixtures`; lines marked `MARK:` there give the line
//! numbers to expect. Without `rustc`, `g++` or binutils the tests skip
//! loudly, unless `AUGUR_REQUIRE_ALL=1` makes them fail.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use augur_profile::FileId;
use augur_symbolizer::{DebugInfoLocator, FrameRequest, FrameResult, Symbolizer};
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// True when `available`; otherwise skips loudly, or panics under
/// `AUGUR_REQUIRE_ALL=1`.
fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("AUGUR_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("{what} is required (AUGUR_REQUIRE_ALL=1) but not available");
    }
    eprintln!("\n*** SKIPPED: {what} is not available on this machine ***\n");
    false
}

/// True when `program arg` runs and succeeds.
fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// 1-based line of the only line of `source` containing `marker`.
fn line_of(source: &str, marker: &str) -> u32 {
    let mut lines = source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(marker));
    let (index, _) = lines
        .next()
        .unwrap_or_else(|| panic!("marker {marker:?} not in the fixture"));
    assert!(lines.next().is_none(), "marker {marker:?} is not unique");
    u32::try_from(index + 1).unwrap()
}

/// How a fixture is compiled.
#[derive(Clone, Copy, Debug)]
enum Build {
    /// `rustc` with its default symbol mangling.
    Rust,
    /// `rustc -C symbol-mangling-version=v0`.
    RustV0,
    /// `g++`.
    Cpp,
}

/// A compiled fixture and what its ELF file says about itself.
struct Fixture {
    dir: tempfile::TempDir,
    binary: PathBuf,
    /// File name of the fixture source, as debug info ends its paths.
    source_name: &'static str,
    source: String,
    build_id: FileId,
    /// `(name, address, size)` of every defined function.
    functions: Vec<(String, u64, u64)>,
    /// `(address, file offset, file size)` of every loadable segment.
    segments: Vec<(u64, u64, u64)>,
}

impl Fixture {
    /// Compiles the fixture, or `None` (after `require`) without a compiler.
    fn build(build: Build) -> Option<Fixture> {
        let (compiler, source_name) = match build {
            Build::Rust | Build::RustV0 => ("rustc", "demangle.rs"),
            Build::Cpp => ("g++", "demangle.cpp"),
        };
        if !require(have(compiler, "--version"), compiler) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("demangle");
        let source_path = fixture_path(source_name);
        let mut command = Command::new(compiler);
        match build {
            Build::Rust | Build::RustV0 => {
                command.args([
                    "--edition=2021",
                    "-C",
                    "opt-level=2",
                    "-g",
                    "-C",
                    "force-frame-pointers=yes",
                    "-C",
                    "link-arg=-Wl,--build-id",
                ]);
                if matches!(build, Build::RustV0) {
                    command.args(["-C", "symbol-mangling-version=v0"]);
                }
            }
            Build::Cpp => {
                command.args(["-O2", "-g", "-fno-omit-frame-pointer", "-Wl,--build-id"]);
            }
        }
        run(command.arg("-o").arg(&binary).arg(&source_path));

        let data = std::fs::read(&binary).unwrap();
        let elf = object::File::parse(&*data).unwrap();
        let build_id =
            FileId::from_bytes(elf.build_id().unwrap().expect("a build-id note")).unwrap();
        let functions = elf
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.size() > 0)
            .map(|s| (s.name().unwrap().to_owned(), s.address(), s.size()))
            .collect();
        let segments = elf
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                (s.address(), offset, size)
            })
            .collect();
        Some(Fixture {
            source_name,
            source: std::fs::read_to_string(source_path).unwrap(),
            dir,
            binary,
            build_id,
            functions,
            segments,
        })
    }

    /// File offsets of every byte of the one function whose mangled name
    /// `matches`.
    fn function(&self, what: &str, matches: impl Fn(&str) -> bool) -> Range<u64> {
        let found: Vec<_> = self
            .functions
            .iter()
            .filter(|(name, _, _)| matches(name))
            .collect();
        let [(_, address, size)] = found[..] else {
            panic!("expected one symbol for {what}, found {found:?}");
        };
        let start = self.file_offset(*address);
        start..start + size
    }

    /// File offsets of the Rust function with these path components.
    fn rust_function(&self, idents: &[&str]) -> Range<u64> {
        self.function(&idents.join("::"), |n| rust_path(n, idents))
    }

    /// File offsets of the C++ function with this (Itanium, so stable)
    /// mangled name.
    fn cpp_function(&self, mangled: &str) -> Range<u64> {
        self.function(mangled, |n| n == mangled)
    }

    /// Whether a file offset lies inside any function of the symbol table.
    fn in_any_function(&self, offset: u64) -> bool {
        self.functions.iter().any(|&(_, address, size)| {
            let start = self.file_offset(address);
            (start..start + size).contains(&offset)
        })
    }

    /// The file offset the symbolizer expects for an ELF virtual address.
    fn file_offset(&self, address: u64) -> u64 {
        self.segments
            .iter()
            .find(|(start, _, size)| (*start..start + size).contains(&address))
            .map(|(start, offset, _)| address - start + offset)
            .unwrap_or_else(|| panic!("address {address:#x} is in no loadable segment"))
    }

    /// A stripped copy and a debug directory holding the debug-only file at
    /// `.build-id/xx/rest.debug`; `None` (after `require`) without binutils.
    fn split_debug(&self) -> Option<(PathBuf, PathBuf)> {
        if !require(
            have("strip", "--version") && have("objcopy", "--version"),
            "strip and objcopy",
        ) {
            return None;
        }
        let stripped = self.dir.path().join("demangle.stripped");
        run(Command::new("strip")
            .arg("--strip-all")
            .arg("-o")
            .arg(&stripped)
            .arg(&self.binary));
        let debug_dir = self.dir.path().join("debug");
        let hex = self.build_id.to_hex();
        let by_id = debug_dir.join(".build-id").join(&hex[..2]);
        std::fs::create_dir_all(&by_id).unwrap();
        run(Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&self.binary)
            .arg(by_id.join(format!("{}.debug", &hex[2..]))));
        Some((stripped, debug_dir))
    }

    /// Symbolizes `offsets` with the unstripped binary as the only source.
    fn symbolize(&self, offsets: &[u64]) -> Vec<FrameResult> {
        symbolize(
            DebugInfoLocator::new(vec![], true),
            &self.build_id,
            &self.binary,
            offsets,
        )
    }
}

fn symbolize(
    locator: DebugInfoLocator,
    build_id: &FileId,
    hint: &Path,
    offsets: &[u64],
) -> Vec<FrameResult> {
    let hints = [hint.display().to_string()];
    let requests: Vec<FrameRequest<'_>> = offsets
        .iter()
        .map(|&file_offset| FrameRequest {
            build_id,
            file_offset,
            path_hints: &hints,
        })
        .collect();
    let results = Symbolizer::new(locator).symbolize(&requests);
    assert_eq!(results.len(), offsets.len(), "one result per request");
    results
}

/// Whether a legacy or v0 mangled Rust name holds these identifiers in
/// order (both schemes spell an identifier as its length and its bytes).
fn rust_path(mangled: &str, idents: &[&str]) -> bool {
    let mut rest = mangled;
    idents.iter().all(|ident| {
        let needle = format!("{}{ident}", ident.len());
        match rest.find(&needle) {
            // The identifier must not be the tail of a longer length prefix.
            Some(at) if !rest[..at].ends_with(|c: char| c.is_ascii_digit()) => {
                rest = &rest[at + needle.len()..];
                true
            }
            _ => false,
        }
    })
}

/// Asserts that every byte of each function is named `expected`, as the
/// outermost function of its inline chain.
fn assert_names(fixture: &Fixture, cases: &[(Range<u64>, &str)]) {
    for (range, expected) in cases {
        let offsets: Vec<u64> = range.clone().collect();
        for (offset, result) in offsets.iter().zip(fixture.symbolize(&offsets)) {
            let chain = result.unwrap_or_else(|e| {
                panic!("offset {offset:#x} in {expected}: {e} ({})", e.reason())
            });
            let outermost = chain.last().expect("a non-empty chain");
            assert_eq!(
                outermost.function, *expected,
                "offset {offset:#x}: chain {chain:?}"
            );
            // Line-0 rows (no source line) keep whatever file the line
            // table last named, often an inlined callee's: only a frame
            // with a line has a file to check.
            if outermost.line.is_some() {
                assert!(
                    outermost
                        .file
                        .as_deref()
                        .is_some_and(|f| f.ends_with(fixture.source_name)),
                    "offset {offset:#x}: {expected} is not in {}: {chain:?}",
                    fixture.source_name
                );
            }
        }
    }
}

/// One function of an expected inline chain.
struct Frame<'a> {
    function: &'a str,
    /// Lines the function's frame may stand on.
    lines: Range<u32>,
}

/// Symbolizes every byte of `range` and checks the chains that hold
/// `expected[0]`: the functions from there outwards are `expected`, all in
/// a file named `file`, each on one of its lines. At least one such chain
/// must exist, and at least one must end at `expected[0]` itself (its line
/// then being the instruction's own).
fn assert_inline_chain(fixture: &Fixture, range: Range<u64>, expected: &[Frame<'_>]) {
    let file = fixture.source_name;
    let offsets: Vec<u64> = range.collect();
    let results = fixture.symbolize(&offsets);
    let mut seen = 0;
    let mut innermost = 0;
    for (offset, result) in offsets.iter().zip(results) {
        let chain = result.unwrap_or_else(|e| panic!("offset {offset:#x}: {e}"));
        let Some(at) = chain
            .iter()
            .position(|s| s.function == expected[0].function)
        else {
            continue;
        };
        seen += 1;
        if at == 0 {
            innermost += 1;
        }
        let outer: Vec<&str> = chain[at..].iter().map(|s| s.function.as_str()).collect();
        let wanted: Vec<&str> = expected.iter().map(|f| f.function).collect();
        assert_eq!(outer, wanted, "offset {offset:#x}: chain {chain:?}");
        for (symbol, frame) in chain[at..].iter().zip(expected) {
            assert!(
                symbol.file.as_deref().is_some_and(|f| f.ends_with(file)),
                "offset {offset:#x}: {} is not in {file}: {chain:?}",
                frame.function
            );
            assert!(
                symbol.line.is_some_and(|l| frame.lines.contains(&l)),
                "offset {offset:#x}: {} should stand on a line in {:?}: {chain:?}",
                frame.function,
                frame.lines
            );
        }
    }
    assert!(
        seen > 0,
        "no byte of the function is attributed to inlined {}",
        expected[0].function
    );
    assert!(
        innermost > 0,
        "{} is never the innermost frame",
        expected[0].function
    );
}

/// The line of `marker`, as a one-line range.
fn on(source: &str, marker: &str) -> Range<u32> {
    let line = line_of(source, marker);
    line..line + 1
}

/// The Rust functions checked, as the path components of their names.
const RUST_ACCUMULATE: &[&str] = &["demangle", "math", "accumulate"];
const RUST_STEP: &[&str] = &["demangle", "vehicle", "engine", "Engine", "step"];
const RUST_OUTER: &[&str] = &["demangle", "chain", "outer"];

/// The C++ functions checked: mangled name, and demangled as users see it.
const CPP_FUNCTIONS: &[(&str, &str)] = &[
    ("_ZNK4shop4Cart5totalEv", "shop::Cart::total() const"),
    (
        "_ZN4shop7sum_allIlEET_PKS1_i",
        "long shop::sum_all<long>(long const*, int)",
    ),
    ("_ZN4shop5priceEi", "shop::price(int)"),
    ("_ZN4shop5priceEd", "shop::price(double)"),
    (
        "_ZN4shop8checkoutEPKlii",
        "shop::checkout(long const*, int, int)",
    ),
];
const CPP_CHECKOUT: &str = "_ZN4shop8checkoutEPKlii";

fn rust_names(build: Build, accumulate: &str, step: &str) {
    let Some(fixture) = Fixture::build(build) else {
        return;
    };
    assert_names(
        &fixture,
        &[
            (fixture.rust_function(RUST_ACCUMULATE), accumulate),
            (fixture.rust_function(RUST_STEP), step),
            (fixture.rust_function(RUST_OUTER), "demangle::chain::outer"),
        ],
    );
}

/// Legacy mangling (rustc's default on stable) ends each symbol in a
/// `::h0123456789abcdef` hash; users expect the name without it.
#[test]
fn rust_names_are_demangled_without_hash() {
    rust_names(
        Build::Rust,
        "demangle::math::accumulate",
        "demangle::vehicle::engine::Engine::step",
    );
}

/// v0 mangling keeps generic arguments and writes an inherent method's
/// type in angle brackets; the crate disambiguator is left out.
#[test]
fn rust_v0_names_are_demangled() {
    rust_names(
        Build::RustV0,
        "demangle::math::accumulate::<u32>",
        "<demangle::vehicle::engine::Engine>::step",
    );
}

#[test]
fn rust_inline_chain_is_innermost_first_with_lines() {
    let Some(fixture) = Fixture::build(Build::Rust) else {
        return;
    };
    let source = &fixture.source;
    let body = line_of(source, "MARK: rust scramble body");
    let end = line_of(source, "MARK: rust scramble end");
    assert_inline_chain(
        &fixture,
        fixture.rust_function(RUST_OUTER),
        &[
            Frame {
                function: "demangle::chain::scramble",
                lines: body..end + 1,
            },
            Frame {
                function: "demangle::chain::outer",
                lines: on(source, "MARK: rust scramble call"),
            },
        ],
    );
}

#[test]
fn cpp_names_are_demangled() {
    let Some(fixture) = Fixture::build(Build::Cpp) else {
        return;
    };
    let cases: Vec<(Range<u64>, &str)> = CPP_FUNCTIONS
        .iter()
        .map(|&(mangled, demangled)| (fixture.cpp_function(mangled), demangled))
        .collect();
    assert_names(&fixture, &cases);
}

#[test]
fn cpp_inline_chain_is_innermost_first_with_lines() {
    let Some(fixture) = Fixture::build(Build::Cpp) else {
        return;
    };
    let source = &fixture.source;
    let checkout = fixture.cpp_function(CPP_CHECKOUT);
    let round_cents_call = on(source, "MARK: cpp round_cents call");
    let apply_discount_call = on(source, "MARK: cpp apply_discount call");
    assert_inline_chain(
        &fixture,
        checkout.clone(),
        &[
            Frame {
                function: "shop::round_cents(long)",
                lines: on(source, "MARK: cpp round_cents body"),
            },
            Frame {
                function: "shop::apply_discount(long, int)",
                lines: round_cents_call.clone(),
            },
            Frame {
                function: "shop::checkout(long const*, int, int)",
                lines: apply_discount_call.clone(),
            },
        ],
    );
    // Instructions of the middle function itself, outside the innermost.
    assert_inline_chain(
        &fixture,
        checkout,
        &[
            Frame {
                function: "shop::apply_discount(long, int)",
                lines: line_of(source, "MARK: cpp apply_discount body")..round_cents_call.end,
            },
            Frame {
                function: "shop::checkout(long const*, int, int)",
                lines: apply_discount_call,
            },
        ],
    );
}

/// Asserts that a stripped copy of `fixture`, named by its debug file in a
/// `.build-id` directory, gives exactly what the unstripped binary gives
/// for every byte of `functions`.
fn assert_stripped_matches_unstripped(fixture: &Fixture, functions: &[Range<u64>]) {
    let Some((stripped, debug_dir)) = fixture.split_debug() else {
        return;
    };
    let offsets: Vec<u64> = functions.iter().flat_map(Range::clone).collect();
    let full = fixture.symbolize(&offsets);
    let split = symbolize(
        DebugInfoLocator::new(vec![debug_dir], true),
        &fixture.build_id,
        &stripped,
        &offsets,
    );
    for ((offset, full), split) in offsets.iter().zip(&full).zip(&split) {
        assert!(full.is_ok(), "offset {offset:#x}: {full:?}");
        assert_eq!(split, full, "offset {offset:#x}");
    }
}

#[test]
fn stripped_rust_binary_with_build_id_debug_file_gives_same_symbols() {
    let Some(fixture) = Fixture::build(Build::Rust) else {
        return;
    };
    let functions = [RUST_ACCUMULATE, RUST_STEP, RUST_OUTER].map(|f| fixture.rust_function(f));
    assert_stripped_matches_unstripped(&fixture, &functions);
}

#[test]
fn stripped_cpp_binary_with_build_id_debug_file_gives_same_symbols() {
    let Some(fixture) = Fixture::build(Build::Cpp) else {
        return;
    };
    let functions: Vec<Range<u64>> = CPP_FUNCTIONS
        .iter()
        .map(|&(mangled, _)| fixture.cpp_function(mangled))
        .collect();
    assert_stripped_matches_unstripped(&fixture, &functions);
}

/// Offsets in no function are `no_symbol`, whether read from the binary
/// itself or through a separate debug file, and do not spoil a valid offset
/// asked for in the same call: the ELF header (mapped, but no code), the
/// alignment padding after a function, and an offset past the end of the
/// file.
#[test]
fn offset_outside_any_function_is_no_symbol() {
    let Some(fixture) = Fixture::build(Build::Cpp) else {
        return;
    };
    let Some((stripped, debug_dir)) = fixture.split_debug() else {
        return;
    };
    let (total_mangled, total) = CPP_FUNCTIONS[0];
    let valid = fixture.cpp_function(total_mangled).start;
    let mut outside = vec![
        0,
        std::fs::metadata(&fixture.binary).unwrap().len() + 0x1000,
    ];
    // Padding exists where the next function starts after this one's end;
    // alignment makes that likely, but it is the compiler's choice.
    let padding = CPP_FUNCTIONS
        .iter()
        .map(|&(mangled, _)| fixture.cpp_function(mangled).end)
        .find(|&end| !fixture.in_any_function(end));
    outside.extend(padding);
    let mut offsets = outside.clone();
    offsets.push(valid);

    for (what, results) in [
        ("unstripped binary", fixture.symbolize(&offsets)),
        (
            "debug file",
            symbolize(
                DebugInfoLocator::new(vec![debug_dir], true),
                &fixture.build_id,
                &stripped,
                &offsets,
            ),
        ),
    ] {
        for (offset, result) in offsets.iter().zip(&results) {
            match (offset == &valid, result) {
                (false, Err(e)) => assert_eq!(e.reason(), "no_symbol", "{what} {offset:#x}: {e}"),
                (false, Ok(chain)) => {
                    panic!("{what} {offset:#x}: expected no symbol, got {chain:?}")
                }
                (true, result) => {
                    let chain = result
                        .as_ref()
                        .unwrap_or_else(|e| panic!("{what} {offset:#x}: {e}"));
                    assert_eq!(
                        chain.last().map(|s| s.function.as_str()),
                        Some(total),
                        "{what}"
                    );
                }
            }
        }
    }
}
