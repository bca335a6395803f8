//! Tables checked against ground truth: `readelf --debug-dump=frames-interp`
//! (binutils' own CFI interpreter) for a C fixture built without frame
//! pointers, Debian's libc and `python3`. Every row of every FDE readelf
//! prints is looked up in our table at its first, middle and last byte.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use augur_profile::FileId;
use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};

use super::row::{CfaRule, RaRule, RbpRule, Rules};
use super::{UnwindTable, build_table_from_path};

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
const PYTHON: &str = "/usr/bin/python3";

/// Builds `tests/fixtures/split.c` with `-O2 -g -fomit-frame-pointer` and
/// `extra` as `dir/name`.
pub(crate) fn compile_c(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/split.c");
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O2", "-g", "-fomit-frame-pointer"])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .status()
        .expect("running cc");
    assert!(status.success(), "cc failed: {status}");
    out
}

pub(crate) fn build_id_of(path: &Path) -> FileId {
    let data = std::fs::read(path).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    FileId::from_bytes(elf.build_id().unwrap().expect("a GNU build-id")).unwrap()
}

/// Virtual address to file offset, through the executable `PT_LOAD`s.
struct Layout {
    segments: Vec<(u64, u64, u64)>,
    sections: HashMap<String, (u64, u64)>,
}

impl Layout {
    fn of(path: &Path) -> Self {
        let data = std::fs::read(path).unwrap();
        let elf = object::File::parse(&*data).unwrap();
        let segments = elf
            .segments()
            .filter(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0))
            .map(|s| (s.address(), s.file_range().1, s.file_range().0))
            .collect();
        let sections = elf
            .sections()
            .filter_map(|s| {
                Some((
                    s.name().ok()?.to_owned(),
                    (s.address(), s.address() + s.size()),
                ))
            })
            .collect();
        Self { segments, sections }
    }

    fn offset(&self, vaddr: u64) -> u32 {
        let &(start, _, offset) = self
            .segments
            .iter()
            .find(|&&(start, size, _)| vaddr >= start && vaddr < start + size)
            .unwrap_or_else(|| panic!("{vaddr:#x} is in no executable segment"));
        u32::try_from(vaddr - start + offset).unwrap()
    }

    fn section(&self, name: &str) -> Option<(u64, u64)> {
        self.sections.get(name).copied()
    }
}

/// One FDE as readelf interprets it.
#[derive(Debug)]
struct ReadelfFde {
    section: String,
    start: u64,
    end: u64,
    signal: bool,
    /// (address, CFA, rbp column, ra column).
    rows: Vec<(u64, String, Option<String>, Option<String>)>,
}

