//! Tests of the SQLite store: the storage suite (with and without group commit),
//! migrations, restarts, the in-memory state and the writer.

use super::*;

/// A store on a new file in its own temporary directory, removed with the store.
async fn temp_store(options: SqliteOptions) -> SqliteStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, created) = SqliteStore::open_with(&dir.path().join("chat.db"), options)
        .await
        .expect("open");
    assert!(created);
    *store.inner.keep.lock().expect("lock") = Some(dir);
    store
}

/// Stops `store` (the last handle) and opens its file again, as a restart does.
async fn restart(store: SqliteStore) -> SqliteStore {
    store.flush().await.expect("flush");
    let dir = store.inner.keep.lock().expect("lock").take();
    let path = store.path().to_path_buf();
    drop(store);
    let (again, created) = SqliteStore::open(&path).await.expect("restart");
    assert!(!created);
    *again.inner.keep.lock().expect("lock") = dir;
    again
}

/// A plain connection to the store's file, going around the store entirely.
async fn raw_connection(store: &SqliteStore) -> SqlitePool {
    SqlitePool::connect_with(connect_options(store.path(), &SqliteOptions::default()))
        .await
        .expect("raw connection")
}

/// A second handle on the same file, as `chat-server user` opens it.
async fn admin(store: &SqliteStore) -> SqliteStore {
    let options = SqliteOptions {
        access: Access::Admin,
        ..SqliteOptions::default()
    };
    let (admin, created) = SqliteStore::open_with(store.path(), options)
        .await
        .expect("admin handle");
    assert!(!created);
    admin
}

crate::storage_suite!(temp_store(SqliteOptions::default()).await);

/// The same suite with group commit off, so the baseline path stays correct.
mod one_write_per_transaction {
    use super::*;
    crate::storage_suite!(
        temp_store(SqliteOptions {
            max_batch: 1,
            ..SqliteOptions::default()
        })
        .await
    );
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

fn user(name: &str) -> User {
    User {
        username: name.into(),
        display_name: name.into(),
        country: None,
        password_hash: "h".into(),
    }
}

async fn applied_versions(pool: &SqlitePool) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("read migrations")
}

#[tokio::test]
async fn migrations_on_an_empty_database() {
    let store = temp_store(SqliteOptions::default()).await;
    let all: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(applied_versions(&store.inner.reads).await, all);
    let again = restart(store).await;
    assert_eq!(applied_versions(&again.inner.reads).await, all);
}

#[tokio::test]
async fn migrations_on_a_database_made_by_migration_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let options = connect_options(&path, &SqliteOptions::default());
    let pool = SqlitePool::connect_with(options).await.expect("connect");
    MIGRATOR.run_to(1, &pool).await.expect("migration 1");
    assert_eq!(applied_versions(&pool).await, [1]);
    sqlx::query(
        "INSERT INTO users (username, display_name, password_hash) VALUES ('old', 'Old', 'h')",
    )
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;

    let (store, created) = SqliteStore::open(&path).await.expect("open migrates");
    assert!(!created, "a database with a schema is not new");
    assert_eq!(
        applied_versions(&store.inner.reads).await.len(),
        MIGRATOR.iter().count()
    );
    assert_eq!(
        store
            .user("old")
            .await
            .expect("read")
            .map(|u| u.display_name)
            .as_deref(),
        Some("Old")
    );
    let sent = store
        .append_message(msg("old", "new", "hi"))
        .await
        .expect("append after migrating");
    assert_eq!(store.drain_inbox("new").await.expect("drain"), [sent]);
}

