//! The accept loop: one task per connection, a hard connection limit, and graceful
//! shutdown.
//!
//! A permit is taken before a connection is served; a connection over the limit gets
//! one `ERROR` response and is closed, so clients learn why instead of hanging.
//! Accept errors (such as running out of descriptors) back off and retry: one failed
//! `accept` never stops the server.

use crate::config::Config;
use crate::context::Context;
use crate::handler;
use crate::storage::Store;
use chat_protocol::Response;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often expired sessions are removed from the store.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Serves `listener` until `shutdown` is cancelled, then stops accepting, lets
/// connections finish the requests they hold (up to `config.shutdown_grace`) and
/// returns.
pub async fn run<S: Store>(
    listener: TcpListener,
    store: S,
    config: Config,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let ctx = Context::new(store, config);
    let permits = Arc::new(Semaphore::new(ctx.config.max_connections));
    let tracker = TaskTracker::new();
    tracker.spawn(purge_sessions(ctx.clone(), shutdown.clone()));
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(5);
                pair
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
                tracker.spawn(async move {
                    handler::serve(ctx, socket, peer, shutdown).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, limit = ctx.config.max_connections, "connection refused: too many connections");
                tracker.spawn(refuse(socket));
            }
        }
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(ctx.config.shutdown_grace, tracker.wait()).await.is_err() {
        tracing::warn!(remaining = tracker.len(), "shutdown grace period over; closing remaining connections");
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Tells a connection over the limit why it is closed.
async fn refuse(mut socket: TcpStream) {
    let bytes = Response::error("too many connections").to_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.write_all(&bytes)).await;
    let _ = socket.shutdown().await;
}

/// Removes expired sessions now and then, so the store does not grow forever.
async fn purge_sessions<S: Store>(ctx: Context<S>, shutdown: CancellationToken) {
    let every = PURGE_EVERY.min(ctx.config.session_ttl.max(Duration::from_secs(1)));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match ctx.purge_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "sessions expired"),
            Err(e) => tracing::warn!(error = %e, "purging sessions failed"),
        }
    }
}
