//! The full-screen `chat` on a server with `sync` (issue 15), in real terminals
//! (tmux) against the real server: how soon a message shows on the other screen
//! (printed, never asserted), a second client draining `inbox` takes nothing
//! away, unread counts survive a restart and follow the user to a second terminal
//! where reading clears them, and scrolling back loads older pages.
//!
//! Each `chat` gets its own `XDG_STATE_HOME`, so nothing of the machine's own
//! state is read or written. Needs `tmux` on the PATH (`.ci/run` installs it).

mod tmux_util;

use std::path::Path;
use std::time::{Duration, Instant};

use chat_protocol::{Dialect, Request};
use chat_tests::{ServerProcess, bin_path, client_login};
use chat_tui::client::Client;
use tmux_util::{DEADLINE, Tmux, quote};

async fn send(client: &mut Client, token: &str, to: &str, text: &str) {
    let reply = client
        .call(&Request::Send {
            dialect: Dialect::Course,
            token: token.into(),
            to: to.into(),
            message: text.into(),
        })
        .await
        .expect("send reply");
    assert!(reply.is_ok(), "{reply:?}");
}

/// `chat` for messi with its state in `state`, in a `width`x`height` pane.
fn start_chat(tmux: &Tmux, addr: &str, state: &Path, width: u16, height: u16) {
    let command = format!(
        "env XDG_STATE_HOME={} CHAT_PASSWORD=surabaya {} --user messi --addr {addr} --no-bell --config /dev/null",
        quote(state),
        quote(&bin_path("chat")),
    );
    tmux.start(&command, width, height);
    tmux.wait_for("the live status bar", |s| {
        s.iter()
            .any(|l| l.contains("connected") && l.contains("live"))
    });
}

/// The unread count the people column shows for `peer` (0 when none).
fn unread(screen: &[String], peer: &str) -> Option<usize> {
    screen.iter().find_map(|row| {
        let cell = row.split('│').nth(1)?;
        let rest = cell.trim().trim_start_matches(['›', '●', ' ']);
        let rest = rest.strip_prefix(peer)?;
        Some(rest.trim().parse().unwrap_or(0))
    })
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_show_at_once_and_a_draining_second_client_takes_none_away() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let state = tempfile::tempdir().expect("state dir");
    let tmux = Tmux::new();
    start_chat(&tmux, &addr, state.path(), 100, 40);
    let (mut lineker, tl) = client_login(&addr, "lineker").await;

    // From the sender's OK to the text on messi's screen, 20 times. The screen is
    // read with `tmux capture-pane` (a process start each time: a few ms), so the
    // figures are an upper bound. Printed, not asserted.
    let mut took = Vec::new();
    for n in 0..20 {
        let text = format!("ping-{n:02}");
        send(&mut lineker, &tl, "messi", &text).await;
        let ok_at = Instant::now();
        loop {
            if tmux.screen().iter().any(|l| l.contains(&text)) {
                took.push(ok_at.elapsed());
                break;
            }
            assert!(ok_at.elapsed() < DEADLINE, "{text} never showed");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    took.sort();
    println!(
        "send -> on screen over {} sends: min {:?}, p50 {:?}, p90 {:?}, max {:?}; all: {:?}",
        took.len(),
        took[0],
        percentile(&took, 50.0),
        percentile(&took, 90.0),
        took[took.len() - 1],
        took
    );

    // messi's phone drains the inbox as each message comes: the screen still shows it.
    let (mut phone, tp) = client_login(&addr, "messi").await;
    send(&mut lineker, &tl, "messi", "taken by the phone").await;
    let drained = phone
        .call(&Request::Inbox {
            dialect: Dialect::Course,
            token: tp.clone(),
        })
        .await
        .expect("inbox");
    assert!(drained.is_ok(), "{drained:?}");
    tmux.wait_for("the drained message", |s| {
        s.iter().any(|l| l.contains("taken by the phone"))
    });
    // And what messi sends from the phone shows here as his own.
    send(&mut phone, &tp, "lineker", "sent from the phone").await;
    tmux.wait_for("the phone's message as messi's", |s| {
        s.iter()
            .any(|l| l.contains("messi → lineker: sent from the phone"))
    });
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_survive_a_restart_and_reading_in_one_terminal_clears_the_other() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let state = tempfile::tempdir().expect("state dir");
    let first = Tmux::new();
    start_chat(&first, &addr, state.path(), 100, 30);
    let (mut lineker, tl) = client_login(&addr, "lineker").await;
    send(&mut lineker, &tl, "messi", "satu").await;
    send(&mut lineker, &tl, "messi", "dua").await;
    first.wait_for("two unread from lineker", |s| {
        unread(s, "lineker") == Some(2)
    });

    // Quit and start again: still two unread (the count comes back from the
    // server's read markers and the remembered conversation list).
    first.key("C-c");
    first.wait_exit();
    let again = Tmux::new();
    start_chat(&again, &addr, state.path(), 100, 30);
    again.wait_for("two unread after the restart", |s| {
        unread(s, "lineker") == Some(2)
    });

    // A second terminal on a "new machine" (no state): the same two unread.
    let other_state = tempfile::tempdir().expect("state dir");
    let second = Tmux::new();
    start_chat(&second, &addr, other_state.path(), 100, 30);
    second.wait_for("two unread on the second terminal", |s| {
        unread(s, "lineker") == Some(2)
    });

    // Reading in the first (Tab opens lineker's conversation) clears the second.
    again.key("Tab");
    again.wait_for("lineker's conversation", |s| {
        s.iter().any(|l| l.contains("to lineker"))
    });
    second.wait_for("no unread on the second terminal", |s| {
        unread(s, "lineker") == Some(0)
    });
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_back_past_the_loaded_messages_loads_older_ones() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let (mut lineker, tl) = client_login(&addr, "lineker").await;
    for n in 1..=250 {
        send(&mut lineker, &tl, "messi", &format!("msg-{n:03}")).await;
    }
    // As if messi had seen them all on this machine before: the client starts at
    // the newest, and opening the conversation loads its last 200.
    let state = tempfile::tempdir().expect("state dir");
    let file = state
        .path()
        .join("chat")
        .join(format!("messi@{}.json", addr.replace(':', "_")));
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, r#"{"last_id": 250, "conversations": ["lineker"]}"#).expect("state");
    let tmux = Tmux::new();
    start_chat(&tmux, &addr, state.path(), 80, 24);
    tmux.key("Tab");
    tmux.wait_for("the newest message", |s| {
        s.iter().any(|l| l.contains("msg-250"))
    });
    let end = Instant::now() + DEADLINE;
    while !tmux.screen().iter().any(|l| l.contains("msg-001")) {
        assert!(
            Instant::now() < end,
            "never scrolled back to msg-001:\n{}",
            tmux.screen().join("\n")
        );
        tmux.key("PageUp");
        std::thread::sleep(Duration::from_millis(100));
    }
    // msg-001 is only on the server's older page: it was loaded while scrolling.
    drop(server);
}
