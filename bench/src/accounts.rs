//! Accounts and sessions: which users the connections act as, and their tokens.
//!
//! Each account logs in once; connection `i` uses account `i mod users` and shares its
//! token, since tokens are bearer tokens valid on any connection. Logging in every
//! connection would mostly measure argon2 (each `auth` verifies a password hash on
//! purpose slowly), which is not what a load test of requests is after.

use crate::conn::{Conn, ConnError, connect};
use anyhow::{Context as _, Result, bail};
use chat_protocol::{Dialect, Request};
use std::net::SocketAddr;
use std::path::Path;
use tokio::task::JoinSet;

/// The course's demo users; all have the password `surabaya`.
pub const DEMO_USERS: [&str; 3] = ["messi", "henderson", "lineker"];
/// Password of the demo users.
pub const DEMO_PASSWORD: &str = "surabaya";
/// Password of the accounts `--register` creates.
pub const BENCH_PASSWORD: &str = "bench-password";
/// Logins (and registrations) in flight at once: each costs the server an argon2 hash.
const LOGIN_PARALLELISM: usize = 4;

/// An account to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Username.
    pub username: String,
    /// Password in clear.
    pub password: String,
    /// Whether the tool should create it with `register` first.
    pub register: bool,
}

impl Account {
    fn known(username: &str, password: &str) -> Self {
        Account {
            username: username.into(),
            password: password.into(),
            register: false,
        }
    }
}

/// Parses a users file: `username password [display name...]` per line.
pub fn parse_user_file(text: &str) -> Result<Vec<Account>> {
    let mut accounts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(user), Some(password)) => accounts.push(Account::known(user, password)),
            _ => bail!(
                "line {}: expected `username password [display name]`",
                i + 1
            ),
        }
    }
    Ok(accounts)
}

/// The first `wanted` accounts: from `known` (the users file, or the demo users), then
/// `bench-1`, `bench-2`, ... to register when `register` is set.
pub fn choose(known: Vec<Account>, wanted: usize, register: bool) -> Result<Vec<Account>> {
    let mut accounts: Vec<Account> = known.into_iter().take(wanted).collect();
    if accounts.len() < wanted && !register {
        bail!(
            "--users {wanted} but only {} accounts are known: pass --user-file, or --register \
             (the server must run with --allow-register)",
            accounts.len()
        );
    }
    let mut n = 0;
    while accounts.len() < wanted {
        n += 1;
        accounts.push(Account {
            username: format!("bench-{n}"),
            password: BENCH_PASSWORD.into(),
            register: true,
        });
    }
    Ok(accounts)
}

/// The accounts the options ask for.
pub fn from_options(
    user_file: Option<&Path>,
    wanted: usize,
    register: bool,
) -> Result<Vec<Account>> {
    let known = match user_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_user_file(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => DEMO_USERS
            .iter()
            .map(|u| Account::known(u, DEMO_PASSWORD))
            .collect(),
    };
    choose(known, wanted, register)
}

/// Registers (where asked) and logs in every account; returns the tokens in order.
pub async fn log_in_all(server: SocketAddr, accounts: &[Account]) -> Result<Vec<String>> {
    let lanes = LOGIN_PARALLELISM.min(accounts.len()).max(1);
    let mut set = JoinSet::new();
    for lane in 0..lanes {
        let mine: Vec<(usize, Account)> = accounts
            .iter()
            .cloned()
            .enumerate()
            .skip(lane)
            .step_by(lanes)
            .collect();
        set.spawn(async move {
            let stream = connect(server, lane, 0)
                .await
                .context("connecting to log in")?;
            let mut conn = Conn::chat(stream);
            let mut tokens = Vec::with_capacity(mine.len());
            for (i, account) in mine {
                tokens.push((i, log_in(&mut conn, &account).await?));
            }
            anyhow::Ok(tokens)
        });
    }
    let mut tokens = vec![String::new(); accounts.len()];
    while let Some(done) = set.join_next().await {
        for (i, token) in done.context("login task")?? {
            tokens[i] = token;
        }
    }
    Ok(tokens)
}

