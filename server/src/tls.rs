//! TLS for listeners: loads a PEM certificate chain and key into an acceptor.
//!
//! The course protocol sends passwords and tokens in clear text; a TLS listener
//! carries the same protocol inside TLS (rustls), so only the transport changes.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// Why TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no certificate.
    #[error("reading certificate {path}: {reason}")]
    Certificate {
        /// File given.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file could not be read or holds no private key.
    #[error("reading private key {path}: {reason}")]
    Key {
        /// File given.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls rejected the pair (e.g. the key does not match the certificate).
    #[error("certificate and key rejected: {0}")]
    Config(String),
}

/// An acceptor for the PEM certificate chain at `cert` and private key at `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = read_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The SHA-256 fingerprint of the server's own certificate (the first in the PEM
/// chain at `cert`), as `SHA256:AB:CD:...` (uppercase hex, colons): what clients
/// pin with `chat --tls-fingerprint`, and what `openssl x509 -noout -fingerprint
/// -sha256 -in FILE` prints after `sha256 Fingerprint=`.
pub fn fingerprint(cert: &Path) -> Result<String, TlsError> {
    let chain = read_chain(cert)?;
    let digest = chain.first().map(|c| Sha256::digest(c.as_ref()));
    let hex: Vec<String> = digest
        .iter()
        .flatten()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(format!("SHA256:{}", hex.join(":")))
}

/// The certificates in the PEM file at `cert`; at least one.
fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let cert_err = |reason: String| TlsError::Certificate {
        path: cert.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no certificate found".into()));
    }
    Ok(chain)
}
