//! Server-side TLS that can be read again while serving: the ingest port
//! (gRPC, optionally mutual TLS) and the web port use it alike.
//!
//! [`ReloadableTls`] reads a PEM certificate chain, its key and optionally
//! the CA client certificates must chain to, into a rustls configuration on
//! ring (the provider every Augur TLS endpoint uses). [`ReloadableTls::reload`]
//! reads the same files again (on SIGHUP): each handshake takes the
//! configuration current when it starts, so new connections get the new
//! certificate and open ones keep theirs. [`ReloadableTls::accept`] runs
//! the handshakes of a listener in their own tasks, so a slow client delays
//! no one else, and hands over only finished ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// Longest a TLS handshake may take: a client that stalls it holds a task
/// and a socket for no longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections handshaken but not yet taken by the server.
const READY_QUEUE: usize = 64;
/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why a certificate, key or client CA cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing, unreadable or not PEM of the right kind.
    #[error("reading {what} {path}: {message}")]
    Read {
        /// `certificate`, `key` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// rustls refused the settings (e.g. the key does not match).
    #[error("TLS settings refused (certificate {cert}, key {key}): {message}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        message: String,
    },
}

/// The files a TLS server reads.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its PEM private key.
    pub key: PathBuf,
    /// PEM CA every client must present a certificate of (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// A server's TLS settings, replaceable while serving. Clones share them.
#[derive(Clone)]
pub struct ReloadableTls {
    files: Arc<TlsFiles>,
    alpn: Arc<[Vec<u8>]>,
    config: Arc<RwLock<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for ReloadableTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadableTls")
            .field("files", &self.files)
            .finish()
    }
}

impl ReloadableTls {
    /// Reads `files` and checks that rustls takes them, so a bad file stops
    /// the start by name. `alpn` lists the protocols offered (`h2`,
    /// `http/1.1`).
    pub fn load(files: TlsFiles, alpn: &[&[u8]]) -> Result<Self, TlsError> {
        let alpn: Arc<[Vec<u8>]> = alpn.iter().map(|p| p.to_vec()).collect();
        let config = server_config(&files, &alpn)?;
        Ok(Self {
            files: Arc::new(files),
            alpn,
            config: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Reads the same files again; handshakes from now on use them. On an
    /// error the settings in use stay.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.files, &self.alpn)?);
        *self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
        Ok(())
    }

    /// True when clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Accepts connections on `listener` and shakes hands in a task each;
    /// finished connections come out of the returned channel. With
    /// `answer_plain_http`, a client that speaks plain HTTP gets a 400
    /// saying to use HTTPS. Accepting stops when the task is aborted.
    pub fn accept(
        &self,
        listener: TcpListener,
        answer_plain_http: bool,
    ) -> (
        mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
        tokio::task::JoinHandle<()>,
    ) {
        let (ready, connections) = mpsc::channel(READY_QUEUE);
        let tls = self.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors and the like: wait rather
                        // than spin.
                        tracing::warn!(%error, "accepting a TLS connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (tls.acceptor(), ready.clone());
                tokio::spawn(async move {
                    let shake = handshake(acceptor, tcp, answer_plain_http);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, shake).await {
                        Ok(Some(stream)) => {
                            let _ = ready.send((stream, peer)).await;
                        }
                        Ok(None) => {}
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        (connections, accepting)
    }
}

fn server_config(files: &TlsFiles, alpn: &[Vec<u8>]) -> Result<ServerConfig, TlsError> {
    let read_error = |what, path: &Path, message: String| TlsError::Read {
        what,
        path: path.to_owned(),
        message,
    };
    let certificates = |what, path: &Path| {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|error| read_error(what, path, error.to_string()))?;
        if certs.is_empty() {
            return Err(read_error(what, path, "no PEM certificate in it".into()));
        }
        Ok(certs)
    };
    let chain = certificates("certificate", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| read_error("key", &files.key, error.to_string()))?;
    let refused = |message: String| TlsError::Refused {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| refused(error.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates("client CA", ca)? {
                roots
                    .add(cert)
                    .map_err(|error| read_error("client CA", ca, error.to_string()))?;
            }
            // Client certificates are required, not optional, with a CA.
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|error| read_error("client CA", ca, error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|error| refused(error.to_string()))?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

/// The TLS handshake on `tcp`; `None` when no TLS connection resulted.
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    mut tcp: TcpStream,
    answer_plain_http: bool,
) -> Option<TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) if first[0] != TLS_HANDSHAKE_RECORD => {
            if answer_plain_http {
                let body = "this port serves HTTPS; use https://\n";
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.shutdown().await;
            }
            return None;
        }
        Ok(1) => {}
        _ => return None,
    }
    match acceptor.accept(tcp).await {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for 127.0.0.1 and its key, as PEM files.
    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn files(cert: &Path, key: &Path) -> TlsFiles {
        TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: None,
        }
    }

    #[test]
    fn bad_files_are_named_and_a_failed_reload_keeps_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "a");
        let (_, other_key) = pair(dir.path(), "b");
        let tls = ReloadableTls::load(files(&cert, &key), &[b"h2"]).unwrap();
        assert!(!tls.is_mutual());

        let error = ReloadableTls::load(files(&cert, &other_key), &[]).unwrap_err();
        assert!(matches!(error, TlsError::Refused { .. }), "{error}");
        let missing = dir.path().join("missing.crt");
        let error = ReloadableTls::load(files(&missing, &key), &[]).unwrap_err();
        assert!(error.to_string().contains("missing.crt"), "{error}");
        let error = ReloadableTls::load(files(&key, &key), &[]).unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");

        let before = Arc::as_ptr(&tls.config.read().unwrap().clone());
        std::fs::write(&cert, "garbage").unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(Arc::as_ptr(&tls.config.read().unwrap().clone()), before);
        let (new_cert, new_key) = pair(dir.path(), "c");
        std::fs::copy(&new_cert, &cert).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        tls.reload().unwrap();
        let after = tls.config.read().unwrap().clone();
        assert_ne!(Arc::as_ptr(&after), before);
        assert_eq!(after.alpn_protocols, vec![b"h2".to_vec()]);
    }
}
