//! The `chat` worker against a real server with `sync` (issue 15): it waits in
//! `sync ... presence` instead of polling, a send interrupts the wait on the same
//! connection and both answers are read in order, messages sent from another
//! device of the user arrive too, a second client draining `inbox` takes nothing
//! away, and read markers reach the user's other clients.

use chat_tests::{TestServer, assert_ok};
use chat_tui::reconnect::Backoff;
use chat_tui::worker::{self, Credentials, Job, Update, WorkerConfig};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn config(addr: String) -> WorkerConfig {
    WorkerConfig {
        addr,
        transport: chat_tui::client::Transport::Plain,
        // A poll every 50 ms would show up in the counts below: it must not be used.
        poll_interval: Duration::from_millis(50),
        backoff: Backoff::default(),
        sync_wait: Duration::from_secs(25),
        state_dir: None,
    }
}

fn demo(user: &str) -> Credentials {
    Credentials {
        username: user.into(),
        password: "surabaya".into(),
    }
}

/// The next update matching `pred` (within 15 s).
async fn until(
    rx: &mut UnboundedReceiver<Update>,
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
    tokio::time::timeout(Duration::from_secs(15), wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within 15 s"))
}

fn synced_texts(u: &Update) -> Vec<(i64, String, String)> {
    match u {
        Update::Synced { messages, .. } => messages
            .iter()
            .map(|m| (m.id, m.from.clone(), m.msg.clone()))
            .collect(),
        _ => vec![],
    }
}

async fn logged_in(rx: &mut UnboundedReceiver<Update>) {
    let u = until(rx, "login", |u| matches!(u, Update::LoggedIn { .. })).await;
    assert!(
        matches!(u, Update::LoggedIn { live: true, .. }),
        "the server lists sync: {u:?}"
    );
}

#[tokio::test]
async fn the_worker_waits_in_sync_and_a_send_interrupts_the_wait() {
    let server = TestServer::start().await;
    let (handle, mut rx) = worker::spawn(config(server.addr_string()), Some(demo("messi")));
    logged_in(&mut rx).await;
    // The first presence answer: who is on (messi himself, at least).
    until(&mut rx, "presence", |u| matches!(u, Update::Users { .. })).await;

    // A message from henderson, through a raw connection.
    let mut henderson = server.conn().await;
    let th = henderson.login_demo("henderson").await;
    let sent = henderson.request(&format!("send {th} messi halo")).await;
    assert_ok(&sent);
    let id = sent["id"].as_i64().expect("id");
    let got = until(&mut rx, "the message", |u| !synced_texts(u).is_empty()).await;
    assert_eq!(
        synced_texts(&got),
        [(id, "henderson".to_string(), "halo".to_string())]
    );

    // A send while the sync waits: answered on the same connection, in order.
    handle
        .jobs
        .send(Job::Send {
            local_id: 1,
            to: "henderson".into(),
            text: "halo juga".into(),
        })
        .expect("job");
    let done = until(&mut rx, "sent", |u| {
        matches!(u, Update::Sent { .. } | Update::SendFailed { .. })
    })
    .await;
    let Update::Sent { id: Some(mine), .. } = done else {
        panic!("{done:?}");
    };
    assert!(mine > id);
    // ... and comes back through sync, as every device of messi sees it.
    let back = until(&mut rx, "own message", |u| !synced_texts(u).is_empty()).await;
    assert_eq!(
        synced_texts(&back),
        [(mine, "messi".to_string(), "halo juga".to_string())]
    );

    // Sent from messi's phone: it shows here too.
    let mut phone = server.conn().await;
    let tp = phone.login_demo("messi").await;
    assert_ok(
        &phone
            .request(&format!("send {tp} henderson from my phone"))
            .await,
    );
    let other = until(&mut rx, "phone message", |u| !synced_texts(u).is_empty()).await;
    assert_eq!(synced_texts(&other)[0].2, "from my phone");

    // The phone drains the inbox: the worker still got (and keeps) everything.
    assert_ok(&henderson.request(&format!("send {th} messi lagi")).await);
    let lagi = until(&mut rx, "lagi", |u| !synced_texts(u).is_empty()).await;
    assert_eq!(synced_texts(&lagi)[0].2, "lagi");
    let drained = phone.request(&format!("inbox {tp}")).await;
    assert_ok(&drained);

    // Reading on the phone reaches the worker as a read marker.
    assert_ok(&phone.request(&format!("read {tp} henderson {id}")).await);
    let marker = until(
        &mut rx,
        "read marker",
        |u| matches!(u, Update::Synced { read, .. } if !read.is_empty()),
    )
    .await;
    let Update::Synced { read, .. } = marker else {
        unreachable!()
    };
    assert_eq!(read.get("henderson"), Some(&id));

    // Reading here: the phone's next presence sync is told.
    handle
        .jobs
        .send(Job::Read {
            peer: "henderson".into(),
            id: mine,
        })
        .expect("job");
    let poll = chat_tests::Poll::new(Duration::from_secs(15), "the marker on the phone");
    loop {
        let r = phone.request(&format!("sync {tp} 0 0 presence")).await;
        if r["read"]["henderson"].as_i64() == Some(mine) {
            break;
        }
        poll.wait().await;
    }

    handle.jobs.send(Job::Logout).expect("job");
    until(&mut rx, "stopped", |u| *u == Update::Stopped).await;
}
