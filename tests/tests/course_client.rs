//! The course's own Python client (`tests/fixtures/course_client.py`, a faithful
//! copy of the reference's `chat-cli.py`) against the real `chat-server`, fed
//! commands on standard input as a person would type them.

use chat_tests::{ServerProcess, is_uuid_v4};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a client run may take (the reference client spins forever if the server
/// closes on it, so it must be bounded).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the course client against `server` with `commands` typed one per line, then
/// end of input; returns what it printed.
fn run_client(server: &ServerProcess, commands: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/course_client.py");
    let addr = server.addr();
    let mut child = Command::new("python3")
        .arg("-u")
        .arg(&script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting python3 (needed for the course client test)");
    let mut input = commands.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing commands");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    match status {
        Some(s) if s.success() => out,
        Some(s) => panic!("course client failed ({s}):\n{out}\nstderr:\n{err}"),
        None => panic!("course client still running after {RUN_TIMEOUT:?}:\n{out}\nstderr:\n{err}"),
    }
}

/// What each command returned, in order. The client prompts `Command <token>:` (no
/// newline, as input is not a terminal), prints trace lines while it talks to the
/// server, then prints the result of the command: the last line before the next
/// prompt.
fn results(output: &str) -> Vec<String> {
    let mut rest = output;
    let mut segments = Vec::new();
    while let Some(start) = rest.find("Command ") {
        let after = &rest[start + "Command ".len()..];
        let Some(colon) = after.find(':') else { break };
        rest = &after[colon + 1..];
        let end = rest.find("Command ").unwrap_or(rest.len());
        segments.push(&rest[..end]);
    }
    segments
        .into_iter()
        .filter_map(|seg| seg.lines().map(str::trim_end).rfind(|l| !l.is_empty()))
        .map(str::to_string)
        .collect()
}

fn assert_no_failure(output: &str) {
    assert!(
        !output.contains("Gagal"),
        "the client failed to read a reply:\n{output}"
    );
    assert!(
        !output.contains("Traceback"),
        "the client crashed:\n{output}"
    );
}

/// A message whose emoji, were they sent as raw UTF-8, would straddle the client's
/// 64-byte `recv` chunks wherever the message starts (a run of 4-byte characters is
/// longer than a chunk).
const EMOJI_TEXT: &str =
    "Kapan ke Surabaya? 🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂 sampai jumpa 👍🏽🇮🇩 terima kasih";

#[test]
fn a_whole_course_session() {
    let server = ServerProcess::start(&[]);

    let messi = run_client(
        &server,
        &[
            "auth messi surabaya",
            "send henderson halo apa kabar?",
            &format!("send henderson {EMOJI_TEXT}"),
            "send henderson spasi  ganda  tetap",
            "user_aktif",
            "logout",
        ],
    );
    assert_no_failure(&messi);
    let r = results(&messi);
    assert_eq!(r.len(), 6, "one result per command:\n{messi}");
    let token = r[0]
        .strip_prefix("username messi logged in, token ")
        .map(str::trim_end)
        .unwrap_or_else(|| panic!("login result: {:?}\n{messi}", r[0]));
    assert!(is_uuid_v4(token), "token {token:?}");
    assert_eq!(r[1], "message sent to henderson");
    assert_eq!(r[2], "message sent to henderson");
    assert_eq!(r[3], "message sent to henderson");
    assert_eq!(r[4], "user aktif: \"messi, \"");
    assert_eq!(r[5], "logout success");
    // The reference sends a space before each word and before `\r\n`.
    assert!(
        messi.contains(&format!("send {token} henderson  halo apa kabar? \r\n")),
        "the client did not build the line as the reference does:\n{messi}"
    );

    let henderson = run_client(
        &server,
        &["auth henderson surabaya", "inbox", "inbox", "logout"],
    );
    assert_no_failure(&henderson);
    let r = results(&henderson);
    assert_eq!(r.len(), 4, "one result per command:\n{henderson}");
    assert!(
        r[0].starts_with("username henderson logged in, token "),
        "{}",
        r[0]
    );
    // The client prints json.dumps(result['messages']).
    let inbox: Value = serde_json::from_str(&r[1])
        .unwrap_or_else(|e| panic!("inbox result is not JSON ({e}): {:?}", r[1]));
    let texts: Vec<&str> = inbox["messi"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages from messi: {inbox}"))
        .iter()
        .map(|m| m["msg"].as_str().expect("msg"))
        .collect();
    assert_eq!(
        texts,
        ["halo apa kabar?", EMOJI_TEXT, "spasi  ganda  tetap"]
    );
    for m in inbox["messi"].as_array().expect("list") {
        assert_eq!(m["msg_from"], "Lionel Messi");
        assert_eq!(m["msg_to"], "Jordan Henderson");
    }
    assert_eq!(inbox.as_object().map(|o| o.len()), Some(1), "{inbox}");
    assert_eq!(
        serde_json::from_str::<Value>(&r[2]).expect("JSON"),
        json!({}),
        "drained"
    );
    assert_eq!(r[3], "logout success");
}

#[test]
fn errors_reach_the_course_client() {
    let server = ServerProcess::start(&[]);
    let out = run_client(
        &server,
        &[
            "auth messi salah",
            "auth nobody surabaya",
            "auth lineker surabaya",
            "send nobody halo",
            "send messi",
            "inbox",
        ],
    );
    assert_no_failure(&out);
    let r = results(&out);
    assert_eq!(r.len(), 6, "{out}");
    assert_eq!(r[0], "Error, wrong password");
    assert_eq!(r[1], "Error, unknown user");
    assert!(
        r[2].starts_with("username lineker logged in, token "),
        "{}",
        r[2]
    );
    assert_eq!(r[3], "Error, unknown recipient: nobody");
    assert_eq!(r[4], "Error, empty message");
    assert_eq!(r[5], "{}");
}

#[test]
fn two_course_clients_talk() {
    let server = ServerProcess::start(&[]);
    let out = run_client(
        &server,
        &["auth lineker surabaya", "send messi piye kabare?"],
    );
    assert_no_failure(&out);
    let out = run_client(
        &server,
        &[
            "auth messi surabaya",
            "inbox",
            "send lineker apik, suwun 🙏",
            "user_aktif",
        ],
    );
    assert_no_failure(&out);
    let r = results(&out);
    let inbox: Value = serde_json::from_str(&r[1]).expect("inbox JSON");
    assert_eq!(inbox["lineker"][0]["msg"], "piye kabare?");
    assert_eq!(inbox["lineker"][0]["msg_from"], "Gary Lineker");
    assert_eq!(inbox["lineker"][0]["msg_to"], "Lionel Messi");
    assert_eq!(r[2], "message sent to lineker");
    // lineker never logged out, so both are on.
    assert_eq!(r[3], "user aktif: \"lineker, messi, \"");
    let out = run_client(&server, &["auth lineker surabaya", "inbox"]);
    let r = results(&out);
    let inbox: Value = serde_json::from_str(&r[1]).expect("inbox JSON");
    assert_eq!(inbox["messi"][0]["msg"], "apik, suwun 🙏");
}