#[tokio::test]
async fn everything_survives_reopening() {
    let store = temp_store(SqliteOptions::default()).await;
    store.create_user(&user("messi")).await.expect("user");
    store
        .create_session(&Session {
            token: "t".into(),
            username: "messi".into(),
            last_seen_ms: 1_000,
        })
        .await
        .expect("session");
    let first = store
        .append_message(msg("lineker", "messi", "one"))
        .await
        .expect("append");
    store
        .append_message(msg("lineker", "messi", "two"))
        .await
        .expect("append");
    assert_eq!(store.drain_inbox("messi").await.expect("drain").len(), 2);
    let third = store
        .append_message(msg("messi", "lineker", "three"))
        .await
        .expect("append");

    let again = restart(store).await;
    assert_eq!(
        again.user("messi").await.expect("user"),
        Some(user("messi"))
    );
    assert_eq!(
        again
            .touch_session("t", 2_000, 10_000)
            .await
            .expect("touch")
            .as_deref(),
        Some("messi")
    );
    assert_eq!(
        again.drain_inbox("lineker").await.expect("drain"),
        std::slice::from_ref(&third)
    );
    assert!(
        again.drain_inbox("messi").await.expect("drain").is_empty(),
        "delivered stays delivered"
    );
    let history = again
        .history("messi", "lineker", 50, None)
        .await
        .expect("history");
    assert_eq!(history.len(), 3);
    assert_eq!(history[0], first);
    let fourth = again
        .append_message(msg("lineker", "messi", "four"))
        .await
        .expect("append");
    assert!(fourth.id > third.id, "ids keep increasing across restarts");
}

async fn stored_last_seen(store: &SqliteStore, token: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT last_seen_ms FROM sessions WHERE token = ?")
        .bind(token)
        .fetch_optional(&store.inner.reads)
        .await
        .expect("read")
}

