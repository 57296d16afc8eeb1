//! The worker against a small fake of the course's Python server on loopback: no
//! `user_aktif`, no `history`, messages with a leading space and `\r\n`, and a
//! connection that can be cut on demand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

#[derive(Default)]
struct Fake {
    /// Every request line, in order.
    lines: Vec<String>,
    /// Cut the connection at the next `inbox`.
    cut_next_inbox: bool,
    /// Messages waiting for messi: (sender, text).
    waiting: Vec<(String, String)>,
    /// Answer `user_aktif` (as our server does) instead of `unknown command`.
    users: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake; returns its address.
async fn fake_server(shared: Shared) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Some(reply) = answer(&shared, line.trim_end()) else {
                        return; // cut
                    };
                    if write
                        .write_all(format!("{reply}\r\n\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn answer(shared: &Shared, line: &str) -> Option<String> {
    let mut fake = lock(shared);
    fake.lines.push(line.to_string());
    let words: Vec<&str> = line.split(' ').collect();
    let reply = match words[..] {
        ["auth", "messi", "surabaya"] => r#"{"status": "OK", "tokenid": "tok"}"#.to_string(),
        ["auth", ..] => r#"{"status": "ERROR", "message": "Password Salah"}"#.to_string(),
        ["inbox", "tok"] => {
            if std::mem::take(&mut fake.cut_next_inbox) {
                return None;
            }
            let groups: Vec<String> = fake
                .waiting
                .drain(..)
                .map(|(from, text)| {
                    format!(r#""{from}": [{{"msg_from": "X", "msg_to": "Lionel Messi", "msg": " {text}\r\n"}}]"#)
                })
                .collect();
            format!(
                r#"{{"status": "OK", "messages": {{{}}}}}"#,
                groups.join(", ")
            )
        }
        ["send", "tok", _, ..] => r#"{"status": "OK", "message": "Message Sent"}"#.to_string(),
        ["logout", "tok"] => r#"{"status": "OK", "message": "logout success"}"#.to_string(),
        ["user_aktif", "tok"] if fake.users => {
            r#"{"status": "OK", "message": "messi, ", "users": ["messi"]}"#.to_string()
        }
        _ => r#"{"status": "ERROR", "message": "**unknown command"}"#.to_string(),
    };
    Some(reply)
}

fn config(addr: String) -> WorkerConfig {
    WorkerConfig {
        addr,
        transport: crate::client::Transport::Plain,
        poll_interval: Duration::from_millis(30),
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(50)),
        sync_wait: Duration::from_secs(25),
        state_dir: None,
    }
}

fn messi(password: &str) -> Credentials {
    Credentials {
        username: "messi".into(),
        password: password.into(),
    }
}

/// Waits (with a deadline) for an update matching `pred`; returns it.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<Update>,
    what: &str,
    pred: impl Fn(&Update) -> bool,
) -> Update {
    let wait = async {
        while let Some(u) = rx.recv().await {
            if pred(&u) {
                return u;
            }
        }
        panic!("updates ended before {what}");
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within 10s"))
}

#[tokio::test]
async fn polls_sends_and_copes_with_the_course_server() {
    let shared = Shared::default();
    let addr = fake_server(shared.clone()).await;
    let (handle, mut rx) = spawn(config(addr), Some(messi("surabaya")));
    until(&mut rx, "connected", |u| {
        *u == Update::Link(LinkState::Connected)
    })
    .await;
    until(
        &mut rx,
        "login",
        |u| matches!(u, Update::LoggedIn { username, .. } if username == "messi"),
    )
    .await;
    until(&mut rx, "no user_aktif", |u| {
        matches!(u, Update::UsersUnsupported(_))
    })
    .await;
    lock(&shared)
        .waiting
        .push(("lineker".into(), "piye kabare?".into()));
    let got = until(
        &mut rx,
        "the message",
        |u| matches!(u, Update::Inbox { groups, .. } if !groups.is_empty()),
    )
    .await;
    let Update::Inbox { groups, .. } = got else {
        unreachable!()
    };
    assert_eq!(groups[0].sender, "lineker");
    assert_eq!(groups[0].messages[0].msg.trim(), "piye kabare?");

    handle
        .jobs
        .send(Job::History {
            peer: "lineker".into(),
            before_id: None,
        })
        .expect("job");
    until(&mut rx, "no history", |u| {
        matches!(u, Update::HistoryUnsupported(_))
    })
    .await;
    handle
        .jobs
        .send(Job::Send {
            local_id: 7,
            to: "lineker".into(),
            text: "halo  juga".into(),
        })
        .expect("job");
    assert_eq!(
        until(&mut rx, "sent", |u| matches!(u, Update::Sent { .. })).await,
        Update::Sent {
            local_id: 7,
            id: None,
            ts: None
        }
    );
    handle.jobs.send(Job::Logout).expect("job");
    until(&mut rx, "stopped", |u| *u == Update::Stopped).await;
    let lines = lock(&shared).lines.clone();
    assert!(
        lines.contains(&"send tok lineker halo  juga".to_string()),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("logout tok"));
    // No `sync` in its login answer: the worker polls and never asks for it.
    assert!(!lines.iter().any(|l| l.starts_with("sync")), "{lines:?}");
    // user_aktif was asked once, then never again.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("user_aktif")).count(),
        1
    );
}

#[tokio::test]
async fn reconnects_and_logs_in_again_after_the_connection_drops() {
    let shared = Shared::default();
    let addr = fake_server(shared.clone()).await;
    let (handle, mut rx) = spawn(config(addr), Some(messi("surabaya")));
    until(&mut rx, "connected", |u| {
        *u == Update::Link(LinkState::Connected)
    })
    .await;
    lock(&shared).cut_next_inbox = true;
    let state = until(&mut rx, "reconnecting", |u| {
        matches!(u, Update::Link(LinkState::Reconnecting { .. }))
    })
    .await;
    assert!(
        matches!(
            state,
            Update::Link(LinkState::Reconnecting { attempt: 1, .. })
        ),
        "{state:?}"
    );
    until(&mut rx, "connected again", |u| {
        *u == Update::Link(LinkState::Connected)
    })
    .await;
    // Polling carries on with the new session.
    lock(&shared)
        .waiting
        .push(("henderson".into(), "still there?".into()));
    until(
        &mut rx,
        "message after reconnect",
        |u| matches!(u, Update::Inbox { groups, .. } if !groups.is_empty()),
    )
    .await;
    let logins = lock(&shared)
        .lines
        .iter()
        .filter(|l| l.starts_with("auth "))
        .count();
    assert_eq!(logins, 2);
    handle.jobs.send(Job::Logout).expect("job");
    until(&mut rx, "stopped", |u| *u == Update::Stopped).await;
}

#[tokio::test]
async fn rejected_login_waits_for_new_credentials() {
    let shared = Shared::default();
    let addr = fake_server(shared.clone()).await;
    let (handle, mut rx) = spawn(config(addr), Some(messi("wrong")));
    let got = until(&mut rx, "rejection", |u| {
        matches!(u, Update::LoginRejected(_))
    })
    .await;
    assert_eq!(got, Update::LoginRejected("Password Salah".into()));
    handle
        .jobs
        .send(Job::Login(messi("surabaya")))
        .expect("job");
    until(&mut rx, "connected", |u| {
        *u == Update::Link(LinkState::Connected)
    })
    .await;
    handle.jobs.send(Job::Logout).expect("job");
    until(&mut rx, "stopped", |u| *u == Update::Stopped).await;
}

#[tokio::test]
async fn unreachable_server_backs_off_and_stops_on_logout() {
    // A port nobody listens on: bind, note it, close.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let (handle, mut rx) = spawn(config(addr), Some(messi("surabaya")));
    until(&mut rx, "second attempt", |u| {
        matches!(u, Update::Link(LinkState::Reconnecting { attempt: 2, .. }))
    })
    .await;
    handle.jobs.send(Job::Logout).expect("job");
    until(&mut rx, "stopped", |u| *u == Update::Stopped).await;
}

/// A server that accepts, answers `auth` with OK, and drops the connection at the
/// next request; returns its address and a count of connections accepted.
async fn login_then_drop_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if let Ok(Some(_auth)) = lines.next_line().await {
                    let ok = "{\"status\": \"OK\", \"tokenid\": \"tok\"}\r\n\r\n";
                    let _ = write.write_all(ok.as_bytes()).await;
                }
                // The next request ends the connection.
                let _ = lines.next_line().await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(start_paused = true)]
