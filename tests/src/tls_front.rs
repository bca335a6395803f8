//! A TLS front for tests: a test CA made with rcgen, and a small tokio +
//! rustls proxy that terminates TLS on a loopback port with a certificate
//! from that CA and passes the bytes to a plain-HTTP server behind it
//! (Debian's `debuginfod`, ClickHouse, `augur`'s own web API).
//!
//! The front keeps what clients sent, after decryption, so a test can check
//! what travelled inside TLS (e.g. that no password is in a request line).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Most bytes of client traffic a front keeps.
const KEPT_BYTES: usize = 16 << 20;

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`, with a fresh key.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-signed CA"),
        }
    }

    /// Writes the CA certificate as PEM to `dir/name` and returns the path.
    pub fn write_pem(&self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, self.issuer.pem())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// A server certificate for 127.0.0.1 and localhost and its key, both
    /// PEM, for servers that serve TLS themselves.
    pub fn server_pem(&self) -> (String, String) {
        let (cert, key) = self.server_key_pair();
        (cert.pem(), key.serialize_pem())
    }

    fn server_key_pair(&self) -> (rcgen::Certificate, KeyPair) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "augur test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing the server certificate");
        (cert, key)
    }

    /// [`TestCa::server_pem`] as rustls takes it.
    fn server_certificate(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let (cert, key) = self.server_key_pair();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// A TLS proxy on loopback in front of a plain TCP server; stops when
/// dropped.
pub struct TlsFront {
    /// `https://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    sent: Arc<Mutex<Vec<u8>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsFront {
    /// Serves TLS with a certificate from `ca` on a free loopback port and
    /// passes each connection to `backend`.
    pub fn start(ca: &TestCa, backend: SocketAddr) -> anyhow::Result<Self> {
        let (cert, key) = ca.server_certificate();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .context("the front's certificate")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("the front's runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding the front")?;
        let url = format!("https://{}", listener.local_addr()?);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let kept = sent.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let kept = kept.clone();
                tokio::spawn(async move {
                    // A client that refuses our certificate ends here.
                    let Ok(tls) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(server) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    relay(tls, server, kept).await;
                });
            }
        });
        Ok(Self {
            url,
            sent,
            runtime: Some(runtime),
        })
    }

    /// Everything clients sent through the front so far (up to 16 MiB),
    /// decrypted.
    pub fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().clone()
    }

    /// The request lines (`POST /?query=... HTTP/1.1`) clients sent.
    pub fn request_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.sent())
            .lines()
            .filter(|line| {
                ["GET ", "POST ", "PUT ", "HEAD ", "DELETE "]
                    .iter()
                    .any(|m| line.starts_with(m))
                    && line.ends_with(" HTTP/1.1")
            })
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Copies both ways until either side closes, keeping what the client sent.
async fn relay(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    server: tokio::net::TcpStream,
    kept: Arc<Mutex<Vec<u8>>>,
) {
    let (mut client_read, mut client_write) = tokio::io::split(tls);
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                let mut kept = kept.lock().unwrap();
                let room = KEPT_BYTES.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
