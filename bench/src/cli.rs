//! Command-line options: what to load, how hard, for how long.
//!
//! One [`Options`] value drives every mode; [`Options::mode`] says which one the flags
//! select. Tests build it with `Options::try_parse_from([...])`, exactly as a shell would.

use crate::escape::{EscapeError, unescape};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const LONG_ABOUT: &str = "\
A closed-loop load generator for chat-server over real TCP.

Every connection keeps one request in flight: it sends a line, waits for the whole
reply, records the latency and sends again. After --warmup, replies are counted for
--duration; then the tool stops and reports ops/s, latency percentiles (p50, p99,
p99.9, max, from an HDR histogram) and errors (ERROR replies, unreadable replies,
broken connections), as text or, with --json, as one JSON object.

Modes:
  (default)          closed loop of --workload inbox|send|ping on --connections
  --workload mix     simulated TUI clients: each polls inbox and user_aktif every
                     --poll-interval and sends a message every --send-every
  --idle N           open N logged-in connections, hold them, optionally --burst
  --raw LINE         any line protocol: send LINE, wait for --terminator
                     (e.g. redis-server: --raw 'PING\\r\\n' --terminator '\\r\\n')

Examples:
  chat-bench --addr 127.0.0.1:8889 --connections 50 --duration 10s --workload inbox
  chat-bench --addr 127.0.0.1:8889 --duration 2s --connections 4 --json   (smoke)
  chat-bench --addr 127.0.0.1:6379 --raw 'PING\\r\\n' --terminator '\\r\\n' -c 50
  chat-bench --addr 127.0.0.1:8889 --idle 19000 --burst --server-pid $PID
  chat-bench --addr 127.0.0.1:8889 --workload mix --connections 10000";

/// Connections per loopback source address when `--source-ips` is not given: well
/// under chat-server's default per-address limit (256).
const PER_SOURCE_IP: usize = 128;
/// Most source addresses: 127.0.0.2 up to 127.255.255.254 would do; this is plenty.
const MAX_SOURCE_IPS: u32 = 65_000;

/// What each connection of the closed loop (or each simulated client) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `inbox <token>` in a closed loop (polling an empty inbox).
    Inbox,
    /// `send <token> <peer> <text>` in a closed loop (a durable write each).
    Send,
    /// A population of TUI clients: paced polls of `inbox` and `user_aktif`, sends now and then.
    Mix,
    /// `ping` in a closed loop: no session, no storage; the server's floor.
    Ping,
    /// Sender/receiver pairs at a fixed rate: send-to-receive latency, lost, duplicated,
    /// server CPU per delivered message (see --pairs, --rate, --receive, --protocol).
    Delivery,
}

/// How delivery-mode receivers of chat-server learn of new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Receive {
    /// Keep one `sync <token> <after_id> <--sync-wait>` waiting; reissue with `next`.
    Sync,
    /// Poll `inbox <token>` every --poll-interval, as today's clients do.
    Inbox,
}

/// The protocol of delivery mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// chat-server's line protocol (`send`, then `sync` or `inbox`).
    Chat,
    /// IRC: NICK/USER, PRIVMSG to a nick (or with --fanout to a channel).
    Irc,
}

impl Protocol {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Chat => "chat",
            Protocol::Irc => "irc",
        }
    }
}

impl Workload {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Inbox => "inbox",
            Workload::Send => "send",
            Workload::Mix => "mix",
            Workload::Ping => "ping",
            Workload::Delivery => "delivery",
        }
    }

    /// Whether the workload needs session tokens.
    pub fn needs_login(self) -> bool {
        !matches!(self, Workload::Ping)
    }
}

/// The mode the flags select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Closed loop of one chat request kind.
    Closed(Workload),
    /// Paced simulated clients.
    Mix,
    /// Hold this many connections.
    Idle(usize),
    /// Sender/receiver pairs (or one sender's fan-out) at a fixed rate.
    Delivery,
    /// Closed loop of an arbitrary line (bytes to send, terminator to wait for).
    Raw {
        /// The request, escapes interpreted.
        line: Vec<u8>,
        /// What ends a reply, escapes interpreted.
        terminator: Vec<u8>,
        /// Replies starting with this are errors, escapes interpreted.
        error_prefix: Option<Vec<u8>>,
    },
}

