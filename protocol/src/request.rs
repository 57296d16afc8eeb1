//! Requests: one line each, parsed from either dialect and formatted back.
//!
//! ```text
//! auth <username> <password>            | login <username> <password>
//! send <token> <to> <message...>        | chat <token> <to> <message...>
//! inbox <token>                         | kotakmasuk <token>
//! user_aktif <token>                    | user_on <token>
//! logout <token>
//! register <username> <password> [display name...]
//! history <token> <peer> [limit] [before_id]
//! sync <token> <after_id> [wait_seconds] [presence]
//! read <token> <peer> <message_id>
//! ping
//! ```
//!
//! Command words are matched without regard to ASCII case, for people typing into
//! telnet. The message of `send` is the rest of the line trimmed at both ends: the
//! course client adds a space before the text and before `\r\n`, and what the person
//! typed must arrive unchanged.

use crate::args::Args;
use crate::error::ParseError;

/// Default number of messages `history` returns.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;
/// Most messages one `history` call returns; larger limits are clamped to it.
pub const HISTORY_MAX_LIMIT: u32 = 500;
/// Longest a `sync` may wait, in seconds; longer waits are clamped to it (a server
/// may cap it lower). A minute keeps a waiting request well inside the idle
/// timeouts of the proxies and NAT boxes between a client and the server.
pub const SYNC_MAX_WAIT_SECONDS: u32 = 60;
/// The word after `sync`'s wait that asks for presence changes.
pub const SYNC_PRESENCE_WORD: &str = "presence";

/// Which of the two command vocabularies a request was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// The course reference (seed 002): `auth`, `send`, `inbox`, `user_aktif`.
    #[default]
    Course,
    /// Seed 000: `login`, `chat`, `kotakmasuk`, `user_on`.
    Indonesian,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `auth`/`login`: start a session.
    Login {
        /// Vocabulary used.
        dialect: Dialect,
        /// Account name.
        username: String,
        /// Password in clear (the protocol carries it so).
        password: String,
    },
    /// `send`/`chat`: leave a message in someone's inbox.
    Send {
        /// Vocabulary used.
        dialect: Dialect,
        /// Session token.
        token: String,
        /// Recipient's username.
        to: String,
        /// The text, trimmed at both ends, never empty.
        message: String,
    },
    /// `inbox`/`kotakmasuk`: take every undelivered message.
    Inbox {
        /// Vocabulary used.
        dialect: Dialect,
        /// Session token.
        token: String,
    },
    /// `user_aktif`/`user_on`: who holds a live session.
    ActiveUsers {
        /// Vocabulary used.
        dialect: Dialect,
        /// Session token.
        token: String,
    },
    /// `logout`: end the session.
    Logout {
        /// Session token.
        token: String,
    },
    /// `register`: create an account (when the server allows it).
    Register {
        /// Wanted account name.
        username: String,
        /// Password in clear.
        password: String,
        /// Display name; the username when absent.
        display_name: Option<String>,
    },
    /// `history`: the conversation with one peer, oldest first, without draining.
    History {
        /// Session token.
        token: String,
        /// The other party's username.
        peer: String,
        /// How many messages, already clamped to `1..=HISTORY_MAX_LIMIT`.
        limit: u32,
        /// Only messages with an id below this one (paging backwards).
        before_id: Option<i64>,
    },
    /// `sync`: every message the user sent or received after a cursor, oldest first,
    /// waiting for the next one when there is none; drains nothing.
    Sync {
        /// Session token.
        token: String,
        /// The cursor: only messages with a larger id (0: from the beginning).
        after_id: i64,
        /// How long to wait when nothing is newer, already clamped to
        /// `0..=SYNC_MAX_WAIT_SECONDS`; 0 answers at once.
        wait_seconds: u32,
        /// Whether the answer carries presence (who came online, who left).
        presence: bool,
    },
    /// `read`: the user has read the conversation with `peer` up to `message_id`.
    /// The server keeps the largest id per conversation (it never moves back) and
    /// tells every `sync ... presence` of the user (`"read"`).
    Read {
        /// Session token.
        token: String,
        /// The other party's username.
        peer: String,
        /// The newest message read (a message id, >= 0).
        message_id: i64,
    },
    /// `ping`: liveness probe for load balancers; needs no session.
    Ping,
}

const USAGE_AUTH: &str = "auth <username> <password>";
const USAGE_LOGIN: &str = "login <username> <password>";
const USAGE_SEND: &str = "send <token> <to> <message>";
const USAGE_CHAT: &str = "chat <token> <to> <message>";
const USAGE_INBOX: &str = "inbox <token>";
const USAGE_KOTAKMASUK: &str = "kotakmasuk <token>";
const USAGE_USER_AKTIF: &str = "user_aktif <token>";
const USAGE_USER_ON: &str = "user_on <token>";
const USAGE_LOGOUT: &str = "logout <token>";
const USAGE_REGISTER: &str = "register <username> <password> [display name]";
const USAGE_HISTORY: &str = "history <token> <peer> [limit] [before_id]";
const USAGE_PING: &str = "ping";
const USAGE_SYNC: &str = "sync <token> <after_id> [wait_seconds] [presence]";
const USAGE_READ: &str = "read <token> <peer> <message_id>";

