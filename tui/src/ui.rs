//! Drawing: a pure function of the [`App`] and the frame's size.
//!
//! ```text
//! ┌people──────┐┌henderson (Jordan Henderson)──────────────┐
//! │  all       ││02:13 henderson: piye kabare?              │
//! │› henderson ││──────────── new messages ─────────────────│
//! │ ●lineker  2││02:14 henderson: halo                      │
//! └────────────┘└───────────────────────────────────────────┘
//! ┌to henderson─────────────────────────────────────────────┐
//! │hello█                                                   │
//! └─────────────────────────────────────────────────────────┘
//!  connected  messi@127.0.0.1:8889  polled 0s ago     F1 help
//! ```

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::app::{App, View};
use crate::keys::{COMMAND_HELP, KEY_HELP};
use crate::login::Field;
use crate::model::{ChatMessage, Delivery};
use crate::reconnect::LinkState;
use crate::{palette, text};

const HHMM: &[BorrowedFormatItem<'static>] = format_description!("[hour]:[minute]");

/// What the draw found out that the model needs for paging and scrolling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViewInfo {
    /// Rows of the conversation area.
    pub rows: usize,
    /// Largest useful scroll offset for the current view.
    pub max_scroll: usize,
    /// The scroll offset drawn (lines up from the newest), when a conversation was.
    pub scroll: Option<usize>,
    /// Lines of the current view, all of them, and the width they were wrapped to.
    pub lines: (usize, usize),
}

/// Rows below which the screen shows only "terminal too small": the command box
/// (3 rows) and the status line.
pub const MIN_ROWS: u16 = 4;
/// Columns below which the screen shows only "terminal too small".
pub const MIN_COLUMNS: u16 = 20;

/// Draws everything.
pub fn draw(frame: &mut Frame<'_>, app: &App) -> ViewInfo {
    let area = frame.area();
    if area.height < MIN_ROWS || area.width < MIN_COLUMNS {
        let note = format!("terminal too small: {}x{}", area.width, area.height);
        let lines = text::wrap(
            &[(note.as_str(), Style::new().bold())],
            area.width.into(),
            0,
        );
        frame.render_widget(Paragraph::new(lines), area);
        return ViewInfo::default();
    }
    // The conversation gives up rows first: the command box and the status line
    // are what the person needs to act, so they are the last things dropped.
    let [main, input, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_status(frame, app, status);
    if let Some(form) = &app.login {
        draw_login(frame, app, form, main.union(input));
        return ViewInfo::default();
    }
    let side = (area.width / 4).clamp(12, 24);
    let [people, convo] =
        Layout::horizontal([Constraint::Length(side), Constraint::Min(10)]).areas(main);
    draw_people(frame, app, people);
    let info = draw_conversation(frame, app, convo);
    draw_input(frame, app, input);
    if app.help {
        draw_help(frame, app, area);
    }
    info
}

fn border(app: &App, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::new().fg(app.display.theme.accent)
    } else {
        Style::new().dark_gray()
    };
    Block::bordered().border_style(style)
}

fn draw_people(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = border(app, false).title(" people ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let theme = app.display.theme;
    let lines: Vec<Line<'_>> = app
        .entries()
        .into_iter()
        .map(|entry| {
            let selected = match (&entry, &app.view) {
                (None, View::All) => true,
                (Some(p), View::Peer(v)) => p == v,
                _ => false,
            };
            let marker = if selected {
                Span::styled("›", Style::new().fg(theme.accent).bold())
            } else {
                Span::raw(" ")
            };
            let (dot, name) = match &entry {
                None => (" ", "all".to_string()),
                Some(p) => (if app.is_online(p) { "●" } else { " " }, p.clone()),
            };
            let unread = entry
                .as_ref()
                .and_then(|p| app.conversations.get(p))
                .map_or(0, |c| c.unread);
            let count = if unread > 0 {
                format!(" {unread}")
            } else {
                String::new()
            };
            let name_room = width.saturating_sub(2 + count.len());
            let mut name_style = match &entry {
                Some(p) => Style::new().fg(theme.peer.unwrap_or_else(|| palette::name_color(p))),
                None => Style::new(),
            };
            if selected {
                name_style = name_style.add_modifier(Modifier::BOLD | Modifier::REVERSED);
            }
            Line::from(vec![
                marker,
                Span::styled(dot, Style::new().green()),
                Span::styled(text::pad(&name, name_room), name_style),
                Span::styled(count, Style::new().fg(theme.unread).bold()),
            ])
        })
        .collect();
    // Keep the selected entry in sight when the list is taller than the column.
    let selected = match &app.view {
        View::All => 0,
        View::Peer(p) => app
            .entries()
            .iter()
            .position(|e| e.as_deref() == Some(p))
            .unwrap_or(0),
    };
    let skip = (selected + 1).saturating_sub(inner.height as usize);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
        inner,
    );
}

