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
            | Request::History { token, .. } => Some(token),
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

/// A word from the peer, shortened for quoting in an error message (`unknown
/// command: X`, `unknown recipient: X`), so a 64 KiB word is not echoed back whole.
pub fn echo(word: &str) -> String {
    match word.char_indices().nth(ECHO_LIMIT) {
        Some((end, _)) => format!("{}...", &word[..end]),
        None => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Request {
        Request::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &str) -> String {
        Request::parse(line).expect_err(line).to_string()
    }

    #[test]
    fn every_command_of_both_dialects() {
        use Dialect::*;
        let login = |dialect| Request::Login {
            dialect,
            username: "messi".into(),
            password: "surabaya".into(),
        };
        assert_eq!(ok("auth messi surabaya"), login(Course));
        assert_eq!(ok("login messi surabaya"), login(Indonesian));
        let send = |dialect| Request::Send {
            dialect,
            token: "t".into(),
            to: "henderson".into(),
            message: "halo apa kabar?".into(),
        };
        assert_eq!(ok("send t henderson halo apa kabar?"), send(Course));
        assert_eq!(ok("chat t henderson halo apa kabar?"), send(Indonesian));
        assert_eq!(
            ok("inbox t"),
            Request::Inbox {
                dialect: Course,
                token: "t".into()
            }
        );
        assert_eq!(
            ok("kotakmasuk t"),
            Request::Inbox {
                dialect: Indonesian,
                token: "t".into()
            }
        );
        assert_eq!(
            ok("user_aktif t"),
            Request::ActiveUsers {
                dialect: Course,
                token: "t".into()
            }
        );
        assert_eq!(
            ok("user_on t"),
            Request::ActiveUsers {
                dialect: Indonesian,
                token: "t".into()
            }
        );
        assert_eq!(ok("logout t"), Request::Logout { token: "t".into() });
        assert_eq!(ok("ping"), Request::Ping);
        assert_eq!(
            ok("register arini hehe Arini Indah"),
            Request::Register {
                username: "arini".into(),
                password: "hehe".into(),
                display_name: Some("Arini Indah".into())
            }
        );
        assert_eq!(
            ok("history t henderson"),
            Request::History {
                token: "t".into(),
                peer: "henderson".into(),
                limit: 50,
                before_id: None
            }
        );
        assert_eq!(
            ok("history t henderson 10 99"),
            Request::History {
                token: "t".into(),
                peer: "henderson".into(),
                limit: 10,
                before_id: Some(99)
            }
        );
    }

    #[test]
    fn course_client_spacing_is_trimmed_but_inner_spacing_kept() {
        // The course client sends a space before the text and one before "\r\n".
        let r = ok("send tok henderson  halo  apa kabar? 🙂 ");
        assert!(matches!(r, Request::Send { ref message, .. } if message == "halo  apa kabar? 🙂"));
        let r = ok("inbox tok ");
        assert_eq!(
            r,
            Request::Inbox {
                dialect: Dialect::Course,
                token: "tok".into()
            }
        );
    }

    #[test]
    fn command_words_ignore_ascii_case() {
        assert!(matches!(ok("AUTH messi surabaya"), Request::Login { .. }));
        assert!(matches!(ok("User_Aktif t"), Request::ActiveUsers { .. }));
    }

    #[test]
    fn every_error_has_a_precise_message() {
        let table = [
            ("", "empty request"),
            ("   ", "empty request"),
            ("hello", "unknown command: hello"),
            ("auth", "usage: auth <username> <password>"),
            ("auth messi", "usage: auth <username> <password>"),
            (
                "auth messi surabaya extra",
                "usage: auth <username> <password>",
            ),
            ("login messi", "usage: login <username> <password>"),
            ("send", "usage: send <token> <to> <message>"),
            ("send t", "usage: send <token> <to> <message>"),
            ("send t henderson", "empty message"),
            ("send t henderson    ", "empty message"),
            ("chat t", "usage: chat <token> <to> <message>"),
            ("inbox", "usage: inbox <token>"),
            ("inbox t u", "usage: inbox <token>"),
            ("kotakmasuk", "usage: kotakmasuk <token>"),
            ("user_aktif", "usage: user_aktif <token>"),
            ("user_on", "usage: user_on <token>"),
            ("logout", "usage: logout <token>"),
            (
                "register arini",
                "usage: register <username> <password> [display name]",
            ),
            (
                "history t",
                "usage: history <token> <peer> [limit] [before_id]",
            ),
            (
                "history t p x",
                "usage: history <token> <peer> [limit] [before_id]",
            ),
            (
                "history t p 0",
                "usage: history <token> <peer> [limit] [before_id]",
            ),
            (
                "history t p 5 -",
                "usage: history <token> <peer> [limit] [before_id]",
            ),
            (
                "history t p 5 6 7",
                "usage: history <token> <peer> [limit] [before_id]",
            ),
            ("ping pong", "usage: ping"),
        ];
        for (line, want) in table {
            assert_eq!(err(line), want, "line {line:?}");
        }
    }

    #[test]
    fn history_limit_is_clamped() {
        assert!(matches!(
            ok("history t p 100000"),
            Request::History { limit: 500, .. }
        ));
    }

    #[test]
    fn unknown_command_echo_is_bounded() {
        let long = "x".repeat(10_000);
        let msg = err(&long);
        assert!(msg.len() < 80, "{msg}");
        assert!(msg.starts_with("unknown command: xxx"));
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.@-]{1,12}"
    }

    fn message() -> impl Strategy<Value = String> {
        "[^\\s][^\r\n]{0,40}[^\\s]|[^\\s]"
    }

    fn dialect() -> impl Strategy<Value = Dialect> {
        prop_oneof![Just(Dialect::Course), Just(Dialect::Indonesian)]
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            (dialect(), word(), word()).prop_map(|(dialect, username, password)| Request::Login {
                dialect,
                username,
                password
            }),
            (dialect(), word(), word(), message()).prop_map(|(dialect, token, to, message)| {
                Request::Send {
                    dialect,
                    token,
                    to,
                    message,
                }
            }),
            (dialect(), word()).prop_map(|(dialect, token)| Request::Inbox { dialect, token }),
            (dialect(), word())
                .prop_map(|(dialect, token)| Request::ActiveUsers { dialect, token }),
            word().prop_map(|token| Request::Logout { token }),
            (word(), word(), proptest::option::of(message())).prop_map(
                |(username, password, display_name)| Request::Register {
                    username,
                    password,
                    display_name
                }
            ),
            (
                word(),
                word(),
                1..=HISTORY_MAX_LIMIT,
                proptest::option::of(any::<i64>())
            )
                .prop_map(|(token, peer, limit, before_id)| Request::History {
                    token,
                    peer,
                    limit,
                    before_id
                }),
            Just(Request::Ping),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(line in "\\PC{0,200}") {
            let _ = Request::parse(&line);
        }

        #[test]
        fn parse_never_panics_on_any_chars(line in any::<String>()) {
            let _ = Request::parse(&line);
        }

        #[test]
        fn parse_of_to_line_round_trips(req in request()) {
            let line = req.to_line();
            prop_assert!(line.ends_with("\r\n"));
            let parsed = Request::parse(line.trim_end_matches("\r\n"));
            prop_assert_eq!(parsed, Ok(req));
        }
    }
}
