//! Folded-text import (`augur flame` and `augur diff` read `a;b;c 12`
//! lines): `render::parse_folded`, then `render::stacks_from_keys` as both
//! commands do, then the flame graph they draw from it.
//!
//! Beyond "no panic": imported stacks have no empty names and no name holds
//! a separator, and writing them back out (`render::folded_lines`) parses
//! to the same stacks.

#![no_main]

use augur_profile::render;
use libfuzzer_sys::fuzz_target;

/// Inputs up to this size are also drawn as a flame graph (slow per byte).
const MAX_DRAWN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(lines) = render::parse_folded(text) else {
        return;
    };
    let stacks = render::stacks_from_keys(lines, ";");
    for (stack, _) in &stacks {
        assert!(!stack.is_empty());
        for name in stack {
            assert!(!name.is_empty());
            assert!(!name.contains([';', '\n', '\r']), "{name:?}");
        }
    }
    let folded = render::folded_lines(&stacks);
    let reparsed = render::parse_folded(&folded).expect("our own folded text parses");
    assert_eq!(render::stacks_from_keys(reparsed, ";"), stacks);
    // `augur flame` refuses counts whose total overflows before drawing
    // (inferno would overflow adding them up). inferno's own reading of the
    // text differs in corners (it trims lines, `#` starts a comment), so it
    // may refuse what we parsed, but only with an error.
    let total = stacks
        .iter()
        .try_fold(0u64, |sum, (_, count)| sum.checked_add(*count));
    if data.len() <= MAX_DRAWN && total.is_some() {
        let _ = render::svg_from_folded(&folded, "fuzz", "samples");
    }
});
