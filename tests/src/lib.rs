//! Helpers for the integration tests: real servers on loopback, raw connections, real
//! binaries.
//!
//! Every test in `tests/tests/` talks to a server over a real TCP socket on
//! `127.0.0.1`, either in-process ([`TestServer`], which calls `chat_server::run` on a
//! listener bound to port 0) or as the real `chat-server` executable
//! ([`ServerProcess`]). Every read has a timeout ([`IO_TIMEOUT`] unless told), so a
//! broken server makes a test fail, never hang.
//!
//! # Layout
//! - [`TestServer`]: in-process server with the demo users, any `Config`, any store.
//! - [`RawConn`]: byte-level connection: send any bytes, read one `\r\n\r\n`-terminated
//!   reply raw or as JSON, expect the server to close.
//! - [`parse_reply`], [`assert_ok`], [`assert_error`], [`assert_python_ascii`]: checks
//!   on replies.
//! - [`bin_path`], [`ServerProcess`], [`run_bin`]: the workspace's executables.
//! - [`eventually`], [`Poll`]: poll until something holds, with a deadline (for TTLs
//!   and limits, without asserting on timing).
//!
//! # Binaries
//! `cargo test` builds only the libraries of the packages a test crate depends on,
//! not their executables, so [`bin_path`] runs `cargo build --bin NAME` once per test
//! process, into the same target directory and profile as the running test (a no-op
//! when the binary is up to date). Set `CHAT_TESTS_BIN_DIR=/some/dir` to use binaries
//! from that directory instead and skip the build (e.g. to test a release build, or a
//! server built elsewhere).

use serde_json::Value;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use chat_server::Config;
pub use chat_server::storage::{MemoryStore, Store};

/// How long any single read or write waits before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a spawned `chat-server` may take to print its `listening on` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What ends every response.
pub const TERMINATOR: &[u8] = b"\r\n\r\n";

/// The demo users' password.
pub const DEMO_PASSWORD: &str = "surabaya";

/// The demo users: `(username, display name)`.
pub const DEMO_USERS: [(&str, &str); 3] = [
    ("messi", "Lionel Messi"),
    ("henderson", "Jordan Henderson"),
    ("lineker", "Gary Lineker"),
];

// ---------------------------------------------------------------------------------
// In-process server
// ---------------------------------------------------------------------------------

