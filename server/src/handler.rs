//! One connection's life: read a request, apply it, answer, until the peer leaves,
//! goes idle too long, breaks a limit, or the server shuts down.
//!
//! On shutdown, requests already received are still answered; only waiting for new
//! bytes is abandoned.
//!
//! Most connections spend their life waiting for the peer, so what a waiting
//! connection holds is the server's memory per client: its task (this module's
//! future, sized by its largest waiting state) and its socket. Logging therefore
//! holds nothing either: connection events and failed requests carry the peer
//! address as a field, and the commands that log on success (logins, registrations,
//! logouts) run in a `request` span naming the peer. Measured with `chat-bench
//! --idle`: see README "Benchmarks".

use crate::cmd;
use crate::connection::Connection;
use crate::context::Context;
use crate::metrics::{self, Limit};
use crate::storage::Store;
use crate::throttle::RateLimit;
use chat_protocol::{Frame, FrameError, Request, Response};
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The peer closed it.
    ByPeer,
    /// No request was completed within the idle timeout.
    Idle,
    /// A line exceeded the limit.
    LineTooLong,
    /// The server is shutting down.
    Shutdown,
    /// Reading or writing failed.
    IoError,
    /// A line of another protocol arrived (HTTP, or a PROXY header from a source
    /// that is not a trusted proxy): see [`chat_protocol::foreign`].
    ForeignProtocol,
}

/// Serves one client until the connection ends, then lets go of `held`: what the
/// connection occupies while it is open (its places under the connection limits).
///
/// Not an `async fn`: the connection and its state are built before the future, so
/// the task holds one copy of the stream (an `async fn` would keep its argument as
/// well as the `Connection` made from it). `held` is taken here rather than by a
/// wrapper future in the caller for the same reason: awaiting this future inside
/// another would keep two copies of it in the task.
pub fn serve<S: Store, T: AsyncRead + AsyncWrite + Unpin, H>(
    ctx: Context<S>,
    stream: T,
    peer: SocketAddr,
    shutdown: CancellationToken,
    held: H,
) -> impl Future<Output = ()> {
    let mut conn = Connection::new(stream, ctx.config.max_line);
    let mut state = State::new(&ctx, peer);
    async move {
        tracing::info!(peer = %state.peer, "connection opened");
        let closed = run(&ctx, &mut conn, &mut state, &shutdown).await;
        tracing::info!(peer = %state.peer, reason = ?closed, "connection closed");
        drop(held);
    }
}

/// What one connection remembers between requests.
#[derive(Debug)]
struct State {
    peer: SocketAddr,
    rate: Option<RateLimit>,
    /// When the connection is closed unless a request is completed before: the idle
    /// timeout counts from the last completed request line (or the connection's
    /// start), so bytes of an unfinished line never extend it.
    idle_deadline: tokio::time::Instant,
    /// What this connection last told its client (`sync ... presence`).
    /// Boxed on the first `sync`: connections that never sync (the course's
    /// clients) pay a pointer for it, not the whole struct.
    seen: Option<Box<cmd::sync::Seen>>,
}

/// What to do with one request line.
#[derive(Debug)]
enum Answer {
    /// Send this response.
    Now(Response),
    /// A `sync` with nothing to say yet: wait on the connection.
    Wait(cmd::sync::Waiting),
}

impl State {
    /// What this connection told its client in `sync` answers (made on first use).
    fn seen_mut(&mut self) -> &mut cmd::sync::Seen {
        self.seen.get_or_insert_with(Box::default)
    }

    fn new<S: Store>(ctx: &Context<S>, peer: SocketAddr) -> Self {
        let rate = ctx.config.max_request_rate;
        let now = tokio::time::Instant::now();
        State {
            peer,
            rate: (rate > 0).then(|| RateLimit::new(rate, now)),
            idle_deadline: now + ctx.config.idle_timeout,
            seen: None,
        }
    }
}

