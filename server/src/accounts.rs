//! Account management for operators: `chat-server user add|list|passwd|remove`.
//!
//! ```text
//! chat-server [--db URL | --data-dir DIR] user add NAME [--display-name "..."] [--country C] [--password-stdin]
//! chat-server [--db URL | --data-dir DIR] user list
//! chat-server [--db URL | --data-dir DIR] user passwd NAME [--password-stdin]
//! chat-server [--db URL | --data-dir DIR] user remove NAME
//! ```
//!
//! The commands open the same database as the server and may run while it serves
//! (SQLite in WAL mode lets both in; a write waits for the other's through
//! `busy_timeout`). With SQLite, a change returns only once a running server has
//! confirmed it (it keeps sessions in memory): removing an account has ended its
//! sessions there too, a new password is the only one that works. Messages of a
//! removed account stay as history.
//!
//! Passwords come from the first line of standard input with `--password-stdin`
//! (scripts), or else from a prompt on the terminal, without echo, asked twice.

use crate::password::{PasswordError, hash_password};
use crate::storage::{Store, StoreError, User};
use clap::Subcommand;
use std::io::{BufRead as _, IsTerminal as _};
use thiserror::Error;

use crate::text_rules::escape_for_terminal;
pub use crate::users::validate_username;

/// Longest display name or country, in characters (the same as `register`).
pub const MAX_DISPLAY_NAME: usize = 64;
/// Longest password in bytes (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD: usize = 128;

/// `chat-server user ...`: manage accounts in the database.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        /// Account name: 1-32 characters a-z, 0-9, _ . - starting with a letter or digit.
        name: String,
        /// Name shown to others (default: the account name).
        #[arg(long)]
        display_name: Option<String>,
        /// Country (the course's `negara`).
        #[arg(long)]
        country: Option<String>,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts: name, display name, country (never passwords or hashes).
    List,
    /// Set a new password for an account.
    Passwd {
        /// Account name.
        name: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account and end its sessions; its messages stay as history.
    Remove {
        /// Account name.
        name: String,
    },
}

/// Why a `user` command failed. The text is what the operator sees.
#[derive(Debug, Error)]
pub enum AccountError {
    /// The username breaks the naming rules.
    #[error("{0}")]
    InvalidUsername(String),
    /// A display name or country that is too long or holds control or bidi
    /// control characters ([`crate::text_rules::check_display_name`]).
    #[error("invalid {field}: {reason}")]
    InvalidText {
        /// Which option.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `user add` for a name that is taken.
    #[error("user already exists: {0}")]
    Exists(String),
    /// `passwd`/`remove` for a name that is not an account.
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// No usable password was given.
    #[error("{0}")]
    BadPassword(String),
    /// Reading the password failed.
    #[error("reading the password: {0}")]
    Io(#[from] std::io::Error),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] PasswordError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UserExists(name) => AccountError::Exists(name),
            other => AccountError::Store(other),
        }
    }
}

/// Runs a `user` command against `store`, reading any password from standard input
/// or the terminal. Returns the text to print.
pub async fn run_user_command<S: Store>(
    cmd: UserCommand,
    store: &S,
) -> Result<String, AccountError> {
    run_user_command_with(cmd, store, read_password).await
}

/// [`run_user_command`] with the password source given: `read_password(from_stdin)`
/// returns the new password (called on a blocking thread, at most once).
pub async fn run_user_command_with<S, F>(
    cmd: UserCommand,
    store: &S,
    read_password: F,
) -> Result<String, AccountError>
where
    S: Store,
    F: FnOnce(bool) -> Result<String, AccountError> + Send + 'static,
{
    match cmd {
        UserCommand::Add {
            name,
            display_name,
            country,
            password_stdin,
        } => {
            validate_username(&name).map_err(AccountError::InvalidUsername)?;
            let display_name = display_name
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty());
            let display_name = display_name.unwrap_or_else(|| name.clone());
            check_text("display name", &display_name)?;
            let country = country
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty());
            if let Some(c) = &country {
                check_text("country", c)?;
            }
            // Fail before asking for a password the operator would type in vain.
            if store.user(&name).await?.is_some() {
                return Err(AccountError::Exists(name));
            }
            let password_hash = new_password_hash(password_stdin, read_password).await?;
            let user = User {
                username: name.clone(),
                display_name: display_name.clone(),
                country,
                password_hash,
            };
            store.create_user(&user).await?;
            Ok(format!("created user {name} ({display_name})"))
        }
        UserCommand::List => Ok(format_users(&store.list_users().await?)),
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            if store.user(&name).await?.is_none() {
                return Err(AccountError::NoSuchUser(name));
            }
            let hash = new_password_hash(password_stdin, read_password).await?;
            match store.set_password_hash(&name, &hash).await? {
                true => Ok(format!("changed the password of {name}")),
                false => Err(AccountError::NoSuchUser(name)),
            }
        }
        UserCommand::Remove { name } => match store.remove_user(&name).await? {
            true => Ok(format!(
                "removed user {name}; their sessions ended, their messages stay as history"
            )),
            false => Err(AccountError::NoSuchUser(name)),
        },
    }
}

