//! Render tests: the app drawn on a `TestBackend`, compared with snapshots in
//! `src/snapshots/` (`cargo insta review` after an intended change).

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

use crate::app::{App, View};
use crate::event::draw;
use crate::reconnect::LinkState;
use crate::testkit::*;
use crate::worker::Update;

fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    draw(&mut terminal, app).expect("draw");
    terminal
}

/// A session with two people, unread messages, a ruler, and our own messages.
fn busy_session() -> App {
    let mut app = logged_in();
    app.on_update(
        Update::Users {
            users: vec!["henderson".into(), "lineker".into(), "messi".into()],
            asked: false,
        },
        now(),
    );
    app.select(View::Peer("henderson".into()));
    app.on_update(
        inbox(
            "henderson",
            vec![msg("Jordan Henderson", "halo, sudah makan?", 1, 1)],
        ),
        now(),
    );
    type_text(&mut app, "sudah, kamu?");
    enter(&mut app);
    app.on_update(
        Update::Sent {
            local_id: 1,
            id: Some(2),
            ts: Some("2026-11-22T02:02:00Z".into()),
        },
        now(),
    );
    app.select(View::Peer("lineker".into()));
    app.on_update(
        inbox(
            "henderson",
            vec![
                msg(
                    "Jordan Henderson",
                    "aku juga sudah. nanti malam nonton bola bareng di tempat biasa?",
                    3,
                    3,
                ),
                msg("Jordan Henderson", "jangan lupa bawa kacang", 4, 4),
            ],
        ),
        now(),
    );
    app.on_update(
        inbox("lineker", vec![msg("Gary Lineker", "piye kabare?", 5, 5)]),
        now(),
    );
    app.select(View::Peer("henderson".into()));
    type_text(&mut app, "/msg lineker hello");
    enter(&mut app);
    app.on_update(
        Update::SendFailed {
            local_id: 2,
            reason: "recipient inbox full".into(),
        },
        now(),
    );
    type_text(&mut app, "siap, jam");
    app
}

#[test]
fn conversation_80x24() {
    let mut app = busy_session();
    insta::assert_snapshot!(render(&mut app, 80, 24).backend());
}

#[test]
fn conversation_40x12() {
    let mut app = busy_session();
    insta::assert_snapshot!(render(&mut app, 40, 12).backend());
}

#[test]
fn all_view_80x24() {
    let mut app = busy_session();
    app.select(View::All);
    app.input.reset();
    insta::assert_snapshot!(render(&mut app, 80, 24).backend());
}

/// Wide text: CJK, an emoji ZWJ sequence, a VS16 heart, in messages and input.
fn wide_session() -> App {
    let mut app = logged_in();
    app.select(View::Peer("lineker".into()));
    app.on_update(
        inbox(
            "lineker",
            vec![
                msg(
                    "Gary Lineker",
                    "漢字とかなの混ざった長いメッセージが折り返されても枠は崩れない",
                    1,
                    1,
                ),
                msg(
                    "Gary Lineker",
                    "family 👨‍👩‍👧 heart ❤️ flag 🇮🇩 ok 🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂",
                    2,
                    2,
                ),
            ],
        ),
        now(),
    );
    type_text(&mut app, "返事👨‍👩‍👧❤️ok");
    app.on_key(key(KeyCode::Left), now());
    app.on_key(key(KeyCode::Left), now());
    app
}

