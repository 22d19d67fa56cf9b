//! The one error type of corral-certs.

use std::path::PathBuf;

/// Everything that can go wrong issuing, loading or checking certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file or directory could not be read, written or inspected.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file exists and `force` was not given.
    #[error("{path} already exists (pass force to overwrite it)")]
    AlreadyExists {
        /// The file that would have been overwritten.
        path: PathBuf,
    },
    /// A PEM file held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong with it.
        what: String,
    },
    /// rcgen could not generate a key or a certificate.
    #[error("generating {what}: {source}")]
    Generate {
        /// What was being generated.
        what: String,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// rustls refused a certificate, key or root store.
    #[error("{context}: {source}")]
    Tls {
        /// What was being loaded.
        context: String,
        /// rustls' error.
        source: rustls::Error,
    },
    /// A certificate could not be parsed as X.509.
    #[error("parsing certificate: {0}")]
    Parse(String),
    /// A certificate carries no corral identity (no `corral://` URI SAN).
    #[error(
        "certificate has no corral identity (expected a URI SAN corral://node/<id> or corral://client/<name>)"
    )]
    NoIdentity,
    /// A client name or host is not acceptable.
    #[error("invalid {what} {value:?}: {why}")]
    Invalid {
        /// Which argument ("client name", "host").
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        why: &'static str,
    },
    /// A peer certificate names another node than the one dialled.
    #[error("certificate names {presented}, expected node {expected}")]
    WrongNode {
        /// The node id the dialer expected.
        expected: u64,
        /// The identity the certificate names.
        presented: String,
    },
    /// A client certificate was presented where a node certificate is required.
    #[error("certificate names {presented}, but a node certificate is required")]
    NotANode {
        /// The identity the certificate names.
        presented: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = CertError> = std::result::Result<T, E>;

impl CertError {
    /// An I/O error with the action and path that caused it.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
