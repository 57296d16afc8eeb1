//! End to end: the real `chat` binary in a real terminal (tmux), against the real
//! `chat-server` binary.
//!
//! One person (`messi`) uses the full-screen client in a tmux pane; another
//! (`lineker`) talks to the server over a plain connection. The test reads the screen
//! with `tmux capture-pane` and types with `tmux send-keys`, polling with deadlines
//! (never asserting after a fixed sleep).
//!
//! Needs `tmux` on the PATH (`.ci/run` installs it).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chat_protocol::{Dialect, Request};
use chat_tests::{ServerProcess, bin_path, client_login};

/// How long anything on screen or on the wire may take to show up.
const DEADLINE: Duration = Duration::from_secs(15);

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
    /// The socket file, removed at the end (tmux can leave it behind).
    socket_path: Option<std::path::PathBuf>,
}

impl Tmux {
    fn new() -> Tmux {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tmux {
            socket: format!("chat-e2e-{}-{nanos}", std::process::id()),
            socket_path: None,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running tmux (is it installed? apt-get install tmux): {e}"))
    }

    fn ok(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The pane's text, or `None` once the session is gone.
    fn capture(&self) -> Option<String> {
        let out = self.run(&["capture-pane", "-p", "-t", "e2e"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Waits until the screen satisfies `check`; panics with the screen if not.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        let mut last = String::new();
        while Instant::now() < end {
            if let Some(screen) = self.capture() {
                if check(&screen) {
                    return screen;
                }
                last = screen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("screen never showed {what} within {DEADLINE:?}; last screen:\n{last}");
    }

    /// Notes where the (running) server's socket file is.
    fn remember_socket(&mut self) {
        let out = self.run(&["display-message", "-p", "#{socket_path}"]);
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        self.socket_path = (out.status.success() && !path.is_empty()).then(|| path.into());
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "e2e"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_tmux_receives_and_replies() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let chat = bin_path("chat");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").expect("empty config");
    let log = dir.path().join("chat.log");

    let mut tmux = Tmux::new();
    let command = format!(
        "XDG_STATE_HOME={} CHAT_PASSWORD=surabaya exec {} --user messi --addr {addr} --poll-interval 200ms --no-bell --config {} --log {}",
        quote(dir.path()),
        quote(&chat),
        quote(&config),
        quote(&log),
    );
    tmux.ok(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    tmux.remember_socket();
    tmux.wait_for("the connected status bar", |s| {
        s.contains("connected") && s.contains("messi@")
    });

    // Someone else writes to messi.
    let (mut lineker, token) = client_login(&addr, "lineker").await;
    let send = Request::Send {
        dialect: Dialect::Course,
        token: token.clone(),
        to: "messi".into(),
        message: "piye kabare, messi?".into(),
    };
    assert!(lineker.call(&send).await.expect("send reply").is_ok());
    tmux.wait_for("the message and its sender", |s| {
        s.lines()
            .any(|l| l.contains("lineker") && l.contains("piye kabare, messi?"))
    });

    // Tab (empty box) opens the next conversation, lineker's; plain text goes there.
    tmux.ok(&["send-keys", "-t", "e2e", "Tab"]);
    tmux.wait_for("lineker's conversation", |s| s.contains("to lineker"));
    tmux.ok(&["send-keys", "-t", "e2e", "-l", "apik, suwun 🙂"]);
    tmux.ok(&["send-keys", "-t", "e2e", "Enter"]);
    tmux.wait_for("the echoed reply", |s| {
        s.lines().any(|l| l.contains("messi: apik, suwun"))
    });

    // The reply arrives in lineker's inbox.
    let inbox = Request::Inbox {
        dialect: Dialect::Course,
        token: token.clone(),
    };
    let end = Instant::now() + DEADLINE;
    let got = loop {
        let reply = lineker.call(&inbox).await.expect("inbox reply");
        let groups = reply.inbox().expect("inbox groups");
        if let Some(g) = groups.iter().find(|g| g.sender == "messi") {
            break g.messages.iter().map(|m| m.msg.clone()).collect::<Vec<_>>();
        }
        assert!(
            Instant::now() < end,
            "lineker's inbox never got messi's reply"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(got, ["apik, suwun 🙂"]);

    // Ctrl-C logs out and ends the program (the pane, and so the session, closes).
    tmux.ok(&["send-keys", "-t", "e2e", "C-c"]);
    let end = Instant::now() + DEADLINE;
    while tmux.alive() {
        assert!(
            Instant::now() < end,
            "chat did not quit on Ctrl-C:\n{}",
            tmux.capture().unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let who = Request::ActiveUsers {
        dialect: Dialect::Course,
        token,
    };
    let end = Instant::now() + DEADLINE;
    loop {
        let users = lineker
            .call(&who)
            .await
            .expect("user_aktif reply")
            .active_users();
        if !users.iter().any(|u| u == "messi") {
            break;
        }
        assert!(
            Instant::now() < end,
            "messi still logged in after quitting: {users:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains("surabaya"),
        "the password never reaches the log"
    );
    drop(server);
}

/// Single-quotes a path for the shell tmux runs the command with.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