fn readelf_frames(path: &Path) -> Vec<ReadelfFde> {
    let output = Command::new("readelf")
        // `-wN`: not the separate debug file a debuglink names, whose
        // NOBITS `.eh_frame` makes readelf fail.
        .args(["--wide", "-wN", "--debug-dump=frames-interp"])
        .arg(path)
        .output()
        .expect("running readelf (binutils)");
    assert!(
        output.status.success(),
        "readelf failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_readelf(&String::from_utf8_lossy(&output.stdout))
}

fn parse_readelf(text: &str) -> Vec<ReadelfFde> {
    #[derive(Clone, Default)]
    struct Cie {
        signal: bool,
        initial: Option<(String, Option<String>, Option<String>)>,
    }
    enum Current {
        None,
        Cie(String),
        Fde(usize),
    }
    let mut section = String::new();
    let mut cies: HashMap<(String, String), Cie> = HashMap::new();
    let mut fdes: Vec<ReadelfFde> = Vec::new();
    let mut current = Current::None;
    let mut columns: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Contents of the ") {
            section = rest.split_whitespace().next().unwrap_or("").to_owned();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [offset, _, _, "CIE", augmentation, ..] => {
                let key = (section.clone(), (*offset).to_owned());
                cies.insert(
                    key,
                    Cie {
                        signal: augmentation.trim_matches('"').contains('S'),
                        initial: None,
                    },
                );
                current = Current::Cie((*offset).to_owned());
            }
            [_, _, _, "FDE", cie, pc, ..] => {
                let cie = cie.strip_prefix("cie=").expect("cie=");
                let (start, end) = pc
                    .strip_prefix("pc=")
                    .and_then(|p| p.split_once(".."))
                    .expect("pc=start..end");
                let info = cies
                    .get(&(section.clone(), cie.to_owned()))
                    .cloned()
                    .unwrap_or_default();
                let start = u64::from_str_radix(start, 16).unwrap();
                let mut fde = ReadelfFde {
                    section: section.clone(),
                    start,
                    end: u64::from_str_radix(end, 16).unwrap(),
                    signal: info.signal,
                    rows: Vec::new(),
                };
                // Without instructions the CIE's initial row applies.
                if let Some((cfa, rbp, ra)) = info.initial {
                    fde.rows.push((start, cfa, rbp, ra));
                }
                fdes.push(fde);
                current = Current::Fde(fdes.len() - 1);
            }
            ["LOC", "CFA", rest @ ..] => {
                columns = rest.iter().map(|c| (*c).to_owned()).collect();
            }
            [loc, cfa, rest @ ..] if loc.len() == 16 && u64::from_str_radix(loc, 16).is_ok() => {
                // A register cell reads `r10 (r10)`: one value, two words.
                let mut values: Vec<String> = Vec::new();
                for word in rest {
                    match values.last_mut() {
                        Some(last) if word.starts_with('(') => {
                            last.push(' ');
                            last.push_str(word);
                        }
                        _ => values.push((*word).to_owned()),
                    }
                }
                let column = |name: &str| {
                    columns
                        .iter()
                        .position(|c| c == name)
                        .and_then(|i| values.get(i))
                        .cloned()
                };
                let row = ((*cfa).to_owned(), column("rbp"), column("ra"));
                match &current {
                    Current::Cie(offset) => {
                        let cie = cies.get_mut(&(section.clone(), offset.clone())).unwrap();
                        cie.initial.get_or_insert(row);
                    }
                    Current::Fde(i) => {
                        let fde = &mut fdes[*i];
                        let loc = u64::from_str_radix(loc, 16).unwrap();
                        if fde.rows.first().is_some_and(|r| r.0 == loc) {
                            fde.rows.clear();
                        }
                        fde.rows.push((loc, row.0, row.1, row.2));
                    }
                    Current::None => {}
                }
            }
            _ => {}
        }
    }
    fdes
}

/// Why our rules disagree with readelf's, or `None` when they agree.
fn disagreement(
    ours: Rules,
    fde: &ReadelfFde,
    (cfa, rbp, ra): (&str, Option<&str>, Option<&str>),
    in_plt: bool,
) -> Option<String> {
    if fde.signal {
        return (ours.cfa != CfaRule::Signal).then(|| format!("signal frame read as {ours:?}"));
    }
    let offset = |text: &str, prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|n| n.parse::<i64>().ok())
    };
    let cfa_ok = match ours.cfa {
        CfaRule::Rsp(n) => offset(cfa, "rsp").is_some_and(|m| m == i64::from(n)),
        CfaRule::Rbp(n) => offset(cfa, "rbp").is_some_and(|m| m == i64::from(n)),
        CfaRule::Plt { rsp_offset: 8, .. } => cfa == "exp" && in_plt,
        CfaRule::DerefRbp(_) => cfa == "exp",
        CfaRule::Unsupported => !cfa.starts_with("rsp") && !cfa.starts_with("rbp"),
        _ => false,
    };
    // Expressions outside a PLT are not silently read as the PLT's.
    let plt_ok = !in_plt || cfa != "exp" || matches!(ours.cfa, CfaRule::Plt { .. });
    let rbp_ok = match (ours.rbp, rbp) {
        (RbpRule::AtCfa(n), Some(text)) => offset(text, "c").is_some_and(|m| m == i64::from(n)),
        (RbpRule::Unchanged, None | Some("u" | "s")) => true,
        (RbpRule::Undefined, Some("u")) => true,
        // Registers, expressions, and offsets the 16-bit field cannot hold.
        (RbpRule::Unsupported, Some(text)) => match offset(text, "c") {
            Some(m) => i16::try_from(m).is_err(),
            None => text != "u" && text != "s",
        },
        _ => false,
    };
    let ra_ok = match (ours.ra, ra) {
        (RaRule::AtCfa(n), Some(text)) => offset(text, "c").is_some_and(|m| m == i64::from(n)),
        (RaRule::Undefined, Some("u")) => true,
        (RaRule::Unsupported, Some(text)) => match offset(text, "c") {
            Some(m) => i8::try_from(m).is_err(),
            None => text != "u",
        },
        _ => false,
    };
    (!(cfa_ok && plt_ok && rbp_ok && ra_ok))
        .then(|| format!("ours {ours:?}, readelf CFA {cfa} rbp {rbp:?} ra {ra:?}"))
}