/// A `chat_server::run` on `127.0.0.1:0` inside the test's runtime.
///
/// Dropping it cancels the server (without waiting); call [`TestServer::shutdown`] to
/// cancel and wait for `run` to return.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// Default `Config`, a `MemoryStore` with the demo users.
    pub async fn start() -> TestServer {
        TestServer::with_config(Config::default()).await
    }

    /// `config`, a `MemoryStore` with the demo users.
    pub async fn with_config(config: Config) -> TestServer {
        let store = MemoryStore::new();
        chat_server::users::seed_demo_users(&store)
            .await
            .expect("seeding the demo users");
        TestServer::with_store(store, config).await
    }

    /// Any store (already filled as the test wants) and `config`. Keep a clone of
    /// the store to look into it, or to hand it to a second server after shutdown.
    pub async fn with_store<S: Store>(store: S, config: Config) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(chat_server::run(listener, store, config, shutdown.clone()));
        TestServer {
            addr,
            shutdown,
            task: Some(task),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as `host:port` text (what `chat_tui::client::Client::connect` takes).
    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// A new raw connection to the server.
    pub async fn conn(&self) -> RawConn {
        RawConn::connect(self.addr).await
    }

    /// A new protocol client connected to the server.
    pub async fn client(&self) -> chat_tui::client::Client {
        tokio::time::timeout(
            IO_TIMEOUT,
            chat_tui::client::Client::connect(&self.addr_string()),
        )
        .await
        .expect("connect timed out")
        .expect("connecting the client")
    }

    /// The token that stops the server (cancel it to start a shutdown yourself).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Whether `run` has returned.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Cancels the server and waits (at most `timeout`) for `run` to return; returns
    /// what `run` returned. Panics if it does not return in time or panicked.
    pub async fn shutdown_within(mut self, timeout: Duration) -> io::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().expect("server task");
        match tokio::time::timeout(timeout, task).await {
            Ok(joined) => joined.expect("the server task panicked"),
            Err(_) => panic!("chat_server::run did not return within {timeout:?} of shutdown"),
        }
    }

    /// [`TestServer::shutdown_within`] with [`IO_TIMEOUT`].
    pub async fn shutdown(self) -> io::Result<()> {
        self.shutdown_within(IO_TIMEOUT).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------
// Raw connections
// ---------------------------------------------------------------------------------

/// A TCP connection seen as bytes: what a test sends is exactly what goes on the
/// wire, and replies are split at `\r\n\r\n` and returned as sent.
///
/// The panicking methods (`send`, `read_raw`, `request`, ...) fail the test with a
/// message saying what was expected; the `try_`/`next_` ones return what happened.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl RawConn {
    /// Connects to `addr`; panics if that fails within [`IO_TIMEOUT`].
    pub async fn connect(addr: SocketAddr) -> RawConn {
        RawConn::try_connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
    }

    /// Connects to `addr`.
    pub async fn try_connect(addr: SocketAddr) -> io::Result<RawConn> {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
            timeout: IO_TIMEOUT,
        })
    }

    /// Changes how long each read waits (default [`IO_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The local address of this connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local_addr")
    }

    /// Writes `bytes` exactly as given (no terminator added) and flushes.
    pub async fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        let bytes = bytes.as_ref();
        tokio::time::timeout(self.timeout, async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
    }

    /// Writes `bytes` exactly as given; panics on error.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        if let Err(e) = self.try_send(bytes).await {
            panic!("sending {:?}: {e}", show(bytes));
        }
    }

    /// Writes `line`, adding `\r\n` unless it already ends with `\n`.
    pub async fn send_line(&mut self, line: &str) {
        self.send(with_crlf(line)).await;
    }

    /// Closes the writing half (the server sees end of input).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }

    /// The next reply, `\r\n\r\n` included, as sent by the server.
    ///
    /// `Ok(None)`: the server closed the connection (or reset it) with no partial
    /// reply pending. `Err(UnexpectedEof)`: it closed in the middle of a reply.
    /// `Err(TimedOut)`: nothing complete arrived within `timeout`.
    pub async fn next_raw_within(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = find(&self.buf, TERMINATOR) {
                let rest = self.buf.split_off(pos + TERMINATOR.len());
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await;
            let n = match read {
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no complete reply within {timeout:?}; have {:?}",
                            show(&self.buf)
                        ),
                    ));
                }
                Ok(Ok(n)) => n,
                Ok(Err(e)) if is_reset(&e) && self.buf.is_empty() => return Ok(None),
                Ok(Err(e)) => return Err(e),
            };
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed inside a reply: {:?}", show(&self.buf)),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// [`RawConn::next_raw_within`] with this connection's timeout.
    pub async fn next_raw(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.next_raw_within(self.timeout).await
    }

    /// The next reply, terminator included; panics on close, error or timeout.
    pub async fn read_raw(&mut self) -> Vec<u8> {
        match self.next_raw().await {
            Ok(Some(reply)) => reply,
            Ok(None) => panic!("expected a reply, the server closed the connection"),
            Err(e) => panic!("expected a reply: {e}"),
        }
    }

    /// The next reply parsed as JSON (see [`parse_reply`]).
    pub async fn read_json(&mut self) -> Value {
        parse_reply(&self.read_raw().await)
    }

    /// Sends `line` (adding `\r\n` unless it ends with `\n`) and returns the raw reply.
    pub async fn request_raw(&mut self, line: &str) -> Vec<u8> {
        self.send_line(line).await;
        self.read_raw().await
    }

    /// Sends `line` (adding `\r\n` unless it ends with `\n`) and returns the reply as JSON.
    pub async fn request(&mut self, line: &str) -> Value {
        self.send_line(line).await;
        self.read_json().await
    }

    /// Logs in with `auth username password`, checks the reply, returns the token.
    pub async fn login(&mut self, username: &str, password: &str) -> String {
        let reply = self.request(&format!("auth {username} {password}")).await;
        assert_ok(&reply);
        reply["tokenid"]
            .as_str()
            .unwrap_or_else(|| panic!("login reply without tokenid: {reply}"))
            .to_string()
    }

    /// Logs a demo user in (password [`DEMO_PASSWORD`]); returns the token.
    pub async fn login_demo(&mut self, username: &str) -> String {
        self.login(username, DEMO_PASSWORD).await
    }

    /// Waits (at most `timeout`) for the server to close the connection and returns
    /// every byte that arrived before the close (`Ok`), or the bytes so far if it did
    /// not close in time (`Err`). A reset counts as a close.
    pub async fn closed_within(&mut self, timeout: Duration) -> Result<Vec<u8>, Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut got = std::mem::take(&mut self.buf);
        loop {
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(got),
                Ok(Ok(0)) => return Ok(got),
                Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) if is_reset(&e) => return Ok(got),
                Ok(Err(e)) => panic!("reading until close: {e}"),
            }
        }
    }

    /// Asserts that the server closes the connection within this connection's
    /// timeout without sending anything more.
    pub async fn expect_closed(&mut self) {
        match self.closed_within(self.timeout).await {
            Ok(rest) if rest.is_empty() => {}
            Ok(rest) => panic!("expected a close, got {:?} first", show(&rest)),
            Err(rest) => panic!(
                "expected the server to close; still open, got {:?}",
                show(&rest)
            ),
        }
    }

    /// Bytes received but not yet returned as a reply.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The underlying stream (bytes already buffered here are lost).
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn with_crlf(line: &str) -> String {
    if line.ends_with('\n') {
        line.to_string()
    } else {
        format!("{line}\r\n")
    }
}

