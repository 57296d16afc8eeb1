//! Tests of request parsing and formatting.
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
        (dialect(), word()).prop_map(|(dialect, token)| Request::ActiveUsers { dialect, token }),
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

#[test]
fn sync_cursor_wait_and_presence() {
    let sync = |after_id, wait_seconds, presence| Request::Sync {
        token: "t".into(),
        after_id,
        wait_seconds,
        presence,
    };
    assert_eq!(ok("sync t 0"), sync(0, 0, false));
    assert_eq!(ok("SYNC t 41 25"), sync(41, 25, false));
    assert_eq!(ok("sync t 41 25 presence"), sync(41, 25, true));
    assert_eq!(ok("sync t 41 Presence"), sync(41, 0, true));
    assert_eq!(ok("sync t 7 3600"), sync(7, 60, false), "waits are clamped");
    let usage = "usage: sync <token> <after_id> [wait_seconds] [presence]";
    for bad in [
        "sync",
        "sync t",
        "sync t -1",
        "sync t x",
        "sync t 1 -5",
        "sync t 1 soon",
        "sync t 1 5 presence extra",
        "sync t 1 5 typing",
    ] {
        assert_eq!(err(bad), usage, "{bad}");
    }
    for request in [sync(0, 0, false), sync(9, 25, true), sync(9, 25, false)] {
        let line = request.to_line();
        assert_eq!(ok(line.trim_end()), request, "{line}");
    }
    assert_eq!(ok("sync t 1").token(), Some("t"));
    assert_eq!(ok("sync t 1").verb(), "sync");
}

#[test]
fn read_names_a_peer_and_a_message_id() {
    let read = |peer: &str, message_id| Request::Read {
        token: "t".into(),
        peer: peer.into(),
        message_id,
    };
    assert_eq!(ok("read t lineker 41"), read("lineker", 41));
    assert_eq!(ok("READ t lineker 0"), read("lineker", 0));
    let usage = "usage: read <token> <peer> <message_id>";
    for bad in [
        "read",
        "read t",
        "read t lineker",
        "read t lineker -1",
        "read t lineker x",
        "read t lineker 4 5",
    ] {
        assert_eq!(err(bad), usage, "{bad}");
    }
    let line = read("lineker", 9).to_line();
    assert_eq!(ok(line.trim_end()), read("lineker", 9), "{line}");
    assert_eq!(ok("read t a 1").token(), Some("t"));
}
