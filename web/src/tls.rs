//! HTTPS on the web port, on the same reloadable rustls settings as the
//! ingest port ([`augur_wire::tls`]): a certificate read again on SIGHUP
//! reaches new handshakes while open connections keep theirs.
//! `TlsListener` hands axum only connections whose handshake finished. A
//! plain-HTTP request on the port gets a 400 naming HTTPS, never data.

use std::net::SocketAddr;
use std::path::Path;

use augur_wire::tls::{ReloadableTls, TlsError, TlsFiles};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// The web port's certificate and key, replaceable while serving. Clones
/// share them.
#[derive(Clone, Debug)]
pub struct WebTls(ReloadableTls);

impl WebTls {
    /// Reads a PEM certificate chain and its PEM private key and checks
    /// that rustls takes them, so a bad file stops the start by name.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let files = TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: None,
        };
        // The web server speaks HTTP/1.1 only.
        Ok(Self(ReloadableTls::load(files, &[b"http/1.1"])?))
    }

    /// Reads the same two files again; new handshakes use them from now
    /// on. On an error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.0.reload()
    }

    /// Wraps `listener`: connections come out of it once their TLS
    /// handshake is done.
    pub(crate) fn listen(&self, listener: TcpListener) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (connections, accepting) = self.0.accept(listener, true);
        Ok(TlsListener {
            connections,
            local,
            accepting,
        })
    }
}

/// A listener of TLS connections, for `axum::serve`; stops accepting when
/// dropped.
pub(crate) struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accepting task ended (it never does on its own, but a
            // panic would end it): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
