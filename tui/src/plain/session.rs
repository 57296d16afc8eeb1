//! One person's session over one connection: holds the token, turns a [`Command`]
//! into a request, and its reply into [`Outcome`] lines.
//!
//! The token never leaves this type except through `--show-token`. A command that
//! needs a session fails locally with `error: not logged in`, without a round trip.

use super::command::{Command, HELP};
use super::format::{self, Line, Outcome};
use crate::client::{Client, ClientError};
use chat_protocol::{Dialect, Reply, Request};
use chrono::TimeZone;
use std::fmt::Display;
use tokio::io::{AsyncRead, AsyncWrite};

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Each server response as one JSON line instead of text.
    pub json: bool,
    /// Print the token after login (and in JSON lines).
    pub show_token: bool,
}

/// A logged-in (or not yet logged-in) person.
#[derive(Debug)]
pub struct Session<S, Tz: TimeZone> {
    pub(super) client: Client<S>,
    pub(super) token: Option<String>,
    /// The last login that worked, to log in again after a reconnect.
    /// (Its `Debug` hides the password.)
    pub(super) credentials: Option<(Dialect, crate::worker::Credentials)>,
    username: Option<String>,
    /// The dialect of the last login: `/msg` and the background poll speak it.
    dialect: Dialect,
    style: Style,
    tz: Tz,
}

impl<S, Tz> Session<S, Tz>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Tz: TimeZone,
    Tz::Offset: Display,
{
    /// A session not logged in yet; times are shown in `tz`.
    pub fn new(client: Client<S>, style: Style, tz: Tz) -> Self {
        Session {
            client,
            token: None,
            credentials: None,
            username: None,
            dialect: Dialect::Course,
            style,
            tz,
        }
    }

    /// The logged-in username.
    pub fn username(&self) -> Option<&str> {
        self.token.as_ref().and(self.username.as_deref())
    }

    /// Whether a session is open.
    pub fn logged_in(&self) -> bool {
        self.token.is_some()
    }

    /// Runs one command. `Err` only when the connection failed; a refused command is
    /// an `Outcome` with `ok == false`.
    pub async fn execute(&mut self, command: Command) -> Result<Outcome, ClientError> {
        match command {
            Command::Help => {
                return Ok(Outcome::done(HELP.iter().map(|s| s.to_string()).collect()));
            }
            Command::Quit => return Ok(Outcome::done(Vec::new())),
            Command::Login {
                dialect,
                username,
                password,
            } => {
                return self.login(dialect, username, password).await;
            }
            _ => {}
        }
        let Some(token) = self.token.clone() else {
            return Ok(Outcome::failed("not logged in"));
        };
        let Some(request) = session_request(&command, token, self.dialect) else {
            return Ok(Outcome::done(Vec::new()));
        };
        let reply = self.client.call(&request).await?;
        if command == Command::Logout && reply.is_ok() {
            self.token = None;
        }
        let me = self.username.clone().unwrap_or_default();
        Ok(self.render(request.verb(), &reply, |r| {
            success_lines(&command, r, &me, &self.tz)
        }))
    }

    /// Takes new messages for the background poll: nothing when there are none or
    /// when not logged in. A refused poll ends the session (its token is no good).
    pub async fn poll(&mut self) -> Result<Vec<Line>, ClientError> {
        let Some(token) = self.token.clone() else {
            return Ok(Vec::new());
        };
        let reply = self
            .client
            .call(&Request::Inbox {
                dialect: self.dialect,
                token,
            })
            .await?;
        if !reply.is_ok() {
            self.token = None;
            let reason = format::error_reason("inbox", &reply);
            return Ok(vec![Line::error(format!("{reason} (session ended)"))]);
        }
        let groups = match reply.inbox() {
            Ok(groups) => groups,
            Err(e) => return Ok(vec![Line::error(e)]),
        };
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        if self.style.json {
            return Ok(vec![Line::Out(format::json_line(
                &reply,
                self.style.show_token,
            ))]);
        }
        let me = self.username.clone().unwrap_or_default();
        Ok(format::inbox_lines(&me, &groups, &self.tz)
            .into_iter()
            .map(Line::Out)
            .collect())
    }

    /// Ends the session quietly (at exit), unless the token was shown: then the
    /// person asked for it to use elsewhere.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        if self.style.show_token {
            return Ok(());
        }
        if let Some(token) = self.token.take() {
            self.client.call(&Request::Logout { token }).await?;
        }
        Ok(())
    }

    async fn login(
        &mut self,
        dialect: Dialect,
        username: String,
        password: String,
    ) -> Result<Outcome, ClientError> {
        let request = Request::Login {
            dialect,
            username: username.clone(),
            password: password.clone(),
        };
        let reply = self.client.call(&request).await?;
        if reply.is_ok() {
            let Some(token) = reply.token() else {
                return Ok(Outcome::failed("the server sent no token"));
            };
            // The new session replaces the old one: don't leave that dangling.
            if let Some(old) = self.token.replace(token.to_string()) {
                self.client.call(&Request::Logout { token: old }).await?;
            }
            let credentials = crate::worker::Credentials {
                username: username.clone(),
                password,
            };
            self.credentials = Some((dialect, credentials));
            self.username = Some(reply.username.clone().unwrap_or(username));
            self.dialect = dialect;
        }
        let shown = self.username.clone().unwrap_or_default();
        let show = self.style.show_token;
        Ok(self.render(request.verb(), &reply, |r| {
            Ok(vec![format::login_line(
                &shown,
                r.token().unwrap_or_default(),
                show,
            )])
        }))
    }

    /// The lines for a reply: JSON, or the human text `ok_lines` gives for a success,
    /// or `error: reason` for a failure (also after the JSON line).
    fn render(
        &self,
        verb: &str,
        reply: &Reply,
        ok_lines: impl FnOnce(&Reply) -> Result<Vec<String>, String>,
    ) -> Outcome {
        let human = if reply.is_ok() {
            ok_lines(reply)
        } else {
            Err(format::error_reason(verb, reply))
        };
        let mut lines = Vec::new();
        if self.style.json {
            lines.push(Line::Out(format::json_line(reply, self.style.show_token)));
        }
        match human {
            Ok(text) if !self.style.json => lines.extend(text.into_iter().map(Line::Out)),
            Ok(_) => {}
            Err(reason) => lines.push(Line::error(reason)),
        }
        let ok = !lines.iter().any(|l| matches!(l, Line::Err(_)));
        Outcome { lines, ok }
    }
}

