//! The storage suite: one set of tests every backend must pass.
//!
//! A backend's test module invokes [`storage_suite!`](crate::storage_suite) with an
//! expression that makes a fresh, empty store; each test gets its own.

use super::*;

/// Runs every suite test against stores made by `$make` (an async-free expression
/// or a `.await`-able one inside the generated async tests).
#[macro_export]
macro_rules! storage_suite {
    ($make:expr) => {
        macro_rules! suite_test {
            ($name:ident) => {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = $make;
                    $crate::storage::tests::$name(store).await;
                }
            };
        }
        suite_test!(users_create_get_list_remove);
        suite_test!(password_hash_changes);
        suite_test!(sessions_live_touch_expire_delete);
        suite_test!(active_users_each_once_sorted);
        suite_test!(messages_drain_once_oldest_first_ids_increase);
        suite_test!(concurrent_drains_never_duplicate_or_skip);
        suite_test!(history_pages_both_directions_without_draining);
        suite_test!(removing_a_user_ends_their_sessions);
        suite_test!(undelivered_count_follows_sends_and_drains);
        suite_test!(sync_reads_sent_and_received_in_id_order_without_draining);
        suite_test!(acknowledge_marks_received_messages_up_to_an_id);
        suite_test!(a_commit_wakes_its_sender_and_recipient);
        suite_test!(read_markers_move_forward_and_wake_their_user);
    };
}

fn user(name: &str) -> User {
    User {
        username: name.into(),
        display_name: format!("{name} Display"),
        country: Some("Indonesia".into()),
        password_hash: format!("hash-{name}"),
    }
}

fn msg(from: &str, to: &str, text: &str, ts_ms: i64) -> NewMessage {
    NewMessage {
        from: from.into(),
        to: to.into(),
        from_display: format!("{from} Display"),
        to_display: format!("{to} Display"),
        text: text.into(),
        ts_ms,
    }
}

fn session(token: &str, username: &str, last_seen_ms: i64) -> Session {
    Session {
        token: token.into(),
        username: username.into(),
        last_seen_ms,
    }
}

/// Accounts round-trip with every field.
pub async fn users_create_get_list_remove<S: Store>(s: S) {
    s.create_user(&user("messi")).await.unwrap();
    s.create_user(&user("arini")).await.unwrap();
    assert!(
        matches!(s.create_user(&user("messi")).await, Err(StoreError::UserExists(n)) if n == "messi")
    );
    assert_eq!(s.user("messi").await.unwrap(), Some(user("messi")));
    assert_eq!(s.user("nobody").await.unwrap(), None);
    let names: Vec<String> = s
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["arini", "messi"]);
    assert!(s.remove_user("arini").await.unwrap());
    assert!(!s.remove_user("arini").await.unwrap());
    assert_eq!(s.user("arini").await.unwrap(), None);
}

/// `set_password_hash` replaces the hash of existing accounts only.
pub async fn password_hash_changes<S: Store>(s: S) {
    s.create_user(&user("messi")).await.unwrap();
    assert!(s.set_password_hash("messi", "new").await.unwrap());
    assert_eq!(s.user("messi").await.unwrap().unwrap().password_hash, "new");
    assert!(!s.set_password_hash("ghost", "x").await.unwrap());
}

/// A session lives while used within the TTL, and ends at expiry or deletion.
pub async fn sessions_live_touch_expire_delete<S: Store>(s: S) {
    s.create_user(&user("messi")).await.unwrap();
    s.create_session(&session("t1", "messi", 1_000))
        .await
        .unwrap();
    assert_eq!(
        s.touch_session("t1", 1_500, 1_000)
            .await
            .unwrap()
            .as_deref(),
        Some("messi")
    );
    // Touched at 1500, so still live at 2400 although 1000 + ttl has passed.
    assert_eq!(
        s.touch_session("t1", 2_400, 1_000)
            .await
            .unwrap()
            .as_deref(),
        Some("messi")
    );
    assert_eq!(
        s.touch_session("t1", 3_400, 1_000).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        s.touch_session("t1", 3_401, 1_000_000).await.unwrap(),
        None,
        "expired sessions are gone"
    );
    assert_eq!(s.touch_session("nope", 0, 1_000).await.unwrap(), None);
    s.create_session(&session("t2", "messi", 5_000))
        .await
        .unwrap();
    assert!(s.delete_session("t2").await.unwrap());
    assert!(!s.delete_session("t2").await.unwrap());
    assert_eq!(s.touch_session("t2", 5_001, 1_000).await.unwrap(), None);
}

