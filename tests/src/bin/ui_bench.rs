//! `ui-bench`: how fast the web UI shows a big profile in headless Chromium.
//!
//! Starts `augur server`, fills it with `augur loadgen` (one service, many
//! distinct deep stacks: about 100,000 call-tree nodes by default), opens the
//! page over WebDriver with the range pinned, and reads the page's own
//! timings (`window.augur.state().load`): request to first drawn flame graph,
//! split into fetch, decode, tree build and draw. The same profile is also
//! fetched from Rust in each format the page might use (`json`, `tree`), to
//! time the server alone, and the `format=tree` answer is fetched once per
//! `Accept-Encoding` (none, gzip, zstd) to count its bytes on the wire.
//! `--accept-encoding identity` makes the page ask for uncompressed answers
//! (through the DevTools protocol), to time what compression saves, and
//! `--throughput-mbit` throttles the page's downloads as a real link would.
//! Then it zooms in and out by clicking frames and breadcrumbs and reports
//! the time each animation frame spent drawing and the intervals between
//! frames. Prints Markdown; asserts nothing.
//!
//! ```sh
//! cargo build --release -p augur -p augur-tests --bin ui-bench
//! target/release/ui-bench [--stacks 9000] [--depth 20] [--runs 7] [--zooms 16] [--accept-encoding identity] [--throughput-mbit 50]
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench;
use augur_tests::webdriver::{ChromeDriver, browser_available};
use augur_tests::{augur_bin, http_get, http_json, start_server};
use clap::{CommandFactory, Parser};
use serde_json::{Value, json};

/// Times how fast the web UI shows a big profile in headless Chromium:
/// request to first drawn flame graph (fetch, decode, tree build, draw),
/// the server alone per format, and zooming in and out by clicking.
/// Needs chromium and chromedriver.
#[derive(Debug, Parser)]
#[command(name = "ui-bench")]
struct Options {
    /// Distinct stacks of the loaded service
    #[arg(long, value_name = "N", default_value_t = 9000)]
    stacks: u32,
    /// Frames per stack
    #[arg(long, value_name = "N", default_value_t = 20)]
    depth: u32,
    /// Page loads timed; medians are reported
    #[arg(long, value_name = "N", default_value_t = 7)]
    runs: usize,
    /// Zoom clicks timed (in and out)
    #[arg(long, value_name = "N", default_value_t = 16)]
    zooms: usize,
    /// `Accept-Encoding` the page sends instead of Chromium's own
    /// (`identity`: uncompressed answers)
    #[arg(long, value_name = "VALUE")]
    accept_encoding: Option<String>,
    /// Throttle the page's downloads to this many Mbit/s (Chromium's network
    /// emulation), as over a real link instead of loopback
    #[arg(long, value_name = "MBIT")]
    throughput_mbit: Option<f64>,
}

