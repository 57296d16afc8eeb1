//! Many clients at once: no message lost, duplicated or reordered; sessions and
//! who-is-on stay consistent.

use chat_server::storage::{MemoryStore, Store, User};
use chat_tests::{Config, RawConn, TestServer, assert_error, assert_ok};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const SENDERS: usize = 50;
const PER_SENDER: usize = 20;
const PASSWORD: &str = "rahasia";

/// A server whose store has `sender00`..`sender49` and `boss`, all with [`PASSWORD`].
async fn server_with_senders() -> TestServer {
    let store = MemoryStore::new();
    // One hash for everyone: hashing is deliberately slow, and salts don't matter here.
    let hash = chat_server::password::hash_password(PASSWORD).expect("hashing");
    let names = (0..SENDERS)
        .map(|i| format!("sender{i:02}"))
        .chain(["boss".to_string()]);
    for name in names {
        let user = User {
            display_name: format!("Display {name}"),
            username: name,
            country: None,
            password_hash: hash.clone(),
        };
        store.create_user(&user).await.expect("create_user");
    }
    TestServer::with_store(store, Config::default()).await
}

/// Appends the messages of one inbox reply to `seen`, per sender, in reply order.
fn collect(reply: &Value, seen: &mut HashMap<String, Vec<(i64, String)>>) {
    assert_ok(reply);
    let groups = reply["messages"]
        .as_object()
        .unwrap_or_else(|| panic!("{reply}"));
    for (sender, list) in groups {
        for m in list.as_array().unwrap_or_else(|| panic!("{reply}")) {
            assert_eq!(m["msg_from"], format!("Display {sender}").as_str(), "{m}");
            assert_eq!(m["msg_to"], "Display boss", "{m}");
            let id = m["id"].as_i64().unwrap_or_else(|| panic!("no id: {m}"));
            let text = m["msg"].as_str().expect("msg").to_string();
            seen.entry(sender.clone()).or_default().push((id, text));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_senders_twenty_messages_each_arrive_exactly_once_in_order() {
    let server = server_with_senders().await;
    let addr = server.addr();

    let mut boss = server.conn().await;
    let boss_token = boss.login("boss", PASSWORD).await;

    // Log everyone in first, then release all senders at once.
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let mut c = RawConn::connect(addr).await;
        let token = c.login(&format!("sender{i:02}"), PASSWORD).await;
        senders.push((i, c, token));
    }
    let start = Arc::new(tokio::sync::Barrier::new(SENDERS));
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, mut c, token) in senders {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut ids = Vec::new();
            for k in 0..PER_SENDER {
                // Alternate the two dialects.
                let verb = if k % 2 == 0 { "send" } else { "chat" };
                let reply = c
                    .request(&format!("{verb} {token} boss  s{i:02} m{k:02} \r\n"))
                    .await;
                assert_ok(&reply);
                ids.push(reply["id"].as_i64().expect("id"));
            }
            (i, ids)
        }));
    }

    // Meanwhile the recipient keeps draining its inbox.
    let mut seen: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    let reader_done = done.clone();
    let drain = async {
        while !reader_done.load(Ordering::SeqCst) {
            let reply = boss.request(&format!("inbox {boss_token}")).await;
            collect(&reply, &mut seen);
            tokio::task::yield_now().await;
        }
    };
    let sends = async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("sender task panicked"));
        }
        done.store(true, Ordering::SeqCst);
        out
    };
    let (sent, ()) = tokio::join!(sends, drain);
    // Whatever arrived after the last drain.
    let reply = boss.request(&format!("inbox {boss_token}")).await;
    collect(&reply, &mut seen);
    let reply = boss.request(&format!("inbox {boss_token}")).await;
    assert_eq!(
        reply,
        json!({"status": "OK", "messages": {}}),
        "inbox not drained"
    );

    let total: usize = seen.values().map(Vec::len).sum();
    assert_eq!(total, SENDERS * PER_SENDER, "messages received");
    let mut all_ids = HashSet::new();
    for (i, ids) in sent {
        let sender = format!("sender{i:02}");
        let got = seen
            .get(&sender)
            .unwrap_or_else(|| panic!("nothing from {sender}"));
        let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
        let want: Vec<String> = (0..PER_SENDER)
            .map(|k| format!("s{i:02} m{k:02}"))
            .collect();
        assert_eq!(texts, want, "messages of {sender}, in order, each once");
        let got_ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            got_ids, ids,
            "ids in the inbox are the ids the sends returned ({sender})"
        );
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids of {sender} not increasing: {ids:?}"
        );
        for id in ids {
            assert!(all_ids.insert(id), "id {id} given twice");
        }
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_get_distinct_tokens() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = RawConn::connect(addr).await;
                c.login_demo("messi").await
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    for t in tasks {
        assert!(
            tokens.insert(t.await.expect("login task")),
            "token given twice"
        );
    }
    let mut c = server.conn().await;
    let t = c.login_demo("lineker").await;
    let reply = c.request(&format!("user_aktif {t}")).await;
    assert_eq!(
        reply,
        json!({"status": "OK", "message": "lineker, messi, ", "users": ["lineker", "messi"]})
    );
}

