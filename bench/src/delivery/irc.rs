//! Just enough IRC for a delivery run: line framing, registration (`NICK`/`USER`,
//! then wait for `001`), `JOIN`, answering `PING` with `PONG`, and reading `PRIVMSG`.
//! [`parse`] is a plain function over one line; [`IrcConn`] does the I/O.

use crate::conn::ConnError;
use bytes::{Buf, BytesMut};
use std::ops::RangeInclusive;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Numeric replies that report a failure (ERR_*: 400-599, RFC 2812 section 5.2).
pub const ERROR_NUMERICS: RangeInclusive<u16> = 400..=599;
/// `RPL_WELCOME`: registration is complete.
pub const RPL_WELCOME: u16 = 1;
/// `RPL_ENDOFNAMES`: the end of the member list that follows a JOIN.
pub const RPL_ENDOFNAMES: u16 = 366;
/// Longest line kept before it is given up as garbage (RFC 2812 allows 512 bytes).
const MAX_LINE: usize = 64 * 1024;

/// What one line from the server is, as far as a delivery run cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// `PING <params>`: answer `PONG <params>`.
    Ping(&'a str),
    /// `PRIVMSG <target> :<text>`.
    Privmsg {
        /// A nick or a channel.
        target: &'a str,
        /// The message.
        text: &'a str,
    },
    /// A three-digit reply, with its parameters.
    Numeric(u16, &'a str),
    /// `ERROR :<reason>`: the server is closing the connection.
    Error(&'a str),
    /// Anything else (notices, JOINs of others, MODE, ...).
    Other,
}

/// Reads one line (without its `\r\n`): an optional `:prefix`, the command, its
/// parameters; a trailing parameter starts with ` :`.
pub fn parse(line: &str) -> Event<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = match line.strip_prefix(':') {
        Some(prefixed) => prefixed.split_once(' ').map_or("", |(_, r)| r),
        None => line,
    };
    let rest = rest.trim_start_matches(' ');
    let (command, params) = rest.split_once(' ').unwrap_or((rest, ""));
    match command {
        "PING" => Event::Ping(params),
        "ERROR" => Event::Error(params.strip_prefix(':').unwrap_or(params)),
        "PRIVMSG" => match params.split_once(' ') {
            Some((target, text)) => Event::Privmsg {
                target,
                text: text.strip_prefix(':').unwrap_or(text),
            },
            None => Event::Other,
        },
        c if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
            Event::Numeric(c.parse().unwrap_or(0), params)
        }
        _ => Event::Other,
    }
}

/// The registration lines for `nick`.
pub fn registration(nick: &str) -> String {
    format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n")
}

/// One IRC connection with its read buffer.
#[derive(Debug)]
pub struct IrcConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl IrcConn {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        IrcConn {
            stream,
            buf: BytesMut::with_capacity(2048),
        }
    }

    /// Writes `data` (lines with their `\r\n`).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(data).await?;
        Ok(())
    }

    /// The next line, without its line end. Cancel-safe: a partial line stays buffered.
    pub async fn next_line(&mut self) -> Result<String, ConnError> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf) {
                let line = self.buf.split_to(pos);
                self.buf.advance(1);
                return Ok(String::from_utf8_lossy(&line).trim_end_matches('\r').into());
            }
            if self.buf.len() > MAX_LINE {
                return Err(ConnError::BadReply("an IRC line longer than 64 KiB".into()));
            }
            self.buf.reserve(2048);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    /// Answers a `PING`; returns whether `event` was one.
    pub async fn pong_if_ping(&mut self, event: Event<'_>) -> Result<bool, ConnError> {
        if let Event::Ping(params) = event {
            self.send(format!("PONG {params}\r\n").as_bytes()).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads until the numeric `done` arrives, answering PINGs; an error numeric or
    /// `ERROR` fails with its text.
    async fn until(&mut self, done: u16, what: &str) -> Result<(), String> {
        loop {
            let line = self.next_line().await.map_err(|e| format!("{what}: {e}"))?;
            let event = parse(&line);
            match event {
                Event::Numeric(n, _) if n == done => return Ok(()),
                Event::Numeric(n, _) if ERROR_NUMERICS.contains(&n) => {
                    return Err(format!("{what}: {line}"));
                }
                Event::Error(reason) => return Err(format!("{what}: ERROR {reason}")),
                _ => {
                    self.pong_if_ping(event)
                        .await
                        .map_err(|e| format!("{what}: {e}"))?;
                }
            }
        }
    }

    /// Registers as `nick` and waits for `001`.
    pub async fn register(&mut self, nick: &str) -> Result<(), String> {
        self.send(registration(nick).as_bytes())
            .await
            .map_err(|e| format!("registering {nick}: {e}"))?;
        self.until(RPL_WELCOME, &format!("registering {nick}"))
            .await
    }

    /// Joins `channel` and waits for the end of its member list.
    pub async fn join(&mut self, channel: &str) -> Result<(), String> {
        self.send(format!("JOIN {channel}\r\n").as_bytes())
            .await
            .map_err(|e| format!("joining {channel}: {e}"))?;
        self.until(RPL_ENDOFNAMES, &format!("joining {channel}"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_into_events() {
        assert_eq!(parse("PING :irc.local"), Event::Ping(":irc.local"));
        assert_eq!(
            parse("PING irc.example.net\r"),
            Event::Ping("irc.example.net")
        );
        assert_eq!(
            parse(":cbs1!cbs1@127.0.0.2 PRIVMSG cbr1 :dlv:1:2:3:4"),
            Event::Privmsg {
                target: "cbr1",
                text: "dlv:1:2:3:4"
            }
        );
        assert_eq!(
            parse(":a!b@c PRIVMSG #chan :two words"),
            Event::Privmsg {
                target: "#chan",
                text: "two words"
            }
        );
        assert_eq!(
            parse(":irc.local 001 cbr1 :Welcome"),
            Event::Numeric(1, "cbr1 :Welcome")
        );
        assert_eq!(
            parse(":irc.local 433 * cbr1 :Nickname is already in use"),
            Event::Numeric(433, "* cbr1 :Nickname is already in use")
        );
        assert_eq!(
            parse("ERROR :Closing link: (x) [Excess Flood]"),
            Event::Error("Closing link: (x) [Excess Flood]")
        );
        assert_eq!(parse(":a!b@c JOIN :#chan"), Event::Other);
        assert_eq!(parse(":a PRIVMSG"), Event::Other);
        assert_eq!(parse(""), Event::Other);
        assert_eq!(registration("n1"), "NICK n1\r\nUSER n1 0 * :n1\r\n");
    }
}
