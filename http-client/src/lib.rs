//! The one way Augur builds an outgoing HTTP(S) client: a `ureq` agent on
//! rustls with the `ring` provider, trusting the system's roots (Debian's
//! ca-certificates, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) or, when a
//! CA file is given, that file's certificates alone.
//!
//! The debuginfod client, the ClickHouse client and the CLI's API client
//! all call [`agent`], so they trust the same roots and fail the same way:
//! a server whose certificate is not trusted is an error at once, with
//! [`explain`] saying so, never a hang.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

/// Which certificates a client trusts.
#[derive(Clone, Default)]
pub enum Trust {
    /// The system's roots (read once per process).
    #[default]
    System,
    /// These certificates alone, from a CA file.
    Only(Arc<Vec<Certificate<'static>>>),
}

impl Trust {
    /// The certificates of the PEM file at `path`, or the system's roots
    /// when there is no file.
    pub fn from_ca_file(path: Option<&Path>) -> Result<Self, ClientError> {
        match path {
            Some(path) => Ok(Self::Only(Arc::new(read_ca_file(path)?))),
            None => Ok(Self::System),
        }
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("System"),
            Self::Only(certs) => write!(f, "Only({} certificates)", certs.len()),
        }
    }
}

/// Why a CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file could not be read.
    #[error("reading the CA file {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The CA file is not PEM, or holds no certificate.
    #[error("the CA file {}: {message}", path.display())]
    BadCa { path: PathBuf, message: String },
}

/// An agent trusting `trust`, on rustls with ring, whose whole request
/// (connect, send, read) takes at most `timeout`. HTTP error statuses are
/// returned as responses, so callers can read the server's reason.
pub fn agent(trust: &Trust, timeout: Option<Duration>) -> ureq::Agent {
    let roots = match trust {
        Trust::System => system_roots(),
        Trust::Only(certs) => certs.clone(),
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::Specific(roots))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(timeout)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// A request error in words a user can act on: an untrusted or invalid
/// server certificate is named as such, other errors keep their text.
pub fn explain(error: &ureq::Error) -> String {
    match tls_failure(error) {
        Some(rustls::Error::InvalidCertificate(reason)) => format!(
            "TLS: the server's certificate is not trusted ({reason:?}); \
             give the CA that signed it as a CA file"
        ),
        Some(other) => format!("TLS: {other}"),
        None => error.to_string(),
    }
}

/// The TLS error that failed a request, if TLS failed it. Such a failure
/// does not go away by itself: callers need not retry it soon.
pub fn tls_failure(error: &ureq::Error) -> Option<&rustls::Error> {
    match error {
        ureq::Error::Rustls(e) => Some(e),
        // A handshake that fails while connecting surfaces as I/O.
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// The certificates of a PEM file; an error if it holds none.
pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::ReadCa {
        path: path.to_owned(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(ClientError::BadCa {
                    path: path.to_owned(),
                    message: e.to_string(),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(ClientError::BadCa {
            path: path.to_owned(),
            message: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The system's roots, read once per process. A store that cannot be read
/// is logged and left empty: plain `http://` still works, and `https://`
/// fails with an untrusted certificate.
fn system_roots() -> Arc<Vec<Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "reading the system's CA certificates");
            }
            if found.certs.is_empty() {
                tracing::warn!(
                    "no system CA certificates (install ca-certificates or set SSL_CERT_FILE); \
                     https:// servers will not be trusted"
                );
            }
            Arc::new(
                found
                    .certs
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                    .collect(),
            )
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_ca_file_yields_its_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, format!("{}{}", test_ca_pem(), test_ca_pem())).unwrap();
        assert_eq!(read_ca_file(&path).unwrap().len(), 2);
        let trust = Trust::from_ca_file(Some(&path)).unwrap();
        assert_eq!(format!("{trust:?}"), "Only(2 certificates)");
        assert!(matches!(Trust::from_ca_file(None), Ok(Trust::System)));
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = read_ca_file(&missing).unwrap_err();
        assert!(matches!(error, ClientError::ReadCa { .. }), "{error}");
        assert!(error.to_string().contains("missing.pem"), "{error}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Trust::from_ca_file(Some(&empty)).unwrap_err();
        assert!(matches!(error, ClientError::BadCa { .. }), "{error}");
        assert!(error.to_string().contains("empty.pem"), "{error}");
    }

    #[test]
    fn an_untrusted_certificate_is_explained() {
        let error = ureq::Error::Rustls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let text = explain(&error);
        assert!(text.contains("not trusted"), "{text}");
        assert!(text.contains("UnknownIssuer"), "{text}");
        // As a failed handshake reports it: inside an I/O error.
        let error = ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(tls_failure(&error).is_some());
        assert!(
            explain(&error).contains("not trusted"),
            "{}",
            explain(&error)
        );
        let refused = ureq::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(tls_failure(&refused).is_none());
    }
}
