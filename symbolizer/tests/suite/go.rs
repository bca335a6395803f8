//! Go symbolization from `.gopclntab`, checked against `go tool addr2line`.
//!
//! The fixture (`tests/fixtures/gohot`) is built here six ways: plain,
//! stripped (`-ldflags="-s -w"`), with cgo (linked by gcc), cgo stripped,
//! and position-independent (`-buildmode=pie`) stripped, with and without
//! cgo; go 1.19's addr2line cannot read PIE, so there names are checked
//! against `go tool nm` of the unstripped build. For each, every function's entry and a few pcs inside it are
//! named by [`GoTable`] and by `go tool addr2line` run on the unstripped
//! build of the same flags (its text is byte-identical); addr2line gives the
//! outermost function with the innermost file:line, so those are compared.
//! Inlined calls are checked against the fixture's `MARK:` lines, and the
//! same answers must come out of `Symbolizer::symbolize` by file id and
//! offset (a content id: Go's linker writes no GNU build-id).
//! Without `go` the tests skip loudly, unless `AUGUR_REQUIRE_ALL=1`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use augur_profile::{FileId, Symbol};
use augur_symbolizer::{
    DebugInfoLocator, FrameRequest, GoTable, GoTableError, Symbolizer, read_file_id,
};
use object::{Object, ObjectSection, ObjectSegment};

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

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gohot")
}

/// `go` with an offline, private environment (a cache shared by runs).
fn go(args: &[&str]) -> Command {
    let scratch = std::env::temp_dir().join("augur-go-tests");
    let mut command = Command::new("go");
    command
        .args(args)
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("HOME", scratch.join("home"))
        .env("GOCACHE", scratch.join("cache"))
        .env("GOPATH", scratch.join("gopath"));
    command
}

