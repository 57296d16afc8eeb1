use super::super::{NewMessage, Session, Store, StoreError};
use super::store::write_threshold;
use super::testing::ScratchSchema;
use super::url::{redact, split_params};
use super::{MIGRATOR, PostgresOptions, PostgresStore, PostgresUrl, testing};
use std::time::Duration;

/// A store on a new scratch schema, or `None` (test skipped) without PostgreSQL.
async fn scratch_store(test: &str, options: PostgresOptions) -> Option<PostgresStore> {
    let schema = ScratchSchema::create_or_skip(test).await?;
    let (store, created) = PostgresStore::open_with(&schema.postgres_url(), options)
        .await
        .expect("open");
    assert!(created, "a new schema is a new database");
    let pool = format!("(pool of {})", testing::SCRATCH_POOL_SIZE);
    assert!(
        store.description().ends_with(&pool),
        "pool_size is applied: {}",
        store.description()
    );
    *store.inner.keep.lock().expect("lock") = Some(schema);
    Some(store)
}

crate::storage_suite!(
    match scratch_store(module_path!(), PostgresOptions::default()).await {
        Some(store) => store,
        None => return,
    }
);

/// The same suite with grouping off, so the one-`INSERT`-per-send path stays correct.
mod one_insert_per_send {
    use super::*;
    crate::storage_suite!(match scratch_store(
        module_path!(),
        PostgresOptions {
            max_batch: 1,
            ..PostgresOptions::default()
        }
    )
    .await
    {
        Some(store) => store,
        None => return,
    });
}

fn msg(from: &str, to: &str, text: &str) -> NewMessage {
    NewMessage {
        from: from.into(),
        to: to.into(),
        from_display: from.into(),
        to_display: to.into(),
        text: text.into(),
        ts_ms: 1,
    }
}

#[test]
fn urls_hide_passwords() {
    assert_eq!(
        redact("postgres://chat:s3cret@db:5432/chat"),
        "postgres://chat:***@db:5432/chat"
    );
    assert_eq!(
        redact("postgres://chat@db/chat?password=x&sslmode=require"),
        "postgres://chat@db/chat?password=***&sslmode=require"
    );
    assert_eq!(redact("postgresql://db"), "postgresql://db");
    let url = PostgresUrl::new("postgres://u:pw@h/d").expect("postgres url");
    assert!(!format!("{url:?} {url}").contains("pw"), "{url:?}");
    assert_eq!(url.expose(), "postgres://u:pw@h/d");
    assert!(PostgresUrl::new("sqlite://x").is_none());
    assert!(PostgresUrl::new("postgresql://h/d").is_some());
}

#[test]
fn pool_size_is_ours_and_checked() {
    assert_eq!(
        split_params("postgres://h/d"),
        Ok(("postgres://h/d".into(), None))
    );
    assert_eq!(
        split_params("postgres://h/d?pool_size=32"),
        Ok(("postgres://h/d".into(), Some(32)))
    );
    assert_eq!(
        split_params("postgres://h/d?sslmode=require&pool_size=4&application_name=x"),
        Ok((
            "postgres://h/d?sslmode=require&application_name=x".into(),
            Some(4)
        ))
    );
    assert!(split_params("postgres://h/d?pool_size=0").is_err());
    assert!(split_params("postgres://h/d?pool_size=many").is_err());
}

#[test]
fn touch_threshold_is_a_tenth_of_the_ttl_at_most_a_minute() {
    assert_eq!(write_threshold(1_000), 100);
    assert_eq!(write_threshold(30 * 60_000), 60_000);
    assert_eq!(write_threshold(0), 0);
}

async fn stored_last_seen(store: &PostgresStore, token: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT last_seen_ms FROM sessions WHERE token = $1")
        .bind(token)
        .fetch_optional(&store.inner.pool)
        .await
        .expect("read")
}

