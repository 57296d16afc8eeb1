//! Lines of another protocol sent to the chat port: an HTTP request (what a web page
//! can make a browser send to a server on localhost), an HTTP/2 preface, or a PROXY
//! protocol header from a source that is not a trusted proxy.
//!
//! The server closes such a connection at once, running nothing after the line (not
//! even requests already pipelined behind it), as redis does ("Possible SECURITY
//! ATTACK detected" on `POST` and `Host:`). No chat command looks like any of these:
//! commands are single lowercase words (matched case-insensitively), and none is an
//! HTTP method or ends in `:`.

/// Which foreign protocol a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// An HTTP request line (`METHOD SP target SP HTTP/x.y`, any method; or a
    /// registered method with an origin-form target and no version, as HTTP/0.9
    /// sends), including the HTTP/2 preface `PRI * HTTP/2.0`.
    HttpRequest,
    /// An HTTP header line that only a browser or HTTP client sends first in a
    /// cross-protocol request: `Host:`, `Origin:`, `User-Agent:`, `Content-Type:`,
    /// `Content-Length:` (any case).
    HttpHeader,
    /// A PROXY protocol header (`PROXY TCP4 ...` for v1; for v2, the line made of
    /// the NUL byte that its binary signature `\r\n\r\n\0\r\nQUIT\n` splits into).
    ProxyHeader,
}

/// HTTP methods that are recognised even without a version (RFC 9110 section 9, PATCH
/// from RFC 5789, PRI from RFC 9113).
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI",
];

/// Headers that mark a line as HTTP (compared case-insensitively, colon included).
const HEADERS: [&str; 5] = [
    "host:",
    "origin:",
    "user-agent:",
    "content-type:",
    "content-length:",
];

/// The foreign protocol `line` (one request line, terminator removed) belongs to,
/// or `None` for anything a chat client may send (commands, valid or not).
pub fn foreign_protocol(line: &str) -> Option<Foreign> {
    if line.starts_with('\0') {
        return Some(Foreign::ProxyHeader);
    }
    let mut words = line.split(' ');
    let first = words.next().unwrap_or("");
    if first == "PROXY" && matches!(words.next(), Some("TCP4" | "TCP6" | "UNKNOWN")) {
        return Some(Foreign::ProxyHeader);
    }
    if HEADERS.iter().any(|h| first.eq_ignore_ascii_case(h)) {
        return Some(Foreign::HttpHeader);
    }
    if is_request_line(line) {
        return Some(Foreign::HttpRequest);
    }
    None
}

/// `METHOD SP target SP HTTP/d[.d]` with a token method (RFC 9112 section 3), or a
/// known method followed by an origin-form (`/...`), asterisk or absolute target.
fn is_request_line(line: &str) -> bool {
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        [method, target, version] => {
            is_token(method) && !target.is_empty() && is_http_version(version)
        }
        [method, target] => METHODS.contains(method) && is_target(target),
        _ => false,
    }
}

fn is_token(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_http_version(word: &str) -> bool {
    let Some(rest) = word.strip_prefix("HTTP/") else {
        return false;
    };
    let mut parts = rest.split('.');
    let digit =
        |p: Option<&str>| p.is_some_and(|p| p.len() == 1 && p.as_bytes()[0].is_ascii_digit());
    match (parts.next(), parts.next(), parts.next()) {
        (major, None, None) => digit(major),
        (major, minor, None) => digit(major) && digit(minor),
        _ => false,
    }
}

fn is_target(word: &str) -> bool {
    word.starts_with('/')
        || word == "*"
        || word.starts_with("http://")
        || word.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_lines_are_foreign() {
        for line in [
            "GET / HTTP/1.1",
            "POST / HTTP/1.1",
            "POST /api/login HTTP/1.0",
            "PUT /x HTTP/2",
            "PRI * HTTP/2.0",
            "OPTIONS * HTTP/1.1",
            "FROB /anything HTTP/1.1",
            "get /lowercase HTTP/1.1",
            "GET /",
            "GET http://example.org/",
            "CONNECT example.org:443 HTTP/1.1",
        ] {
            assert_eq!(
                foreign_protocol(line),
                Some(Foreign::HttpRequest),
                "{line:?}"
            );
        }
    }

    #[test]
    fn http_headers_are_foreign() {
        for line in [
            "Host: x",
            "host: 127.0.0.1:8889",
            "HOST:",
            "Origin: https://evil.example",
            "User-Agent: Mozilla/5.0",
            "Content-Type: text/plain",
            "content-length: 20",
        ] {
            assert_eq!(
                foreign_protocol(line),
                Some(Foreign::HttpHeader),
                "{line:?}"
            );
        }
    }

    #[test]
    fn proxy_headers_are_foreign() {
        for line in [
            "PROXY TCP4 192.0.2.1 192.0.2.2 56324 8889",
            "PROXY TCP6 2001:db8::1 2001:db8::2 56324 8889",
            "PROXY UNKNOWN",
            "\0",
        ] {
            assert_eq!(
                foreign_protocol(line),
                Some(Foreign::ProxyHeader),
                "{line:?}"
            );
        }
    }

    #[test]
    fn chat_lines_are_not_foreign() {
        for line in [
            "",
            "ping",
            "auth messi surabaya",
            "send tok henderson GET / HTTP/1.1",
            "send tok henderson Host: x",
            "send tok henderson PROXY TCP4",
            "inbox 18c54ed3-ac15-497b-bceb-24d173627696",
            "frob",
            "GET",
            "get me out",
            "host",
            "proxy tcp4 1 2 3 4",
            "POST",
            "GET / HTTP/x",
            "GET / HTTP/1.1.1",
        ] {
            assert_eq!(foreign_protocol(line), None, "{line:?}");
        }
    }
}
