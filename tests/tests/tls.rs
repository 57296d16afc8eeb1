//! TLS end to end: a certificate made at test time (rcgen), a server with a plain and
//! a TLS listener at once, `chat_tui::client` verifying against the test CA.

use chat_server::storage::MemoryStore;
use chat_server::{Config, Listener};
use chat_tests::RawConn;
use chat_tui::client::{Client, ClientError, TlsOptions, Transport};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct TlsServer {
    plain: String,
    tls: String,
    ca: PathBuf,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

/// A self-signed certificate for `localhost`/127.0.0.1 (it is its own CA).
async fn start() -> TlsServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let acceptor = chat_server::tls::acceptor(&cert_path, &key_path).expect("acceptor");

    let store = MemoryStore::new();
    chat_server::users::seed_demo_users(&store)
        .await
        .expect("demo users");
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tls = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (plain_addr, tls_addr) = (
        plain.local_addr().expect("addr"),
        tls.local_addr().expect("addr"),
    );
    let shutdown = CancellationToken::new();
    let listeners = vec![Listener::plain(plain), Listener::tls(tls, acceptor)];
    tokio::spawn(chat_server::serve(
        listeners,
        store,
        Config::default(),
        shutdown.clone(),
    ));
    TlsServer {
        plain: plain_addr.to_string(),
        tls: format!("localhost:{}", tls_addr.port()),
        ca: cert_path,
        shutdown,
        _dir: dir,
    }
}

fn verified(ca: &std::path::Path) -> Transport {
    Transport::Tls(TlsOptions {
        ca: Some(ca.to_path_buf()),
        ..TlsOptions::default()
    })
}

#[tokio::test]
async fn tls_session_end_to_end_and_plain_listener_alongside() {
    let server = start().await;
    let mut messi = Client::connect_with(&server.tls, &verified(&server.ca))
        .await
        .expect("TLS connect");
    let login = messi
        .call_line("auth messi surabaya")
        .await
        .expect("login over TLS");
    let token = login.token().expect("token").to_string();
    assert!(
        messi
            .call_line(&format!("send {token} lineker halo lewat TLS 🔒"))
            .await
            .expect("send")
            .is_ok()
    );

    // lineker reads it over the plain listener: one server, both transports.
    let mut lineker = Client::connect(&server.plain).await.expect("plain connect");
    let t2 = lineker
        .call_line("auth lineker surabaya")
        .await
        .expect("login")
        .token()
        .expect("token")
        .to_string();
    let inbox = lineker
        .call_line(&format!("inbox {t2}"))
        .await
        .expect("inbox")
        .inbox()
        .expect("groups");
    assert_eq!(inbox[0].sender, "messi");
    assert_eq!(inbox[0].messages[0].msg, "halo lewat TLS 🔒");
    server.shutdown.cancel();
}

#[tokio::test]
async fn untrusted_certificate_is_refused_and_insecure_accepts_it() {
    let server = start().await;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let other_ca = server._dir.path().join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).expect("write");
    let err = Client::connect_with(&server.tls, &verified(&other_ca))
        .await
        .expect_err("must not trust");
    // The error says what to do (issue 17).
    assert!(matches!(err, ClientError::Tls(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the server's certificate is not trusted"),
        "{text}"
    );
    assert!(
        text.contains("--ca FILE") && text.contains("--tls-fingerprint"),
        "{text}"
    );

    let insecure = Transport::Tls(TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    });
    let mut c = Client::connect_with(&server.tls, &insecure)
        .await
        .expect("insecure connect");
    assert!(c.call_line("ping").await.expect("ping").is_ok());
    server.shutdown.cancel();
}

#[tokio::test]
async fn plain_client_on_the_tls_port_fails_cleanly() {
    let server = start().await;
    let addr = format!("127.0.0.1:{}", server.tls.rsplit_once(':').expect("port").1);
    let mut raw = RawConn::connect(addr.parse().expect("addr")).await;
    raw.set_timeout(Duration::from_secs(12));
    raw.send_line("auth messi surabaya").await;
    // The server answers no JSON and closes: the TLS handshake failed.
    let leftover = raw
        .closed_within(Duration::from_secs(12))
        .await
        .expect("closed, not hung");
    assert!(
        !leftover.windows(6).any(|w| w == b"status"),
        "no protocol reply on the TLS port"
    );
    // And it keeps serving TLS clients.
    let mut c = Client::connect_with(&server.tls, &verified(&server.ca))
        .await
        .expect("TLS connect");
    let pong = c.call_line("ping").await.expect("ping");
    assert_eq!(pong.message_text().as_deref(), Some("pong"));
    server.shutdown.cancel();
}

/// Runs the real `chat` binary in plain mode with `args`, feeding `input` on stdin.
async fn chat_plain(args: Vec<String>, input: &'static str) -> std::process::Output {
    let bin = chat_tests::bin_path("chat");
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(bin)
            .args(&args)
            .env("TERM", "dumb")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("chat output")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn the_chat_binary_talks_tls_and_refuses_an_unverified_server() {
    let server = start().await;
    let ca = server.ca.display().to_string();
    let script = "auth messi surabaya\nsend lineker halo aman\n";
    let out = chat_plain(
        vec![
            "--plain".into(),
            "--addr".into(),
            server.tls.clone(),
            "--ca".into(),
            ca,
        ],
        script,
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "username messi logged in\nmessage sent to lineker\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());

    // Without our CA the system roots don't know the test certificate: refused.
    let out = chat_plain(
        vec![
            "--plain".into(),
            "--tls".into(),
            "--addr".into(),
            server.tls.clone(),
        ],
        script,
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing was run: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // --insecure connects, and says loudly that it is insecure.
    let out = chat_plain(
        vec![
            "--plain".into(),
            "--insecure".into(),
            "--addr".into(),
            server.tls.clone(),
        ],
        script,
    )
    .await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: --insecure"));
    server.shutdown.cancel();
}