fn check_text(field: &'static str, text: &str) -> Result<(), AccountError> {
    if text.chars().count() > MAX_DISPLAY_NAME {
        return Err(AccountError::InvalidText {
            field,
            reason: format!("at most {MAX_DISPLAY_NAME} characters"),
        });
    }
    crate::text_rules::check_display_name(text).map_err(|why| AccountError::InvalidText {
        field,
        reason: why.replacen("display name ", "", 1),
    })
}

/// Reads a password (off the async runtime), checks it and hashes it.
async fn new_password_hash<F>(from_stdin: bool, read_password: F) -> Result<String, AccountError>
where
    F: FnOnce(bool) -> Result<String, AccountError> + Send + 'static,
{
    let join =
        |e: tokio::task::JoinError| AccountError::BadPassword(format!("password task failed: {e}"));
    let password = tokio::task::spawn_blocking(move || read_password(from_stdin))
        .await
        .map_err(join)??;
    check_password(&password)?;
    Ok(
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(join)??,
    )
}

/// A password must be non-empty and at most [`MAX_PASSWORD`] bytes. Spaces inside
/// are allowed here, though the wire's `auth` splits on spaces: warn-worthy, not fatal.
fn check_password(password: &str) -> Result<(), AccountError> {
    if password.is_empty() {
        return Err(AccountError::BadPassword("the password is empty".into()));
    }
    if password.len() > MAX_PASSWORD {
        return Err(AccountError::BadPassword(format!(
            "password too long (limit {MAX_PASSWORD} bytes)"
        )));
    }
    if password.contains(char::is_whitespace) {
        return Err(AccountError::BadPassword(
            "the password contains whitespace, which the wire protocol cannot carry".into(),
        ));
    }
    Ok(())
}

/// The real password source: stdin's first line, or a twice-asked terminal prompt.
fn read_password(from_stdin: bool) -> Result<String, AccountError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(AccountError::BadPassword(
            "no terminal to ask for the password: pass --password-stdin and write it to standard input".into(),
        ));
    }
    let first = rpassword::prompt_password("New password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        return Err(AccountError::BadPassword("the passwords differ".into()));
    }
    Ok(first)
}

