//! Turning SIGINT and SIGTERM into a [`CancellationToken`] the server watches.
//!
//! Handlers are installed by [`Signals::install`], before the server announces it is
//! listening: a signal that arrives at any time after that is remembered and starts
//! a graceful shutdown, instead of killing the process with the default action.

use std::io;
use tokio_util::sync::CancellationToken;

/// Installed SIGINT/SIGTERM handlers.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers now. Must be called inside the Tokio runtime.
    pub fn install() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Cancels `token` on the first SIGINT or SIGTERM (also one that came earlier).
    pub async fn cancel_on_signal(mut self, token: CancellationToken) {
        self.wait().await;
        tracing::info!("shutdown requested");
        token.cancel();
    }

    #[cfg(unix)]
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn wait(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
