//! Model tests: keys, commands, unread counting, worker updates, all without I/O.

use ratatui::crossterm::event::{KeyCode, KeyModifiers};

use super::*;
use crate::model::Delivery;
use crate::testkit::*;
use crate::worker::Credentials;

fn jobs(effects: &[Effect]) -> Vec<&Job> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Job(j) => Some(j),
            _ => None,
        })
        .collect()
}

#[test]
fn message_in_hidden_conversation_counts_unread_and_rings() {
    let mut app = logged_in();
    app.select(View::Peer("henderson".into()));
    let fx = app.on_update(
        inbox(
            "lineker",
            vec![msg("Gary Lineker", " piye kabare?\r\n", 1, 10)],
        ),
        now(),
    );
    assert_eq!(fx, vec![Effect::Bell]);
    let c = &app.conversations["lineker"];
    assert_eq!(c.unread, 1);
    assert_eq!(c.messages[0].text, "piye kabare?", "course spacing trimmed");
    assert_eq!(c.messages[0].from, "lineker");
    // A message in the open conversation is read at once, silently.
    let fx = app.on_update(
        inbox("henderson", vec![msg("Jordan Henderson", "hi", 2, 11)]),
        now(),
    );
    assert!(fx.is_empty());
    assert_eq!(app.conversations["henderson"].unread, 0);
}

#[test]
fn no_bell_when_disabled_or_seen_in_all_view() {
    let mut app = logged_in();
    // The "all" view shows every message: nothing hidden.
    assert!(
        app.on_update(inbox("lineker", vec![msg("G", "a", 1, 1)]), now())
            .is_empty()
    );
    app.select(View::Peer("henderson".into()));
    app.display.bell = false;
    assert!(
        app.on_update(inbox("lineker", vec![msg("G", "b", 2, 2)]), now())
            .is_empty()
    );
    assert_eq!(app.conversations["lineker"].unread, 1);
}

#[test]
fn alt_a_jumps_to_next_unread_and_keeps_the_ruler() {
    let mut app = logged_in();
    app.select(View::Peer("henderson".into()));
    app.on_update(
        inbox(
            "lineker",
            vec![msg("G", "one", 1, 1), msg("G", "two", 2, 2)],
        ),
        now(),
    );
    let first_seq = app.conversations["lineker"].messages[0].seq;
    let fx = app.on_key(mkey(KeyCode::Char('a'), KeyModifiers::ALT), now());
    assert_eq!(app.view, View::Peer("lineker".into()));
    assert_eq!(
        jobs(&fx),
        vec![&Job::History {
            peer: "lineker".into(),
            before_id: None,
        }]
    );
    let c = &app.conversations["lineker"];
    assert_eq!((c.unread, c.ruler), (0, Some(first_seq)));
    // Nothing unread left: Alt-A stays and says so.
    app.on_key(mkey(KeyCode::Char('a'), KeyModifiers::ALT), now());
    assert_eq!(app.view, View::Peer("lineker".into()));
    assert_eq!(
        app.notice.as_ref().map(|n| n.text.as_str()),
        Some("no unread messages")
    );
    // Leaving removes the ruler.
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.conversations["lineker"].ruler, None);
}

#[test]
fn tab_cycles_through_all_and_people() {
    let mut app = logged_in();
    app.on_update(
        Update::Users {
            users: vec!["messi".into(), "lineker".into(), "henderson".into()],
            asked: false,
        },
        now(),
    );
    assert_eq!(
        app.entries(),
        vec![None, Some("henderson".into()), Some("lineker".into())]
    );
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.view, View::Peer("henderson".into()));
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.view, View::Peer("lineker".into()));
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.view, View::All);
    app.on_key(key(KeyCode::BackTab), now());
    assert_eq!(app.view, View::Peer("lineker".into()));
    app.on_key(mkey(KeyCode::Char('p'), KeyModifiers::CONTROL), now());
    assert_eq!(app.view, View::Peer("henderson".into()));
}