struct Comparison {
    checked: usize,
    fdes: usize,
    mismatches: Vec<String>,
    plt_rows: usize,
}

/// Looks up every readelf row at its first, middle and last byte.
fn compare_with_readelf(path: &Path, table: &UnwindTable) -> Comparison {
    let layout = Layout::of(path);
    let plt = layout.section(".plt");
    let mut fdes = readelf_frames(path);
    fdes.retain(|f| f.start != 0 && f.end > f.start);
    fdes.sort_by_key(|f| (f.start, f.end));
    // `.eh_frame` wins where `.debug_frame` describes the same code; an
    // address two FDEs of one section claim is ground truth for neither.
    let mut contested = vec![false; fdes.len()];
    let mut reach: Option<(u64, usize)> = None;
    for (i, fde) in fdes.iter().enumerate() {
        if let Some((_, j)) = reach.filter(|&(end, _)| fde.start < end) {
            match (fdes[j].section == ".eh_frame", fde.section == ".eh_frame") {
                (true, false) => contested[i] = true,
                (false, true) => contested[j] = true,
                _ => (contested[i], contested[j]) = (true, true),
            }
        }
        if reach.is_none_or(|(end, _)| fde.end > end) {
            reach = Some((fde.end, i));
        }
    }
    // Furthest end of the FDEs up to each one, to ask "does any FDE cover x".
    let reach_to: Vec<u64> = fdes
        .iter()
        .scan(0, |max, f| {
            *max = (*max).max(f.end);
            Some(*max)
        })
        .collect();
    let covered = |x: u64| {
        let k = fdes.partition_point(|f| f.start <= x);
        k > 0 && reach_to[k - 1] > x
    };
    let mut result = Comparison {
        checked: 0,
        fdes: 0,
        mismatches: Vec::new(),
        plt_rows: 0,
    };
    for (fde, _) in fdes.iter().zip(&contested).filter(|(_, c)| !**c) {
        result.fdes += 1;
        for (i, (loc, cfa, rbp, ra)) in fde.rows.iter().enumerate() {
            let end = fde.rows.get(i + 1).map_or(fde.end, |r| r.0);
            for vaddr in [*loc, loc + (end - loc) / 2, end - 1] {
                let in_plt = plt.is_some_and(|(s, e)| vaddr >= s && vaddr < e);
                let Some(row) = table.lookup(layout.offset(vaddr)) else {
                    result
                        .mismatches
                        .push(format!("{vaddr:#x} ({}): no row", fde.section));
                    continue;
                };
                let rules = row.rules();
                result.plt_rows += usize::from(matches!(rules.cfa, CfaRule::Plt { .. }));
                if let Some(why) =
                    disagreement(rules, fde, (cfa, rbp.as_deref(), ra.as_deref()), in_plt)
                {
                    result
                        .mismatches
                        .push(format!("{vaddr:#x} ({}): {why}", fde.section));
                }
                result.checked += 1;
            }
        }
        // Right after an FDE: another FDE, or no information.
        if !covered(fde.end) {
            if let Some(row) = table.lookup(layout.offset(fde.end - 1) + 1) {
                result.mismatches.push(format!(
                    "{:#x}: no FDE covers it, yet {:?}",
                    fde.end,
                    row.rules()
                ));
            }
        }
    }
    result
}