/// Who-is-on lists each user once however many sessions, and drops expired ones.
pub async fn active_users_each_once_sorted<S: Store>(s: S) {
    for name in ["messi", "lineker", "henderson"] {
        s.create_user(&user(name)).await.unwrap();
    }
    s.create_session(&session("a", "messi", 1_000))
        .await
        .unwrap();
    s.create_session(&session("b", "messi", 1_000))
        .await
        .unwrap();
    s.create_session(&session("c", "lineker", 1_000))
        .await
        .unwrap();
    s.create_session(&session("d", "henderson", 0))
        .await
        .unwrap();
    assert_eq!(
        s.active_users(1_500, 1_000).await.unwrap(),
        ["lineker", "messi"]
    );
    assert_eq!(s.purge_sessions(1_500, 1_000).await.unwrap(), 1);
    assert_eq!(
        s.active_users(2_500, 1_000).await.unwrap(),
        Vec::<String>::new()
    );
}

/// Messages come out once, oldest first, with increasing ids, and the text exactly.
pub async fn messages_drain_once_oldest_first_ids_increase<S: Store>(s: S) {
    let texts = [
        "piye kabare?",
        "  inner  spacing  ",
        "emoji 👨‍👩‍👧 dan Indonesia",
    ];
    let mut ids = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let m = s
            .append_message(msg("lineker", "messi", t, 100 + i as i64))
            .await
            .unwrap();
        assert_eq!(m.text, *t);
        ids.push(m.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    s.append_message(msg("messi", "lineker", "other way", 200))
        .await
        .unwrap();
    let got = s.drain_inbox("messi").await.unwrap();
    let got_texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(got_texts, texts);
    assert_eq!(got[0].from_display, "lineker Display");
    assert_eq!(got[0].to_display, "messi Display");
    assert_eq!(got[0].ts_ms, 100);
    assert!(s.drain_inbox("messi").await.unwrap().is_empty());
    assert_eq!(s.drain_inbox("lineker").await.unwrap().len(), 1);
}

/// Two drainers racing over 500 sends: every message exactly once.
pub async fn concurrent_drains_never_duplicate_or_skip<S: Store>(s: S) {
    const N: usize = 500;
    let sender = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..N {
                s.append_message(msg("lineker", "messi", &format!("m{i}"), i as i64))
                    .await
                    .unwrap();
            }
        })
    };
    let drainer = |s: S| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..N {
                got.extend(s.drain_inbox("messi").await.unwrap());
                tokio::task::yield_now().await;
            }
            got
        })
    };
    let (d1, d2) = (drainer(s.clone()), drainer(s.clone()));
    sender.await.unwrap();
    let mut all = d1.await.unwrap();
    all.extend(d2.await.unwrap());
    all.extend(s.drain_inbox("messi").await.unwrap());
    let mut ids: Vec<i64> = all.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "a message was delivered twice");
    assert_eq!(all.len(), N, "a message was lost");
}

