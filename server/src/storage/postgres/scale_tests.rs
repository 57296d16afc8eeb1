//! PostgreSQL store tests at scale and across nodes: statements that outlive their
//! call, a big inbox drained by many at once, ids in commit order, cross-node
//! wake-ups (and a measurement of their latency).

use super::tests::{msg, schema_url, scratch_store};
use super::{PostgresOptions, PostgresStore, testing};
use crate::storage::Store;
use std::time::Duration;

/// Whether a backend of this store's database still runs `query_start`-ed
/// `pg_sleep` statements with `marker` in their text.
async fn still_running(base: &str, marker: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(base)
        .await
        .expect("connect");
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
    )
    .bind(marker)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_activity");
    let _ = conn.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_ends_statements_that_outlive_their_call_or_node() {
    let Some(store) = scratch_store(
        "the_database_ends_statements_that_outlive_their_call_or_node",
        PostgresOptions {
            op_timeout: Duration::from_secs(2),
            ..PostgresOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&store.inner.pool)
        .await
        .expect("show");
    assert_eq!(shown, "2s");
    let shown: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&store.inner.pool)
        .await
        .expect("show");
    assert_eq!(shown, "2s");

    // A statement longer than a call may take is ended by PostgreSQL itself.
    let err = sqlx::query("SELECT pg_sleep(30) -- outlives its call")
        .execute(&store.inner.pool)
        .await
        .expect_err("ended by the database");
    assert!(err.to_string().contains("statement timeout"), "{err}");

    // A node that goes away mid-statement (its connections closed under the
    // statement, as when the process is killed) leaves nothing running: here the
    // statement would otherwise sleep for a minute.
    let marker = format!("abandoned_{}", uuid::Uuid::new_v4().simple());
    let mut conn = store.inner.pool.acquire().await.expect("acquire");
    let sql = format!("SELECT pg_sleep(60) -- {marker}");
    let running = tokio::spawn(async move {
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await;
        // Dropped with the task: the socket closes under the statement.
    });
    let base = testing::base_url();
    let mut seen = false;
    for _ in 0..50 {
        if still_running(&base, &marker).await > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the statement started");
    running.abort();
    let _ = running.await;
    store.close().await;
    let mut left = -1;
    for _ in 0..100 {
        left = still_running(&base, &marker).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the abandoned statement still runs in PostgreSQL");
}

/// Queues `n` messages for `to` with one statement (as many sends would).
async fn queue_many(store: &PostgresStore, to: &str, n: i64) {
    sqlx::query(
        "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
         SELECT 'zz', $1, 'zz', $1, convert_to('m' || i, 'UTF8'), i, $1, 'zz' FROM generate_series(1, $2) AS i",
    )
    .bind(to)
    .bind(n)
    .execute(&store.inner.pool)
    .await
    .expect("queue");
}

/// Shared buffers one run of the empty-inbox probe of `username` touches (from
/// `EXPLAIN (ANALYZE, BUFFERS)`, generic plan, as a prepared statement gets).
async fn probe_buffers(store: &PostgresStore, username: &str) -> i64 {
    let mut conn = store.inner.pool.acquire().await.expect("acquire");
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .expect("set");
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        super::inbox::PROBE.replace("$1", &format!("'{username}'"))
    );
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .expect("explain");
    sqlx::query("RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .expect("reset");
    // The first `Buffers:` line is the top node's: its children's included.
    let line = plan
        .iter()
        .find(|l| l.trim_start().starts_with("Buffers:"))
        .unwrap_or_else(|| panic!("no buffers in {plan:#?}"));
    let count = |key: &str| -> i64 {
        line.split([' ', ','])
            .find_map(|part| part.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(plan.iter().all(|l| !l.contains("Seq Scan")), "{plan:#?}");
    count("hit=") + count("read=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_inbox_drained_by_many_at_once_comes_out_once_and_leaves_polls_cheap() {
    const QUEUED: i64 = 20_000;
    let Some(store) = scratch_store(
        "a_big_inbox_drained_by_many_at_once",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    queue_many(&store, "b", QUEUED).await;
    queue_many(&store, "other", QUEUED).await;
    let ctids_before: Vec<String> =
        sqlx::query_scalar("SELECT ctid::text FROM messages ORDER BY id")
            .fetch_all(&store.inner.pool)
            .await
            .expect("ctids");
    let drains: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.drain_inbox("b").await })
        })
        .collect();
    let mut ids = Vec::new();
    for drain in drains {
        let got = drain.await.expect("join").expect("drain");
        assert!(got.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        ids.extend(got.into_iter().map(|m| m.id));
    }
    let delivered = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), delivered, "a message came out twice");
    assert_eq!(delivered, 20_000, "every message came out");
    assert!(store.drain_inbox("b").await.expect("drain").is_empty());
    // Draining rewrote no message row (no dead versions left for VACUUM).
    let ctids_after: Vec<String> =
        sqlx::query_scalar("SELECT ctid::text FROM messages ORDER BY id")
            .fetch_all(&store.inner.pool)
            .await
            .expect("ctids");
    let moved = ctids_before
        .iter()
        .zip(&ctids_after)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(moved, 0, "draining rewrote {moved} message rows");
    // Polling the drained inbox, an untouched one and a never-seen user costs a few
    // index pages, not a walk over what was delivered or queued.
    for user in ["b", "other", "nobody"] {
        let buffers = probe_buffers(&store, user).await;
        assert!(buffers <= 8, "{user}: {buffers} buffers for one poll");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_reader_never_skips_ids_committed_by_two_nodes() {
    let Some(a) = scratch_store(
        "a_cursor_reader_never_skips_ids",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    let url = schema_url(&a);
    // A second node, grouping off: single INSERTs interleave with a's batches.
    let (b, _) = PostgresStore::open_with(
        &url,
        PostgresOptions {
            max_batch: 1,
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("second node");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (pool, done) = (a.inner.pool.clone(), done.clone());
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0_i64, Vec::new());
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let ids: Vec<i64> =
                    sqlx::query_scalar("SELECT id FROM messages WHERE id > $1 ORDER BY id")
                        .bind(cursor)
                        .fetch_all(&pool)
                        .await
                        .expect("read");
                if let Some(last) = ids.last() {
                    cursor = *last;
                }
                seen.extend(ids);
                if finished {
                    return seen;
                }
            }
        })
    };
    let sends: Vec<_> = (0..400)
        .map(|i| {
            let node = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                node.append_message(msg("x", &format!("u{}", i % 7), "m"))
                    .await
                    .map(|m| m.id)
            })
        })
        .collect();
    let mut acked = Vec::new();
    for send in sends {
        acked.push(send.await.expect("join").expect("append"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    acked.sort_unstable();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ids come out once, in order"
    );
    let missed: Vec<&i64> = acked
        .iter()
        .filter(|id| seen.binary_search(id).is_err())
        .collect();
    assert!(missed.is_empty(), "the cursor skipped {missed:?}");
}

/// Waits until some session LISTENs on `store`'s channel (the other node's
/// listener has connected), so a wake-up seen later is a notification, not the
/// listener's wake-everyone at connect.
async fn wait_for_listener(store: &PostgresStore) {
    let channel: String = sqlx::query_scalar("SELECT 'chat_' || left(md5(current_schema()), 16)")
        .fetch_one(&store.inner.pool)
        .await
        .expect("channel");
    for _ in 0..100 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND query = 'LISTEN \"' || $1 || '\"'",
        )
        .bind(&channel)
        .fetch_one(&store.inner.pool)
        .await
        .expect("pg_stat_activity");
        if n > 0 {
            // Past its connect-time wake_all too.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no node listens on {channel}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_node_wakes_the_waiters_of_another() {
    let Some(a) = scratch_store(
        "a_commit_on_one_node_wakes_the_waiters_of_another",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    let url = schema_url(&a);
    let (b, _) = PostgresStore::open(&url).await.expect("second node");
    wait_for_listener(&b).await;
    for (sender, grouped) in [(a.clone(), "grouped"), (a.clone(), "again")] {
        let messi = b.wakeups().listen("messi");
        let lineker = b.wakeups().listen("lineker");
        let henderson = b.wakeups().listen("henderson");
        let mut to_messi = std::pin::pin!(messi.notified());
        let mut from_lineker = std::pin::pin!(lineker.notified());
        let mut other = std::pin::pin!(henderson.notified());
        to_messi.as_mut().enable();
        from_lineker.as_mut().enable();
        other.as_mut().enable();
        sender
            .append_message(msg("lineker", "messi", grouped))
            .await
            .expect("append");
        tokio::time::timeout(Duration::from_secs(10), to_messi)
            .await
            .expect("the recipient's waiter on the other node is woken");
        tokio::time::timeout(Duration::from_secs(10), from_lineker)
            .await
            .expect("the sender's waiter on the other node is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), other)
                .await
                .is_err(),
            "someone else's waiter was woken"
        );
    }
    // The single-INSERT path notifies too.
    let (c, _) = PostgresStore::open_with(
        &url,
        PostgresOptions {
            max_batch: 1,
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("third node");
    let messi = b.wakeups().listen("messi");
    let mut to_messi = std::pin::pin!(messi.notified());
    to_messi.as_mut().enable();
    c.append_message(msg("lineker", "messi", "single"))
        .await
        .expect("append");
    tokio::time::timeout(Duration::from_secs(10), to_messi)
        .await
        .expect("woken by a single insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_marker_on_one_node_wakes_the_users_waiters_on_another() {
    let Some(a) = scratch_store(
        "a_read_marker_on_one_node_wakes_the_users_waiters_on_another",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    let url = schema_url(&a);
    let (b, _) = PostgresStore::open(&url).await.expect("second node");
    wait_for_listener(&b).await;
    // The message's own notification reaches node b first, so it cannot be what
    // wakes the waiter below.
    let first = b.wakeups().listen("messi");
    let mut delivered = std::pin::pin!(first.notified());
    delivered.as_mut().enable();
    let sent = a
        .append_message(msg("lineker", "messi", "read me"))
        .await
        .expect("append");
    tokio::time::timeout(Duration::from_secs(10), delivered)
        .await
        .expect("the message's notification");
    let messi = b.wakeups().listen("messi");
    let mut marked = std::pin::pin!(messi.notified());
    marked.as_mut().enable();
    assert!(
        a.set_read_marker("messi", "lineker", sent.id)
            .await
            .expect("marker")
    );
    tokio::time::timeout(Duration::from_secs(10), marked)
        .await
        .expect("messi's waiter on the other node learns of the marker");
    let markers = b.read_markers("messi", 0).await.expect("markers");
    assert_eq!(markers.markers, [("lineker".to_string(), sent.id)]);
}

/// Not a test but a measurement (run with `--ignored --nocapture`): from the commit
/// of a send on one node (its `append_message` returning, where the server answers
/// `OK`) to a waiter on another node having been woken and re-read the store with
/// `sync`, over 500 sends. Prints p50, p99 and max in ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; prints figures"]
async fn measure_cross_node_wake_latency() {
    let Some(a) = scratch_store(
        "measure_cross_node_wake_latency",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    let url = schema_url(&a);
    let (b, _) = PostgresStore::open(&url).await.expect("second node");
    wait_for_listener(&b).await;
    let mut after_ok = Vec::new();
    let mut cursor = 0;
    for i in 0..500 {
        let messi = b.wakeups().listen("messi");
        let mut woken = std::pin::pin!(messi.notified());
        woken.as_mut().enable();
        let sent = a
            .append_message(msg("lineker", "messi", &format!("m{i}")))
            .await
            .expect("append");
        let ok = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(10), woken)
            .await
            .expect("woken");
        let got = b.sync("messi", cursor, 100).await.expect("sync");
        assert_eq!(got.last().map(|m| m.id), Some(sent.id));
        cursor = sent.id;
        after_ok.push(ok.elapsed().as_secs_f64() * 1000.0);
    }
    after_ok.sort_by(f64::total_cmp);
    let at = |q: f64| after_ok[((after_ok.len() - 1) as f64 * q) as usize];
    println!(
        "cross-node wake, OK on node 1 to sync answered on node 2 ({} sends): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        after_ok.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