#[test]
fn history_is_asked_once_per_conversation_and_not_when_unsupported() {
    let mut app = logged_in();
    assert_eq!(jobs(&app.select(View::Peer("lineker".into()))).len(), 1);
    app.select(View::All);
    assert!(app.select(View::Peer("lineker".into())).is_empty());
    app.on_update(
        Update::HistoryUnsupported("unknown command: history".into()),
        now(),
    );
    assert!(app.select(View::Peer("henderson".into())).is_empty());
}

#[test]
fn plain_text_goes_to_the_selected_person_echoed_at_once() {
    let mut app = logged_in();
    app.select(View::Peer("lineker".into()));
    type_text(&mut app, "halo 🙂");
    let fx = enter(&mut app);
    assert_eq!(
        jobs(&fx),
        vec![&Job::Send {
            local_id: 1,
            to: "lineker".into(),
            text: "halo 🙂".into()
        }]
    );
    assert_eq!(app.input.value(), "");
    let m = &app.conversations["lineker"].messages[0];
    assert_eq!(
        (m.from.as_str(), m.delivery.clone()),
        ("messi", Delivery::Pending)
    );
    app.on_update(
        Update::Sent {
            local_id: 1,
            id: Some(9),
            ts: Some("2026-11-22T02:20:00Z".into()),
        },
        now(),
    );
    let m = &app.conversations["lineker"].messages[0];
    assert_eq!((m.id, m.delivery.clone()), (Some(9), Delivery::Sent));
    // The drained copy of our own message (sent to ourselves) would not duplicate it.
    assert!(app.conversations["lineker"].has_id(9));
}

#[test]
fn conversation_opened_while_connecting_loads_history_once_logged_in() {
    let mut app = App::new(display(), Some("messi".into()), None);
    assert!(
        app.select(View::Peer("lineker".into())).is_empty(),
        "not connected yet"
    );
    app.on_update(Update::Link(LinkState::Connected), now());
    let fx = app.on_update(
        Update::LoggedIn {
            username: "messi".into(),
            display_name: None,
            live: false,
        },
        now(),
    );
    assert_eq!(
        jobs(&fx),
        vec![&Job::History {
            peer: "lineker".into(),
            before_id: None,
        }]
    );
}

#[test]
fn plain_text_in_all_view_is_refused_and_kept() {
    let mut app = logged_in();
    type_text(&mut app, "hello");
    assert!(enter(&mut app).is_empty());
    assert_eq!(app.input.value(), "hello");
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
}

#[test]
fn only_slash_lines_are_commands_and_course_words_get_one_hint() {
    let mut app = logged_in();
    app.select(View::Peer("henderson".into()));
    // A course word at the start: a hint, nothing sent, the line kept.
    type_text(&mut app, "chat lineker is late again, typical");
    assert!(jobs(&enter(&mut app)).is_empty());
    assert_eq!(app.input.value(), "chat lineker is late again, typical");
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("/msg USER TEXT")),
        "{:?}",
        app.notice
    );
    // Enter again: it is text for the open conversation, henderson's.
    assert_eq!(
        jobs(&enter(&mut app)),
        vec![&Job::Send {
            local_id: 1,
            to: "henderson".into(),
            text: "chat lineker is late again, typical".into()
        }]
    );
    // The hint is shown once: later course words are plain text at once.
    for (n, line) in ["send me the photos", "inbox", "logout", "?why not"]
        .into_iter()
        .enumerate()
    {
        type_text(&mut app, line);
        assert_eq!(
            jobs(&enter(&mut app)),
            vec![&Job::Send {
                local_id: 2 + n as u64,
                to: "henderson".into(),
                text: line.into()
            }],
            "{line}"
        );
    }
    assert!(!app.help, "? is text");
    assert!(!app.quitting, "logout is text");
    assert!(!app.conversations.contains_key("me"));
    assert!(!app.conversations.contains_key("lineker"));
    type_text(&mut app, "/msg lineker yo");
    assert_eq!(
        jobs(&enter(&mut app)),
        vec![&Job::Send {
            local_id: 6,
            to: "lineker".into(),
            text: "yo".into()
        }]
    );
    type_text(&mut app, "/inbox");
    assert_eq!(jobs(&enter(&mut app)), vec![&Job::PollNow]);
    type_text(&mut app, "/who");
    assert_eq!(jobs(&enter(&mut app)), vec![&Job::Users]);
    type_text(&mut app, "//etc is a path");
    assert_eq!(
        jobs(&enter(&mut app)),
        vec![&Job::Send {
            local_id: 7,
            to: "henderson".into(),
            text: "/etc is a path".into()
        }]
    );
    type_text(&mut app, "/bogus");
    assert!(enter(&mut app).is_empty());
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("/bogus"))
    );
    app.on_key(key(KeyCode::Esc), now());
    type_text(&mut app, "/quit");
    assert_eq!(jobs(&enter(&mut app)), vec![&Job::Logout]);
    assert!(app.quitting);
}

