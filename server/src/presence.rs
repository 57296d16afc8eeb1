//! Presence for `sync`: who came online and who left, told to waiting clients
//! without them asking again.
//!
//! Who is online is what `user_aktif` answers: the users holding a live session, on
//! every node. A tracker task ([`track`]) reads it every [`PRESENCE_EVERY`] and,
//! when it changed, records the change under a new version and wakes every `sync`
//! that asked for presence. Reading it (rather than hooking logins and logouts)
//! also catches expiries and other nodes' sessions, and the tick coalesces a burst
//! of logins into one wake-up per waiter.
//!
//! Each connection remembers the version it last told its client (`seen`); an
//! answer carries the change since then ([`PresenceUpdate::Changed`]), or the whole
//! list for a connection's first answer or one further behind than the kept
//! [`CHANGES_KEPT`] changes.

use chat_protocol::PresenceUpdate;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// How often who-is-on is read. A client learns of a change within this plus one
/// round trip: under a second, as issue 14 asks.
pub const PRESENCE_EVERY: Duration = Duration::from_millis(400);

/// Changes kept for connections that are behind; older ones get the whole list.
pub const CHANGES_KEPT: usize = 64;

/// One change of who-is-on.
#[derive(Debug, Clone)]
struct Change {
    /// The version this change made.
    version: u64,
    came: Vec<String>,
    left: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Bumped by every change; 0 before the first reading.
    version: u64,
    online: Vec<String>,
    /// The newest changes, oldest first, at most [`CHANGES_KEPT`].
    changes: VecDeque<Change>,
}

/// Who is online, its version, and the recent changes. Shared by all connections.
#[derive(Debug, Default)]
pub struct Presence {
    /// Held for a method call only, never across an `.await`.
    state: Mutex<State>,
    changed: Notify,
}

impl Presence {
    /// Nobody known online yet (version 0).
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `online` (sorted, each once) as who is online now; when it differs
    /// from the last reading, makes a new version and wakes every [`changed`]
    /// future. Returns whether it changed.
    ///
    /// [`changed`]: Self::changed
    pub fn update(&self, online: Vec<String>) -> bool {
        let mut state = self.state();
        if state.version > 0 && state.online == online {
            return false;
        }
        let before: BTreeSet<&String> = state.online.iter().collect();
        let after: BTreeSet<&String> = online.iter().collect();
        let came: Vec<String> = after.difference(&before).map(|u| (*u).clone()).collect();
        let left: Vec<String> = before.difference(&after).map(|u| (*u).clone()).collect();
        state.version += 1;
        let version = state.version;
        state.changes.push_back(Change {
            version,
            came,
            left,
        });
        if state.changes.len() > CHANGES_KEPT {
            state.changes.pop_front();
        }
        state.online = online;
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// What a connection that last told its client version `seen` (`None`: never)
    /// should tell it now, with the version it then has; `None` when nothing
    /// changed since `seen`.
    pub fn since(&self, seen: Option<u64>) -> Option<(u64, PresenceUpdate)> {
        let state = self.state();
        if state.version == 0 {
            // Not read yet (the first tick after start): nothing true to say.
            return None;
        }
        let Some(seen) = seen else {
            return Some((state.version, PresenceUpdate::Online(state.online.clone())));
        };
        if seen >= state.version {
            return None;
        }
        let oldest_kept = state.changes.front().map_or(u64::MAX, |c| c.version);
        if seen + 1 < oldest_kept {
            return Some((state.version, PresenceUpdate::Online(state.online.clone())));
        }
        // Fold the changes after `seen` into one: a user who came and left again
        // in between is in neither list.
        let mut came = BTreeSet::new();
        let mut left = BTreeSet::new();
        for change in state.changes.iter().filter(|c| c.version > seen) {
            for user in &change.came {
                if !left.remove(user) {
                    came.insert(user.clone());
                }
            }
            for user in &change.left {
                if !came.remove(user) {
                    left.insert(user.clone());
                }
            }
        }
        let update = PresenceUpdate::Changed {
            came: came.into_iter().collect(),
            left: left.into_iter().collect(),
        };
        Some((state.version, update))
    }

    /// A future that completes at the next change; arm it (`Notified::enable`)
    /// before calling [`since`](Self::since), so a change in between is not missed.
    pub fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }
}

/// Reads who is online every [`PRESENCE_EVERY`] with `read` and records it in
/// `presence`, until `shutdown`. A failed reading is logged and skipped.
pub async fn track<F, Fut, E>(
    presence: Arc<Presence>,
    read: F,
    shutdown: tokio_util::sync::CancellationToken,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Vec<String>, E>>,
    E: std::fmt::Debug,
{
    let mut tick = tokio::time::interval(PRESENCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match read().await {
            Ok(online) => {
                presence.update(online);
            }
            Err(e) => tracing::debug!(error = ?e, "reading who is online for presence"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn changed(came: &[&str], left: &[&str]) -> PresenceUpdate {
        PresenceUpdate::Changed {
            came: names(came),
            left: names(left),
        }
    }

    #[test]
    fn first_answer_is_the_list_then_only_changes() {
        let p = Presence::new();
        assert_eq!(
            p.since(None),
            None,
            "nothing is known before the first reading"
        );
        p.update(names(&["a", "b"]));
        let (v1, first) = p.since(None).expect("first answer");
        assert_eq!(first, PresenceUpdate::Online(names(&["a", "b"])));
        assert_eq!(p.since(Some(v1)), None, "nothing new");
        assert!(
            !p.update(names(&["a", "b"])),
            "the same reading is no change"
        );
        assert!(p.update(names(&["b", "c"])));
        let (v2, update) = p.since(Some(v1)).expect("a change");
        assert_eq!(update, changed(&["c"], &["a"]));
        assert!(v2 > v1);
    }

    #[test]
    fn changes_fold_and_cancel() {
        let p = Presence::new();
        p.update(names(&["a"]));
        let (v1, _) = p.since(None).expect("first");
        p.update(names(&["a", "b"])); // b came
        p.update(names(&["b"])); // a left
        p.update(names(&[])); // b left again
        p.update(names(&["c"])); // c came
        let (_, update) = p.since(Some(v1)).expect("changes");
        assert_eq!(update, changed(&["c"], &["a"]), "b came and went: neither");
    }

    #[test]
    fn too_far_behind_gets_the_whole_list() {
        let p = Presence::new();
        p.update(names(&["a"]));
        let (v1, _) = p.since(None).expect("first");
        for i in 0..CHANGES_KEPT + 1 {
            p.update(names(&[&format!("u{i}")]));
        }
        let (_, update) = p.since(Some(v1)).expect("behind");
        assert_eq!(
            update,
            PresenceUpdate::Online(names(&[&format!("u{CHANGES_KEPT}")]))
        );
    }

    #[tokio::test]
    async fn a_change_wakes_an_armed_waiter() {
        let p = Presence::new();
        let mut woken = std::pin::pin!(p.changed());
        woken.as_mut().enable();
        p.update(names(&["a"]));
        tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .expect("woken by the change");
    }
}
