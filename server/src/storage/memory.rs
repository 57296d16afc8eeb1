//! The in-memory store (`--db memory`): nothing survives a restart.
//!
//! One `std::sync::Mutex` guards everything: no `.await` happens while it is held,
//! and every operation is a few map lookups, so contention stays short.

use super::{
    NewMessage, ReadMarkers, Session, Store, StoreError, StoreResult, StoredMessage, User, Wakeups,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// Cheap-to-clone handle to the shared in-memory state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Mutex<State>>,
    wakeups: Wakeups,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, User>,
    sessions: HashMap<String, Session>,
    next_id: i64,
    /// Undelivered messages per recipient, oldest first.
    inbox: HashMap<String, Vec<StoredMessage>>,
    /// Every message per conversation (the pair of usernames, sorted), oldest first.
    conversations: HashMap<(String, String), Vec<StoredMessage>>,
    /// Every message each user sent or received, oldest first (what `sync` reads).
    timelines: HashMap<String, Vec<StoredMessage>>,
    /// Read markers per user: peer to (message id, version).
    read: HashMap<String, BTreeMap<String, (i64, i64)>>,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than stopping the server would, so keep serving.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().users.get(username).cloned())
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut state = self.lock();
        if state.users.contains_key(&user.username) {
            return Err(StoreError::UserExists(user.username.clone()));
        }
        state.users.insert(user.username.clone(), user.clone());
        Ok(())
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        Ok(self.lock().users.values().cloned().collect())
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        let mut state = self.lock();
        let existed = state.users.remove(username).is_some();
        state.sessions.retain(|_, s| s.username != username);
        Ok(existed)
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        Ok(match self.lock().users.get_mut(username) {
            Some(user) => {
                user.password_hash = hash.to_string();
                true
            }
            None => false,
        })
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.lock()
            .sessions
            .insert(session.token.clone(), session.clone());
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        let mut state = self.lock();
        let Some(session) = state.sessions.get_mut(token) else {
            return Ok(None);
        };
        if now_ms - session.last_seen_ms >= ttl_ms {
            state.sessions.remove(token);
            return Ok(None);
        }
        session.last_seen_ms = session.last_seen_ms.max(now_ms);
        Ok(Some(session.username.clone()))
    }

    async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        Ok(self.lock().sessions.remove(token).is_some())
    }

    async fn active_users(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<Vec<String>> {
        let state = self.lock();
        let mut users: Vec<String> = state
            .sessions
            .values()
            .filter(|s| now_ms - s.last_seen_ms < ttl_ms)
            .map(|s| s.username.clone())
            .collect();
        users.sort();
        users.dedup();
        Ok(users)
    }

    async fn purge_sessions(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<u64> {
        let mut state = self.lock();
        let before = state.sessions.len();
        state
            .sessions
            .retain(|_, s| now_ms - s.last_seen_ms < ttl_ms);
        Ok((before - state.sessions.len()) as u64)
    }

    async fn append_message(&self, m: NewMessage) -> StoreResult<StoredMessage> {
        let mut state = self.lock();
        state.next_id += 1;
        let stored = m.stored(state.next_id);
        state
            .inbox
            .entry(stored.to.clone())
            .or_default()
            .push(stored.clone());
        let key = pair(&stored.from, &stored.to);
        state
            .conversations
            .entry(key)
            .or_default()
            .push(stored.clone());
        for user in [&stored.from, &stored.to] {
            let timeline = state.timelines.entry(user.clone()).or_default();
            // A message to oneself is one entry of one timeline.
            if timeline.last().map(|m| m.id) != Some(stored.id) {
                timeline.push(stored.clone());
            }
        }
        drop(state);
        self.wakeups.wake(&stored.from);
        self.wakeups.wake(&stored.to);
        Ok(stored)
    }

    async fn sync(
        &self,
        username: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        let state = self.lock();
        let Some(all) = state.timelines.get(username) else {
            return Ok(Vec::new());
        };
        let start = all.partition_point(|m| m.id <= after_id);
        let end = all.len().min(start.saturating_add(limit as usize));
        Ok(all[start..end].to_vec())
    }

    async fn acknowledge(&self, username: &str, up_to_id: i64) -> StoreResult<u64> {
        let mut state = self.lock();
        let Some(waiting) = state.inbox.get_mut(username) else {
            return Ok(0);
        };
        let received = waiting.partition_point(|m| m.id <= up_to_id);
        waiting.drain(..received);
        if waiting.is_empty() {
            state.inbox.remove(username);
        }
        Ok(received as u64)
    }

    fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }

    async fn set_read_marker(
        &self,
        username: &str,
        peer: &str,
        message_id: i64,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        let markers = state.read.entry(username.to_string()).or_default();
        let version = markers.values().map(|(_, v)| *v).max().unwrap_or(0) + 1;
        let moved = match markers.get_mut(peer) {
            Some((id, _)) if *id >= message_id => false,
            Some(marker) => {
                *marker = (message_id, version);
                true
            }
            None => {
                markers.insert(peer.to_string(), (message_id, version));
                true
            }
        };
        drop(state);
        if moved {
            self.wakeups.wake(username);
        }
        Ok(moved)
    }

    async fn read_markers(&self, username: &str, since: i64) -> StoreResult<ReadMarkers> {
        let state = self.lock();
        let mut out = ReadMarkers {
            markers: Vec::new(),
            version: since,
        };
        for (peer, (id, version)) in state.read.get(username).into_iter().flatten() {
            if *version > since {
                out.markers.push((peer.clone(), *id));
                out.version = out.version.max(*version);
            }
        }
        Ok(out)
    }

    async fn undelivered_count(&self, username: &str, cap: u64) -> StoreResult<u64> {
        let waiting = self.lock().inbox.get(username).map_or(0, Vec::len);
        Ok((waiting as u64).min(cap))
    }

    async fn drain_inbox(&self, username: &str) -> StoreResult<Vec<StoredMessage>> {
        Ok(self.lock().inbox.remove(username).unwrap_or_default())
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        limit: u32,
        before_id: Option<i64>,
    ) -> StoreResult<Vec<StoredMessage>> {
        let state = self.lock();
        let Some(all) = state.conversations.get(&pair(a, b)) else {
            return Ok(Vec::new());
        };
        let end = match before_id {
            Some(before) => all.partition_point(|m| m.id < before),
            None => all.len(),
        };
        let start = end.saturating_sub(limit as usize);
        Ok(all[start..end].to_vec())
    }
}

#[cfg(test)]
mod tests {
    crate::storage_suite!(super::MemoryStore::new());
}