#[tokio::test]
async fn touch_writes_only_when_last_seen_moved_enough() {
    const TTL: i64 = 3_600_000; // an hour: threshold 60 s
    let Some(store) = scratch_store(
        "touch_writes_only_when_last_seen_moved_enough",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    store
        .create_session(&Session {
            token: "t".into(),
            username: "messi".into(),
            last_seen_ms: 0,
        })
        .await
        .expect("session");
    assert!(
        store
            .touch_session("t", 30_000, TTL)
            .await
            .expect("touch")
            .is_some()
    );
    assert_eq!(
        stored_last_seen(&store, "t").await,
        Some(0),
        "a 30 s move is not written"
    );
    assert!(
        store
            .touch_session("t", 59_999, TTL)
            .await
            .expect("touch")
            .is_some()
    );
    assert_eq!(stored_last_seen(&store, "t").await, Some(0));
    assert!(
        store
            .touch_session("t", 60_000, TTL)
            .await
            .expect("touch")
            .is_some()
    );
    assert_eq!(
        stored_last_seen(&store, "t").await,
        Some(60_000),
        "a 60 s move is written"
    );
    // The stored value is what counts: at most 60 s early, never late.
    assert!(
        store
            .touch_session("t", 100_000, TTL)
            .await
            .expect("touch")
            .is_some()
    );
    assert_eq!(
        store.active_users(60_000 + TTL, TTL).await.expect("active"),
        Vec::<String>::new()
    );
    assert_eq!(
        store
            .touch_session("t", 60_000 + TTL, TTL)
            .await
            .expect("touch"),
        None,
        "expired"
    );
    assert_eq!(
        stored_last_seen(&store, "t").await,
        None,
        "an expired session is removed when touched"
    );
    // A clock behind the stored time never moves last_seen back.
    store
        .create_session(&Session {
            token: "u".into(),
            username: "messi".into(),
            last_seen_ms: 500_000,
        })
        .await
        .expect("session");
    assert!(
        store
            .touch_session("u", 400_000, TTL)
            .await
            .expect("touch")
            .is_some()
    );
    assert_eq!(stored_last_seen(&store, "u").await, Some(500_000));
}

#[tokio::test]
async fn two_handles_share_everything_at_once() {
    let Some(a) = scratch_store(
        "two_handles_share_everything_at_once",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    let url = a
        .inner
        .keep
        .lock()
        .expect("lock")
        .as_ref()
        .map(|s| s.postgres_url())
        .expect("schema");
    let (b, created) = PostgresStore::open(&url).await.expect("second node");
    assert!(!created, "the second node finds the database made");
    a.create_session(&Session {
        token: "t".into(),
        username: "messi".into(),
        last_seen_ms: 1_000,
    })
    .await
    .expect("session");
    assert_eq!(
        b.touch_session("t", 1_001, 60_000)
            .await
            .expect("touch")
            .as_deref(),
        Some("messi")
    );
    assert_eq!(
        b.active_users(1_002, 60_000).await.expect("active"),
        ["messi"]
    );
    assert!(a.delete_session("t").await.expect("logout"));
    assert_eq!(
        b.touch_session("t", 1_003, 60_000).await.expect("touch"),
        None,
        "logout is seen at once"
    );
    let sent = a
        .append_message(msg("lineker", "messi", "hi"))
        .await
        .expect("append");
    assert_eq!(b.drain_inbox("messi").await.expect("drain"), [sent]);
    assert!(a.drain_inbox("messi").await.expect("drain").is_empty());
}

#[tokio::test]
async fn text_round_trips_byte_for_byte() {
    let Some(store) =
        scratch_store("text_round_trips_byte_for_byte", PostgresOptions::default()).await
    else {
        return;
    };
    let texts = [
        "nul \0 inside",
        "  spaces  ",
        "tab\tand ✓ and 👨‍👩‍👧",
        "'; DROP TABLE messages; --",
    ];
    for text in texts {
        store
            .append_message(msg("a", "b", text))
            .await
            .expect("append");
    }
    let got: Vec<String> = store
        .drain_inbox("b")
        .await
        .expect("drain")
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(got, texts);
}

#[tokio::test]
async fn migrations_are_recorded_and_reopening_changes_nothing() {
    let Some(store) = scratch_store("migrations_are_recorded", PostgresOptions::default()).await
    else {
        return;
    };
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&store.inner.pool)
            .await
            .expect("read migrations");
    let all: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(applied, all);
    let first = store
        .append_message(msg("a", "b", "one"))
        .await
        .expect("append");
    let url = store
        .inner
        .keep
        .lock()
        .expect("lock")
        .as_ref()
        .map(|s| s.postgres_url())
        .expect("schema");
    let (again, created) = PostgresStore::open(&url).await.expect("reopen");
    assert!(!created);
    let second = again
        .append_message(msg("a", "b", "two"))
        .await
        .expect("append");
    assert!(second.id > first.id);
    assert_eq!(
        again.drain_inbox("b").await.expect("drain"),
        [first, second]
    );
}

#[tokio::test]
async fn unreachable_database_fails_fast_with_unavailable() {
    // A port nobody listens on: connecting is refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url =
        PostgresUrl::new(&format!("postgres://nobody:secret@127.0.0.1:{port}/none")).expect("url");
    let started = std::time::Instant::now();
    let err = PostgresStore::open(&url)
        .await
        .expect_err("no database there");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && !text.contains("secret"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_all_commit_with_distinct_ids() {
    let Some(store) = scratch_store(
        "concurrent_sends_all_commit_with_distinct_ids",
        PostgresOptions::default(),
    )
    .await
    else {
        return;
    };
    let sends: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append_message(msg("a", "b", &format!("m{i}"))).await })
        })
        .collect();
    let mut acked = Vec::new();
    for send in sends {
        acked.push(send.await.expect("join").expect("append"));
    }
    acked.sort_by_key(|m| m.id);
    let mut ids: Vec<i64> = acked.iter().map(|m| m.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 200, "ids are distinct");
    // Each send got the id of its own row (batches hand ids out in order).
    assert_eq!(store.drain_inbox("b").await.expect("drain"), acked);
    assert!(
        store.batches() < 100,
        "200 concurrent sends took {} INSERTs",
        store.batches()
    );
}

#[test]
fn session_settings_bound_statements_unless_the_url_sets_them() {
    let all = super::session_settings(Duration::from_secs(5), None);
    assert_eq!(
        all,
        [
            ("statement_timeout", "5000ms".to_string()),
            ("idle_in_transaction_session_timeout", "5000ms".to_string()),
            ("client_connection_check_interval", "1000ms".to_string()),
        ]
    );
    let given = super::session_settings(
        Duration::from_secs(5),
        Some("-c search_path=x -c statement_timeout=1min"),
    );
    assert_eq!(given.len(), 2, "{given:?}");
    assert!(given.iter().all(|(name, _)| *name != "statement_timeout"));
}

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
    let url = a
        .inner
        .keep
        .lock()
        .expect("lock")
        .as_ref()
        .map(|s| s.postgres_url())
        .expect("schema");
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