/// `chat-bench`'s options.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-bench", version, about, long_about = LONG_ABOUT)]
pub struct Options {
    /// Server address, host:port.
    #[arg(long, default_value = "127.0.0.1:8889")]
    pub addr: String,

    /// Connections (closed loop, raw) or simulated clients (mix).
    #[arg(long, short = 'c', default_value_t = 50, value_name = "N")]
    pub connections: usize,

    /// How long to measure, after the warm-up (e.g. 10s, 500ms). With --idle: how long to hold.
    #[arg(long, short = 'd', default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Duration,

    /// Load this long before measuring; what happens then is not counted.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub warmup: Duration,

    /// What each connection does.
    #[arg(long, short = 'w', value_enum, default_value_t = Workload::Inbox)]
    pub workload: Workload,

    /// Distinct accounts to spread the connections over (connection i uses account i mod N).
    /// Each account logs in once; its token is shared by all of its connections. The
    /// accounts come from --user-file, else the course's demo users (messi, henderson,
    /// lineker, password surabaya); with --register, missing ones are created.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub users: usize,

    /// Accounts to use, one per line: `username password [display name]` (the format of
    /// chat-server's --users file; `#` comments and blank lines are skipped).
    #[arg(long, value_name = "FILE")]
    pub user_file: Option<PathBuf>,

    /// Create the accounts that --users asks for beyond the known ones (`bench-1`,
    /// `bench-2`, ... with password `bench-password`) with `register`; the server must
    /// run with --allow-register. Accounts that already exist are used as they are.
    #[arg(long)]
    pub register: bool,

    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// A name for this run, copied into the report (for scripts that collect many runs).
    #[arg(long)]
    pub label: Option<String>,

    /// Exit with status 1 when the run had errors or counted no operations (for CI).
    #[arg(long)]
    pub fail_on_error: bool,

    /// Idle mode: open N connections, log each in (one `inbox` with its account's token),
    /// hold them for --duration and report how many were established.
    #[arg(long, value_name = "N", conflicts_with = "raw")]
    pub idle: Option<usize>,

    /// With --idle: once all are open, send one `inbox` on every connection at the same
    /// instant and report the latency distribution of that burst.
    #[arg(long, requires = "idle")]
    pub burst: bool,

    /// With --burst: replies slower than this are counted as late.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub burst_deadline: Duration,

    /// The server's process id: its resident memory (VmRSS in /proc/PID/status) is
    /// reported before connecting and once every connection is open.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Raw mode: send LINE and wait for --terminator, in a closed loop. Escapes \r \n \t
    /// \0 \\ and \xHH are interpreted, so this loads any request/response line protocol.
    #[arg(long, value_name = "LINE")]
    pub raw: Option<String>,

    /// With --raw: what ends a reply (escapes interpreted).
    #[arg(long, default_value = "\\r\\n", value_name = "T")]
    pub terminator: String,

    /// With --raw: replies that start with this count as ERROR replies (escapes
    /// interpreted), e.g. `-` for redis-server's `-ERR`/`-DENIED` replies.
    #[arg(long, value_name = "PREFIX", requires = "raw")]
    pub error_prefix: Option<String>,

    /// Mix: how often each client polls `inbox` and `user_aktif` (clients are spread evenly over the interval).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,

    /// Mix: how often each client sends a message (each at its own random phase).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub send_every: Duration,

    /// Text of the messages that `send` and `mix` send.
    #[arg(long, default_value = "hello from chat-bench")]
    pub message: String,

    /// When the server is on IPv4 loopback, bind the client sockets to this many source
    /// addresses (127.0.0.2, 127.0.0.3, ...) so tens of thousands of connections neither
    /// run out of ephemeral ports nor exceed the server's per-address connection limit;
    /// 0 lets the kernel choose. Default: 0 up to 128 connections, else enough addresses
    /// (at least 64) for at most 128 connections each. redis-server in protected mode
    /// refuses clients other than 127.0.0.1: use 0 there, or --protected-mode no.
    #[arg(long, value_name = "N")]
    pub source_ips: Option<u32>,

    /// Most connection attempts in flight at once (keeps the server's accept backlog from overflowing).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub connect_concurrency: usize,

    /// Delivery: sender/receiver pairs (2N connections, each its own account or nick).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub pairs: usize,

