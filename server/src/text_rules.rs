//! Which characters may be stored, shown to other users or written to a terminal:
//! one set of rules for every path that accepts text (messages from `send`, display
//! names from `register`, `chat-server user add`, `--users` files, and the check of
//! an older database at start) and for the log's escaping ([`crate::log_escape`]).
//!
//! Clients of the course print `msg` and `msg_from` to their terminal as they are, so
//! a control character in stored text is a terminal escape sequence run on someone
//! else's screen (window title, clearing, fake lines with a bare CR), and a bidi
//! override makes a name read differently from what it is.

/// Whether `c` is a control character: C0 (U+0000–U+001F), DEL (U+007F) or C1
/// (U+0080–U+009F), i.e. Unicode general category Cc.
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Whether `c` changes the direction of the text around it: the embeddings and
/// overrides U+202A–U+202E, the isolates U+2066–U+2069, and the marks U+200E (LRM),
/// U+200F (RLM) and U+061C (ALM). Unicode Standard Annex #9, table 4.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `c` must be escaped before it reaches an operator's terminal (the text
/// log, `user list`): every control and bidi control character.
pub fn is_unsafe_for_terminals(c: char) -> bool {
    is_control(c) || is_bidi_control(c)
}

/// Checks the text of a message: every control character but TAB is refused (ESC,
/// BEL, a bare CR, NUL, DEL, C1 ...). `Err` is the text of the `ERROR` response.
pub fn check_message(text: &str) -> Result<(), String> {
    match text.chars().find(|&c| c != '\t' && is_control(c)) {
        Some(c) => Err(format!(
            "message contains control character {}; only tab is allowed",
            c.escape_unicode()
        )),
        None => Ok(()),
    }
}

/// Checks a display name: no control characters at all, and no bidi controls.
/// `Err` says which character was refused.
pub fn check_display_name(name: &str) -> Result<(), String> {
    match name.chars().find(|&c| is_unsafe_for_terminals(c)) {
        Some(c) if is_control(c) => Err(format!(
            "display name contains control character {}",
            c.escape_unicode()
        )),
        Some(c) => Err(format!(
            "display name contains bidirectional control character {}",
            c.escape_unicode()
        )),
        None => Ok(()),
    }
}

/// `text` with every character that [`is_unsafe_for_terminals`] escaped: `\t`,
/// `\r`, `\n`, or `\u{1b}` form; everything else as is.
pub fn escape_for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing to a String cannot fail.
    let _ = write_escaped(&mut out, text);
    out
}

/// Writes `text` to `out` escaped as [`escape_for_terminal`] does, without allocating.
pub fn write_escaped(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(is_unsafe_for_terminals) {
        out.write_str(&rest[..at])?;
        let c = rest[at..].chars().next().unwrap_or('\0');
        match c {
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            '\n' => out.write_str("\\n")?,
            c => write!(out, "{}", c.escape_unicode())?,
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.write_str(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_refuse_every_control_but_tab() {
        for good in [
            "halo",
            "a\tb",
            "emoji 🙂 and ümlaut",
            "\u{202E} is allowed in text",
        ] {
            assert_eq!(check_message(good), Ok(()), "{good:?}");
        }
        for bad in [
            "\u{1b}]0;PWNED\u{7}",
            "bell\u{7}",
            "bare\rCR",
            "nul\0",
            "del\u{7f}",
            "c1 csi \u{9b}2J",
            "nel\u{85}",
            "lf\n",
        ] {
            let err = check_message(bad).expect_err(bad);
            assert!(
                err.starts_with("message contains control character"),
                "{err}"
            );
        }
        assert_eq!(
            check_message("x\u{1b}[2J"),
            Err("message contains control character \\u{1b}; only tab is allowed".into())
        );
    }

    #[test]
    fn display_names_refuse_controls_and_bidi() {
        for good in ["Lionel Messi", "Arini Indah Nur Fuadah", "عربي", "名前"] {
            assert_eq!(check_display_name(good), Ok(()), "{good:?}");
        }
        for bad in ["a\tb", "\u{1b}[31mred", "del\u{7f}", "c1\u{9b}"] {
            let err = check_display_name(bad).expect_err(bad);
            assert!(err.contains("control character"), "{err}");
        }
        for bad in [
            "evil\u{202E}gnp.exe",
            "\u{202A}x",
            "\u{2066}iso\u{2069}",
            "mark\u{200F}",
            "\u{061C}",
        ] {
            let err = check_display_name(bad).expect_err(bad);
            assert!(err.contains("bidirectional"), "{err}");
        }
    }

    #[test]
    fn escaping_leaves_no_unsafe_character() {
        assert_eq!(
            escape_for_terminal("\u{1b}]0;OPERATOR-PWNED\u{7}\u{1b}[2J"),
            "\\u{1b}]0;OPERATOR-PWNED\\u{7}\\u{1b}[2J"
        );
        assert_eq!(escape_for_terminal("a\tb\r\nc"), "a\\tb\\r\\nc");
        assert_eq!(escape_for_terminal("ok 🙂 é"), "ok 🙂 é");
        assert_eq!(
            escape_for_terminal("x\u{9b}y\u{202E}z"),
            "x\\u{9b}y\\u{202e}z"
        );
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(
            !escape_for_terminal(&all)
                .chars()
                .any(is_unsafe_for_terminals)
        );
    }
}
