//! `chat --plain` end to end: the real `chat` binary, driven through pipes (and once
//! through a real terminal in tmux), against the real `chat-server` binary.
//!
//! Every expected output is exact. Times are printed in the client's local zone, so
//! the client runs with `TZ=UTC`; each `[HH:MM]` is checked to be a minute during the
//! test and then compared as the literal `[HH:MM]`.

use chat_tests::{ServerProcess, bin_path};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a single `chat` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// What one run of `chat` produced.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// `chat --plain --addr ADDR ARGS...` with `stdin` piped in, `TZ=UTC`, no config
/// file, and `env` added.
fn chat(server: &ServerProcess, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let addr = server.addr().to_string();
    let mut cmd = Command::new(bin_path("chat"));
    cmd.args(["--plain", "--addr", &addr])
        .args(args)
        .env("TZ", "UTC")
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("chat-plain-tests-no-config"),
        )
        .env_remove("CHAT_PASSWORD")
        // `--once inbox` keeps its cursor in the state dir: one per server.
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join(format!(
                "chat-plain-tests-state-{}-{}",
                std::process::id(),
                server.addr().port()
            )),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("starting chat");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_string();
    // Written from a thread so a client that stops reading cannot block the test.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(RUN_TIMEOUT)
        .unwrap_or_else(|_| panic!("chat {args:?} still running after {RUN_TIMEOUT:?}"))
        .expect("waiting for chat");
    let _ = writer.join();
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        / 60
}

fn clock(minute: u64) -> String {
    format!("[{:02}:{:02}]", (minute / 60) % 24, minute % 60)
}

