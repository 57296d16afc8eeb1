//! Prometheus metrics: what the server counts, and the calls that count it.
//!
//! One process-wide set of metrics ([`global`]), recorded by one-line calls from the
//! listener, the handler, the commands and the stores, and served in the
//! OpenMetrics text format (which Prometheus scrapes) by [`http::serve`] when
//! `--metrics-listen` is given. Encoding is `prometheus-client`'s.
//!
//! # Cost
//! Every series is made at start and kept in an array, so recording never looks a
//! label up or allocates: a counter or gauge is one atomic add; a histogram
//! observation takes the histogram's own uncontended lock (prometheus-client's
//! `Histogram` is a mutex around its buckets) and compares against at most 16
//! bucket bounds. Measured on the two-core development VM (release build, 5 M
//! operations, prometheus-client 0.26): a counter increment 16-17 ns (30-34 ns with
//! two threads on one counter), a histogram observation 47-55 ns (90-98 ns
//! contended), and the two clock reads that time a request 146 ns. A request so costs
//! about 0.2-0.3 µs more, against several µs for the cheapest request (`ping`).
//!
//! # Labels
//! Label values come from fixed lists in this module: the protocol's verbs
//! ([`COMMANDS`]), `ok`/`error`, the listener kinds, the limits, the backends. No
//! username, token, address or message text ever becomes a label.
//!
//! # Metrics
//! | name | type | labels |
//! |---|---|---|
//! | `chat_build_info` | info | `version`, `commit` |
//! | `chat_connections` | gauge: open now | `listener` = `tcp`/`tls` |
//! | `chat_connections_accepted_total` | counter | `listener` |
//! | `chat_requests_total` | counter | `command`, `status` = `ok`/`error` |
//! | `chat_request_duration_seconds` | histogram | `command` |
//! | `chat_messages_stored_total` | counter | |
//! | `chat_store_commit_duration_seconds` | histogram | `backend` = `sqlite`/`postgres` |
//! | `chat_store_commit_batch_size` | histogram: writes per commit | `backend` |
//! | `chat_sync_waiting` | gauge: `sync` requests waiting now | |
//! | `chat_login_failures_total` | counter | `reason` = `wrong_password`/`unknown_user` |
//! | `chat_login_delay_seconds` | histogram: backoff waits | |
//! | `chat_limit_rejections_total` | counter | `limit`, see [`Limit`] |

pub mod http;

use chat_protocol::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The `command` label values: every verb of the protocol (both dialects, as the
/// client sent it), then `unknown` for lines that were not a request (unparsable,
/// invalid UTF-8, refused by the rate limit before parsing) and for any verb missing
/// here.
pub const COMMANDS: [&str; 14] = [
    "auth",
    "login",
    "send",
    "chat",
    "inbox",
    "kotakmasuk",
    "user_aktif",
    "user_on",
    "logout",
    "register",
    "history",
    "ping",
    "sync",
    UNKNOWN,
];

/// The `command` of what is not a known request.
const UNKNOWN: &str = "unknown";

/// Bounds (seconds) of the request and commit duration buckets: 100 µs to 10 s.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Which listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Plain text.
    Tcp,
    /// TLS.
    Tls,
}

const LISTENERS: [&str; 2] = ["tcp", "tls"];

/// A limit that refused something: the `limit` label of
/// `chat_limit_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `--max-connections`: a connection refused.
    Connections,
    /// `--max-connections-per-ip`: a connection refused.
    ConnectionsPerIp,
    /// `--max-request-rate`: a request refused.
    RequestRate,
    /// `--max-line`: a connection closed.
    LineLength,
    /// `--max-message`: a send refused.
    MessageLength,
    /// `--max-inbox`: a send refused (`recipient inbox full`).
    InboxFull,
    /// The password hashing queue is full: a login or registration got `server busy`.
    HashingQueue,
}

const LIMITS: [&str; 7] = [
    "connections",
    "connections_per_ip",
    "request_rate",
    "line_length",
    "message_length",
    "inbox_full",
    "hashing_queue",
];

/// Why a login failed: the `reason` label of `chat_login_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// The account exists; the password did not match.
    WrongPassword,
    /// No such account.
    UnknownUser,
}

const LOGIN_FAILURES: [&str; 2] = ["wrong_password", "unknown_user"];