/// Bytes shown for a failure message: text where it is UTF-8, escapes elsewhere,
/// cut to a readable length.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{text}... ({} bytes)", bytes.len())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------
// Checks on replies
// ---------------------------------------------------------------------------------

/// Parses one reply: checks that it ends with exactly one `\r\n\r\n` (when present),
/// is UTF-8 and is one JSON object, and returns it (key order kept).
pub fn parse_reply(raw: &[u8]) -> Value {
    let body = raw.strip_suffix(TERMINATOR).unwrap_or(raw);
    let text = std::str::from_utf8(body)
        .unwrap_or_else(|e| panic!("reply is not UTF-8 ({e}): {:?}", show(raw)));
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {text:?}"));
    assert!(value.is_object(), "reply is not a JSON object: {text}");
    value
}

/// Asserts `{"status": "OK", ...}`.
pub fn assert_ok(reply: &Value) {
    assert_eq!(reply["status"], "OK", "expected an OK reply, got {reply}");
}

/// Asserts the reply is exactly `{"status": "ERROR", "message": message}`.
pub fn assert_error(reply: &Value, message: &str) {
    assert_eq!(
        reply,
        &serde_json::json!({"status": "ERROR", "message": message}),
        "expected ERROR {message:?}"
    );
}

/// Asserts that a raw reply is written the way Python's `json.dumps` writes it: ASCII
/// only (non-ASCII as `\uXXXX`), `", "` and `": "` separators, one object, then
/// exactly one `\r\n\r\n` and nothing else.
pub fn assert_python_ascii(raw: &[u8]) {
    assert!(
        raw.ends_with(TERMINATOR),
        "reply does not end with \\r\\n\\r\\n: {:?}",
        show(raw)
    );
    let body = &raw[..raw.len() - TERMINATOR.len()];
    assert!(body.is_ascii(), "reply is not ASCII: {:?}", show(raw));
    assert!(
        !body.contains(&b'\n') && !body.contains(&b'\r'),
        "reply body has a raw line break: {:?}",
        show(raw)
    );
    let value = parse_reply(raw);
    let python = python_dumps(&value);
    assert_eq!(
        std::str::from_utf8(body).expect("ASCII"),
        python,
        "reply differs from Python's json.dumps of the same object"
    );
}

/// `value` as Python's `json.dumps(value)` writes it (defaults: `ensure_ascii`,
/// `", "`/`": "` separators, keys in their order).
pub fn python_dumps(value: &Value) -> String {
    let mut out = String::new();
    dump(value, &mut out);
    out
}

fn dump(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::String(s) => dump_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_str(k, out);
                out.push_str(": ");
                dump(v, out);
            }
            out.push('}');
        }
    }
}

