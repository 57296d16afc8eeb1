//! Text measured in terminal cells: widths, truncation and word wrapping.
//!
//! Everything steps over grapheme clusters (`unicode-segmentation`) and measures each
//! cluster with `unicode-width`, the way ratatui's buffer does, so CJK takes two
//! cells, a letter with combining marks one; nothing here splits a cluster or lets a
//! line grow past its width.
//!
//! A cluster must take as many cells on screen as the model gives it, or borders
//! and the text after it move (stray glyphs until Ctrl-L, or a character that
//! vanishes when the cell after it is redrawn). Terminals agree on single code
//! points but not on some sequences; measured in tmux 3.3a (cursor column after
//! printing each):
//!
//! ```text
//! 👍🏽 (thumbs up + skin tone)  4 cells, unicode-width says 2 -> 🏽 was overwritten
//! 👨‍👩‍👧 (ZWJ family)           2 cells here, 6 in xterm and the Linux console
//! ❤️ (heart + VS16)           1 cell, unicode-width says 2
//! 🇷 (lone regional letter)   1 cell, but fonts draw it two cells wide
//! 🇷🇴 (flag), 漢, é, שלום      2, 2, 1, 4: everyone agrees
//! ```
//!
//! So text is shown through [`sanitize`], which turns every cluster into units that
//! all terminals draw alike: U+200D and U+FE0F are dropped (the family shows as its
//! three people), a skin-tone modifier becomes its own two-cell unit after its emoji
//! (a zero-width space between them ends the cluster, and ratatui draws each unit
//! after an explicit cursor move), a lone regional indicator shows as its letter,
//! and bidirectional controls (which could reverse the rest of a line) are dropped.
//! Messages are still sent and stored exactly as typed.

use std::borrow::Cow;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Ends a grapheme cluster without taking a cell (U+200B ZERO WIDTH SPACE).
const CLUSTER_BREAK: char = '\u{200b}';

