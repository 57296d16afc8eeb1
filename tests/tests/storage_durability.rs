//! Durable storage (issue 3) against the real `chat-server` binary on a SQLite file:
//! restarts keep messages, history and sessions; `kill -9` right after an `OK` loses
//! nothing; racing inbox drains deliver each message once; demo users are created
//! only in a new database.

use chat_tests::{DEMO_PASSWORD, RawConn, ServerProcess, assert_error, assert_ok};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tempfile::TempDir;

/// `--db sqlite://DIR/chat.db` for a database in `dir`.
fn db_arg(dir: &Path) -> String {
    format!("sqlite://{}/chat.db", dir.display())
}

fn start(dir: &Path, extra: &[&str]) -> ServerProcess {
    let db = db_arg(dir);
    let mut args = vec!["--db", db.as_str()];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Every message text in an `inbox` reply, per sender username, in order.
fn inbox_texts(reply: &Value) -> HashMap<String, Vec<String>> {
    assert_ok(reply);
    let Some(by_sender) = reply["messages"].as_object() else {
        panic!("inbox reply without a messages object: {reply}");
    };
    by_sender
        .iter()
        .map(|(sender, list)| {
            let texts = list
                .as_array()
                .unwrap_or_else(|| panic!("messages of {sender} are not a list: {reply}"))
                .iter()
                .map(|m| {
                    m["msg"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no msg text: {m}"))
                        .to_string()
                })
                .collect();
            (sender.clone(), texts)
        })
        .collect()
}

/// The texts `username` has waiting from `sender`, draining the inbox.
async fn drain_from(conn: &mut RawConn, token: &str, sender: &str) -> Vec<String> {
    let reply = conn.request(&format!("inbox {token}")).await;
    inbox_texts(&reply).remove(sender).unwrap_or_default()
}

/// `(id, from, msg)` of every entry of a `history` reply, oldest first.
fn history_entries(reply: &Value) -> Vec<(i64, String, String)> {
    assert_ok(reply);
    let Some(list) = reply["messages"].as_array() else {
        panic!("history reply without a messages list: {reply}");
    };
    list.iter()
        .map(|m| {
            let id = m["id"].as_i64().unwrap_or_else(|| panic!("no id: {m}"));
            let from = m["from"]
                .as_str()
                .unwrap_or_else(|| panic!("no from: {m}"))
                .to_string();
            let msg = m["msg"]
                .as_str()
                .unwrap_or_else(|| panic!("no msg: {m}"))
                .to_string();
            (id, from, msg)
        })
        .collect()
}

#[tokio::test]
async fn restart_keeps_messages_history_and_sessions() {
    let dir = temp_dir();
    let mut server = start(dir.path(), &[]);
    let mut messi = server.conn().await;
    let mut lineker = server.conn().await;
    let messi_token = messi.login_demo("messi").await;
    let lineker_token = lineker.login_demo("lineker").await;
    for text in ["satu", "dua"] {
        assert_ok(
            &lineker
                .request(&format!("send {lineker_token} messi {text}"))
                .await,
        );
    }
    assert_eq!(
        drain_from(&mut messi, &messi_token, "lineker").await,
        ["satu", "dua"]
    );
    assert_ok(
        &messi
            .request(&format!("send {messi_token} lineker tiga"))
            .await,
    );
    assert_ok(
        &lineker
            .request(&format!("send {lineker_token} messi empat"))
            .await,
    );
    drop((messi, lineker));
    server.terminate();
    assert!(
        server.wait_exit(chat_tests::IO_TIMEOUT).await.is_some(),
        "server did not stop on SIGTERM"
    );

    let server = start(dir.path(), &[]);
    let mut messi = server.conn().await;
    let mut lineker = server.conn().await;
    // Sessions survive: the old tokens work without logging in again.
    let who = messi.request(&format!("user_aktif {messi_token}")).await;
    assert_ok(&who);
    assert!(
        who.to_string().contains("lineker") && who.to_string().contains("messi"),
        "{who}"
    );
    // Undelivered messages survive, delivered ones are not delivered again.
    assert_eq!(
        drain_from(&mut messi, &messi_token, "lineker").await,
        ["empat"]
    );
    assert_eq!(
        drain_from(&mut lineker, &lineker_token, "messi").await,
        ["tiga"]
    );
    // History keeps everything, delivered or not, in order.
    let history = history_entries(
        &messi
            .request(&format!("history {messi_token} lineker"))
            .await,
    );
    let texts: Vec<&str> = history.iter().map(|(_, _, msg)| msg.as_str()).collect();
    assert_eq!(texts, ["satu", "dua", "tiga", "empat"]);
    assert_eq!(history[2].1, "messi");
    // Ids keep increasing across the restart.
    assert_ok(
        &lineker
            .request(&format!("send {lineker_token} messi lima"))
            .await,
    );
    let after = history_entries(
        &messi
            .request(&format!("history {messi_token} lineker 1"))
            .await,
    );
    assert_eq!(after.len(), 1);
    assert!(after[0].0 > history[3].0, "{after:?} after {history:?}");
    // Logging out is durable too.
    assert_ok(&messi.request(&format!("logout {messi_token}")).await);
    drop((messi, lineker, server));
    let server = start(dir.path(), &[]);
    let mut messi = server.conn().await;
    assert_error(
        &messi.request(&format!("inbox {messi_token}")).await,
        "invalid or expired token",
    );
}

#[tokio::test]
async fn history_pages_backwards_over_the_wire() {
    let dir = temp_dir();
    let server = start(dir.path(), &[]);
    let mut messi = server.conn().await;
    let mut lineker = server.conn().await;
    let messi_token = messi.login_demo("messi").await;
    let lineker_token = lineker.login_demo("lineker").await;
    for i in 0..7 {
        let (conn, token, peer) = if i % 2 == 0 {
            (&mut messi, &messi_token, "lineker")
        } else {
            (&mut lineker, &lineker_token, "messi")
        };
        assert_ok(&conn.request(&format!("send {token} {peer} h{i}")).await);
    }
    let texts =
        |entries: &[(i64, String, String)]| entries.iter().map(|e| e.2.clone()).collect::<Vec<_>>();
    let last3 = history_entries(
        &lineker
            .request(&format!("history {lineker_token} messi 3"))
            .await,
    );
    assert_eq!(texts(&last3), ["h4", "h5", "h6"]);
    let before = last3[0].0;
    let page = history_entries(
        &messi
            .request(&format!("history {messi_token} lineker 3 {before}"))
            .await,
    );
    assert_eq!(texts(&page), ["h1", "h2", "h3"]);
    let first = history_entries(
        &messi
            .request(&format!("history {messi_token} lineker 3 {}", page[0].0))
            .await,
    );
    assert_eq!(texts(&first), ["h0"]);
    // History drains nothing.
    assert_eq!(
        drain_from(&mut messi, &messi_token, "lineker").await,
        ["h1", "h3", "h5"]
    );
}

#[tokio::test]
async fn sigkill_right_after_ok_loses_nothing() {
    let dir = temp_dir();
    let mut server = start(dir.path(), &[]);
    let mut lineker = server.conn().await;
    let token = lineker.login_demo("lineker").await;
    const N: usize = 30;
    for i in 0..N {
        assert_ok(
            &lineker
                .request(&format!("send {token} messi durable-{i}"))
                .await,
        );
    }
    // The last OK has just been read: kill -9 at once, no chance to flush anything.
    server.kill();

    let server = start(dir.path(), &[]);
    let mut messi = server.conn().await;
    let messi_token = messi.login_demo("messi").await;
    let got = drain_from(&mut messi, &messi_token, "lineker").await;
    let want: Vec<String> = (0..N).map(|i| format!("durable-{i}")).collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_inbox_drains_deliver_each_message_exactly_once() {
    const N: usize = 500;
    let dir = temp_dir();
    let server = start(dir.path(), &[]);
    let mut sender = server.conn().await;
    let sender_token = sender.login_demo("lineker").await;
    let mut first = server.conn().await;
    let token = first.login_demo("messi").await;
    let second = server.conn().await;

    let send = tokio::spawn(async move {
        for i in 0..N {
            assert_ok(
                &sender
                    .request(&format!("send {sender_token} messi m{i}"))
                    .await,
            );
        }
    });
    let drain = |mut conn: RawConn, token: String| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..N {
                got.extend(drain_from(&mut conn, &token, "lineker").await);
            }
            (conn, got)
        })
    };
    let (d1, d2) = (drain(first, token.clone()), drain(second, token.clone()));
    send.await.expect("sender");
    let (mut conn, mut all) = d1.await.expect("drainer 1");
    let (_, more) = d2.await.expect("drainer 2");
    all.extend(more);
    all.extend(drain_from(&mut conn, &token, "lineker").await);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for text in &all {
        *counts.entry(text.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<String> = (0..N)
        .map(|i| format!("m{i}"))
        .filter(|m| !counts.contains_key(m.as_str()))
        .collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    assert_eq!(all.len(), N);
}

#[tokio::test]
async fn demo_users_only_in_a_new_database() {
    // A new database: demo users are created.
    let dir = temp_dir();
    let server = start(dir.path(), &[]);
    let mut conn = server.conn().await;
    conn.login_demo("messi").await;
    drop((conn, server));
    let removed = chat_tests::run_bin(
        "chat-server",
        &["--db", &db_arg(dir.path()), "user", "remove", "messi"],
        chat_tests::STARTUP_TIMEOUT,
    );
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    // An existing database: not created again, though the flag is absent.
    let server = start(dir.path(), &[]);
    let mut conn = server.conn().await;
    assert_error(
        &conn.request(&format!("auth messi {DEMO_PASSWORD}")).await,
        "unknown user",
    );
    conn.login_demo("lineker").await;
    drop((conn, server));

    // A new database with --no-demo-users: none, and none on later starts either.
    let dir = temp_dir();
    let server = start(dir.path(), &["--no-demo-users"]);
    let mut conn = server.conn().await;
    assert_error(
        &conn.request(&format!("auth messi {DEMO_PASSWORD}")).await,
        "unknown user",
    );
    drop((conn, server));
    let server = start(dir.path(), &[]);
    let mut conn = server.conn().await;
    assert_error(
        &conn.request(&format!("auth lineker {DEMO_PASSWORD}")).await,
        "unknown user",
    );
}

#[tokio::test]
async fn default_database_lives_in_the_data_dir_and_is_logged() {
    let dir = temp_dir();
    let data_dir = dir.path().join("data");
    let data_arg = data_dir.display().to_string();
    let mut cmd = std::process::Command::new(chat_tests::bin_path("chat-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--data-dir", &data_arg]);
    let server = ServerProcess::spawn(cmd).expect("server with --data-dir");
    let mut conn = server.conn().await;
    let token = conn.login_demo("messi").await;
    assert_ok(&conn.request(&format!("send {token} lineker hi")).await);
    let db = data_dir.join("chat.db");
    assert!(db.is_file(), "no database at {}", db.display());
    let logs = server.stderr();
    assert!(
        logs.contains(&db.display().to_string()),
        "the log does not name {}:\n{logs}",
        db.display()
    );
}