async fn a_server_that_drops_after_login_is_not_reconnected_in_a_storm() {
    let (addr, accepted) = login_then_drop_server().await;
    let config = WorkerConfig {
        addr,
        transport: crate::client::Transport::Plain,
        poll_interval: Duration::from_secs(1),
        backoff: Backoff::default().with_seed(16),
        sync_wait: Duration::from_secs(25),
        state_dir: None,
    };
    let (handle, mut rx) = spawn(config, Some(messi("surabaya")));
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    // 25 s of (paused, auto-advancing) time. Without a healthy period before the
    // reset, every login reset the backoff: one connection per 250 ms, about 100.
    // With it: 250 ms, 500 ms, 1 s, 2 s, 4 s, 8 s, 10 s... each jittered to
    // 50-100 %, so 7 to 10 connections.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let n = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!((5..=10).contains(&n), "{n} connections in 25 s");
    handle.jobs.send(Job::Logout).expect("job");
    let _ = handle.task.await;
    drain.abort();
}

#[tokio::test]
async fn an_asked_poll_answers_with_the_inbox_not_the_user_list() {
    let shared = Shared::default();
    lock(&shared).users = true;
    let addr = fake_server(shared.clone()).await;
    let mut config = config(addr);
    config.poll_interval = Duration::from_secs(3600);
    let (handle, mut rx) = spawn(config, Some(messi("surabaya")));
    until(&mut rx, "connected", |u| {
        *u == Update::Link(LinkState::Connected)
    })
    .await;
    until(&mut rx, "the first user list", |u| {
        matches!(u, Update::Users { .. })
    })
    .await;
    handle.jobs.send(Job::PollNow).expect("job");
    until(&mut rx, "the asked inbox", |u| {
        matches!(u, Update::Inbox { asked: true, .. })
    })
    .await;
    let users = until(&mut rx, "the user list after it", |u| {
        matches!(u, Update::Users { .. })
    })
    .await;
    assert_eq!(
        users,
        Update::Users {
            users: vec!["messi".into()],
            asked: false
        }
    );
    handle.jobs.send(Job::Logout).expect("job");
    until(&mut rx, "stopped", |u| *u == Update::Stopped).await;
}
