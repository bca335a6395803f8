//! Grafana's label selectors, `{service_name="x", k=~"re", k!="v"}`, as
//! the querier parses them from any request body
//! (`augur_web::parse_selector`, web/src/querier/selector.rs).
//!
//! Beyond "no panic" and bounded work: a selector that parses keeps at most
//! the documented number of matchers, every matcher can be applied to any
//! value, and writing the matchers back out parses to the same selector.

#![no_main]

use augur_web::{parse_selector, selector::MAX_MATCHERS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(selector) = parse_selector(text) else {
        return;
    };
    let all: Vec<_> = selector.service.iter().chain(&selector.labels).collect();
    assert!(all.len() <= MAX_MATCHERS);
    for matcher in &all {
        let _ = matcher.matches(text);
        let _ = matcher.matches("");
    }
    // Display quotes values with Rust's escapes, which the parser reads
    // back for printable ASCII, newline and tab.
    let printable = all.iter().all(|m| {
        m.value()
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ' || c == '\n' || c == '\t')
    });
    if printable {
        let again = format!(
            "{{{}}}",
            all.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        );
        let reparsed = parse_selector(&again).expect("written matchers parse");
        assert_eq!(reparsed, selector, "{again}");
    }
});
