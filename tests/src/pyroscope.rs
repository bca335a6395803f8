//! Helpers for tests of Pyroscope pushes: a recording proxy that stands
//! between a real SDK and Augur and keeps every request it forwards, and
//! the decoding of those requests into the pprof profiles the SDK sent, so
//! a test compares what Augur stored with what the SDK measured.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use augur_wire::pprof_proto::Profile;
use augur_wire::pyroscope_proto::PushRequest;
use prost::Message;

/// One request the proxy forwarded, and Augur's answer.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Path and query.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
    /// Augur's status.
    pub status: u16,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pprof profiles this request carried.
    pub fn profiles(&self) -> Vec<Profile> {
        let body = if self.header("content-encoding") == Some("gzip") {
            gunzip(&self.body)
        } else {
            self.body.clone()
        };
        let raws: Vec<Vec<u8>> = if self.path.starts_with("/push.v1.") {
            let request = PushRequest::decode(&*body).expect("a PushRequest");
            request
                .series
                .into_iter()
                .flat_map(|s| s.samples)
                .map(|s| s.raw_profile)
                .collect()
        } else {
            vec![body]
        };
        raws.iter().map(|raw| decode_pprof(raw)).collect()
    }
}

/// Decodes a pprof profile, gzipped or not; panics on anything else.
pub fn decode_pprof(bytes: &[u8]) -> Profile {
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(bytes)
    } else {
        bytes.to_vec()
    };
    Profile::decode(&*raw).expect("a pprof profile")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

/// Sums, over `profiles`, the values of sample type `sample_type` of the
/// samples whose stack has a function for which `hot` is true, and of all
/// samples: `(hot, total)`.
pub fn pprof_share(
    profiles: &[Profile],
    sample_type: &str,
    hot: impl Fn(&str) -> bool,
) -> (i64, i64) {
    let (mut hot_total, mut total) = (0, 0);
    for profile in profiles {
        let strings = &profile.string_table;
        let Some(index) = profile
            .sample_type
            .iter()
            .position(|t| strings[t.r#type as usize] == sample_type)
        else {
            continue;
        };
        let functions: std::collections::HashMap<u64, &str> = profile
            .function
            .iter()
            .map(|f| (f.id, strings[f.name as usize].as_str()))
            .collect();
        let locations: std::collections::HashMap<u64, Vec<&str>> = profile
            .location
            .iter()
            .map(|l| {
                (
                    l.id,
                    l.line
                        .iter()
                        .map(|line| functions[&line.function_id])
                        .collect(),
                )
            })
            .collect();
        for sample in &profile.sample {
            let value = sample.value[index];
            total += value;
            if sample
                .location_id
                .iter()
                .any(|id| locations[id].iter().any(|f| hot(f)))
            {
                hot_total += value;
            }
        }
    }
    (hot_total, total)
}

/// A proxy on a loopback port forwarding every HTTP/1.1 request to
/// `target` and keeping a copy.
pub struct RecordingProxy {
    /// Where it listens.
    pub address: SocketAddr,
    captured: Arc<Mutex<Vec<Captured>>>,
}

impl RecordingProxy {
    /// Starts forwarding to `target` (`http://host:port`, no path).
    pub fn start(target: &str) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let captured: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let (target, kept) = (target.trim_end_matches('/').to_owned(), captured.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (target, kept) = (target.clone(), kept.clone());
                std::thread::spawn(move || {
                    if let Err(error) = forward(stream, &target, &kept) {
                        eprintln!("recording proxy: {error:#}");
                    }
                });
            }
        });
        RecordingProxy { address, captured }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Everything forwarded so far.
    pub fn captured(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }
}

/// Reads one request, forwards it, answers and closes.
fn forward(mut stream: TcpStream, target: &str, kept: &Mutex<Vec<Captured>>) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("/").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = get("content-length") {
        body.resize(length.parse()?, 0);
        reader.read_exact(&mut body)?;
    }
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(format!("{target}{path}"));
    for (name, value) in &headers {
        if !["host", "content-length", "connection", "transfer-encoding"].contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let mut response = agent.run(request.body(body.clone())?)?;
    let status = response.status().as_u16();
    let answer = response.body_mut().read_to_vec()?;
    kept.lock().unwrap().push(Captured {
        path,
        headers,
        body,
        status,
    });
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        answer.len()
    )?;
    stream.write_all(&answer)?;
    stream.flush()?;
    Ok(())
}