/// Checks that every line starting with `[HH:MM]` shows a minute in `from..=to`
/// (UTC), and replaces that time by the literal `[HH:MM]`.
fn mask_times(text: &str, from: u64, to: u64) -> String {
    let allowed: Vec<String> = (from..=to).map(clock).collect();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let is_time = line.len() >= 7
            && line.as_bytes()[0] == b'['
            && line.as_bytes()[6] == b']'
            && line.as_bytes()[3] == b':';
        if is_time {
            assert!(
                allowed.iter().any(|a| line.starts_with(a.as_str())),
                "time out of range in {line:?}, expected one of {allowed:?}"
            );
            out.push_str("[HH:MM]");
            out.push_str(&line[7..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

fn assert_run(run: &Run, ok: bool, stdout: &str, stderr: &str) {
    assert_eq!(run.stdout, stdout, "stdout; stderr was {:?}", run.stderr);
    assert_eq!(run.stderr, stderr, "stderr; stdout was {:?}", run.stdout);
    assert_eq!(run.status.success(), ok, "exit status {:?}", run.status);
}

#[test]
fn a_scripted_session_in_the_course_dialect() {
    let server = ServerProcess::start(&[]);
    let start = minute_now();
    let henderson = chat(
        &server,
        &[],
        &[],
        "auth henderson surabaya\nsend messi halo messi\nlogout\n",
    );
    assert_run(
        &henderson,
        true,
        "username henderson logged in\nmessage sent to messi\nlogout success\n",
        "",
    );

    let script = "auth messi surabaya\nsend henderson  hello there \nuser_aktif\ninbox\ninbox\n/history henderson\n/help\nlogout\n";
    let messi = chat(&server, &[], &[], script);
    let end = minute_now();
    let want = "\
username messi logged in
message sent to henderson
active: messi
[HH:MM] henderson -> messi: halo messi
(no new messages)
[HH:MM] henderson -> messi: halo messi
[HH:MM] messi -> henderson: hello there
commands (the session token is added for you):
  auth USER PASSWORD    | login USER PASSWORD   log in
  send USER TEXT        | chat USER TEXT        send a message (also /msg USER TEXT)
  inbox                 | kotakmasuk            show new messages
  user_aktif            | user_on               who is logged in
  /history USER [N]     the last N messages with USER (default 50)
  logout                end the session
  /help                 this list
  /quit                 leave (logs out)
logout success
";
    assert_eq!(
        mask_times(&messi.stdout, start, end),
        want,
        "stderr: {:?}",
        messi.stderr
    );
    assert_eq!(messi.stderr, "");
    assert!(messi.status.success(), "{:?}", messi.status);
}

#[test]
fn a_scripted_session_in_the_seed_000_dialect() {
    let server = ServerProcess::start(&[]);
    let start = minute_now();
    let lineker = chat(
        &server,
        &[],
        &[],
        "login lineker surabaya\nchat messi piye kabare?\nuser_on\n",
    );
    assert_run(
        &lineker,
        true,
        "username lineker logged in\nmessage sent to messi\nactive: lineker\n",
        "",
    );

    let messi = chat(
        &server,
        &[],
        &[],
        "login messi surabaya\nuser_on\nkotakmasuk\nkotakmasuk\n/msg lineker apik\nlogout\n",
    );
    let end = minute_now();
    let want = "\
username messi logged in
active: messi
[HH:MM] lineker -> messi: piye kabare?
(no new messages)
message sent to lineker
logout success
";
    assert_eq!(
        mask_times(&messi.stdout, start, end),
        want,
        "stderr: {:?}",
        messi.stderr
    );
    assert_eq!(messi.stderr, "");
    assert!(messi.status.success());
}

#[test]
fn json_lines_parse_back_and_hide_the_token() {
    let server = ServerProcess::start(&[]);
    let script = "auth messi surabaya\nsend henderson hi\nsend bob hi\nuser_aktif\ninbox\n";
    let run = chat(&server, &["--json", "--keep-going"], &[], script);
    assert_eq!(run.stderr, "error: unknown recipient: bob\n");
    assert!(
        !run.status.success(),
        "a failed command makes the exit status non-zero"
    );
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    assert_eq!(lines[0]["status"], "OK");
    assert_eq!(lines[0]["username"], "messi");
    assert_eq!(lines[0]["display_name"], "Lionel Messi");
    assert!(
        lines[0].get("tokenid").is_none() && lines[0].get("tokenId").is_none(),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["message"], "Message Sent");
    assert!(lines[1]["id"].is_i64(), "{}", lines[1]);
    assert_eq!(
        lines[2],
        serde_json::json!({"status": "ERROR", "message": "unknown recipient: bob"})
    );
    assert_eq!(lines[3]["users"], serde_json::json!(["messi"]));
    assert_eq!(
        lines[4],
        serde_json::json!({"status": "OK", "messages": {}})
    );
}

#[test]
fn the_first_failure_stops_a_script_unless_keep_going() {
    let server = ServerProcess::start(&[]);
    let script = "auth messi surabaya\nsend bob hi\ninbox\n";
    let stop = chat(&server, &[], &[], script);
    assert_run(
        &stop,
        false,
        "username messi logged in\n",
        "error: unknown recipient: bob\n",
    );

    let go_on = chat(&server, &["--keep-going"], &[], script);
    assert_run(
        &go_on,
        false,
        "username messi logged in\n(no new messages)\n",
        "error: unknown recipient: bob\n",
    );

    let no_session = chat(
        &server,
        &["--keep-going"],
        &[],
        "send henderson hi\nfoo\ninbox\n",
    );
    assert_run(
        &no_session,
        false,
        "",
        "error: not logged in\nerror: unknown command: foo (type /help)\nerror: not logged in\n",
    );

    let wrong = chat(&server, &[], &[], "auth messi wrong\ninbox\n");
    assert_run(&wrong, false, "", "error: wrong password\n");

    let quit = chat(
        &server,
        &[],
        &[],
        "auth messi surabaya\n/quit\nsend bob hi\n",
    );
    assert_run(&quit, true, "username messi logged in\n", "");
}

#[test]
fn once_with_a_user_for_cron() {
    let server = ServerProcess::start(&[]);
    let start = minute_now();
    let password = [("CHAT_PASSWORD", "surabaya")];
    let sent = chat(
        &server,
        &["--user", "henderson", "--once", "send messi  jam 12 ya "],
        &password,
        "",
    );
    assert_run(&sent, true, "message sent to messi\n", "");

    let inbox = chat(
        &server,
        &["--user", "messi", "--password-stdin", "--once", "inbox"],
        &[],
        "surabaya\n",
    );
    let end = minute_now();
    assert_eq!(
        mask_times(&inbox.stdout, start, end),
        "[HH:MM] henderson -> messi: jam 12 ya\n"
    );
    assert_eq!(inbox.stderr, "");
    assert!(inbox.status.success());

    // Each one-shot run logged its session out again: only this run's user is on.
    let who = chat(
        &server,
        &["-u", "lineker", "--once", "user_aktif"],
        &password,
        "",
    );
    assert_run(&who, true, "active: lineker\n", "");

    let empty = chat(
        &server,
        &["--user", "messi", "--once", "inbox"],
        &password,
        "",
    );
    assert_run(&empty, true, "(no new messages)\n", "");

    let failed = chat(
        &server,
        &["--user", "messi", "--once", "send bob hi"],
        &password,
        "",
    );
    assert_run(&failed, false, "", "error: unknown recipient: bob\n");

    let wrong = chat(
        &server,
        &["--user", "messi", "--once", "inbox"],
        &[("CHAT_PASSWORD", "nope")],
        "",
    );
    assert_run(&wrong, false, "", "error: wrong password\n");

    let no_password = chat(&server, &["--user", "messi", "--once", "inbox"], &[], "");
    assert!(!no_password.status.success());
    assert_eq!(no_password.stdout, "");
    assert!(
        no_password.stderr.contains("no password for messi"),
        "{:?}",
        no_password.stderr
    );
}

/// Sends `line` on a fresh connection and returns the reply's JSON.
fn raw_request(server: &ServerProcess, line: &str) -> Value {
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "server closed before replying");
        got.extend_from_slice(&chunk[..n]);
    }
    serde_json::from_slice(&got).expect("reply is JSON")
}

#[test]
fn the_token_is_shown_only_when_asked_and_then_stays_valid() {
    let server = ServerProcess::start(&[]);
    let hidden = chat(&server, &["--once", "auth messi surabaya"], &[], "");
    assert_run(&hidden, true, "username messi logged in\n", "");

    let shown = chat(
        &server,
        &["--show-token", "--once", "auth messi surabaya"],
        &[],
        "",
    );
    assert!(shown.status.success(), "{shown:?}");
    let token = shown
        .stdout
        .strip_prefix("username messi logged in, token: ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected output {:?}", shown.stdout));
    assert_eq!(token.len(), 36, "{token:?}");
    let reply = raw_request(&server, &format!("inbox {token}"));
    assert_eq!(reply["status"], "OK", "{reply}");
}

// ---------------------------------------------------------------------------------
// A real terminal: tmux
// ---------------------------------------------------------------------------------

/// A tmux server of our own (`tmux -L NAME`), killed on drop.
struct Tmux {
    socket: String,
    /// Where the pane's shell writes the program's exit status.
    status: tempfile::TempDir,
}

impl Tmux {
    fn new() -> Tmux {
        let probe = Command::new("tmux").arg("-V").output();
        assert!(
            probe.map(|o| o.status.success()).unwrap_or(false),
            "tmux is needed for the terminal test (apt-get install -y tmux)"
        );
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tmux {
            socket: format!("chat-plain-{}-{nanos}", std::process::id()),
            status: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn status_file(&self) -> std::path::PathBuf {
        self.status.path().join("status")
    }

    /// Runs `command` (a shell command line) in a 60x12 pane of session `t`, which
    /// stays on screen after it ends; the shell then records its exit status.
    fn start(&self, command: &str) {
        // Not tmux's #{pane_dead_status}: tmux 3.3a sometimes marks the pane dead
        // and never fills it in, though the program exited 0 (seen 1 run in 5).
        let command = format!("{command}; echo $? > {}", self.status_file().display());
        self.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "60",
            "-y",
            "12",
            &command,
            ";",
            "set-option",
            "-t",
            "t",
            "remain-on-exit",
            "on",
        ]);
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible pane, one string per row, trailing spaces and empty rows dropped.
    fn screen(&self) -> Vec<String> {
        let text = self.run(&["capture-pane", "-p", "-t", "t"]);
        let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }

    fn cursor(&self) -> (usize, usize) {
        let text = self.run(&[
            "display-message",
            "-p",
            "-t",
            "t",
            "#{cursor_x} #{cursor_y}",
        ]);
        let mut parts = text
            .split_whitespace()
            .map(|n| n.parse::<usize>().expect("number"));
        (parts.next().expect("x"), parts.next().expect("y"))
    }

    fn keys(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }

    fn key(&self, name: &str) {
        self.run(&["send-keys", "-t", "t", name]);
    }

    /// Waits until `check` holds for the screen; panics with the screen otherwise.
    fn wait_for(&self, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; screen:\n{}",
                screen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the program started by [`Tmux::start`] has exited with status 0.
    fn wait_exit_ok(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let status = std::fs::read_to_string(self.status_file()).unwrap_or_default();
            if status.ends_with('\n') {
                assert_eq!(
                    status.trim(),
                    "0",
                    "chat's exit status; screen:\n{}",
                    self.screen().join("\n")
                );
                return;
            }
            assert!(
                Instant::now() < end,
                "chat did not exit; screen:\n{}",
                self.screen().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn a_message_arriving_while_typing_is_printed_above_the_redrawn_input() {
    let server = ServerProcess::start(&[]);
    let tmux = Tmux::new();
    let chat_bin = bin_path("chat");
    let no_config = std::env::temp_dir().join("chat-plain-tests-no-config");
    let command = format!(
        "env -u CHAT_PASSWORD TZ=UTC TERM=xterm XDG_CONFIG_HOME={} {} --plain --addr {} --user messi --poll-interval 100ms",
        no_config.display(),
        chat_bin.display(),
        server.addr()
    );
    let start = minute_now();
    tmux.start(&command);

    // The password prompt does not echo.
    tmux.wait_for("the password prompt", |s| {
        s.iter().any(|r| r == "password for messi:")
    });
    tmux.keys("surabaya");
    tmux.key("Enter");
    tmux.wait_for("the prompt", |s| {
        s.last().map(String::as_str) == Some("messi>")
    });
    assert!(
        !tmux.screen().iter().any(|r| r.contains("surabaya")),
        "password echoed"
    );

    // Half a command, long enough to wrap over two rows of the 60-column pane.
    let typed = "send henderson this line is long enough to wrap past the edge";
    tmux.keys(typed);
    // (capture-pane drops the space that ends the first row)
    let first_row = format!("messi> {}", &typed[..53]).trim_end().to_string();
    let second_row = typed[53..].to_string();
    tmux.wait_for("the typed input", |s| {
        s.ends_with(&[first_row.clone(), second_row.clone()])
    });

    let sent = chat(
        &server,
        &["--user", "lineker", "--once", "send messi piye kabare?"],
        &[("CHAT_PASSWORD", "surabaya")],
        "",
    );
    assert_run(&sent, true, "message sent to messi\n", "");
    let screen = tmux.wait_for("the incoming message", |s| {
        s.iter()
            .any(|r| r.ends_with("lineker -> messi: piye kabare?"))
    });
    let end = minute_now();
    let masked: Vec<String> = screen.iter().map(|r| mask_times(r, start, end)).collect();
    assert_eq!(
        masked,
        vec![
            "password for messi:".to_string(),
            "username messi logged in".to_string(),
            "[HH:MM] lineker -> messi: piye kabare?".to_string(),
            first_row.clone(),
            second_row.clone(),
        ]
    );
    assert_eq!(
        tmux.cursor(),
        (second_row.len(), 4),
        "cursor after the redrawn input"
    );

    // Editing still works on the redrawn line, and Enter runs it.
    tmux.key("BSpace");
    tmux.keys("E!");
    tmux.key("Enter");
    let screen = tmux.wait_for("the send result", |s| {
        s.last().map(String::as_str) == Some("messi>")
    });
    assert_eq!(
        &screen[screen.len() - 4..],
        [
            first_row.clone(),
            format!("{}E!", &second_row[..second_row.len() - 1]),
            "message sent to henderson".to_string(),
            "messi>".to_string()
        ]
    );
    let inbox = chat(
        &server,
        &["--user", "henderson", "--once", "inbox"],
        &[("CHAT_PASSWORD", "surabaya")],
        "",
    );
    let end = minute_now();
    assert_eq!(
        mask_times(&inbox.stdout, start, end),
        "[HH:MM] messi -> henderson: this line is long enough to wrap past the edgE!\n"
    );

    tmux.keys("/quit");
    tmux.key("Enter");
    tmux.wait_exit_ok();
}

#[test]
fn a_terminal_with_output_to_a_file_gets_messages_without_escape_sequences() {
    let server = ServerProcess::start(&[]);
    let tmux = Tmux::new();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out_file = out_dir.path().join("out.txt");
    let no_config = std::env::temp_dir().join("chat-plain-tests-no-config");
    // Standard input is the terminal, standard output a file: the cooked mode.
    let command = format!(
        "env CHAT_PASSWORD=surabaya TZ=UTC TERM=xterm XDG_CONFIG_HOME={} {} --plain --addr {} --user messi --poll-interval 100ms > {}",
        no_config.display(),
        bin_path("chat").display(),
        server.addr(),
        out_file.display()
    );
    let start = minute_now();
    tmux.start(&command);
    let read = || std::fs::read_to_string(&out_file).unwrap_or_default();
    let wait_file = |what: &str, check: &dyn Fn(&str) -> bool| {
        let end = Instant::now() + Duration::from_secs(15);
        while !check(&read()) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; file: {:?}",
                read()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_file("the login", &|t| t.contains("logged in"));
    let sent = chat(
        &server,
        &["--user", "lineker", "--once", "send messi piye kabare?"],
        &[("CHAT_PASSWORD", "surabaya")],
        "",
    );
    assert_run(&sent, true, "message sent to messi\n", "");
    wait_file("the incoming message", &|t| t.contains("piye kabare?"));
    tmux.keys("user_aktif");
    tmux.key("Enter");
    wait_file("the active users", &|t| t.contains("active:"));
    tmux.keys("/quit");
    tmux.key("Enter");
    tmux.wait_exit_ok();
    let text = read();
    assert!(!text.contains('\x1b'), "escape sequences in {text:?}");
    assert_eq!(
        mask_times(&text, start, minute_now()),
        "username messi logged in\n[HH:MM] lineker -> messi: piye kabare?\nactive: messi\n"
    );
}

// ---------------------------------------------------------------------------------
// The course's Python server
// ---------------------------------------------------------------------------------

/// The course's reference server as the course hands it out, cut to what matters on
/// the wire: `auth`, `send`, `inbox` only (`**Protocol Tidak Benar` for anything
/// else), no `id`/`ts`, messages rebuilt with a space before each word and the line
/// terminator kept, 32-byte reads until the buffer ends in `\r\n`.
const COURSE_SERVER: &str = r#"
import json, socket, sys, threading, uuid
users = {
    'messi': {'nama': 'Lionel Messi', 'password': 'surabaya', 'incoming': {}},
    'henderson': {'nama': 'Jordan Henderson', 'password': 'surabaya', 'incoming': {}},
    'lineker': {'nama': 'Gary Lineker', 'password': 'surabaya', 'incoming': {}},
}
sessions = {}
lock = threading.Lock()

def proses(data):
    j = data.split(" ")
    try:
        command = j[0].strip()
        if command == 'auth':
            username, password = j[1].strip(), j[2].strip()
            if username not in users:
                return {'status': 'ERROR', 'message': 'User Tidak Ada'}
            if users[username]['password'] != password:
                return {'status': 'ERROR', 'message': 'Password Salah'}
            tokenid = str(uuid.uuid4())
            sessions[tokenid] = {'username': username}
            return {'status': 'OK', 'tokenid': tokenid}
        elif command == 'send':
            sessionid, usernameto = j[1].strip(), j[2].strip()
            message = ""
            for w in j[3:]:
                message = "{} {}".format(message, w)
            usernamefrom = sessions[sessionid]['username']
            if usernameto not in users:
                return {'status': 'ERROR', 'message': 'User Tidak Ditemukan'}
            inbox = users[usernameto]['incoming'].setdefault(usernamefrom, [])
            inbox.append({'msg_from': users[usernamefrom]['nama'], 'msg_to': users[usernameto]['nama'], 'msg': message})
            return {'status': 'OK', 'message': 'Message Sent'}
        elif command == 'inbox':
            username = sessions[j[1].strip()]['username']
            incoming = users[username]['incoming']
            msgs = {}
            for sender in incoming:
                msgs[sender] = incoming[sender]
                incoming[sender] = []
            return {'status': 'OK', 'messages': msgs}
        else:
            return {'status': 'ERROR', 'message': '**Protocol Tidak Benar'}
    except KeyError:
        return {'status': 'ERROR', 'message': 'Informasi tidak ditemukan'}
    except IndexError:
        return {'status': 'ERROR', 'message': '--Protocol Tidak Benar'}

def serve(conn):
    rcv = ""
    while True:
        data = conn.recv(32)
        if not data:
            break
        rcv = rcv + data.decode()
        if rcv[-2:] == '\r\n':
            with lock:
                hasil = json.dumps(proses(rcv)) + "\r\n\r\n"
            conn.sendall(hasil.encode())
            rcv = ""
    conn.close()

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(('127.0.0.1', 0))
sock.listen(5)
print("listening on 127.0.0.1:{}".format(sock.getsockname()[1]), flush=True)
while True:
    conn, _ = sock.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

#[test]
fn the_course_python_server_works_and_missing_commands_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("server_thread_chat.py");
    std::fs::write(&script, COURSE_SERVER).expect("writing the server");
    let mut cmd = Command::new("python3");
    cmd.arg(&script);
    let server = ServerProcess::spawn(cmd).unwrap_or_else(|e| panic!("python3 course server: {e}"));

    let henderson = chat(
        &server,
        &[],
        &[],
        "auth henderson surabaya\nsend messi  halo  messi \n",
    );
    assert_run(
        &henderson,
        true,
        "username henderson logged in\nmessage sent to messi\n",
        "",
    );

    let script = "auth messi surabaya\ninbox\ninbox\n/history henderson\nuser_aktif\nsend bob hi\nlogin messi surabaya\n";
    let messi = chat(&server, &["--keep-going"], &[], script);
    assert_run(
        &messi,
        false,
        "username messi logged in\nhenderson -> messi: halo  messi\n(no new messages)\n",
        "error: the server does not support history\n\
         error: the server does not support user_aktif\n\
         error: User Tidak Ditemukan\n\
         error: the server does not support login\n",
    );
}
