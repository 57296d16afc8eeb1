//! Issue 17 item 4: control characters never reach other people's terminals. Messages
//! with control characters (tab excepted) and display names with control or bidi
//! control characters are refused with a clear ERROR on every path, and nothing is
//! stored; names already stored by an older version are reported at start. The real
//! `chat-server`: replies, the store's contents, and the log.

use chat_server::storage::Store;
use chat_server::storage::sqlite::{Access, SqliteOptions, SqliteStore};
use chat_tests::{ServerProcess, assert_error, assert_ok, bin_path, run_bin};
use std::process::{Command, Stdio};
use std::time::Duration;

const CLI_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn messages_with_control_characters_are_refused_and_not_stored() {
    let server = ServerProcess::start(&[]);
    let mut conn = server.conn().await;
    let messi = conn.login_demo("messi").await;
    for text in [
        "\u{1b}]0;PWNED\u{7}\u{1b}[2J",
        "ring\u{7}",
        "fake\rline",
        "nul\0byte",
        "del\u{7f}",
        "c1 csi\u{9b}2J",
        "next\u{85}line",
        "backspace\u{8}",
    ] {
        let reply = conn
            .request(&format!("send {messi} henderson {text}"))
            .await;
        assert_eq!(reply["status"], "ERROR", "{text:?}: {reply}");
        let why = reply["message"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("message contains control character"),
            "{text:?}: {why}"
        );
    }
    // Tab stays allowed.
    assert_ok(
        &conn
            .request(&format!("send {messi} henderson col1\tcol2"))
            .await,
    );
    let henderson = conn.login_demo("henderson").await;
    let inbox = conn.request(&format!("inbox {henderson}")).await;
    let got = inbox["messages"]["messi"].as_array().expect("messages");
    assert_eq!(got.len(), 1, "only the tab message is stored: {inbox}");
    assert_eq!(got[0]["msg"], "col1\tcol2");
}

#[tokio::test]
async fn register_refuses_unsafe_display_names() {
    let server = ServerProcess::start(&["--allow-register"]);
    let mut conn = server.conn().await;
    for (n, (name, why)) in [
        (
            "evil\u{202E}gnp.exe",
            "bidirectional control character \\u{202e}",
        ),
        ("a\u{2066}b", "bidirectional control character \\u{2066}"),
        ("mark\u{200F}", "bidirectional control character \\u{200f}"),
        ("\u{1b}[31mred", "control character \\u{1b}"),
        ("c1\u{9b}", "control character \\u{9b}"),
        ("del\u{7f}", "control character \\u{7f}"),
        ("tab\there", "control character \\u{9}"),
    ]
    .iter()
    .enumerate()
    {
        let reply = conn.request(&format!("register eve{n} pw {name}")).await;
        assert_error(
            &reply,
            &format!("invalid display name: display name contains {why}"),
        );
        let reply = conn.request(&format!("auth eve{n} pw")).await;
        assert_error(&reply, "unknown user");
    }
    let reply = conn.request("register ok1 pw Arini عربي 名前").await;
    assert_ok(&reply);
}

#[test]
fn users_file_and_user_add_refuse_unsafe_display_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/chat.db", dir.path().display());
    let users = dir.path().join("users.txt");
    std::fs::write(&users, "arini pw Arini\u{202E}txt\n").expect("users file");
    let out = run_bin(
        "chat-server",
        &[
            "--db",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--users",
            users.to_str().expect("path"),
        ],
        CLI_TIMEOUT,
    );
    assert!(!out.status.success(), "started with a bad users file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "users.txt:1: display name contains bidirectional control character \\u{202e}"
        ),
        "{err}"
    );

    let mut child = Command::new(bin_path("chat-server"))
        .args(["--db", &db, "user", "add", "arini", "--password-stdin"])
        .args(["--display-name", "Arini\u{1b}]0;x\u{7}"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user add");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("user add output");
    assert!(!out.status.success(), "user add accepted it");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid display name: contains control character \\u{1b}"),
        "{err}"
    );
    let list = run_bin("chat-server", &["--db", &db, "user", "list"], CLI_TIMEOUT);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(!listed.contains("arini"), "stored anyway: {listed}");
}

/// A database written before the rules holds a name they refuse: the server starts,
/// warns about it (escaped), and `user list` shows it escaped.
#[tokio::test]
async fn stored_unsafe_display_names_are_reported_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chat.db");
    {
        let options = SqliteOptions {
            access: Access::Admin,
            ..SqliteOptions::default()
        };
        let (store, _) = SqliteStore::open_with(&path, options).await.expect("open");
        for (name, display) in [
            ("old1", "Old\u{1b}[2J"),
            ("old2", "\u{202E}evil"),
            ("fine", "Fine"),
        ] {
            let user = chat_server::storage::User {
                username: name.into(),
                display_name: display.into(),
                country: None,
                password_hash: "not-a-hash".into(),
            };
            store.create_user(&user).await.expect("create");
        }
    }
    let db = format!("sqlite://{}", path.display());
    let server = ServerProcess::start(&["--db", &db, "--no-demo-users"]);
    assert_eq!(server.conn().await.request("ping").await["message"], "pong");
    let log = server.stderr();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("stored display name has characters that are now refused"))
        .collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(warnings[0].contains("user=old1"), "{log}");
    assert!(warnings[0].contains(r"Old\u{1b}[2J"), "{log}");
    assert!(warnings[1].contains(r"\u{202e}evil"), "{log}");
    drop(server);
    let list = run_bin("chat-server", &["--db", &db, "user", "list"], CLI_TIMEOUT);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains(r"Old\u{1b}[2J"), "{listed}");
    assert!(!listed.contains('\u{1b}'), "{listed:?}");
}