/// A store that commits in batches: the `backend` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The SQLite writer thread (`storage/sqlite/writer.rs`).
    Sqlite,
    /// The PostgreSQL appenders (`storage/postgres.rs`).
    Postgres,
}

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

/// A label set of one label.
type One = [(&'static str, &'static str); 1];
/// A label set of two labels.
type Two = [(&'static str, &'static str); 2];

/// Every metric, with a handle on each series so recording is a plain method call.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: [Gauge; 2],
    accepted: [Counter; 2],
    /// `[command][ok, error]`.
    requests: [[Counter; 2]; COMMANDS.len()],
    durations: [Histogram; COMMANDS.len()],
    messages_stored: Counter,
    commit_seconds: [Histogram; 2],
    commit_batch: [Histogram; 2],
    sync_waiting: Gauge,
    login_failures: [Counter; 2],
    login_delay: Histogram,
    rejections: [Counter; LIMITS.len()],
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn batch_histogram() -> Histogram {
    // 1, 2, 4, ... 1024 writes.
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

/// One series of `family` per label value in `values`, in that order.
fn series<M: Clone, C, const N: usize>(
    family: &Family<One, M, C>,
    label: &'static str,
    values: [&'static str; N],
) -> [M; N]
where
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    values.map(|value| family.get_or_create_owned(&[(label, value)]))
}

impl Metrics {
    /// Every metric, each series at zero, `chat_build_info` from this build.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        registry.register(
            "chat_build",
            "The version and git commit of this server",
            Info::new([
                ("version", chat_build_info::PACKAGE_VERSION),
                ("commit", chat_build_info::GIT_COMMIT),
            ]),
        );

        let connections = Family::<One, Gauge>::default();
        let accepted = Family::<One, Counter>::default();
        registry.register(
            "chat_connections",
            "Client connections open now, by listener kind",
            connections.clone(),
        );
        registry.register(
            "chat_connections_accepted",
            "Client connections accepted and admitted, by listener kind",
            accepted.clone(),
        );

        let requests = Family::<Two, Counter>::default();
        let durations = Family::<One, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "chat_requests",
            "Requests answered, by command and whether the answer was OK or ERROR",
            requests.clone(),
        );
        registry.register(
            "chat_request_duration_seconds",
            "Time from a request's line to its response, by command",
            durations.clone(),
        );

        let messages_stored = Counter::default();
        registry.register(
            "chat_messages_stored",
            "Messages accepted by `send` and stored",
            messages_stored.clone(),
        );

        let commit_seconds = Family::<One, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let commit_batch = Family::<One, Histogram, fn() -> Histogram>::new_with_constructor(
            batch_histogram as fn() -> Histogram,
        );
        registry.register(
            "chat_store_commit_duration_seconds",
            "Time one batched write takes to commit (SQLite: the COMMIT; PostgreSQL: the INSERT of a batch of sends)",
            commit_seconds.clone(),
        );
        registry.register(
            "chat_store_commit_batch_size",
            "Writes committed together in one transaction",
            commit_batch.clone(),
        );

        let sync_waiting = Gauge::default();
        registry.register(
            "chat_sync_waiting",
            "`sync` requests waiting for a message now",
            sync_waiting.clone(),
        );

        let login_failures = Family::<One, Counter>::default();
        let login_delay = Histogram::new(exponential_buckets(0.5, 2.0, 10));
        registry.register(
            "chat_login_failures",
            "Failed logins, by reason",
            login_failures.clone(),
        );
        registry.register(
            "chat_login_delay_seconds",
            "Waits imposed on logins after repeated failures (--login-backoff)",
            login_delay.clone(),
        );

        let rejections = Family::<One, Counter>::default();
        registry.register(
            "chat_limit_rejections",
            "Connections, requests and messages refused by a limit, by limit",
            rejections.clone(),
        );

        Metrics {
            connections: series(&connections, "listener", LISTENERS),
            accepted: series(&accepted, "listener", LISTENERS),
            requests: COMMANDS.map(|command| {
                ["ok", "error"].map(|status| {
                    requests.get_or_create_owned(&[("command", command), ("status", status)])
                })
            }),
            durations: series(&durations, "command", COMMANDS),
            messages_stored,
            commit_seconds: series(&commit_seconds, "backend", BACKENDS),
            commit_batch: series(&commit_batch, "backend", BACKENDS),
            sync_waiting,
            login_failures: series(&login_failures, "reason", LOGIN_FAILURES),
            login_delay,
            rejections: series(&rejections, "limit", LIMITS),
            registry,
        }
    }

    /// Everything, in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// Counts a request with the protocol verb `verb` (`unknown` if it is not in
    /// [`COMMANDS`]) that took `took` and was answered `response`.
    pub fn request(&self, verb: &str, response: &Response, took: Duration) {
        let command = command_index(verb);
        let status = usize::from(matches!(response, Response::Error(_)));
        self.requests[command][status].inc();
        self.durations[command].observe(took.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Where `verb` is in [`COMMANDS`]; `unknown`'s place if it is not there.
fn command_index(verb: &str) -> usize {
    COMMANDS
        .iter()
        .position(|known| *known == verb)
        .unwrap_or(COMMANDS.len() - 1)
}

/// The server's metrics, made on first use.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Times one request: [`RequestTimer::start`] when its line is parsed,
/// [`RequestTimer::finish`] with its response.
#[derive(Debug)]
#[must_use = "finish it with the response"]
pub struct RequestTimer {
    verb: &'static str,
    started: Instant,
}

impl RequestTimer {
    /// Starts timing a request with the protocol verb `verb` (`Request::verb`).
    pub fn start(verb: &'static str) -> Self {
        RequestTimer {
            verb,
            started: Instant::now(),
        }
    }

    /// Counts the request in `chat_requests_total` and `chat_request_duration_seconds`.
    pub fn finish(self, response: &Response) {
        global().request(self.verb, response, self.started.elapsed());
    }
}

/// Counts a line that never became a request (not UTF-8, not parsable, or refused by
/// the rate limit), answered `ERROR`: `command="unknown", status="error"`.
pub fn not_a_request() {
    let metrics = global();
    metrics.requests[command_index(UNKNOWN)][1].inc();
}

/// Counts a connection or request refused by `limit`.
pub fn rejected(limit: Limit) {
    global().rejections[limit as usize].inc();
}

/// Counts a message stored by `send`.
pub fn message_stored() {
    global().messages_stored.inc();
}

/// Records one batched commit of `writes` writes to `backend` that took `took`.
pub fn store_committed(backend: Backend, writes: usize, took: Duration) {
    let metrics = global();
    metrics.commit_seconds[backend as usize].observe(took.as_secs_f64());
    // Exact up to 2^53 writes, far beyond any batch.
    metrics.commit_batch[backend as usize].observe(writes as f64);
}

/// Counts a failed login.
pub fn login_failed(reason: LoginFailure) {
    global().login_failures[reason as usize].inc();
}

/// Records a login made to wait `delay` by the failed-login backoff.
pub fn login_delayed(delay: Duration) {
    global().login_delay.observe(delay.as_secs_f64());
}

/// An admitted connection, counted in `chat_connections` until it is dropped: keep
/// it with whatever the connection holds while it is open.
#[derive(Debug)]
#[must_use = "the connection counts as open until this is dropped"]
pub struct OpenConnection(ListenerKind);

/// Counts a connection admitted through a listener of kind `kind`.
pub fn connection_opened(kind: ListenerKind) -> OpenConnection {
    let metrics = global();
    metrics.accepted[kind as usize].inc();
    metrics.connections[kind as usize].inc();
    OpenConnection(kind)
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        global().connections[self.0 as usize].dec();
    }
}

/// One more `sync` request waiting (`chat_sync_waiting`); pair each call with one
/// [`sync_wait_ended`], or hold a [`SyncWaiting`] instead.
pub fn sync_wait_started() {
    global().sync_waiting.inc();
}

/// One `sync` request fewer waiting.
pub fn sync_wait_ended() {
    global().sync_waiting.dec();
}

/// A `sync` request waiting: counted in `chat_sync_waiting` from
/// [`SyncWaiting::start`] until dropped, however the wait ends (answered, timed out,
/// connection gone).
#[derive(Debug)]
#[must_use = "the request counts as waiting until this is dropped"]
pub struct SyncWaiting(());

impl SyncWaiting {
    /// Starts counting a waiting `sync` request.
    pub fn start() -> Self {
        sync_wait_started();
        SyncWaiting(())
    }
}

impl Drop for SyncWaiting {
    fn drop(&mut self) {
        sync_wait_ended();
    }
}

#[cfg(test)]
mod tests;
