//! The web UI in headless Chromium over WebDriver, against a real server
//! holding real data: loadgen batches pushed over gRPC for most checks, and
//! eBPF samples of the split fixture (two builds, so two versions) for the
//! end-to-end one. The page is driven as a user would (select, click, type,
//! drag) and observed through its `data-testid` attributes and
//! `window.augur.state()`.

use std::process::Command;
use std::time::{Duration, Instant};

use augur_tests::webdriver::{ChromeDriver, Session, browser_available};
use augur_tests::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn have_browser() -> bool {
    require(
        browser_available(),
        "chromium and chromedriver (apt-get install chromium chromium-driver)",
    )
}

/// A server holding loadgen data: 2 services, 4 hosts (so each service has
/// two `host` label values), a few seconds of batches drawing from `stacks`
/// distinct stacks per service.
struct LoadedServer {
    _dir: tempfile::TempDir,
    server: AugurProcess,
    base: String,
}

fn loaded_server(seed: &str, stacks: u32) -> LoadedServer {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let output = Command::new(augur_bin())
        .args(["loadgen", "--report", "json", "--server", &ingest])
        .args(["--hosts", "4", "--services", "2"])
        .args(["--stacks", &stacks.to_string()])
        .args(["--rows-per-batch", &stacks.min(1000).to_string()])
        .args(["--interval", "500ms", "--duration", "3s", "--seed", seed])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "loadgen report is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(output.status.success(), "loadgen failed: {report}");
    let expected = report["samples_acknowledged"].as_u64().unwrap();
    assert!(expected > 0, "loadgen stored nothing: {report}");
    // Acknowledged means committed; the services list must show it all.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let services = http_json(&format!("{base}api/v1/services")).unwrap();
        let stored: u64 = services["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["samples"].as_u64().unwrap())
            .sum();
        if stored == expected {
            break;
        }
        assert!(Instant::now() < deadline, "stored {stored} of {expected}");
        std::thread::sleep(Duration::from_millis(200));
    }
    LoadedServer {
        _dir: dir,
        server,
        base,
    }
}

/// Waits until the page has nothing loading or animating; returns its state.
fn idle(session: &Session<'_>) -> Value {
    let state = session
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             (async () => { for (let i = 0; i < 600 && !window.augur; i++) await new Promise(r => setTimeout(r, 50)); \
             done(await window.augur.whenIdle()); })();",
            &[],
        )
        .unwrap();
    assert_eq!(
        state["errors"],
        Value::Array(vec![]),
        "page errors: {state}"
    );
    state
}

/// Selects `value` in the `<select>` with `data-testid=testid`.
fn choose(session: &Session<'_>, testid: &str, value: &str) {
    let option = session
        .find(&format!(
            "[data-testid=\"{testid}\"] option[value=\"{value}\"]"
        ))
        .unwrap_or_else(|e| panic!("no option {value} in {testid}: {e:#}"));
    session.click(&option).unwrap();
}

fn click_test_id(session: &Session<'_>, testid: &str) {
    let element = session.by_test_id(testid).unwrap();
    session.click(&element).unwrap();
}

/// The client rectangle of a drawn flame-graph box (see `window.augur.frameRect`).
fn frame_rect(session: &Session<'_>, name: Option<&str>, depth: u32) -> Value {
    session
        .execute(
            "return window.augur.frameRect(arguments[0], arguments[1]);",
            &[name.into(), depth.into()],
        )
        .unwrap()
}

fn center(rect: &Value) -> (f64, f64) {
    (
        rect["centerX"].as_f64().unwrap(),
        rect["centerY"].as_f64().unwrap(),
    )
}

/// Saves a screenshot to `$AUGUR_BROWSER_SCREENSHOTS/NAME.png` when that
/// variable names a directory: a look at what the tests saw.
fn snap(session: &Session<'_>, name: &str) {
    if let Some(dir) = std::env::var_os("AUGUR_BROWSER_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        session.screenshot(&path).unwrap();
        println!("screenshot: {}", path.display());
    }
}

/// GETs the page's download link `testid` and saves the body to `path`.
fn download(session: &Session<'_>, testid: &str, path: &std::path::Path) -> Vec<u8> {
    let link = session.by_test_id(testid).unwrap();
    let href = session.property(&link, "href").unwrap();
    let href = href.as_str().expect("the download link has an href");
    let (status, body) = http_get(href).unwrap();
    assert_eq!(
        status,
        200,
        "GET {href}: {}",
        String::from_utf8_lossy(&body)
    );
    std::fs::write(path, &body).unwrap();
    body
}

fn timeline_exists(base: &str) -> bool {
    let (status, _) = http_get(&format!("{base}api/v1/timeline?service=x")).unwrap();
    status != 404
}