/// History pages backwards through both directions, oldest first, and drains nothing.
pub async fn history_pages_both_directions_without_draining<S: Store>(s: S) {
    let mut ids = Vec::new();
    for i in 0..10 {
        let (from, to) = if i % 2 == 0 {
            ("messi", "lineker")
        } else {
            ("lineker", "messi")
        };
        ids.push(
            s.append_message(msg(from, to, &format!("h{i}"), i))
                .await
                .unwrap()
                .id,
        );
    }
    s.append_message(msg("messi", "henderson", "elsewhere", 99))
        .await
        .unwrap();
    let texts = |v: Vec<StoredMessage>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
    assert_eq!(
        texts(s.history("messi", "lineker", 3, None).await.unwrap()),
        ["h7", "h8", "h9"]
    );
    assert_eq!(
        texts(
            s.history("lineker", "messi", 3, Some(ids[7]))
                .await
                .unwrap()
        ),
        ["h4", "h5", "h6"]
    );
    assert_eq!(
        texts(
            s.history("messi", "lineker", 50, Some(ids[2]))
                .await
                .unwrap()
        ),
        ["h0", "h1"]
    );
    assert!(
        s.history("messi", "nobody", 50, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.drain_inbox("messi").await.unwrap().len(),
        5,
        "history drained nothing"
    );
    assert_eq!(
        s.history("messi", "lineker", 500, None)
            .await
            .unwrap()
            .len(),
        10,
        "draining keeps history"
    );
}

/// Removing an account logs it out everywhere.
pub async fn removing_a_user_ends_their_sessions<S: Store>(s: S) {
    s.create_user(&user("messi")).await.unwrap();
    s.create_session(&session("t", "messi", 1_000))
        .await
        .unwrap();
    assert!(s.remove_user("messi").await.unwrap());
    assert_eq!(s.touch_session("t", 1_001, 10_000).await.unwrap(), None);
    assert!(s.active_users(1_001, 10_000).await.unwrap().is_empty());
}

/// The inbox limit's measure: undelivered messages of one recipient only.
pub async fn undelivered_count_follows_sends_and_drains<S: Store>(s: S) {
    assert_eq!(s.undelivered_count("messi", 100).await.unwrap(), 0);
    for i in 0..3 {
        s.append_message(msg("lineker", "messi", &format!("c{i}"), i))
            .await
            .unwrap();
    }
    s.append_message(msg("messi", "lineker", "other way", 9))
        .await
        .unwrap();
    assert_eq!(s.undelivered_count("messi", 100).await.unwrap(), 3);
    assert_eq!(
        s.undelivered_count("messi", 2).await.unwrap(),
        2,
        "counting stops at the cap"
    );
    assert_eq!(s.drain_inbox("messi").await.unwrap().len(), 3);
    assert_eq!(s.undelivered_count("messi", 100).await.unwrap(), 0);
    assert_eq!(s.undelivered_count("lineker", 100).await.unwrap(), 1);
}

fn ids(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|m| m.id).collect()
}

/// `sync` returns what a user sent and received after a cursor, in id order, a page
/// at a time, a message to oneself once, and takes nothing from the inbox.
pub async fn sync_reads_sent_and_received_in_id_order_without_draining<S: Store>(s: S) {
    let a1 = s.append_message(msg("a", "b", "1", 1)).await.unwrap();
    let b2 = s.append_message(msg("b", "a", "2", 2)).await.unwrap();
    let c3 = s.append_message(msg("c", "b", "3", 3)).await.unwrap();
    let b4 = s.append_message(msg("b", "b", "4", 4)).await.unwrap();
    let a5 = s.append_message(msg("a", "c", "5", 5)).await.unwrap();

    let all = s.sync("b", 0, 100).await.unwrap();
    assert_eq!(
        ids(&all),
        ids(&[a1.clone(), b2.clone(), c3.clone(), b4.clone()])
    );
    assert_eq!(all[1], b2, "every field round-trips");
    assert_eq!(
        ids(&s.sync("a", 0, 100).await.unwrap()),
        ids(&[a1.clone(), b2.clone(), a5.clone()])
    );
    assert_eq!(
        ids(&s.sync("b", a1.id, 2).await.unwrap()),
        ids(&[b2, c3.clone()])
    );
    assert_eq!(ids(&s.sync("b", c3.id, 100).await.unwrap()), vec![b4.id]);
    assert!(s.sync("b", b4.id, 100).await.unwrap().is_empty());
    assert!(s.sync("nobody", 0, 100).await.unwrap().is_empty());
    // Nothing was drained by reading.
    let inbox = s.drain_inbox("b").await.unwrap();
    assert_eq!(ids(&inbox), ids(&[a1, c3, b4]));
    assert_eq!(
        s.sync("b", 0, 100).await.unwrap().len(),
        4,
        "drained stays visible"
    );
}