fn check(path: &Path, min_checked: usize, min_coverage: f64) -> UnwindTable {
    let table = build_table_from_path(path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    let stats = table.stats();
    let comparison = compare_with_readelf(path, &table);
    eprintln!(
        "{}: {} FDEs ({} from .debug_frame), {} rows, {} bytes, .text coverage {:.2}% (supported {:.2}%), \
         built in {:?}; {} addresses in {} FDEs checked against readelf, {} mismatches",
        path.display(),
        stats.fdes,
        stats.fdes_debug_frame,
        stats.rows,
        stats.bytes,
        100.0 * stats.text_coverage(),
        100.0 * stats.text_supported(),
        stats.build_time,
        comparison.checked,
        comparison.fdes,
        comparison.mismatches.len(),
    );
    assert!(
        comparison.mismatches.is_empty(),
        "{} of {} addresses disagree with readelf, first: {:#?}",
        comparison.mismatches.len(),
        comparison.checked,
        &comparison.mismatches[..comparison.mismatches.len().min(20)]
    );
    assert!(
        comparison.checked >= min_checked,
        "only {} addresses checked",
        comparison.checked
    );
    assert!(
        stats.text_coverage() >= min_coverage,
        ".text coverage {:.4} below {min_coverage}",
        stats.text_coverage()
    );
    assert_eq!(stats.fdes_malformed + stats.section_errors, 0, "{stats:?}");
    assert_eq!(stats.bytes, 12 * stats.rows);
    let rows = table.rows();
    assert!(
        rows.windows(2).all(|w| w[0].pc < w[1].pc),
        "rows sorted, one per pc"
    );
    assert!(
        rows.windows(2).all(|w| !w[0].same_rules(&w[1])),
        "equal neighbours merged"
    );
    assert!(
        rows.last().is_some_and(|r| r.is_end()),
        "ends with the marker"
    );
    table
}

/// Every byte of each named function has a row other than the end marker.
fn assert_functions_covered(path: &Path, table: &UnwindTable, names: &[&str]) {
    use object::ObjectSymbol;
    let data = std::fs::read(path).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    let layout = Layout::of(path);
    for name in names {
        let symbol = elf
            .symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("no symbol {name}"));
        assert!(symbol.size() > 0, "{name} has a size");
        for vaddr in symbol.address()..symbol.address() + symbol.size() {
            assert!(
                table.lookup(layout.offset(vaddr)).is_some(),
                "{name}+{:#x} has no unwind row",
                vaddr - symbol.address()
            );
        }
    }
}

/// The `.plt` (after its 16-byte header) reads as the PLT expression.
fn assert_plt(path: &Path, table: &UnwindTable) {
    let layout = Layout::of(path);
    let (start, end) = layout.section(".plt").expect("a .plt section");
    assert!(end - start > 16, "a PLT entry besides the header");
    for vaddr in (start + 16..end).step_by(3) {
        let rules = table.lookup(layout.offset(vaddr)).map(|r| r.rules());
        assert!(
            matches!(
                rules,
                Some(Rules {
                    cfa: CfaRule::Plt {
                        rsp_offset: 8,
                        threshold: 11
                    },
                    ra: RaRule::AtCfa(-8),
                    ..
                })
            ),
            "{}: {vaddr:#x} in .plt reads {rules:?}",
            path.display()
        );
    }
}

