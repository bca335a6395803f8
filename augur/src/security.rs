//! The security flags of every command, in one place: TLS files and token
//! files for servers ([`ServerSecurityArgs`]), gRPC clients
//! ([`GrpcClientArgs`]: `agent`, `loadgen`) and HTTP clients
//! ([`HttpClientArgs`]: `services`, `export`, `sql`, `top`, `diff`).
//! Every client trusts the system's roots for `https://` unless given a CA
//! file: `--tls-ca` (gRPC and web API clients), `--debuginfod-ca` and
//! `--clickhouse-ca` (the server's own clients).
//!
//! Secrets never come from the command line: flags name files, and the
//! environment variables `AUGUR_INGEST_TOKEN`, `AUGUR_READ_TOKEN`,
//! `AUGUR_ADMIN_TOKEN` and `AUGUR_TOKEN` may hold them instead.
//! `docs/security.md` shows a deployment.
//!
//! A server reads its token files and both ports' certificates again on
//! SIGHUP ([`Reloadable`]); open connections are kept.

use std::path::PathBuf;

use anyhow::Context;
use augur_agent::transport::{ClientSecurity, ClientTls};
use augur_aggregator::auth::{IngestSecurity, ServerTls};
use augur_wire::auth::{Token, TokenSet, load_client_token, load_tokens};
use clap::Args;

/// The variable holding ingest tokens (server) or the token to send (agent).
pub const INGEST_TOKEN_ENV: &str = "AUGUR_INGEST_TOKEN";
/// The variable holding the web server's read tokens.
pub const READ_TOKEN_ENV: &str = "AUGUR_READ_TOKEN";
/// The variable holding the web server's admin tokens.
pub const ADMIN_TOKEN_ENV: &str = "AUGUR_ADMIN_TOKEN";
/// The variable holding the token the HTTP clients send.
pub const CLIENT_TOKEN_ENV: &str = "AUGUR_TOKEN";

/// TLS and tokens of `augur up` and `augur server`.
#[derive(Debug, Args)]
pub struct ServerSecurityArgs {
    /// Serve ingest over TLS with this PEM certificate chain; read again
    /// on SIGHUP, as are the key and client CA.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require every ingest client to present a certificate signed by this
    /// PEM CA (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Tokens accepted on ingest, one per line (also from
    /// AUGUR_INGEST_TOKEN); every gRPC call must carry one.
    #[arg(long, value_name = "FILE")]
    ingest_token_file: Option<PathBuf>,
    /// Accept pushes without a token or client certificate on an address
    /// other hosts can reach.
    #[arg(long)]
    allow_anonymous_ingest: bool,
    /// Tokens that may read the UI, profiles and /metrics, one per line
    /// (also from AUGUR_READ_TOKEN).
    #[arg(long, value_name = "FILE")]
    read_token_file: Option<PathBuf>,
    /// Tokens that may also use admin endpoints (SQL), one per line (also
    /// from AUGUR_ADMIN_TOKEN).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Serve admin endpoints (SQL) without a token on an address other
    /// hosts can reach, when no token is configured.
    #[arg(long)]
    allow_anonymous_admin: bool,
    /// Serve the web UI and API (the --http port) over HTTPS only, with
    /// this PEM certificate chain; read again on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "http_tls_key")]
    http_tls_cert: Option<PathBuf>,
    /// The PEM private key of --http-tls-cert; read again on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "http_tls_cert")]
    http_tls_key: Option<PathBuf>,
}

impl ServerSecurityArgs {
    /// The ingest port's settings, files read and checked now.
    pub fn ingest_security(&self) -> anyhow::Result<IngestSecurity> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Some(ServerTls::load(cert, key, self.tls_client_ca.as_deref())?)
            }
            _ => None,
        };
        let tokens = load_tokens(self.ingest_token_file.as_deref(), INGEST_TOKEN_ENV)
            .context("loading ingest tokens")?;
        Ok(IngestSecurity {
            tls,
            tokens,
            allow_anonymous: self.allow_anonymous_ingest,
        })
    }

    /// The web port's certificate, if it serves HTTPS; files read now.
    pub fn web_tls(&self) -> anyhow::Result<Option<augur_web::WebTls>> {
        match (&self.http_tls_cert, &self.http_tls_key) {
            (Some(cert), Some(key)) => Ok(Some(
                augur_web::WebTls::load(cert, key)
                    .context("the web port's TLS (--http-tls-cert)")?,
            )),
            _ => Ok(None),
        }
    }

    /// What SIGHUP reads again, bound to the live settings: clones of the
    /// same token sets and certificates the servers hold.
    pub fn reloadable(&self, ingest: &IngestSecurity, web: &augur_web::WebOptions) -> Reloadable {
        Reloadable {
            ingest_file: self.ingest_token_file.clone(),
            read_file: self.read_token_file.clone(),
            admin_file: self.admin_token_file.clone(),
            ingest: ingest.tokens.clone(),
            read: web.auth.read.clone(),
            admin: web.auth.admin.clone(),
            web_tls: web.tls.clone(),
            ingest_tls: ingest.tls.clone(),
            internal: None,
        }
    }

    /// The web server's tokens.
    pub fn web_auth(&self) -> anyhow::Result<augur_web::WebAuth> {
        Ok(augur_web::WebAuth {
            read: load_tokens(self.read_token_file.as_deref(), READ_TOKEN_ENV)
                .context("loading read tokens")?,
            admin: load_tokens(self.admin_token_file.as_deref(), ADMIN_TOKEN_ENV)
                .context("loading admin tokens")?,
            allow_anonymous_admin: self.allow_anonymous_admin,
        })
    }
}

