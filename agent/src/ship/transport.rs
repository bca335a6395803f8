//! How a client reaches the aggregator: the URL, TLS, and the bearer token.
//!
//! [`ClientSecurity`] names the files (a CA to trust, a client certificate
//! and key for mutual TLS) and holds the token; [`connect`] turns it into a
//! lazy tonic channel whose every call carries the token. An `https://` URL
//! without a CA file trusts the system's roots. The agent's shipper and
//! debug-info uploader use this, and so do `augur loadgen` and the tests,
//! so every gRPC client of Augur speaks the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use augur_wire::auth::Token;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};

/// A channel whose calls carry the bearer token, if any.
pub type AuthChannel = InterceptedService<Channel, BearerToken>;

/// TLS files of a client, all PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// CA certificates to trust instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// Client certificate chain, for servers that require one.
    pub cert: Option<PathBuf>,
    /// The client certificate's key.
    pub key: Option<PathBuf>,
    /// Name to expect in the server's certificate instead of the URL's
    /// host (e.g. when connecting by IP address).
    pub server_name: Option<String>,
}

impl ClientTls {
    /// True when no setting is given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// TLS settings and token of a client.
#[derive(Clone, Debug, Default)]
pub struct ClientSecurity {
    /// TLS files; used only with an `https://` URL.
    pub tls: ClientTls,
    /// Sent as `authorization: Bearer TOKEN` on every call.
    pub token: Option<Token>,
}

/// Why a connection cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The server URL does not parse.
    #[error("invalid server URL {url:?}: {source}")]
    ServerUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        #[source]
        source: tonic::transport::Error,
    },
    /// TLS files given for a plain-text URL, which would ignore them.
    #[error(
        "TLS settings are given but the server URL {url:?} is not https://; use https://HOST:PORT"
    )]
    TlsWithoutHttps {
        /// The URL given.
        url: String,
    },
    /// A client certificate without its key, or a key without its
    /// certificate.
    #[error("a client certificate needs both the certificate and the key file")]
    HalfIdentity,
    /// A TLS file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// tonic refused the TLS settings.
    #[error("TLS settings for {url:?} refused: {source}")]
    Tls {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The tonic TLS configuration for `tls`: its CA (else the system's roots),
/// client identity and server name.
fn tls_config(tls: &ClientTls) -> Result<ClientTlsConfig, TransportError> {
    let mut config = ClientTlsConfig::new();
    config = match &tls.ca {
        Some(ca) => config.ca_certificate(Certificate::from_pem(read(ca)?)),
        None => config.with_native_roots(),
    };
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        (None, None) => {}
        _ => return Err(TransportError::HalfIdentity),
    }
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

/// A lazy connection to the server at `url`: nothing connects until the
/// first call, and a lost connection is made again on the next. Calls taking
/// longer than `timeout` fail, if one is given. Every call carries the token.
pub fn connect(
    url: &str,
    security: &ClientSecurity,
    timeout: Option<Duration>,
) -> Result<AuthChannel, TransportError> {
    let bad_url = |source| TransportError::ServerUrl {
        url: url.to_owned(),
        source,
    };
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(bad_url)?
        .connect_timeout(Duration::from_secs(5));
    if url.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls_config(&security.tls)?)
            .map_err(|source| TransportError::Tls {
                url: url.to_owned(),
                source,
            })?;
    } else if !security.tls.is_empty() {
        return Err(TransportError::TlsWithoutHttps {
            url: url.to_owned(),
        });
    }
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    Ok(InterceptedService::new(
        endpoint.connect_lazy(),
        BearerToken::new(security.token.as_ref()),
    ))
}

/// Adds `authorization: Bearer TOKEN` to every call, when there is a token.
#[derive(Clone, Debug)]
pub struct BearerToken {
    header: Option<AsciiMetadataValue>,
}

impl BearerToken {
    /// The interceptor for `token` (none: calls go out unchanged).
    pub fn new(token: Option<&Token>) -> Self {
        // A token is printable ASCII (checked when it was read), so it is a
        // valid header value.
        let header = token.and_then(|t| MetadataValue::try_from(t.bearer_header()).ok());
        Self { header }
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_tls_files_on_plain_urls_and_half_identities() {
        let security = ClientSecurity {
            tls: ClientTls {
                ca: Some("/nonexistent/ca.pem".into()),
                ..ClientTls::default()
            },
            token: None,
        };
        let err = connect("http://127.0.0.1:7070", &security, None).unwrap_err();
        assert!(
            matches!(err, TransportError::TlsWithoutHttps { .. }),
            "{err}"
        );
        let err = connect("https://127.0.0.1:7070", &security, None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let half = ClientSecurity {
            tls: ClientTls {
                cert: Some("/nonexistent/cert.pem".into()),
                ..ClientTls::default()
            },
            token: None,
        };
        assert!(matches!(
            connect("https://127.0.0.1:7070", &half, None).unwrap_err(),
            TransportError::HalfIdentity
        ));
        assert!(connect("http://127.0.0.1:7070", &ClientSecurity::default(), None).is_ok());
    }

    #[test]
    fn bearer_token_sets_the_header() {
        use tonic::service::Interceptor;
        let token: Token = "0123456789abcdef".parse().unwrap();
        let mut with = BearerToken::new(Some(&token));
        let request = with.call(Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer 0123456789abcdef"
        );
        let mut without = BearerToken::new(None);
        let request = without.call(Request::new(())).unwrap();
        assert!(request.metadata().get("authorization").is_none());
    }
}
