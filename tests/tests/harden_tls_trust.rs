//! Issue 17 item 5: a self-signed certificate made the common way is trusted when
//! the client is given exactly that certificate (`--ca`) or its fingerprint
//! (`--tls-fingerprint`, which the server logs at start), and a refusal says what to
//! do. The real `chat` against the real `chat-server`, with certificates made by the
//! real `openssl req -x509` (which marks them as CAs).

use chat_tests::{ServerProcess, eventually, run_bin};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CHAT_TIMEOUT: Duration = Duration::from_secs(60);

/// `openssl req -x509` as most guides give it; returns (certificate, key) paths.
fn openssl_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// What `openssl x509 -fingerprint -sha256` says, as `SHA256:AB:...`.
fn openssl_fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl x509");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.trim().rsplit('=').next().expect("fingerprint");
    format!("SHA256:{hex}")
}

/// `chat --plain --once "auth messi surabaya"` over TLS with `trust` flags; returns
/// (succeeded, stdout, stderr).
fn chat_login(port: u16, trust: &[&str]) -> (bool, String, String) {
    let addr = format!("localhost:{port}");
    let mut args = vec!["--plain", "--addr", &addr];
    args.extend_from_slice(trust);
    args.extend_from_slice(&["--once", "auth messi surabaya"]);
    let out = run_bin("chat", &args, CHAT_TIMEOUT);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_servers_own_certificate_or_fingerprint_is_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = openssl_self_signed(dir.path(), "server");
    let (other, _) = openssl_self_signed(dir.path(), "other");
    let server = ServerProcess::start(&[
        "--listen",
        "tls://127.0.0.1:0",
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    let port = server.addr().port();
    // The start-up log names the certificate's fingerprint, as openssl computes it.
    let logged = eventually(
        Duration::from_secs(10),
        "the fingerprint in the log",
        || async {
            let log = server.stderr();
            let line = log
                .lines()
                .find(|l| l.contains("TLS certificate"))?
                .to_string();
            let at = line.find("fingerprint=")?;
            Some(
                line[at + "fingerprint=".len()..]
                    .split(' ')
                    .next()?
                    .to_string(),
            )
        },
    )
    .await;
    assert_eq!(logged, openssl_fingerprint(&cert));

    // --ca holding the server's own certificate (a CA by openssl's marking).
    let (ok, out, err) = chat_login(port, &["--ca", cert.to_str().expect("path")]);
    assert!(ok, "--ca with the server's certificate refused: {err}");
    assert_eq!(out.trim(), "username messi logged in");

    // The fingerprint, as logged and as plain lowercase hex without colons.
    let bare = logged["SHA256:".len()..].replace(':', "").to_lowercase();
    for pin in [logged.as_str(), bare.as_str()] {
        let (ok, out, err) = chat_login(port, &["--tls-fingerprint", pin]);
        assert!(ok, "--tls-fingerprint {pin} refused: {err}");
        assert_eq!(out.trim(), "username messi logged in");
    }

    // Another certificate, or another fingerprint: refused, saying what to do.
    let (ok, _, err) = chat_login(port, &["--ca", other.to_str().expect("path")]);
    assert!(!ok, "trusted a certificate it was not given");
    assert!(
        err.contains("the server's certificate is not trusted"),
        "{err}"
    );
    assert!(
        err.contains("--ca FILE") && err.contains("--tls-fingerprint"),
        "{err}"
    );
    let wrong = openssl_fingerprint(&other);
    let (ok, _, err) = chat_login(port, &["--tls-fingerprint", &wrong]);
    assert!(!ok, "trusted the wrong fingerprint");
    assert!(
        err.contains(&format!(
            "the server's certificate has fingerprint {logged}"
        )),
        "{err}"
    );
    assert!(err.contains("--ca FILE"), "{err}");
    // A malformed fingerprint is a usage error.
    let (ok, _, err) = chat_login(port, &["--tls-fingerprint", "SHA256:12:34"]);
    assert!(!ok);
    assert!(err.contains("not a SHA-256 fingerprint"), "{err}");
}
