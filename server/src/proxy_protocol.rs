//! The PROXY protocol (versions 1 and 2, as haproxy's `send-proxy`/`send-proxy-v2`
//! and nginx's `proxy_protocol on;` send it), from trusted proxies only
//! (`--proxy-protocol-from CIDR`).
//!
//! A connection from a trusted address must start with a valid header, read within
//! [`HEADER_TIMEOUT`], or it is closed; the header's source address then stands for
//! the client everywhere the server uses one (connections per address, the login
//! backoff, the log). A `LOCAL` (v2) or `UNKNOWN` (v1) header, which proxies send for
//! their own health checks, keeps the proxy's address. Connections from any other
//! address may never send a header: the handler closes them at one like any other
//! foreign protocol ([`chat_protocol::foreign`]), so nobody can claim an address.
//!
//! The header is read byte-exactly (nothing after it is consumed, so the bytes that
//! follow, the chat lines or a TLS handshake, stay in the socket), then checked and
//! decoded by the `ppp` crate.
//! Specification: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.

use ipnet::IpNet;
use ppp::HeaderResult;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest a trusted proxy may take to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// v1 headers are at most 107 bytes, CRLF included (specification, section 2.1).
const V1_MAX: usize = 107;
/// The v2 signature, the first 12 bytes of every v2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// v2: signature, version and command, family and protocol, and a 2-byte length.
const V2_FIXED: usize = 16;

/// Addresses allowed to send a PROXY header (`--proxy-protocol-from`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies in `nets`.
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address counts as its IPv4 address) is in
    /// one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses a `--proxy-protocol-from` value: a network (`10.0.0.0/8`, `::1/128`) or a
/// single address (`127.0.0.1`).
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or network (e.g. 10.0.0.0/8, 127.0.0.1)"))
}

/// Why a trusted proxy's connection was closed before serving it.
#[derive(Debug, Error)]
pub enum HeaderError {
    /// Nothing or too little arrived within [`HEADER_TIMEOUT`].
    #[error("no PROXY header within {HEADER_TIMEOUT:?}")]
    Timeout,
    /// The connection closed or failed while the header was read.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid PROXY header.
    #[error("invalid PROXY header: {0}")]
    Invalid(String),
}

/// Reads the PROXY header at the start of `stream` (within [`HEADER_TIMEOUT`]) and
/// returns the client's address from it, or `proxy` itself for `LOCAL`/`UNKNOWN`.
pub async fn read_source<R: AsyncRead + Unpin>(
    stream: &mut R,
    proxy: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    let header = tokio::time::timeout(HEADER_TIMEOUT, read_header(stream))
        .await
        .map_err(|_| HeaderError::Timeout)??;
    Ok(source(&header)?.unwrap_or(proxy))
}

/// The bytes of one header, exactly: nothing after it is read.
async fn read_header<R: AsyncRead + Unpin>(stream: &mut R) -> Result<Vec<u8>, HeaderError> {
    // Six bytes tell the versions apart ("PROXY " or the start of the v2 signature)
    // and are shorter than any header.
    let mut header = vec![0u8; 6];
    stream.read_exact(&mut header).await?;
    if header == b"PROXY " {
        // v1: one line, up to its LF.
        let mut byte = [0u8; 1];
        while header.last() != Some(&b'\n') {
            if header.len() >= V1_MAX {
                return Err(HeaderError::Invalid(
                    "v1 header without CRLF within 107 bytes".into(),
                ));
            }
            stream.read_exact(&mut byte).await?;
            header.push(byte[0]);
        }
    } else if header[..] == V2_SIGNATURE[..6] {
        header.resize(V2_FIXED, 0);
        stream.read_exact(&mut header[6..]).await?;
        if header[..12] != V2_SIGNATURE[..] {
            return Err(HeaderError::Invalid("bad v2 signature".into()));
        }
        let length = usize::from(u16::from_be_bytes([header[14], header[15]]));
        header.resize(V2_FIXED + length, 0);
        stream.read_exact(&mut header[V2_FIXED..]).await?;
    } else {
        return Err(HeaderError::Invalid(
            "the connection does not start with one (v1 `PROXY ...` or the v2 signature)".into(),
        ));
    }
    Ok(header)
}

