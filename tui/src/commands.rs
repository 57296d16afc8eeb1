//! What a line typed into the command box means.
//!
//! ```text
//! hello there            -> the selected conversation
//! /msg USER TEXT         -> anyone
//! /open USER             -> open (or create) the conversation with USER
//! /close [USER]          -> remove a conversation from the list (default: the open one)
//! /inbox                 -> poll the inbox now
//! /who                   -> ask who is on now
//! /help                  -> the help overlay
//! /quit                  -> log out and quit
//! //text                 -> the text "/text" to the selected conversation
//! ```
//!
//! Only a line that starts with `/` is a command: anything else is text for the
//! open conversation, so a sentence such as "chat later?" can never go somewhere
//! else. The course's command words (`send`, `chat`, `inbox`, `logout`, ...) belong
//! to plain mode; [`course_word`] recognises them so the full-screen client can
//! point to the `/` command once instead of silently sending the line as text.
//! The token of the course's syntax is never typed: the client holds it.

use thiserror::Error;

/// One understood line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Text for the selected conversation.
    Say(String),
    /// Text for a named user.
    Msg {
        /// Recipient's username.
        to: String,
        /// The text, trimmed.
        text: String,
    },
    /// Open the conversation with a user.
    Open(String),
    /// Remove a conversation from the list: the named one, or the open one.
    Close(Option<String>),
    /// Poll the inbox now.
    Inbox,
    /// Ask who is on now.
    Users,
    /// Show the help overlay.
    Help,
    /// Log out and quit.
    Quit,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// Nothing but spaces.
    #[error("nothing to send")]
    Empty,
    /// A known command with the wrong arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// A `/word` we don't know.
    #[error("unknown command /{0} (F1 lists the commands)")]
    Unknown(String),
}

/// Parses one line of the command box.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let text = line.trim();
    if text.is_empty() {
        return Err(CommandError::Empty);
    }
    if let Some(escaped) = text.strip_prefix("//") {
        return Ok(Command::Say(format!("/{escaped}")));
    }
    if let Some(slash) = text.strip_prefix('/') {
        return parse_slash(slash);
    }
    Ok(Command::Say(text.to_string()))
}

/// The course command a line starts with, if any, and the `/` command that does
/// its job here: `("send", "/msg USER TEXT")`. Case-insensitive, as the server is.
pub fn course_word(line: &str) -> Option<(&'static str, &'static str)> {
    const WORDS: &[(&str, &str)] = &[
        ("send", "/msg USER TEXT"),
        ("chat", "/msg USER TEXT"),
        ("inbox", "/inbox"),
        ("kotakmasuk", "/inbox"),
        ("user_aktif", "/who"),
        ("user_on", "/who"),
        ("logout", "/quit"),
        ("auth", "/quit, then log in again"),
        ("login", "/quit, then log in again"),
        ("register", "chat-server user add"),
        ("history", "/open USER"),
    ];
    let (word, _) = split_word(line.trim());
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .copied()
}

fn parse_slash(body: &str) -> Result<Command, CommandError> {
    let (word, rest) = split_word(body);
    match word.to_ascii_lowercase().as_str() {
        "msg" | "m" => msg(rest, "/msg USER TEXT"),
        "open" | "o" | "query" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [user] => Ok(Command::Open(user.to_string())),
            _ => Err(CommandError::Usage("/open USER")),
        },
        "close" | "c" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Ok(Command::Close(None)),
            [user] => Ok(Command::Close(Some(user.to_string()))),
            _ => Err(CommandError::Usage("/close [USER]")),
        },
        "quit" | "q" | "exit" | "logout" => Ok(Command::Quit),
        "help" | "h" | "?" => Ok(Command::Help),
        "inbox" | "kotakmasuk" => Ok(Command::Inbox),
        "who" | "users" | "user_aktif" | "user_on" => Ok(Command::Users),
        _ => Err(CommandError::Unknown(word.chars().take(20).collect())),
    }
}