#[test]
fn a_refused_open_or_msg_leaves_no_trace_but_its_error() {
    let mut app = logged_in();
    app.on_update(
        Update::Users {
            users: vec!["messi".into(), "henderson".into()],
            asked: false,
        },
        now(),
    );
    app.select(View::Peer("henderson".into()));
    let before = app.entries();
    type_text(&mut app, "/open nosuchuser");
    let fx = enter(&mut app);
    assert_eq!(
        jobs(&fx),
        vec![&Job::History {
            peer: "nosuchuser".into(),
            before_id: None,
        }]
    );
    app.on_update(
        Update::HistoryFailed {
            peer: "nosuchuser".into(),
            reason: "unknown user: nosuchuser".into(),
        },
        now(),
    );
    assert_eq!(app.entries(), before, "no list entry for an unknown user");
    assert_eq!(
        app.view,
        View::Peer("henderson".into()),
        "back where we were"
    );
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("unknown user"))
    );
    // History stays on: the next conversation still loads it.
    assert!(app.history_supported);
    assert_eq!(
        jobs(&app.select(View::Peer("lineker".into()))),
        vec![&Job::History {
            peer: "lineker".into(),
            before_id: None,
        }]
    );
    // A /msg to an unknown user: the echo goes, and the entry with it.
    app.select(View::Peer("henderson".into()));
    type_text(&mut app, "/msg me the photos");
    let fx = enter(&mut app);
    let Some(Job::Send { local_id, .. }) = jobs(&fx).first().copied().cloned() else {
        panic!("no send: {fx:?}");
    };
    app.on_update(
        Update::SendFailed {
            local_id,
            reason: "unknown recipient: me".into(),
        },
        now(),
    );
    assert!(!app.conversations.contains_key("me"));
    assert!(!app.entries().contains(&Some("me".into())));
    // A known conversation with a failed message keeps it (marked).
    type_text(&mut app, "oops");
    let fx = enter(&mut app);
    let Some(Job::Send { local_id, .. }) = jobs(&fx).first().copied().cloned() else {
        panic!("no send: {fx:?}");
    };
    app.on_update(
        Update::SendFailed {
            local_id,
            reason: "storage unavailable".into(),
        },
        now(),
    );
    assert!(app.conversations.contains_key("henderson"));
}

#[test]
fn close_removes_a_conversation() {
    let mut app = logged_in();
    app.on_update(inbox("lineker", vec![msg("G", "a", 1, 1)]), now());
    app.select(View::Peer("lineker".into()));
    type_text(&mut app, "/close");
    enter(&mut app);
    assert!(!app.conversations.contains_key("lineker"));
    assert_eq!(app.view, View::All);
    assert_eq!(app.entries(), vec![None]);
    type_text(&mut app, "/close bob");
    enter(&mut app);
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
}