fn is_dropped(c: char) -> bool {
    matches!(c, '\u{200d}' | '\u{fe0f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn is_skin_tone(c: char) -> bool {
    matches!(c, '\u{1f3fb}'..='\u{1f3ff}')
}

fn regional_letter(c: char) -> Option<char> {
    let n = u32::from(c).checked_sub(0x1f1e6)?;
    (n < 26).then(|| char::from(b'A' + n as u8))
}

fn needs_care(c: char) -> bool {
    is_dropped(c) || is_skin_tone(c) || regional_letter(c).is_some()
}

/// `s` as units every terminal draws alike (see the module doc).
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_care) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for g in s.graphemes(true) {
        let mut chars = g.chars().filter(|c| !is_dropped(*c));
        let first = chars.next();
        if let (Some(c), None) = (first, g.chars().filter(|c| !is_dropped(*c)).nth(1))
            && let Some(letter) = regional_letter(c)
        {
            out.push(letter);
            continue;
        }
        for c in first.into_iter().chain(chars) {
            if is_skin_tone(c) && !out.is_empty() {
                out.push(CLUSTER_BREAK);
            }
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Cells taken by `s` once sanitized.
pub fn width(s: &str) -> usize {
    sanitize(s)
        .graphemes(true)
        .map(UnicodeWidthStr::width)
        .sum()
}

/// The longest prefix of `s` that fits in `max` cells; an ellipsis marks the cut.
pub fn truncate(s: &str, max: usize) -> String {
    let s = sanitize(s);
    if width(&s) <= max {
        return s.into_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = UnicodeWidthStr::width(g);
        if used + w > max - 1 {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out.push('…');
    out
}

/// `s` padded with spaces to `cells` cells (truncated first if longer).
pub fn pad(s: &str, cells: usize) -> String {
    let mut out = truncate(s, cells);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(w)));
    out
}

/// One cluster with its style and width.
struct Cell<'a> {
    text: &'a str,
    style: Style,
    width: usize,
}

/// Wraps styled pieces into lines of at most `width` cells, breaking after spaces
/// when it can and inside a word only when one word is longer than a line.
/// Continuation lines start with `indent` spaces. Control characters show as `�`
/// would break the layout, so they are dropped.
pub fn wrap(pieces: &[(&str, Style)], width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent * 2 > width { 0 } else { indent };
    let clean: Vec<(Cow<'_, str>, Style)> = pieces.iter().map(|(t, s)| (sanitize(t), *s)).collect();
    let cells: Vec<Cell<'_>> = clean
        .iter()
        .flat_map(|(text, style)| {
            text.graphemes(true)
                .filter(|g| !g.chars().any(char::is_control))
                .map(|g| Cell {
                    text: g,
                    style: *style,
                    width: UnicodeWidthStr::width(g),
                })
        })
        .collect();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut first = true;
    while start < cells.len() {
        let room = if first { width } else { width - indent };
        let (end, next) = split_point(&cells[start..], room, width - indent);
        let mut spans = Vec::new();
        if !first && indent > 0 {
            spans.push(Span::raw(" ".repeat(indent)));
        }
        spans.extend(to_spans(&cells[start..start + end]));
        lines.push(Line::from(spans));
        start += next;
        first = false;
    }
    if lines.is_empty() {
        lines.push(Line::default());
    }
    lines
}

/// How many cells go on this line, and where the next line starts. A word that
/// would not fit on the next line either (CJK text has no spaces) is cut here
/// rather than moved down.
fn split_point(cells: &[Cell<'_>], room: usize, next_room: usize) -> (usize, usize) {
    let mut used = 0;
    let mut last_space = None;
    for (i, c) in cells.iter().enumerate() {
        if used + c.width > room {
            if c.text == " " {
                return (i, skip_spaces(cells, i));
            }
            let word_fits_next = |s: usize| {
                let word: usize = cells[s + 1..]
                    .iter()
                    .take_while(|c| c.text != " ")
                    .map(|c| c.width)
                    .sum();
                word <= next_room
            };
            return match last_space {
                Some(s) if s > 0 && word_fits_next(s) => (s, skip_spaces(cells, s)),
                // A cluster wider than the room (a wide char in a 1-cell line) still
                // takes a line of its own, or the loop would never advance.
                _ if i == 0 => (1, 1),
                _ => (i, i),
            };
        }
        if c.text == " " {
            last_space = Some(i);
        }
        used += c.width;
    }
    (cells.len(), cells.len())
}

fn skip_spaces(cells: &[Cell<'_>], mut i: usize) -> usize {
    while i < cells.len() && cells[i].text == " " {
        i += 1;
    }
    i
}

/// Joins runs of equally styled clusters into spans.
fn to_spans(cells: &[Cell<'_>]) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for c in cells {
        if style.is_some_and(|s| s != c.style) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                style.unwrap_or_default(),
            ));
        }
        style = Some(c.style);
        text.push_str(c.text);
    }
    if let Some(style) = style {
        spans.push(Span::styled(text, style));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn widths_of_wide_clusters() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("漢字"), 4);
        // Shown as the terminal will draw it: the ZWJ family as three emoji, the VS16
        // heart as a one-cell heart.
        assert_eq!(width("👨‍👩‍👧"), 6);
        assert_eq!(width("❤️"), 1);
        assert_eq!(sanitize("a👨‍👩‍👧❤️"), "a👨👩👧❤");
        assert!(matches!(sanitize("plain 漢字"), Cow::Borrowed(_)));
    }

    /// Fixtures: each shown form and its cells, as tmux 3.3a draws the shown form.
    #[test]
    fn every_cluster_becomes_units_terminals_agree_on() {
        let table: &[(&str, &str, usize)] = &[
            ("🇷🇴", "🇷🇴", 2),               // flag: one unit
            ("short🇷one", "shortRone", 9), // lone regional letter
            ("🇷🇴🇷", "🇷🇴R", 3),
            ("👍🏽", "👍\u{200b}🏽", 4), // skin tone: own unit
            ("👋🏿x", "👋\u{200b}🏿x", 5),
            ("🏽", "🏽", 2),     // a modifier alone
            ("👨‍👩‍👧", "👨👩👧", 6), // ZWJ family: its people
            ("👩🏽‍💻", "👩\u{200b}🏽💻", 6),
            ("漢字", "漢字", 4),           // CJK
            ("e\u{301}x", "e\u{301}x", 2), // combining mark
            ("שלום", "שלום", 4),           // right to left
            ("a\u{202e}evil", "aevil", 5), // bidi override dropped
        ];
        for (text, shown, cells) in table {
            assert_eq!(sanitize(text), *shown, "{text:?}");
            assert_eq!(width(text), *cells, "{text:?}");
        }
    }

    #[test]
    fn truncate_never_splits_a_cluster_or_overflows() {
        assert_eq!(truncate("henderson", 6), "hende…");
        assert_eq!(truncate("漢字漢字", 5), "漢字…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(width(&pad("漢字漢字", 5)), 5);
    }

    #[test]
    fn wraps_at_spaces_with_indent() {
        let lines = wrap(&[("hello there general kenobi", Style::default())], 12, 2);
        assert_eq!(plain(&lines), ["hello there", "  general", "  kenobi"]);
    }

    #[test]
    fn long_words_and_wide_chars_are_cut_at_clusters() {
        let lines = wrap(&[("漢字漢字漢", Style::default())], 5, 0);
        assert_eq!(plain(&lines), ["漢字", "漢字", "漢"]);
        let lines = wrap(&[("👨‍👩‍👧👨‍👩‍👧", Style::default())], 3, 0);
        assert_eq!(plain(&lines), ["👨", "👩", "👧", "👨", "👩", "👧"]);
        for l in wrap(&[("a漢b字c👨‍👩‍👧d ❤️ e", Style::default())], 3, 0) {
            assert!(l.width() <= 3, "{l:?}");
        }
        // A wide cluster in a 1-cell line still advances.
        assert_eq!(
            plain(&wrap(&[("漢字", Style::default())], 1, 0)),
            ["漢", "字"]
        );
    }

    #[test]
    fn text_without_spaces_fills_the_line_before_breaking() {
        let lines = wrap(
            &[
                ("name: ", Style::default()),
                ("漢字漢字漢字漢字", Style::default()),
            ],
            12,
            2,
        );
        assert_eq!(plain(&lines), ["name: 漢字漢", "  字漢字漢字"]);
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(
            plain(&wrap(&[("a\tb\r\n", Style::default())], 10, 0)),
            ["ab"]
        );
    }

    #[test]
    fn styles_become_spans() {
        let bold = Style::default().bold();
        let lines = wrap(
            &[
                ("12:00 ", Style::default()),
                ("bob", bold),
                (": hi", Style::default()),
            ],
            40,
            0,
        );
        assert_eq!(lines[0].spans.len(), 3);
        assert_eq!(lines[0].spans[1].content, "bob");
    }
}
