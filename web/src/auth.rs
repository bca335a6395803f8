//! Who may read and who may administer, on the HTTP side.
//!
//! Every path needs one [`Access`] level:
//! - **open**: `/healthz`, so probes need no secret, and Pyroscope's push
//!   endpoints, whose ingest token the ingest itself checks;
//! - **read**: the page, every profile query (`/api/v1/*` but SQL, and
//!   Pyroscope's `/querier.v1.QuerierService/*`, refused as Connect errors) and
//!   `/metrics` (Prometheus sends a bearer token from `credentials_file`);
//! - **admin**: `/api/v1/sql`, which reads any table, internals included.
//!   Endpoints that change state or expose internals belong here too.
//!
//! Tokens come as `Authorization: Bearer TOKEN`, or as the password of
//! HTTP Basic (what a browser sends after the login prompt this layer asks
//! for); an admin token also grants read. With no token configured, read is
//! anonymous and admin is anonymous only on a loopback listener (or when
//! the operator allows it): a server reachable from other hosts never runs
//! arbitrary SQL for strangers.

use std::sync::Arc;

use augur_wire::auth::{TokenSet, presented_token};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Tokens of the web server and API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebAuth {
    /// Tokens that may read (the page, profiles, `/metrics`).
    pub read: TokenSet,
    /// Tokens that may also use admin endpoints.
    pub admin: TokenSet,
    /// Serve admin endpoints without a token even beyond loopback, when no
    /// token is configured.
    pub allow_anonymous_admin: bool,
}

/// What a path needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Open,
    /// A read or admin token, when tokens are configured.
    Read,
    /// An admin token.
    Admin,
}

/// The level `path` needs.
pub fn access_of(path: &str) -> Access {
    match path {
        "/healthz" => Access::Open,
        // Pushes carry an ingest token, not a read token; the ingest checks it.
        crate::pyroscope::PUSH_PATH | crate::pyroscope::INGEST_PATH => Access::Open,
        "/api/v1/sql" => Access::Admin,
        _ => Access::Read,
    }
}

