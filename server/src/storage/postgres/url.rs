//! The `postgres://` connect string: our own parameters, and hiding the password.

use std::fmt;

/// Our own connect-string parameter: connections per node.
pub(super) const POOL_SIZE_PARAM: &str = "pool_size";

/// A `postgres://` connect string. It may hold a password, so `Debug` and
/// `Display` show it without one.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(pub(super) String);

impl PostgresUrl {
    /// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
    pub fn matches(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// Wraps a connect string; `None` unless it starts with `postgres://` or
    /// `postgresql://` (the rest is checked when it is opened).
    pub fn new(url: &str) -> Option<Self> {
        Self::matches(url).then(|| PostgresUrl(url.to_string()))
    }

    /// The full connect string, password included: for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The connect string without its password, for logs and messages.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `url` with the password of its user-info (and any `password=` parameter)
/// replaced by `***`.
pub(super) fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => authority.to_string(),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Splits our own parameters ([`POOL_SIZE_PARAM`]) off a connect string: returns
/// the string for the driver and the pool size, if given.
pub(super) fn split_params(url: &str) -> Result<(String, Option<u32>), String> {
    let Some((head, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut pool_size = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((POOL_SIZE_PARAM, value)) => {
                let n = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{POOL_SIZE_PARAM}={value}: expected a number of connections, at least 1"))?;
                pool_size = Some(n);
            }
            _ => rest.push(pair),
        }
    }
    let driver_url = if rest.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", rest.join("&"))
    };
    Ok((driver_url, pool_size))
}