#[test]
fn omit_frame_pointer_fixture_matches_readelf() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(dir.path(), "nofp", &[]);
    // crtstuff's helpers (`frame_dummy`, `register_tm_clones`...) come
    // without CFI; every function of the fixture must be covered.
    let table = check(&path, 30, 0.5);
    assert_functions_covered(
        &path,
        &table,
        &["main", "hot_a", "hot_b", "caller_a", "caller_b", "_start"],
    );
    assert_plt(&path, &table);
    // Without frame pointers the hot loops' CFA is rsp-based and moves.
    let rsp_offsets: std::collections::BTreeSet<i32> = table
        .rows()
        .iter()
        .filter_map(|r| match r.rules().cfa {
            CfaRule::Rsp(n) => Some(n),
            _ => None,
        })
        .collect();
    assert!(rsp_offsets.len() >= 3, "{rsp_offsets:?}");
    assert!(
        !table
            .rows()
            .iter()
            .any(|r| matches!(r.rules().cfa, CfaRule::Rbp(_))),
        "no rbp-based CFA in an -fomit-frame-pointer build"
    );
    // `_start` ends the stack.
    assert!(
        table
            .rows()
            .iter()
            .any(|r| r.rules().ra == RaRule::Undefined && !r.is_end())
    );
}

#[test]
fn debug_frame_fills_in_where_eh_frame_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(
        dir.path(),
        "debugframe",
        &["-fno-asynchronous-unwind-tables"],
    );
    let table = check(&path, 20, 0.5);
    assert!(table.stats().fdes_debug_frame >= 5, "{:?}", table.stats());
    assert_functions_covered(
        &path,
        &table,
        &["main", "hot_a", "hot_b", "caller_a", "caller_b"],
    );
}

#[test]
fn libc_matches_readelf() {
    let path = Path::new(LIBC);
    if !path.exists() {
        eprintln!("SKIPPED: {LIBC} is not on this machine");
        return;
    }
    let table = check(path, 20_000, 0.95);
    assert_plt(path, &table);
    // `__restore_rt` is the signal trampoline.
    assert!(
        table
            .rows()
            .iter()
            .any(|r| r.rules().cfa == CfaRule::Signal),
        "a signal frame row"
    );
}

#[test]
fn python3_matches_readelf() {
    let path = Path::new(PYTHON);
    if !path.exists() {
        eprintln!("SKIPPED: {PYTHON} is not on this machine");
        return;
    }
    let table = check(path, 50_000, 0.95);
    assert_plt(path, &table);
}

#[test]
fn readelf_parser_reads_cie_defaults_and_columns() {
    let text = "\
Contents of the .eh_frame section:

00000000 0000000000000014 00000000 CIE \"zR\" cf=1 df=-8 ra=16
   LOC           CFA      ra
0000000000000000 rsp+8    c-8

00000018 0000000000000014 0000001c FDE cie=00000000 pc=0000000000001000..0000000000001010

00000030 0000000000000024 00000034 FDE cie=00000000 pc=0000000000001010..0000000000001040
   LOC           CFA      rbx   rbp   ra
0000000000001010 rsp+8    u     u     c-8
0000000000001011 rsp+16   u     c-16  c-8
0000000000001020 rdi+0    r1 (rdx) r9 (r9) u
";
    let fdes = parse_readelf(text);
    assert_eq!(fdes.len(), 2);
    assert_eq!(
        fdes[0].rows,
        vec![(0x1000, "rsp+8".into(), None, Some("c-8".into()))]
    );
    assert_eq!(fdes[1].rows.len(), 3);
    assert_eq!(
        fdes[1].rows[2],
        (
            0x1020,
            "rdi+0".into(),
            Some("r9 (r9)".into()),
            Some("u".into())
        )
    );
    assert_eq!(
        fdes[1].rows[1],
        (
            0x1011,
            "rsp+16".into(),
            Some("c-16".into()),
            Some("c-8".into())
        )
    );
}

/// A Go program with a frameless leaf called from `main.main`.
const GO_SOURCE: &str = r#"package main

import "os"

//go:noinline
func leaf(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 7
	}
	return s
}

func main() {
	total := 0
	for i := 0; i < len(os.Args)+2; i++ {
		total += leaf(1000 + i)
	}
	os.Exit(total & 1)
}
"#;

