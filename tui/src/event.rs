//! The main loop: terminal events, worker updates and a one-second tick merged into
//! one [`Event`], fed to the [`App`], drawn when something changed.
//!
//! Generic over the ratatui backend and the terminal event stream, so tests run it
//! on a `TestBackend` with scripted events. Idle cost: one wake-up per tick and per
//! poll result; a draw only when the model changed.

use std::future::Future;
use std::io;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event as TermEvent, KeyEventKind, MouseEventKind};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app::{App, Effect, Now};
use crate::ui;
use crate::worker::{Job, Update};

/// How long quitting waits for the worker's logout.
pub const QUIT_GRACE: Duration = Duration::from_secs(3);

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// From the terminal: a key, the mouse, a resize, a paste.
    Terminal(TermEvent),
    /// From the worker.
    Worker(Update),
    /// A second passed.
    Tick,
    /// The terminal's event stream ended or failed: the terminal went away.
    TerminalClosed,
    /// A signal (SIGTERM, SIGHUP, SIGINT) asked the client to end.
    Stop,
    /// The worker is gone.
    WorkerGone,
}

/// What the loop does to the real terminal outside ratatui's buffer.
pub trait Host {
    /// Rings the bell.
    fn bell(&mut self);
    /// Turns mouse capture on or off.
    fn mouse_capture(&mut self, on: bool);
}

/// A host that does nothing (tests).
#[derive(Debug, Default)]
pub struct NoHost {
    /// Bells rung.
    pub bells: usize,
}

impl Host for NoHost {
    fn bell(&mut self) {
        self.bells += 1;
    }
    fn mouse_capture(&mut self, _on: bool) {}
}

/// Runs until the user quits (and the worker has logged out, or the grace passed).
///
/// `stop` resolving (a signal) quits the same way Ctrl-C does. Every terminal event
/// already queued is handled before the next draw, so a burst of typing (or a paste
/// the terminal does not bracket) is never left waiting for a later key. When the
/// terminal goes away (its events end or a draw fails) the loop stops drawing and
/// quits, still logging out.
pub async fn run<B, S, H, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut term: S,
    mut updates: mpsc::UnboundedReceiver<Update>,
    jobs: &mpsc::UnboundedSender<Job>,
    host: &mut H,
    stop: F,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
    H: Host,
    F: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let mut stopped = false;
    let mut term_gone = false;
    let mut dirty = true;
    let mut deadline: Option<Instant> = None;
    loop {
        let mut batch = Vec::new();
        if dirty && !term_gone {
            if let Err(e) = draw(terminal, app) {
                tracing::warn!(error = %e, "drawing failed: the terminal is gone");
                batch.push(Event::TerminalClosed);
            }
            dirty = false;
        }
        if batch.is_empty() {
            batch.push(tokio::select! {
                ev = term.next(), if !term_gone => terminal_event(ev),
                up = updates.recv() => up.map_or(Event::WorkerGone, Event::Worker),
                _ = tick.tick() => Event::Tick,
                () = &mut stop, if !stopped => {
                    stopped = true;
                    Event::Stop
                }
                () = sleep_until(deadline), if deadline.is_some() => return Ok(()),
            });
        }
        if !term_gone {
            drain(&mut term, &mut batch);
        }
        for event in batch {
            term_gone |= event == Event::TerminalClosed;
            let (effects, changed) = handle(app, event, Now::current());
            dirty |= changed;
            for effect in effects {
                match effect {
                    Effect::Job(job) => {
                        // A closed channel means the worker ended: `WorkerGone` follows.
                        let _ = jobs.send(job);
                    }
                    Effect::Bell => host.bell(),
                    Effect::MouseCapture(on) => host.mouse_capture(on),
                    Effect::Redraw if !term_gone => {
                        terminal.clear()?;
                        dirty = true;
                    }
                    Effect::Redraw => {}
                    Effect::Save(path, state) => save(&path, &state),
                    Effect::Quit => return Ok(()),
                }
            }
        }
        if app.quitting && deadline.is_none() {
            deadline = Some(Instant::now() + QUIT_GRACE);
        }
    }
}

/// Writes the remembered state; a failure is logged, never fatal.
fn save(path: &std::path::Path, state: &crate::state::SavedState) {
    if let Err(e) = crate::state::save(path, state) {
        tracing::warn!(path = %path.display(), error = %e, "saving the state failed");
    }
}

/// One item of the terminal's event stream as an [`Event`].
fn terminal_event(ev: Option<io::Result<TermEvent>>) -> Event {
    match ev {
        Some(Ok(e)) => Event::Terminal(e),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "reading the terminal failed");
            Event::TerminalClosed
        }
        None => Event::TerminalClosed,
    }
}