/// A running server's token sets and certificates, with the files they
/// came from, to read again on SIGHUP.
#[derive(Debug)]
pub struct Reloadable {
    ingest_file: Option<PathBuf>,
    read_file: Option<PathBuf>,
    admin_file: Option<PathBuf>,
    ingest: TokenSet,
    read: TokenSet,
    admin: TokenSet,
    web_tls: Option<augur_web::WebTls>,
    ingest_tls: Option<ServerTls>,
    /// An ingest token that stays accepted whatever the file says: the one
    /// `augur up`'s own agent presents.
    internal: Option<Token>,
}

impl Reloadable {
    /// Keeps `token` accepted on ingest across reloads, and accepts it
    /// from now on.
    pub fn keep_ingest_token(&mut self, token: Token) {
        self.ingest.replace(&self.ingest.with_token(token.clone()));
        self.internal = Some(token);
    }

    /// Reads every token file and certificate again. Each part is
    /// replaced only if it reads cleanly: a broken file keeps the settings
    /// in use, and its error is returned with the others'.
    pub fn reload(&self) -> Result<(), Vec<anyhow::Error>> {
        let mut errors = Vec::new();
        for (file, env, set, what) in [
            (&self.ingest_file, INGEST_TOKEN_ENV, &self.ingest, "ingest"),
            (&self.read_file, READ_TOKEN_ENV, &self.read, "read"),
            (&self.admin_file, ADMIN_TOKEN_ENV, &self.admin, "admin"),
        ] {
            // Tokens from the environment alone cannot change.
            if file.is_none() {
                continue;
            }
            match load_tokens(file.as_deref(), env) {
                Ok(tokens) => match (&self.internal, what) {
                    (Some(token), "ingest") => set.replace(&tokens.with_token(token.clone())),
                    _ => set.replace(&tokens),
                },
                Err(error) => errors
                    .push(anyhow::Error::new(error).context(format!("reloading {what} tokens"))),
            }
        }
        if let Some(tls) = &self.web_tls {
            if let Err(error) = tls.reload() {
                errors.push(anyhow::Error::new(error).context("reloading the web certificate"));
            }
        }
        if let Some(tls) = &self.ingest_tls {
            if let Err(error) = tls.reload() {
                errors.push(anyhow::Error::new(error).context("reloading the ingest certificate"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// TLS and token of a gRPC client of the ingest port (`agent`, `loadgen`).
#[derive(Debug, Args)]
pub struct GrpcClientArgs {
    /// Trust this PEM CA for an https:// server instead of the system's
    /// roots.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Present this PEM client certificate (servers with --tls-client-ca).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Expect this name in the server's certificate instead of the URL's
    /// host.
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Send the first token of this file on every call (else
    /// AUGUR_INGEST_TOKEN, else the agent config's token_file).
    #[arg(long, value_name = "FILE")]
    ingest_token_file: Option<PathBuf>,
}

impl GrpcClientArgs {
    /// Applies these flags over `security` (from a config file, or
    /// default): a flag wins over the file, the file over the environment.
    pub fn apply(&self, security: &mut ClientSecurity) -> anyhow::Result<()> {
        let flags = ClientTls {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            server_name: self.tls_server_name.clone(),
        };
        if !flags.is_empty() {
            security.tls = flags;
        }
        if self.ingest_token_file.is_some() || security.token.is_none() {
            if let Some(token) =
                load_client_token(self.ingest_token_file.as_deref(), INGEST_TOKEN_ENV)
                    .context("loading the ingest token")?
            {
                security.token = Some(token);
            }
        }
        Ok(())
    }

    /// The client settings from these flags alone.
    pub fn security(&self) -> anyhow::Result<ClientSecurity> {
        let mut security = ClientSecurity::default();
        self.apply(&mut security)?;
        Ok(security)
    }
}

/// The token and TLS trust of an HTTP client of the web API.
#[derive(Clone, Debug, Args)]
pub struct HttpClientArgs {
    /// Send the first token of this file as a bearer token (else
    /// AUGUR_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Trust this PEM CA for an https:// server instead of the system's
    /// roots (which SSL_CERT_FILE may replace).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
}

impl HttpClientArgs {
    /// The certificates trusted for an https:// server.
    pub fn trust(&self) -> anyhow::Result<augur_http_client::Trust> {
        Ok(augur_http_client::Trust::from_ca_file(
            self.tls_ca.as_deref(),
        )?)
    }

    /// The token to send, if any.
    pub fn token(&self) -> anyhow::Result<Option<Token>> {
        load_client_token(self.token_file.as_deref(), CLIENT_TOKEN_ENV)
            .context("loading the API token")
    }
}