#[test]
fn send_failure_is_marked_and_shown() {
    let mut app = logged_in();
    type_text(&mut app, "/msg nobody hi");
    enter(&mut app);
    app.on_update(
        Update::SendFailed {
            local_id: 1,
            reason: "unknown recipient".into(),
        },
        now(),
    );
    // The conversation existed only for this message: it goes with it.
    assert!(!app.conversations.contains_key("nobody"));
    type_text(&mut app, "/msg lineker hi");
    enter(&mut app);
    app.on_update(
        Update::Sent {
            local_id: 2,
            id: Some(9),
            ts: None,
        },
        now(),
    );
    type_text(&mut app, "/msg lineker again");
    enter(&mut app);
    app.on_update(
        Update::SendFailed {
            local_id: 3,
            reason: "recipient inbox full".into(),
        },
        now(),
    );
    let m = &app.conversations["lineker"].messages[1];
    assert_eq!(m.delivery, Delivery::Failed("recipient inbox full".into()));
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("recipient inbox full"))
    );
}

#[test]
fn input_history_with_up_and_down() {
    let mut app = logged_in();
    for line in ["/msg a one", "/msg a two"] {
        type_text(&mut app, line);
        enter(&mut app);
    }
    type_text(&mut app, "draft");
    app.on_key(key(KeyCode::Up), now());
    assert_eq!(app.input.value(), "/msg a two");
    app.on_key(key(KeyCode::Up), now());
    assert_eq!(app.input.value(), "/msg a one");
    app.on_key(key(KeyCode::Down), now());
    app.on_key(key(KeyCode::Down), now());
    assert_eq!(app.input.value(), "draft");
}

#[test]
fn tab_completes_usernames_when_typing() {
    let mut app = logged_in();
    app.on_update(
        Update::Users {
            users: vec!["henderson".into(), "lineker".into(), "linda".into()],
            asked: false,
        },
        now(),
    );
    type_text(&mut app, "/msg he");
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.input.value(), "/msg henderson ");
    assert_eq!(app.view, View::All, "Tab completed instead of switching");
    app.input.reset();
    type_text(&mut app, "/msg li");
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.input.value(), "/msg lin");
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("linda, lineker"))
    );
    type_text(&mut app, "e");
    app.on_key(key(KeyCode::Tab), now());
    assert_eq!(app.input.value(), "/msg lineker ");
    assert_eq!(app.input.cursor(), "/msg lineker ".len());
}

#[test]
fn f1_opens_help_and_esc_closes() {
    let mut app = logged_in();
    type_text(&mut app, "?");
    assert!(!app.help);
    assert_eq!(app.input.value(), "?");
    app.on_key(key(KeyCode::F(1)), now());
    assert!(app.help);
    app.on_key(key(KeyCode::Esc), now());
    assert!(!app.help);
}

#[test]
fn mouse_toggle_and_wheel_and_paging() {
    let mut app = logged_in();
    assert_eq!(
        app.on_key(key(KeyCode::F(2)), now()),
        vec![Effect::MouseCapture(false)]
    );
    assert_eq!(
        app.on_key(mkey(KeyCode::Char('s'), KeyModifiers::CONTROL), now()),
        vec![Effect::MouseCapture(true)]
    );
    app.page_rows = 10;
    app.on_key(key(KeyCode::PageUp), now());
    assert_eq!(app.all_scroll, 9);
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 0,
        row: 0,
        modifiers: KeyModifiers::NONE,
    };
    app.on_mouse(wheel);
    assert_eq!(app.all_scroll, 6);
    app.clamp_scroll(2);
    assert_eq!(app.all_scroll, 2);
    app.on_key(key(KeyCode::End), now());
    assert_eq!(app.all_scroll, 0);
}

#[test]
fn user_list_falls_back_to_conversations() {
    let mut app = logged_in();
    app.on_update(inbox("lineker", vec![msg("G", "hi", 1, 1)]), now());
    app.on_update(Update::UsersUnsupported("unknown command".into()), now());
    assert!(!app.users_supported);
    assert_eq!(app.entries(), vec![None, Some("lineker".into())]);
}

