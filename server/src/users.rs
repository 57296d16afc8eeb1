//! Accounts the server starts with: the course's demo users and `--users` files.
//!
//! A users file has one account per line, in the order of the `register` command:
//!
//! ```text
//! # username password display name...
//! arini hehe Arini Indah Nur Fuadah
//! ihdiannaja rahasia Ihdiannaja
//! ```
//!
//! Blank lines and lines starting with `#` are skipped. The display name is the rest
//! of the line (the username when absent).

use crate::password::{PasswordError, hash_password};
use crate::storage::{Store, StoreError, User};
use crate::text_rules;
use thiserror::Error;

/// The course reference's users: `(username, display name, country, password)`.
pub const DEMO_USERS: [(&str, &str, &str, &str); 3] = [
    ("messi", "Lionel Messi", "Argentina", "surabaya"),
    ("henderson", "Jordan Henderson", "Inggris", "surabaya"),
    ("lineker", "Gary Lineker", "Inggris", "surabaya"),
];

/// An account to create, password still in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    /// Account name.
    pub username: String,
    /// Clear password, hashed before storing.
    pub password: String,
    /// Display name.
    pub display_name: String,
    /// Country, if known.
    pub country: Option<String>,
}

/// Why accounts could not be loaded or created.
#[derive(Debug, Error)]
pub enum UsersError {
    /// A users-file line is malformed.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// File name.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The demo users as account specs.
pub fn demo_users() -> Vec<AccountSpec> {
    DEMO_USERS
        .iter()
        .map(|(username, display, country, password)| AccountSpec {
            username: username.to_string(),
            password: password.to_string(),
            display_name: display.to_string(),
            country: Some(country.to_string()),
        })
        .collect()
}

/// Parses the text of a users file; `path` only names it in errors.
pub fn parse_users_file(path: &str, text: &str) -> Result<Vec<AccountSpec>, UsersError> {
    let mut specs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.splitn(3, char::is_whitespace);
        let (Some(username), Some(password)) = (words.next(), words.next()) else {
            return Err(UsersError::Syntax {
                path: path.to_string(),
                line: i + 1,
                reason: "expected: username password [display name]".into(),
            });
        };
        if let Err(reason) = validate_username(username) {
            return Err(UsersError::Syntax {
                path: path.to_string(),
                line: i + 1,
                reason,
            });
        }
        let display = words
            .next()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .unwrap_or(username);
        if let Err(reason) = text_rules::check_display_name(display) {
            return Err(UsersError::Syntax {
                path: path.to_string(),
                line: i + 1,
                reason,
            });
        }
        specs.push(AccountSpec {
            username: username.to_string(),
            password: password.to_string(),
            display_name: display.to_string(),
            country: None,
        });
    }
    Ok(specs)
}

/// Checks a username: 1 to 32 characters of `a-z 0-9 _ . -`, starting with a letter
/// or digit. Lowercase only, so `Messi` and `messi` cannot be two people.
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok_len = (1..=32).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(
            "invalid username: use 1-32 characters a-z, 0-9, _ . - starting with a letter or digit"
                .into(),
        )
    }
}

/// Creates the accounts that don't exist yet; existing ones are left untouched.
/// Returns how many were created.
pub async fn ensure_accounts<S: Store>(
    store: &S,
    specs: Vec<AccountSpec>,
) -> Result<usize, UsersError> {
    let mut created = 0;
    for spec in specs {
        if store.user(&spec.username).await?.is_some() {
            continue;
        }
        let password = spec.password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| PasswordError::from_join(e.to_string()))??;
        let user = User {
            username: spec.username,
            display_name: spec.display_name,
            country: spec.country,
            password_hash: hash,
        };
        match store.create_user(&user).await {
            Ok(()) => created += 1,
            Err(StoreError::UserExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(created)
}

/// Warns in the log about each account whose display name holds characters that
/// [`text_rules::check_display_name`] now refuses (a database written by an older
/// version, or by another program). Reports only: the names stay as they are, since
/// changing someone's name silently is worse than telling the operator, who can
/// recreate the account. Returns how many were reported.
pub async fn report_unsafe_display_names<S: Store>(store: &S) -> Result<usize, StoreError> {
    let mut found = 0;
    for user in store.list_users().await? {
        if let Err(reason) = text_rules::check_display_name(&user.display_name) {
            found += 1;
            // Escaped here too: the JSON log format leaves C1 and bidi characters raw.
            tracing::warn!(
                user = %user.username,
                display_name = %text_rules::escape_for_terminal(&user.display_name),
                %reason,
                "stored display name has characters that are now refused; clients will show it as is"
            );
        }
    }
    Ok(found)
}

/// Creates the demo users (messi, henderson, lineker; password `surabaya`).
pub async fn seed_demo_users<S: Store>(store: &S) -> Result<(), UsersError> {
    ensure_accounts(store, demo_users()).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    #[test]
    fn users_file_display_names_follow_the_text_rules() {
        for (line, why) in [
            ("arini pw Ar\u{1b}[2Jini", "control character \\u{1b}"),
            (
                "arini pw evil\u{202E}txt",
                "bidirectional control character \\u{202e}",
            ),
            ("arini pw a\u{85}b", "control character \\u{85}"),
        ] {
            let err = parse_users_file("u.txt", line).unwrap_err().to_string();
            assert_eq!(err, format!("u.txt:1: display name contains {why}"));
        }
    }

    #[tokio::test]
    async fn unsafe_stored_display_names_are_reported() {
        let store = MemoryStore::new();
        seed_demo_users(&store).await.unwrap();
        for (name, display) in [("old1", "Bad\u{1b}]0;x\u{7}"), ("old2", "\u{202E}abc")] {
            let user = User {
                username: name.into(),
                display_name: display.into(),
                country: None,
                password_hash: "x".into(),
            };
            store.create_user(&user).await.unwrap();
        }
        assert_eq!(report_unsafe_display_names(&store).await.unwrap(), 2);
    }

    #[test]
    fn users_file_lines() {
        let text = "# comment\n\narini hehe Arini Indah Nur Fuadah\n  ihdian rahasia  \n";
        let specs = parse_users_file("u.txt", text).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].display_name, "Arini Indah Nur Fuadah");
        assert_eq!(specs[0].password, "hehe");
        assert_eq!(specs[1].display_name, "ihdian");
        let err = parse_users_file("u.txt", "ok pw\nlonely\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "u.txt:2: expected: username password [display name]");
        let err = parse_users_file("u.txt", "Bad! pw\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("u.txt:1: invalid username"), "{err}");
    }

    #[test]
    fn username_rules() {
        for good in ["messi", "a", "user_1.x-y", "9lives", &"a".repeat(32)] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Messi",
            "_x",
            ".x",
            "a b",
            "ünï",
            &"a".repeat(33),
            "a\u{0}",
        ] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn demo_users_are_created_once_with_hashed_passwords() {
        let store = MemoryStore::new();
        seed_demo_users(&store).await.unwrap();
        seed_demo_users(&store).await.unwrap();
        let users = store.list_users().await.unwrap();
        assert_eq!(users.len(), 3);
        let messi = store.user("messi").await.unwrap().unwrap();
        assert_eq!(messi.display_name, "Lionel Messi");
        assert!(crate::password::verify_password(
            "surabaya",
            &messi.password_hash
        ));
    }
}