#[test]
fn wide_chars_80x24() {
    let mut app = wide_session();
    let mut terminal = render(&mut app, 80, 24);
    // Cursor before "ok": │ + 返事 (4) + 👨👩👧 (6) + ❤ (1) = column 1 + 11 in the box.
    let cursor = terminal.get_cursor_position().expect("cursor");
    let area = terminal.backend().buffer().area;
    assert_eq!((cursor.x, cursor.y), (12, area.height - 3));
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn wide_chars_40x12() {
    let mut app = wide_session();
    let terminal = render(&mut app, 40, 12);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn wide_chars_never_overflow_a_row_at_any_width() {
    for width in 20..=60 {
        let mut app = wide_session();
        let terminal = render(&mut app, width, 12);
        let buffer = terminal.backend().buffer();
        for y in 0..buffer.area.height {
            let row: usize = (0..width)
                .map(|x| buffer[(x, y)].symbol().chars().count().min(1))
                .sum();
            assert!(row <= width as usize, "row {y} at width {width}");
            // The right border stays in the last column of the conversation rows.
            if (1..7).contains(&y) {
                assert_eq!(
                    buffer[(width - 1, y)].symbol(),
                    "│",
                    "row {y} at width {width}"
                );
            }
        }
    }
}

#[test]
fn help_overlay_80x24() {
    let mut app = logged_in();
    app.on_key(key(KeyCode::F(1)), now());
    insta::assert_snapshot!(render(&mut app, 80, 24).backend());
}

#[test]
fn help_overlay_40x12_scrolls() {
    let mut app = logged_in();
    app.on_key(key(KeyCode::F(1)), now());
    for _ in 0..4 {
        app.on_key(key(KeyCode::Down), now());
    }
    insta::assert_snapshot!(render(&mut app, 40, 12).backend());
}

#[test]
fn login_80x24() {
    let mut app = at_login(Some("messi"));
    type_text(&mut app, "secret");
    app.on_update(
        Update::LoginRejected("invalid username or password".into()),
        now(),
    );
    type_text(&mut app, "sura");
    let mut terminal = render(&mut app, 80, 24);
    let cursor = terminal.get_cursor_position().expect("cursor");
    insta::assert_snapshot!(terminal.backend());
    assert!(
        !format!("{:?}", terminal.backend().buffer()).contains("sura"),
        "password is hidden"
    );
    assert_eq!(cursor.y, 11, "on the password row");
}

#[test]
fn login_40x12() {
    let mut app = at_login(None);
    type_text(&mut app, "lineker");
    insta::assert_snapshot!(render(&mut app, 40, 12).backend());
}

#[test]
fn reconnecting_status_80x24() {
    let mut app = busy_session();
    app.on_update(inbox("lineker", vec![]), now());
    app.on_tick(later(7));
    app.on_update(
        Update::Link(LinkState::Reconnecting {
            attempt: 3,
            delay: Duration::from_secs(1),
            reason: "connection closed by server".into(),
        }),
        now(),
    );
    app.on_key(key(KeyCode::F(2)), now());
    insta::assert_snapshot!(render(&mut app, 80, 24).backend());
}

#[test]
fn scrollback_shows_older_lines() {
    let mut app = logged_in();
    app.select(View::Peer("lineker".into()));
    let many = (1..=30)
        .map(|i| msg("G", &format!("line {i}"), i, (i % 60) as u8))
        .collect();
    app.on_update(inbox("lineker", many), now());
    let text = |t: &Terminal<TestBackend>| format!("{:?}", t.backend().buffer());
    let terminal = render(&mut app, 60, 16);
    assert!(text(&terminal).contains("line 30") && !text(&terminal).contains("line 20\""));
    app.on_key(key(KeyCode::PageUp), now());
    let terminal = render(&mut app, 60, 16);
    assert!(!text(&terminal).contains("line 30"), "scrolled up a page");
    assert!(text(&terminal).contains("line 20"));
    for _ in 0..10 {
        app.on_key(key(KeyCode::PageUp), now());
    }
    let terminal = render(&mut app, 60, 16);
    assert!(text(&terminal).contains("line 1 "), "top reached");
    app.on_key(key(KeyCode::PageDown), now());
    let terminal = render(&mut app, 60, 16);
    assert!(
        !text(&terminal).contains("line 1 "),
        "clamped at the top, so one PageDown moves"
    );
}

#[test]
fn long_people_list_keeps_the_selection_in_sight() {
    let mut app = logged_in();
    let users: Vec<String> = (0..20).map(|i| format!("user{i:02}")).collect();
    app.on_update(
        Update::Users {
            users,
            asked: false,
        },
        now(),
    );
    app.select(View::Peer("user17".into()));
    let terminal = render(&mut app, 40, 12);
    let screen = format!("{:?}", terminal.backend().buffer());
    assert!(screen.contains("›●user17"), "{screen}");
    assert!(!screen.contains("user00"), "scrolled past the top");
}

#[test]
fn a_line_with_the_date_wherever_the_day_changes_in_local_time() {
    let mut app = live();
    // UTC+7: 16:59 UTC is 23:59 on the 22nd, 17:00 UTC is 00:00 on the 23rd.
    app.display.offset = time::UtcOffset::from_hms(7, 0, 0).expect("offset");
    let at = |id: i64, ts: &str| chat_protocol::SyncEntry {
        ts: ts.into(),
        ..entry(id, "lineker", "messi", &format!("m{id}"))
    };
    app.on_update(
        Update::Synced {
            messages: vec![
                at(1, "2026-11-22T16:58:00.000Z"),
                at(2, "2026-11-22T16:59:00.000Z"),
                at(3, "2026-11-22T17:00:00.000Z"),
            ],
            read: [("lineker".to_string(), 3)].into(),
            next: 3,
        },
        now(),
    );
    app.select(View::Peer("lineker".into()));
    let terminal = render(&mut app, 60, 12);
    let rows: Vec<String> = (0..12)
        .map(|y| {
            (0..60)
                .map(|x| terminal.backend().buffer()[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect();
    let shown: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.split('│').nth(3))
        .map(|r| r.trim_end_matches(['─', ' ']))
        .filter(|r| !r.is_empty())
        .collect();
    assert_eq!(
        shown,
        [
            "── Sun, 22 Nov 2026",
            "23:58 lineker: m1",
            "23:59 lineker: m2",
            "── Mon, 23 Nov 2026",
            "00:00 lineker: m3",
        ],
        "{rows:#?}"
    );
}

#[test]
fn skin_tones_and_lone_regional_letters_get_cells_of_their_own() {
    let mut app = logged_in();
    app.select(View::Peer("lineker".into()));
    app.on_update(
        inbox("lineker", vec![msg("Gary Lineker", "👍🏽ok short🇷one", 1, 1)]),
        now(),
    );
    let terminal = render(&mut app, 60, 10);
    let buffer = terminal.backend().buffer();
    let (y, x) = (0..buffer.area.height)
        .find_map(|y| {
            (0..buffer.area.width)
                .find(|&x| buffer[(x, y)].symbol() == "👍")
                .map(|x| (y, x))
        })
        .expect("the thumb on screen");
    let cells: Vec<&str> = (x..x + 16).map(|x| buffer[(x, y)].symbol()).collect();
    // 👍 (2 cells), 🏽 (2 cells, as tmux draws it), then the text.
    assert_eq!(
        cells,
        [
            "👍", " ", "🏽", " ", "o", "k", " ", "s", "h", "o", "r", "t", "R", "o", "n", "e"
        ]
    );
}

#[test]
fn the_command_box_is_the_last_thing_a_small_terminal_drops() {
    let mut app = busy_session();
    let terminal = render(&mut app, 80, 6);
    let rows: Vec<String> = (0..6)
        .map(|y| {
            (0..80)
                .map(|x| terminal.backend().buffer()[(x, y)].symbol())
                .collect()
        })
        .collect();
    assert!(rows[2].contains("to henderson"), "{rows:#?}");
    assert!(rows[3].contains("siap, jam"), "{rows:#?}");
    assert!(rows[5].contains("connected"), "{rows:#?}");
    let cursor = render(&mut app, 80, 6)
        .get_cursor_position()
        .expect("cursor");
    assert_eq!(cursor.y, 3);
    // Below the box's rows: a notice instead of a broken screen.
    let terminal = render(&mut app, 80, 3);
    let top: String = (0..80)
        .map(|x| terminal.backend().buffer()[(x, 0)].symbol())
        .collect();
    assert!(top.starts_with("terminal too small: 80x3"), "{top}");
}

#[test]
fn each_person_has_a_colour_of_their_own() {
    let mut app = busy_session();
    app.select(View::All);
    let terminal = render(&mut app, 80, 24);
    let buffer = terminal.backend().buffer();
    let colour_of = |name: &str| {
        (0..buffer.area.height)
            .find_map(|y| {
                let row: String = (0..80).map(|x| buffer[(x, y)].symbol()).collect();
                let at = row.find(&format!("{name} →"))?;
                let x = row[..at].chars().count() as u16;
                (x > 20).then(|| buffer[(x, y)].fg)
            })
            .unwrap_or_else(|| panic!("no message from {name}"))
    };
    assert_eq!(
        colour_of("henderson"),
        crate::palette::name_color("henderson")
    );
    assert_eq!(colour_of("lineker"), crate::palette::name_color("lineker"));
    assert_ne!(colour_of("henderson"), colour_of("lineker"));
    assert_eq!(colour_of("messi"), app.display.theme.own);
}

#[test]
fn the_view_stays_still_while_reading_older_messages() {
    let mut app = logged_in();
    app.select(View::Peer("lineker".into()));
    let many: Vec<_> = (1..=30)
        .map(|i| msg("Gary Lineker", &format!("message number {i}"), i, 1))
        .collect();
    app.on_update(inbox("lineker", many), now());
    let rows_of = |t: &Terminal<TestBackend>| -> Vec<String> {
        let b = t.backend().buffer();
        (0..b.area.height)
            .map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol()).collect())
            .collect()
    };
    render(&mut app, 60, 14);
    app.on_key(key(KeyCode::PageUp), now());
    let before = rows_of(&render(&mut app, 60, 14));
    assert!(
        before.iter().any(|r| r.contains("↓ 7 newer lines")),
        "{before:#?}"
    );
    // Two new messages (1 and 3 lines) arrive while reading.
    app.on_update(
        inbox(
            "lineker",
            vec![
                msg("Gary Lineker", "new one", 31, 2),
                msg("Gary Lineker", &"long ".repeat(14), 32, 2),
            ],
        ),
        now(),
    );
    let after = rows_of(&render(&mut app, 60, 14));
    // The conversation rows are the same text; only the counter moved.
    assert_eq!(before[1..9], after[1..9]);
    assert!(
        after.iter().any(|r| r.contains("↓ 11 newer lines")),
        "{after:#?}"
    );
}