/// The request loop. Borrows what [`serve`] owns, so the task keeps one copy of it.
async fn run<S: Store, T: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Context<S>,
    conn: &mut Connection<T>,
    state: &mut State,
    shutdown: &CancellationToken,
) -> Closed {
    loop {
        let frame = match conn.buffered_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if conn.flush().await.is_err() {
                    return Closed::IoError;
                }
                match wait_for_bytes(conn, state, shutdown).await {
                    Ok(()) => continue,
                    Err(closed) => return closed,
                }
            }
            Err(FrameError::LineTooLong { limit }) => {
                tracing::warn!(peer = %state.peer, limit, "line too long");
                metrics::rejected(Limit::LineLength);
                let _ = conn
                    .send(&Response::error(format!(
                        "line too long (limit {limit} bytes)"
                    )))
                    .await;
                return Closed::LineTooLong;
            }
            Err(e) => {
                let _ = conn.send(&Response::error(e.to_string())).await;
                return Closed::IoError;
            }
        };
        if let Frame::Line(line) = &frame
            && let Some(kind) = chat_protocol::foreign_protocol(line)
        {
            // Nothing after it runs, not even requests already pipelined behind it.
            tracing::warn!(peer = %state.peer, protocol = ?kind, "possible security attack: another protocol's request on the chat port; connection closed");
            return Closed::ForeignProtocol;
        }
        let response = match answer(ctx, frame, state).await {
            Answer::Now(response) => response,
            // Boxed: only a waiting sync pays for the wait's state.
            Answer::Wait(waiting) => {
                match Box::pin(wait_for_sync(ctx, conn, state, shutdown, waiting)).await {
                    Ok(response) => response,
                    Err(closed) => return closed,
                }
            }
        };
        conn.queue(&response);
        // From the answer, not the arrival: a login held back by the backoff must
        // not leave its connection already past the deadline.
        state.idle_deadline = tokio::time::Instant::now() + ctx.config.idle_timeout;
    }
}

/// Waits until a `sync` has something to say, then returns its answer: a message
/// for the user committed (on any node: the store wakes it), presence changed (if
/// asked), the deadline passed, another request line arrived, or the server is
/// shutting down. Each of these is woken, never polled. `Err` when the connection
/// ended meanwhile.
async fn wait_for_sync<S: Store, T: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Context<S>,
    conn: &mut Connection<T>,
    state: &mut State,
    shutdown: &CancellationToken,
    waiting: cmd::sync::Waiting,
) -> Result<Response, Closed> {
    // Answers to earlier pipelined requests go out before the wait.
    if conn.flush().await.is_err() {
        return Err(Closed::IoError);
    }
    let listener = ctx.store.wakeups().listen(&waiting.username);
    let _counted = metrics::SyncWaiting::start();
    // Bytes already buffered are the next request: answer at once.
    while conn.buffered() == 0 {
        // Armed before the store is read, so a commit in between still wakes us.
        let mut woken = std::pin::pin!(listener.notified());
        woken.as_mut().enable();
        let mut presence_changed = std::pin::pin!(ctx.presence.changed());
        presence_changed.as_mut().enable();
        match cmd::sync::look(ctx, &waiting, state.seen_mut()).await {
            Ok(Some(answer)) => return Ok(answer),
            Ok(None) => {}
            Err(error) => return Ok(error),
        }
        tokio::select! {
            _ = woken => {}
            _ = presence_changed, if waiting.presence => {}
            _ = tokio::time::sleep_until(waiting.deadline) => break,
            _ = shutdown.cancelled() => break,
            read = conn.read_more() => match read {
                Ok(true) => break,
                Ok(false) => return Err(Closed::ByPeer),
                Err(e) => {
                    tracing::debug!(peer = %state.peer, error = %e, "read failed");
                    return Err(Closed::IoError);
                }
            },
        }
    }
    Ok(cmd::sync::finish(ctx, &waiting, state.seen_mut()).await)
}

