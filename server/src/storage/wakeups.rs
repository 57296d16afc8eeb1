//! Waking the `sync` requests that wait for a user's next message (a long poll).
//!
//! A store owns one [`Wakeups`] and calls [`Wakeups::wake`] for the sender and the
//! recipient of every message *after* it has committed, so a woken waiter that reads
//! the store finds the message. Nothing here polls or runs on a timer: a waiter
//! sleeps until a commit concerns it.
//!
//! A waiter must not miss a commit that lands between its read of the store and its
//! sleep. So it first takes a [`Listener`], then arms its [`Notified`] future
//! (`Notified::enable`), then reads the store, and only then awaits: a wake that comes
//! after `enable` is kept by the future (tokio's `Notify::notify_waiters` contract).
//!
//! Memory: one map entry per user with at least one waiter (the user name and an
//! `Arc<Notify>`, under 100 bytes), removed with the user's last [`Listener`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// The registry of waiting requests, by username. Cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct Wakeups {
    /// Held for a map operation only, never across an `.await`.
    waiting: Arc<Mutex<HashMap<Box<str>, Arc<Notify>>>>,
}

/// One waiter's registration for a user; dropping it unregisters.
#[derive(Debug)]
pub struct Listener {
    wakeups: Wakeups,
    user: Box<str>,
    notify: Arc<Notify>,
}

impl Wakeups {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Box<str>, Arc<Notify>>> {
        // Every change is one map operation, so a panic elsewhere cannot have left
        // the map half-changed.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers interest in `username`'s commits until the listener is dropped.
    pub fn listen(&self, username: &str) -> Listener {
        let notify = Arc::clone(
            self.map()
                .entry(Box::from(username))
                .or_insert_with(|| Arc::new(Notify::new())),
        );
        Listener {
            wakeups: self.clone(),
            user: Box::from(username),
            notify,
        }
    }

    /// Wakes every listener of `username` (armed futures complete; see the module docs).
    pub fn wake(&self, username: &str) {
        let notify = self.map().get(username).cloned();
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Wakes every listener of every user: after a lost notification channel (a
    /// PostgreSQL `LISTEN` connection that reconnected), so each re-reads the store.
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = self.map().values().cloned().collect();
        for notify in all {
            notify.notify_waiters();
        }
    }

    /// How many users have at least one listener.
    pub fn users_waited_for(&self) -> usize {
        self.map().len()
    }
}

impl Listener {
    /// A future that completes at the next [`Wakeups::wake`] of this user after it
    /// is enabled (pin it and call `Notified::enable` before reading the store).
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut map = self.wakeups.map();
        // Under the lock no other listener can be cloning this entry's Arc: the map's
        // reference and ours are the last two when we are the last listener.
        if Arc::strong_count(&self.notify) == 2 {
            map.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wake_after_enable_is_kept() {
        let wakeups = Wakeups::new();
        let listener = wakeups.listen("messi");
        let mut notified = pin!(listener.notified());
        notified.as_mut().enable();
        // The commit lands between the store read and the await.
        wakeups.wake("messi");
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .expect("the wake that came before the await is not lost");
    }

    #[tokio::test]
    async fn only_the_named_user_is_woken() {
        let wakeups = Wakeups::new();
        let messi = wakeups.listen("messi");
        let mut notified = pin!(messi.notified());
        notified.as_mut().enable();
        wakeups.wake("henderson");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut notified)
                .await
                .is_err(),
            "woken by someone else's commit"
        );
        wakeups.wake_all();
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .expect("wake_all wakes everyone");
    }

    #[test]
    fn entries_go_with_the_last_listener() {
        let wakeups = Wakeups::new();
        let a = wakeups.listen("messi");
        let b = wakeups.listen("messi");
        let c = wakeups.listen("lineker");
        assert_eq!(wakeups.users_waited_for(), 2);
        drop(a);
        assert_eq!(wakeups.users_waited_for(), 2, "b still waits for messi");
        drop(b);
        drop(c);
        assert_eq!(wakeups.users_waited_for(), 0);
    }
}
