//! What a serving process keeps in memory of its SQLite database, so the requests
//! clients make most (`inbox` on an empty inbox, the session check of every request,
//! the account lookups of `send`) read no database at all.
//!
//! It is exact, not a best-effort cache, because every change goes through places
//! that update it:
//! - this process's writes all pass the one writer thread, which applies each write's
//!   effect here after its commit and before anyone is answered ([`Hot::committed`]);
//! - other processes (`chat-server user ...`) are noticed by the writer through
//!   SQLite's `data_version`, and the whole state is reloaded ([`Hot::reload`]);
//! - a second server on the same file is refused by a lock file.
//!
//! Sessions and inbox counts are complete (a token missing here is no session; a
//! user missing from `pending` has an empty inbox). Accounts are filled on demand,
//! guarded by an epoch so that a fill racing a change is dropped, not kept stale.

use super::writer::{Done, Op};
use crate::storage::User;
use std::collections::HashMap;

/// A session as this process knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HotSession {
    username: Box<str>,
    /// `last_seen` in the database (or on its way there).
    stored_ms: i64,
    /// The true `last_seen`: at least `stored_ms`.
    seen_ms: i64,
}

/// Sessions and inbox counts read at open or reload, in one snapshot.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    /// `(token key, username, last_seen_ms)`.
    pub sessions: Vec<(String, String, i64)>,
    /// `(recipient, undelivered messages)`.
    pub pending: Vec<(String, i64)>,
}

/// The outcome of a session check.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Touched {
    /// No such session.
    Unknown,
    /// It had expired and is now forgotten; its row should be deleted.
    Expired,
    /// Live; `write` is the `last_seen` to store when it moved far enough.
    Live {
        username: String,
        write: Option<i64>,
    },
}

/// The last `active_users` answer, reused while it stays right.
#[derive(Debug, Clone)]
struct ActiveCache {
    /// The cutoff it was computed for.
    from_cutoff: i64,
    /// The earliest `seen_ms` among the sessions it lists: a later cutoff reaching
    /// this may drop one of them. Uses only move `seen_ms` later, so it stays a
    /// safe bound.
    until_cutoff: i64,
    users: Vec<String>,
}

/// The in-memory state; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Hot {
    sessions: HashMap<Box<str>, HotSession>,
    /// Every client polls `user_aktif`; recomputing it scans every session, so the
    /// answer is kept until a session comes or goes or may have expired.
    active: Option<ActiveCache>,
    pending: HashMap<Box<str>, u64>,
    users: HashMap<Box<str>, User>,
    /// Bumped by every change to accounts; see [`Hot::fill_user`].
    users_epoch: u64,
    /// For users present: no message they sent or received has a larger id. Set
    /// exactly by each committed message (the newest id of all), and as a bound by
    /// a `sync` read that found nothing newer (see [`Hot::bound_newest`]). Lets the
    /// `sync` that a client reissues right after an answer, with nothing new for it,
    /// skip the database.
    newest: HashMap<Box<str>, i64>,
    /// Bumped by every committed message; see [`Hot::bound_newest`].
    messages_epoch: u64,
}

/// Most accounts remembered; beyond it the account map starts over (it refills on
/// demand), so memory stays bounded however many accounts exist.
const MAX_USERS: usize = 100_000;

impl Hot {
    /// Replaces sessions and counts with `loaded` and forgets every account. A
    /// session still known keeps the later of its remembered and stored use.
    pub fn reload(&mut self, loaded: Loaded) {
        let mut sessions = HashMap::with_capacity(loaded.sessions.len());
        for (token, username, stored_ms) in loaded.sessions {
            let seen_ms = self
                .sessions
                .get(token.as_str())
                .map_or(stored_ms, |old| old.seen_ms.max(stored_ms));
            sessions.insert(
                token.into_boxed_str(),
                HotSession {
                    username: username.into_boxed_str(),
                    stored_ms,
                    seen_ms,
                },
            );
        }
        self.sessions = sessions;
        self.active = None;
        self.pending = loaded
            .pending
            .into_iter()
            .filter_map(|(user, n)| {
                let n = u64::try_from(n).ok().filter(|&n| n > 0)?;
                Some((user.into_boxed_str(), n))
            })
            .collect();
        self.users.clear();
        self.users_epoch += 1;
        // Another process may have stored messages.
        self.newest.clear();
        self.messages_epoch += 1;
    }

