//! What a line typed into plain mode means.
//!
//! The words are the seeds' own, without the token (the client holds it):
//!
//! ```text
//! auth USER PASSWORD      | login USER PASSWORD       log in
//! send USER TEXT...       | chat USER TEXT...         send a message
//! inbox                   | kotakmasuk                take the new messages
//! user_aktif              | user_on                   who is logged in
//! logout                                              end the session
//! /msg USER TEXT...                                   send, in the session's dialect
//! /history USER [N]                                   the last N messages with USER
//! /help                                               the command list
//! /quit                                               leave (logs out)
//! ```
//!
//! Command words ignore ASCII case, as the server's do. The dialect a command is typed
//! in is the dialect it goes out in, so a server that speaks only one of them (the
//! course's Python server speaks only the first) gets the words its users type.

use chat_protocol::args::Args;
use chat_protocol::{Dialect, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, ParseError};
use thiserror::Error;

/// One understood line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `auth`/`login`.
    Login {
        /// Vocabulary typed.
        dialect: Dialect,
        /// Account name.
        username: String,
        /// Password (never echoed back).
        password: String,
    },
    /// `send`/`chat`/`/msg`.
    Send {
        /// Vocabulary typed; `None` for `/msg` (the session's).
        dialect: Option<Dialect>,
        /// Recipient's username.
        to: String,
        /// The text, trimmed at both ends.
        text: String,
    },
    /// `inbox`/`kotakmasuk`.
    Inbox {
        /// Vocabulary typed.
        dialect: Dialect,
    },
    /// `user_aktif`/`user_on`.
    Active {
        /// Vocabulary typed.
        dialect: Dialect,
    },
    /// `logout`.
    Logout,
    /// `/history USER [N]`.
    History {
        /// The other party.
        peer: String,
        /// How many messages, within `1..=HISTORY_MAX_LIMIT`.
        limit: u32,
    },
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// Nothing but whitespace: not an error to report, just nothing to do.
    #[error("empty line")]
    Empty,
    /// A known command with missing, extra or malformed arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// `send`/`chat`/`/msg` without text.
    #[error("empty message")]
    EmptyMessage,
    /// A word that names no command.
    #[error("unknown command: {0} (type /help)")]
    Unknown(String),
}

impl Command {
    /// Parses one typed line (terminator already removed).
    pub fn parse(line: &str) -> Result<Command, CommandError> {
        let mut args = Args::new(line);
        let verb = args.next_word().ok_or(CommandError::Empty)?;
        use Dialect::{Course, Indonesian};
        let command = match verb.to_ascii_lowercase().as_str() {
            "auth" => login(&mut args, Course, "auth <username> <password>")?,
            "login" => login(&mut args, Indonesian, "login <username> <password>")?,
            "send" => send(&mut args, Some(Course), "send <to> <message>")?,
            "chat" => send(&mut args, Some(Indonesian), "chat <to> <message>")?,
            "/msg" => send(&mut args, None, "/msg <to> <message>")?,
            "inbox" => bare(&mut args, Command::Inbox { dialect: Course }, "inbox")?,
            "kotakmasuk" => bare(
                &mut args,
                Command::Inbox {
                    dialect: Indonesian,
                },
                "kotakmasuk",
            )?,
            "user_aktif" => bare(&mut args, Command::Active { dialect: Course }, "user_aktif")?,
            "user_on" => bare(
                &mut args,
                Command::Active {
                    dialect: Indonesian,
                },
                "user_on",
            )?,
            "logout" => bare(&mut args, Command::Logout, "logout")?,
            "/history" => history(&mut args)?,
            "/help" => bare(&mut args, Command::Help, "/help")?,
            "/quit" => bare(&mut args, Command::Quit, "/quit")?,
            _ => return Err(CommandError::Unknown(chat_protocol::echo(verb))),
        };
        Ok(command)
    }

    /// Whether the command needs a session (a token) before it can go out.
    pub fn needs_session(&self) -> bool {
        matches!(
            self,
            Command::Send { .. }
                | Command::Inbox { .. }
                | Command::Active { .. }
                | Command::Logout
                | Command::History { .. }
        )
    }
}

/// The `/help` text, one line per command.
pub const HELP: &[&str] = &[
    "commands (the session token is added for you):",
    "  auth USER PASSWORD    | login USER PASSWORD   log in",
    "  send USER TEXT        | chat USER TEXT        send a message (also /msg USER TEXT)",
    "  inbox                 | kotakmasuk            show new messages",
    "  user_aktif            | user_on               who is logged in",
    "  /history USER [N]     the last N messages with USER (default 50)",
    "  logout                end the session",
    "  /help                 this list",
    "  /quit                 leave (logs out)",
];

fn map(e: ParseError, usage: &'static str) -> CommandError {
    match e {
        ParseError::EmptyMessage => CommandError::EmptyMessage,
        _ => CommandError::Usage(usage),
    }
}

fn bare(
    args: &mut Args<'_>,
    command: Command,
    usage: &'static str,
) -> Result<Command, CommandError> {
    args.finish(usage).map_err(|e| map(e, usage))?;
    Ok(command)
}