#[tokio::test]
async fn logout_invalidates_the_token_and_updates_who_is_on() {
    let server = TestServer::start().await;
    let mut m = server.conn().await;
    let mut l = server.conn().await;
    let tm = m.login_demo("messi").await;
    let tl = l.login_demo("lineker").await;
    let who = l.request(&format!("user_on {tl}")).await;
    assert_eq!(
        who,
        json!({"status": "OK", "message": "lineker, messi, ", "users": ["lineker", "messi"]})
    );

    assert_eq!(
        m.request(&format!("logout {tm}")).await,
        json!({"status": "OK", "message": "logout success"})
    );
    // Every use of the old token fails, from any connection.
    for line in [
        format!("inbox {tm}"),
        format!("kotakmasuk {tm}"),
        format!("send {tm} lineker masih bisa?"),
        format!("chat {tm} lineker masih bisa?"),
        format!("user_aktif {tm}"),
        format!("user_on {tm}"),
        format!("logout {tm}"),
    ] {
        assert_error(&m.request(&line).await, "invalid or expired token");
        assert_error(&l.request(&line).await, "invalid or expired token");
    }
    let who = l.request(&format!("user_aktif {tl}")).await;
    assert_eq!(
        who,
        json!({"status": "OK", "message": "lineker, ", "users": ["lineker"]})
    );
    // Nothing from the dead session was delivered.
    assert_eq!(
        l.request(&format!("inbox {tl}")).await,
        json!({"status": "OK", "messages": {}})
    );
    // lineker logs out too: nobody is on, and the last token is dead as well.
    assert_ok(&l.request(&format!("logout {tl}")).await);
    let mut h = server.conn().await;
    let th = h.login_demo("henderson").await;
    let who = h.request(&format!("user_aktif {th}")).await;
    assert_eq!(
        who,
        json!({"status": "OK", "message": "henderson, ", "users": ["henderson"]})
    );
}

#[tokio::test]
async fn who_is_on_lists_a_user_once_with_two_sessions() {
    let server = TestServer::start().await;
    let mut m1 = server.conn().await;
    let mut m2 = server.conn().await;
    let mut l = server.conn().await;
    let t1 = m1.login_demo("messi").await;
    let t2 = m2.login_demo("messi").await;
    assert_ne!(t1, t2, "two logins, two sessions");
    let tl = l.login_demo("lineker").await;
    // The same connection can hold a second session too.
    let t3 = m1.login_demo("messi").await;
    assert_ne!(t1, t3);

    let both =
        json!({"status": "OK", "message": "lineker, messi, ", "users": ["lineker", "messi"]});
    assert_eq!(l.request(&format!("user_aktif {tl}")).await, both);
    assert_eq!(m2.request(&format!("user_on {t2}")).await, both);

    // Ending one session leaves the others live.
    assert_ok(&m1.request(&format!("logout {t1}")).await);
    assert_eq!(l.request(&format!("user_aktif {tl}")).await, both);
    assert_ok(
        &m2.request(&format!("send {t2} lineker masih di sini"))
            .await,
    );
    assert_ok(&m1.request(&format!("logout {t3}")).await);
    assert_eq!(l.request(&format!("user_aktif {tl}")).await, both);
    assert_ok(&m2.request(&format!("logout {t2}")).await);
    let alone = json!({"status": "OK", "message": "lineker, ", "users": ["lineker"]});
    assert_eq!(l.request(&format!("user_aktif {tl}")).await, alone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_of_one_user_share_one_inbox_and_each_message_is_read_once() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let mut sender = server.conn().await;
    let ts = sender.login_demo("lineker").await;
    let n = 200;
    for k in 0..n {
        assert_ok(&sender.request(&format!("send {ts} messi pesan {k}")).await);
    }
    // Two sessions of messi drain at the same time: every message goes to exactly one.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = RawConn::connect(addr).await;
                let t = c.login_demo("messi").await;
                let mut got = Vec::new();
                for _ in 0..20 {
                    let reply = c.request(&format!("inbox {t}")).await;
                    assert_ok(&reply);
                    if let Some(list) = reply["messages"]["lineker"].as_array() {
                        got.extend(
                            list.iter()
                                .map(|m| m["msg"].as_str().expect("msg").to_string()),
                        );
                    }
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for r in readers {
        let got = r.await.expect("reader");
        // Each reader sees its share oldest first.
        let nums: Vec<usize> = got
            .iter()
            .map(|m| {
                m.strip_prefix("pesan ")
                    .and_then(|n| n.parse().ok())
                    .expect("pesan N")
            })
            .collect();
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "out of order: {nums:?}"
        );
        all.extend(nums);
    }
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "each message exactly once");
}
