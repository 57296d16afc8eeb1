//! Which conversation is shown, moving between them, and what showing one means:
//! it is read (on servers with read markers, on every device), and it is
//! remembered.

use super::{App, Effect, View};
use crate::reconnect::LinkState;
use crate::worker::Job;

impl App {
    /// Shows `view`, marking what it shows as read; may ask for history.
    pub fn select(&mut self, view: View) -> Vec<Effect> {
        if let View::Peer(old) = &self.view
            && let Some(c) = self.conversations.get_mut(old)
        {
            c.leave();
        }
        self.view = view.clone();
        let View::Peer(peer) = view else {
            return vec![];
        };
        let ask = self.history_supported && self.link == LinkState::Connected;
        if !self.conversations.contains_key(&peer) {
            self.state_dirty = true;
        }
        let c = self.conversations.entry(peer.clone()).or_default();
        c.open();
        let mut effects = vec![];
        if ask && !c.history_requested {
            c.history_requested = true;
            effects.push(Effect::Job(Job::History {
                peer,
                before_id: None,
            }));
        }
        effects.extend(self.mark_read());
        effects
    }

    /// With server read markers: the open conversation is read up to its newest
    /// message; tells the server when that moved the marker.
    pub fn mark_read(&mut self) -> Vec<Effect> {
        let View::Peer(peer) = &self.view else {
            return vec![];
        };
        if !self.live || self.help || self.link != LinkState::Connected {
            return vec![];
        }
        let me = self.me.clone().unwrap_or_default();
        let Some(c) = self.conversations.get_mut(peer) else {
            return vec![];
        };
        let Some(newest) = c.newest_id().filter(|id| *id > c.read_up_to) else {
            return vec![];
        };
        c.read_up_to = newest;
        c.recount(&me, true);
        vec![Effect::Job(Job::Read {
            peer: peer.clone(),
            id: newest,
        })]
    }

    /// The state to remember, when it changed and there is a file for it.
    pub fn save(&mut self) -> Option<Effect> {
        let path = self.state_path.clone()?;
        if !std::mem::take(&mut self.state_dirty) {
            return None;
        }
        let state = crate::state::SavedState {
            last_id: self.last_id,
            conversations: self.conversations.keys().cloned().collect(),
            history: self.history.lines().to_vec(),
        };
        Some(Effect::Save(path, state))
    }

    pub(super) fn cycle(&mut self, step: isize) -> Vec<Effect> {
        let entries = self.entries();
        let current = match &self.view {
            View::All => None,
            View::Peer(p) => Some(p.clone()),
        };
        let at = entries.iter().position(|e| *e == current).unwrap_or(0);
        let n = entries.len() as isize;
        let next = (at as isize + step).rem_euclid(n) as usize;
        let view = match entries.get(next).cloned().flatten() {
            Some(p) => View::Peer(p),
            None => View::All,
        };
        self.select(view)
    }

    pub(super) fn next_unread(&mut self) -> Vec<Effect> {
        let entries: Vec<String> = self.entries().into_iter().flatten().collect();
        let at = match &self.view {
            View::Peer(p) => entries.iter().position(|e| e == p).map_or(0, |i| i + 1),
            View::All => 0,
        };
        let n = entries.len();
        let found = (0..n)
            .map(|k| &entries[(at + k) % n])
            .find(|p| self.conversations.get(*p).is_some_and(|c| c.unread > 0))
            .cloned();
        match found {
            Some(p) => self.select(View::Peer(p)),
            None => {
                self.notice("no unread messages", false);
                vec![]
            }
        }
    }
}
