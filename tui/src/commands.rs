//! What a line typed into the command box means.
//!
//! ```text
//! hello there            -> the selected conversation
//! /msg USER TEXT         -> anyone
//! /open USER             -> open (or create) the conversation with USER
//! /quit                  -> log out and quit (also: logout)
//! /help                  -> the help overlay
//! //text                 -> the text "/text" to the selected conversation
//! send USER TEXT         -> as /msg   (course dialect)
//! chat USER TEXT         -> as /msg   (seed 000 dialect)
//! inbox | kotakmasuk     -> poll the inbox now
//! user_aktif | user_on   -> ask who is on now
//! logout                 -> as /quit
//! ```
//!
//! The course's commands are recognised only when their word is typed in lower case
//! and, for `inbox`-like commands, alone on the line, so ordinary sentences are rarely
//! mistaken for commands. The token of the course's syntax is never typed: the client
//! holds it.

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
    /// `auth`/`login` typed while logged in.
    #[error("already logged in; /quit and start again to change user")]
    AlreadyLoggedIn,
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
    let (word, rest) = split_word(text);
    match word {
        "send" => msg(rest, "send USER TEXT"),
        "chat" => msg(rest, "chat USER TEXT"),
        "inbox" | "kotakmasuk" if rest.is_empty() => Ok(Command::Inbox),
        "user_aktif" | "user_on" if rest.is_empty() => Ok(Command::Users),
        "logout" if rest.is_empty() => Ok(Command::Quit),
        "auth" | "login" if rest.split_whitespace().count() == 2 => {
            Err(CommandError::AlreadyLoggedIn)
        }
        _ => Ok(Command::Say(text.to_string())),
    }
}

fn parse_slash(body: &str) -> Result<Command, CommandError> {
    let (word, rest) = split_word(body);
    match word.to_ascii_lowercase().as_str() {
        "msg" | "m" => msg(rest, "/msg USER TEXT"),
        "open" | "o" | "query" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [user] => Ok(Command::Open(user.to_string())),
            _ => Err(CommandError::Usage("/open USER")),
        },
        "quit" | "q" | "exit" | "logout" => Ok(Command::Quit),
        "help" | "h" | "?" => Ok(Command::Help),
        "inbox" => Ok(Command::Inbox),
        "who" | "users" => Ok(Command::Users),
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
            ("send henderson halo 🙂", to("henderson", "halo 🙂")),
            ("chat henderson halo", to("henderson", "halo")),
            ("send henderson", Err(CommandError::Usage("send USER TEXT"))),
            ("inbox", Ok(Command::Inbox)),
            ("kotakmasuk", Ok(Command::Inbox)),
            ("inbox is full", say("inbox is full")),
            ("user_aktif", Ok(Command::Users)),
            ("user_on", Ok(Command::Users)),
            ("logout", Ok(Command::Quit)),
            ("logout now please", say("logout now please")),
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
            ("auth messi surabaya", Err(CommandError::AlreadyLoggedIn)),
            ("Send henderson hi", say("Send henderson hi")),
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
            parse("send x").unwrap_err().to_string(),
            "usage: send USER TEXT"
        );
    }
}
