//! Which server certificates `chat` trusts over TLS, besides a CA's signature:
//!
//! - **The certificate itself in the `--ca` file** (pinning). A self-signed
//!   certificate made the common way (`openssl req -x509 ...`) is marked as a CA, and
//!   the path check refuses a CA as the server's own certificate
//!   (`CaUsedAsEndEntity`), although the operator handed over exactly that
//!   certificate. When the server presents a certificate that is byte for byte in
//!   the file, it is trusted; otherwise the file's certificates are CAs as before.
//! - **`--tls-fingerprint SHA256:...`**, as weechat's `tls_fingerprint`: the SHA-256
//!   of the server's certificate (DER). When it is given, it is the only check (no CA,
//!   name or date checks), like weechat. `chat-server` logs it at start.
//!
//! A pinned certificate is trusted for any name and date: whoever holds its private
//! key is the server the user chose. The handshake's signatures are always checked.
//! Every verification failure comes back as an error that says what to do
//! ([`explain_handshake_error`]).

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore, SignatureScheme,
};

/// What to do when the server's certificate is not trusted.
pub const HINT: &str = "pass --ca FILE with the CA or the server's own certificate, or \
    --tls-fingerprint SHA256:... (chat-server logs it at start)";

/// A SHA-256 certificate fingerprint: 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    /// `SHA256:` and the bytes in uppercase hex separated by colons, as
    /// `chat-server` logs it and `openssl x509 -fingerprint -sha256` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHA256:")?;
        for (i, byte) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ":" };
            write!(f, "{sep}{byte:02X}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;

    /// 64 hex digits, any case, colons optional, with or without `SHA256:` (or
    /// `sha256//`-less forms such as openssl's `sha256 Fingerprint=` value).
    fn from_str(text: &str) -> Result<Self, String> {
        let hex = text.trim();
        let hex = match hex.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("sha256:") => &hex[7..],
            _ => hex,
        };
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
        let bad = || {
            format!(
                "{text:?} is not a SHA-256 fingerprint: give SHA256: and 64 hex digits, colons optional"
            )
        };
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(bytes))
    }
}

/// The certificate presented did not have the fingerprint given.
#[derive(Debug)]
struct FingerprintMismatch {
    presented: Fingerprint,
}

impl fmt::Display for FingerprintMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate has fingerprint {}, not the one given with --tls-fingerprint",
            self.presented
        )
    }
}

impl std::error::Error for FingerprintMismatch {}

/// Trusts a pinned certificate or fingerprint, else (without a fingerprint) what the
/// CA path check accepts.
#[derive(Debug)]
pub struct PinningVerifier {
    /// Certificates trusted as they are (those of the `--ca` file).
    pinned: Vec<CertificateDer<'static>>,
    /// `--tls-fingerprint`: when set, the only check.
    fingerprint: Option<Fingerprint>,
    /// The CA path check; `None` when only pins count.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl PinningVerifier {
    /// Trusts only certificates whose SHA-256 is `fingerprint`.
    pub fn fingerprint(fingerprint: Fingerprint, provider: Arc<CryptoProvider>) -> Self {
        PinningVerifier {
            pinned: Vec::new(),
            fingerprint: Some(fingerprint),
            webpki: None,
            provider,
        }
    }

    /// Trusts the certificates in `pinned` as they are, and whatever chains to one
    /// of `roots` (when there is any).
    pub fn with_roots(
        pinned: Vec<CertificateDer<'static>>,
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let webpki = match roots.is_empty() {
            true => None,
            false => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
        };
        Ok(PinningVerifier {
            pinned,
            fingerprint: None,
            webpki,
            provider,
        })
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Some(want) = self.fingerprint {
            let presented = Fingerprint::of(end_entity);
            return match presented == want {
                true => Ok(ServerCertVerified::assertion()),
                false => Err(Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(FingerprintMismatch { presented })),
                ))),
            };
        }
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The text of a failed TLS handshake: when the server's certificate was not
/// trusted, why and what to do ([`HINT`]); `None` for other failures.
pub fn explain_handshake_error(error: &std::io::Error) -> Option<String> {
    let rustls = error.get_ref()?.downcast_ref::<Error>()?;
    match rustls {
        Error::InvalidCertificate(CertificateError::Other(other))
            if other.0.downcast_ref::<FingerprintMismatch>().is_some() =>
        {
            Some(format!("{}; {HINT}", other.0))
        }
        Error::InvalidCertificate(_) => Some(format!(
            "the server's certificate is not trusted ({rustls}); {HINT}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_common_form() {
        let hex = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        let want = Fingerprint([0xAB; 32]);
        for text in [
            format!("SHA256:{hex}"),
            format!("sha256:{colons}"),
            hex.clone(),
            colons.clone(),
            format!(" SHA256:{} ", colons.to_uppercase()),
        ] {
            assert_eq!(text.parse::<Fingerprint>(), Ok(want), "{text}");
        }
        for bad in [
            "",
            "SHA256:",
            "SHA256:ab",
            &"g".repeat(64),
            &format!("{hex}00"),
        ] {
            let err = bad.parse::<Fingerprint>().expect_err(bad);
            assert!(err.contains("not a SHA-256 fingerprint"), "{err}");
        }
        assert_eq!(
            want.to_string(),
            format!("SHA256:{}", vec!["AB"; 32].join(":"))
        );
        assert_eq!(want.to_string().parse::<Fingerprint>(), Ok(want));
    }
}
