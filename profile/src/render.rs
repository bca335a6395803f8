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

/// One line of folded text that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FoldedError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// The lines of folded text (`a;b;c COUNT`) as `(stack, count)`, the stack
/// still `;`-joined; blank lines are skipped.
pub fn parse_folded(text: &str) -> Result<Vec<(&str, u64)>, FoldedError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| FoldedError {
            line: i + 1,
            message,
        };
        let (stack, count) = line
            .rsplit_once(' ')
            .ok_or_else(|| err("expected `a;b;c COUNT`".into()))?;
        let count = count
            .trim()
            .parse()
            .map_err(|_| err(format!("{count:?} is not a count")))?;
        out.push((stack, count));
    }
    Ok(out)
}

/// A speedscope file (https://www.speedscope.app/file-format-schema.json)
/// holding one sampled profile.
#[derive(Debug, serde::Serialize)]
pub struct Speedscope {
    #[serde(rename = "$schema")]
    schema: &'static str,
    exporter: &'static str,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    shared: SpeedscopeShared,
    profiles: [SpeedscopeProfile; 1],
}

#[derive(Debug, serde::Serialize)]
struct SpeedscopeShared {
    frames: Vec<SpeedscopeFrame>,
}

#[derive(Debug, serde::Serialize)]
struct SpeedscopeFrame {
    name: String,
}

#[derive(Debug, serde::Serialize)]
struct SpeedscopeProfile {
    r#type: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: u64,
    #[serde(rename = "endValue")]
    end_value: u64,
    samples: Vec<Vec<usize>>,
    weights: Vec<u64>,
}

/// Root-first stacks as a speedscope file: frame names are shared, each
/// stack weighs its count times `weight` in `unit` (`"nanoseconds"`, or
/// `"none"` for plain counts).
pub fn speedscope(
    exporter: &'static str,
    name: &str,
    unit: &'static str,
    stacks: &[(Vec<String>, u64)],
    weight: u64,
) -> Speedscope {
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut frames = Vec::new();
    let samples = stacks
        .iter()
        .map(|(stack, _)| {
            stack
                .iter()
                .map(|frame| {
                    *index.entry(frame).or_insert_with(|| {
                        frames.push(SpeedscopeFrame {
                            name: frame.clone(),
                        });
                        frames.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    let weights: Vec<u64> = stacks
        .iter()
        .map(|(_, n)| n.saturating_mul(weight))
        .collect();
    Speedscope {
        schema: "https://www.speedscope.app/file-format-schema.json",
        exporter,
        name: name.to_owned(),
        active_profile_index: 0,
        shared: SpeedscopeShared { frames },
        profiles: [SpeedscopeProfile {
            r#type: "sampled",
            name: name.to_owned(),
            unit,
            start_value: 0,
            end_value: weights.iter().sum(),
            samples,
            weights,
        }],
    }
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
    // Colours from a hash of each function's name, as flamegraph.pl's
    // --hash: the same function has the same colour in every graph and
    // every download (inferno's default draws them from a generator seeded
    // once per thread, so one profile came out in different colours).
    options.hash = true;
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
    // inferno reads folded text a little differently from us (it trims
    // lines; `#` starts a comment) and on some such input computes a frame
    // of infinite width, whose colour overflows: a panic where overflow is
    // checked. A renderer's panic becomes this request's error.
    let mut out = Vec::new();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        inferno::flamegraph::from_lines(&mut options, text.lines(), &mut out)
    }))
    .map_err(|_| io::Error::other("the flame graph renderer failed on this input"))??;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_that_overflows_inferno_is_an_error_not_a_panic() {
        // Found by the folded_import fuzz target (inferno 0.12.8,
        // flamegraph/color/mod.rs:421).
        let data = include_bytes!("../../fuzz/corpus/folded_import/regression-e8f58c26e232");
        let text = String::from_utf8_lossy(data);
        let stacks = stacks_from_keys(parse_folded(&text).unwrap_or_default(), ";");
        let folded = folded_lines(&stacks);
        let drawn = std::panic::catch_unwind(|| svg_from_folded(&folded, "fuzz", "samples"));
        assert!(drawn.is_ok(), "inferno's panic escaped svg_from_folded");
    }

    #[test]
    fn a_function_has_the_same_colour_on_every_thread_and_in_every_graph() {
        let folded = "main;alpha 30\nmain;beta 10\nmain;alpha;gamma 5\n";
        let draw = |text: &'static str| {
            std::thread::spawn(move || svg_from_folded(text, "t", "samples").unwrap())
                .join()
                .unwrap()
        };
        let (first, second) = (draw(folded), draw(folded));
        assert_eq!(first, second, "one profile drawn twice differs");
        // The fill of the rectangle of `function`'s frame in an SVG.
        fn fill_of(svg: &[u8], function: &str) -> String {
            let svg = String::from_utf8_lossy(svg);
            let at = svg
                .find(&format!("<title>{function} ("))
                .unwrap_or_else(|| panic!("no frame {function}"));
            let rest = &svg[at..];
            let fill = rest.find("fill=\"").expect("a filled rectangle") + 6;
            rest[fill..fill + rest[fill..].find('"').unwrap()].to_owned()
        }
        // Another graph where gamma is drawn, and beta is not.
        let other = draw("main;gamma 7\nmain;alpha 1\n");
        for function in ["alpha", "gamma"] {
            assert_eq!(
                fill_of(&first, function),
                fill_of(&other, function),
                "{function}"
            );
        }
    }

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
