//! Text and picture renderings of a [`Profile`] (folded stacks and SVG), and
//! of any hierarchy: keys split on a separator become stacks, so a flame
//! graph shows where counts concentrate in, say, 100,000 metric names.

use std::io;

use crate::Profile;

/// Brendan Gregg's folded format: `root;caller;leaf count` per line.
/// Semicolons and newlines inside names are replaced so lines stay parseable.
pub fn folded(profile: &Profile) -> String {
    let mut out = String::new();
    for (stack, count) in profile.folded_stacks() {
        let names: Vec<String> = stack.iter().map(|n| sanitize(n)).collect();
        out.push_str(&names.join(";"));
        out.push(' ');
        out.push_str(&count.to_string());
        out.push('\n');
    }
    out
}

fn sanitize(name: &str) -> String {
    name.replace([';', '\n', '\r'], ":")
}

/// An interactive inferno flame graph of the profile.
pub fn svg(profile: &Profile, title: &str) -> io::Result<Vec<u8>> {
    svg_from_folded(&folded(profile), title, "samples")
}

/// Stacks from hierarchical keys: each key is split on `separator` into a
/// root-first stack (empty parts, as in `a//b`, are skipped) and weighs its
/// value; identical stacks add up. Keys with no parts are ignored.
pub fn stacks_from_keys<'a>(
    keys: impl IntoIterator<Item = (&'a str, u64)>,
    separator: &str,
) -> Vec<(Vec<String>, u64)> {
    let mut merged: std::collections::BTreeMap<Vec<String>, u64> = Default::default();
    for (key, weight) in keys {
        let parts: Vec<String> = key
            .split(separator)
            .filter(|p| !p.is_empty())
            .map(sanitize)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let total = merged.entry(parts).or_default();
        *total = total.saturating_add(weight);
    }
    merged.into_iter().collect()
}

/// Folded text of root-first stacks.
pub fn folded_lines(stacks: &[(Vec<String>, u64)]) -> String {
    let mut out = String::new();
    for (stack, count) in stacks {
        let names: Vec<String> = stack.iter().map(|n| sanitize(n)).collect();
        out.push_str(&names.join(";"));
        out.push(' ');
        out.push_str(&count.to_string());
        out.push('\n');
    }
    out
}

/// An interactive inferno flame graph of folded text, counting `count_name`.
pub fn svg_from_folded(text: &str, title: &str, count_name: &str) -> io::Result<Vec<u8>> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = count_name.to_owned();
    if text.is_empty() {
        // inferno refuses empty input; an empty profile still gets a picture.
        let title = title.replace('&', "&amp;").replace('<', "&lt;");
        return Ok(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" height=\"60\">\
             <text x=\"600\" y=\"24\" text-anchor=\"middle\">{title}</text>\
             <text x=\"600\" y=\"48\" text-anchor=\"middle\">no samples in this range</text></svg>"
        )
        .into_bytes());
    }
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut options, text.lines(), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_stacks_that_add_up() {
        let keys = [
            ("clnt//s/strato/pending", 1),
            ("clnt//s/strato/requests", 1),
            ("clnt//s/strato/pending", 1),
            ("srv/http/requests", 5),
            ("//", 9),
        ];
        let stacks = stacks_from_keys(keys, "/");
        assert_eq!(
            stacks,
            vec![
                (
                    vec!["clnt".into(), "s".into(), "strato".into(), "pending".into()],
                    2
                ),
                (
                    vec![
                        "clnt".into(),
                        "s".into(),
                        "strato".into(),
                        "requests".into()
                    ],
                    1
                ),
                (vec!["srv".into(), "http".into(), "requests".into()], 5),
            ]
        );
        assert_eq!(folded_lines(&stacks[2..]), "srv;http;requests 5\n");
        // Names cannot break the folded format.
        let odd = stacks_from_keys([("a;b/c d", 1)], "/");
        assert_eq!(folded_lines(&odd), "a:b;c d 1\n");
    }
}