#[test]
fn flame_graph_zooms_searches_reloads_and_downloads() {
    if !have_browser() {
        return;
    }
    let data = loaded_server("21", 2000);
    let base = data.base.clone();
    let driver = ChromeDriver::start().unwrap();
    let session = driver.session(1400, 1000).unwrap();
    session.navigate(&base).unwrap();
    let first = idle(&session);
    assert_eq!(first["service"], "loadgen-svc-0", "{first}");

    // Select a service.
    choose(&session, "service", "loadgen-svc-1");
    let st = idle(&session);
    assert_eq!(st["service"], "loadgen-svc-1", "{st}");
    assert_eq!(st["view"], "flame");
    assert!(st["totalSamples"].as_u64().unwrap() > 0, "{st}");
    assert!(st["nodesTotal"].as_u64().unwrap() > 100, "{st}");
    assert!(
        st["nodesDrawn"].as_u64().unwrap() > 10,
        "nothing drawn: {st}"
    );
    assert!(st["lastRenderMs"].as_f64().unwrap() > 0.0, "{st}");
    assert!(st["load"]["firstDrawMs"].as_f64().unwrap() > 0.0, "{st}");
    println!("page timings (debug server, small profile): {}", st["load"]);
    assert!(
        session
            .current_url()
            .unwrap()
            .contains("service=loadgen-svc-1"),
        "the URL holds the service"
    );

    snap(&session, "flame");

    // The samples-over-time chart, when the server has the endpoint.
    if timeline_exists(&base) {
        assert_eq!(st["timeline"]["available"], true, "{st}");
        assert!(st["timeline"]["points"].as_u64().unwrap() >= 1, "{st}");
    } else {
        assert_eq!(st["timeline"]["available"], false, "{st}");
        let hidden = session
            .execute(
                "return document.getElementById('timeline-box').hidden;",
                &[],
            )
            .unwrap();
        assert_eq!(hidden, true, "the chart hides without the endpoint");
    }

    // A tooltip on hover, with self, total and share.
    let rect = frame_rect(&session, None, 2);
    assert!(rect.is_object(), "no box at depth 2: {st}");
    let (x, y) = center(&rect);
    session.hover_at(x, y).unwrap();
    let tooltip = session
        .wait_for(
            "!document.getElementById('tooltip').hidden && document.getElementById('tooltip').innerText",
            WAIT,
        )
        .unwrap();
    snap(&session, "tooltip");
    let tooltip = tooltip.as_str().unwrap();
    assert!(
        tooltip.contains("Total") && tooltip.contains("Self") && tooltip.contains("% of all"),
        "tooltip: {tooltip}"
    );

    // Frames too narrow to draw are merged into a visible box, not dropped.
    assert!(st["otherNodes"].as_u64().unwrap() > 0, "{st}");
    assert!(
        st["mergedFrames"].as_u64().unwrap() > st["otherNodes"].as_u64().unwrap(),
        "{st}"
    );
    let other = session
        .execute("return window.augur.otherRect();", &[])
        .unwrap();
    let (ox, oy) = center(&other);
    session.hover_at(ox, oy).unwrap();
    let tip = session
        .wait_for(
            "!document.getElementById('tooltip').hidden && document.getElementById('tooltip').innerText",
            WAIT,
        )
        .unwrap();
    assert!(
        tip.as_str().unwrap().starts_with("other ("),
        "tooltip: {tip}"
    );

    // Click to zoom: the zoom path and breadcrumbs follow.
    let name = rect["name"].as_str().unwrap().to_owned();
    session.click_at(x, y, false).unwrap();
    let zoomed = idle(&session);
    let path: Vec<&str> = zoomed["zoomPath"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(path.len(), 2, "{zoomed}");
    assert_eq!(path[1], name, "{zoomed}");
    let crumbs = session.find_all("[data-testid=crumb]").unwrap();
    assert_eq!(crumbs.len(), 3, "all > depth 1 > depth 2");
    assert_eq!(session.text(&crumbs[2]).unwrap(), name);
    assert!(zoomed["nodesDrawn"].as_u64().unwrap() > 0, "{zoomed}");
    // The zoomed frame now spans the graph.
    let wide = frame_rect(&session, Some(&name), 2);
    assert!(
        wide["width"].as_f64().unwrap() > 1000.0,
        "zoomed frame is {wide}"
    );

    // Search: kernel frames of the loadgen stacks, with the matched share.
    let search = session.by_test_id("search").unwrap();
    session.send_keys(&search, "do_syscall_64\u{E007}").unwrap();
    let searched = idle(&session);
    snap(&session, "zoom-search");
    let share = searched["matchedShare"].as_f64().unwrap();
    assert!(
        share > 0.0 && share < 1.0,
        "matched share {share}: {searched}"
    );
    let label = session
        .text(&session.by_test_id("search-match").unwrap())
        .unwrap();
    assert!(label.contains('%'), "match label: {label}");

    // Icicle layout.
    click_test_id(&session, "layout-icicle");
    let icicle = idle(&session);
    snap(&session, "icicle");
    assert_eq!(icicle["layout"], "icicle");
    assert!(icicle["nodesDrawn"].as_u64().unwrap() > 0);

    // A shared URL gives the same view in a fresh browser.
    let url = session.current_url().unwrap();
    assert!(
        url.contains("zoom=") && url.contains("search=do_syscall_64"),
        "{url}"
    );
    let other = driver.session(1400, 1000).unwrap();
    other.navigate(&url).unwrap();
    let shared = idle(&other);
    for key in [
        "service", "view", "layout", "zoomPath", "search", "from", "to",
    ] {
        assert_eq!(shared[key], icicle[key], "{key} differs after reload");
    }
    assert!(
        (shared["matchedShare"].as_f64().unwrap() - share).abs() < 1e-9,
        "{shared}"
    );
    assert!(shared["nodesDrawn"].as_u64().unwrap() > 0);
    let crumbs = other.find_all("[data-testid=crumb]").unwrap();
    assert_eq!(crumbs.len(), 3);
    drop(other);

    // Download the pprof through the page's link and read it with Go's pprof.
    let dir = tempfile::tempdir().unwrap();
    let pprof = dir.path().join("page.pb.gz");
    let bytes = download(&session, "download-pprof", &pprof);
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "pprof is gzipped");
    if require(have("go", "version"), "go (go tool pprof)") {
        let top = go_pprof_top(&pprof, dir.path()).unwrap();
        assert!(top.contains("flat%"), "go tool pprof -top: {top}");
        assert!(pprof_top_function(&top).is_some(), "{top}");
    }
    let folded = download(&session, "download-folded", &dir.path().join("page.folded"));
    let stacks = parse_folded(&String::from_utf8(folded).unwrap());
    let folded_total: u64 = stacks.iter().map(|(_, n)| n).sum();
    assert_eq!(folded_total, st["totalSamples"].as_u64().unwrap());
    let svg = download(&session, "download-svg", &dir.path().join("page.svg"));
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));

    // The speedscope file is generated in the page from the call tree.
    let speedscope = session
        .execute_async(
            "const done = arguments[0];\
             const orig = URL.createObjectURL;\
             URL.createObjectURL = (blob) => { blob.text().then(done); return orig(blob); };\
             document.querySelector('[data-testid=download-speedscope]').click();",
            &[],
        )
        .unwrap();
    let speedscope: Value = serde_json::from_str(speedscope.as_str().unwrap()).unwrap();
    assert_eq!(speedscope["profiles"][0]["type"], "sampled");
    assert_eq!(
        speedscope["profiles"][0]["samples"]
            .as_array()
            .unwrap()
            .len(),
        stacks.len()
    );

    // Top functions: filter and sort.
    let filter = session.by_test_id("top-filter").unwrap();
    session.send_keys(&filter, "libc").unwrap();
    session
        .wait_for(
            "[...document.querySelectorAll('[data-testid=top-row] td:first-child')].every(td => td.innerText.includes('libc'))",
            WAIT,
        )
        .unwrap();
    session.clear(&filter).unwrap();
    session.send_keys(&filter, " ").unwrap();
    let header = session
        .find("[data-testid=top-table] th[data-sort=total]")
        .unwrap();
    session.click(&header).unwrap();
    let sort = session.property(&header, "ariaSort").unwrap();
    assert_eq!(sort, "descending");

    // Sandwich view from the table.
    let row = session
        .find("[data-testid=top-row] td.name button")
        .unwrap();
    let function = session.text(&row).unwrap();
    session.click(&row).unwrap();
    let sandwich = idle(&session);
    snap(&session, "sandwich");
    assert_eq!(sandwich["view"], "sandwich", "{sandwich}");
    assert_eq!(sandwich["fn"], function.as_str());
    assert_eq!(sandwich["sandwich"]["ready"], true);
    // Its samples are the function's total in the JSON answer for the range.
    let json = http_json(&format!(
        "{base}api/v1/profile?service={}&from={}&to={}",
        sandwich["service"].as_str().unwrap(),
        sandwich["resolvedFrom"].as_str().unwrap(),
        sandwich["resolvedTo"].as_str().unwrap()
    ))
    .unwrap();
    let expected = json["top_functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == function.as_str())
        .unwrap_or_else(|| panic!("{function} is a top function"))["total"]
        .as_u64()
        .unwrap();
    assert!(expected > 0);
    assert_eq!(
        sandwich["sandwich"]["samples"].as_u64().unwrap(),
        expected,
        "{sandwich}"
    );

    // Fleet pages.
    click_test_id(&session, "tab-fleet");
    let fleet = idle(&session);
    snap(&session, "fleet");
    assert_eq!(fleet["view"], "fleet");
    assert_eq!(fleet["fleet"]["services"], 2, "{fleet}");
    assert!(fleet["fleet"]["functions"].as_u64().unwrap() > 0, "{fleet}");
    // Loadgen's binaries exist on no disk: their leaves stay unnamed, per
    // binary, and the page says how to name them.
    let unnamed = session
        .execute(
            "const names = [...document.querySelectorAll('[data-testid=fleet-functions] td.name')]\
               .map((td) => td.textContent);\
             const help = document.querySelector('[data-testid=fleet-unnamed-help]');\
             help.open = true;\
             return { names, hidden: help.hidden, text: help.textContent };",
            &[],
        )
        .unwrap();
    snap(&session, "fleet-unnamed-help");
    let names: Vec<&str> = unnamed["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&"[unsymbolized] /usr/bin/loadgen-svc-0"),
        "{unnamed}"
    );
    assert!(!names.contains(&"[unsymbolized]"), "{unnamed}");
    assert_eq!(unnamed["hidden"], false, "{unnamed}");
    let help = unnamed["text"].as_str().unwrap();
    for needle in [
        "how to name them",
        "-dbgsym",
        "--debuginfod URL",
        "upload = true",
    ] {
        assert!(help.contains(needle), "help lacks {needle}: {help}");
    }
    let service_link = session
        .find("[data-testid=fleet-services] td.name button")
        .unwrap();
    session.click(&service_link).unwrap();
    let back = idle(&session);
    assert_eq!(back["view"], "flame");
    assert!(back["nodesDrawn"].as_u64().unwrap() > 0);
    // Its `[loadgen-svc-0+0x…]` leaves get the same help.
    let top_help = session
        .execute(
            "const help = document.querySelector('[data-testid=top-unnamed-help]');\
             return help.hidden ? null : help.querySelector('summary').textContent;",
            &[],
        )
        .unwrap();
    assert!(
        top_help
            .as_str()
            .is_some_and(|t| t.contains("of the self time is in frames without names")),
        "{top_help}"
    );

    // A bad time is a clear message, not a broken page.
    let from = session.by_test_id("from").unwrap();
    session.clear(&from).unwrap();
    session.send_keys(&from, "yesterday\u{E007}").unwrap();
    let bad = idle(&session);
    assert!(
        bad["error"].as_str().unwrap().contains("yesterday"),
        "{bad}"
    );
    session.execute("history.back();", &[]).unwrap();
    let good = idle(&session);
    assert_eq!(good["error"], "", "{good}");
    assert!(good["nodesDrawn"].as_u64().unwrap() > 0, "{good}");

    // Without the timeline endpoint (older servers) the chart hides and
    // the rest works.
    session
        .execute(
            "const real = window.fetch;\
             window.fetch = (url, options) => String(url).includes('api/v1/timeline')\
               ? Promise.resolve(new Response('{\"error\":\"no route\"}', {status: 404}))\
               : real(url, options);",
            &[],
        )
        .unwrap();
    click_test_id(&session, "reload");
    let degraded = idle(&session);
    assert_eq!(degraded["timeline"]["available"], false, "{degraded}");
    assert_eq!(degraded["timeline"]["status"], 404, "{degraded}");
    assert_eq!(degraded["error"], "", "{degraded}");
    assert!(degraded["nodesDrawn"].as_u64().unwrap() > 0, "{degraded}");
    let hidden = session
        .execute(
            "return document.getElementById('timeline-box').hidden;",
            &[],
        )
        .unwrap();
    assert_eq!(hidden, true);

    // Browser history walks back through the views.
    session.execute("history.back();", &[]).unwrap();
    let previous = idle(&session);
    assert_eq!(previous["view"], "fleet", "{previous}");

    assert!(data.server.terminate().unwrap().success());
}