/// Appends every terminal event that is ready now, without waiting.
fn drain<S>(term: &mut S, batch: &mut Vec<Event>)
where
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    while let Some(ev) = term.next().now_or_never() {
        let event = terminal_event(ev);
        let closed = event == Event::TerminalClosed;
        batch.push(event);
        if closed {
            return;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Draws and tells the model what the draw found.
pub fn draw<B>(terminal: &mut Terminal<B>, app: &mut App) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let mut info = ui::ViewInfo::default();
    terminal.draw(|frame| info = ui::draw(frame, app))?;
    app.after_draw(&info);
    Ok(())
}

/// Feeds one event to the model: its effects, and whether the screen changed.
pub fn handle(app: &mut App, event: Event, now: Now) -> (Vec<Effect>, bool) {
    match event {
        Event::Terminal(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => {
            (app.on_key(key, now), true)
        }
        Event::Terminal(TermEvent::Mouse(m)) => {
            let scroll = matches!(
                m.kind,
                MouseEventKind::ScrollUp | MouseEventKind::ScrollDown
            );
            let effects = if scroll { app.on_mouse(m) } else { vec![] };
            (effects, scroll)
        }
        Event::Terminal(TermEvent::Paste(text)) => {
            app.on_paste(&text);
            (vec![], true)
        }
        Event::Terminal(TermEvent::Resize(..)) => (vec![], true),
        Event::Terminal(_) => (vec![], false),
        Event::Worker(update) => {
            let changed = !app.is_quiet(&update);
            (app.on_update(update, now), changed)
        }
        // The state is written at most once a second, when it changed.
        Event::Tick => (app.save().into_iter().collect(), app.on_tick(now)),
        // Log out first (a second one, or the grace running out, leaves at once).
        Event::TerminalClosed | Event::Stop => (app.quit(), true),
        Event::WorkerGone => (vec![Effect::Quit], false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::View;
    use crate::testkit::*;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    #[tokio::test]
    async fn typed_text_is_sent_and_ctrl_c_quits_after_logout() {
        let mut app = logged_in();
        app.select(View::Peer("lineker".into()));
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("backend");
        let mut keys: Vec<io::Result<TermEvent>> = "halo"
            .chars()
            .map(|c| Ok(TermEvent::Key(key(KeyCode::Char(c)))))
            .collect();
        keys.push(Ok(TermEvent::Key(key(KeyCode::Enter))));
        keys.push(Ok(TermEvent::Key(mkey(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))));
        let term = futures::stream::iter(keys).chain(futures::stream::pending());
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let (job_tx, mut job_rx) = mpsc::unbounded_channel();
        // A message for a hidden conversation, queued before anything else.
        up_tx
            .send(inbox(
                "henderson",
                vec![msg("Jordan Henderson", "oi", 1, 1)],
            ))
            .expect("send");
        let worker = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(job) = job_rx.recv().await {
                if job == Job::Logout {
                    let _ = up_tx.send(Update::Stopped);
                }
                seen.push(job);
            }
            seen
        });
        let mut host = NoHost::default();
        run(
            &mut terminal,
            &mut app,
            term,
            up_rx,
            &job_tx,
            &mut host,
            std::future::pending(),
        )
        .await
        .expect("loop");
        drop(job_tx);
        let seen = worker.await.expect("worker");
        assert_eq!(
            seen,
            [
                Job::Send {
                    local_id: 1,
                    to: "lineker".into(),
                    text: "halo".into()
                },
                Job::Logout
            ]
        );
        assert_eq!(host.bells, 1, "henderson's message rang the bell");
        assert_eq!(app.conversations["henderson"].unread, 1);
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(screen.contains("messi: halo"), "{screen}");
    }

    #[test]
    fn polls_that_change_nothing_do_not_redraw() {
        let mut app = logged_in();
        let users = || Update::Users {
            users: vec!["messi".into(), "lineker".into()],
            asked: false,
        };
        assert!(
            handle(&mut app, Event::Worker(inbox("lineker", vec![])), now()).1,
            "first poll: age shown"
        );
        assert!(!handle(&mut app, Event::Worker(inbox("lineker", vec![])), now()).1);
        assert!(
            handle(&mut app, Event::Worker(users()), now()).1,
            "new user list"
        );
        assert!(!handle(&mut app, Event::Worker(users()), now()).1);
        assert!(!handle(&mut app, Event::Tick, now()).1);
        assert!(handle(&mut app, Event::Tick, later(2)).1, "age changed");
        let news = inbox("lineker", vec![msg("G", "hi", 1, 1)]);
        assert!(handle(&mut app, Event::Worker(news), later(2)).1);
    }

    #[tokio::test(start_paused = true)]
    async fn quitting_gives_up_waiting_for_a_stuck_worker() {
        let mut app = logged_in();
        let mut terminal = Terminal::new(TestBackend::new(40, 12)).expect("backend");
        let keys = vec![Ok(TermEvent::Key(mkey(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        )))];
        let term = futures::stream::iter(keys).chain(futures::stream::pending());
        let (_up_tx, up_rx) = mpsc::unbounded_channel::<Update>();
        let (job_tx, _job_rx) = mpsc::unbounded_channel();
        let started = Instant::now();
        run(
            &mut terminal,
            &mut app,
            term,
            up_rx,
            &job_tx,
            &mut NoHost::default(),
            std::future::pending(),
        )
        .await
        .expect("loop");
        assert!(started.elapsed() >= QUIT_GRACE);
    }
}