fn title_of(app: &App) -> String {
    match &app.view {
        View::All => " all messages ".into(),
        View::Peer(p) => {
            let online = if app.is_online(p) { " ●" } else { "" };
            format!(" {p}{online} ")
        }
    }
}

fn draw_conversation(frame: &mut Frame<'_>, app: &App, area: Rect) -> ViewInfo {
    let block = border(app, true).title(title_of(app));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let rows = inner.height as usize;
    let messages = app.visible_messages();
    if messages.is_empty() {
        let hint = match &app.view {
            View::All => "No messages yet. Tab: next person · F1: help",
            View::Peer(_) => "No messages yet: type and press Enter.",
        };
        let lines = text::wrap(&[(hint, Style::new().dark_gray())], width, 0);
        frame.render_widget(Paragraph::new(lines), inner);
        return ViewInfo {
            rows,
            max_scroll: 0,
            scroll: Some(0),
            lines: (0, width),
        };
    }
    let ruler = match &app.view {
        View::Peer(p) => app.conversations.get(p).and_then(|c| c.ruler),
        View::All => None,
    };
    let mut lines = Vec::new();
    let mut day = None;
    for m in messages {
        let date = m.at.to_offset(app.display.offset).date();
        if day != Some(date) {
            // Wherever the day changes (in the local time zone), a line with the date.
            day = Some(date);
            lines.push(day_line(app, date, width));
        }
        if ruler == Some(m.seq) {
            lines.push(ruler_line(app, width));
        }
        lines.extend(message_lines(app, m, width));
    }
    let max_scroll = lines.len().saturating_sub(rows);
    let scroll = match &app.view {
        View::All => app.all_scroll,
        View::Peer(p) => app.conversations.get(p).map_or(0, |c| c.scroll),
    };
    // Scrolled up to read: lines that arrived below since the last draw push the
    // offset up by as much, so the text being read stays where it is.
    let grown = match &app.drawn_lines {
        Some((view, w, total)) if scroll > 0 && *view == app.view && *w == width => {
            lines.len().saturating_sub(*total)
        }
        _ => 0,
    };
    let scroll = (scroll + grown).min(max_scroll);
    let total = lines.len();
    let end = lines.len() - scroll;
    let start = end.saturating_sub(rows);
    let shown: Vec<Line<'_>> = lines.drain(start..end).collect();
    frame.render_widget(Paragraph::new(shown), inner);
    if scroll > 0 {
        let tag = format!(" ↓ {scroll} newer lines ");
        let w = text::width(&tag) as u16;
        if area.width > w + 2 {
            let at = Rect::new(area.right() - w - 1, area.bottom() - 1, w, 1);
            frame.render_widget(
                Span::styled(tag, Style::new().fg(app.display.theme.accent)),
                at,
            );
        }
    }
    ViewInfo {
        rows,
        max_scroll,
        scroll: Some(scroll),
        lines: (total, width),
    }
}

const DAY: &[BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short], [day padding:none] [month repr:short] [year]");

/// `── Sun, 22 Nov 2026 ──` in the dim colour.
fn day_line(_app: &App, date: time::Date, width: usize) -> Line<'static> {
    let label = format!(" {} ", date.format(DAY).unwrap_or_default());
    let side = 2usize;
    let text = format!(
        "{}{label}{}",
        "─".repeat(side),
        "─".repeat(width.saturating_sub(side + text::width(&label)))
    );
    Line::styled(text::truncate(&text, width), Style::new().dark_gray())
}

