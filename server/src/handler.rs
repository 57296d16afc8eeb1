//! One connection's life: read a request, apply it, answer, until the peer leaves,
//! goes idle too long, breaks a limit, or the server shuts down.
//!
//! On shutdown, requests already received are still answered; only waiting for new
//! bytes is abandoned.

use crate::cmd;
use crate::connection::Connection;
use crate::context::Context;
use crate::storage::Store;
use crate::throttle::RateLimit;
use chat_protocol::{Frame, FrameError, Request, Response};
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The peer closed it.
    ByPeer,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// A line exceeded the limit.
    LineTooLong,
    /// The server is shutting down.
    Shutdown,
    /// Reading or writing failed.
    IoError,
}

/// Serves one client until the connection ends.
pub async fn serve<S: Store, T: AsyncRead + AsyncWrite + Unpin>(
    ctx: Context<S>,
    stream: T,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("conn", %peer);
    async move {
        tracing::info!("connection opened");
        let state = State::new(&ctx, peer.ip());
        let closed = run(
            &ctx,
            Connection::new(stream, ctx.config.max_line),
            state,
            &shutdown,
        )
        .await;
        tracing::info!(reason = ?closed, "connection closed");
    }
    .instrument(span)
    .await
}

/// What one connection remembers between requests.
#[derive(Debug)]
struct State {
    peer: IpAddr,
    rate: Option<RateLimit>,
}

impl State {
    fn new<S: Store>(ctx: &Context<S>, peer: IpAddr) -> Self {
        let rate = ctx.config.max_request_rate;
        State {
            peer,
            rate: (rate > 0).then(|| RateLimit::new(rate, tokio::time::Instant::now())),
        }
    }
}

async fn run<S: Store, T: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Context<S>,
    mut conn: Connection<T>,
    mut state: State,
    shutdown: &CancellationToken,
) -> Closed {
    loop {
        let frame = match conn.buffered_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if conn.flush().await.is_err() {
                    return Closed::IoError;
                }
                match wait_for_bytes(ctx, &mut conn, shutdown).await {
                    Ok(()) => continue,
                    Err(closed) => return closed,
                }
            }
            Err(FrameError::LineTooLong { limit }) => {
                tracing::warn!(limit, "line too long");
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
        let response = answer(ctx, frame, &mut state).await;
        conn.queue(&response);
    }
}

/// Waits for the peer's next bytes, the idle timeout, or shutdown.
async fn wait_for_bytes<S: Store, T: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Context<S>,
    conn: &mut Connection<T>,
    shutdown: &CancellationToken,
) -> Result<(), Closed> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(Closed::Shutdown),
        read = tokio::time::timeout(ctx.config.idle_timeout, conn.read_more()) => match read {
            Err(_) => Err(Closed::Idle),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Closed::ByPeer),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "read failed");
                Err(Closed::IoError)
            }
        },
    }
}

/// The response to one line.
async fn answer<S: Store>(ctx: &Context<S>, frame: Frame, state: &mut State) -> Response {
    if let Some(rate) = &mut state.rate
        && !rate.allow(tokio::time::Instant::now())
    {
        let limit = ctx.config.max_request_rate;
        return Response::error(format!(
            "rate limit exceeded: at most {limit} requests per second"
        ));
    }
    let line = match frame {
        Frame::Line(line) => line,
        Frame::InvalidUtf8 => return Response::error("invalid UTF-8"),
    };
    let request = match Request::parse(&line) {
        Ok(request) => request,
        Err(e) => {
            tracing::info!(error = %e, "bad request");
            return Response::error(e.to_string());
        }
    };
    // Never log the request itself: it may carry a password or a token.
    let verb = request.verb();
    // Boxed: the command futures (argon2, database calls) are large, and unboxed
    // they would be part of every idle connection's task. Measured with chat-bench
    // --idle 19000: see README "Benchmarks".
    let response = Box::pin(cmd::dispatch(ctx, state.peer, request)).await;
    if let Response::Error(reason) = &response {
        tracing::info!(verb, reason = %reason, "request failed");
    }
    response
}
