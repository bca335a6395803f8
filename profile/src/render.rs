//! Text and picture renderings of a [`Profile`]: folded stacks and SVG.

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
    let text = folded(profile);
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = "samples".to_owned();
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