fn have_go() -> bool {
    go(&["version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How the fixture is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Plain,
    Stripped,
    Cgo,
    CgoStripped,
    /// `-buildmode=pie`, stripped: the table is `.data.rel.ro.gopclntab`.
    PieStripped,
    /// cgo and `-buildmode=pie`, stripped: gcc's linker merges the table
    /// into `.data.rel.ro`, without a section or symbol of its own.
    CgoPieStripped,
}

impl Variant {
    fn cgo(self) -> bool {
        matches!(
            self,
            Variant::Cgo | Variant::CgoStripped | Variant::CgoPieStripped
        )
    }
    fn stripped(self) -> bool {
        self != Variant::Plain && self != Variant::Cgo
    }
    fn pie(self) -> bool {
        matches!(self, Variant::PieStripped | Variant::CgoPieStripped)
    }
}

/// A built fixture: the file under test and the unstripped reference.
struct GoFixture {
    _dir: tempfile::TempDir,
    subject: PathBuf,
    reference: PathBuf,
    source: String,
}

fn build_into(dir: &Path, name: &str, variant: Variant, strip: bool) -> PathBuf {
    let out = dir.join(name);
    let ldflags = if strip { "-ldflags=-s -w" } else { "-ldflags=" };
    let out_arg = out.display().to_string();
    let mut args = vec!["build", "-o", &out_arg, ldflags];
    if variant.cgo() {
        args.extend(["-tags", "cgo_fixture"]);
    }
    if variant.pie() {
        args.push("-buildmode=pie");
    }
    args.push(".");
    let mut command = go(&args);
    command
        .current_dir(fixture_dir())
        .env("CGO_ENABLED", if variant.cgo() { "1" } else { "0" });
    let output = command.output().expect("run go build");
    assert!(
        output.status.success(),
        "go build {variant:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

impl GoFixture {
    fn build(variant: Variant) -> Option<GoFixture> {
        if !require(have_go(), "the go toolchain") {
            return None;
        }
        if variant.cgo() && !require(Command::new("gcc").arg("--version").output().is_ok(), "gcc") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let reference = build_into(dir.path(), "reference", variant, false);
        let subject = if variant.stripped() {
            build_into(dir.path(), "stripped", variant, true)
        } else {
            reference.clone()
        };
        let source = std::fs::read_to_string(fixture_dir().join("main.go")).unwrap();
        Some(GoFixture {
            _dir: dir,
            subject,
            reference,
            source,
        })
    }

    fn line_of(&self, marker: &str) -> u32 {
        let lines: Vec<usize> = self
            .source
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(&format!("MARK: {marker}")))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines.len(), 1, "marker {marker} must be unique");
        lines[0] as u32
    }
}

/// `(function, file, line)` from `go tool addr2line` for each address;
/// `("?", 0)` where it knows no line (it prints `?:0` or `:-1`).
fn addr2line(binary: &Path, addresses: &[u64]) -> Vec<(String, String, u32)> {
    let mut child = go(&["tool", "addr2line", &binary.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run go tool addr2line");
    let input: String = addresses.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * addresses.len(), "two lines per address");
    lines
        .chunks(2)
        .map(|pair| {
            let parsed = pair[1]
                .rsplit_once(':')
                .and_then(|(f, l)| Some((f, l.parse::<i64>().ok()?)));
            let (file, line) = parsed.unwrap_or_else(|| panic!("addr2line said {pair:?}"));
            match u32::try_from(line) {
                Ok(line) if line > 0 => (pair[0].to_owned(), file.to_owned(), line),
                _ => (pair[0].to_owned(), "?".to_owned(), 0),
            }
        })
        .collect()
}

/// Every function's entry and pcs a third and two thirds in, and its last byte.
fn probe_addresses(table: &GoTable) -> Vec<u64> {
    table
        .functions()
        .flat_map(|f| {
            let size = f.end - f.entry;
            [
                f.entry,
                f.entry + size / 3,
                f.entry + 2 * size / 3,
                f.end - 1,
            ]
        })
        .collect()
}

fn file_id(path: &Path) -> FileId {
    read_file_id(path).expect("a readable file")
}

fn open(path: &Path) -> GoTable {
    GoTable::open(path)
        .expect("a readable Go table")
        .expect("a Go binary")
}

/// Runs every check on one build variant.
fn check_variant(variant: Variant) {
    let Some(fixture) = GoFixture::build(variant) else {
        return;
    };
    let table = open(&fixture.subject);
    let names: Vec<String> = table.functions().map(|f| f.name.into_owned()).collect();
    for wanted in [
        "main.alphaWork",
        "main.betaWork",
        "main.betaWork.func1",
        "main.(*accumulator).drain",
        "main.apply",
        "main.main",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing: {variant:?}"
        );
    }
    // Inline trees found the stripped way agree with the symbol table.
    let reference = open(&fixture.reference);
    assert!(reference.gofunc().is_some(), "go.func.* from .symtab");
    assert_eq!(table.gofunc(), reference.gofunc(), "{variant:?}");

    if variant.pie() {
        // go 1.19's addr2line cannot read PIE (`.data.rel.ro.gopclntab`):
        // names at entries are checked against `go tool nm` instead.
        agrees_with_nm(&fixture, &table);
    } else {
        agrees_with_addr2line(&fixture, &table, variant);
    }
    inline_chains(&fixture, &table);
    symbolizer_answers_the_same(&fixture, &table, variant);
}

fn agrees_with_addr2line(fixture: &GoFixture, table: &GoTable, variant: Variant) {
    let addresses = probe_addresses(table);
    assert!(addresses.len() > 1000, "{} addresses", addresses.len());
    let expected = addr2line(&fixture.reference, &addresses);
    let mut mismatches = Vec::new();
    let mut inlined = 0;
    for (&address, (function, file, line)) in addresses.iter().zip(&expected) {
        let chain = table
            .symbolize(address)
            .unwrap_or_else(|e| panic!("{address:#x}: {e}"))
            .unwrap_or_else(|| panic!("{address:#x} is in a function"));
        inlined += usize::from(chain.len() > 1);
        let (inner, outer) = (&chain[0], chain.last().unwrap());
        let ours_file = inner.file.clone().unwrap_or_else(|| "?".into());
        let ours_line = inner.line.unwrap_or(0);
        if (&outer.function, &ours_file, ours_line) != (function, file, *line) {
            mismatches.push(format!(
                "{address:#x}: ours {}@{ours_file}:{ours_line}, addr2line {function}@{file}:{line}",
                outer.function
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{variant:?}: {} of {} addresses differ from go tool addr2line:\n{}",
        mismatches.len(),
        addresses.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    // The runtime inlines a lot; a table that never finds a chain is broken.
    assert!(
        inlined > 20,
        "{variant:?}: only {inlined} inlined addresses"
    );
}

fn agrees_with_nm(fixture: &GoFixture, table: &GoTable) {
    let output = go(&["tool", "nm", &fixture.reference.display().to_string()])
        .output()
        .expect("run go tool nm");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    // "  401000 T name with spaces"; several names may share an address.
    let mut by_address: HashMap<u64, Vec<&str>> = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((address, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(name) = rest.strip_prefix("T ").or_else(|| rest.strip_prefix("t ")) else {
            continue;
        };
        // The symbol table marks assembly functions' ABI; the pc table does not.
        let name = name.strip_suffix(".abi0").unwrap_or(name);
        if let Ok(address) = u64::from_str_radix(address, 16) {
            by_address.entry(address).or_default().push(name);
        }
    }
    let mut compared = 0;
    for function in table.functions() {
        // The pc table shortens type arguments to `[...]`, as addr2line shows.
        if function.name.contains("[...]") {
            continue;
        }
        if let Some(names) = by_address.get(&function.entry) {
            let chain = table.symbolize(function.entry).unwrap().unwrap();
            let ours = &chain.last().unwrap().function;
            assert!(names.contains(&ours.as_str()), "{ours} not in {names:?}");
            assert_eq!(function.name, *ours);
            compared += 1;
        }
    }
    assert!(compared > 1000, "only {compared} functions compared");
}

fn frame(s: &Symbol) -> (&str, Option<&str>, Option<u32>) {
    (&s.function, s.file.as_deref().map(base_name), s.line)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Over the addresses of `function`, the distinct chains of length >= 2.
fn chains_in(table: &GoTable, function: &str) -> Vec<Vec<Symbol>> {
    let f = table
        .functions()
        .find(|f| f.name == function)
        .unwrap_or_else(|| panic!("{function} in the table"));
    let mut chains: Vec<Vec<Symbol>> = Vec::new();
    for address in f.entry..f.end {
        let chain = table.symbolize(address).unwrap().unwrap();
        if chain.len() >= 2 && !chains.contains(&chain) {
            chains.push(chain);
        }
    }
    chains
}

fn inline_chains(fixture: &GoFixture, table: &GoTable) {
    let file = Some("main.go");
    let mix = ("main.mix", file, Some(fixture.line_of("mix-body")));
    // alphaWork inlines push, which inlines mix: three frames, each caller
    // at its call site.
    let expected = vec![
        mix,
        (
            "main.(*accumulator).push",
            file,
            Some(fixture.line_of("push-calls-mix")),
        ),
        (
            "main.alphaWork",
            file,
            Some(fixture.line_of("alpha-calls-push")),
        ),
    ];
    let chains = chains_in(table, "main.alphaWork");
    assert!(
        chains
            .iter()
            .any(|c| c.iter().map(frame).collect::<Vec<_>>() == expected),
        "alphaWork -> push -> mix not among {chains:#?}"
    );
    // The closure inlines mix.
    let expected = vec![
        mix,
        (
            "main.betaWork.func1",
            file,
            Some(fixture.line_of("closure-calls-mix")),
        ),
    ];
    let chains = chains_in(table, "main.betaWork.func1");
    assert!(
        chains
            .iter()
            .any(|c| c.iter().map(frame).collect::<Vec<_>>() == expected),
        "betaWork.func1 -> mix not among {chains:#?}"
    );
}

/// `(address, file offset, size)` of each loadable segment.
fn segments(path: &Path) -> Vec<(u64, u64, u64)> {
    let data = std::fs::read(path).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    elf.segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (s.address(), offset, size)
        })
        .collect()
}

fn file_offset(segments: &[(u64, u64, u64)], address: u64) -> u64 {
    let (base, offset, _) = segments
        .iter()
        .find(|(base, _, size)| (*base..base + size).contains(&address))
        .expect("address in a segment");
    address - base + offset
}

fn symbolizer_answers_the_same(fixture: &GoFixture, table: &GoTable, variant: Variant) {
    // Go's own linker writes no GNU build-id (a content id then); gcc's
    // linker, for cgo, does.
    let build_id = file_id(&fixture.subject);
    assert_eq!(build_id.is_build_id(), variant.cgo(), "{variant:?}");
    let hints = [fixture.subject.display().to_string()];
    let layout = segments(&fixture.subject);
    let addresses: Vec<u64> = probe_addresses(table).into_iter().step_by(7).collect();
    let requests: Vec<FrameRequest<'_>> = addresses
        .iter()
        .map(|&a| FrameRequest {
            build_id: &build_id,
            file_offset: file_offset(&layout, a),
            path_hints: &hints,
        })
        .collect();
    let mut symbolizer = Symbolizer::new(DebugInfoLocator::new(vec![], true));
    let results = symbolizer.symbolize(&requests);
    for (address, result) in addresses.iter().zip(results) {
        let expected = table.symbolize(*address).unwrap().unwrap();
        assert_eq!(
            result.as_ref(),
            Ok(&expected),
            "{variant:?} at {address:#x}"
        );
    }
    // C code is outside the Go table: blazesym names it from the symbols
    // gcc's linker kept (none once stripped).
    if variant == Variant::Cgo {
        let elf_data = std::fs::read(&fixture.subject).unwrap();
        let elf = object::File::parse(&*elf_data).unwrap();
        let gamma = object::ObjectSymbolTable::symbols(&elf.symbol_table().unwrap())
            .find(|s| object::ObjectSymbol::name(s) == Ok("gamma_work"))
            .map(|s| object::ObjectSymbol::address(&s))
            .expect("gamma_work in .symtab");
        assert_eq!(
            table.symbolize(gamma).unwrap(),
            None,
            "C is not in the Go table"
        );
        let result = symbolizer.symbolize(&[FrameRequest {
            build_id: &build_id,
            file_offset: file_offset(&layout, gamma + 1),
            path_hints: &hints,
        }]);
        let chain = result[0].as_ref().expect("gamma_work symbolized");
        assert_eq!(chain.last().unwrap().function, "gamma_work");
    }
}

#[test]
fn plain_go_binary_matches_addr2line() {
    check_variant(Variant::Plain);
}

#[test]
fn stripped_go_binary_matches_addr2line() {
    check_variant(Variant::Stripped);
}

#[test]
fn cgo_binary_matches_addr2line() {
    check_variant(Variant::Cgo);
}

#[test]
fn stripped_cgo_binary_matches_addr2line() {
    check_variant(Variant::CgoStripped);
}

#[test]
fn stripped_pie_binary_matches_nm() {
    check_variant(Variant::PieStripped);
}

#[test]
fn stripped_cgo_pie_binary_matches_nm() {
    check_variant(Variant::CgoPieStripped);
}

/// Patches the section's bytes of a copy of `binary` and writes it out.
fn patched(binary: &Path, dir: &Path, patch: impl FnOnce(&mut [u8])) -> PathBuf {
    let mut data = std::fs::read(binary).unwrap();
    let (offset, size) = {
        let elf = object::File::parse(&*data).unwrap();
        let section = elf.section_by_name(".gopclntab").unwrap();
        section.file_range().unwrap()
    };
    patch(&mut data[offset as usize..(offset + size) as usize]);
    let out = dir.join("patched");
    std::fs::write(&out, data).unwrap();
    out
}

#[test]
fn unknown_versions_and_corrupt_tables_give_errors_never_panics() {
    let Some(fixture) = GoFixture::build(Variant::Stripped) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = open(&fixture.subject);
    let addresses = probe_addresses(&table);

    // Go 1.2-1.15's magic: a clean error.
    let old = patched(&fixture.subject, dir.path(), |t| {
        t[..4].copy_from_slice(&0xffff_fffbu32.to_le_bytes())
    });
    assert!(matches!(
        GoTable::open(&old),
        Err(GoTableError::UnknownMagic { magic: 0xffff_fffb })
    ));
    // Symbolizer falls back to blazesym for it; no panic, one result each.
    let build_id = file_id(&old);
    let hints = [old.display().to_string()];
    let mut symbolizer = Symbolizer::new(DebugInfoLocator::new(vec![], true));
    let results = symbolizer.symbolize(&[FrameRequest {
        build_id: &build_id,
        file_offset: 0x1000,
        path_hints: &hints,
    }]);
    assert_eq!(results.len(), 1);

    // Random damage anywhere in the table: errors or odd names, never a
    // panic, never a hang.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..40 {
        let broken = patched(&fixture.subject, dir.path(), |t| {
            for _ in 0..(1 + round * 4) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % t.len() as u64) as usize;
                t[at] = (seed >> 32) as u8;
            }
        });
        let Ok(Some(table)) = GoTable::open(&broken) else {
            continue;
        };
        let mut answered = HashMap::new();
        for &address in addresses.iter().step_by(3) {
            let ok = table.symbolize(address).is_ok();
            *answered.entry(ok).or_insert(0) += 1;
        }
        assert!(!answered.is_empty());
    }
}

/// A copy of `binary` whose section `name` has become `SHT_NOBITS`, as in
/// a debug file cut without it.
fn without_bytes(binary: &Path, dir: &Path, name: &str) -> PathBuf {
    let mut data = std::fs::read(binary).unwrap();
    let index = {
        let elf = object::File::parse(&*data).unwrap();
        elf.section_by_name(name).unwrap().index().0
    };
    let u64_at = |d: &[u8], at: usize| u64::from_le_bytes(d[at..at + 8].try_into().unwrap());
    let shoff = u64_at(&data, 0x28) as usize;
    let sh_type = shoff + index * 64 + 4;
    data[sh_type..sh_type + 4].copy_from_slice(&object::elf::SHT_NOBITS.to_le_bytes());
    let out = dir.join(format!("without{}", name.replace('.', "-")));
    std::fs::write(&out, data).unwrap();
    out
}

#[test]
fn missing_inline_bytes_degrade_to_the_outermost_function_and_a_missing_table_to_blazesym() {
    let Some(fixture) = GoFixture::build(Variant::Stripped) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let full = open(&fixture.subject);
    // `.rodata` holds go:func.*, the inline trees.
    let degraded = open(&without_bytes(&fixture.subject, dir.path(), ".rodata"));
    let mut inlined = 0;
    for address in probe_addresses(&full) {
        let chain = full.symbolize(address).unwrap().unwrap();
        inlined += usize::from(chain.len() > 1);
        let expected = Symbol {
            function: chain.last().unwrap().function.clone(),
            ..chain[0].clone()
        };
        assert_eq!(degraded.symbolize(address).unwrap(), Some(vec![expected]));
    }
    assert!(inlined > 20);

    let no_table = without_bytes(&fixture.subject, dir.path(), ".gopclntab");
    assert!(matches!(
        GoTable::open(&no_table),
        Err(GoTableError::NoTableBytes)
    ));
    let build_id = file_id(&no_table);
    let hints = [no_table.display().to_string()];
    let mut symbolizer = Symbolizer::new(DebugInfoLocator::new(vec![], true));
    let results = symbolizer.symbolize(&[FrameRequest {
        build_id: &build_id,
        file_offset: 0x1000,
        path_hints: &hints,
    }]);
    assert_eq!(results.len(), 1);
}

#[test]
fn a_file_without_gopclntab_is_not_go() {
    let exe = std::env::current_exe().unwrap();
    assert!(GoTable::open(&exe).unwrap().is_none());
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("not-elf");
    std::fs::write(&text, b"#!/bin/sh\n").unwrap();
    assert!(GoTable::open(&text).is_err());
}
