//! The background task that owns the connection.
//!
//! The UI sends it [`Job`]s and receives [`Update`]s; it never awaits the socket
//! itself. The task logs in; then, when the server lists `sync` among its
//! features, it waits in `sync ... presence` (see [`live`]: one request per wait
//! period when idle, messages and presence as they happen); otherwise it polls
//! `inbox` and `user_aktif` every poll interval. It sends messages, loads `history`,
//! and on any I/O error or timeout reconnects with backoff and logs in again with
//! the remembered credentials.
//!
//! Servers differ: the course's Python server has no `sync`/`user_aktif`/`history`
//! and answers `ERROR` for them; the worker then stops asking and tells the UI once.

use std::collections::VecDeque;
use std::time::Duration;

use std::collections::BTreeSet;

use chat_protocol::{Dialect, Reply, Request};
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, timeout};

use crate::client::{Client, ClientError, Transport};
use crate::plain::format::is_unsupported;
use crate::reconnect::{Backoff, LinkState};

/// Longest wait for one reply before the connection counts as lost.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the logout reply when quitting.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many messages to ask `history` for when a conversation opens.
pub const HISTORY_LIMIT: u32 = 200;

/// A username and password, kept for logging in again after a reconnect.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the password, not even into a log file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How the worker reaches the server.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `host:port`.
    pub addr: String,
    /// Plain TCP or TLS.
    pub transport: Transport,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Backoff between reconnect attempts.
    pub backoff: Backoff,
    /// How long one `sync` may wait for news (servers with `sync`).
    pub sync_wait: Duration,
    /// Where state files live (see [`crate::state`]); `None`: nothing is
    /// remembered. At the first login the worker reads the user's file, tells the
    /// UI ([`Update::Restored`]) and catches up with `sync` from its last id.
    pub state_dir: Option<std::path::PathBuf>,
}

/// The default `--sync-wait`: long enough that an idle client costs about one
/// request per wait, short enough for the proxies and NAT boxes in between.
pub const DEFAULT_SYNC_WAIT: Duration = Duration::from_secs(25);

/// A handle to the running worker: send jobs, await its end.
#[derive(Debug)]
pub struct WorkerHandle {
    /// Where jobs go.
    pub jobs: mpsc::UnboundedSender<Job>,
    /// The task.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the worker; its updates arrive on the returned receiver.
pub fn spawn(
    config: WorkerConfig,
    credentials: Option<Credentials>,
) -> (WorkerHandle, mpsc::UnboundedReceiver<Update>) {
    let (job_tx, job_rx) = mpsc::unbounded_channel();
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let worker = Worker {
        cursor: 0,
        restored: false,
        online: BTreeSet::new(),
        config,
        jobs: job_rx,
        updates: up_tx,
        pending: VecDeque::new(),
        users_supported: true,
        history_supported: true,
    };
    let task = tokio::spawn(worker.run(credentials));
    (WorkerHandle { jobs: job_tx, task }, up_rx)
}

/// Why the online loop ended.
enum Exit {
    /// Logged out, or the UI is gone.
    Stop,
    /// The connection broke: reconnect.
    Lost(String),
}

struct Worker {
    config: WorkerConfig,
    /// The `sync` cursor: every message up to it has been told to the UI.
    cursor: i64,
    /// Who is on, as `sync` presence last said.
    online: BTreeSet<String>,
    /// The state file was read (at the first login).
    restored: bool,
    jobs: mpsc::UnboundedReceiver<Job>,
    updates: mpsc::UnboundedSender<Update>,
    /// Jobs that arrived while offline, done first once online.
    pending: VecDeque<Job>,
    users_supported: bool,
    history_supported: bool,
}

/// A logged-in connection.
struct Session {
    client: Client,
    token: String,
    username: String,
    display_name: Option<String>,
    /// The server speaks `sync` (its login answer lists it).
    live: bool,
    /// A `sync` is waiting on the connection: the next reply read is its answer.
    sync_pending: bool,
}

impl Worker {
    fn tell(&self, update: Update) -> bool {
        self.updates.send(update).is_ok()
    }

    #[tracing::instrument(name = "worker", skip_all, fields(addr = %self.config.addr))]
    async fn run(mut self, mut credentials: Option<Credentials>) {
        if credentials.is_none() {
            self.tell(Update::Link(LinkState::Idle));
        }
        loop {
            let creds = match credentials.take() {
                Some(c) => c,
                None => match self.wait_for_login().await {
                    Some(c) => c,
                    None => break,
                },
            };
            match self.connect_loop(&creds).await {
                Ok(Some(session)) => match self.online(session).await {
                    Exit::Stop => break,
                    Exit::Lost(reason) => {
                        tracing::warn!(%reason, "connection lost");
                        let delay = self.lost(reason);
                        credentials = Some(creds);
                        if !self.wait_backoff(delay).await {
                            break;
                        }
                    }
                },
                Ok(None) => continue,
                Err(()) => break,
            }
        }
        self.tell(Update::Stopped);
    }