fn main() -> ExitCode {
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

fn run(options: &Options) -> anyhow::Result<()> {
    if !browser_available() {
        bail!("chromium and chromedriver are needed: apt-get install chromium chromium-driver");
    }
    if std::env::var_os("AUGUR_BIN").is_none() {
        // target/release/ui-bench -> target/release/augur
        let sibling = std::env::current_exe()?.with_file_name("augur");
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("AUGUR_BIN", sibling) };
    }
    let dir = tempfile::tempdir()?;
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0")?;
    let base = server.http.clone().context("no HTTP address")?;
    let ingest = server.ingest.clone().context("no ingest address")?;

    let stacks = options.stacks.to_string();
    let depth = options.depth.to_string();
    let output = Command::new(augur_bin())
        .args(["loadgen", "--report", "json", "--server", &ingest])
        .args(["--hosts", "10", "--services", "1", "--interval", "1s"])
        .args(["--duration", "4s", "--stacks", &stacks])
        .args(["--rows-per-batch", &stacks, "--stack-depth", &depth])
        .output()?;
    if !output.status.success() {
        bail!("loadgen: {}", String::from_utf8_lossy(&output.stderr));
    }
    let report: Value = serde_json::from_slice(&output.stdout)?;
    let expected = report["samples_acknowledged"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&base)? != expected {
        if Instant::now() > deadline {
            bail!("the server did not store the {expected} acknowledged samples");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // Pin the range so every run asks for the same profile.
    let service = "loadgen-svc-0";
    let json_url = format!("{base}api/v1/profile?service={service}&from=-1h&to=now");
    let profile = http_json(&json_url)?;
    let (from, to) = (
        profile["from"].as_str().unwrap_or_default().to_owned(),
        profile["to"].as_str().unwrap_or_default().to_owned(),
    );
    let pinned = format!("{base}api/v1/profile?service={service}&from={from}&to={to}");
    // (format, times in ms, bytes of the last answer)
    let mut server_times = Vec::new();
    for format in ["json", "tree"] {
        let url = format!("{pinned}&format={format}");
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..options.runs {
            let started = Instant::now();
            let (status, body) = http_get(&url)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                bail!("GET {url}: HTTP {status}");
            }
            bytes = body.len();
        }
        server_times.push((format, times, bytes));
    }
    // The tree answer's bytes on the wire per `Accept-Encoding` (`None`:
    // no header, as the Rust client above sends), and the time to receive it.
    let tree_url = format!("{pinned}&format=tree");
    let mut wire = Vec::new();
    for encoding in [None, Some("gzip"), Some("zstd")] {
        let mut times = Vec::new();
        let mut received = (String::new(), 0);
        for _ in 0..options.runs {
            let started = Instant::now();
            received = raw_get(&tree_url, encoding)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        wire.push((encoding, received, times));
    }

    let driver = ChromeDriver::start()?;
    let session = driver.session(1600, 1000)?;
    if options.accept_encoding.is_some() || options.throughput_mbit.is_some() {
        session.cdp("Network.enable", json!({}))?;
    }
    if let Some(mbit) = options.throughput_mbit {
        let bytes_per_second = mbit * 1e6 / 8.0;
        session.cdp(
            "Network.emulateNetworkConditions",
            json!({ "offline": false, "latency": 0,
                    "downloadThroughput": bytes_per_second, "uploadThroughput": bytes_per_second }),
        )?;
    }
    if let Some(encoding) = &options.accept_encoding {
        session.cdp(
            "Network.setExtraHTTPHeaders",
            json!({ "headers": { "Accept-Encoding": encoding } }),
        )?;
    }
    let page = format!("{base}?service={service}&from={from}&to={to}");
    let mut loads: Vec<Value> = Vec::new();
    let mut last = Value::Null;
    for _ in 0..options.runs {
        session.navigate(&page)?;
        last = idle(&session)?;
        loads.push(last["load"].clone());
    }
    let nodes = last["nodesTotal"].as_u64().unwrap_or(0);
    let drawn = format!(
        "{} boxes drawn at full view, {} of them \"other\" boxes standing for {} narrower frames",
        last["nodesDrawn"], last["otherNodes"], last["mergedFrames"]
    );

    // Zoom in on the widest frame at growing depths, then back out.
    session.execute("window.augur.resetZoomStats();", &[])?;
    for i in 0..options.zooms {
        if i % 4 == 3 {
            let crumbs = session.find_all("[data-testid=crumb]")?;
            session.click(crumbs.first().context("no breadcrumbs")?)?;
        } else {
            let rect = session.execute(
                "return window.augur.frameRect(null, arguments[0]);",
                &[Value::from(1 + 3 * (i % 4))],
            )?;
            let (Some(x), Some(y)) = (rect["centerX"].as_f64(), rect["centerY"].as_f64()) else {
                continue;
            };
            session.click_at(x, y, false)?;
        }
        idle(&session)?;
    }
    let zoom = session.execute("return window.augur.zoomStats();", &[])?;

    let field = |name: &str| -> Vec<f64> {
        loads
            .iter()
            .filter_map(|l| l[name].as_f64())
            .collect::<Vec<_>>()
    };
    let sizes: Vec<String> = server_times
        .iter()
        .map(|(format, _, bytes)| format!("{:.1} MB as {format}", *bytes as f64 / 1e6))
        .collect();
    println!(
        "profile: {nodes} call-tree nodes, {} stacks, {} functions, {}; {} runs",
        profile["stacks"].as_array().map_or(0, Vec::len),
        profile["top_functions"].as_array().map_or(0, Vec::len),
        sizes.join(", "),
        options.runs
    );
    println!(
        "the page fetched {} bytes (Accept-Encoding: {}; {})",
        last["load"]["bytes"],
        options
            .accept_encoding
            .as_deref()
            .unwrap_or("Chromium's own"),
        options
            .throughput_mbit
            .map_or("loopback, not throttled".to_owned(), |m| {
                format!("throttled to {m} Mbit/s")
            })
    );
    let sent = session.execute(SENT, &[])?;
    println!(
        "on the wire (Chromium's resource timing, last load): the tree answer {} bytes \
         ({} decoded, Content-Encoding {}), the page with its assets {} bytes ({} decoded)",
        sent["treeTransfer"],
        sent["treeDecoded"],
        sent["treeEncoding"].as_str().unwrap_or("?"),
        sent["pageTransfer"],
        sent["pageDecoded"]
    );
    println!("{drawn}");
    println!();
    println!(
        "| `format=tree` answer, `Accept-Encoding` | Content-Encoding | bytes on the wire (headers included) | fetch from Rust, median | min | max |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for (encoding, (content_encoding, bytes), times) in wire {
        let (median, min, max) = spread(times);
        println!(
            "| {} | {} | {bytes} | {median:.1} ms | {min:.1} ms | {max:.1} ms |",
            encoding.unwrap_or("(none)"),
            if content_encoding.is_empty() {
                "(none)"
            } else {
                &content_encoding
            },
        );
    }
    println!();
    println!("| step | median | min | max |");
    println!("| --- | ---: | ---: | ---: |");
    let mut rows = vec![
        (
            "**request to first drawn flame graph** (page)".to_owned(),
            field("firstDrawMs"),
        ),
        ("  fetch: server + transfer".to_owned(), field("fetchMs")),
        ("  decode the answer".to_owned(), field("parseMs")),
        ("  tree build + layout".to_owned(), field("buildMs")),
        ("  first draw".to_owned(), field("drawMs")),
        (
            "request to painted (two animation frames)".to_owned(),
            field("paintedMs"),
        ),
    ];
    for (format, times, _) in server_times {
        rows.push((format!("server alone: `format={format}` from Rust"), times));
    }
    for (label, values) in rows {
        let (median, min, max) = spread(values);
        println!("| {label} | {median:.1} ms | {min:.1} ms | {max:.1} ms |");
    }
    println!();
    println!(
        "| zooming ({} animation frames) | mean | p95 | max |",
        zoom["work"]["frames"]
    );
    println!("| --- | ---: | ---: | ---: |");
    for (label, key) in [
        ("**draw time per frame**", "work"),
        ("interval between frames", "interval"),
    ] {
        let z = &zoom[key];
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.2} ms |",
            z["meanMs"].as_f64().unwrap_or(0.0),
            z["p95Ms"].as_f64().unwrap_or(0.0),
            z["maxMs"].as_f64().unwrap_or(0.0)
        );
    }
    drop(session);
    drop(driver);
    server.terminate()?;
    Ok(())
}

