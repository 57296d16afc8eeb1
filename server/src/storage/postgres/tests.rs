use super::super::{NewMessage, Session, Store, StoreError};
use super::store::write_threshold;
use super::testing::ScratchSchema;
use super::url::{redact, split_params};
use super::{MIGRATOR, PostgresOptions, PostgresStore, PostgresUrl, testing};
use std::time::Duration;

/// A store on a new scratch schema, or `None` (test skipped) without PostgreSQL.
pub(super) async fn scratch_store(test: &str, options: PostgresOptions) -> Option<PostgresStore> {
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

/// The connect string of the scratch schema that `store` (made by
/// [`scratch_store`]) works in, for opening further nodes on it.
pub(super) fn schema_url(store: &PostgresStore) -> PostgresUrl {
    store
        .inner
        .keep
        .lock()
        .expect("lock")
        .as_ref()
        .map(|s| s.postgres_url())
        .expect("schema")
}

pub(super) fn msg(from: &str, to: &str, text: &str) -> NewMessage {
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
    let url = schema_url(&a);
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
    let url = schema_url(&store);
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