    /// Waits for a `Login` job; `None` when asked to stop.
    async fn wait_for_login(&mut self) -> Option<Credentials> {
        while let Some(job) = self.jobs.recv().await {
            match job {
                Job::Login(c) => return Some(c),
                Job::Logout => return None,
                Job::Send { local_id, .. } => {
                    self.tell(Update::SendFailed {
                        local_id,
                        reason: "not logged in".into(),
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// Connects and logs in, retrying with backoff on I/O errors.
    /// `Ok(None)`: credentials rejected; `Err(())`: asked to stop.
    async fn connect_loop(&mut self, creds: &Credentials) -> Result<Option<Session>, ()> {
        loop {
            self.tell(Update::Link(LinkState::Connecting));
            match self.connect(creds).await {
                Ok(Ok(session)) => {
                    // Not a reset yet: only a connection that stays up resets it.
                    self.config.backoff.connected(tokio::time::Instant::now());
                    self.tell(Update::Link(LinkState::Connected));
                    self.restore(&session.username);
                    // After `Connected`, so the UI may ask for history right away.
                    self.tell(Update::LoggedIn {
                        username: session.username.clone(),
                        display_name: session.display_name.clone(),
                        live: session.live,
                    });
                    return Ok(Some(session));
                }
                Ok(Err(reason)) => {
                    tracing::info!(%reason, "login rejected");
                    self.tell(Update::Link(LinkState::Error(format!(
                        "login failed: {reason}"
                    ))));
                    self.tell(Update::LoginRejected(reason));
                    return Ok(None);
                }
                Err(e) => {
                    tracing::info!(error = %e, "connect failed");
                    let delay = self.lost(e.to_string());
                    if !self.wait_backoff(delay).await {
                        return Err(());
                    }
                }
            }
        }
    }

    /// One attempt: `Ok(Err(reason))` when the server refused the login.
    async fn connect(
        &mut self,
        creds: &Credentials,
    ) -> Result<Result<Session, String>, ClientError> {
        let addr = self.config.addr.clone();
        let mut client = match timeout(
            REQUEST_TIMEOUT,
            Client::connect_with(&addr, &self.config.transport),
        )
        .await
        {
            Ok(c) => c?,
            Err(_) => return Err(timed_out("connecting")),
        };
        let login = Request::Login {
            dialect: Dialect::Course,
            username: creds.username.clone(),
            password: creds.password.clone(),
        };
        let reply = call(&mut client, &login).await?;
        match reply.token() {
            Some(token) if reply.is_ok() => {
                let token = token.to_string();
                let username = reply
                    .username
                    .clone()
                    .unwrap_or_else(|| creds.username.clone());
                let display_name = reply.display_name.clone();
                Ok(Ok(Session {
                    client,
                    token,
                    username,
                    display_name,
                    live: reply.has_feature("sync"),
                    sync_pending: false,
                }))
            }
            _ => Ok(Err(reply
                .message_text()
                .unwrap_or_else(|| "login refused".into()))),
        }
    }

    /// At the first login: reads the user's state file, tells the UI, and starts
    /// the `sync` cursor from its last id.
    fn restore(&mut self, username: &str) {
        if std::mem::replace(&mut self.restored, true) {
            return;
        }
        let Some(dir) = &self.config.state_dir else {
            return;
        };
        let path = crate::state::file(dir, &self.config.addr, username);
        let state = crate::state::load(&path);
        self.cursor = self.cursor.max(state.last_id);
        self.tell(Update::Restored { path, state });
    }

    /// Tells the UI the connection is down; returns how long to wait.
    fn lost(&mut self, reason: String) -> Duration {
        let state = self
            .config
            .backoff
            .reconnecting(reason, tokio::time::Instant::now());
        let delay = match &state {
            LinkState::Reconnecting { delay, .. } => *delay,
            _ => Duration::ZERO,
        };
        self.tell(Update::Link(state));
        delay
    }

    /// Sleeps for `delay`, queueing jobs meanwhile; false when asked to stop.
    async fn wait_backoff(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                job = self.jobs.recv() => match job {
                    None | Some(Job::Logout) => return false,
                    Some(job) => self.pending.push_back(job),
                },
            }
        }
    }

    /// Polls (or waits in `sync`) and serves jobs until the connection breaks or
    /// the user quits.
    async fn online(&mut self, mut session: Session) -> Exit {
        while let Some(job) = self.pending.pop_front() {
            if let Some(exit) = self.job(&mut session, job).await {
                return exit;
            }
        }
        if session.live {
            return self.live(&mut session).await;
        }
        let mut ticker = tokio::time::interval(self.config.poll_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                _ = ticker.tick() => self.poll(&mut session, false).await,
                job = self.jobs.recv() => match job {
                    None => Some(Exit::Stop),
                    Some(job) => self.job(&mut session, job).await,
                },
            };
            if let Some(exit) = step {
                return exit;
            }
        }
    }

    /// Serves one job; `Some` ends the online loop.
    async fn job(&mut self, s: &mut Session, job: Job) -> Option<Exit> {
        match job {
            Job::Login(_) => None,
            Job::PollNow if s.live => self.say(Update::Inbox {
                groups: Vec::new(),
                asked: true,
            }),
            Job::PollNow => self.poll(s, true).await,
            Job::Read { peer, id } => self.read(s, peer, id).await,
            Job::Users => self.users(s, true).await,
            Job::Logout => {
                let req = Request::Logout {
                    token: s.token.clone(),
                };
                let _ = timeout(LOGOUT_TIMEOUT, self.call(s, &req)).await;
                Some(Exit::Stop)
            }
            Job::Send { local_id, to, text } => {
                let req = Request::Send {
                    dialect: Dialect::Course,
                    token: s.token.clone(),
                    to: to.clone(),
                    message: text.clone(),
                };
                match self.call(s, &req).await {
                    Ok(r) if r.is_ok() => self.say(Update::Sent {
                        local_id,
                        id: r.id,
                        ts: r.ts,
                    }),
                    Ok(r) => self.say(Update::SendFailed {
                        local_id,
                        reason: reason(&r),
                    }),
                    Err(e) => {
                        self.pending.push_front(Job::Send { local_id, to, text });
                        Some(Exit::Lost(e.to_string()))
                    }
                }
            }
            Job::History { peer, before_id } => self.history(s, peer, before_id).await,
        }
    }

    fn say(&self, update: Update) -> Option<Exit> {
        if self.tell(update) {
            None
        } else {
            Some(Exit::Stop)
        }
    }

    async fn poll(&mut self, s: &mut Session, asked: bool) -> Option<Exit> {
        let req = Request::Inbox {
            dialect: Dialect::Course,
            token: s.token.clone(),
        };
        let update = match self.call(s, &req).await {
            Ok(r) if r.is_ok() => match r.inbox() {
                Ok(groups) => Update::Inbox { groups, asked },
                Err(e) => Update::Error(format!("inbox: {e}")),
            },
            // The inbox fails only for a bad session: log in again.
            Ok(r) => return Some(Exit::Lost(format!("inbox refused: {}", reason(&r)))),
            Err(e) => return Some(Exit::Lost(e.to_string())),
        };
        if let Some(exit) = self.say(update) {
            return Some(exit);
        }
        if self.users_supported {
            // Not `asked`: the person asked for the inbox, and its answer is what the
            // status line shows; the user list only updates the column.
            return self.users(s, false).await;
        }
        None
    }

    async fn users(&mut self, s: &mut Session, asked: bool) -> Option<Exit> {
        if !self.users_supported {
            return self.say(Update::UsersUnsupported(
                "the server has no user_aktif".into(),
            ));
        }
        let req = Request::ActiveUsers {
            dialect: Dialect::Course,
            token: s.token.clone(),
        };
        match self.call(s, &req).await {
            Ok(r) if r.is_ok() => self.say(Update::Users {
                users: r.active_users(),
                asked,
            }),
            Ok(r) if is_unsupported(&r) => {
                self.users_supported = false;
                self.say(Update::UsersUnsupported(reason(&r)))
            }
            Ok(r) => {
                tracing::info!(reason = %reason(&r), "user_aktif refused");
                None
            }
            Err(e) => Some(Exit::Lost(e.to_string())),
        }
    }

    async fn history(
        &mut self,
        s: &mut Session,
        peer: String,
        before_id: Option<i64>,
    ) -> Option<Exit> {
        if !self.history_supported {
            return None;
        }
        let req = Request::History {
            token: s.token.clone(),
            peer: peer.clone(),
            limit: HISTORY_LIMIT,
            before_id,
        };
        match self.call(s, &req).await {
            Ok(r) if r.is_ok() => match r.history() {
                Ok(entries) => self.say(Update::History {
                    complete: entries.len() < HISTORY_LIMIT as usize,
                    peer,
                    entries,
                    before_id,
                }),
                Err(e) => self.say(Update::Error(format!("history: {e}"))),
            },
            // Only "no such command" means no history; any other error is about
            // this peer (an unknown user) and must not turn history off.
            Ok(r) if is_unsupported(&r) => {
                self.history_supported = false;
                self.say(Update::HistoryUnsupported(reason(&r)))
            }
            Ok(r) => self.say(Update::HistoryFailed {
                peer,
                reason: reason(&r),
            }),
            Err(e) => {
                self.pending.push_front(Job::History { peer, before_id });
                Some(Exit::Lost(e.to_string()))
            }
        }
    }
}

/// One request with the reply timeout.
async fn call(client: &mut Client, req: &Request) -> Result<Reply, ClientError> {
    match timeout(REQUEST_TIMEOUT, client.call(req)).await {
        Ok(r) => r,
        Err(_) => Err(timed_out("waiting for the reply")),
    }
}

fn timed_out(what: &str) -> ClientError {
    ClientError::Io {
        context: what.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
    }
}

fn reason(r: &Reply) -> String {
    r.message_text()
        .unwrap_or_else(|| "refused".into())
        .trim()
        .to_string()
}

mod live;
mod messages;

pub use messages::{Job, Update};

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