    /// Delivery: messages per second of each sender, on a fixed schedule (open loop).
    #[arg(long, default_value_t = 1.0, value_name = "MSGS_PER_SEC")]
    pub rate: f64,

    /// Delivery over chat: receivers wait in `sync` or poll `inbox` every --poll-interval.
    #[arg(long, value_enum, default_value_t = Receive::Sync)]
    pub receive: Receive,

    /// Delivery: the server's protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    pub protocol: Protocol,

    /// Delivery: one sender to a group of K receivers instead of pairs (IRC: a channel
    /// of K members; chat: groups of issue 18, not in chat-server yet, an error for now).
    #[arg(long, value_name = "K")]
    pub fanout: Option<usize>,

    /// Delivery: how long receivers keep reading after the window (inbox polling: at
    /// least two poll intervals).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub drain: Duration,

    /// Delivery with --receive sync: the wait_seconds of each `sync` (0-60).
    #[arg(long, default_value_t = 25, value_name = "SECONDS")]
    pub sync_wait: u32,

    /// Delivery over IRC: start of every nick (and the channel); the rest is random per run.
    #[arg(long, default_value = "cb", value_name = "PREFIX")]
    pub nick_prefix: String,

    /// Runtime worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl Options {
    /// The mode the flags select, with the raw line and terminator decoded.
    pub fn mode(&self) -> Result<Mode, EscapeError> {
        if let Some(n) = self.idle {
            return Ok(Mode::Idle(n));
        }
        if let Some(raw) = &self.raw {
            let error_prefix = self.error_prefix.as_deref().map(unescape).transpose()?;
            return Ok(Mode::Raw {
                line: unescape(raw)?,
                terminator: unescape(&self.terminator)?,
                error_prefix: error_prefix.filter(|p| !p.is_empty()),
            });
        }
        Ok(match self.workload {
            Workload::Mix => Mode::Mix,
            Workload::Delivery => Mode::Delivery,
            other => Mode::Closed(other),
        })
    }

    /// The drain of delivery mode: --drain, but at least two poll intervals when
    /// receivers poll `inbox`.
    pub fn effective_drain(&self) -> Duration {
        match (self.protocol, self.receive) {
            (Protocol::Chat, Receive::Inbox) => self.drain.max(self.poll_interval * 2),
            _ => self.drain,
        }
    }

    /// Source addresses to spread `connections` over (see `--source-ips`).
    pub fn source_ips_for(&self, connections: usize) -> u32 {
        self.source_ips.unwrap_or_else(|| {
            if connections <= PER_SOURCE_IP {
                return 0;
            }
            let needed = connections.div_ceil(PER_SOURCE_IP);
            u32::try_from(needed)
                .unwrap_or(u32::MAX)
                .clamp(64, MAX_SOURCE_IPS)
        })
    }

    /// Checks the combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.users == 0 {
            return Err("--users must be at least 1".into());
        }
        if self.idle == Some(0) {
            return Err("--idle must be at least 1".into());
        }
        if self.duration.is_zero() {
            return Err("--duration must be more than 0".into());
        }
        if self.poll_interval.is_zero() || self.send_every.is_zero() {
            return Err("--poll-interval and --send-every must be more than 0".into());
        }
        if self.connect_concurrency == 0 {
            return Err("--connect-concurrency must be at least 1".into());
        }
        if self.message.trim().is_empty() || self.message.contains(['\r', '\n']) {
            return Err("--message must be one non-empty line".into());
        }
        if self.workload == Workload::Delivery {
            self.validate_delivery()?;
        }
        if let Some(Ok(Mode::Raw { terminator, .. })) = self.raw.as_ref().map(|_| self.mode())
            && terminator.is_empty()
        {
            return Err("--terminator must not be empty".into());
        }
        Ok(())
    }
}

