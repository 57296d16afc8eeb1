//! `chat --plain` in a real terminal (tmux) and with a closed pipe: long bursts of
//! typing, bracketed paste, resizing, signals, and `| head -1`.
//!
//! Needs `tmux` on the PATH (`.ci/run` installs it).

mod tmux_util;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chat_tests::{ServerProcess, bin_path};
use tmux_util::{DEADLINE, Tmux, is_cooked, quote};

/// `chat --plain --user USER --once LINE` with the demo password: its stdout.
fn once(server: &ServerProcess, user: &str, line: &str) -> String {
    let out = Command::new(bin_path("chat"))
        .args(["--plain", "--addr", &server.addr().to_string()])
        .args(["--user", user, "--once", line])
        .env("CHAT_PASSWORD", "surabaya")
        .env("TZ", "UTC")
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("chat-plain-tests-no-config"),
        )
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join(format!("chat-plain-term-state-{}", std::process::id())),
        )
        .stdin(Stdio::null())
        .output()
        .expect("running chat");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until henderson's inbox holds something; returns its lines.
fn wait_henderson(server: &ServerProcess) -> String {
    let end = Instant::now() + DEADLINE;
    loop {
        let got = once(server, "henderson", "inbox");
        if got != "(no new messages)\n" {
            return got;
        }
        assert!(Instant::now() < end, "nothing reached henderson");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The plain line editor as messi in a `width`x12 pane, at its prompt.
fn start_editor(server: &ServerProcess, width: u16) -> Tmux {
    let tmux = Tmux::new();
    let command = format!(
        "env CHAT_PASSWORD=surabaya TZ=UTC TERM=xterm XDG_CONFIG_HOME={} {} --plain --addr {} --user messi --poll-interval 100ms",
        quote(&std::env::temp_dir().join("chat-plain-tests-no-config")),
        quote(&bin_path("chat")),
        server.addr()
    );
    tmux.start(&command, width, 12);
    tmux.wait_for("the prompt", |s| {
        s.last().map(String::as_str) == Some("messi>")
    });
    tmux
}

#[test]
fn a_long_burst_of_typing_is_handled_whole_enter_included() {
    let server = ServerProcess::start(&[]);
    let tmux = start_editor(&server, 80);
    let text: String = (0..250).map(|i| format!("w{i:04}abcd ")).collect();
    let text = format!("{}END", text.trim_end());
    assert!(text.len() > 2048);
    tmux.keys(&format!("send henderson {text}\r"));
    tmux.wait_for("the send result", |s| {
        s.iter().any(|r| r == "message sent to henderson")
    });
    let got = wait_henderson(&server);
    assert_eq!(
        got,
        format!("[{}] messi -> henderson: {text}\n", &got[1..6])
    );
    tmux.keys("/quit\r");
    assert_eq!(tmux.wait_exit().0, 0);
}

#[test]
fn a_paste_never_submits_anything_by_itself() {
    let server = ServerProcess::start(&[]);
    let tmux = start_editor(&server, 80);
    tmux.keys("send henderson ");
    tmux.wait_for("the typed start", |s| {
        s.last().map(String::as_str) == Some("messi> send henderson")
    });
    // Bracketed (the client asked for it), with a line break and a command.
    tmux.paste("a\n/quit");
    tmux.wait_for("the pasted text on the input line", |s| {
        s.last().map(String::as_str) == Some("messi> send henderson a /quit")
    });
    assert!(
        !tmux.screen().iter().any(|r| r.contains("message sent")),
        "the paste ran something"
    );
    tmux.key("Enter");
    tmux.wait_for("the send result", |s| {
        s.iter().any(|r| r == "message sent to henderson")
    });
    let got = wait_henderson(&server);
    assert!(got.ends_with("messi -> henderson: a /quit\n"), "{got:?}");
    tmux.keys("/quit\r");
    assert_eq!(tmux.wait_exit().0, 0);
}

#[test]
fn resizing_while_typing_leaves_no_fragments() {
    let server = ServerProcess::start(&[]);
    let tmux = start_editor(&server, 40);
    // 99 characters: prompt and input take 3 rows at 40 columns, 5 at 25.
    let typed: String = (0..99).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    tmux.keys(&typed);
    tmux.wait_for("the typed line", |s| s.concat().ends_with(&typed));
    tmux.resize(25, 12);
    let want: Vec<String> = {
        let all = format!("messi> {typed}");
        all.as_bytes()
            .chunks(25)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    };
    let screen = tmux.wait_for("the redrawn input at 25 columns", |s| s.ends_with(&want));
    // Above the prompt only what was there before: no piece of the old rows.
    let above = &screen[..screen.len() - want.len()];
    assert_eq!(
        above,
        [
            "password for messi:".to_string(),
            "username messi logged in".to_string()
        ]
        .iter()
        .filter(|l| above.contains(l))
        .cloned()
        .collect::<Vec<_>>(),
        "stale rows:\n{}",
        screen.join("\n")
    );
    assert!(
        !above
            .iter()
            .any(|r| r.contains("messi>") || r.contains("abc")),
        "stale rows:\n{}",
        screen.join("\n")
    );
    tmux.key("C-c");
    tmux.key("C-d");
    assert_eq!(tmux.wait_exit().0, 0);
}

#[test]
fn signals_restore_the_terminal_and_log_out() {
    let server = ServerProcess::start(&[]);
    for (signal, want) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let tmux = start_editor(&server, 80);
        tmux.keys("half a line");
        tmux.wait_for("the typed text", |s| {
            s.last().map(String::as_str) == Some("messi> half a line")
        });
        assert_eq!(
            once(&server, "lineker", "user_aktif"),
            "active: lineker, messi\n"
        );
        tmux.signal(signal);
        let (status, stty) = tmux.wait_exit();
        assert_eq!(status, want, "{signal}: exit status");
        assert!(is_cooked(&stty), "{signal}: terminal left raw:\n{stty}");
        assert_eq!(
            once(&server, "lineker", "user_aktif"),
            "active: lineker\n",
            "{signal}: messi still logged in"
        );
    }
}

#[test]
fn a_closed_standard_output_is_a_quiet_exit() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    for line in ["inbox", "/history henderson 300", "user_aktif", "/help"] {
        let mut child = Command::new(bin_path("chat"))
            .args([
                "--plain", "--addr", &addr, "--user", "messi", "--once", line,
            ])
            .env("CHAT_PASSWORD", "surabaya")
            .env(
                "XDG_CONFIG_HOME",
                std::env::temp_dir().join("chat-plain-tests-no-config"),
            )
            .env(
                "XDG_STATE_HOME",
                std::env::temp_dir().join(format!("chat-plain-term-state-{}", std::process::id())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting chat");
        // The reader goes away before anything is written, as `head -1` does
        // after its line.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("reading stderr");
        let status = child.wait().expect("waiting for chat");
        assert_eq!(stderr, "", "{line}: nothing on standard error");
        assert!(status.success(), "{line}: {status:?}");
    }
    // And the session was closed on the way out.
    assert_eq!(once(&server, "lineker", "user_aktif"), "active: lineker\n");
}
