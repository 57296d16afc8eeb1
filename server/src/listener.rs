//! Accept loops: one task per connection, a hard connection limit, a limit per
//! source address, optional TLS, and graceful shutdown.
//!
//! A permit is taken before a connection is served; a connection over a limit gets
//! one `ERROR` response and is closed, so clients learn why instead of hanging.
//! Accept errors (such as running out of descriptors) back off and retry: one failed
//! `accept` never stops the server.

use crate::config::Config;
use crate::context::Context;
use crate::handler;
use crate::storage::Store;
use crate::throttle::PerIpLimit;
use chat_protocol::Response;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often expired sessions are removed from the store.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound socket, serving plain text or TLS.
pub struct Listener {
    /// The bound socket.
    pub tcp: TcpListener,
    /// TLS settings; `None` serves plain text.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Listener {
    /// A plain-text listener.
    pub fn plain(tcp: TcpListener) -> Self {
        Listener { tcp, tls: None }
    }

    /// A TLS listener.
    pub fn tls(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Listener {
            tcp,
            tls: Some(acceptor),
        }
    }
}

/// What every accept loop shares.
#[derive(Clone)]
struct Shared<S> {
    ctx: Context<S>,
    permits: Arc<Semaphore>,
    per_ip: PerIpLimit,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// Serves one plain-text `listener`; see [`serve`].
pub async fn run<S: Store>(
    listener: TcpListener,
    store: S,
    config: Config,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve(vec![Listener::plain(listener)], store, config, shutdown).await
}

/// Serves `listeners` until `shutdown` is cancelled, then stops accepting, lets
/// connections finish the requests they hold (up to `config.shutdown_grace`) and
/// returns.
pub async fn serve<S: Store>(
    listeners: Vec<Listener>,
    store: S,
    config: Config,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let ctx = Context::new(store, config);
    let shared = Shared {
        permits: Arc::new(Semaphore::new(ctx.config.max_connections)),
        per_ip: PerIpLimit::new(ctx.config.max_connections_per_ip),
        tracker: TaskTracker::new(),
        shutdown: shutdown.clone(),
        ctx,
    };
    shared
        .tracker
        .spawn(purge_sessions(shared.ctx.clone(), shutdown.clone()));
    let presence_ctx = shared.ctx.clone();
    shared.tracker.spawn(crate::presence::track(
        Arc::clone(&shared.ctx.presence),
        move || {
            let ctx = presence_ctx.clone();
            async move { ctx.active_users().await }
        },
        shutdown.clone(),
    ));
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, shared.clone())))
        .collect();
    for accept in loops {
        if let Err(e) = accept.await {
            tracing::error!(error = %e, "accept loop failed");
        }
    }
    let tracker = shared.tracker;
    tracker.close();
    if tokio::time::timeout(shared.ctx.config.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = tracker.len(),
            "shutdown grace period over; closing remaining connections"
        );
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Accepts until shutdown; the listening socket closes when this returns.
async fn accept_loop<S: Store>(listener: Listener, shared: Shared<S>) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.tcp.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                backoff = Duration::from_millis(5);
                admit(&shared, socket, peer, listener.tls.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Starts serving `socket`, or refuses it when a limit is reached.
fn admit<S: Store>(
    shared: &Shared<S>,
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    let _ = socket.set_nodelay(true);
    let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
        tracing::warn!(%peer, limit = shared.ctx.config.max_connections, "connection refused: too many connections");
        shared.tracker.spawn(refuse(socket, "too many connections"));
        return;
    };
    let Some(slot) = shared.per_ip.acquire(peer.ip()) else {
        tracing::warn!(%peer, limit = shared.ctx.config.max_connections_per_ip, "connection refused: too many from this address");
        shared
            .tracker
            .spawn(refuse(socket, "too many connections from your address"));
        return;
    };
    let (ctx, shutdown) = (shared.ctx.clone(), shared.shutdown.clone());
    let held = (permit, slot);
    // Plain and TLS connections are separate kinds of task: a task is as large as
    // its largest state, and a TLS handshake and session take several KB that a
    // plain connection must not reserve: with one kind of task, every plain
    // connection's future was 7 152 bytes, now 688.
    match tls {
        None => {
            let serve = handler::serve(ctx, socket, peer, shutdown, held);
            shared.tracker.spawn(serve);
        }
        Some(acceptor) => {
            let serve = serve_tls(ctx, acceptor, socket, peer, shutdown, held);
            shared.tracker.spawn(serve);
        }
    }
}

/// Completes the TLS handshake on `socket`, then serves it; `held` (the
/// connection's places under the limits) is let go when the connection ends.
async fn serve_tls<S: Store, H>(
    ctx: Context<S>,
    acceptor: TlsAcceptor,
    socket: TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
    held: H,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => handler::serve(ctx, stream, peer, shutdown, held).await,
        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}

/// Tells a connection over a limit why it is closed.
async fn refuse(mut socket: TcpStream, reason: &'static str) {
    let bytes = Response::error(reason).to_bytes();
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