/// Registers the account if asked, then logs it in.
async fn log_in(conn: &mut Conn, account: &Account) -> Result<String> {
    let user = &account.username;
    if account.register {
        let line = Request::Register {
            username: user.clone(),
            password: account.password.clone(),
            display_name: None,
        }
        .to_line();
        let reply = conn.request(line.as_bytes()).await.map_err(setup_error)?;
        let message = reply.message_text().unwrap_or_default();
        if !reply.is_ok() && !message.contains("already exists") {
            bail!("register {user}: {message} (does the server run with --allow-register?)");
        }
    }
    let line = Request::Login {
        dialect: Dialect::Course,
        username: user.clone(),
        password: account.password.clone(),
    }
    .to_line();
    let reply = conn.request(line.as_bytes()).await.map_err(setup_error)?;
    match reply.token() {
        Some(token) if reply.is_ok() => Ok(token.to_string()),
        _ => bail!(
            "auth {user}: {}",
            reply
                .message_text()
                .unwrap_or_else(|| "no token in the reply".into())
        ),
    }
}

fn setup_error(e: ConnError) -> anyhow::Error {
    anyhow::anyhow!("during login: {e}")
}

/// Pre-formatted request lines (terminator included) for every connection.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// `inbox <token>` of connection i's account.
    pub inbox: Vec<u8>,
    /// `user_aktif <token>`.
    pub user_aktif: Vec<u8>,
    /// `send <token> <next account> <message>`.
    pub send: Vec<u8>,
}

/// The lines of each account: account `i` sends to account `i + 1` (to itself when alone).
pub fn lines_per_account(accounts: &[Account], tokens: &[String], message: &str) -> Vec<Lines> {
    let n = accounts.len();
    (0..n)
        .map(|i| {
            let token = tokens.get(i).cloned().unwrap_or_default();
            let peer = accounts[(i + 1) % n].username.clone();
            Lines {
                inbox: Request::Inbox {
                    dialect: Dialect::Course,
                    token: token.clone(),
                }
                .to_line()
                .into_bytes(),
                user_aktif: Request::ActiveUsers {
                    dialect: Dialect::Course,
                    token: token.clone(),
                }
                .to_line()
                .into_bytes(),
                send: Request::Send {
                    dialect: Dialect::Course,
                    token,
                    to: peer,
                    message: message.into(),
                }
                .to_line()
                .into_bytes(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_file_lines() {
        let got =
            parse_user_file("# users\n\narini hehe Arini Indah\n  bob secret \n").expect("valid");
        assert_eq!(
            got,
            vec![
                Account::known("arini", "hehe"),
                Account::known("bob", "secret")
            ]
        );
        assert!(parse_user_file("lonely\n").is_err());
    }

    #[test]
    fn choose_fills_with_registrations_only_when_allowed() {
        let demo: Vec<Account> = DEMO_USERS
            .iter()
            .map(|u| Account::known(u, DEMO_PASSWORD))
            .collect();
        assert_eq!(choose(demo.clone(), 2, false).expect("enough").len(), 2);
        assert!(choose(demo.clone(), 5, false).is_err());
        let five = choose(demo, 5, true).expect("register");
        assert_eq!(five[3].username, "bench-1");
        assert!(five[4].register && !five[2].register);
    }

    #[test]
    fn lines_are_preformatted_requests() {
        let accounts = vec![Account::known("a", "p"), Account::known("b", "p")];
        let lines = lines_per_account(&accounts, &["t1".into(), "t2".into()], "hi there");
        assert_eq!(lines[0].inbox, b"inbox t1\r\n");
        assert_eq!(lines[1].user_aktif, b"user_aktif t2\r\n");
        assert_eq!(lines[1].send, b"send t2 a hi there\r\n");
    }
}