/// Why a request was turned away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one not accepted: 401.
    Unauthenticated(&'static str),
    /// A valid token without the right, or admin switched off: 403.
    Forbidden(&'static str),
}

/// [`WebAuth`] bound to a listener.
#[derive(Clone, Debug)]
pub(crate) struct Gate {
    auth: WebAuth,
    /// The listener accepts only loopback connections.
    loopback: bool,
}

impl Gate {
    pub(crate) fn new(auth: WebAuth, listener: Option<std::net::SocketAddr>) -> Self {
        let loopback = listener.is_some_and(|addr| addr.ip().is_loopback());
        if auth.read.is_empty() && auth.admin.is_empty() && listener.is_some() && !loopback {
            if auth.allow_anonymous_admin {
                tracing::warn!(
                    ?listener,
                    "the web API has no tokens and listens beyond loopback; anyone who reaches it may read profiles and run SQL"
                );
            } else {
                tracing::warn!(
                    ?listener,
                    "the web API has no tokens and listens beyond loopback; profiles are readable by anyone who reaches it, SQL is off until --admin-token-file is set"
                );
            }
        }
        Self { auth, loopback }
    }

    /// Lets the request through or says why not.
    pub(crate) fn decide(
        &self,
        access: Access,
        authorization: Option<&[u8]>,
    ) -> Result<(), Refusal> {
        let auth = &self.auth;
        if access == Access::Open {
            return Ok(());
        }
        if auth.read.is_empty() && auth.admin.is_empty() {
            return match access {
                Access::Admin if !(self.loopback || auth.allow_anonymous_admin) => {
                    Err(Refusal::Forbidden(
                        "admin endpoints are off: this server listens beyond loopback without tokens; set --admin-token-file (or AUGUR_ADMIN_TOKEN)",
                    ))
                }
                _ => Ok(()),
            };
        }
        let Some(token) = authorization.and_then(presented_token) else {
            return Err(Refusal::Unauthenticated(
                "this server needs a token: send Authorization: Bearer TOKEN",
            ));
        };
        let admin = auth.admin.accepts(&token);
        match access {
            Access::Admin if admin => Ok(()),
            Access::Admin if auth.read.accepts(&token) => Err(Refusal::Forbidden(
                "this endpoint needs an admin token; a read token cannot use it",
            )),
            Access::Read if admin || auth.read.accepts(&token) => Ok(()),
            _ => Err(Refusal::Unauthenticated("the token was not accepted")),
        }
    }
}

/// The middleware: answers 401 (with a Basic challenge, so a browser asks
/// for the token) or 403 as JSON, else runs the request.
pub(crate) async fn require_access(
    State(gate): State<Arc<Gate>>,
    request: Request,
    next: Next,
) -> Response {
    let access = access_of(request.uri().path());
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match gate.decide(access, header) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let (status, message) = match refusal {
                Refusal::Unauthenticated(message) => (StatusCode::UNAUTHORIZED, message),
                Refusal::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            };
            tracing::debug!(path = request.uri().path(), %status, message, "request refused");
            if crate::connect::is_connect_path(request.uri().path()) {
                let code = match refusal {
                    Refusal::Unauthenticated(_) => crate::connect::Code::Unauthenticated,
                    Refusal::Forbidden(_) => crate::connect::Code::PermissionDenied,
                };
                return crate::connect::error_response(code, message);
            }
            let body = serde_json::json!({ "error": message }).to_string();
            let mut response =
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"augur\", charset=\"UTF-8\""),
                );
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use augur_wire::auth::parse_tokens;

    const READ: &[u8] = b"Bearer read-token-0123456789";
    const ADMIN: &[u8] = b"Bearer admin-token-0123456789";

    fn tokens(text: &str) -> TokenSet {
        TokenSet::new(parse_tokens(text, "t").unwrap())
    }

    fn gate(read: &str, admin: &str, loopback: bool) -> Gate {
        let auth = WebAuth {
            read: if read.is_empty() {
                TokenSet::default()
            } else {
                tokens(read)
            },
            admin: if admin.is_empty() {
                TokenSet::default()
            } else {
                tokens(admin)
            },
            allow_anonymous_admin: false,
        };
        let addr = if loopback {
            "127.0.0.1:7080"
        } else {
            "0.0.0.0:7080"
        };
        Gate::new(auth, Some(addr.parse().unwrap()))
    }

    #[test]
    fn paths_map_to_levels() {
        assert_eq!(access_of("/healthz"), Access::Open);
        assert_eq!(access_of("/api/v1/sql"), Access::Admin);
        assert_eq!(access_of("/api/v1/profile"), Access::Read);
        assert_eq!(access_of("/metrics"), Access::Read);
        assert_eq!(access_of("/"), Access::Read);
        assert_eq!(access_of("/no/such/page"), Access::Read);
        assert_eq!(
            access_of("/querier.v1.QuerierService/SelectMergeStacktraces"),
            Access::Read
        );
    }

    #[test]
    fn read_and_admin_rights() {
        let g = gate("read-token-0123456789", "admin-token-0123456789", false);
        assert!(g.decide(Access::Open, None).is_ok());
        assert!(matches!(
            g.decide(Access::Read, None),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(g.decide(Access::Read, Some(READ)).is_ok());
        assert!(g.decide(Access::Read, Some(ADMIN)).is_ok());
        assert!(matches!(
            g.decide(Access::Admin, Some(READ)),
            Err(Refusal::Forbidden(_))
        ));
        assert!(g.decide(Access::Admin, Some(ADMIN)).is_ok());
        assert!(matches!(
            g.decide(Access::Read, Some(b"Bearer wrong-token-0123456789")),
            Err(Refusal::Unauthenticated(_))
        ));
    }

    #[test]
    fn admin_tokens_alone_still_close_reads() {
        let g = gate("", "admin-token-0123456789", false);
        assert!(g.decide(Access::Read, None).is_err());
        assert!(g.decide(Access::Read, Some(ADMIN)).is_ok());
        assert!(g.decide(Access::Admin, Some(ADMIN)).is_ok());
        // Read tokens alone: nobody may administer.
        let g = gate("read-token-0123456789", "", true);
        assert!(g.decide(Access::Admin, Some(READ)).is_err());
    }

    #[test]
    fn without_tokens_admin_is_loopback_only() {
        assert!(gate("", "", true).decide(Access::Admin, None).is_ok());
        assert!(gate("", "", false).decide(Access::Read, None).is_ok());
        assert!(matches!(
            gate("", "", false).decide(Access::Admin, None),
            Err(Refusal::Forbidden(_))
        ));
        let allowed = Gate::new(
            WebAuth {
                allow_anonymous_admin: true,
                ..WebAuth::default()
            },
            Some("0.0.0.0:7080".parse().unwrap()),
        );
        assert!(allowed.decide(Access::Admin, None).is_ok());
    }
}