/// Longest command word echoed back in `unknown command: X`.
const ECHO_LIMIT: usize = 40;

impl Request {
    /// Parses one line (terminator already removed).
    pub fn parse(line: &str) -> Result<Request, ParseError> {
        let mut args = Args::new(line);
        let verb = args.next_word().ok_or(ParseError::Empty)?;
        let lower = verb.to_ascii_lowercase();
        let request = match lower.as_str() {
            "auth" => parse_login(&mut args, Dialect::Course, USAGE_AUTH)?,
            "login" => parse_login(&mut args, Dialect::Indonesian, USAGE_LOGIN)?,
            "send" => parse_send(&mut args, Dialect::Course, USAGE_SEND)?,
            "chat" => parse_send(&mut args, Dialect::Indonesian, USAGE_CHAT)?,
            "inbox" => Request::Inbox {
                dialect: Dialect::Course,
                token: token_only(&mut args, USAGE_INBOX)?,
            },
            "kotakmasuk" => Request::Inbox {
                dialect: Dialect::Indonesian,
                token: token_only(&mut args, USAGE_KOTAKMASUK)?,
            },
            "user_aktif" => Request::ActiveUsers {
                dialect: Dialect::Course,
                token: token_only(&mut args, USAGE_USER_AKTIF)?,
            },
            "user_on" => Request::ActiveUsers {
                dialect: Dialect::Indonesian,
                token: token_only(&mut args, USAGE_USER_ON)?,
            },
            "logout" => Request::Logout {
                token: token_only(&mut args, USAGE_LOGOUT)?,
            },
            "register" => parse_register(&mut args)?,
            "history" => parse_history(&mut args)?,
            "sync" => parse_sync(&mut args)?,
            "read" => parse_read(&mut args)?,
            "ping" => {
                args.finish(USAGE_PING)?;
                Request::Ping
            }
            _ => return Err(ParseError::UnknownCommand(echo(verb))),
        };
        Ok(request)
    }

    /// The command word as this request's dialect spells it.
    pub fn verb(&self) -> &'static str {
        use Dialect::*;
        match self {
            Request::Login {
                dialect: Course, ..
            } => "auth",
            Request::Login {
                dialect: Indonesian,
                ..
            } => "login",
            Request::Send {
                dialect: Course, ..
            } => "send",
            Request::Send {
                dialect: Indonesian,
                ..
            } => "chat",
            Request::Inbox {
                dialect: Course, ..
            } => "inbox",
            Request::Inbox {
                dialect: Indonesian,
                ..
            } => "kotakmasuk",
            Request::ActiveUsers {
                dialect: Course, ..
            } => "user_aktif",
            Request::ActiveUsers {
                dialect: Indonesian,
                ..
            } => "user_on",
            Request::Logout { .. } => "logout",
            Request::Register { .. } => "register",
            Request::History { .. } => "history",
            Request::Sync { .. } => "sync",
            Request::Read { .. } => "read",
            Request::Ping => "ping",
        }
    }

    /// The session token the request carries, if it needs one.
    pub fn token(&self) -> Option<&str> {
        match self {
            Request::Send { token, .. }
            | Request::Inbox { token, .. }
            | Request::ActiveUsers { token, .. }
            | Request::Logout { token }
            | Request::History { token, .. }
            | Request::Sync { token, .. }
            | Request::Read { token, .. } => Some(token),
            Request::Login { .. } | Request::Register { .. } | Request::Ping => None,
        }
    }

    /// The request as one wire line, `\r\n` included. `parse` of the line without
    /// its terminator gives back an equal request.
    pub fn to_line(&self) -> String {
        let verb = self.verb();
        let body = match self {
            Request::Login {
                username, password, ..
            } => format!("{verb} {username} {password}"),
            Request::Send {
                token, to, message, ..
            } => format!("{verb} {token} {to} {message}"),
            Request::Inbox { token, .. }
            | Request::ActiveUsers { token, .. }
            | Request::Logout { token } => format!("{verb} {token}"),
            Request::Register {
                username,
                password,
                display_name,
            } => match display_name {
                Some(name) => format!("{verb} {username} {password} {name}"),
                None => format!("{verb} {username} {password}"),
            },
            Request::History {
                token,
                peer,
                limit,
                before_id,
            } => match before_id {
                Some(before) => format!("{verb} {token} {peer} {limit} {before}"),
                None => format!("{verb} {token} {peer} {limit}"),
            },
            Request::Sync {
                token,
                after_id,
                wait_seconds,
                presence,
            } => match presence {
                true => format!("{verb} {token} {after_id} {wait_seconds} {SYNC_PRESENCE_WORD}"),
                false => format!("{verb} {token} {after_id} {wait_seconds}"),
            },
            Request::Read {
                token,
                peer,
                message_id,
            } => format!("{verb} {token} {peer} {message_id}"),
            Request::Ping => verb.to_string(),
        };
        body + "\r\n"
    }
}