#[test]
fn history_merges_into_the_conversation() {
    let mut app = logged_in();
    app.on_update(inbox("lineker", vec![msg("G", "new", 5, 5)]), now());
    let entry = |id: i64, from: &str, to: &str| chat_protocol::HistoryEntry {
        id,
        ts: "2026-11-22T01:00:00Z".into(),
        from: from.into(),
        to: to.into(),
        msg: format!("h{id}"),
    };
    app.on_update(
        Update::History {
            peer: "lineker".into(),
            entries: vec![
                entry(3, "messi", "lineker"),
                entry(4, "lineker", "messi"),
                entry(5, "lineker", "messi"),
            ],
            before_id: None,
            complete: true,
        },
        now(),
    );
    let texts: Vec<_> = app.conversations["lineker"]
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["h3", "h4", "new"]);
}

#[test]
fn quit_logs_out_then_leaves() {
    let mut app = logged_in();
    let fx = app.on_key(mkey(KeyCode::Char('c'), KeyModifiers::CONTROL), now());
    assert_eq!(fx, vec![Effect::Job(Job::Logout)]);
    assert_eq!(app.on_update(Update::Stopped, now()), vec![Effect::Quit]);
    // A second Ctrl-C does not wait for the logout.
    assert_eq!(
        app.on_key(mkey(KeyCode::Char('c'), KeyModifiers::CONTROL), now()),
        vec![Effect::Quit]
    );
}

#[test]
fn login_form_flow() {
    let mut app = at_login(None);
    assert_eq!(app.screen(), Screen::Login);
    type_text(&mut app, "messi");
    assert!(enter(&mut app).is_empty());
    type_text(&mut app, "wrong");
    let creds = Credentials {
        username: "messi".into(),
        password: "wrong".into(),
    };
    assert_eq!(enter(&mut app), vec![Effect::Job(Job::Login(creds))]);
    app.on_update(
        Update::LoginRejected("invalid username or password".into()),
        now(),
    );
    let form = app.login.as_ref().expect("form stays up");
    assert_eq!(form.error.as_deref(), Some("invalid username or password"));
    assert_eq!(form.password.value(), "");
    type_text(&mut app, "surabaya");
    assert_eq!(jobs(&enter(&mut app)).len(), 1);
    app.on_update(
        Update::LoggedIn {
            username: "messi".into(),
            display_name: None,
            live: false,
        },
        now(),
    );
    assert!(app.login.is_none());
    assert_eq!(app.screen(), Screen::Chat);
}

#[test]
fn rejected_given_credentials_open_the_form() {
    let mut app = App::new(display(), Some("messi".into()), None);
    app.on_update(Update::LoginRejected("bad password".into()), now());
    let form = app.login.as_ref().expect("form");
    assert_eq!(form.username.value(), "messi");
}

#[test]
fn poll_age_changes_once_a_second() {
    let mut app = logged_in();
    assert_eq!(app.poll_age, None);
    app.on_update(inbox("lineker", vec![]), now());
    assert_eq!(app.poll_age, Some(0));
    assert!(!app.on_tick(now()));
    assert!(app.on_tick(later(3)));
    assert_eq!(app.poll_age, Some(3));
    assert!(!app.on_tick(later(3)));
}

#[test]
fn paste_goes_into_the_box_without_newlines() {
    let mut app = logged_in();
    app.on_paste("one\ntwo");
    assert_eq!(app.input.value(), "one two");
}

#[test]
fn link_error_shows_in_the_status_line() {
    let mut app = logged_in();
    app.on_update(
        Update::Link(LinkState::Error("connection refused".into())),
        now(),
    );
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    app.on_update(Update::Link(LinkState::Connected), now());
    assert!(app.notice.is_none(), "error cleared once connected again");
}