/// The request a command that needs a session sends (`None` for the others);
/// `/msg` speaks `default`, the dialect of the login.
fn session_request(command: &Command, token: String, default: Dialect) -> Option<Request> {
    let request = match command {
        Command::Send { dialect, to, text } => Request::Send {
            dialect: dialect.unwrap_or(default),
            token,
            to: to.clone(),
            message: text.clone(),
        },
        Command::Inbox { dialect } => Request::Inbox {
            dialect: *dialect,
            token,
        },
        Command::Active { dialect } => Request::ActiveUsers {
            dialect: *dialect,
            token,
        },
        Command::Logout => Request::Logout { token },
        Command::History { peer, limit } => Request::History {
            token,
            peer: peer.clone(),
            limit: *limit,
            before_id: None,
        },
        Command::Login { .. } | Command::Help | Command::Quit => return None,
    };
    Some(request)
}

/// What a successful reply to `command` prints; `Err` when the reply, though OK,
/// cannot be read.
fn success_lines<Tz: TimeZone>(
    command: &Command,
    reply: &Reply,
    me: &str,
    tz: &Tz,
) -> Result<Vec<String>, String>
where
    Tz::Offset: Display,
{
    match command {
        Command::Send { to, .. } => Ok(vec![format!("message sent to {}", format::clean(to))]),
        Command::Inbox { .. } => {
            let groups = reply.inbox().map_err(|e| e.to_string())?;
            Ok(or_else(
                format::inbox_lines(me, &groups, tz),
                "(no new messages)".into(),
            ))
        }
        Command::Active { .. } => Ok(vec![format::active_line(&reply.active_users())]),
        Command::Logout => Ok(vec!["logout success".into()]),
        Command::History { peer, .. } => history_text(reply, peer, tz),
        Command::Login { .. } | Command::Help | Command::Quit => Ok(Vec::new()),
    }
}