/// `acknowledge` marks received messages up to an id delivered: the inbox no longer
/// returns them nor counts them; later ones stay.
pub async fn acknowledge_marks_received_messages_up_to_an_id<S: Store>(s: S) {
    let m1 = s.append_message(msg("a", "b", "1", 1)).await.unwrap();
    let m2 = s.append_message(msg("c", "b", "2", 2)).await.unwrap();
    let mine = s.append_message(msg("b", "a", "mine", 3)).await.unwrap();
    let m3 = s.append_message(msg("a", "b", "3", 4)).await.unwrap();
    assert_eq!(s.undelivered_count("b", 100).await.unwrap(), 3);
    assert_eq!(s.acknowledge("b", m2.id).await.unwrap(), 2);
    assert_eq!(s.undelivered_count("b", 100).await.unwrap(), 1);
    assert_eq!(
        s.acknowledge("b", m2.id).await.unwrap(),
        0,
        "already marked"
    );
    assert_eq!(
        s.undelivered_count("a", 100).await.unwrap(),
        1,
        "b's acknowledgement is not a's"
    );
    assert_eq!(ids(&s.drain_inbox("b").await.unwrap()), vec![m3.id]);
    assert_eq!(
        s.acknowledge("b", m3.id).await.unwrap(),
        0,
        "drained already"
    );
    assert_eq!(
        ids(&s.sync("b", 0, 100).await.unwrap()),
        ids(&[m1, m2, mine, m3])
    );
}

/// A listener of the sender or the recipient is woken by the commit; others are not.
pub async fn a_commit_wakes_its_sender_and_recipient<S: Store>(s: S) {
    use std::pin::pin;
    use std::time::Duration;
    let wakeups = s.wakeups().clone();
    let (to, from, other) = (
        wakeups.listen("b"),
        wakeups.listen("a"),
        wakeups.listen("c"),
    );
    let mut to_woken = pin!(to.notified());
    let mut from_woken = pin!(from.notified());
    let mut other_woken = pin!(other.notified());
    to_woken.as_mut().enable();
    from_woken.as_mut().enable();
    other_woken.as_mut().enable();
    let sent = s.append_message(msg("a", "b", "wake", 1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), to_woken)
        .await
        .expect("the recipient's listener is woken");
    tokio::time::timeout(Duration::from_secs(5), from_woken)
        .await
        .expect("the sender's listener is woken (their other devices)");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), other_woken)
            .await
            .is_err(),
        "an unrelated user is not woken"
    );
    // Woken after the commit: what the waiter reads has the message.
    assert_eq!(ids(&s.sync("b", 0, 10).await.unwrap()), [sent.id]);
}

/// Markers move forward only, report what changed since a version, and wake
/// their user (not the peer).
pub async fn read_markers_move_forward_and_wake_their_user<S: Store>(s: S) {
    use std::pin::pin;
    use std::time::Duration;
    assert_eq!(
        s.read_markers("a", 0).await.unwrap(),
        ReadMarkers::default()
    );
    let wakeups = s.wakeups().clone();
    let (mine, other) = (wakeups.listen("a"), wakeups.listen("b"));
    let mut mine_woken = pin!(mine.notified());
    let mut other_woken = pin!(other.notified());
    mine_woken.as_mut().enable();
    other_woken.as_mut().enable();
    assert!(s.set_read_marker("a", "b", 5).await.unwrap());
    tokio::time::timeout(Duration::from_secs(5), mine_woken)
        .await
        .expect("the user's other clients are woken");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), other_woken)
            .await
            .is_err(),
        "the peer is not woken"
    );
    assert!(s.set_read_marker("a", "c", 2).await.unwrap());
    let all = s.read_markers("a", 0).await.unwrap();
    assert_eq!(all.markers, [("b".to_string(), 5), ("c".to_string(), 2)]);
    assert!(all.version > 0);
    // Never back, nor in place: no change, no new version.
    assert!(!s.set_read_marker("a", "b", 4).await.unwrap());
    assert!(!s.set_read_marker("a", "b", 5).await.unwrap());
    let none = s.read_markers("a", all.version).await.unwrap();
    assert_eq!((none.markers.len(), none.version), (0, all.version));
    // Forward: only the moved marker is new since the last look.
    assert!(s.set_read_marker("a", "c", 9).await.unwrap());
    let since = s.read_markers("a", all.version).await.unwrap();
    assert_eq!(since.markers, [("c".to_string(), 9)]);
    assert!(since.version > all.version);
    // Another user's markers are their own.
    assert!(s.read_markers("b", 0).await.unwrap().markers.is_empty());
}
