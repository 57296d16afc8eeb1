//! Abuse limits kept in memory: login backoff per source address and per username,
//! connections per source address, and a request rate per connection.
//!
//! Login backoff is exponential after a few free failures, and it *delays* attempts
//! rather than refusing them: a person who finally types the right password gets in,
//! only later. The per-username delay is capped low (`max_user_delay`), so a third
//! party guessing someone's password can slow the real user by seconds at most, never
//! lock them out; the per-address delay grows much further and stops the guesser.
//! Loopback addresses are exempt from the per-address part by default: behind a local
//! proxy every client would share one address, and the course's programs and test
//! suites run from the server's own host.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Failures before any delay applies.
const FREE_FAILURES: u32 = 5;
/// A record untouched this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Records kept at most per map; past it, forgotten ones are swept first.
const MAX_RECORDS: usize = 100_000;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginBackoff {
    /// Delay after the first failure past the free ones; doubles with each more.
    pub base: Duration,
    /// Cap of the per-address delay.
    pub max_ip_delay: Duration,
    /// Cap of the per-username delay.
    pub max_user_delay: Duration,
    /// Whether loopback clients skip the per-address delay.
    pub exempt_loopback: bool,
}

impl Default for LoginBackoff {
    fn default() -> Self {
        LoginBackoff {
            base: Duration::from_millis(500),
            max_ip_delay: Duration::from_secs(300),
            max_user_delay: Duration::from_secs(5),
            exempt_loopback: true,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    blocked_until: Instant,
    last_failure: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain counters: a panic elsewhere cannot leave them inconsistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Failure records for one kind of key.
#[derive(Debug)]
struct Records<K> {
    map: Mutex<HashMap<K, Record>>,
    cap: Duration,
}

impl<K: Eq + Hash + Clone> Records<K> {
    fn new(cap: Duration) -> Self {
        Records {
            map: Mutex::new(HashMap::new()),
            cap,
        }
    }

    fn blocked_for(&self, key: &K, now: Instant) -> Option<Duration> {
        let map = lock(&self.map);
        let record = map.get(key)?;
        (record.blocked_until > now).then(|| record.blocked_until - now)
    }

    fn fail(&self, key: K, now: Instant, base: Duration) {
        let mut map = lock(&self.map);
        if map.len() >= MAX_RECORDS {
            map.retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
        }
        let record = map.entry(key).or_insert(Record {
            failures: 0,
            blocked_until: now,
            last_failure: now,
        });
        if now.duration_since(record.last_failure) >= FORGET_AFTER {
            record.failures = 0;
        }
        record.failures += 1;
        record.last_failure = now;
        if record.failures > FREE_FAILURES {
            let doublings = (record.failures - FREE_FAILURES - 1).min(20);
            let delay = base.saturating_mul(1 << doublings).min(self.cap);
            record.blocked_until = now + delay;
        }
    }

    fn clear(&self, key: &K) {
        lock(&self.map).remove(key);
    }
}

/// Login backoff by source address and by username.
#[derive(Debug)]
pub struct LoginThrottle {
    settings: LoginBackoff,
    by_ip: Records<IpAddr>,
    by_user: Records<String>,
}

impl LoginThrottle {
    /// A throttle with `settings`.
    pub fn new(settings: LoginBackoff) -> Self {
        LoginThrottle {
            settings,
            by_ip: Records::new(settings.max_ip_delay),
            by_user: Records::new(settings.max_user_delay),
        }
    }

    fn counts_ip(&self, ip: IpAddr) -> bool {
        !(self.settings.exempt_loopback && ip.is_loopback())
    }

    /// How long an attempt from this address for this username must wait first;
    /// `None` if it may go ahead now.
    pub fn delay(&self, ip: IpAddr, username: &str, now: Instant) -> Option<Duration> {
        let by_ip = if self.counts_ip(ip) {
            self.by_ip.blocked_for(&ip, now)
        } else {
            None
        };
        let by_user = self.by_user.blocked_for(&username.to_string(), now);
        by_ip.max(by_user)
    }

    /// Records a failed login.
    pub fn failed(&self, ip: IpAddr, username: &str, now: Instant) {
        if self.counts_ip(ip) {
            self.by_ip.fail(ip, now, self.settings.base);
        }
        self.by_user
            .fail(username.to_string(), now, self.settings.base);
    }

    /// Records a successful login: both records start over.
    pub fn succeeded(&self, ip: IpAddr, username: &str) {
        self.by_ip.clear(&ip);
        self.by_user.clear(&username.to_string());
    }
}

/// Counts open connections per source address.
#[derive(Debug, Clone)]
pub struct PerIpLimit {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Holds one connection's place; gives it back when dropped.
#[derive(Debug)]
pub struct IpSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIpLimit {
    /// At most `max` connections from one address (0: no limit).
    pub fn new(max: usize) -> Self {
        PerIpLimit {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for a new connection from `ip`, unless it already has `max`.
    pub fn acquire(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut open = lock(&self.open);
        let count = open.entry(ip).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A token bucket: `rate` requests per second on average, bursts up to `rate`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket for `rate` requests per second.
    pub fn new(rate: u32, now: Instant) -> Self {
        RateLimit {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: now,
        }
    }

    /// Takes one token; false when the bucket is empty.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const OTHER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn backoff_starts_after_free_failures_and_doubles_up_to_caps() {
        let t = LoginThrottle::new(LoginBackoff {
            exempt_loopback: false,
            ..LoginBackoff::default()
        });
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            t.failed(IP, "messi", now);
        }
        assert_eq!(t.delay(IP, "messi", now), None);
        t.failed(IP, "messi", now);
        assert_eq!(t.delay(IP, "messi", now), Some(Duration::from_millis(500)));
        t.failed(IP, "messi", now);
        assert_eq!(t.delay(IP, "messi", now), Some(Duration::from_millis(1000)));
        for _ in 0..20 {
            t.failed(IP, "messi", now);
        }
        assert_eq!(
            t.delay(IP, "messi", now),
            Some(Duration::from_secs(300)),
            "address capped at 5 min"
        );
        // The real user, from elsewhere, waits only the username cap.
        assert_eq!(
            t.delay(OTHER_IP, "messi", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            t.delay(OTHER_IP, "messi", now + Duration::from_secs(5)),
            None
        );
        t.succeeded(OTHER_IP, "messi");
        assert_eq!(t.delay(OTHER_IP, "messi", now), None);
    }

    #[test]
    fn loopback_skips_the_per_address_delay_by_default() {
        let t = LoginThrottle::new(LoginBackoff::default());
        let now = Instant::now();
        for i in 0..20 {
            t.failed(IP, &format!("user{i}"), now);
        }
        assert_eq!(t.delay(IP, "someone-else", now), None);
        let remote = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        for i in 0..20 {
            t.failed(remote, &format!("user{i}"), now);
        }
        assert!(t.delay(remote, "someone-else", now).is_some());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = LoginThrottle::new(LoginBackoff {
            exempt_loopback: false,
            ..LoginBackoff::default()
        });
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            t.failed(IP, "x", now);
        }
        let later = now + FORGET_AFTER;
        t.failed(IP, "x", later);
        assert_eq!(t.delay(IP, "x", later), None, "count restarted");
    }

    #[test]
    fn per_ip_slots_are_returned_on_drop() {
        let limit = PerIpLimit::new(2);
        let a = limit.acquire(IP).unwrap();
        let _b = limit.acquire(IP).unwrap();
        assert!(limit.acquire(IP).is_none());
        assert!(limit.acquire(OTHER_IP).is_some());
        drop(a);
        assert!(limit.acquire(IP).is_some());
        assert!(
            PerIpLimit::new(0).acquire(IP).is_some(),
            "0 means unlimited"
        );
    }

    #[test]
    fn token_bucket_allows_rate_and_refills() {
        let now = Instant::now();
        let mut r = RateLimit::new(10, now);
        assert_eq!((0..15).filter(|_| r.allow(now)).count(), 10);
        assert!(!r.allow(now + Duration::from_millis(50)));
        assert!(r.allow(now + Duration::from_millis(200)));
    }
}