/// `lines`, or the one line `empty` says when there are none.
fn or_else(lines: Vec<String>, empty: String) -> Vec<String> {
    if lines.is_empty() { vec![empty] } else { lines }
}

/// A history reply as lines; a server that answers OK without a list of messages
/// does not really know the command.
fn history_text<Tz: TimeZone>(reply: &Reply, peer: &str, tz: &Tz) -> Result<Vec<String>, String>
where
    Tz::Offset: Display,
{
    if !matches!(reply.messages, Some(serde_json::Value::Array(_))) {
        return Err("the server does not support history".into());
    }
    let entries = reply.history().map_err(|e| e.to_string())?;
    let lines = format::history_lines(&entries, tz);
    Ok(or_else(
        lines,
        format!("(no messages with {})", format::clean(peer)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, duplex};
    use tokio::task::JoinHandle;

    /// A scripted server: for each expected request line, one canned response.
    /// Returns the lines it actually got, so a test can compare them.
    fn fake_server(
        script: Vec<(&'static str, &'static str)>,
    ) -> (DuplexStream, JoinHandle<Vec<String>>) {
        let (client_end, server_end) = duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let (read, mut write) = tokio::io::split(server_end);
            let mut lines = BufReader::new(read).lines();
            let mut got = Vec::new();
            for (_, response) in &script {
                let Ok(Some(line)) = lines.next_line().await else {
                    break;
                };
                got.push(line.trim_end().to_string());
                let wire = format!("{response}\r\n\r\n");
                if write.write_all(wire.as_bytes()).await.is_err() {
                    break;
                }
            }
            got
        });
        (client_end, task)
    }

    async fn run_script(
        style: Style,
        commands: &[&str],
        script: Vec<(&'static str, &'static str)>,
    ) -> (Vec<Outcome>, Vec<String>, Vec<String>) {
        let want: Vec<String> = script.iter().map(|(line, _)| line.to_string()).collect();
        let (stream, server) = fake_server(script);
        let mut session = Session::new(Client::new(stream), style, Utc);
        let mut outcomes = Vec::new();
        for line in commands {
            let command = Command::parse(line).expect(line);
            outcomes.push(session.execute(command).await.expect("connection"));
        }
        drop(session);
        (outcomes, server.await.expect("server task"), want)
    }

    fn out(lines: &[&str]) -> Outcome {
        Outcome {
            lines: lines.iter().map(|s| Line::Out(s.to_string())).collect(),
            ok: true,
        }
    }

    #[tokio::test]
    async fn a_session_against_our_server() {
        let script = vec![
            (
                "auth messi surabaya",
                r#"{"status": "OK", "tokenid": "T1", "tokenId": "T1", "username": "messi", "display_name": "Lionel Messi"}"#,
            ),
            (
                "send T1 henderson hello there",
                r#"{"status": "OK", "message": "Message Sent", "id": 1, "ts": "2026-11-22T12:00:00Z"}"#,
            ),
            (
                "send T1 bob hi",
                r#"{"status": "ERROR", "message": "unknown recipient: bob"}"#,
            ),
            (
                "inbox T1",
                r#"{"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Lionel Messi", "msg": "piye kabare?", "id": 2, "ts": "2026-11-22T12:01:00Z"}]}}"#,
            ),
            ("inbox T1", r#"{"status": "OK", "messages": {}}"#),
            (
                "user_aktif T1",
                r#"{"status": "OK", "message": "lineker, messi, ", "users": ["lineker", "messi"]}"#,
            ),
            (
                "history T1 lineker 50",
                r#"{"status": "OK", "peer": "lineker", "messages": []}"#,
            ),
            (
                "logout T1",
                r#"{"status": "OK", "message": "logout success"}"#,
            ),
        ];
        let commands = [
            "auth messi surabaya",
            "send henderson hello there",
            "/msg bob hi",
            "inbox",
            "inbox",
            "user_aktif",
            "/history lineker",
            "logout",
            "inbox",
        ];
        let (outcomes, got, want) = run_script(Style::default(), &commands, script).await;
        assert_eq!(got, want);
        assert_eq!(
            outcomes,
            vec![
                out(&["username messi logged in"]),
                out(&["message sent to henderson"]),
                Outcome::failed("unknown recipient: bob"),
                out(&["[12:01] lineker -> messi: piye kabare?"]),
                out(&["(no new messages)"]),
                out(&["active: lineker, messi"]),
                out(&["(no messages with lineker)"]),
                out(&["logout success"]),
                Outcome::failed("not logged in"),
            ]
        );
    }

    #[tokio::test]
    async fn dialect_b_goes_out_in_dialect_b() {
        let script = vec![
            (
                "login lineker surabaya",
                r#"{"status": "OK", "tokenid": "T2"}"#,
            ),
            (
                "chat T2 messi piye kabare?",
                r#"{"status": "OK", "message": "Message Sent"}"#,
            ),
            (
                "chat T2 messi lagi",
                r#"{"status": "OK", "message": "Message Sent"}"#,
            ),
            ("kotakmasuk T2", r#"{"status": "OK", "messages": {}}"#),
            ("user_on T2", r#"{"status": "OK", "message": "lineker, "}"#),
        ];
        let commands = [
            "login lineker surabaya",
            "chat messi piye kabare?",
            "/msg messi lagi",
            "kotakmasuk",
            "user_on",
        ];
        let (outcomes, got, want) = run_script(Style::default(), &commands, script).await;
        assert_eq!(got, want);
        assert_eq!(outcomes[0], out(&["username lineker logged in"]));
        assert_eq!(outcomes[1], out(&["message sent to messi"]));
        assert_eq!(outcomes[4], out(&["active: lineker"]));
    }

    #[tokio::test]
    async fn the_course_python_server_is_understood() {
        let script = vec![
            (
                "auth messi surabaya",
                r#"{"status": "OK", "tokenid": "abc"}"#,
            ),
            (
                "inbox abc",
                r#"{"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Lionel Messi", "msg": " piye kabare? \r\n"}]}}"#,
            ),
            (
                "history abc henderson 50",
                r#"{"status": "ERROR", "message": "**Protocol Tidak Benar"}"#,
            ),
            (
                "user_aktif abc",
                r#"{"status": "ERROR", "message": "**Protocol Tidak Benar"}"#,
            ),
            (
                "send abc bob hi",
                r#"{"status": "ERROR", "message": "Informasi tidak ditemukan"}"#,
            ),
        ];
        let commands = [
            "auth messi surabaya",
            "inbox",
            "/history henderson",
            "user_aktif",
            "send bob hi",
        ];
        let (outcomes, got, want) = run_script(Style::default(), &commands, script).await;
        assert_eq!(got, want);
        assert_eq!(
            outcomes,
            vec![
                out(&["username messi logged in"]),
                out(&["lineker -> messi: piye kabare?"]),
                Outcome::failed("the server does not support history"),
                Outcome::failed("the server does not support user_aktif"),
                Outcome::failed("Informasi tidak ditemukan"),
            ]
        );
    }

    #[tokio::test]
    async fn json_style_prints_one_line_per_response_and_errors_too() {
        let script = vec![
            (
                "auth messi surabaya",
                r#"{"status": "OK", "tokenid": "T1", "tokenId": "T1", "username": "messi"}"#,
            ),
            (
                "send T1 bob hi",
                r#"{"status": "ERROR", "message": "unknown recipient: bob"}"#,
            ),
        ];
        let style = Style {
            json: true,
            show_token: false,
        };
        let (outcomes, _, _) =
            run_script(style, &["auth messi surabaya", "send bob hi"], script).await;
        assert_eq!(outcomes[0], out(&[r#"{"status":"OK","username":"messi"}"#]));
        assert_eq!(
            outcomes[1],
            Outcome {
                lines: vec![
                    Line::Out(r#"{"status":"ERROR","message":"unknown recipient: bob"}"#.into()),
                    Line::Err("error: unknown recipient: bob".into()),
                ],
                ok: false,
            }
        );
    }

    #[tokio::test]
    async fn show_token_prints_it_and_relogin_replaces_the_session() {
        let script = vec![
            (
                "auth messi surabaya",
                r#"{"status": "OK", "tokenid": "T1"}"#,
            ),
            (
                "login henderson surabaya",
                r#"{"status": "OK", "tokenid": "T2"}"#,
            ),
            (
                "logout T1",
                r#"{"status": "OK", "message": "logout success"}"#,
            ),
            (
                "auth henderson wrong",
                r#"{"status": "ERROR", "message": "wrong password"}"#,
            ),
            (
                "chat T2 x y",
                r#"{"status": "OK", "message": "Message Sent"}"#,
            ),
        ];
        let style = Style {
            json: false,
            show_token: true,
        };
        let commands = [
            "auth messi surabaya",
            "login henderson surabaya",
            "auth henderson wrong",
            "/msg x y",
        ];
        let (outcomes, got, want) = run_script(style, &commands, script).await;
        assert_eq!(got, want);
        assert_eq!(outcomes[0], out(&["username messi logged in, token: T1"]));
        assert_eq!(
            outcomes[1],
            out(&["username henderson logged in, token: T2"])
        );
        assert_eq!(outcomes[2], Outcome::failed("wrong password"));
        // the failed login kept the session, and /msg speaks the dialect of its login
        assert_eq!(outcomes[3], out(&["message sent to x"]));
    }

    #[tokio::test]
    async fn poll_prints_only_new_messages_and_a_dead_token_stops_it() {
        let script = vec![
            (
                "auth messi surabaya",
                r#"{"status": "OK", "tokenid": "T1"}"#,
            ),
            ("inbox T1", r#"{"status": "OK", "messages": {}}"#),
            (
                "inbox T1",
                r#"{"status": "OK", "messages": {"lineker": [{"msg_from": "G", "msg_to": "L", "msg": "yo", "id": 9, "ts": "2026-11-22T08:30:00Z"}]}}"#,
            ),
            (
                "inbox T1",
                r#"{"status": "ERROR", "message": "invalid or expired token"}"#,
            ),
        ];
        let (stream, server) = fake_server(script);
        let mut session = Session::new(Client::new(stream), Style::default(), Utc);
        assert_eq!(session.poll().await.expect("poll"), Vec::<Line>::new());
        let login = Command::parse("auth messi surabaya").expect("parse");
        assert!(session.execute(login).await.expect("login").ok);
        assert_eq!(session.username(), Some("messi"));
        assert_eq!(session.poll().await.expect("poll"), Vec::<Line>::new());
        assert_eq!(
            session.poll().await.expect("poll"),
            vec![Line::Out("[08:30] lineker -> messi: yo".into())]
        );
        assert_eq!(
            session.poll().await.expect("poll"),
            vec![Line::Err(
                "error: invalid or expired token (session ended)".into()
            )]
        );
        assert!(!session.logged_in());
        assert_eq!(session.poll().await.expect("poll"), Vec::<Line>::new());
        drop(session);
        assert_eq!(server.await.expect("server").len(), 4);
    }

    #[tokio::test]
    async fn close_logs_out_unless_the_token_was_shown() {
        let script = vec![
            (
                "auth messi surabaya",
                r#"{"status": "OK", "tokenid": "T1"}"#,
            ),
            (
                "logout T1",
                r#"{"status": "OK", "message": "logout success"}"#,
            ),
        ];
        let want: Vec<String> = script.iter().map(|(l, _)| l.to_string()).collect();
        let (stream, server) = fake_server(script);
        let mut session = Session::new(Client::new(stream), Style::default(), Utc);
        let login = Command::parse("auth messi surabaya").expect("parse");
        assert!(session.execute(login).await.expect("login").ok);
        session.close().await.expect("close");
        assert!(!session.logged_in());
        drop(session);
        assert_eq!(server.await.expect("server"), want);
    }
}
