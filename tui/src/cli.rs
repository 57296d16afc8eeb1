//! The command line of `chat`, and how it combines with the config file.

use crate::client::{TlsOptions, Transport};
use crate::tls_trust::Fingerprint;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::{self, Config, Theme};

/// Chat client for the course's line protocol: a full-screen terminal UI, or a plain
/// line mode for scripts and dumb terminals.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat",
    version = chat_build_info::VERSION,
    after_help = "The password comes from --password-stdin, CHAT_PASSWORD, or a prompt.\n\
                  Plain mode is used with --plain, --once, --json, when standard output is \
                  not a terminal, or when TERM=dumb.\n\
                  Config file: ~/.config/chat/config.toml (or --config); flags override it."
)]
pub struct Cli {
    /// Server address, HOST:PORT [default: 127.0.0.1:8889]
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Log in as this user (the password is asked for unless given otherwise).
    #[arg(long, short = 'u', value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password as one line of standard input before anything else.
    #[arg(long)]
    pub password_stdin: bool,
    /// How often to poll the inbox, e.g. 500ms, 2s [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = config::parse_duration)]
    pub poll_interval: Option<Duration>,
    /// How long one `sync` waits for news on servers that have it, e.g. 25s
    /// (at most 60s) [default: 25s]
    #[arg(long, value_name = "DURATION", value_parser = config::parse_duration)]
    pub sync_wait: Option<Duration>,
    /// Don't ring the terminal bell on new messages.
    #[arg(long)]
    pub no_bell: bool,
    /// Write logs to this file (never to the screen).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Use this config file instead of the default one.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Plain line mode instead of the full-screen UI.
    #[arg(long)]
    pub plain: bool,
    /// Plain mode: print the server's replies as JSON.
    #[arg(long)]
    pub json: bool,
    /// Plain mode: go on after a failed command.
    #[arg(long)]
    pub keep_going: bool,
    /// Plain mode: run one command (e.g. "inbox") and exit.
    #[arg(long, value_name = "CMD")]
    pub once: Option<String>,
    /// Plain mode: print the session token after login.
    #[arg(long)]
    pub show_token: bool,
    /// Connect with TLS, verifying the server against the system's root certificates.
    #[arg(long)]
    pub tls: bool,
    /// Connect with TLS, trusting only the CA certificate(s) in this PEM file, and
    /// the server's own certificate if it is in the file (a self-signed one).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Connect with TLS, trusting only the server certificate with this SHA-256
    /// fingerprint (`SHA256:AB:CD:...`, colons optional; chat-server logs it at start).
    #[arg(long, value_name = "SHA256:HEX")]
    pub tls_fingerprint: Option<Fingerprint>,
    /// TESTING ONLY: connect with TLS without verifying the server's certificate, so
    /// anyone on the network can pretend to be the server.
    #[arg(long)]
    pub insecure: bool,
}

/// Everything the full-screen client needs, flags and config file merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Server address.
    pub addr: String,
    /// Account name, when known before the UI starts.
    pub username: Option<String>,
    /// Poll interval (servers without `sync`).
    pub poll_interval: Duration,
    /// How long one `sync` waits (servers with it).
    pub sync_wait: Duration,
    /// Ring the bell.
    pub bell: bool,
    /// Colours.
    pub theme: Theme,
    /// Plain TCP or TLS.
    pub transport: Transport,
}

impl Cli {
    /// Whether to run plain mode rather than the full-screen UI.
    pub fn wants_plain(&self, stdout_is_terminal: bool, term: Option<&str>) -> bool {
        self.plain
            || self.once.is_some()
            || self.json
            || !stdout_is_terminal
            || term == Some("dumb")
    }

    /// Flags over the config file over the defaults.
    pub fn settings(&self, file: &Config) -> Settings {
        Settings {
            addr: self
                .addr
                .clone()
                .or_else(|| file.addr.clone())
                .unwrap_or_else(|| config::DEFAULT_ADDR.to_string()),
            username: self.user.clone().or_else(|| file.username.clone()),
            poll_interval: self
                .poll_interval
                .or(file.poll_interval)
                .unwrap_or(config::DEFAULT_POLL),
            sync_wait: self
                .sync_wait
                .unwrap_or(crate::worker::DEFAULT_SYNC_WAIT)
                .clamp(Duration::from_secs(1), Duration::from_secs(60)),
            bell: !self.no_bell && file.bell.unwrap_or(true),
            theme: file.theme,
            transport: self.transport(),
        }
    }

    /// TLS when `--tls`, `--ca`, `--tls-fingerprint` or `--insecure` is given, else
    /// plain TCP.
    pub fn transport(&self) -> Transport {
        if self.tls || self.ca.is_some() || self.tls_fingerprint.is_some() || self.insecure {
            Transport::Tls(TlsOptions {
                ca: self.ca.clone(),
                fingerprint: self.tls_fingerprint,
                insecure: self.insecure,
            })
        } else {
            Transport::Plain
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("chat").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_override_file_override_defaults() {
        let file = Config {
            addr: Some("file:1".into()),
            username: Some("lineker".into()),
            poll_interval: Some(Duration::from_secs(5)),
            bell: Some(false),
            theme: Theme::default(),
        };
        let s = cli(&[]).settings(&Config::default());
        assert_eq!(s.addr, "127.0.0.1:8889");
        assert_eq!(s.username, None);
        assert_eq!(s.poll_interval, Duration::from_secs(1));
        assert!(s.bell);
        let s = cli(&[]).settings(&file);
        assert_eq!(
            (s.addr.as_str(), s.username.as_deref()),
            ("file:1", Some("lineker"))
        );
        assert_eq!(s.poll_interval, Duration::from_secs(5));
        assert!(!s.bell);
        let s = cli(&[
            "--addr",
            "h:2",
            "--user",
            "messi",
            "--poll-interval",
            "250ms",
        ])
        .settings(&file);
        assert_eq!(
            (s.addr.as_str(), s.username.as_deref()),
            ("h:2", Some("messi"))
        );
        assert_eq!(s.poll_interval, Duration::from_millis(250));
        assert!(!cli(&["--no-bell"]).settings(&Config::default()).bell);
    }

    #[test]
    fn plain_mode_choice() {
        assert!(!cli(&[]).wants_plain(true, Some("xterm")));
        assert!(cli(&["--plain"]).wants_plain(true, Some("xterm")));
        assert!(cli(&["--once", "inbox"]).wants_plain(true, Some("xterm")));
        assert!(cli(&["--json"]).wants_plain(true, Some("xterm")));
        assert!(cli(&[]).wants_plain(false, Some("xterm")));
        assert!(cli(&[]).wants_plain(true, Some("dumb")));
    }

    #[test]
    fn bad_poll_interval_is_rejected() {
        assert!(Cli::try_parse_from(["chat", "--poll-interval", "soon"]).is_err());
    }
}