#[test]
fn diff_view_compares_label_sets_and_time_ranges() {
    if !have_browser() {
        return;
    }
    let data = loaded_server("22", 300);
    let base = data.base.clone();
    let driver = ChromeDriver::start().unwrap();
    let session = driver.session(1400, 1000).unwrap();
    session
        .navigate(&format!("{base}?service=loadgen-svc-0"))
        .unwrap();
    idle(&session);

    // Default: this range against the one just before it.
    click_test_id(&session, "tab-diff");
    let st = idle(&session);
    assert_eq!(st["view"], "diff", "{st}");
    assert_eq!(st["dmode"], "time");
    assert_eq!(st["diff"]["ready"], true, "{st}");
    assert!(st["diff"]["second"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(
        st["diff"]["first"], 0,
        "the hour before holds nothing: {st}"
    );
    assert!(st["nodesDrawn"].as_u64().unwrap() > 0, "{st}");

    // Two label sets: host 0 against host 2 (both run loadgen-svc-0).
    click_test_id(&session, "diff-mode-labels");
    idle(&session);
    choose(&session, "label-host", "loadgen-host-2");
    idle(&session);
    choose(&session, "diff-label-host", "loadgen-host-0");
    click_test_id(&session, "diff-apply");
    let st = idle(&session);
    snap(&session, "diff-labels");
    assert_eq!(st["dmode"], "labels", "{st}");
    assert_eq!(st["diff"]["firstLabels"], "host=loadgen-host-0", "{st}");
    assert_eq!(st["diff"]["secondLabels"], "host=loadgen-host-2", "{st}");
    assert!(st["diff"]["first"].as_u64().unwrap() > 0, "{st}");
    assert!(st["diff"]["second"].as_u64().unwrap() > 0, "{st}");
    assert!(st["nodesDrawn"].as_u64().unwrap() > 0, "{st}");
    let changes =
        st["diff"]["increases"].as_u64().unwrap() + st["diff"]["decreases"].as_u64().unwrap();
    assert!(changes > 0, "two hosts' random draws differ: {st}");
    let rows = session.find_all("[data-testid=diff-row]").unwrap();
    assert!(!rows.is_empty());

    // Zoom into the diff; a reload keeps all of it.
    let rect = frame_rect(&session, None, 1);
    let (x, y) = center(&rect);
    session.click_at(x, y, false).unwrap();
    let zoomed = idle(&session);
    assert_eq!(zoomed["zoomPath"].as_array().unwrap().len(), 1, "{zoomed}");
    session.refresh().unwrap();
    let reloaded = idle(&session);
    for key in ["view", "dmode", "labels", "alabels", "zoomPath", "service"] {
        assert_eq!(reloaded[key], zoomed[key], "{key} differs after reload");
    }
    assert_eq!(reloaded["diff"]["ready"], true);

    // Dragging on the chart picks an exact range.
    if timeline_exists(&base) {
        click_test_id(&session, "tab-flame");
        let st = idle(&session);
        assert_eq!(st["timeline"]["available"], true, "{st}");
        let chart = session
            .execute(
                "const r = document.querySelector('[data-testid=timeline-canvas]').getBoundingClientRect();\
                 return [r.left, r.top, r.width, r.height];",
                &[],
            )
            .unwrap();
        let [left, top, width, height] = [0, 1, 2, 3].map(|i| chart[i].as_f64().unwrap());
        session
            .drag(
                (left + width * 0.02, top + height / 2.0),
                (left + width * 0.999, top + height / 2.0),
            )
            .unwrap();
        let st = idle(&session);
        let from = st["from"].as_str().unwrap();
        assert!(from.starts_with("20") && from.ends_with('Z'), "{st}");
        assert!(st["totalSamples"].as_u64().unwrap() > 0, "{st}");
        assert!(session.current_url().unwrap().contains("from=20"));
    }
    assert!(data.server.terminate().unwrap().success());
}

/// Real eBPF samples: two builds of the split fixture under one service
/// name (so two `version` labels), named by the symbolizer; the page shows
/// the 75/25 split, compares the deploys, and its pprof reads as `hot_a`.
#[test]
fn real_profile_split_and_deploy_diff() {
    if !have_browser() || !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    const NAME: &str = "augur-fixture-browser";
    let dir = tempfile::tempdir().unwrap();
    let (v1_dir, v2_dir) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::create_dir(&v1_dir).unwrap();
    std::fs::create_dir(&v2_dir).unwrap();
    let v1 = build_fixture_with(&v1_dir, "split.c", NAME, &["-DAUGUR_VARIANT=1"]).unwrap();
    let v2 = build_fixture_with(&v2_dir, "split.c", NAME, &["-DAUGUR_VARIANT=2"]).unwrap();
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    for build in [&v1, &v2] {
        assert!(Command::new(build).arg("4").status().unwrap().success());
    }
    wait_for_split_profile(&base, NAME, "-10m", 150);
    let deadline = Instant::now() + WAIT;
    while http_json(&format!("{base}api/v1/labels?service={NAME}")).unwrap()["labels"]["version"]
        .as_array()
        .map_or(0, Vec::len)
        < 2
    {
        assert!(Instant::now() < deadline, "two versions never showed up");
        std::thread::sleep(Duration::from_millis(500));
    }

    let driver = ChromeDriver::start().unwrap();
    let session = driver.session(1400, 1000).unwrap();
    session
        .navigate(&format!("{base}?service={NAME}&from=-10m"))
        .unwrap();
    let st = idle(&session);
    assert!(st["nodesDrawn"].as_u64().unwrap() > 0, "{st}");
    let hot_a = frame_rect(&session, Some("hot_a"), 0);
    assert!(hot_a.is_object(), "hot_a is not drawn: {st}");

    let search = session.by_test_id("search").unwrap();
    session.send_keys(&search, "hot_a\u{E007}").unwrap();
    let st = idle(&session);
    snap(&session, "real-search");
    let share = st["matchedShare"].as_f64().unwrap();
    assert!(
        (share - 0.75).abs() <= 0.12,
        "hot_a's share is {share}, not about 75%: {st}"
    );

    // Zoom into main by clicking it.
    let main = frame_rect(&session, Some("main"), 0);
    let (x, y) = center(&main);
    session.click_at(x, y, false).unwrap();
    let st = idle(&session);
    assert_eq!(
        st["zoomPath"].as_array().unwrap().last().unwrap(),
        "main",
        "{st}"
    );

    // Deploy diff: the two builds' versions.
    click_test_id(&session, "tab-diff");
    idle(&session);
    click_test_id(&session, "diff-mode-version");
    let st = idle(&session);
    snap(&session, "diff-versions");
    assert_eq!(st["dmode"], "version", "{st}");
    assert_eq!(st["diff"]["ready"], true, "{st}");
    assert_ne!(st["aversion"], st["bversion"], "{st}");
    assert!(st["diff"]["first"].as_u64().unwrap() > 0, "{st}");
    assert!(st["diff"]["second"].as_u64().unwrap() > 0, "{st}");
    assert!(st["nodesDrawn"].as_u64().unwrap() > 0, "{st}");

    // The pprof behind the page's link reads as the fixture.
    click_test_id(&session, "tab-flame");
    idle(&session);
    let pprof = dir.path().join("browser.pb.gz");
    download(&session, "download-pprof", &pprof);
    if require(have("go", "version"), "go (go tool pprof)") {
        let top = go_pprof_top(&pprof, dir.path()).unwrap();
        assert_eq!(pprof_top_function(&top).as_deref(), Some("hot_a"), "{top}");
    }
    assert!(up.terminate().unwrap().success());
}

/// Two deploys of `shop` written straight into a store (the tests crate
/// links `augur-storage`): `1.0`, then `2.0` ten minutes later in which
/// `render` takes 30% more samples while twenty other functions hold still.
fn write_two_deploys(db: &std::path::Path) -> (i64, i64) {
    use augur_profile::{ProfileType, RawFrame};
    use augur_storage::{BatchWrite, Store, WindowWrite};
    const MINUTE: i64 = 60_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let first = now - now % MINUTE - 20 * MINUTE;
    let second = first + 10 * MINUTE;
    let frame = |f: &str| RawFrame::Kernel {
        function: f.into(),
        module: None,
    };
    let window = |version: &str, start: i64, render: u64| WindowWrite {
        service: "shop".into(),
        labels: [
            ("version".to_owned(), version.to_owned()),
            ("host".to_owned(), "web-1".to_owned()),
            ("build_id".to_owned(), format!("b{version}")),
        ]
        .into(),
        profile_type: ProfileType::cpu(),
        period: 10_000_000,
        window_start_unix_nanos: start,
        stacks: (0..20)
            .map(|i| (vec![frame(&format!("f{i:02}")), frame("main")].into(), 400))
            .chain([(vec![frame("render"), frame("main")].into(), render)])
            .collect(),
    };
    let store = Store::open(db).unwrap();
    store
        .write_batch(&BatchWrite {
            batch_id: "browser-deploys".into(),
            received_unix_nanos: now,
            binaries: vec![],
            windows: vec![window("1.0", first, 4000), window("2.0", second, 5200)],
        })
        .unwrap();
    (first, second)
}

#[test]
fn deploys_view_lists_history_and_compares_with_the_previous() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_two_deploys(&data.join("augur.db"));
    let server = start_server(&data, "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let driver = ChromeDriver::start().unwrap();
    let session = driver.session(1400, 1000).unwrap();
    session.navigate(&format!("{base}?service=shop")).unwrap();
    idle(&session);
    click_test_id(&session, "tab-deploys");
    let st = idle(&session);
    snap(&session, "deploys");
    assert_eq!(st["view"], "deploys", "{st}");
    assert_eq!(st["error"], "", "{st}");
    // The latest deploy is selected, against the one before it.
    assert_eq!(st["deploy"], "2.0", "{st}");
    assert_eq!(st["deploys"]["ready"], true, "{st}");
    assert_eq!(st["deploys"]["deploys"], 2, "{st}");
    assert_eq!(st["deploys"]["base"], "1.0", "{st}");
    assert_eq!(st["deploys"]["first"], 12_000, "{st}");
    assert_eq!(st["deploys"]["second"], 13_200, "{st}");
    assert!(st["deploys"]["nodes"].as_u64().unwrap() >= 22, "{st}");
    let url = session.current_url().unwrap();
    assert!(
        url.contains("view=deploys") && url.contains("deploy=2.0"),
        "{url}"
    );

    // History: one row per deploy, oldest first, with hosts and samples.
    let rows = session
        .execute(
            "return [...document.querySelectorAll('[data-testid=deploy-row]')]\
               .map(r => [...r.cells].map(c => c.innerText));",
            &[],
        )
        .unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][0], "1.0");
    assert_eq!(rows[1][0], "2.0");
    for (row, samples) in rows.iter().zip(["12,000", "13,200"]) {
        assert_eq!(row[1], format!("b{}", row[0].as_str().unwrap()), "{row}");
        assert_eq!(row[4], "web-1", "{row}");
        assert_eq!(row[5], samples, "{row}");
    }
    assert_eq!(rows[0][6], "first deploy");
    assert_eq!(rows[1][6], "1 regression, 0 improvements");

    // The comparison: `render` flagged first, +30%, 0.40 -> ... of self.
    let changes = session
        .execute(
            "return [...document.querySelectorAll('[data-testid=deploy-change-row]')]\
               .map(r => [...r.cells].map(c => c.innerText));",
            &[],
        )
        .unwrap();
    let changes = changes.as_array().unwrap();
    assert!(!changes.is_empty(), "no comparison rows");
    let render = &changes[0];
    assert_eq!(render[0], "render", "{changes:?}");
    assert_eq!(render[1], "regression", "{render}");
    // Self share 4000/12000 -> 5200/13200; normalized change +30%.
    assert_eq!(render[2], "33.3% \u{2192} 39.4%", "{render}");
    assert_eq!(render[3], "33.3% \u{2192} 39.4%", "{render}");
    assert_eq!(render[4], "+30.0%", "{render}");
    // 1,200 extra samples of 10 ms.
    assert_eq!(render[5], "+12.00 CPU-s", "{render}");
    assert_eq!(render[7], "yes", "{render}");
    // Nothing else is flagged; the steady functions did not change.
    for row in &changes[1..] {
        assert_eq!(row[7], "no", "{row}");
        if row[0].as_str().unwrap().starts_with('f') {
            assert_eq!(row[1], "same", "{row}");
            assert_eq!(row[4], "\u{b1}0.0%", "{row}");
        }
    }
    // The timeline is not part of this view.
    let timeline_hidden = session
        .execute(
            "return document.getElementById('timeline-box').hidden;",
            &[],
        )
        .unwrap();
    assert_eq!(timeline_hidden, true);

    // A reload of the URL restores the view.
    session.refresh().unwrap();
    let reloaded = idle(&session);
    assert_eq!(reloaded["view"], "deploys", "{reloaded}");
    assert_eq!(reloaded["deploy"], "2.0", "{reloaded}");
    for key in [
        "deploys", "base", "changes", "flagged", "first", "second", "nodes",
    ] {
        assert_eq!(
            reloaded["deploys"][key], st["deploys"][key],
            "{key} differs after reload"
        );
    }
    let reloaded_rows = session
        .execute(
            "return document.querySelectorAll('[data-testid=deploy-row]').length;",
            &[],
        )
        .unwrap();
    assert_eq!(reloaded_rows, 2);

    // Picking the first deploy has nothing to compare it with.
    session
        .navigate(&format!("{base}?service=shop&view=deploys&deploy=1.0"))
        .unwrap();
    let first = idle(&session);
    assert_eq!(first["deploy"], "1.0", "{first}");
    assert_eq!(first["deploys"]["changes"], 0, "{first}");
    assert!(server.terminate().unwrap().success());
}

