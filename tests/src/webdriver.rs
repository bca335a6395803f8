//! A small W3C WebDriver client for the browser tests: starts Debian's
//! `chromedriver` on a free loopback port, opens headless Chromium sessions
//! and speaks the handful of commands the tests need (navigate, find, click,
//! type, run scripts, pointer actions, screenshots) over `ureq` and JSON.
//!
//! The driver process is killed when [`ChromeDriver`] is dropped, and each
//! [`Session`] is deleted (closing its browser) when it is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// True when Chromium and its driver are installed.
pub fn browser_available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// A running `chromedriver`; killed on drop.
pub struct ChromeDriver {
    child: Child,
    url: String,
    agent: ureq::Agent,
}

impl ChromeDriver {
    /// Starts `chromedriver` on a free loopback port and waits until it
    /// reports ready.
    pub fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = driver.request("GET", "/status", None)
                && status["ready"].as_bool() == Some(true)
            {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                bail!("chromedriver on port {port} did not become ready within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Opens a headless Chromium session with its own profile directory and
    /// a `width` x `height` window.
    pub fn session(&self, width: u32, height: u32) -> anyhow::Result<Session<'_>> {
        let profile = tempfile::tempdir()?;
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--no-first-run",
                            format!("--window-size={width},{height}"),
                            format!("--user-data-dir={}", profile.path().display()),
                        ],
                    },
                },
            },
        });
        let value = self
            .request("POST", "/session", Some(&capabilities))
            .context("creating a WebDriver session")?;
        let id = value["sessionId"]
            .as_str()
            .with_context(|| format!("no sessionId in {value}"))?
            .to_owned();
        let session = Session {
            driver: self,
            id,
            _profile: profile,
        };
        session.command(
            "POST",
            "/timeouts",
            Some(&json!({"script": 120_000, "pageLoad": 60_000})),
        )?;
        Ok(session)
    }

    /// Sends one command and returns its `value`, or the driver's error.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        let response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .content_type("application/json")
                .send(body.unwrap_or(&json!({})).to_string()),
        };
        let mut response = response.with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()?;
        let parsed: Value = serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: HTTP {status}, not JSON: {text:.300}"))?;
        let value = parsed.get("value").cloned().unwrap_or(Value::Null);
        if status != 200 {
            bail!(
                "{method} {path}: HTTP {status}: {}: {}",
                value["error"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or(&text)
            );
        }
        Ok(value)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An element reference returned by [`Session::find`].
#[derive(Clone, Debug)]
pub struct Element(String);

/// One browser; deleted (its Chromium closed) on drop.
pub struct Session<'a> {
    driver: &'a ChromeDriver,
    id: String,
    _profile: tempfile::TempDir,
}