#[test]
fn cursor_keys_and_deletes_step_over_whole_clusters() {
    let mut app = logged_in();
    type_text(&mut app, "a👍🏽b🇮🇩");
    // 👍🏽 and 🇮🇩 are two chars each.
    assert_eq!(app.input.cursor(), 6);
    app.on_key(key(KeyCode::Left), now());
    assert_eq!(app.input.cursor(), 4, "before the flag, not inside it");
    app.on_key(key(KeyCode::Left), now());
    app.on_key(key(KeyCode::Left), now());
    assert_eq!(app.input.cursor(), 1, "before the thumb and its skin tone");
    app.on_key(key(KeyCode::Right), now());
    assert_eq!(app.input.cursor(), 3);
    app.on_key(key(KeyCode::Backspace), now());
    assert_eq!(
        app.input.value(),
        "ab🇮🇩",
        "the skin tone went with its emoji"
    );
    app.on_key(key(KeyCode::Right), now());
    app.on_key(key(KeyCode::Delete), now());
    assert_eq!(app.input.value(), "ab");
    app.on_key(key(KeyCode::Home), now());
    app.on_key(key(KeyCode::Left), now());
    app.on_key(key(KeyCode::Backspace), now());
    assert_eq!((app.input.value(), app.input.cursor()), ("ab", 0));
}

#[test]
fn notices_are_replaced_by_newer_results_and_expire() {
    let mut app = logged_in();
    app.select(View::Peer("henderson".into()));
    type_text(&mut app, "/msg");
    enter(&mut app);
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("usage:"))
    );
    app.input.reset();
    type_text(&mut app, "halo");
    enter(&mut app);
    assert_eq!(app.notice, None, "a new line replaces the old usage error");
    type_text(&mut app, "/msg");
    enter(&mut app);
    app.on_update(
        Update::Sent {
            local_id: 1,
            id: Some(1),
            ts: None,
        },
        now(),
    );
    assert_eq!(app.notice, None, "a successful send clears an old error");
    // Any notice goes NOTICE_TTL after it was first shown.
    app.on_update(Update::Error("storage unavailable".into()), now());
    assert!(!app.on_tick(later(1)));
    assert!(app.notice.is_some());
    assert!(app.on_tick(later(1 + NOTICE_TTL.as_secs())));
    assert_eq!(app.notice, None);
}

#[test]
fn a_failing_connection_says_why() {
    let mut app = logged_in();
    app.on_update(
        Update::Link(LinkState::Reconnecting {
            attempt: 1,
            delay: std::time::Duration::from_millis(250),
            reason: "connecting to 127.0.0.1:1: connection refused".into(),
        }),
        now(),
    );
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("connection refused")),
        "{:?}",
        app.notice
    );
}

#[test]
fn tab_again_cycles_through_the_matches_and_commands_complete() {
    let mut app = logged_in();
    app.on_update(
        Update::Users {
            users: vec!["lineker".into(), "linda".into()],
            asked: false,
        },
        now(),
    );
    type_text(&mut app, "/msg li");
    let tab = |app: &mut App| {
        app.on_key(key(KeyCode::Tab), now());
        app.input.value().to_string()
    };
    assert_eq!(tab(&mut app), "/msg lin");
    assert_eq!(tab(&mut app), "/msg linda");
    assert_eq!(tab(&mut app), "/msg lineker");
    assert_eq!(tab(&mut app), "/msg linda");
    // Any other key ends the cycle.
    type_text(&mut app, " ");
    assert_eq!(tab(&mut app), "/msg linda ");
    app.input.reset();
    type_text(&mut app, "/ms");
    assert_eq!(tab(&mut app), "/msg ");
    app.input.reset();
    type_text(&mut app, "/c");
    assert_eq!(tab(&mut app), "/close ");
    app.input.reset();
    // A slash word later in the line is not a command.
    type_text(&mut app, "hi /ms");
    assert_eq!(tab(&mut app), "hi /ms");
}

#[test]
fn alt_b_and_alt_f_move_by_word() {
    let mut app = logged_in();
    type_text(&mut app, "one two three");
    app.on_key(mkey(KeyCode::Char('b'), KeyModifiers::ALT), now());
    assert_eq!(app.input.cursor(), 8);
    app.on_key(mkey(KeyCode::Char('b'), KeyModifiers::ALT), now());
    assert_eq!(app.input.cursor(), 4);
    app.on_key(mkey(KeyCode::Char('f'), KeyModifiers::ALT), now());
    assert_eq!(app.input.cursor(), 8);
    app.on_key(mkey(KeyCode::Char('d'), KeyModifiers::ALT), now());
    assert_eq!(app.input.value(), "one two ");
}