    /// Checks `token` at `now_ms` and records the use. `threshold_ms`: how far
    /// `last_seen` moves before it is written.
    pub fn touch(&mut self, token: &str, now_ms: i64, ttl_ms: i64, threshold_ms: i64) -> Touched {
        let Some(session) = self.sessions.get_mut(token) else {
            return Touched::Unknown;
        };
        if now_ms - session.seen_ms >= ttl_ms {
            self.sessions.remove(token);
            self.active = None;
            return Touched::Expired;
        }
        session.seen_ms = session.seen_ms.max(now_ms);
        let write =
            (session.seen_ms - session.stored_ms >= threshold_ms).then_some(session.seen_ms);
        Touched::Live {
            username: session.username.to_string(),
            write,
        }
    }

    /// Records that `last_seen_ms` of `token` is on its way to the database.
    pub fn storing(&mut self, token: &str, last_seen_ms: i64) {
        if let Some(session) = self.sessions.get_mut(token) {
            session.stored_ms = session.stored_ms.max(last_seen_ms);
        }
    }

    /// Usernames with a session used after `cutoff_ms`, each once, sorted.
    pub fn active_users(&mut self, cutoff_ms: i64) -> Vec<String> {
        if let Some(cache) = &self.active
            && (cache.from_cutoff..cache.until_cutoff).contains(&cutoff_ms)
        {
            return cache.users.clone();
        }
        let live = self.sessions.values().filter(|s| s.seen_ms > cutoff_ms);
        let until_cutoff = live.clone().map(|s| s.seen_ms).min().unwrap_or(i64::MAX);
        let mut users: Vec<String> = live.map(|s| s.username.to_string()).collect();
        users.sort_unstable();
        users.dedup();
        self.active = Some(ActiveCache {
            from_cutoff: cutoff_ms,
            until_cutoff,
            users: users.clone(),
        });
        users
    }

    /// A session came or went: the next `active_users` recomputes.
    fn sessions_changed(&mut self) {
        self.active = None;
    }