/// Waits for the peer's next bytes, the idle deadline ([`State::idle_deadline`]:
/// a trickled line does not move it), or shutdown.
async fn wait_for_bytes<T: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<T>,
    state: &State,
    shutdown: &CancellationToken,
) -> Result<(), Closed> {
    let peer = &state.peer;
    tokio::select! {
        _ = shutdown.cancelled() => Err(Closed::Shutdown),
        read = tokio::time::timeout_at(state.idle_deadline, conn.read_more()) => match read {
            Err(_) => Err(Closed::Idle),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => {
                if conn.buffered() > 0 {
                    tracing::debug!(%peer, bytes = conn.buffered(), "peer closed mid-line");
                }
                Err(Closed::ByPeer)
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "read failed");
                Err(Closed::IoError)
            }
        },
    }
}

/// What to do with one line.
async fn answer<S: Store>(ctx: &Context<S>, frame: Frame, state: &mut State) -> Answer {
    if let Some(rate) = &mut state.rate
        && !rate.allow(tokio::time::Instant::now())
    {
        let limit = ctx.config.max_request_rate;
        metrics::rejected(Limit::RequestRate);
        metrics::not_a_request();
        return Answer::Now(Response::error(format!(
            "rate limit exceeded: at most {limit} requests per second"
        )));
    }
    let line = match frame {
        Frame::Line(line) => line,
        Frame::InvalidUtf8 => {
            metrics::not_a_request();
            return Answer::Now(Response::error("invalid UTF-8"));
        }
    };
    let peer = state.peer;
    let request = match Request::parse(&line) {
        Ok(request) => request,
        Err(e) => {
            tracing::info!(%peer, error = %e, "bad request");
            metrics::not_a_request();
            return Answer::Now(Response::error(e.to_string()));
        }
    };
    if let Request::Sync {
        token,
        after_id,
        wait_seconds,
        presence,
    } = &request
    {
        // Timed up to its first decision: a wait's length is the client's choice,
        // not the server's latency.
        let timer = metrics::RequestTimer::start("sync");
        let seen = state.seen_mut();
        let step = Box::pin(cmd::sync::start(
            ctx,
            token,
            *after_id,
            *wait_seconds,
            *presence,
            seen,
        ))
        .await;
        return match step {
            Ok(cmd::sync::Step::Answer(response)) => {
                timer.finish(&response);
                Answer::Now(response)
            }
            Ok(cmd::sync::Step::Wait(waiting)) => {
                // Status OK: the request was accepted and now waits.
                timer.finish(&Response::Pong);
                Answer::Wait(waiting)
            }
            Err(response) => {
                timer.finish(&response);
                if let Response::Error(reason) = &response {
                    tracing::info!(%peer, verb = "sync", reason = %reason, "request failed");
                }
                Answer::Now(response)
            }
        };
    }
    Answer::Now(dispatch(ctx, peer, request).await)
}

/// Runs a command that answers at once, logging it when it fails.
async fn dispatch<S: Store>(ctx: &Context<S>, peer: SocketAddr, request: Request) -> Response {
    // Never log the request itself: it may carry a password or a token.
    let verb = request.verb();
    let spanned = logs_on_success(&request);
    // Boxed: the command futures (argon2, database calls) are large, and unboxed
    // they would be part of every idle connection's task. Measured with chat-bench
    // --idle 19000: see README "Benchmarks".
    let command = Box::pin(cmd::dispatch(ctx, peer.ip(), request));
    let response = match spanned {
        // Their own log lines ("logged in", ...) name the peer through this span.
        true => {
            command
                .instrument(tracing::info_span!("request", %peer))
                .await
        }
        // Polls and sends log only when they fail (below), so they are spared a
        // span: making one, formatting the peer into it and entering it at each
        // poll was 5% of the server's CPU under `inbox` load (perf, bench/README.md).
        false => command.await,
    };
    if let Response::Error(reason) = &response {
        tracing::info!(%peer, verb, reason = %reason, "request failed");
    }
    response
}