impl Options {
    fn validate_delivery(&self) -> Result<(), String> {
        if self.pairs == 0 || self.fanout == Some(0) {
            return Err("--pairs and --fanout must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1e6) {
            return Err("--rate must be a number of messages per second above 0".into());
        }
        if self.sync_wait > 60 {
            return Err("--sync-wait must be 0-60 seconds".into());
        }
        let prefix_ok = self.nick_prefix.len() <= 12
            && self
                .nick_prefix
                .starts_with(|c: char| c.is_ascii_alphabetic())
            && self.nick_prefix.chars().all(|c| c.is_ascii_alphanumeric());
        if !prefix_ok {
            return Err(
                "--nick-prefix must be 1-12 letters and digits, starting with a letter".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let mut all = vec!["chat-bench"];
        all.extend_from_slice(args);
        Options::try_parse_from(all).expect("valid options")
    }

    #[test]
    fn defaults_are_a_closed_inbox_loop() {
        let o = parse(&[]);
        assert_eq!(o.mode(), Ok(Mode::Closed(Workload::Inbox)));
        assert_eq!(o.connections, 50);
        assert_eq!(o.duration, Duration::from_secs(10));
        assert!(o.validate().is_ok());
    }

    #[test]
    fn source_addresses_grow_with_connections() {
        let o = parse(&[]);
        assert_eq!(o.source_ips_for(50), 0);
        assert_eq!(o.source_ips_for(500), 64);
        assert_eq!(o.source_ips_for(19_000), 149);
        assert_eq!(parse(&["--source-ips", "0"]).source_ips_for(19_000), 0);
    }

    #[test]
    fn raw_mode_decodes_escapes() {
        let o = parse(&["--raw", "PING\\r\\n", "--terminator", "\\r\\n"]);
        let want = Mode::Raw {
            line: b"PING\r\n".to_vec(),
            terminator: b"\r\n".to_vec(),
            error_prefix: None,
        };
        assert_eq!(o.mode(), Ok(want));
        let o = parse(&["--raw", "PING\\r\\n", "--error-prefix", "-"]);
        assert!(matches!(o.mode(), Ok(Mode::Raw { error_prefix: Some(p), .. }) if p == b"-"));
    }

    #[test]
    fn idle_wins_and_burst_needs_idle() {
        assert_eq!(
            parse(&["--idle", "10", "--burst"]).mode(),
            Ok(Mode::Idle(10))
        );
        let mut all = vec!["chat-bench", "--burst"];
        all.push("--json");
        assert!(Options::try_parse_from(all).is_err());
    }

    #[test]
    fn mix_and_durations() {
        let o = parse(&[
            "-w",
            "mix",
            "--poll-interval",
            "250ms",
            "--send-every",
            "5s",
            "-d",
            "2s",
        ]);
        assert_eq!(o.mode(), Ok(Mode::Mix));
        assert_eq!(o.poll_interval, Duration::from_millis(250));
        assert_eq!(o.send_every, Duration::from_secs(5));
    }

    #[test]
    fn delivery_flags() {
        let o = parse(&[
            "-w",
            "delivery",
            "--pairs",
            "9000",
            "--rate",
            "0.1",
            "--receive",
            "inbox",
        ]);
        assert_eq!(o.mode(), Ok(Mode::Delivery));
        assert_eq!((o.pairs, o.rate, o.receive), (9000, 0.1, Receive::Inbox));
        assert_eq!(o.protocol, Protocol::Chat);
        // Inbox polling needs a drain of two poll intervals at least.
        assert_eq!(o.effective_drain(), Duration::from_secs(3));
        let o = parse(&[
            "-w",
            "delivery",
            "--receive",
            "inbox",
            "--poll-interval",
            "5s",
        ]);
        assert_eq!(o.effective_drain(), Duration::from_secs(10));
        let o = parse(&["-w", "delivery", "--protocol", "irc", "--fanout", "199"]);
        assert_eq!((o.protocol, o.fanout), (Protocol::Irc, Some(199)));
        assert!(o.validate().is_ok());
        for bad in [
            &["--rate", "0"][..],
            &["--rate", "NaN"],
            &["--pairs", "0"],
            &["--fanout", "0"],
            &["--sync-wait", "61"],
            &["--nick-prefix", "9x"],
            &["--nick-prefix", "a b"],
        ] {
            let mut args = vec!["-w", "delivery"];
            args.extend_from_slice(bad);
            assert!(parse(&args).validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validation_rejects_nonsense() {
        assert!(parse(&["-c", "0"]).validate().is_err());
        assert!(parse(&["--users", "0"]).validate().is_err());
        assert!(
            parse(&["--raw", "x", "--terminator", ""])
                .validate()
                .is_err()
        );
        assert!(parse(&["--message", " "]).validate().is_err());
    }
}
