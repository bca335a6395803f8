//! Who may push: TLS (optionally mutual) and bearer tokens on the ingest
//! port.
//!
//! [`IngestSecurity`] is what `serve` needs: a server certificate and key
//! (with a client CA, every client must present a certificate that CA
//! signed, checked by rustls during the handshake; all read again by
//! [`ServerTls::reload`]) and the tokens accepted
//! for every call of every service on the port, checked by
//! [`TokenCheck`], a tonic interceptor, in constant time. Each configured
//! mechanism is required; none configured is anonymous ingest, which
//! [`IngestSecurity::check_exposure`] allows only on a loopback address
//! unless the operator said otherwise.

use std::net::SocketAddr;
use std::path::Path;

use augur_wire::auth::{TokenSet, presented_token};
use augur_wire::tls::{ReloadableTls, TlsError, TlsFiles};
use tonic::{Request, Status};

use crate::metrics::AggregatorMetrics;

/// The ingest port's TLS and tokens.
#[derive(Clone, Debug, Default)]
pub struct IngestSecurity {
    /// TLS for every connection; `None` serves plain HTTP/2.
    pub tls: Option<ServerTls>,
    /// Tokens accepted on every call; empty accepts calls without one.
    pub tokens: TokenSet,
    /// Accept anonymous pushes on a non-loopback address.
    pub allow_anonymous: bool,
}

/// A server certificate and key, and the CA that client certificates must
/// chain to (mutual TLS), all PEM, read at start and on
/// [`ServerTls::reload`]. Clones share them.
#[derive(Clone, Debug)]
pub struct ServerTls(ReloadableTls);

/// Why security settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A certificate, key or CA file cannot be read, or rustls refused it.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Anonymous ingest beyond loopback was not allowed.
    #[error(
        "refusing anonymous ingest on {addr}, which is not a loopback address: set --ingest-token-file (or AUGUR_INGEST_TOKEN) or --tls-client-ca, or pass --allow-anonymous-ingest to accept pushes from anyone who can reach it"
    )]
    AnonymousIngest {
        /// The ingest address.
        addr: SocketAddr,
    },
}

impl ServerTls {
    /// Reads a PEM certificate chain and key, and optionally the PEM CA
    /// whose signature every client certificate must carry, and checks that
    /// rustls takes them.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, SecurityError> {
        let files = TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: client_ca.map(Path::to_owned),
        };
        Ok(Self(ReloadableTls::load(files, &[b"h2"])?))
    }

    /// Reads the same files again; handshakes from now on use them, open
    /// connections keep theirs. On an error the settings in use stay.
    pub fn reload(&self) -> Result<(), SecurityError> {
        Ok(self.0.reload()?)
    }

    /// The settings, to accept connections with.
    pub fn reloadable(&self) -> &ReloadableTls {
        &self.0
    }

    /// True when clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.0.is_mutual()
    }
}

impl IngestSecurity {
    /// True when callers must prove who they are (a token or a client
    /// certificate).
    pub fn authenticates(&self) -> bool {
        !self.tokens.is_empty() || self.tls.as_ref().is_some_and(ServerTls::is_mutual)
    }

    /// Refuses anonymous ingest on an address other hosts can reach, unless
    /// `allow_anonymous` is set. Unspecified addresses (`0.0.0.0`, `::`)
    /// count as reachable.
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), SecurityError> {
        if self.authenticates() || self.allow_anonymous || addr.ip().is_loopback() {
            return Ok(());
        }
        Err(SecurityError::AnonymousIngest { addr })
    }

    /// The interceptor for every service on the port.
    pub fn token_check(&self) -> TokenCheck {
        TokenCheck {
            tokens: self.tokens.clone(),
            metrics: None,
        }
    }
}

/// Refuses a call without an accepted bearer token with `UNAUTHENTICATED`;
/// lets every call through when no token is configured.
#[derive(Clone, Debug)]
pub struct TokenCheck {
    tokens: TokenSet,
    metrics: Option<AggregatorMetrics>,
}

impl TokenCheck {
    /// Counts each refusal as a rejected batch with reason
    /// `unauthenticated` (a refused debug-info call counts there too).
    pub fn counting(mut self, metrics: AggregatorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The check itself, apart from tonic's types.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Status> {
        if self.tokens.is_empty() {
            return Ok(());
        }
        let Some(header) = authorization else {
            return Err(Status::unauthenticated(
                "this server needs an ingest token: send Authorization: Bearer TOKEN (or HTTP Basic with the token as the password)",
            ));
        };
        match presented_token(header) {
            Some(token) if self.tokens.accepts(&token) => Ok(()),
            _ => Err(Status::unauthenticated("the bearer token was not accepted")),
        }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.as_bytes());
        match self.check(header) {
            Ok(()) => Ok(request),
            Err(status) => {
                if let Some(metrics) = &self.metrics {
                    metrics.rejected("unauthenticated");
                }
                let peer = request.remote_addr();
                tracing::warn!(?peer, message = status.message(), "ingest call refused");
                Err(status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use augur_wire::auth::parse_tokens;

    fn with_token() -> IngestSecurity {
        IngestSecurity {
            tokens: TokenSet::new(parse_tokens("0123456789abcdef", "t").unwrap()),
            ..IngestSecurity::default()
        }
    }

    #[test]
    fn anonymous_only_on_loopback_unless_allowed() {
        let open = IngestSecurity::default();
        assert!(
            open.check_exposure("127.0.0.1:7070".parse().unwrap())
                .is_ok()
        );
        assert!(open.check_exposure("[::1]:7070".parse().unwrap()).is_ok());
        let err = open
            .check_exposure("0.0.0.0:7070".parse().unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("--ingest-token-file"), "{err}");
        assert!(
            open.check_exposure("10.1.2.3:7070".parse().unwrap())
                .is_err()
        );
        let allowed = IngestSecurity {
            allow_anonymous: true,
            ..IngestSecurity::default()
        };
        assert!(
            allowed
                .check_exposure("0.0.0.0:7070".parse().unwrap())
                .is_ok()
        );
        assert!(
            with_token()
                .check_exposure("0.0.0.0:7070".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn token_check_codes() {
        let check = with_token().token_check();
        assert_eq!(
            check.check(None).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            check
                .check(Some(b"Bearer 0123456789abcdeX"))
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert!(check.check(Some(b"Bearer 0123456789abcdef")).is_ok());
        // Grafana Cloud-style clients (Pyroscope SDKs, Alloy) send the token
        // as the password of HTTP Basic; the user name is ignored.
        use base64::Engine;
        let basic = |credentials: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            )
        };
        assert!(
            check
                .check(Some(basic("123456:0123456789abcdef").as_bytes()))
                .is_ok()
        );
        assert!(
            check
                .check(Some(basic(":0123456789abcdef").as_bytes()))
                .is_ok()
        );
        assert_eq!(
            check
                .check(Some(basic("0123456789abcdef:wrong").as_bytes()))
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert!(check.check(Some(b"Basic not-base64!")).is_err());
        assert!(IngestSecurity::default().token_check().check(None).is_ok());
    }
}