/// `user list` output: aligned columns, a header, and a count.
fn format_users(users: &[User]) -> String {
    if users.is_empty() {
        return "no users".into();
    }
    let width = |f: fn(&User) -> usize, title: &str| {
        users.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    // Names stored by an older version may hold control characters: never print
    // them raw to the operator's terminal.
    let shown: Vec<(String, String)> = users
        .iter()
        .map(|u| {
            (
                escape_for_terminal(&u.display_name),
                escape_for_terminal(u.country.as_deref().unwrap_or("-")),
            )
        })
        .collect();
    let name_w = width(|u| u.username.chars().count(), "USERNAME");
    let display_w = shown
        .iter()
        .map(|(d, _)| d.chars().count())
        .max()
        .unwrap_or(0)
        .max("DISPLAY NAME".len());
    let mut out = format!(
        "{:name_w$}  {:display_w$}  COUNTRY\n",
        "USERNAME", "DISPLAY NAME"
    );
    for (u, (display, country)) in users.iter().zip(&shown) {
        out.push_str(&format!(
            "{:name_w$}  {display:display_w$}  {country}\n",
            u.username
        ));
    }
    out.push_str(&format!(
        "{} user{}",
        users.len(),
        if users.len() == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::verify_password;
    use crate::storage::MemoryStore;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        user: UserCommand,
    }

    fn parse(args: &[&str]) -> Result<UserCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("user").chain(args.iter().copied())).map(|c| c.user)
    }

    fn given(
        password: &'static str,
    ) -> impl FnOnce(bool) -> Result<String, AccountError> + Send + 'static {
        move |_| Ok(password.to_string())
    }

    fn never() -> impl FnOnce(bool) -> Result<String, AccountError> + Send + 'static {
        |_| panic!("no password should be asked for")
    }

    #[test]
    fn command_lines() {
        let add = parse(&[
            "add",
            "arini",
            "--display-name",
            "Arini Indah",
            "--country",
            "Indonesia",
            "--password-stdin",
        ]);
        assert_eq!(
            add.expect("add parses"),
            UserCommand::Add {
                name: "arini".into(),
                display_name: Some("Arini Indah".into()),
                country: Some("Indonesia".into()),
                password_stdin: true
            }
        );
        assert_eq!(parse(&["list"]).expect("list"), UserCommand::List);
        assert_eq!(
            parse(&["passwd", "arini"]).expect("passwd"),
            UserCommand::Passwd {
                name: "arini".into(),
                password_stdin: false
            }
        );
        assert_eq!(
            parse(&["remove", "arini"]).expect("remove"),
            UserCommand::Remove {
                name: "arini".into()
            }
        );
        assert!(parse(&["add"]).is_err(), "a name is required");
        assert!(parse(&["frobnicate"]).is_err());
    }

    #[tokio::test]
    async fn add_list_passwd_remove() {
        let store = MemoryStore::new();
        let add = UserCommand::Add {
            name: "arini".into(),
            display_name: Some("Arini Indah".into()),
            country: None,
            password_stdin: true,
        };
        let out = run_user_command_with(add.clone(), &store, given("hehe"))
            .await
            .expect("add");
        assert_eq!(out, "created user arini (Arini Indah)");
        let arini = store.user("arini").await.expect("read").expect("created");
        assert!(
            verify_password("hehe", &arini.password_hash),
            "stored as a hash of the password"
        );
        assert!(
            matches!(run_user_command_with(add, &store, never()).await, Err(AccountError::Exists(n)) if n == "arini")
        );

        let plain = UserCommand::Add {
            name: "ihdian".into(),
            display_name: None,
            country: Some("Indonesia".into()),
            password_stdin: true,
        };
        run_user_command_with(plain, &store, given("x"))
            .await
            .expect("add with defaults");
        let list = run_user_command_with(UserCommand::List, &store, never())
            .await
            .expect("list");
        assert_eq!(
            list,
            "USERNAME  DISPLAY NAME  COUNTRY\narini     Arini Indah   -\nihdian    ihdian        Indonesia\n2 users"
        );
        assert!(!list.contains("argon2"), "no hashes in the listing");

        let passwd = UserCommand::Passwd {
            name: "arini".into(),
            password_stdin: true,
        };
        run_user_command_with(passwd, &store, given("baru"))
            .await
            .expect("passwd");
        let arini = store
            .user("arini")
            .await
            .expect("read")
            .expect("still there");
        assert!(
            verify_password("baru", &arini.password_hash)
                && !verify_password("hehe", &arini.password_hash)
        );
        let ghost = UserCommand::Passwd {
            name: "ghost".into(),
            password_stdin: true,
        };
        assert!(matches!(
            run_user_command_with(ghost, &store, never()).await,
            Err(AccountError::NoSuchUser(_))
        ));

        let remove = UserCommand::Remove {
            name: "arini".into(),
        };
        run_user_command_with(remove.clone(), &store, never())
            .await
            .expect("remove");
        assert!(store.user("arini").await.expect("read").is_none());
        let again = run_user_command_with(remove, &store, never()).await;
        assert_eq!(
            again.map_err(|e| e.to_string()),
            Err("no such user: arini".to_string())
        );
    }

    #[tokio::test]
    async fn bad_input_is_refused_with_a_reason() {
        let store = MemoryStore::new();
        let add = |name: &str, display: Option<&str>| UserCommand::Add {
            name: name.into(),
            display_name: display.map(String::from),
            country: None,
            password_stdin: true,
        };
        let err = run_user_command_with(add("Bad Name", None), &store, never())
            .await
            .expect_err("bad name");
        assert!(
            err.to_string()
                .starts_with("invalid username: use 1-32 characters"),
            "{err}"
        );
        let long = "x".repeat(65);
        let err = run_user_command_with(add("ok", Some(&long)), &store, never())
            .await
            .expect_err("long display");
        assert_eq!(
            err.to_string(),
            "invalid display name: at most 64 characters"
        );
        for (bad, why) in [
            (
                "evil\u{202E}",
                "contains bidirectional control character \\u{202e}",
            ),
            ("bell\u{7}", "contains control character \\u{7}"),
        ] {
            let err = run_user_command_with(add("ok", Some(bad)), &store, never())
                .await
                .expect_err("bad display name");
            assert_eq!(err.to_string(), format!("invalid display name: {why}"));
        }
        for (password, reason) in [
            ("", "empty"),
            ("two words", "whitespace"),
            (&*"p".repeat(129), "too long"),
        ] {
            let password = password.to_string();
            let err = run_user_command_with(add("ok", None), &store, move |_| Ok(password))
                .await
                .expect_err("bad password");
            assert!(err.to_string().contains(reason), "{err}");
        }
        assert!(
            store.list_users().await.expect("list").is_empty(),
            "nothing was created"
        );
    }
}
