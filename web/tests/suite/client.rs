//! A deliberately tiny HTTP/1.1 client: it writes the request by hand over a
//! tokio `TcpStream` and parses the answer, so the tests see exactly what a
//! browser or `curl` would, without pulling in a client crate.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A complete HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First header with this name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The answer with its `Content-Encoding` (gzip, zstd) undone, as a
    /// client that asked for it (Grafana's Connect client) reads it.
    pub fn decoded(mut self) -> Response {
        use std::io::Read;
        let encoding = self.header("content-encoding").map(str::to_ascii_lowercase);
        let body = match encoding.as_deref() {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .expect("valid gzip answer");
                out
            }
            Some("zstd") => zstd::decode_all(&self.body[..]).expect("valid zstd answer"),
            _ => return self,
        };
        self.body = body;
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-encoding"));
        self
    }

    /// The `error` message of a JSON error body.
    pub fn error_message(&self) -> String {
        assert!(
            self.content_type().starts_with("application/json"),
            "error is not JSON: {}",
            self.content_type()
        );
        self.json()["error"]
            .as_str()
            .expect("error body has an `error` string")
            .to_owned()
    }
}

/// `GET target` (path and query) on a fresh connection.
pub async fn get(address: SocketAddr, target: &str) -> Response {
    request(address, "GET", target).await
}

/// `GET target` with extra request headers.
pub async fn get_with(address: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Response {
    request_with(address, "GET", target, headers).await
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub async fn request(address: SocketAddr, method: &str, target: &str) -> Response {
    request_with(address, method, target, &[]).await
}

/// [`request`] with extra header lines (`("Accept-Encoding", "zstd")`).
pub async fn request_with(
    address: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: augur-web-tests\r\n{extra}Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("receive");
    parse(&raw, method == "HEAD")
}

/// `POST target` with extra header lines and a body, as an RPC client
/// sends it.
pub async fn post(
    address: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("receive");
    parse(&raw, false).decoded()
}

fn parse(raw: &[u8], head_only: bool) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header block");
    let head = std::str::from_utf8(&raw[..split]).expect("header block is UTF-8");
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line has a colon");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return response;
    }
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().expect("numeric content-length");
        assert_eq!(rest.len(), length, "body length matches content-length");
        rest.to_vec()
    } else {
        rest.to_vec()
    };
    response
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).expect("chunk size is text");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