    /// Forgets the sessions last used at or before `cutoff_ms` and returns their tokens.
    pub fn take_expired(&mut self, cutoff_ms: i64) -> Vec<String> {
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.seen_ms <= cutoff_ms)
            .map(|(token, _)| token.to_string())
            .collect();
        for token in &expired {
            self.sessions.remove(token.as_str());
        }
        if !expired.is_empty() {
            self.sessions_changed();
        }
        expired
    }

    /// Whether `username` certainly has no message with an id above `after_id`.
    pub fn nothing_after(&self, username: &str, after_id: i64) -> bool {
        self.newest.get(username).is_some_and(|&n| n <= after_id)
    }

    /// The epoch to pass to [`bound_newest`](Self::bound_newest) for a read begun now.
    pub fn messages_epoch(&self) -> u64 {
        self.messages_epoch
    }

    /// Records that a read begun at `epoch` found no message of `username` above
    /// `bound`, unless a message committed since (then it is not known).
    pub fn bound_newest(&mut self, epoch: u64, username: &str, bound: i64) {
        if epoch != self.messages_epoch {
            return;
        }
        if self.newest.len() >= MAX_USERS {
            self.newest.clear();
        }
        self.newest.insert(username.into(), bound);
    }

    /// Undelivered messages waiting for `username`.
    pub fn pending(&self, username: &str) -> u64 {
        self.pending.get(username).copied().unwrap_or(0)
    }

    /// The remembered account `username`, if it is remembered.
    pub fn user(&self, username: &str) -> Option<User> {
        self.users.get(username).cloned()
    }

    /// The epoch to pass to [`fill_user`](Self::fill_user) for a read begun now.
    pub fn users_epoch(&self) -> u64 {
        self.users_epoch
    }

    /// Remembers `user`, read from the database by a read begun at `epoch`, unless
    /// accounts changed since (then the read may be stale and is not kept).
    pub fn fill_user(&mut self, epoch: u64, user: &User) {
        if epoch != self.users_epoch {
            return;
        }
        if self.users.len() >= MAX_USERS {
            self.users.clear();
        }
        self.users
            .insert(user.username.clone().into_boxed_str(), user.clone());
    }

    /// Applies the effect of `op`, committed with result `done`.
    pub fn committed(&mut self, op: &Op, done: &Done) {
        if matches!(
            op,
            Op::CreateSession(_) | Op::DeleteSession(_) | Op::DeleteSessions(_) | Op::RemoveUser(_)
        ) {
            self.sessions_changed();
        }
        match (op, done) {
            (Op::Append(m), done) => {
                match self.pending.get_mut(m.to.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.pending.insert(m.to.as_str().into(), 1);
                    }
                }
                self.messages_epoch += 1;
                if let Done::Id(id) = done {
                    // The newest message of all: exactly the newest of both users.
                    for user in [&m.from, &m.to] {
                        if self.newest.len() >= MAX_USERS {
                            self.newest.clear();
                        }
                        self.newest.insert(user.as_str().into(), *id);
                    }
                }
            }
            (Op::Drain(username), _) => {
                self.pending.remove(username.as_str());
            }
            (Op::Acknowledge { username, .. }, Done::Count(marked)) => {
                if let Some(n) = self.pending.get_mut(username.as_str()) {
                    *n = n.saturating_sub(*marked);
                    if *n == 0 {
                        self.pending.remove(username.as_str());
                    }
                }
            }
            (Op::CreateUser(_), _) => self.users_epoch += 1,
            (Op::RemoveUser(username), _) => {
                self.users.remove(username.as_str());
                self.sessions.retain(|_, s| *s.username != **username);
                self.users_epoch += 1;
            }
            (Op::SetPasswordHash { username, .. }, _) => {
                self.users.remove(username.as_str());
                self.users_epoch += 1;
            }
            (Op::CreateSession(s), Done::Flag(true)) => {
                self.sessions.insert(
                    s.token.as_str().into(),
                    HotSession {
                        username: s.username.as_str().into(),
                        stored_ms: s.last_seen_ms,
                        seen_ms: s.last_seen_ms,
                    },
                );
            }
            (
                Op::Touch {
                    token,
                    last_seen_ms,
                },
                _,
            ) => self.storing(token, *last_seen_ms),
            (Op::DeleteSession(token), _) => {
                self.sessions.remove(token.as_str());
            }
            (Op::DeleteSessions(tokens), _) => {
                for token in tokens {
                    self.sessions.remove(token.as_str());
                }
            }
            (Op::CreateSession(_), _)
            | (Op::Acknowledge { .. }, _)
            | (Op::SetReadMarker { .. }, _)
            | (Op::Expire { .. }, _)
            | (Op::RequestSync, _)
            | (Op::Sync, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{NewMessage, Session};

    fn with_session(token: &str, username: &str, last_seen_ms: i64) -> Hot {
        let mut hot = Hot::default();
        hot.reload(Loaded {
            sessions: vec![(token.into(), username.into(), last_seen_ms)],
            pending: vec![],
        });
        hot
    }

    fn live(username: &str, write: Option<i64>) -> Touched {
        Touched::Live {
            username: username.into(),
            write,
        }
    }

    #[test]
    fn touch_is_live_until_the_ttl_then_forgotten() {
        let mut hot = with_session("t", "messi", 0);
        assert_eq!(hot.touch("t", 500, 1_000, 100), live("messi", Some(500)));
        hot.storing("t", 500);
        assert_eq!(hot.touch("t", 550, 1_000, 100), live("messi", None));
        assert_eq!(
            hot.touch("t", 1_549, 1_000, 100),
            live("messi", Some(1_549))
        );
        assert_eq!(hot.touch("t", 2_549, 1_000, 100), Touched::Expired);
        assert_eq!(hot.touch("t", 2_550, 1_000, 100), Touched::Unknown);
        assert_eq!(hot.touch("nope", 0, 1_000, 100), Touched::Unknown);
    }

    #[test]
    fn reload_keeps_the_later_use_and_drops_what_is_gone() {
        let mut hot = with_session("t", "messi", 0);
        hot.touch("t", 900, 10_000, 1_000);
        hot.reload(Loaded {
            sessions: vec![
                ("t".into(), "messi".into(), 100),
                ("u".into(), "lineker".into(), 50),
            ],
            pending: vec![("messi".into(), 2), ("nobody".into(), 0)],
        });
        assert_eq!(hot.active_users(800), ["messi"], "remembered use survives");
        assert_eq!(hot.active_users(0), ["lineker", "messi"]);
        assert_eq!(hot.pending("messi"), 2);
        assert_eq!(hot.pending("nobody"), 0);
        hot.reload(Loaded::default());
        assert_eq!(hot.touch("t", 901, 10_000, 1_000), Touched::Unknown);
        assert_eq!(hot.pending("messi"), 0);
    }

    #[test]
    fn commits_move_counts_sessions_and_accounts() {
        let mut hot = Hot::default();
        let m = NewMessage {
            from: "a".into(),
            to: "b".into(),
            from_display: "A".into(),
            to_display: "B".into(),
            text: "x".into(),
            ts_ms: 0,
        };
        hot.committed(&Op::Append(m.clone()), &Done::Count(0));
        hot.committed(&Op::Append(m), &Done::Count(0));
        assert_eq!(hot.pending("b"), 2);
        hot.committed(&Op::Drain("b".into()), &Done::Messages(vec![]));
        assert_eq!(hot.pending("b"), 0);

        let session = Session {
            token: "t".into(),
            username: "b".into(),
            last_seen_ms: 10,
        };
        hot.committed(&Op::CreateSession(session.clone()), &Done::Flag(false));
        assert_eq!(hot.touch("t", 11, 100, 50), Touched::Unknown, "refused");
        hot.committed(&Op::CreateSession(session), &Done::Flag(true));
        assert_eq!(hot.touch("t", 11, 100, 50), live("b", None));

        let user = User {
            username: "b".into(),
            display_name: "B".into(),
            country: None,
            password_hash: "h".into(),
        };
        let epoch = hot.users_epoch();
        hot.fill_user(epoch, &user);
        assert_eq!(hot.user("b"), Some(user.clone()));
        hot.committed(&Op::RemoveUser("b".into()), &Done::Flag(true));
        assert_eq!(hot.user("b"), None);
        assert_eq!(
            hot.touch("t", 12, 100, 50),
            Touched::Unknown,
            "sessions end"
        );
        hot.fill_user(epoch, &user);
        assert_eq!(
            hot.user("b"),
            None,
            "a read from before the change is dropped"
        );
    }

    #[test]
    fn active_users_follow_logins_logouts_and_time() {
        let mut hot = with_session("t", "messi", 100);
        assert_eq!(hot.active_users(0), ["messi"]);
        assert_eq!(hot.active_users(50), ["messi"], "reused");
        assert!(hot.active_users(100).is_empty(), "expired by time");
        hot.touch("t", 150, 1_000, 500);
        hot.committed(
            &Op::CreateSession(Session {
                token: "u".into(),
                username: "arini".into(),
                last_seen_ms: 120,
            }),
            &Done::Flag(true),
        );
        assert_eq!(hot.active_users(110), ["arini", "messi"], "a login shows");
        assert_eq!(hot.active_users(130), ["messi"], "arini's session aged out");
        hot.committed(&Op::DeleteSession("t".into()), &Done::Flag(true));
        assert!(hot.active_users(130).is_empty(), "a logout shows");
    }

    #[test]
    fn take_expired_forgets_only_old_sessions() {
        let mut hot = with_session("old", "a", 0);
        hot.committed(
            &Op::CreateSession(Session {
                token: "new".into(),
                username: "b".into(),
                last_seen_ms: 100,
            }),
            &Done::Flag(true),
        );
        assert_eq!(hot.take_expired(50), ["old"]);
        assert_eq!(hot.active_users(0), ["b"]);
    }
}