/// The client's address in a complete `header`; `None` for a `LOCAL` (v2) or
/// `UNKNOWN` (v1) header, and for address families without one (UNIX sockets).
pub fn source(header: &[u8]) -> Result<Option<SocketAddr>, HeaderError> {
    let invalid = |e: &dyn std::fmt::Display| HeaderError::Invalid(e.to_string());
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            ppp::v1::Addresses::Tcp4(a) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v1::Addresses::Tcp6(a) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(h)) => Ok(match (h.command, h.addresses) {
            (ppp::v2::Command::Local, _) => None,
            (_, ppp::v2::Addresses::IPv4(a)) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            (_, ppp::v2::Addresses::IPv6(a)) => {
                Some(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            (_, ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_)) => None,
        }),
        HeaderResult::V1(Err(e)) => Err(invalid(&e)),
        HeaderResult::V2(Err(e)) => Err(invalid(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Command, Protocol, Version};

    fn v2(command: Command, from: &str, to: &str) -> Vec<u8> {
        let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
        Builder::with_addresses(Version::Two | command, Protocol::Stream, (from, to))
            .build()
            .unwrap()
    }

    async fn read(bytes: &[u8]) -> (Result<SocketAddr, HeaderError>, Vec<u8>) {
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut input = bytes;
        let got = read_source(&mut input, proxy).await;
        (got, input.to_vec())
    }

    #[tokio::test]
    async fn v1_and_v2_give_the_client_and_leave_the_rest_unread() {
        let (got, rest) = read(b"PROXY TCP4 192.0.2.7 10.0.0.2 40000 8889\r\nping\r\n").await;
        assert_eq!(got.unwrap(), "192.0.2.7:40000".parse().unwrap());
        assert_eq!(rest, b"ping\r\n");
        let (got, rest) = read(b"PROXY TCP6 2001:db8::7 2001:db8::2 40000 8889\r\nx").await;
        assert_eq!(got.unwrap(), "[2001:db8::7]:40000".parse().unwrap());
        assert_eq!(rest, b"x");
        let mut bytes = v2(Command::Proxy, "198.51.100.9:1234", "10.0.0.2:8889");
        bytes.extend_from_slice(b"ping\r\n");
        let (got, rest) = read(&bytes).await;
        assert_eq!(got.unwrap(), "198.51.100.9:1234".parse().unwrap());
        assert_eq!(rest, b"ping\r\n");
        let mut bytes = v2(Command::Proxy, "[2001:db8::9]:1234", "[2001:db8::2]:8889");
        bytes.push(b'z');
        let (got, rest) = read(&bytes).await;
        assert_eq!(got.unwrap(), "[2001:db8::9]:1234".parse().unwrap());
        assert_eq!(rest, b"z");
    }

    #[tokio::test]
    async fn health_checks_keep_the_proxy_address() {
        let (got, _) = read(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(got.unwrap(), "10.0.0.1:5000".parse().unwrap());
        let (got, _) = read(&v2(Command::Local, "0.0.0.0:0", "0.0.0.0:0")).await;
        assert_eq!(got.unwrap(), "10.0.0.1:5000".parse().unwrap());
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        for bytes in [
            &b"ping\r\n"[..],
            b"PROXY TCP4 not-an-ip 10.0.0.2 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.2 40000\r\n",
            b"PROXY TCP9 1 2 3 4\r\n",
            b"\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c",
        ] {
            let (got, _) = read(bytes).await;
            assert!(
                matches!(got, Err(HeaderError::Invalid(_))),
                "{bytes:?}: {got:?}"
            );
        }
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let (got, _) = read(long.as_bytes()).await;
        assert!(matches!(got, Err(HeaderError::Invalid(_))), "{got:?}");
        // Cut short: the peer closed.
        let (got, _) = read(b"PROXY TCP4 192.0.2.7").await;
        assert!(matches!(got, Err(HeaderError::Io(_))), "{got:?}");
    }

    #[test]
    fn trusted_networks() {
        let nets = ["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"]
            .map(|n| parse_network(n).unwrap())
            .to_vec();
        let trusted = TrustedProxies::new(nets);
        for ip in ["10.1.2.3", "127.0.0.1", "::ffff:10.9.9.9", "2001:db8::1"] {
            assert!(trusted.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["11.0.0.1", "127.0.0.2", "::1", "2001:db9::1"] {
            assert!(!trusted.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("localhost").is_err());
    }
}