fn dump_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `token` looks like a UUID v4 in its usual text form.
pub fn is_uuid_v4(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
        && b[14] == b'4'
        && matches!(b[19].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
}

/// Polls `check` every 20 ms until it returns `Some`, and returns that; panics with
/// `what` when `deadline` passes first. For things that happen "eventually" (a TTL
/// expires, a connection slot frees up) without asserting on how fast.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= end {
            panic!("not within {deadline:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A deadline for a polling loop whose check needs `&mut` access (which
/// [`eventually`]'s closure cannot lend):
///
/// ```ignore
/// let poll = Poll::new(Duration::from_secs(10), "the session to expire");
/// while !expired(&mut conn).await {
///     poll.wait().await; // panics once the deadline has passed
/// }
/// ```
#[derive(Debug)]
pub struct Poll {
    end: tokio::time::Instant,
    within: Duration,
    what: String,
}

impl Poll {
    /// A deadline `within` from now for `what`.
    pub fn new(within: Duration, what: &str) -> Poll {
        Poll {
            end: tokio::time::Instant::now() + within,
            within,
            what: what.to_string(),
        }
    }

    /// Sleeps 20 ms; panics if the deadline has passed.
    pub async fn wait(&self) {
        if tokio::time::Instant::now() >= self.end {
            panic!("not within {:?}: {}", self.within, self.what);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------
// The workspace's binaries
// ---------------------------------------------------------------------------------

/// Path of the workspace binary `name` (`chat-server`, `chat`), built if needed.
///
/// Uses `$CHAT_TESTS_BIN_DIR/NAME` when that variable is set. Otherwise finds the
/// target directory from the running test executable (`target/<profile>/deps/...`)
/// and runs `cargo build --bin NAME` (with `--release` for the release profile) once
/// per process and binary, so the binary is never stale. Panics if the build fails.
pub fn bin_path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("CHAT_TESTS_BIN_DIR") {
        let path = Path::new(&dir).join(exe_name(name));
        assert!(
            path.is_file(),
            "CHAT_TESTS_BIN_DIR has no {}",
            path.display()
        );
        return path;
    }
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let path = build_bin(name);
    built.insert(name.to_string(), path.clone());
    path
}

fn exe_name(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// `target/<profile>` of the running test executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test executable has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn build_bin(name: &str) -> PathBuf {
    let profile_dir = profile_dir();
    let target_dir = profile_dir
        .parent()
        .expect("target directory")
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .unwrap_or("debug")
        .to_string();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--bin", name])
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null());
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running cargo build --bin {name}: {e}"));
    assert!(
        out.status.success(),
        "cargo build --bin {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = profile_dir.join(exe_name(name));
    assert!(
        path.is_file(),
        "cargo build did not produce {}",
        path.display()
    );
    path
}

/// Runs workspace binary `name` with `args` and no input to completion; kills it and
/// panics if it runs longer than `timeout`.
pub fn run_bin(name: &str, args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(bin_path(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_child(&mut child, timeout);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{name} {args:?} still running after {timeout:?}; stderr: {}",
            text_of(&stderr)
        );
    };
    // The pipes close when the process exits; give the readers a moment to finish.
    std::thread::sleep(Duration::from_millis(50));
    Output {
        status,
        stdout: take(&stdout),
        stderr: take(&stderr),
    }
}

/// Reads `source` to its end on a thread, into a shared buffer.
fn drain(mut source: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = source.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

fn take(buf: &Arc<Mutex<Vec<u8>>>) -> Vec<u8> {
    buf.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn text_of(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&take(buf)).into_owned()
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The real `chat-server` executable, running, with its address read from its
/// `listening on ADDR` line.
///
/// Standard input is closed; standard output after the `listening on` line and
/// standard error are collected ([`ServerProcess::stdout`], [`ServerProcess::stderr`]).
/// Dropping it kills the process if it still runs.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
}

impl ServerProcess {
    /// `chat-server` with `args`, plus `--listen 127.0.0.1:0` unless `args` has a
    /// `--listen`, and `--db memory` unless `args` has a `--db`. Panics (with the
    /// server's stderr) if it does not print its `listening on` line.
    pub fn start(args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(bin_path("chat-server"));
        if !args
            .iter()
            .any(|a| *a == "--listen" || a.starts_with("--listen="))
        {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if !args.iter().any(|a| *a == "--db" || a.starts_with("--db=")) {
            cmd.args(["--db", "memory"]);
        }
        cmd.args(args);
        ServerProcess::spawn(cmd).unwrap_or_else(|e| panic!("chat-server {args:?}: {e}"))
    }

    /// Spawns `cmd` (any command that prints `listening on ADDR`, e.g. one built from
    /// [`bin_path`] with extra environment or a working directory) and waits for that
    /// line. `Err` holds what went wrong and the process's stderr.
    pub fn spawn(mut cmd: Command) -> Result<ServerProcess, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawning {cmd:?}: {e}"))?;
        let stderr = drain(child.stderr.take().expect("stderr"));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_buf = Arc::new(Mutex::new(Vec::new()));
        let sink = stdout_buf.clone();
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            // Line by line, so what comes after (`metrics on ...`) can be waited for.
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&line);
                line.clear();
            }
        });
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(50));
            Err(format!("{why}; stderr:\n{}", text_of(&stderr)))
        };
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(_) => return fail(&mut child, format!("no output within {STARTUP_TIMEOUT:?}")),
        };
        let addr = line
            .strip_prefix("listening on ")
            .map(|a| a.trim_end_matches(['\r', '\n']))
            .map(|a| a.strip_prefix("tls://").unwrap_or(a))
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let Some(addr) = addr else {
            return fail(
                &mut child,
                format!("first stdout line is not `listening on ADDR`: {line:?}"),
            );
        };
        Ok(ServerProcess {
            child,
            addr,
            stdout: stdout_buf,
            stderr,
            status: None,
        })
    }

    /// The address from the `listening on` line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new raw connection to the server.
    pub async fn conn(&self) -> RawConn {
        RawConn::connect(self.addr).await
    }

    /// Sends signal `name` (`TERM`, `INT`, `KILL`, ...) with `kill -s`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -s {name} {} failed", self.pid());
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Waits (blocking the thread) at most `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = wait_child(&mut self.child, timeout);
        }
        self.status
    }

    /// Waits at most `timeout` for the process to exit, without blocking the runtime.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = tokio::time::Instant::now() + timeout;
        while self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
            if self.status.is_some() || tokio::time::Instant::now() >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.status
    }

    /// Everything the server wrote to stderr so far (its logs).
    pub fn stderr(&self) -> String {
        text_of(&self.stderr)
    }

    /// What the server wrote to stdout after its `listening on` line, so far.
    pub fn stdout(&self) -> String {
        text_of(&self.stdout)
    }

    /// Waits (at most [`STARTUP_TIMEOUT`]) for a stdout line after the first that
    /// starts with `prefix`, and returns the rest of that line.
    pub async fn stdout_line(&self, prefix: &str) -> String {
        eventually(
            STARTUP_TIMEOUT,
            &format!("a `{prefix}` line on stdout"),
            || {
                let found = self
                    .stdout()
                    .lines()
                    .find_map(|line| line.strip_prefix(prefix).map(str::to_string));
                async { found }
            },
        )
        .await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Logs in as the demo user `user` (password [`DEMO_PASSWORD`]) with the `chat`
/// client library over a plain connection to `addr`; returns the client and its token.
pub async fn client_login(addr: &str, user: &str) -> (chat_tui::client::Client, String) {
    let mut client = chat_tui::client::Client::connect(addr)
        .await
        .expect("connect");
    let reply = client
        .call(&chat_protocol::Request::Login {
            dialect: chat_protocol::Dialect::Course,
            username: user.into(),
            password: DEMO_PASSWORD.into(),
        })
        .await
        .expect("login reply");
    let token = reply.token().expect("login token").to_string();
    (client, token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_dumps_matches_python() {
        // python3 -c 'import json; print(json.dumps({"a": [1, "é🙂\n"], "b": {}, "c": None}))'
        let v = json!({"a": [1, "é🙂\n"], "b": {}, "c": null});
        assert_eq!(
            python_dumps(&v),
            r#"{"a": [1, "\u00e9\ud83d\ude42\n"], "b": {}, "c": null}"#
        );
    }

    #[test]
    fn uuid_v4_shape() {
        assert!(is_uuid_v4("18c54ed3-ac15-497b-bceb-24d173627696"));
        assert!(!is_uuid_v4("18c54ed3-ac15-397b-bceb-24d173627696"));
        assert!(!is_uuid_v4("f548bf12-2d13-4b4e-8b49-d0b0ba31b2b"));
    }
}
