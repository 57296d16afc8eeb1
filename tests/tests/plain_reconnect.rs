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