fn msg(rest: &str, usage: &'static str) -> Result<Command, CommandError> {
    let (to, text) = split_word(rest);
    if to.is_empty() || text.is_empty() {
        return Err(CommandError::Usage(usage));
    }
    Ok(Command::Msg {
        to: to.to_string(),
        text: text.to_string(),
    })
}

/// The first word and the trimmed rest.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(s: &str) -> Result<Command, CommandError> {
        Ok(Command::Say(s.into()))
    }

    fn to(user: &str, text: &str) -> Result<Command, CommandError> {
        Ok(Command::Msg {
            to: user.into(),
            text: text.into(),
        })
    }

    #[test]
    fn table() {
        let table: &[(&str, Result<Command, CommandError>)] = &[
            ("hello", say("hello")),
            ("  hello  there ", say("hello  there")),
            ("", Err(CommandError::Empty)),
            ("   ", Err(CommandError::Empty)),
            ("/msg lineker piye kabare?", to("lineker", "piye kabare?")),
            ("/MSG lineker  a  b ", to("lineker", "a  b")),
            ("/m lineker hi", to("lineker", "hi")),
            ("/msg lineker", Err(CommandError::Usage("/msg USER TEXT"))),
            ("/msg", Err(CommandError::Usage("/msg USER TEXT"))),
            // Course words are text here (the app hints once, see `course_word`).
            ("send henderson halo 🙂", say("send henderson halo 🙂")),
            (
                "chat lineker is late again, typical",
                say("chat lineker is late again, typical"),
            ),
            ("send me the photos", say("send me the photos")),
            ("inbox", say("inbox")),
            ("logout", say("logout")),
            ("?why not", say("?why not")),
            ("/inbox", Ok(Command::Inbox)),
            ("/kotakmasuk", Ok(Command::Inbox)),
            ("/user_on", Ok(Command::Users)),
            ("/close", Ok(Command::Close(None))),
            ("/close lineker", Ok(Command::Close(Some("lineker".into())))),
            ("/close a b", Err(CommandError::Usage("/close [USER]"))),
            ("/quit", Ok(Command::Quit)),
            ("/q", Ok(Command::Quit)),
            ("/help", Ok(Command::Help)),
            ("/open lineker", Ok(Command::Open("lineker".into()))),
            ("/open", Err(CommandError::Usage("/open USER"))),
            ("/open a b", Err(CommandError::Usage("/open USER"))),
            ("/who", Ok(Command::Users)),
            ("//etc/passwd", say("/etc/passwd")),
            (
                "/frobnicate x",
                Err(CommandError::Unknown("frobnicate".into())),
            ),
            ("auth messi surabaya", say("auth messi surabaya")),
        ];
        for (line, want) in table {
            assert_eq!(&parse(line), want, "line {line:?}");
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            parse("/zzz").unwrap_err().to_string(),
            "unknown command /zzz (F1 lists the commands)"
        );
        assert_eq!(
            parse("/msg x").unwrap_err().to_string(),
            "usage: /msg USER TEXT"
        );
    }

    #[test]
    fn course_words_are_recognised_in_any_case_at_the_start_only() {
        let table = [
            ("send me the photos", Some("send")),
            ("chat lineker is late", Some("chat")),
            ("CHAT lineker", Some("chat")),
            ("  inbox", Some("inbox")),
            ("kotakmasuk", Some("kotakmasuk")),
            ("user_aktif", Some("user_aktif")),
            ("user_on", Some("user_on")),
            ("logout", Some("logout")),
            ("auth messi x", Some("auth")),
            ("login messi x", Some("login")),
            ("sending now", None),
            ("I will send it", None),
            ("/msg a b", None),
            ("", None),
        ];
        for (line, want) in table {
            assert_eq!(course_word(line).map(|(w, _)| w), want, "{line:?}");
        }
    }
}
