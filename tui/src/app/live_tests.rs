//! The model on a server with `sync`: one view for every device, id order, read
//! markers shared between the user's clients, the remembered state, scrollback.

use super::*;
use crate::model::Delivery;
use crate::state::SavedState;
use crate::testkit::*;

fn jobs(effects: &[Effect]) -> Vec<Job> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Job(j) => Some(j.clone()),
            _ => None,
        })
        .collect()
}

fn texts(app: &App, peer: &str) -> Vec<String> {
    app.conversations[peer]
        .messages
        .iter()
        .map(|m| m.text.clone())
        .collect()
}

#[test]
fn every_message_of_the_user_shows_in_id_order_with_own_ones_as_own() {
    let mut app = live();
    // Sent from the phone (id 3) and received (2, 4), out of order in one answer.
    app.on_update(
        synced(
            vec![
                entry(4, "lineker", "messi", "four"),
                entry(2, "lineker", "messi", "two"),
                entry(3, "messi", "lineker", "three from my phone"),
            ],
            &[],
        ),
        now(),
    );
    assert_eq!(
        texts(&app, "lineker"),
        ["two", "three from my phone", "four"]
    );
    let mine = &app.conversations["lineker"].messages[1];
    assert_eq!(
        (mine.from.as_str(), &mine.delivery),
        ("messi", &Delivery::Sent)
    );
    // The same ids again (a reconnect): nothing doubles.
    app.on_update(
        synced(vec![entry(4, "lineker", "messi", "four")], &[]),
        now(),
    );
    assert_eq!(app.conversations["lineker"].messages.len(), 3);
    assert_eq!(
        app.conversations["lineker"].unread, 2,
        "two received, unread"
    );
    assert_eq!(app.last_id, 4);
    let all: Vec<_> = app.visible_messages().iter().map(|m| m.id).collect();
    assert_eq!(all, [Some(2), Some(3), Some(4)], "the all view in id order");
}

#[test]
fn a_send_confirmed_after_sync_brought_it_is_not_doubled() {
    let mut app = live();
    app.select(View::Peer("lineker".into()));
    type_text(&mut app, "halo");
    enter(&mut app);
    app.on_update(
        synced(vec![entry(9, "messi", "lineker", "halo")], &[]),
        now(),
    );
    app.on_update(
        Update::Sent {
            local_id: 1,
            id: Some(9),
            ts: None,
        },
        now(),
    );
    assert_eq!(texts(&app, "lineker"), ["halo"]);
    // A later message takes its place after it, by id.
    app.on_update(
        synced(vec![entry(8, "lineker", "messi", "eight")], &[]),
        now(),
    );
    assert_eq!(texts(&app, "lineker"), ["eight", "halo"]);
}

#[test]
fn reading_tells_the_server_and_markers_from_other_clients_clear_unread() {
    let mut app = live();
    app.on_update(
        synced(
            vec![
                entry(5, "lineker", "messi", "a"),
                entry(6, "lineker", "messi", "b"),
                entry(7, "henderson", "messi", "c"),
            ],
            &[],
        ),
        now(),
    );
    assert_eq!(app.conversations["lineker"].unread, 2);
    assert_eq!(
        app.conversations["lineker"].ruler,
        app.conversations["lineker"].messages.first().map(|m| m.seq)
    );
    // Another terminal of messi read lineker up to 6.
    app.on_update(synced(vec![], &[("lineker", 6)]), now());
    assert_eq!(app.conversations["lineker"].unread, 0);
    assert_eq!(app.conversations["lineker"].ruler, None);
    assert_eq!(app.conversations["henderson"].unread, 1);
    // Reading henderson here moves the marker on the server.
    let effects = app.select(View::Peer("henderson".into()));
    assert!(
        jobs(&effects).contains(&Job::Read {
            peer: "henderson".into(),
            id: 7
        }),
        "{effects:?}"
    );
    assert_eq!(app.conversations["henderson"].unread, 0);
    // A message arriving while it is open is read at once.
    let effects = app.on_update(
        synced(vec![entry(8, "henderson", "messi", "d")], &[]),
        now(),
    );
    assert_eq!(
        jobs(&effects),
        [Job::Read {
            peer: "henderson".into(),
            id: 8
        }]
    );
    // Nothing new: no request.
    assert!(jobs(&app.select(View::Peer("henderson".into()))).is_empty());
}

