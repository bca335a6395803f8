//! The web UI's files, `web/assets`, embedded in the binary.
//!
//! `GET /` answers `index.html` with `style.css` inlined in place of its
//! stylesheet link, so the page needs no second request to paint; the ES
//! modules it loads (and the stylesheet itself) are at `/assets/NAME`. There
//! is no build step: the browser runs the modules as they are, which is why
//! each one is served as `text/javascript` (browsers refuse a module of any
//! other type, and every answer carries `nosniff`). Every answer says
//! `no-cache`, as the page always has, so a new binary's files show on the
//! next load. The assets need the same access as the page: read.

use std::sync::LazyLock;

use axum::http::{HeaderValue, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;

const INDEX: &str = include_str!("../assets/index.html");
const STYLE: &str = include_str!("../assets/style.css");
/// What `/` replaces with the stylesheet itself.
const STYLE_LINK: &str = r#"<link rel="stylesheet" href="assets/style.css">"#;

const JS: &str = "text/javascript; charset=utf-8";

/// The files under `/assets/`: name, content type, text.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", STYLE),
    ("main.js", JS, include_str!("../assets/main.js")),
    ("util.js", JS, include_str!("../assets/util.js")),
    ("url_state.js", JS, include_str!("../assets/url_state.js")),
    ("api.js", JS, include_str!("../assets/api.js")),
    ("tree.js", JS, include_str!("../assets/tree.js")),
    ("palette.js", JS, include_str!("../assets/palette.js")),
    ("flame.js", JS, include_str!("../assets/flame.js")),
    ("unnamed.js", JS, include_str!("../assets/unnamed.js")),
    ("timeline.js", JS, include_str!("../assets/timeline.js")),
    ("app.js", JS, include_str!("../assets/app.js")),
    ("graphs.js", JS, include_str!("../assets/graphs.js")),
    ("controls.js", JS, include_str!("../assets/controls.js")),
    ("views.js", JS, include_str!("../assets/views.js")),
    ("deploys.js", JS, include_str!("../assets/deploys.js")),
    ("fleet.js", JS, include_str!("../assets/fleet.js")),
    ("export.js", JS, include_str!("../assets/export.js")),
];

/// The page as served: built once, on the first request.
static PAGE: LazyLock<String> =
    LazyLock::new(|| INDEX.replacen(STYLE_LINK, &format!("<style>\n{STYLE}</style>"), 1));

/// `GET /`: the flame graph browser.
pub(crate) async fn page() -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Html(PAGE.as_str()),
    )
        .into_response()
}

/// `GET /assets/{name}`: one embedded file, or 404.
pub(crate) async fn asset(uri: Uri) -> Result<Response, ApiError> {
    let name = uri.path().strip_prefix("/assets/").unwrap_or_default();
    let Some(&(_, content_type, text)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Err(ApiError::NotFound {
            path: uri.path().chars().take(100).collect(),
        });
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
    }

    #[test]
    fn every_file_in_the_assets_folder_is_embedded_once() {
        let mut on_disk: Vec<String> = std::fs::read_dir(assets_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.push("index.html".into());
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for (name, _, text) in ASSETS {
            let file = std::fs::read_to_string(assets_dir().join(name)).unwrap();
            assert_eq!(&file, text, "{name}");
        }
    }

    #[test]
    fn no_asset_is_over_800_lines() {
        for (name, text) in ASSETS
            .iter()
            .map(|(n, _, t)| (*n, *t))
            .chain([("index.html", INDEX)])
        {
            let lines = text.lines().count();
            assert!(lines <= 800, "{name} has {lines} lines");
        }
    }

    #[test]
    fn the_page_inlines_its_stylesheet() {
        assert_eq!(INDEX.matches(STYLE_LINK).count(), 1);
        assert!(!PAGE.contains("<link"));
        assert!(PAGE.contains(STYLE));
    }

    #[test]
    fn every_module_the_page_loads_is_embedded_as_javascript() {
        let is_js = |name: &str| ASSETS.iter().any(|(n, t, _)| *n == name && *t == JS);
        assert!(INDEX.contains(r#"<script type="module" src="assets/main.js"></script>"#));
        for (name, _, text) in ASSETS {
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split("from \"./")
                    .nth(1)
                    .and_then(|rest| rest.strip_suffix("\";"))
                    .unwrap_or_else(|| panic!("{name}: not a relative import: {line}"));
                assert!(
                    is_js(target),
                    "{name} imports {target}, which is not served"
                );
            }
        }
    }
}