/// Python and Java frames are colored by language (blues, greens) and
/// their tooltip names their language and `file:line`.
#[test]
fn runtime_frames_are_colored_by_language_with_their_source_in_the_tooltip() {
    use augur_profile::{ProfileType, RawFrame, Runtime};
    use augur_storage::{BatchWrite, Store, WindowWrite};
    if !have_browser() {
        return;
    }
    const MINUTE: i64 = 60_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let runtime = |runtime, function: &str, file: &str, line, inlined| RawFrame::Runtime {
        runtime,
        function: function.into(),
        file: file.into(),
        line,
        inlined,
    };
    let main = RawFrame::Kernel {
        function: "main".into(),
        module: None,
    };
    let handle = runtime(Runtime::Python, "Server.handle", "server.py", 42, false);
    let get = runtime(Runtime::Java, "com.shop.Cache.get", "Cache.java", 88, false);
    Store::open(&data.join("augur.db"))
        .unwrap()
        .write_batch(&BatchWrite {
            batch_id: "browser-runtime".into(),
            received_unix_nanos: now,
            binaries: vec![],
            windows: vec![WindowWrite {
                service: "polyglot".into(),
                labels: Default::default(),
                profile_type: ProfileType::cpu(),
                period: 10_000_000,
                window_start_unix_nanos: now - now % MINUTE - 5 * MINUTE,
                stacks: vec![
                    (vec![handle, main.clone()].into(), 600),
                    (vec![get, main].into(), 400),
                ],
            }],
        })
        .unwrap();
    let server = start_server(&data, "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let driver = ChromeDriver::start().unwrap();
    let session = driver.session(1400, 1000).unwrap();
    session
        .navigate(&format!("{base}?service=polyglot"))
        .unwrap();
    let st = idle(&session);
    assert_eq!(st["totalSamples"], 1000, "{st}");
    snap(&session, "runtime-frames");

    let info = |name: &str| {
        session
            .execute(
                "return window.augur.frameInfo(arguments[0]);",
                &[name.into()],
            )
            .unwrap()
    };
    // `hsl(H,...)`: the hue of a drawn color.
    let hue = |info: &Value| -> u32 {
        let color = info["color"].as_str().unwrap();
        let hue = color
            .strip_prefix("hsl(")
            .unwrap_or_else(|| panic!("{color}"));
        hue.split(',').next().unwrap().parse().unwrap()
    };
    let python = info("Server.handle");
    assert_eq!(python["language"], "python", "{python}");
    assert_eq!(python["source"], "server.py:42", "{python}");
    assert!((200..=224).contains(&hue(&python)), "{python}");
    let java = info("com.shop.Cache.get");
    assert_eq!(java["language"], "java", "{java}");
    assert!((100..=135).contains(&hue(&java)), "{java}");
    let native = info("main");
    assert_eq!(native["language"], "kernel", "{native}");
    assert!(
        native["color"].as_str().unwrap().starts_with("rgb("),
        "{native}"
    );

    let rect = frame_rect(&session, Some("Server.handle"), 2);
    assert!(rect.is_object(), "no Server.handle box: {st}");
    let (x, y) = center(&rect);
    session.hover_at(x, y).unwrap();
    let tooltip = session
        .wait_for(
            "!document.getElementById('tooltip').hidden && document.getElementById('tooltip').innerText",
            WAIT,
        )
        .unwrap();
    let tooltip = tooltip.as_str().unwrap();
    assert!(
        tooltip.contains("python") && tooltip.contains("server.py:42"),
        "tooltip: {tooltip}"
    );
    let legend = session
        .execute(
            "return document.querySelector('[data-testid=flame-legend]').innerText;",
            &[],
        )
        .unwrap();
    assert!(
        legend.as_str().unwrap().contains("Python") && legend.as_str().unwrap().contains("Java"),
        "{legend}"
    );
}

/// A Go-style heap profile (the four memory types) of two stacks holding
/// `grow` and `steady` bytes, as the Pyroscope SDKs upload them.
fn heap_pprof(grow: u64, steady: u64) -> Vec<u8> {
    use augur_profile::{Location, Profile, ProfileType, RawFrame, Sample};
    let named = |function: &str| {
        Location::new(
            RawFrame::Named {
                function: function.to_owned(),
                origin: "test".to_owned(),
            },
            None,
            Vec::new(),
        )
    };
    let profiles: Vec<Profile> = augur_agent::profiles::MEMORY_TYPES
        .iter()
        .map(|(name, unit)| {
            let value = |bytes: u64| {
                if *unit == "bytes" {
                    bytes
                } else {
                    bytes / 4096
                }
            };
            Profile {
                service: "memsvc".to_owned(),
                profile_type: ProfileType {
                    name: (*name).to_owned(),
                    unit: (*unit).to_owned(),
                },
                period: 1,
                start_unix_nanos: 0,
                end_unix_nanos: 0,
                samples: vec![
                    Sample {
                        locations: vec![named("grow_cache"), named("main")],
                        count: value(grow),
                    },
                    Sample {
                        locations: vec![named("steady_pool"), named("main")],
                        count: value(steady),
                    },
                ],
            }
        })
        .collect();
    augur_wire::pprof::encode_types(&profiles).unwrap()
}

#[test]
fn memory_in_use_diff_shows_what_grew_in_bytes() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    // Two minutes: the cache grows from 10 to 40 MiB, the pool stays at 50.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (first, second) = (now / 60 * 60 - 600, now / 60 * 60 - 300);
    for (minute, grow) in [(first, 10u64 << 20), (second, 40 << 20)] {
        let url = format!(
            "{base}ingest?name=memsvc&from={}&until={}&format=pprof&spyName=gospy",
            minute + 5,
            minute + 15
        );
        let body = heap_pprof(grow, 50 << 20);
        let push = || http_post(&url, &[("content-type", "application/octet-stream")], &body);
        // The web port may answer before the ingest behind it runs (503).
        wait_until("ingest running", Duration::from_secs(30), || {
            push().0 != 503
        });
        let (status, text) = push();
        assert_eq!(status, 200, "{text}");
    }
    let iso = |s: u64| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s))
            .to_string()
    };
    let driver = ChromeDriver::start().unwrap();
    let session = driver.session(1400, 1000).unwrap();
    let url = format!(
        "{base}?service=memsvc&type=inuse_space&view=diff&dmode=time&afrom={}&ato={}&from={}&to={}",
        iso(first),
        iso(first + 60),
        iso(second),
        iso(second + 60)
    );
    let deadline = Instant::now() + WAIT;
    let st = loop {
        session.navigate(&url).unwrap();
        let st = idle(&session);
        if st["diff"]["ready"] == true && st["diff"]["second"].as_u64().unwrap_or(0) > 0 {
            break st;
        }
        assert!(Instant::now() < deadline, "the diff never loaded: {st}");
        std::thread::sleep(Duration::from_millis(500));
    };
    snap(&session, "memory-diff");
    assert_eq!(st["diff"]["absolute"], true, "a gauge diffs amounts: {st}");
    assert_eq!(st["diff"]["topIncrease"], "grow_cache", "{st}");
    // In shares the pool shrank (50/60 to 50/90); in bytes it did not move.
    assert_eq!(st["diff"]["increases"], 1, "{st}");
    assert_eq!(st["diff"]["decreases"], 0, "{st}");
    let rows: Vec<String> = session
        .find_all("[data-testid=diff-row]")
        .unwrap()
        .iter()
        .map(|row| session.text(row).unwrap())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.contains("grow_cache") && r.contains("+30.0 MiB")),
        "the grown function in bytes: {rows:?}"
    );
    let hint = session
        .text(&session.find("#timeline-hint").unwrap())
        .unwrap();
    assert!(hint.starts_with("In use per minute (mean)"), "{hint}");
    drop(server);
}