fn token_only(args: &mut Args<'_>, usage: &'static str) -> Result<String, ParseError> {
    let token = args.word(usage)?;
    args.finish(usage)?;
    Ok(token.to_string())
}

fn parse_login(
    args: &mut Args<'_>,
    dialect: Dialect,
    usage: &'static str,
) -> Result<Request, ParseError> {
    let username = args.word(usage)?.to_string();
    let password = args.word(usage)?.to_string();
    args.finish(usage)?;
    Ok(Request::Login {
        dialect,
        username,
        password,
    })
}

fn parse_send(
    args: &mut Args<'_>,
    dialect: Dialect,
    usage: &'static str,
) -> Result<Request, ParseError> {
    let token = args.word(usage)?.to_string();
    let to = args.word(usage)?.to_string();
    let message = args.rest();
    if message.is_empty() {
        return Err(ParseError::EmptyMessage);
    }
    Ok(Request::Send {
        dialect,
        token,
        to,
        message: message.to_string(),
    })
}

fn parse_register(args: &mut Args<'_>) -> Result<Request, ParseError> {
    let username = args.word(USAGE_REGISTER)?.to_string();
    let password = args.word(USAGE_REGISTER)?.to_string();
    let rest = args.rest();
    let display_name = (!rest.is_empty()).then(|| rest.to_string());
    Ok(Request::Register {
        username,
        password,
        display_name,
    })
}

fn parse_history(args: &mut Args<'_>) -> Result<Request, ParseError> {
    let token = args.word(USAGE_HISTORY)?.to_string();
    let peer = args.word(USAGE_HISTORY)?.to_string();
    let limit = args
        .number::<u32>(USAGE_HISTORY)?
        .unwrap_or(HISTORY_DEFAULT_LIMIT);
    if limit == 0 {
        return Err(ParseError::Usage(USAGE_HISTORY));
    }
    let before_id = args.number::<i64>(USAGE_HISTORY)?;
    args.finish(USAGE_HISTORY)?;
    Ok(Request::History {
        token,
        peer,
        limit: limit.min(HISTORY_MAX_LIMIT),
        before_id,
    })
}

fn parse_sync(args: &mut Args<'_>) -> Result<Request, ParseError> {
    let token = args.word(USAGE_SYNC)?.to_string();
    let after_id = args
        .number::<i64>(USAGE_SYNC)?
        .filter(|id| *id >= 0)
        .ok_or(ParseError::Usage(USAGE_SYNC))?;
    let is_presence = |word: &str| word.eq_ignore_ascii_case(SYNC_PRESENCE_WORD);
    // `sync T 0 presence` asks for presence without waiting.
    let (wait_seconds, presence) = match args.next_word() {
        None => (0, false),
        Some(word) if is_presence(word) => (0, true),
        Some(word) => {
            let wait = word
                .parse::<u32>()
                .map_err(|_| ParseError::Usage(USAGE_SYNC))?;
            match args.next_word() {
                None => (wait, false),
                Some(word) if is_presence(word) => (wait, true),
                Some(_) => return Err(ParseError::Usage(USAGE_SYNC)),
            }
        }
    };
    args.finish(USAGE_SYNC)?;
    Ok(Request::Sync {
        token,
        after_id,
        wait_seconds: wait_seconds.min(SYNC_MAX_WAIT_SECONDS),
        presence,
    })
}

fn parse_read(args: &mut Args<'_>) -> Result<Request, ParseError> {
    let token = args.word(USAGE_READ)?.to_string();
    let peer = args.word(USAGE_READ)?.to_string();
    let message_id = args
        .number::<i64>(USAGE_READ)?
        .filter(|id| *id >= 0)
        .ok_or(ParseError::Usage(USAGE_READ))?;
    args.finish(USAGE_READ)?;
    Ok(Request::Read {
        token,
        peer,
        message_id,
    })
}

/// A word from the peer, shortened for quoting in an error message (`unknown
/// command: X`, `unknown recipient: X`), so a 64 KiB word is not echoed back whole.
pub fn echo(word: &str) -> String {
    match word.char_indices().nth(ECHO_LIMIT) {
        Some((end, _)) => format!("{}...", &word[..end]),
        None => word.to_string(),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