/// Builds [`GO_SOURCE`] with Debian's Go, with `ldflags`; `None` (said
/// loudly) without `go`, a failure when every test must run.
fn build_go(dir: &Path, name: &str, ldflags: &str) -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            std::env::var_os("AUGUR_REQUIRE_ALL").is_none_or(|v| v != "1"),
            "go is required (AUGUR_REQUIRE_ALL=1) but not installed"
        );
        eprintln!("SKIPPED: go not installed; Go unwind rows are not tested");
        return None;
    }
    let source = dir.join("main.go");
    std::fs::write(&source, GO_SOURCE).unwrap();
    let out = dir.join(name);
    let status = Command::new("go")
        .args(["build", "-ldflags", ldflags, "-o"])
        .arg(&out)
        .arg(&source)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GOCACHE", dir.join("cache"))
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .status()
        .expect("running go build");
    assert!(status.success(), "go build failed: {status}");
    Some(out)
}

#[test]
fn go_functions_unwind_from_gopclntab_stripped_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let Some(full) = build_go(dir.path(), "full", "") else {
        return;
    };
    let stripped = build_go(dir.path(), "stripped", "-s -w").unwrap();
    let data = std::fs::read(&full).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    let symbol = |name: &str| {
        use object::ObjectSymbol;
        // Assembly functions carry their ABI in the symbol table.
        let abi0 = format!("{name}.abi0");
        let s = elf
            .symbols()
            .find(|s| s.name() == Ok(name) || s.name() == Ok(abi0.as_str()))
            .unwrap_or_else(|| panic!("{name} in the symbol table"));
        (s.address(), s.address() + s.size())
    };
    let layout = Layout::of(&full);
    let rules_in = |table: &UnwindTable, (start, end): (u64, u64)| -> Vec<Option<Rules>> {
        (start..end)
            .map(|pc| table.lookup(layout.offset(pc)).map(|row| row.rules()))
            .collect()
    };
    let rules_of = |table: &UnwindTable, function: &str| -> Vec<Rules> {
        rules_in(table, symbol(function))
            .into_iter()
            .map(|r| r.unwrap_or_else(|| panic!("a row for every byte of {function}")))
            .collect()
    };
    let frameless = Rules {
        cfa: CfaRule::Rsp(8),
        rbp: RbpRule::Unchanged,
        ra: RaRule::AtCfa(-8),
    };
    for binary in [&full, &stripped] {
        let table = build_table_from_path(binary).unwrap();
        // The leaf never moves rsp: every byte of it returns through rsp.
        let leaf = rules_of(&table, "main.leaf");
        assert!(leaf.iter().all(|r| *r == frameless), "{binary:?}: {leaf:?}");
        // main.main has a frame after its prologue, with rbp saved below
        // the return address, and is frameless again at its entry.
        let main = rules_of(&table, "main.main");
        assert_eq!(main[0], frameless, "{binary:?}");
        assert!(
            main.iter()
                .any(|r| matches!(r.cfa, CfaRule::Rsp(n) if n > 8) && r.rbp == RbpRule::AtCfa(-16)),
            "{binary:?}: {main:?}"
        );
        // The bottom of every goroutine's stack ends a walk cleanly.
        let goexit = rules_of(&table, "runtime.goexit");
        assert!(
            goexit.iter().all(|r| r.ra == RaRule::Undefined),
            "{binary:?}: {goexit:?}"
        );
        // The stack switchers are not followed.
        let systemstack = rules_of(&table, "runtime.systemstack");
        assert!(systemstack.iter().all(|r| r.cfa == CfaRule::Unsupported));
    }
    // Stripping changes no row of the code.
    let (a, b) = (
        build_table_from_path(&full).unwrap(),
        build_table_from_path(&stripped).unwrap(),
    );
    let text = layout.section(".text").expect("a .text");
    assert_eq!(rules_in(&a, text), rules_in(&b, text));
}