fn login(
    args: &mut Args<'_>,
    dialect: Dialect,
    usage: &'static str,
) -> Result<Command, CommandError> {
    let username = args.word(usage).map_err(|e| map(e, usage))?.to_string();
    let password = args.word(usage).map_err(|e| map(e, usage))?.to_string();
    args.finish(usage).map_err(|e| map(e, usage))?;
    Ok(Command::Login {
        dialect,
        username,
        password,
    })
}

fn send(
    args: &mut Args<'_>,
    dialect: Option<Dialect>,
    usage: &'static str,
) -> Result<Command, CommandError> {
    let to = args.word(usage).map_err(|e| map(e, usage))?.to_string();
    let text = args.rest();
    if text.is_empty() {
        return Err(CommandError::EmptyMessage);
    }
    Ok(Command::Send {
        dialect,
        to,
        text: text.to_string(),
    })
}

fn history(args: &mut Args<'_>) -> Result<Command, CommandError> {
    const USAGE: &str = "/history <user> [count]";
    let peer = args.word(USAGE).map_err(|e| map(e, USAGE))?.to_string();
    let limit = args.number::<u32>(USAGE).map_err(|e| map(e, USAGE))?;
    args.finish(USAGE).map_err(|e| map(e, USAGE))?;
    let limit = limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if limit == 0 {
        return Err(CommandError::Usage(USAGE));
    }
    Ok(Command::History {
        peer,
        limit: limit.min(HISTORY_MAX_LIMIT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Course, Indonesian};

    fn send(dialect: Option<Dialect>, to: &str, text: &str) -> Command {
        Command::Send {
            dialect,
            to: to.into(),
            text: text.into(),
        }
    }

    #[test]
    fn every_command_in_both_dialects() {
        let login = |dialect| Command::Login {
            dialect,
            username: "messi".into(),
            password: "surabaya".into(),
        };
        let table = [
            ("auth messi surabaya", login(Course)),
            ("login messi surabaya", login(Indonesian)),
            (
                "send henderson hello there",
                send(Some(Course), "henderson", "hello there"),
            ),
            (
                "chat henderson hello there",
                send(Some(Indonesian), "henderson", "hello there"),
            ),
            (
                "/msg henderson  hi  you ",
                send(None, "henderson", "hi  you"),
            ),
            ("inbox", Command::Inbox { dialect: Course }),
            (
                "kotakmasuk",
                Command::Inbox {
                    dialect: Indonesian,
                },
            ),
            ("user_aktif", Command::Active { dialect: Course }),
            (
                "user_on",
                Command::Active {
                    dialect: Indonesian,
                },
            ),
            ("logout", Command::Logout),
            (
                "/history lineker",
                Command::History {
                    peer: "lineker".into(),
                    limit: 50,
                },
            ),
            (
                "/history lineker 5",
                Command::History {
                    peer: "lineker".into(),
                    limit: 5,
                },
            ),
            (
                "/history lineker 100000",
                Command::History {
                    peer: "lineker".into(),
                    limit: 500,
                },
            ),
            ("/help", Command::Help),
            ("/quit", Command::Quit),
            ("  INBOX  ", Command::Inbox { dialect: Course }),
            (
                "Send henderson 🙂 ok",
                send(Some(Course), "henderson", "🙂 ok"),
            ),
        ];
        for (line, want) in table {
            assert_eq!(Command::parse(line), Ok(want), "{line:?}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let table = [
            ("", "empty line"),
            ("   ", "empty line"),
            ("auth messi", "usage: auth <username> <password>"),
            ("login messi a b", "usage: login <username> <password>"),
            ("send", "usage: send <to> <message>"),
            ("send henderson", "empty message"),
            ("chat henderson   ", "empty message"),
            ("/msg", "usage: /msg <to> <message>"),
            ("inbox now", "usage: inbox"),
            ("/history", "usage: /history <user> [count]"),
            ("/history lineker x", "usage: /history <user> [count]"),
            ("/history lineker 0", "usage: /history <user> [count]"),
            ("/history lineker 1 2", "usage: /history <user> [count]"),
            ("hello", "unknown command: hello (type /help)"),
            ("/foo", "unknown command: /foo (type /help)"),
        ];
        for (line, want) in table {
            let got = Command::parse(line).expect_err(line).to_string();
            assert_eq!(got, want, "{line:?}");
        }
    }

    #[test]
    fn long_unknown_words_are_cut() {
        let word = "x".repeat(100);
        let got = Command::parse(&word).expect_err("unknown").to_string();
        assert_eq!(
            got,
            format!("unknown command: {}... (type /help)", "x".repeat(40))
        );
    }

    #[test]
    fn which_commands_need_a_session() {
        let table = [
            ("auth a b", false),
            ("/help", false),
            ("/quit", false),
            ("send a b", true),
            ("inbox", true),
            ("user_on", true),
            ("logout", true),
            ("/history a", true),
        ];
        for (line, want) in table {
            let command = Command::parse(line).expect(line);
            assert_eq!(command.needs_session(), want, "{line:?}");
        }
    }
}
