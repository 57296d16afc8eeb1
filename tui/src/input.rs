//! Terminal events from a thread of their own, as a stream the loops can drain.
//!
//! crossterm's `EventStream` hands over one event per wake-up and, with the
//! level-triggered `/dev/tty` reader this crate needs (see `Cargo.toml`), never has
//! one ready without a round trip through its waker thread, so a loop cannot take
//! "everything typed so far" before drawing. Here one thread blocks in
//! `crossterm::event::read` and queues each event on a channel: whatever is queued
//! is ready at once, and a burst of 2 500 keys is handled in one batch and drawn
//! once. The thread ends when reading fails (the terminal is gone) or nobody
//! listens any more; while the program runs it waits in `read`, costing nothing.

use std::io;

use futures::Stream;
use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

/// Starts the reader thread; its events, in order. An `Err` is the last item.
pub fn terminal_events() -> io::Result<impl Stream<Item = io::Result<Event>> + Unpin> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            loop {
                let event = event::read();
                let failed = event.is_err();
                if tx.send(event).is_err() || failed {
                    break;
                }
            }
        })?;
    Ok(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