/// Whether `request`'s command logs when it succeeds (logins, registrations,
/// logouts: rare, and worth a line naming the peer).
fn logs_on_success(request: &Request) -> bool {
    matches!(
        request,
        Request::Login { .. } | Request::Register { .. } | Request::Logout { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStore;
    use crate::throttle::IpSlot;
    use tokio::net::TcpStream;
    use tokio::sync::OwnedSemaphorePermit;

    /// Size of the future that `f` returns, without calling it.
    fn future_size<A, B, C, D, E, F>(_: fn(A, B, C, D, E) -> F) -> usize {
        size_of::<F>()
    }

    /// A waiting connection costs the server mostly its task, which is as large as
    /// this future (plus ~200 bytes): a command's future (over 2 KB, hence the box in
    /// `answer`) or a second copy of the connection inside it would show up on every
    /// idle connection. Measured 1 032 bytes after the idle deadline (issue 17) and
    /// the `sync` state (issue 14, boxed on first use) grew it past the old 1 024.
    #[test]
    fn a_connection_task_stays_small() {
        let size = future_size(serve::<MemoryStore, TcpStream, (OwnedSemaphorePermit, IpSlot)>);
        assert!(size <= 1088, "serve's future is {size} bytes");
    }

    /// A connection waiting in `sync` holds its task plus the boxed wait future
    /// (which embeds the store's `sync` read). The idle target is 5 KiB per
    /// connection (issue 14): the wait must stay well inside it.
    #[tokio::test]
    async fn a_waiting_sync_stays_small() {
        // The store the binary serves with: its futures include SQLite's and
        // PostgreSQL's reads.
        let store = crate::storage::open::AnyStore::Memory(MemoryStore::new());
        let ctx = Context::new(store, crate::Config::default());
        let (stream, _other) = tokio::io::duplex(64);
        let mut conn = Connection::new(stream, 1024);
        let mut state = State::new(&ctx, "192.0.2.7:4321".parse().expect("address"));
        let shutdown = CancellationToken::new();
        let waiting = cmd::sync::Waiting {
            username: "messi".into(),
            after_id: 0,
            presence: true,
            deadline: tokio::time::Instant::now(),
        };
        let wait = wait_for_sync(&ctx, &mut conn, &mut state, &shutdown, waiting);
        let size = std::mem::size_of_val(&wait);
        assert!(size <= 2048, "the wait future is {size} bytes");
    }

    use crate::test_log::Captured;

    /// Polls and sends run without a span, so the lines an operator looks for must
    /// still say who asked: a failed request's line names the peer itself, and a
    /// login's "logged in" (logged inside the command) names it through its span.
    #[tokio::test]
    async fn failures_and_logins_name_the_peer() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let store = MemoryStore::new();
        crate::users::seed_demo_users(&store)
            .await
            .expect("demo users");
        let ctx = Context::new(store, crate::Config::default());
        let peer: SocketAddr = "192.0.2.7:4321".parse().expect("address");
        let mut state = State::new(&ctx, peer);
        let line = |text: &str| Frame::Line(text.to_string());

        let refused = answer(&ctx, line("inbox not-a-token"), &mut state).await;
        assert!(
            matches!(refused, Answer::Now(Response::Error(_))),
            "{refused:?}"
        );
        let logged_in = answer(&ctx, line("auth messi surabaya"), &mut state).await;
        assert!(
            matches!(logged_in, Answer::Now(Response::LoggedIn(_))),
            "{logged_in:?}"
        );

        let text = logs.text();
        let line_with = |what: &str| {
            text.lines()
                .find(|l| l.contains(what))
                .unwrap_or_else(|| panic!("no {what:?} line in:\n{text}"))
                .to_string()
        };
        let failed = line_with("request failed");
        assert!(failed.contains("peer=192.0.2.7:4321"), "{failed}");
        assert!(failed.contains("inbox"), "{failed}");
        let login = line_with("logged in");
        assert!(login.contains("peer=192.0.2.7:4321"), "{login}");
    }
}