fn ruler_line(app: &App, width: usize) -> Line<'static> {
    let label = " new messages ";
    let side = width.saturating_sub(label.len()) / 2;
    let text = format!(
        "{}{label}{}",
        "─".repeat(side),
        "─".repeat(width.saturating_sub(side + label.len()))
    );
    Line::styled(
        text::truncate(&text, width),
        Style::new().fg(app.display.theme.unread),
    )
}

fn message_lines(app: &App, m: &ChatMessage, width: usize) -> Vec<Line<'static>> {
    let theme = app.display.theme;
    let time =
        m.at.to_offset(app.display.offset)
            .format(HHMM)
            .unwrap_or_default();
    let mine = app.me.as_deref() == Some(m.from.as_str());
    let name_style = Style::new()
        .fg(if mine {
            theme.own
        } else {
            theme.peer.unwrap_or_else(|| palette::name_color(&m.from))
        })
        .bold();
    let sender = match (&app.view, mine) {
        (View::All, _) => format!("{} → {}", m.from, m.to),
        _ => m.from.clone(),
    };
    let (mark, mark_style) = match &m.delivery {
        Delivery::Pending => (" …".to_string(), Style::new().dark_gray()),
        Delivery::Failed(reason) => (
            format!(" ✗ not sent: {reason}"),
            Style::new().fg(theme.error),
        ),
        Delivery::Sent | Delivery::Received => (String::new(), Style::new()),
    };
    let time = format!("{time} ");
    let sender = format!("{sender}: ");
    text::wrap(
        &[
            (time.as_str(), Style::new().dark_gray()),
            (sender.as_str(), name_style),
            (m.text.as_str(), Style::new()),
            (mark.as_str(), mark_style),
        ],
        width,
        6,
    )
}