impl Session<'_> {
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.driver
            .request(method, &format!("/session/{}{path}", self.id), body)
    }

    /// Navigates to `url` and waits for the document to load.
    pub fn navigate(&self, url: &str) -> anyhow::Result<()> {
        self.command("POST", "/url", Some(&json!({ "url": url })))?;
        Ok(())
    }

    /// The address bar.
    pub fn current_url(&self) -> anyhow::Result<String> {
        Ok(self
            .command("GET", "/url", None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Reloads the page.
    pub fn refresh(&self) -> anyhow::Result<()> {
        self.command("POST", "/refresh", Some(&json!({})))?;
        Ok(())
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> anyhow::Result<Element> {
        let value = self
            .command(
                "POST",
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .with_context(|| format!("finding {css}"))?;
        element_of(&value)
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let value = self.command(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        value
            .as_array()
            .context("elements is not an array")?
            .iter()
            .map(element_of)
            .collect()
    }

    /// The first element with `data-testid="ID"`.
    pub fn by_test_id(&self, id: &str) -> anyhow::Result<Element> {
        self.find(&format!("[data-testid=\"{id}\"]"))
    }

    /// Clicks the element's center, as a user would.
    pub fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.command(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(&json!({})),
        )?;
        Ok(())
    }

    /// Clears a text field.
    pub fn clear(&self, element: &Element) -> anyhow::Result<()> {
        self.command(
            "POST",
            &format!("/element/{}/clear", element.0),
            Some(&json!({})),
        )?;
        Ok(())
    }

    /// Types `text` into the element (`\u{E007}` is Enter).
    pub fn send_keys(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(&json!({ "text": text })),
        )?;
        Ok(())
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Element) -> anyhow::Result<String> {
        Ok(self
            .command("GET", &format!("/element/{}/text", element.0), None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A DOM property of the element (e.g. `href`, resolved to absolute).
    pub fn property(&self, element: &Element, name: &str) -> anyhow::Result<Value> {
        self.command(
            "GET",
            &format!("/element/{}/property/{name}", element.0),
            None,
        )
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns
    /// what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Runs the Chrome DevTools Protocol command `cmd` with `params`
    /// (ChromeDriver's `goog/cdp/execute`) and returns its result.
    pub fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({ "cmd": cmd, "params": params })),
        )
    }

    /// Runs `script` and waits for it to call its last argument (the
    /// callback); returns what it passed.
    pub fn execute_async(&self, script: &str, args: &[Value]) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/execute/async",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Polls the JavaScript expression `expression` every 100 ms until it is
    /// truthy and returns its value; fails after `timeout` with the last value.
    pub fn wait_for(&self, expression: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let script = format!("return ({expression});");
        loop {
            let value = self.execute(&script, &[])?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("{expression} still {value} after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves the mouse to viewport point (x, y) and clicks there, holding
    /// Shift when `shift` is set.
    pub fn click_at(&self, x: f64, y: f64, shift: bool) -> anyhow::Result<()> {
        let mut keys = Vec::new();
        if shift {
            keys.push(json!({"type": "keyDown", "value": "\u{E008}"}));
        }
        let pointer = json!({
            "type": "pointer",
            "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x.round() as i64, "y": y.round() as i64},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        });
        let mut sources = vec![pointer];
        if shift {
            keys.push(json!({"type": "pause", "duration": 0}));
            keys.push(json!({"type": "pause", "duration": 0}));
            sources.push(json!({"type": "key", "id": "keyboard", "actions": keys}));
        }
        self.command("POST", "/actions", Some(&json!({ "actions": sources })))?;
        self.command("DELETE", "/actions", None)?;
        Ok(())
    }

    /// Presses the mouse at (x0, y0), drags to (x1, y1) in `steps` moves and
    /// releases it there.
    pub fn drag(&self, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> anyhow::Result<()> {
        let mut actions = vec![
            json!({"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x0.round() as i64, "y": y0.round() as i64}),
            json!({"type": "pointerDown", "button": 0}),
        ];
        for step in 1..=5 {
            let t = f64::from(step) / 5.0;
            actions.push(json!({
                "type": "pointerMove", "duration": 20, "origin": "viewport",
                "x": (x0 + (x1 - x0) * t).round() as i64, "y": (y0 + (y1 - y0) * t).round() as i64,
            }));
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
        let pointer = json!({
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions,
        });
        self.command("POST", "/actions", Some(&json!({ "actions": [pointer] })))?;
        self.command("DELETE", "/actions", None)?;
        Ok(())
    }

    /// Moves the mouse to viewport point (x, y) without clicking.
    pub fn hover_at(&self, x: f64, y: f64) -> anyhow::Result<()> {
        let pointer = json!({
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x.round() as i64, "y": y.round() as i64}],
        });
        self.command("POST", "/actions", Some(&json!({ "actions": [pointer] })))?;
        Ok(())
    }

    /// Saves a PNG of the viewport to `path` (for debugging a failure).
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<PathBuf> {
        let value = self.command("GET", "/screenshot", None)?;
        let data = value.as_str().context("screenshot is not a string")?;
        std::fs::write(path, base64_decode(data)?)?;
        Ok(path.to_owned())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .request("DELETE", &format!("/session/{}", self.id), None);
    }
}

fn element_of(value: &Value) -> anyhow::Result<Element> {
    value[ELEMENT_KEY]
        .as_str()
        .map(|id| Element(id.to_owned()))
        .with_context(|| format!("not an element reference: {value}"))
}

/// Standard base64 (screenshots), without pulling in a crate for it.
fn base64_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => bail!("invalid base64 byte {byte:#x}"),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("AAEC/w==").unwrap(), [0, 1, 2, 255]);
        assert!(base64_decode("a*b").is_err());
    }
}
