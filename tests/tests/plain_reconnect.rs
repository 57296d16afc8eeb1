//! Plain mode across a server restart (issue 15): at a terminal (tmux) it says why,
//! connects again with backoff, logs in again by itself and goes on; from a pipe
//! (a script) it stops at the lost connection with status 1, as scripts should.
//!
//! Needs `tmux` on the PATH (`.ci/run` installs it).

mod tmux_util;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chat_tests::{ServerProcess, bin_path};
use tmux_util::{Tmux, quote};

/// The same server again on the same address (demo users, an empty memory store).
fn restart(server: &mut ServerProcess) -> ServerProcess {
    let addr = server.addr().to_string();
    server.kill();
    // The old socket may linger a moment: try again until the address is free.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let mut cmd = Command::new(bin_path("chat-server"));
        cmd.args(["--listen", &addr, "--db", "memory"]);
        match ServerProcess::spawn(cmd) {
            Ok(again) => return again,
            Err(e) => assert!(Instant::now() < end, "restarting on {addr}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn at_a_terminal_it_reconnects_and_logs_in_again() {
    let mut server = ServerProcess::start(&[]);
    let tmux = Tmux::new();
    let command = format!(
        "env CHAT_PASSWORD=surabaya TZ=UTC TERM=xterm XDG_CONFIG_HOME={} {} --plain --addr {} --user messi --poll-interval 100ms",
        quote(&std::env::temp_dir().join("chat-plain-tests-no-config")),
        quote(&bin_path("chat")),
        server.addr()
    );
    tmux.start(&command, 100, 20);
    tmux.wait_for("the prompt", |s| {
        s.last().map(String::as_str) == Some("messi>")
    });
    let _again = restart(&mut server);
    let screen = tmux.wait_for("logged in again", |s| {
        s.iter()
            .any(|r| r.contains("reconnected; username messi logged in again"))
    });
    assert!(
        screen
            .iter()
            .any(|r| r.starts_with("error: connection lost (") && r.contains("reconnecting in")),
        "says why: {screen:#?}"
    );
    // And it works: a send goes through on the new connection.
    tmux.keys("send henderson still here\r");
    tmux.wait_for("the send result", |s| {
        s.iter().any(|r| r == "message sent to henderson")
    });
    tmux.keys("/quit\r");
    assert_eq!(tmux.wait_exit().0, 0);
}

#[test]
fn from_a_pipe_it_stops_at_the_lost_connection() {
    let mut server = ServerProcess::start(&[]);
    let mut child = Command::new(bin_path("chat"))
        .args(["--plain", "--addr", &server.addr().to_string()])
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("chat-plain-tests-no-config"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "auth messi surabaya").expect("write");
    stdin.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(500));
    let _again = restart(&mut server);
    writeln!(stdin, "send henderson hi").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("connection lost"), "{stderr}");
    assert!(!stderr.contains("reconnecting"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "username messi logged in\n"
    );
}

/// `chat --plain --user messi --once inbox` with its state in `state`: stdout.
fn once_inbox(server: &ServerProcess, state: &std::path::Path) -> String {
    let out = Command::new(bin_path("chat"))
        .args(["--plain", "--addr", &server.addr().to_string()])
        .args(["--user", "messi", "--once", "inbox"])
        .env("CHAT_PASSWORD", "surabaya")
        .env("TZ", "UTC")
        .env("XDG_STATE_HOME", state)
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("chat-plain-tests-no-config"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("chat");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_inbox_reports_what_is_new_since_its_last_run_and_drains_nothing() {
    let server = ServerProcess::start(&[]);
    let state = tempfile::tempdir().expect("state");
    let mut lineker = server.conn().await;
    let tl = lineker.login_demo("lineker").await;
    let satu = lineker.request(&format!("send {tl} messi satu")).await;
    let satu = satu["id"].as_i64().expect("id");
    // messi's running client has seen it (its sync acknowledges it, so the course's
    // `inbox` would no longer return it): the cron run still reports it.
    let mut tui = server.conn().await;
    let tm = tui.login_demo("messi").await;
    chat_tests::assert_ok(&tui.request(&format!("sync {tm} {satu} 0")).await);
    let first = once_inbox(&server, state.path());
    assert!(first.ends_with("lineker -> messi: satu\n"), "{first}");
    assert_eq!(once_inbox(&server, state.path()), "(no new messages)\n");
    chat_tests::assert_ok(&lineker.request(&format!("send {tl} messi dua")).await);
    let third = once_inbox(&server, state.path());
    assert!(
        third.ends_with("lineker -> messi: dua\n") && !third.contains("satu"),
        "{third}"
    );
    // The running client still gets both: nothing was taken.
    let all = tui.request(&format!("sync {tm} 0 0")).await;
    assert_eq!(all["messages"].as_array().map(Vec::len), Some(2), "{all}");
}