#[tokio::test]
async fn touch_writes_only_when_last_seen_moved_enough() {
    const TTL: i64 = 3_600_000; // an hour: threshold 60 s
    let store = temp_store(SqliteOptions::default()).await;
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
    // Exact in this process: live until 30 s + TTL, though the file says 0.
    assert_eq!(
        store.active_users(TTL + 1_000, TTL).await.expect("active"),
        ["messi"]
    );
    assert_eq!(
        store.purge_sessions(TTL + 1_000, TTL).await.expect("purge"),
        0,
        "remembered use spares it"
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
    store.flush().await.expect("flush");
    assert_eq!(
        stored_last_seen(&store, "t").await,
        Some(60_000),
        "a 60 s move is written"
    );

    // A restart forgets the unwritten part: the session ends at most 60 s early.
    store.touch_session("t", 100_000, TTL).await.expect("touch");
    let late = 100_000 + TTL - 1;
    assert_eq!(
        store.active_users(late, TTL).await.expect("active"),
        ["messi"],
        "this process remembers 100 s"
    );
    let restarted = restart(store).await;
    assert!(
        restarted
            .active_users(late, TTL)
            .await
            .expect("active")
            .is_empty(),
        "the file says 60 s"
    );
    assert_eq!(
        restarted
            .touch_session("t", 60_000 + TTL, TTL)
            .await
            .expect("touch"),
        None
    );
}

#[tokio::test]
async fn another_process_removing_a_user_ends_the_session_at_once() {
    let server = temp_store(SqliteOptions::default()).await;
    server.create_user(&user("messi")).await.expect("user");
    server
        .create_session(&Session {
            token: "t".into(),
            username: "messi".into(),
            last_seen_ms: 0,
        })
        .await
        .expect("session");
    assert!(
        server
            .touch_session("t", 1, 1_000_000)
            .await
            .expect("touch")
            .is_some()
    );
    assert_eq!(
        server.user("messi").await.expect("user"),
        Some(user("messi")),
        "now remembered"
    );
    let cli = admin(&server).await;
    assert!(cli.set_password_hash("messi", "new").await.expect("passwd"));
    assert_eq!(
        server
            .user("messi")
            .await
            .expect("user")
            .map(|u| u.password_hash)
            .as_deref(),
        Some("new"),
        "the command returns once the server has the new hash"
    );
    assert!(cli.remove_user("messi").await.expect("remove"));
    assert_eq!(server.user("messi").await.expect("user"), None);
    assert_eq!(
        server
            .touch_session("t", 2, 1_000_000)
            .await
            .expect("touch"),
        None
    );
    assert!(
        server
            .active_users(2, 1_000_000)
            .await
            .expect("active")
            .is_empty()
    );
}

#[tokio::test]
async fn changes_by_any_other_connection_reach_memory() {
    let store = temp_store(SqliteOptions::default()).await;
    assert!(store.drain_inbox("messi").await.expect("drain").is_empty());
    // Memory now knows messi has nothing after 0.
    assert!(store.sync("messi", 0, 10).await.expect("sync").is_empty());
    // Not through a store at all: raw SQL on a connection of its own.
    let raw = raw_connection(&store).await;
    let mut tx = raw.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
         VALUES ('a', 'messi', 'A', 'M', 'from outside', 1, 'a', 'messi')",
    )
    .execute(&mut *tx)
    .await
    .expect("insert");
    sqlx::query("INSERT INTO sessions (token, username, last_seen_ms) VALUES ('x', 'a', 5)")
        .execute(&mut *tx)
        .await
        .expect("session");
    tx.commit().await.expect("commit");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let drained = loop {
        let drained = store.drain_inbox("messi").await.expect("drain");
        if !drained.is_empty() || tokio::time::Instant::now() > deadline {
            break drained;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(drained.len(), 1, "the watch reloads the inbox counts");
    assert_eq!(
        store.sync("messi", 0, 10).await.expect("sync").len(),
        1,
        "and forgets what it knew of the newest messages"
    );
    assert_eq!(drained[0].text, "from outside");
    assert_eq!(
        store
            .touch_session("x", 6, 1_000)
            .await
            .expect("touch")
            .as_deref(),
        Some("a"),
        "and the sessions"
    );
}

#[tokio::test]
async fn a_failed_batch_of_sends_stores_none_of_them_and_the_next_one_works() {
    let store = temp_store(SqliteOptions::default()).await;
    let raw = raw_connection(&store).await;
    // ABORT undoes the statement but leaves its transaction open: the store
    // must end it, or every later write would fail.
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    )
    .execute(&raw)
    .await
    .expect("trigger");
    let sends: Vec<_> = ["ok 1", "poison", "ok 2"]
        .into_iter()
        .map(|text| {
            let store = store.clone();
            tokio::spawn(async move { store.append_message(msg("a", "b", text)).await })
        })
        .collect();
    let mut failed = 0;
    for send in sends {
        if send.await.expect("join").is_err() {
            failed += 1;
        }
    }
    assert!(failed >= 1, "the poisoned send fails");
    let after = store
        .append_message(msg("a", "b", "after"))
        .await
        .expect("the writer goes on");
    let texts: Vec<String> = store
        .drain_inbox("b")
        .await
        .expect("drain")
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(!texts.contains(&"poison".to_string()), "{texts:?}");
    assert_eq!(texts.len(), 4 - failed, "exactly the OK'd sends: {texts:?}");
    assert_eq!(texts.last(), Some(&after.text));
}

#[tokio::test]
async fn a_second_server_on_the_same_file_is_refused() {
    let store = temp_store(SqliteOptions::default()).await;
    let err = SqliteStore::open(store.path())
        .await
        .expect_err("second server")
        .to_string();
    assert!(err.contains("is in use"), "{err}");
    admin(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_transactions_and_all_commit() {
    let store = temp_store(SqliteOptions::default()).await;
    let sends: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append_message(msg("a", "b", &format!("m{i}"))).await })
        })
        .collect();
    let mut sent = Vec::new();
    for send in sends {
        let m = send.await.expect("join").expect("append");
        sent.push((m.id, m.text));
    }
    sent.sort_unstable();
    assert!(
        store.commits() < 100,
        "200 concurrent sends took {} commits",
        store.commits()
    );
    // The ids answered (worked out from the last one of each INSERT) are the
    // ids stored, each with its own text.
    let stored: Vec<(i64, String)> = store
        .drain_inbox("b")
        .await
        .expect("drain")
        .into_iter()
        .map(|m| (m.id, m.text))
        .collect();
    assert_eq!(stored.len(), 200);
    assert_eq!(sent, stored);
}
