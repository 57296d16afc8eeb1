//! `chat-server user ...` end to end against the real binary, on the database of a
//! server that is running, and self-registration over the wire (issue 3).

use chat_tests::{DEMO_PASSWORD, ServerProcess, assert_error, assert_ok};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one `user` command may take (argon2 in a debug build included).
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

fn db_arg(dir: &Path) -> String {
    format!("sqlite://{}/chat.db", dir.display())
}

/// Runs `chat-server --db DB user ARGS...` with `input` on standard input (closed
/// when `None`); returns its output once it exits. Panics if it runs too long.
fn user_cmd(dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(chat_tests::bin_path("chat-server"))
        .args(["--db", &db_arg(dir), "user"])
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chat-server user");
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .expect("writing the password");
    }
    let end = Instant::now() + CLI_TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            panic!("chat-server user {args:?} still running after {CLI_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collecting output")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\nstdout: {}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

/// Asserts failure and returns stderr.
fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed; stdout: {}",
        stdout(&out)
    );
    stderr(&out)
}

#[tokio::test]
async fn user_commands_work_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = db_arg(dir.path());
    let server = ServerProcess::start(&["--db", &db]);
    let mut messi = server.conn().await;
    let messi_token = messi.login_demo("messi").await;

    // add, then log in over TCP with the new account.
    let added = ok(user_cmd(
        dir.path(),
        &[
            "add",
            "arini",
            "--display-name",
            "Arini Indah",
            "--country",
            "Indonesia",
            "--password-stdin",
        ],
        Some("hehe\n"),
    ));
    assert_eq!(added.trim(), "created user arini (Arini Indah)");
    let mut arini = server.conn().await;
    let arini_token = arini.login("arini", "hehe").await;
    assert_ok(
        &arini
            .request(&format!("send {arini_token} messi halo messi"))
            .await,
    );
    let inbox = messi.request(&format!("inbox {messi_token}")).await;
    assert_eq!(
        inbox["messages"]["arini"][0]["msg_from"], "Arini Indah",
        "{inbox}"
    );
    assert_eq!(
        inbox["messages"]["arini"][0]["msg"], "halo messi",
        "{inbox}"
    );

    // list shows the new account with the demo users, and no hashes.
    let list = ok(user_cmd(dir.path(), &["list"], None));
    let arini_line = list
        .lines()
        .find(|l| l.starts_with("arini "))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        arini_line.contains("Arini Indah") && arini_line.contains("Indonesia"),
        "{list}"
    );
    for demo in ["messi", "henderson", "lineker"] {
        assert!(
            list.lines().any(|l| l.starts_with(&format!("{demo} "))),
            "{demo} missing:\n{list}"
        );
    }
    assert!(!list.contains("argon2"), "{list}");

    // passwd: the old password stops working, the new one works.
    ok(user_cmd(
        dir.path(),
        &["passwd", "arini", "--password-stdin"],
        Some("baru\n"),
    ));
    let mut again = server.conn().await;
    assert_error(&again.request("auth arini hehe").await, "wrong password");
    again.login("arini", "baru").await;

    // remove: the running server ends the session at once and refuses the login.
    let removed = ok(user_cmd(dir.path(), &["remove", "arini"], None));
    assert!(removed.contains("removed user arini"), "{removed}");
    assert_error(
        &arini.request(&format!("inbox {arini_token}")).await,
        "invalid or expired token",
    );
    assert_error(&again.request("auth arini baru").await, "unknown user");
}

#[test]
fn user_commands_refuse_bad_input_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = fails(user_cmd(
        dir.path(),
        &["add", "Bad.Name", "--password-stdin"],
        Some("x\n"),
    ));
    assert!(
        err.contains("invalid username: use 1-32 characters a-z, 0-9, _ . -"),
        "{err}"
    );
    ok(user_cmd(
        dir.path(),
        &["add", "arini", "--password-stdin"],
        Some("hehe\n"),
    ));
    let err = fails(user_cmd(
        dir.path(),
        &["add", "arini", "--password-stdin"],
        Some("x\n"),
    ));
    assert!(err.contains("user already exists: arini"), "{err}");
    let err = fails(user_cmd(dir.path(), &["remove", "ghost"], None));
    assert!(err.contains("no such user: ghost"), "{err}");
    let err = fails(user_cmd(
        dir.path(),
        &["passwd", "ghost", "--password-stdin"],
        Some("x\n"),
    ));
    assert!(err.contains("no such user: ghost"), "{err}");
    let err = fails(user_cmd(
        dir.path(),
        &["add", "nopass", "--password-stdin"],
        Some("\n"),
    ));
    assert!(err.contains("the password is empty"), "{err}");
    // No terminal and no --password-stdin: say how to pass one, don't hang.
    let err = fails(user_cmd(dir.path(), &["add", "noterm"], None));
    assert!(err.contains("--password-stdin"), "{err}");
    // A database made by the user command is not new to the server: no demo users.
    let list = ok(user_cmd(dir.path(), &["list"], None));
    assert_eq!(
        list.lines().filter(|l| !l.is_empty()).count(),
        3,
        "header, arini, count:\n{list}"
    );
}

#[tokio::test]
async fn registration_is_off_by_default_and_validates_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = db_arg(dir.path());
    let server = ServerProcess::start(&["--db", &db]);
    let mut conn = server.conn().await;
    assert_error(
        &conn.request("register arini hehe Arini").await,
        "registration is disabled",
    );
    drop((conn, server));

    let server = ServerProcess::start(&["--db", &db, "--allow-register"]);
    let mut conn = server.conn().await;
    let reply = conn.request("register arini hehe Arini Indah").await;
    assert_ok(&reply);
    assert_eq!(reply["display_name"], "Arini Indah", "{reply}");
    let bad = conn.request("register Bad!Name hehe").await;
    assert_eq!(bad["status"], "ERROR");
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid username")),
        "{bad}"
    );
    assert_error(
        &conn.request("register arini other").await,
        "user already exists: arini",
    );
    drop((conn, server));

    // The account is in the database: the CLI lists it, a restarted server logs it in.
    let list = ok(user_cmd(dir.path(), &["list"], None));
    assert!(
        list.lines()
            .any(|l| l.starts_with("arini ") && l.contains("Arini Indah")),
        "{list}"
    );
    let server = ServerProcess::start(&["--db", &db]);
    let mut conn = server.conn().await;
    conn.login("arini", "hehe").await;
    conn.login("messi", DEMO_PASSWORD).await;
}
