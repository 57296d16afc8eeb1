//! The signals that end the client: SIGTERM, SIGHUP (the terminal went away) and
//! SIGINT (`kill -INT`; Ctrl-C in raw mode is a key, not a signal).
//!
//! Catching them turns an abrupt end into the ordinary one: the terminal is put
//! back (cooked mode, main screen, no mouse reporting) and the session logged out,
//! then the process exits with the status a shell expects of a program ended by
//! that signal, 128 + its number (143, 129, 130).

use std::io;

use tokio::signal::unix::{Signal as Stream, SignalKind, signal};

/// A signal that asks the client to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM (15).
    Term,
    /// SIGHUP (1): the terminal hung up.
    Hup,
    /// SIGINT (2).
    Int,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> u8 {
        match self {
            Signal::Hup => 1,
            Signal::Int => 2,
            Signal::Term => 15,
        }
    }

    /// The conventional exit status after this signal: 128 + its number.
    pub fn exit_status(self) -> u8 {
        128 + self.number()
    }
}

/// The three signals, caught from creation on (their default action, ending the
/// process on the spot, no longer happens).
#[derive(Debug)]
pub struct Signals {
    term: Stream,
    hup: Stream,
    int: Stream,
}

impl Signals {
    /// Starts catching SIGTERM, SIGHUP and SIGINT. Needs a Tokio runtime.
    pub fn new() -> io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next of them.
    pub async fn recv(&mut self) -> Signal {
        loop {
            let got = tokio::select! {
                s = self.term.recv() => s.map(|()| Signal::Term),
                s = self.hup.recv() => s.map(|()| Signal::Hup),
                s = self.int.recv() => s.map(|()| Signal::Int),
            };
            if let Some(signal) = got {
                return signal;
            }
            // A stream can only end when the runtime shuts down.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_128_plus_the_number() {
        assert_eq!(Signal::Term.exit_status(), 143);
        assert_eq!(Signal::Hup.exit_status(), 129);
        assert_eq!(Signal::Int.exit_status(), 130);
    }
}