/// What the page and its tree answer weighed on the wire and decoded, from
/// Chromium's resource timing.
const SENT: &str = "const all = performance.getEntriesByType('navigation')\
    .concat(performance.getEntriesByType('resource')); \
  const tree = all.filter(e => e.name.includes('format=tree')).pop() || {}; \
  const sum = (k) => all.reduce((s, e) => s + (e[k] || 0), 0); \
  return { treeTransfer: tree.transferSize, treeDecoded: tree.decodedBodySize, \
    treeEncoding: tree.contentEncoding === undefined ? '?' : tree.contentEncoding || 'none', \
    pageTransfer: sum('transferSize'), \
    pageDecoded: sum('decodedBodySize') };";

/// `GET url` over a plain HTTP/1.1 connection, asking for `encoding`;
/// returns the answer's `Content-Encoding` and every byte received
/// (headers and body as sent, not decoded).
fn raw_get(url: &str, encoding: Option<&str>) -> anyhow::Result<(String, usize)> {
    let rest = url.strip_prefix("http://").context("not an http:// URL")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host)?;
    let accept = encoding.map_or(String::new(), |e| format!("Accept-Encoding: {e}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{accept}Connection: close\r\n\r\n"
    )?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    let end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&received[..end]);
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {url}: {}", head.lines().next().unwrap_or_default());
    }
    let content_encoding = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-encoding")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Ok((content_encoding, received.len()))
}

/// Waits until the page loads and animates nothing; returns its state.
fn idle(session: &augur_tests::webdriver::Session<'_>) -> anyhow::Result<Value> {
    let state = session.execute_async(
        "const done = arguments[arguments.length - 1];\
         (async () => { for (let i = 0; i < 600 && !window.augur; i++) await new Promise(r => setTimeout(r, 50)); \
         const s = await window.augur.whenIdle(); \
         await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); \
         done(window.augur.state()); })();",
        &[],
    )?;
    if !state["error"].as_str().unwrap_or_default().is_empty() {
        bail!("the page shows an error: {state}");
    }
    Ok(state)
}

fn stored(base: &str) -> anyhow::Result<u64> {
    let services = http_json(&format!("{base}api/v1/services"))?;
    Ok(services["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["samples"].as_u64())
        .sum())
}

/// Median, min and max.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}
