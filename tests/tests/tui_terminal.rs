//! The full-screen `chat` in a real terminal (tmux) against the real server: what
//! typed text does, long bursts of typing, and the terminal after signals.
//!
//! Needs `tmux` on the PATH (`.ci/run` installs it).

mod tmux_util;

use std::time::{Duration, Instant};

use chat_protocol::{Dialect, Request};
use chat_tests::{ServerProcess, bin_path, client_login};
use tmux_util::{DEADLINE, Tmux, is_cooked, quote};

/// `user`'s inbox, drained: (sender, text) pairs.
async fn drain_inbox(addr: &str, user: &str) -> Vec<(String, String)> {
    let (mut client, token) = client_login(addr, user).await;
    let reply = client
        .call(&Request::Inbox {
            dialect: Dialect::Course,
            token,
        })
        .await
        .expect("inbox reply");
    reply
        .inbox()
        .expect("inbox groups")
        .into_iter()
        .flat_map(|g| {
            let sender = g.sender.clone();
            g.messages
                .into_iter()
                .map(move |m| (sender.clone(), m.msg.trim().to_string()))
        })
        .collect()
}

/// Waits until `user`'s inbox holds something; returns it all.
async fn wait_inbox(addr: &str, user: &str) -> Vec<(String, String)> {
    let end = Instant::now() + DEADLINE;
    loop {
        let got = drain_inbox(addr, user).await;
        if !got.is_empty() {
            return got;
        }
        assert!(Instant::now() < end, "nothing reached {user}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `user` holds a session, as `lineker` sees it.
async fn is_online(addr: &str, user: &str) -> bool {
    let (mut client, token) = client_login(addr, "lineker").await;
    let reply = client
        .call(&Request::ActiveUsers {
            dialect: Dialect::Course,
            token,
        })
        .await
        .expect("user_aktif reply");
    reply.active_users().iter().any(|u| u == user)
}

/// Starts `chat` as messi in an 100x30 pane and waits for it to be connected.
fn start_chat(server: &ServerProcess, dir: &std::path::Path) -> Tmux {
    let config = dir.join("config.toml");
    std::fs::write(&config, "").expect("empty config");
    let tmux = Tmux::new();
    let command = format!(
        "env CHAT_PASSWORD=surabaya TERM=xterm-256color {} --user messi --addr {} --poll-interval 200ms --no-bell --config {} --log {}",
        quote(&bin_path("chat")),
        server.addr(),
        quote(&config),
        quote(&dir.join("chat.log")),
    );
    tmux.start(&command, 100, 30);
    tmux.wait_for("the connected status bar", |s| {
        s.iter()
            .any(|r| r.contains("connected") && r.contains("messi@"))
    });
    tmux
}

/// Opens henderson's conversation with `/open`.
fn open_henderson(tmux: &Tmux) {
    tmux.keys("/open henderson");
    tmux.key("Enter");
    tmux.wait_for("henderson's conversation", |s| {
        s.iter().any(|r| r.contains("to henderson"))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_typed_in_a_conversation_goes_to_that_conversation() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = start_chat(&server, dir.path());
    open_henderson(&tmux);

    // A course command word: a hint, nothing sent.
    tmux.keys("chat lineker is late again, typical");
    tmux.key("Enter");
    tmux.wait_for("the hint", |s| {
        s.iter().any(|r| r.contains("/msg USER TEXT"))
    });
    // Enter again sends the line, as text, to henderson.
    tmux.key("Enter");
    let got = wait_inbox(&addr, "henderson").await;
    assert_eq!(
        got,
        [(
            "messi".to_string(),
            "chat lineker is late again, typical".to_string()
        )]
    );
    // `?` is text (F1 is help), `send` too once the hint was shown.
    tmux.keys("?why not");
    tmux.key("Enter");
    tmux.keys("send me the photos");
    tmux.key("Enter");
    let mut got = wait_inbox(&addr, "henderson").await;
    if got.len() < 2 {
        got.extend(wait_inbox(&addr, "henderson").await);
    }
    let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["?why not", "send me the photos"]);
    assert!(
        drain_inbox(&addr, "lineker").await.is_empty(),
        "nothing went to lineker"
    );
    let screen = tmux.screen();
    let people: Vec<String> = screen
        .iter()
        .filter_map(|r| r.split("││").next())
        .map(|p| {
            p.trim_matches(|c: char| c == '│' || c == '›' || c == '●' || c.is_whitespace())
                .to_string()
        })
        .collect();
    assert!(
        !people.iter().any(|p| p == "me" || p == "lineker"),
        "no `me` or `lineker` entry:\n{}",
        screen.join("\n")
    );
    assert!(
        !screen.iter().any(|r| r.contains("this help")),
        "no help overlay"
    );
    tmux.key("C-c");
    let (status, _) = tmux.wait_exit();
    assert_eq!(status, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_burst_of_typing_is_handled_whole_enter_included() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = start_chat(&server, dir.path());
    open_henderson(&tmux);

    // 2 500 characters and Enter in one write, as a fast typist or an unbracketed
    // paste delivers them (not a bracketed paste).
    let text: String = (0..250).map(|i| format!("w{i:04}abcd ")).collect();
    let text = format!("{}END", text.trim_end());
    assert!(text.len() > 2048);
    tmux.keys(&format!("{text}\r"));
    let got = wait_inbox(&addr, "henderson").await;
    assert_eq!(got, [("messi".to_string(), text)]);
    tmux.key("C-c");
    tmux.wait_exit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_restore_the_terminal_and_log_out() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    for (signal, want) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let tmux = start_chat(&server, dir.path());
        assert_eq!(tmux.format("#{alternate_on}"), "1", "{signal}: full screen");
        assert_eq!(tmux.format("#{mouse_any_flag}"), "1", "{signal}: mouse on");
        assert!(is_online(&addr, "messi").await);
        tmux.signal(signal);
        let (status, stty) = tmux.wait_exit();
        assert_eq!(status, want, "{signal}: exit status");
        assert!(is_cooked(&stty), "{signal}: terminal left raw:\n{stty}");
        assert_eq!(tmux.format("#{alternate_on}"), "0", "{signal}: main screen");
        assert_eq!(tmux.format("#{mouse_any_flag}"), "0", "{signal}: mouse off");
        assert!(
            !is_online(&addr, "messi").await,
            "{signal}: still logged in"
        );
    }
}