fn draw_input(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let target = match &app.view {
        View::Peer(p) => format!(" to {p} "),
        View::All => " command (Tab: pick a person) ".into(),
    };
    let mut block = border(app, !app.help).title(target);
    if let Some(n) = &app.notice {
        let style = if n.error {
            Style::new().fg(app.display.theme.error).bold()
        } else {
            Style::new().yellow()
        };
        let room = area.width.saturating_sub(4) as usize;
        block = block.title_bottom(
            Line::styled(
                format!(" {} ", text::truncate(&n.text, room.saturating_sub(2))),
                style,
            )
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (visible, cursor) = scrolled(app.input.value(), app.input.cursor(), inner.width as usize);
    frame.render_widget(Paragraph::new(visible), inner);
    if !app.help {
        frame.set_cursor_position(Position::new(inner.x + cursor as u16, inner.y));
    }
}

/// The part of a one-line field to show in `width` cells so that the cursor (a
/// char index) is visible, and the cursor's column in it.
fn scrolled(value: &str, cursor: usize, width: usize) -> (String, usize) {
    let byte = value
        .char_indices()
        .nth(cursor)
        .map_or(value.len(), |(i, _)| i);
    let before = text::width(&value[..byte]);
    let room = width.saturating_sub(1);
    let (rest, skipped) = skip_cells(&text::sanitize(value), before.saturating_sub(room));
    (text::truncate(&rest, width), (before - skipped).min(room))
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = app.display.theme;
    let state_style = match app.link {
        LinkState::Connected => Style::new().black().on_green(),
        LinkState::Connecting | LinkState::Reconnecting { .. } => Style::new().black().on_yellow(),
        LinkState::Error(_) => Style::new().white().bg(theme.error),
        LinkState::Idle => Style::new().black().on_gray(),
    };
    let user = app.me.as_deref().unwrap_or("-");
    let age = match app.poll_age {
        _ if app.live => "live".to_string(),
        Some(s) => format!("polled {s}s ago"),
        None => "not polled yet".into(),
    };
    let mut right = String::from("F1 help ");
    if !app.mouse_captured {
        right = format!("mouse released (F2) {right}");
    }
    let state = Span::styled(format!(" {} ", app.link.label()), state_style);
    let full = format!(" {user}@{} ", app.display.addr);
    let short = format!(" {user} ");
    let width = area.width as usize;
    let fits = |who: &str| text::width(&state.content) + text::width(who) + age.len() + 3 <= width;
    let who = if fits(&full) { full } else { short };
    let left = vec![
        state,
        Span::raw(who),
        Span::styled(format!("· {age} "), Style::new().dark_gray()),
    ];
    let left_w: usize = left.iter().map(|s| text::width(&s.content)).sum();
    let mut spans = left;
    if left_w + right.len() < width {
        spans.push(Span::raw(" ".repeat(width - left_w - right.len())));
        spans.push(Span::styled(right, Style::new().fg(theme.accent)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_login(frame: &mut Frame<'_>, app: &App, form: &crate::login::LoginForm, area: Rect) {
    let w = area.width.min(50);
    let h = area.height.min(9);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let block = border(app, true)
        .title(" log in ")
        .title_alignment(Alignment::Center);
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let label_w = 10usize;
    let field_w = (inner.width as usize).saturating_sub(label_w + 1).max(1);
    let masked = "•".repeat(form.password.value().chars().count());
    let (user_shown, user_cursor) =
        scrolled(form.username.value(), form.username.cursor(), field_w);
    let (pass_shown, pass_cursor) = scrolled(&masked, form.password.cursor(), field_w);
    let field = |label: &str, shown: &str, focused: bool| {
        let style = if focused {
            Style::new().underlined()
        } else {
            Style::new()
        };
        Line::from(vec![
            Span::raw(text::pad(label, label_w)),
            Span::styled(text::pad(shown, field_w), style),
        ])
    };
    let mut lines = vec![
        Line::styled(
            format!("server {}", app.display.addr),
            Style::new().dark_gray(),
        ),
        Line::default(),
        field("username", &user_shown, form.focus == Field::Username),
        field("password", &pass_shown, form.focus == Field::Password),
        Line::default(),
    ];
    match (&form.error, form.busy) {
        (Some(e), _) => lines.push(Line::styled(
            e.clone(),
            Style::new().fg(app.display.theme.error),
        )),
        (None, true) => lines.push(Line::styled("logging in…", Style::new().yellow())),
        (None, false) => lines.push(Line::styled(
            "Enter: next / log in · Esc: quit",
            Style::new().dark_gray(),
        )),
    }
    let cursor = match form.focus {
        Field::Username => user_cursor,
        Field::Password => pass_cursor,
    };
    let row = if form.focus == Field::Username { 2 } else { 3 };
    frame.render_widget(Paragraph::new(lines), inner);
    let x = inner.x + (label_w + cursor) as u16;
    if inner.height > row {
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            inner.y + row,
        ));
    }
}

/// `s` without at least its first `cells` cells (never half a wide cluster), and
/// how many cells were dropped.
fn skip_cells(s: &str, cells: usize) -> (String, usize) {
    use unicode_segmentation::UnicodeSegmentation;
    let mut skipped = 0;
    let mut out = String::new();
    for g in s.graphemes(true) {
        if skipped < cells {
            skipped += text::width(g);
        } else {
            out.push_str(g);
        }
    }
    (out, skipped)
}

fn draw_help(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let w = area.width.saturating_sub(4).min(76);
    let h = area
        .height
        .saturating_sub(2)
        .min((KEY_HELP.len() + COMMAND_HELP.len() + 5) as u16);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let block = border(app, true).title(" help · Esc closes ");
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let longest = KEY_HELP
        .iter()
        .chain(COMMAND_HELP)
        .map(|(k, _)| text::width(k))
        .max()
        .unwrap_or(0);
    let width = inner.width as usize;
    let key_w = (longest + 2).min(width / 2);
    let heading =
        |t: &'static str| Line::styled(t, Style::new().fg(app.display.theme.accent).bold());
    let row = |(k, d): &(&str, &str)| {
        let key = text::pad(k, key_w.saturating_sub(1)) + " ";
        text::wrap(
            &[(key.as_str(), Style::new().bold()), (d, Style::new())],
            width,
            key_w,
        )
    };
    let mut lines = vec![heading("Keys")];
    lines.extend(KEY_HELP.iter().flat_map(row));
    lines.push(Line::default());
    lines.push(heading("Commands"));
    lines.extend(COMMAND_HELP.iter().flat_map(row));
    let max = lines.len().saturating_sub(inner.height as usize);
    let skip = app.help_scroll.min(max);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
        inner,
    );
    if max > 0 {
        let tag = " ↑↓ more ";
        let at = Rect::new(rect.right().saturating_sub(10), rect.bottom() - 1, 9, 1);
        frame.render_widget(
            Span::styled(tag, Style::new().fg(app.display.theme.accent)),
            at,
        );
    }
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;
