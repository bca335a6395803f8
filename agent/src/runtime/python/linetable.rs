//! The line of an instruction, from a code object's line table: pure
//! decoders of CPython's three formats, no I/O.
//!
//! One convention everywhere: instruction offsets are in 2-byte code units
//! from the start of the code (`co_code` / `co_code_adaptive`), whatever
//! unit the version itself counts in. Callers convert: 3.9's `f_lasti` is
//! in bytes (divide by 2), 3.10's is already in units, and 3.11+ gives
//! `(instr - (code + co_code_adaptive)) / 2`.
//!
//! - 3.9 `co_lnotab`: (byte increment, signed line increment) pairs.
//! - 3.10 `co_linetable` (PEP 626): (byte delta, signed line delta) pairs,
//!   a line delta of -128 meaning "no line".
//! - 3.11+ location table: one entry per run of code units, a header byte
//!   (bit 7 set, a 4-bit kind, length - 1) and kind-dependent varints.
//!
//! A table read from another process may be stale or cut short: decoding
//! never panics and an overrun gives `None`.

use super::offsets::PyVersion;

/// The source line of the instruction `instr_offset_units` code units into
/// a code object whose first line is `firstlineno` and whose line table
/// (`co_lnotab` in 3.9, `co_linetable` from 3.10) is `table`. `None` when
/// the instruction has no line (compiler-generated code), lies past the
/// table, the table is malformed, or the version is not known.
pub fn line_for(
    version: PyVersion,
    firstlineno: u32,
    table: &[u8],
    instr_offset_units: u32,
) -> Option<u32> {
    let first = i64::from(firstlineno);
    let line = match (version.major, version.minor) {
        (3, 9) => lnotab_line(first, table, u64::from(instr_offset_units) * 2),
        (3, 10) => pep626_line(first, table, u64::from(instr_offset_units) * 2),
        (3, 11..=13) => location_line(first, table, u64::from(instr_offset_units)),
        _ => None,
    }?;
    u32::try_from(line).ok()
}

/// 3.9: the line is the first line plus the line increments of every pair
/// whose address (the running sum of byte increments) is at or before the
/// instruction. Like `PyCode_Addr2Line`, an offset past the last pair keeps
/// the last line.
fn lnotab_line(firstlineno: i64, table: &[u8], target_bytes: u64) -> Option<i64> {
    let mut line = firstlineno;
    let mut addr = 0u64;
    for pair in table.chunks_exact(2) {
        addr += u64::from(pair[0]);
        if addr > target_bytes {
            break;
        }
        line += i64::from(pair[1] as i8);
    }
    Some(line)
}

/// 3.10: each pair covers `[start, start + byte delta)` and moves the line
/// by its delta, or marks the range as lineless with -128 (leaving the
/// running line unchanged). Zero-width pairs only carry line movement.
fn pep626_line(firstlineno: i64, table: &[u8], target_bytes: u64) -> Option<i64> {
    let mut line = firstlineno;
    let mut end = 0u64;
    for pair in table.chunks_exact(2) {
        let start = end;
        end += u64::from(pair[0]);
        let delta = pair[1] as i8;
        let range_line = if delta == -128 {
            None
        } else {
            line += i64::from(delta);
            Some(line)
        };
        if (start..end).contains(&target_bytes) {
            return range_line;
        }
    }
    None
}

/// 3.11+ entry kinds (the 4 bits after the entry-start bit).
const KIND_ONE_LINE0: u8 = 10;
const KIND_ONE_LINE2: u8 = 12;
const KIND_NO_COLUMNS: u8 = 13;
const KIND_LONG: u8 = 14;
const KIND_NO_LOCATION: u8 = 15;

/// 3.11+: walks entries, each covering `(header & 7) + 1` code units and
/// moving the line by a delta that depends on its kind: 0 for the short
/// forms (0-9), 0-2 for the one-line forms (10-12), a signed varint for the
/// no-column (13) and long (14) forms; kind 15 has no location.
fn location_line(firstlineno: i64, table: &[u8], target_units: u64) -> Option<i64> {
    let mut line = firstlineno;
    let mut end = 0u64;
    let mut at = 0usize;
    while at < table.len() {
        let header = table[at];
        if header & 0x80 == 0 {
            return None; // not at an entry start: the table is corrupt
        }
        let kind = (header >> 3) & 0x0f;
        let start = end;
        end += u64::from(header & 7) + 1;
        let delta = match kind {
            KIND_ONE_LINE0..=KIND_ONE_LINE2 => i64::from(kind - KIND_ONE_LINE0),
            KIND_NO_COLUMNS | KIND_LONG => read_svarint(table, at + 1)?,
            _ => 0,
        };
        line += delta;
        if (start..end).contains(&target_units) {
            return (kind != KIND_NO_LOCATION).then_some(line);
        }
        // The payload bytes are the ones without the entry-start bit.
        at += 1;
        while at < table.len() && table[at] & 0x80 == 0 {
            at += 1;
        }
    }
    None
}

