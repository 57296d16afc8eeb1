//! The config file: TOML in the platform's config directory, flags win over it.
//!
//! ```text
//! # ~/.config/chat/config.toml (Linux; see `chat --help` for the path used here)
//! addr = "127.0.0.1:8889"
//! username = "messi"
//! poll_interval = "1s"      # or 0.5 (seconds), "500ms"
//! bell = true
//!
//! [colors]                  # names ("cyan", "lightred") or "#rrggbb"
//! accent = "cyan"
//! own = "green"
//! peer = "yellow"          # all other people; unset: each their own colour
//! unread = "lightred"
//! error = "red"
//! ```
//!
//! A missing default file is fine; a file named with `--config` must exist; a broken
//! file is an error that names the file and the line (the toml crate's message).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ratatui::style::Color;
use serde::Deserialize;
use thiserror::Error;

/// Where the address points when nobody says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8889";
/// How often to poll when nobody says otherwise.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// Why the config could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file named with `--config` could not be read.
    #[error("config file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not as a source, so it is printed once).
        error: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong field (the message names the line).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The toml crate's message, with line and column.
        message: String,
    },
    /// A value has the right type but makes no sense.
    #[error("config file {path}: {key}: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// Which key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// A number of seconds or a text such as `"500ms"` or `"2s"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(f64),
    Text(String),
}

/// The file as written; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<String>,
    username: Option<String>,
    poll_interval: Option<DurationValue>,
    bell: Option<bool>,
    #[serde(default)]
    colors: FileColors,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileColors {
    accent: Option<String>,
    own: Option<String>,
    peer: Option<String>,
    unread: Option<String>,
    error: Option<String>,
}

/// Colours of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Borders of the focused parts, the selection marker.
    pub accent: Color,
    /// Own name in conversations.
    pub own: Color,
    /// Other people's names: `None` (the default) gives each person a colour of
    /// their own ([`crate::palette`]); a colour set in the file is used for all.
    pub peer: Option<Color>,
    /// Unread counts and the "new messages" ruler.
    pub unread: Color,
    /// Errors.
    pub error: Color,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            accent: Color::Cyan,
            own: Color::Green,
            peer: None,
            unread: Color::LightRed,
            error: Color::Red,
        }
    }
}

/// What the config file says, checked and with defaults filled in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Server address.
    pub addr: Option<String>,
    /// Account name.
    pub username: Option<String>,
    /// Poll interval.
    pub poll_interval: Option<Duration>,
    /// Ring the bell on messages in hidden conversations.
    pub bell: Option<bool>,
    /// Colours.
    pub theme: Theme,
}

/// The platform's default config file (`~/.config/chat/config.toml` on Linux).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "chat").map(|d| d.config_dir().join("config.toml"))
}

/// Loads `explicit` (must exist) or else the default file (may be missing).
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(Config::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(error) => Err(ConfigError::Read { path, error }),
    }
}

/// Parses the text of a config file; `path` is only for messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let bad = |key: &str, message: String| ConfigError::Value {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let poll_interval = match file.poll_interval {
        None => None,
        Some(DurationValue::Seconds(s)) if s.is_finite() && s > 0.0 && s <= 3600.0 => {
            Some(Duration::from_secs_f64(s))
        }
        Some(DurationValue::Seconds(s)) => {
            return Err(bad(
                "poll_interval",
                format!("{s} is not between 0 and 3600 seconds"),
            ));
        }
        Some(DurationValue::Text(t)) => {
            Some(parse_duration(&t).map_err(|e| bad("poll_interval", e))?)
        }
    };
    let mut theme = Theme::default();
    let colors = [
        ("colors.accent", &file.colors.accent, &mut theme.accent),
        ("colors.own", &file.colors.own, &mut theme.own),
        ("colors.unread", &file.colors.unread, &mut theme.unread),
        ("colors.error", &file.colors.error, &mut theme.error),
    ];
    let color = |key: &str, name: &String| {
        Color::from_str(name)
            .map_err(|_| bad(key, format!("{name:?} is not a colour name or #rrggbb")))
    };
    for (key, value, slot) in colors {
        if let Some(name) = value {
            *slot = color(key, name)?;
        }
    }
    if let Some(name) = &file.colors.peer {
        theme.peer = Some(color("colors.peer", name)?);
    }
    Ok(Config {
        addr: file.addr,
        username: file.username,
        poll_interval,
        bell: file.bell,
        theme,
    })
}

/// Parses `250ms`, `1s`, `1.5s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (examples: 500ms, 1s, 2m)"))?;
    let secs = value * scale;
    if !(secs.is_finite() && (0.01..=3600.0).contains(&secs)) {
        return Err(format!("{text:?} is not between 10ms and 1 hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/x/config.toml"))
    }

    #[test]
    fn full_file_reads() {
        let c = p(r##"
addr = "chat.example:9000"
username = "messi"
poll_interval = "500ms"
bell = false
[colors]
accent = "magenta"
own = "#00ff00"
"##)
        .unwrap();
        assert_eq!(c.addr.as_deref(), Some("chat.example:9000"));
        assert_eq!(c.username.as_deref(), Some("messi"));
        assert_eq!(c.poll_interval, Some(Duration::from_millis(500)));
        assert_eq!(c.bell, Some(false));
        assert_eq!(c.theme.accent, Color::Magenta);
        assert_eq!(c.theme.own, Color::Rgb(0, 255, 0));
        assert_eq!(c.theme.peer, Theme::default().peer);
    }

    #[test]
    fn empty_file_is_defaults_and_numbers_are_seconds() {
        assert_eq!(p("").unwrap(), Config::default());
        assert_eq!(
            p("poll_interval = 2").unwrap().poll_interval,
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn broken_file_names_file_and_line() {
        let e = p("addr = \"x\"\nusername = \n").unwrap_err().to_string();
        assert!(e.starts_with("config file /x/config.toml:"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        let e = p("addr = \"x\"\n\nfrobs = 1\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("frobs"), "{e}");
        let e = p("[colors]\nown = \"purpleish\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colors.own"), "{e}");
        let e = p("poll_interval = -1").unwrap_err().to_string();
        assert!(e.contains("poll_interval"), "{e}");
    }

    #[test]
    fn missing_files() {
        let dir = std::env::temp_dir().join(format!("chat-tui-cfg-{}", std::process::id()));
        let missing = dir.join("nope.toml");
        assert!(matches!(
            load(Some(&missing)),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("2h").is_err());
    }
}