#[test]
fn the_remembered_state_comes_back_and_is_saved_when_it_changed() {
    let mut app = App::new(display(), Some("messi".into()), None);
    app.on_update(Update::Link(crate::reconnect::LinkState::Connected), now());
    let path = std::path::PathBuf::from("/state/messi.json");
    app.on_update(
        Update::Restored {
            path: path.clone(),
            state: SavedState {
                last_id: 40,
                conversations: vec!["arini".into(), "lineker".into()],
                history: vec!["/open arini".into()],
            },
        },
        now(),
    );
    let effects = app.on_update(
        Update::LoggedIn {
            username: "messi".into(),
            display_name: None,
            live: true,
        },
        now(),
    );
    // Offline people stay in the list, and their recent messages are loaded.
    assert_eq!(
        app.entries(),
        [None, Some("arini".to_string()), Some("lineker".to_string())]
    );
    assert_eq!(
        jobs(&effects),
        [
            Job::History {
                peer: "arini".into(),
                before_id: None
            },
            Job::History {
                peer: "lineker".into(),
                before_id: None
            }
        ]
    );
    assert_eq!(app.history.lines(), ["/open arini"]);
    assert_eq!(app.save(), None, "nothing changed yet");
    app.on_update(synced(vec![entry(41, "bob", "messi", "hi")], &[]), now());
    let Some(Effect::Save(to, state)) = app.save() else {
        panic!("no save after news");
    };
    assert_eq!(to, path);
    assert_eq!(state.last_id, 41);
    assert_eq!(state.conversations, ["arini", "bob", "lineker"]);
    assert_eq!(app.save(), None, "saved once");
}

#[test]
fn scrolling_past_the_oldest_loaded_message_loads_the_page_before_it() {
    let mut app = live();
    app.select(View::Peer("lineker".into()));
    let page: Vec<_> = (100..300)
        .map(|id| chat_protocol::HistoryEntry {
            id,
            ts: "2026-11-22T01:00:00Z".into(),
            from: "lineker".into(),
            to: "messi".into(),
            msg: format!("m{id}"),
        })
        .collect();
    app.on_update(
        Update::History {
            peer: "lineker".into(),
            entries: page,
            before_id: None,
            complete: false,
        },
        now(),
    );
    app.clamp_scroll(190);
    let up = |app: &mut App| app.on_key(key(ratatui::crossterm::event::KeyCode::PageUp), now());
    assert!(jobs(&up(&mut app)).is_empty(), "not at the top yet");
    if let Some(c) = app.conversations.get_mut("lineker") {
        c.scroll = 185;
    }
    assert_eq!(
        jobs(&up(&mut app)),
        [Job::History {
            peer: "lineker".into(),
            before_id: Some(100)
        }]
    );
    assert!(jobs(&up(&mut app)).is_empty(), "asked once until it comes");
    let scroll = app.conversations["lineker"].scroll;
    let older: Vec<_> = (90..100)
        .map(|id| chat_protocol::HistoryEntry {
            id,
            ts: "2026-11-22T01:00:00Z".into(),
            from: "lineker".into(),
            to: "messi".into(),
            msg: format!("m{id}"),
        })
        .collect();
    app.on_update(
        Update::History {
            peer: "lineker".into(),
            entries: older,
            before_id: Some(100),
            complete: true,
        },
        now(),
    );
    let c = &app.conversations["lineker"];
    assert_eq!(c.messages.first().and_then(|m| m.id), Some(90));
    assert_eq!(
        c.scroll, scroll,
        "counted from the newest: the view stays put"
    );
    assert!(c.complete);
    assert!(jobs(&up(&mut app)).is_empty(), "nothing older is left");
}