/// An unsigned varint: 6-bit groups, least significant first, bit 6 set on
/// every group but the last.
fn read_varint(table: &[u8], mut at: usize) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *table.get(at)?;
        if byte & 0x80 != 0 || shift > 56 {
            return None; // ran into the next entry, or absurdly long
        }
        value |= u64::from(byte & 0x3f) << shift;
        if byte & 0x40 == 0 {
            return Some(value);
        }
        shift += 6;
        at += 1;
    }
}

/// A signed varint: the unsigned value's low bit is the sign.
fn read_svarint(table: &[u8], at: usize) -> Option<i64> {
    let raw = read_varint(table, at)?;
    let magnitude = i64::try_from(raw >> 1).ok()?;
    Some(if raw & 1 == 1 { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V39: PyVersion = PyVersion::new(3, 9);
    const V310: PyVersion = PyVersion::new(3, 10);
    const V311: PyVersion = PyVersion::new(3, 11);
    const V312: PyVersion = PyVersion::new(3, 12);

    /// Lines of units 0..n under `version`.
    fn lines(version: PyVersion, first: u32, table: &[u8], n: u32) -> Vec<Option<u32>> {
        (0..n).map(|u| line_for(version, first, table, u)).collect()
    }

    #[test]
    fn lnotab_of_39() {
        // Line 10 for bytes 0..6, 12 for 6..10, back to 11 from byte 10 on.
        let table = [6, 2, 4, (-1i8) as u8];
        assert_eq!(
            lines(V39, 10, &table, 7),
            [10, 10, 10, 12, 12, 11, 11].map(Some)
        );
        // Line increments over 127 are split into pairs with no byte step.
        let big = [0, 127, 0, 73, 2, 0];
        assert_eq!(line_for(V39, 1, &big, 0), Some(201));
        assert_eq!(line_for(V39, 1, &[], 5), Some(1));
    }

    #[test]
    fn pep626_table_of_310() {
        // 4 bytes at +0 (line 5), 2 bytes with no line, 4 bytes at +3 (8),
        // a zero-width pair, then 2 bytes at -2 from 8 (6).
        let table = [4, 0, 2, 0x80, 4, 3, 0, 1, 2, (-3i8) as u8];
        assert_eq!(
            lines(V310, 5, &table, 7),
            [Some(5), Some(5), None, Some(8), Some(8), Some(6), None]
        );
        // A truncated pair is ignored, not misread.
        assert_eq!(line_for(V310, 5, &table[..3], 2), None);
    }

    /// Encodes a 3.11+ entry header.
    fn header(kind: u8, units: u8) -> u8 {
        0x80 | (kind << 3) | (units - 1)
    }

    #[test]
    fn location_table_of_311_and_later() {
        #[rustfmt::skip]
        let table = [
            header(0, 1), 0x05,                        // short form: line 20
            header(11, 2), 4, 9,                       // one-line, +1: 21
            header(KIND_NO_LOCATION, 1),               // no line
            header(KIND_NO_COLUMNS, 3), 0x07,          // svarint -3: 18
            header(KIND_LONG, 2), 0x44, 0x02, 0, 1, 2, // svarint +66: 84
            header(KIND_NO_COLUMNS, 8), 0x00,          // +0, eight units
        ];
        let mut want = vec![
            Some(20),
            Some(21),
            Some(21),
            None,
            Some(18),
            Some(18),
            Some(18),
        ];
        want.extend([Some(84); 10]);
        want.push(None); // past the end
        for version in [V311, V312, PyVersion::new(3, 13)] {
            assert_eq!(lines(version, 20, &table, 18), want, "{version}");
        }
    }

    #[test]
    fn malformed_tables_give_none_not_panics() {
        // Cut inside a varint, a payload byte where a header should be, a
        // varint that never ends.
        assert_eq!(line_for(V311, 1, &[header(KIND_LONG, 1), 0x41], 0), None);
        assert_eq!(line_for(V311, 1, &[0x05], 0), None);
        let endless = [header(KIND_NO_COLUMNS, 1)]
            .into_iter()
            .chain(std::iter::repeat_n(0x7f, 20))
            .collect::<Vec<_>>();
        assert_eq!(line_for(V311, 1, &endless, 0), None);
        // A line driven below zero is no line.
        assert_eq!(
            line_for(V311, 1, &[header(KIND_NO_COLUMNS, 1), 0x05], 0),
            None
        );
        assert_eq!(
            line_for(PyVersion::new(3, 14), 1, &[header(0, 1), 0], 0),
            None
        );
        assert_eq!(line_for(PyVersion::new(3, 8), 1, &[], 0), None);
    }

    /// Prints, for every code object in a few large stdlib modules, its
    /// first line, line table and Python's own line of every code unit.
    const STDLIB_TABLES: &str = r#"
import argparse, dis, typing, inspect, json.decoder, asyncio.base_events
def walk(code):
    yield code
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            yield from walk(const)
def unit_lines(code):
    units = len(code.co_code) // 2
    out = ["-"] * units
    if hasattr(code, "co_lines"):
        for start, end, line in code.co_lines():
            for unit in range(start // 2, min(end // 2, units)):
                out[unit] = "-" if line is None else str(line)
    else:
        starts = list(dis.findlinestarts(code))
        at = 0
        for unit in range(units):
            while at + 1 < len(starts) and starts[at + 1][0] <= 2 * unit:
                at += 1
            out[unit] = str(starts[at][1])
    return ",".join(out)
for module in (argparse, dis, typing, inspect, json.decoder, asyncio.base_events):
    with open(module.__file__, encoding="utf-8") as f:
        top = compile(f.read(), module.__file__, "exec")
    for code in walk(top):
        table = code.co_linetable if hasattr(code, "co_linetable") else code.co_lnotab
        print(code.co_firstlineno, table.hex() or "-", unit_lines(code))
"#;

    fn unhex(s: &str) -> Vec<u8> {
        if s == "-" {
            return Vec::new();
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Property over real compiler output: for every code object of several
    /// stdlib modules, under every installed interpreter, `line_for` agrees
    /// with the interpreter on every code unit.
    #[test]
    fn agrees_with_each_interpreter_on_stdlib_code() {
        let builds = crate::runtime::python::offsets::installed::pyenv_builds();
        assert!(!builds.is_empty(), "no CPython 3.9-3.13 to compare with");
        for build in builds {
            let out = std::process::Command::new(build.python())
                .args(["-c", STDLIB_TABLES])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let (mut codes, mut units) = (0, 0);
            for line in text.lines() {
                let mut words = line.split(' ');
                let first: u32 = words.next().unwrap().parse().unwrap();
                let table = unhex(words.next().unwrap());
                for (unit, want) in words.next().unwrap().split(',').enumerate() {
                    let want = (want != "-").then(|| want.parse::<u32>().unwrap());
                    let got = line_for(build.version, first, &table, unit as u32);
                    assert_eq!(got, want, "{}: unit {unit} of {line}", build.version);
                    units += 1;
                }
                codes += 1;
            }
            assert!(codes > 500, "{}: only {codes} code objects", build.version);
            eprintln!(
                "{}: {codes} code objects, {units} code units agree",
                build.version
            );
        }
    }

    /// A small deterministic generator (xorshift): no extra dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A run of code units on one line (or none), as a compiler emits.
    #[derive(Clone, Copy, Debug)]
    struct Run {
        units: u32,
        line: Option<i64>,
    }

    fn random_runs(rng: &mut Rng, first: i64) -> Vec<Run> {
        let mut line = first;
        (0..rng.below(40))
            .map(|_| {
                let longest = if rng.below(8) == 0 { 300 } else { 6 };
                let units = 1 + rng.below(longest) as u32;
                if rng.below(6) == 0 {
                    return Run { units, line: None };
                }
                let jump = if rng.below(10) == 0 { 400 } else { 4 };
                line = (line + rng.below(2 * jump) as i64 - jump as i64).max(1);
                Run {
                    units,
                    line: Some(line),
                }
            })
            .collect()
    }

    /// What each unit's line must be: the run it falls in.
    fn expected(runs: &[Run]) -> Vec<Option<i64>> {
        runs.iter()
            .flat_map(|r| std::iter::repeat_n(r.line, r.units as usize))
            .collect()
    }

    /// The 3.9 compiler's encoding: line changes only (lnotab cannot say
    /// "no line", so lineless runs keep the previous line).
    fn encode_lnotab(first: i64, runs: &[Run]) -> (Vec<u8>, Vec<Option<i64>>) {
        let mut table = Vec::new();
        let mut want = Vec::new();
        let (mut line, mut pending_bytes) = (first, 0u64);
        for run in runs {
            if let Some(next) = run.line.filter(|&l| l != line) {
                while pending_bytes > 255 {
                    table.extend([255, 0]);
                    pending_bytes -= 255;
                }
                let mut delta = next - line;
                let mut step = pending_bytes as u8;
                while delta != 0 {
                    let d = delta.clamp(-128, 127);
                    table.extend([step, d as i8 as u8]);
                    step = 0;
                    delta -= d;
                }
                line = next;
                pending_bytes = 0;
            }
            pending_bytes += 2 * u64::from(run.units);
            want.extend(std::iter::repeat_n(Some(line), run.units as usize));
        }
        (table, want)
    }

    /// The 3.10 encoding: a (bytes, line delta) pair per run, split to fit.
    fn encode_pep626(first: i64, runs: &[Run]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut line = first;
        for run in runs {
            let mut bytes = 2 * u64::from(run.units);
            match run.line {
                None => {
                    while bytes > 0 {
                        let b = bytes.min(254);
                        table.extend([b as u8, 0x80]);
                        bytes -= b;
                    }
                }
                Some(next) => {
                    let mut delta = next - line;
                    while !(-127..=127).contains(&delta) {
                        let d = delta.clamp(-127, 127);
                        table.extend([0, d as i8 as u8]);
                        delta -= d;
                    }
                    let b = bytes.min(254);
                    table.extend([b as u8, delta as i8 as u8]);
                    bytes -= b;
                    while bytes > 0 {
                        let b = bytes.min(254);
                        table.extend([b as u8, 0]);
                        bytes -= b;
                    }
                    line = next;
                }
            }
        }
        table
    }

    fn push_varint(table: &mut Vec<u8>, mut v: u64) {
        while v >= 64 {
            table.push(0x40 | (v & 0x3f) as u8);
            v >>= 6;
        }
        table.push(v as u8);
    }

    fn push_svarint(table: &mut Vec<u8>, v: i64) {
        push_varint(
            table,
            if v < 0 {
                ((-v) as u64) << 1 | 1
            } else {
                (v as u64) << 1
            },
        );
    }

    /// The 3.11+ encoding, picking among the forms at random so every kind
    /// is exercised.
    fn encode_locations(rng: &mut Rng, first: i64, runs: &[Run]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut line = first;
        for run in runs {
            let mut left = run.units;
            while left > 0 {
                let n = left.min(8) as u8;
                left -= u32::from(n);
                let Some(next) = run.line else {
                    table.push(header(KIND_NO_LOCATION, n));
                    continue;
                };
                let delta = next - line;
                line = next;
                match (delta, rng.below(3)) {
                    (0, 0) => table.extend([header(rng.below(10) as u8, n), 0x15]),
                    (0..=2, 1) => table.extend([header(KIND_ONE_LINE0 + delta as u8, n), 3, 7]),
                    (_, 2) => {
                        table.push(header(KIND_LONG, n));
                        push_svarint(&mut table, delta);
                        push_varint(&mut table, rng.below(3));
                        push_varint(&mut table, rng.below(100));
                        push_varint(&mut table, rng.below(100));
                    }
                    _ => {
                        table.push(header(KIND_NO_COLUMNS, n));
                        push_svarint(&mut table, delta);
                    }
                }
            }
        }
        table
    }

    /// Property: for random line layouts, every format decodes back to the
    /// layout it encodes, for every code unit.
    #[test]
    fn random_layouts_round_trip_in_every_format() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let first = 1 + rng.below(5000) as i64;
            let runs = random_runs(&mut rng, first);
            let want = expected(&runs);
            let n = want.len() as u32;
            let as_u32 =
                |v: &[Option<i64>]| v.iter().map(|l| l.map(|l| l as u32)).collect::<Vec<_>>();

            let (lnotab, lnotab_want) = encode_lnotab(first, &runs);
            assert_eq!(
                lines(V39, first as u32, &lnotab, n),
                as_u32(&lnotab_want),
                "{runs:?}"
            );

            let pep626 = encode_pep626(first, &runs);
            let mut got = lines(V310, first as u32, &pep626, n + 1);
            assert_eq!(got.pop(), Some(None), "past the end");
            assert_eq!(got, as_u32(&want), "{runs:?}");

            let locations = encode_locations(&mut rng, first, &runs);
            let mut got = lines(V312, first as u32, &locations, n + 1);
            assert_eq!(got.pop(), Some(None), "past the end");
            assert_eq!(got, as_u32(&want), "{runs:?}");
        }
    }
}
