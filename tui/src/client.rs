//! One connection to a chat server: write a request line, read its reply.
//!
//! The protocol is strictly request/response in order, so a client needs no
//! correlation ids: [`Client::call`] writes one line and reads one reply. Timeouts
//! and reconnection belong to the caller (the worker task), which knows the policy.
//! The connection is plain TCP or TLS ([`Transport`]); callers hold either as
//! [`Client`] (over [`Stream`]).

use crate::tls_trust::{self, Fingerprint, PinningVerifier};
use bytes::BytesMut;
use chat_protocol::{FrameError, Reply, ReplyDecoder, Request};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// What can go wrong talking to the server.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// TLS could not be set up (bad CA file, no usable roots, bad server name).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// The server sent something that is not a response.
    #[error(transparent)]
    Protocol(#[from] FrameError),
}

/// How to reach the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (the course protocol as is).
    #[default]
    Plain,
    /// TLS, verifying the server's certificate.
    Tls(TlsOptions),
}

/// TLS settings of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Trust only this PEM file instead of the system roots: its CA certificates,
    /// and any certificate in it presented as it is (pinning; see [`crate::tls_trust`]).
    pub ca: Option<PathBuf>,
    /// Trust only the certificate with this SHA-256 fingerprint (`--tls-fingerprint`).
    pub fingerprint: Option<Fingerprint>,
    /// Skip certificate verification (testing only: anyone can impersonate the server).
    pub insecure: bool,
}

/// A plain or TLS connection.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// A connection to a chat server over any byte stream (TCP, TLS, a test pipe).
#[derive(Debug)]
pub struct Client<S = Stream> {
    stream: S,
    buf: BytesMut,
    decoder: ReplyDecoder,
}

impl Transport {
    /// How the status bar names `addr` over this transport: `tls://` in front, and
    /// a loud mark when the certificate is not verified.
    pub fn label(&self, addr: &str) -> String {
        match self {
            Transport::Plain => addr.to_string(),
            Transport::Tls(TlsOptions {
                insecure: false, ..
            }) => format!("tls://{addr}"),
            Transport::Tls(TlsOptions { insecure: true, .. }) => format!("tls://{addr} UNVERIFIED"),
        }
    }
}

impl Client<Stream> {
    /// Connects over plain TCP to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> Result<Self, ClientError> {
        Self::connect_with(addr, &Transport::Plain).await
    }

    /// Connects to `addr` over `transport`.
    pub async fn connect_with(addr: &str, transport: &Transport) -> Result<Self, ClientError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Io {
                context: format!("connecting to {addr}"),
                source,
            })?;
        // Requests are small and answered one at a time: don't let Nagle delay them.
        let _ = tcp.set_nodelay(true);
        let stream = match transport {
            Transport::Plain => Stream::Plain(tcp),
            Transport::Tls(options) => {
                let connector = TlsConnector::from(Arc::new(tls_config(options)?));
                let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| ClientError::Tls(format!("bad server name {host:?}: {e}")))?;
                let tls = connector.connect(name, tcp).await.map_err(|source| {
                    match tls_trust::explain_handshake_error(&source) {
                        Some(why) => ClientError::Tls(why),
                        None => ClientError::Io {
                            context: format!("TLS handshake with {addr}"),
                            source,
                        },
                    }
                })?;
                Stream::Tls(Box::new(tls))
            }
        };
        Ok(Client::new(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Wraps an established stream.
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            buf: BytesMut::with_capacity(4096),
            decoder: ReplyDecoder::new(),
        }
    }

    /// Sends `request` and waits for its reply.
    pub async fn call(&mut self, request: &Request) -> Result<Reply, ClientError> {
        self.call_line(&request.to_line()).await
    }

    /// Sends a raw line (a `\r\n` is added when missing) and waits for the reply.
    pub async fn call_line(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.write_line(line).await?;
        self.read_reply().await
    }

    /// Writes one request line without waiting for the reply (for pipelining).
    pub async fn write_line(&mut self, line: &str) -> Result<(), ClientError> {
        let io = |source| ClientError::Io {
            context: "sending request".into(),
            source,
        };
        self.stream.write_all(line.as_bytes()).await.map_err(io)?;
        if !line.ends_with('\n') {
            self.stream.write_all(b"\r\n").await.map_err(io)?;
        }
        self.stream.flush().await.map_err(io)
    }

    /// Reads the next reply.
    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some(reply) = self.decoder.decode(&mut self.buf)? {
                return Ok(reply);
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|source| ClientError::Io {
                    context: "reading reply".into(),
                    source,
                })?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// The underlying stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// rustls settings for `options`: system roots, a CA file (CAs and pinned
/// certificates), a pinned fingerprint, or no verification.
fn tls_config(options: &TlsOptions) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    if options.insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnyCertificate(provider)))
            .with_no_client_auth());
    }
    if let Some(fingerprint) = options.fingerprint {
        let verifier = PinningVerifier::fingerprint(fingerprint, provider);
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    match &options.ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    ClientError::Tls(format!("reading CA file {}: {e}", path.display()))
                })?;
            if certs.is_empty() {
                return Err(ClientError::Tls(format!(
                    "no CA certificate in {}",
                    path.display()
                )));
            }
            roots.add_parsable_certificates(certs.iter().cloned());
            let verifier = PinningVerifier::with_roots(certs, roots, provider)
                .map_err(|e| ClientError::Tls(format!("CA file {}: {e}", path.display())))?;
            return Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth());
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(ClientError::Tls(
                    "no system root certificates found; give --ca FILE".into(),
                ));
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

mod insecure {
    //! `--insecure`: a verifier that accepts any certificate. Signatures are still
    //! checked, so the handshake is well-formed, but nothing ties the key to the name.

    use std::sync::Arc;
    use tokio_rustls::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use tokio_rustls::rustls::crypto::{
        CryptoProvider, verify_tls12_signature, verify_tls13_signature,
    };
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio_rustls::rustls::{DigitallySignedStruct, Error, SignatureScheme};

    #[derive(Debug)]
    pub(super) struct AcceptAnyCertificate(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
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
                &self.0.signature_verification_algorithms,
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
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn call_writes_a_line_and_reads_one_reply() {
        let (a, mut b) = duplex(1024);
        let mut client = Client::new(a);
        let server = tokio::spawn(async move {
            let mut got = vec![0u8; 64];
            let n = b.read(&mut got).await.unwrap();
            got.truncate(n);
            b.write_all(b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n")
                .await
                .unwrap();
            b.write_all(b"\r\n").await.unwrap();
            got
        });
        let reply = client.call(&Request::Ping).await.unwrap();
        assert_eq!(reply.message_text().as_deref(), Some("pong"));
        assert_eq!(server.await.unwrap(), b"ping\r\n");
    }

    #[tokio::test]
    async fn closed_connection_is_reported() {
        let (a, b) = duplex(64);
        drop(b);
        let mut client = Client::new(a);
        assert!(client.call(&Request::Ping).await.is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("chat-ca-test-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let err = tls_config(&TlsOptions {
            ca: Some(dir.clone()),
            ..TlsOptions::default()
        })
        .unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert!(err.to_string().contains("no CA certificate"), "{err}");
    }
}
