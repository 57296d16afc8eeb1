//! Waiting in `sync` on the one connection (servers that list `sync` at login).
//!
//! ```text
//! → sync T 41 25 presence          waits up to 25 s; answers at the next message,
//! ← {"messages": [...], "next": 42, "online": [...], "read": {...}}   presence change, read marker
//! → sync T 42 25 presence
//! → send T bob hi                  the user sends while the sync waits:
//! ← {"messages": [], "next": 42}   the server answers the sync first,
//! ← {"message": "Message Sent", "id": 43}                     then the send
//! ```
//!
//! So a job never needs a second connection: its request line interrupts the
//! waiting sync, and [`Worker::call`] reads the sync's answer before the job's.

use chat_protocol::{Reply, Request};
use tokio::time::timeout;

use super::{Exit, REQUEST_TIMEOUT, Session, Update, Worker, reason, timed_out};
use crate::client::ClientError;

impl Worker {
    /// Waits in `sync` and serves jobs until the connection breaks or the user quits.
    pub(super) async fn live(&mut self, s: &mut Session) -> Exit {
        loop {
            if !s.sync_pending {
                let req = Request::Sync {
                    token: s.token.clone(),
                    after_id: self.cursor,
                    wait_seconds: u32::try_from(self.config.sync_wait.as_secs()).unwrap_or(60),
                    presence: true,
                };
                if let Err(e) = s.client.write_line(&req.to_line()).await {
                    return Exit::Lost(e.to_string());
                }
                s.sync_pending = true;
            }
            // The server answers by the end of the wait; past that and a margin, the
            // connection counts as lost.
            let deadline = self.config.sync_wait + REQUEST_TIMEOUT;
            let step = tokio::select! {
                // Cancel-safe: bytes read so far stay in the client's buffer.
                reply = timeout(deadline, s.client.read_reply()) => {
                    s.sync_pending = false;
                    match reply {
                        Ok(Ok(reply)) => self.on_sync(reply),
                        Ok(Err(e)) => Some(Exit::Lost(e.to_string())),
                        Err(_) => Some(Exit::Lost(timed_out("waiting in sync").to_string())),
                    }
                }
                job = self.jobs.recv() => match job {
                    None => Some(Exit::Stop),
                    Some(job) => self.job(s, job).await,
                },
            };
            if let Some(exit) = step {
                return exit;
            }
        }
    }

    /// One request with the reply timeout. When a `sync` waits on the connection,
    /// the request's line ends the wait: the sync's answer is read (and told to the
    /// UI) first.
    pub(super) async fn call(
        &mut self,
        s: &mut Session,
        req: &Request,
    ) -> Result<Reply, ClientError> {
        s.client.write_line(&req.to_line()).await?;
        if s.sync_pending {
            let reply = next_reply(s).await;
            s.sync_pending = false;
            if let Some(Exit::Lost(reason)) = self.on_sync(reply?) {
                tracing::info!(%reason, "sync refused while sending");
            }
        }
        next_reply(s).await
    }

    /// A `sync` answer: messages and read markers to the UI, presence folded into
    /// the who-is-on list. `Some` when the session is no good (a refused sync:
    /// log in again) or the UI is gone.
    pub(super) fn on_sync(&mut self, reply: Reply) -> Option<Exit> {
        if !reply.is_ok() {
            return Some(Exit::Lost(format!("sync refused: {}", reason(&reply))));
        }
        let view = match reply.sync() {
            Ok(view) => view,
            Err(e) => return Some(Exit::Lost(format!("sync: {e}"))),
        };
        self.cursor = self.cursor.max(view.next);
        let mut changed = false;
        if let Some(all) = view.online {
            self.online = all.into_iter().collect();
            changed = true;
        }
        for user in view.came {
            changed |= self.online.insert(user);
        }
        for user in view.left {
            changed |= self.online.remove(&user);
        }
        if changed {
            let users = self.online.iter().cloned().collect();
            if let Some(exit) = self.say(Update::Users {
                users,
                asked: false,
            }) {
                return Some(exit);
            }
        }
        if view.messages.is_empty() && view.read.is_empty() {
            return None;
        }
        self.say(Update::Synced {
            messages: view.messages,
            read: view.read,
            next: self.cursor,
        })
    }

    /// `read`: tells the server how far the user has read a conversation. A server
    /// without the command is not asked again.
    pub(super) async fn read(&mut self, s: &mut Session, peer: String, id: i64) -> Option<Exit> {
        if !s.live {
            return None;
        }
        let req = Request::Read {
            token: s.token.clone(),
            peer,
            message_id: id,
        };
        match self.call(s, &req).await {
            Ok(r) if r.is_ok() => None,
            Ok(r) => {
                tracing::info!(reason = %reason(&r), "read refused");
                None
            }
            Err(e) => Some(Exit::Lost(e.to_string())),
        }
    }
}

/// The next reply, with the reply timeout.
async fn next_reply(s: &mut Session) -> Result<Reply, ClientError> {
    match timeout(REQUEST_TIMEOUT, s.client.read_reply()).await {
        Ok(r) => r,
        Err(_) => Err(timed_out("waiting for the reply")),
    }
}
