//! The metrics' names, labels and encoding, on a private `Metrics` (the global one
//! is shared by every test in the process); serving is tested against the real
//! binary in `tests/tests/metrics.rs`.

use super::*;
use chat_protocol::Request;

/// The line of `text` for the series `series` (name and labels as encoded).
fn value<'a>(text: &'a str, series: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[test]
fn requests_are_counted_by_command_and_status() {
    let metrics = Metrics::new();
    let ok = Response::Pong;
    let error = Response::error("unknown user");
    metrics.request("auth", &error, Duration::from_millis(3));
    metrics.request("auth", &ok, Duration::from_millis(2));
    metrics.request("auth", &ok, Duration::from_millis(40));
    metrics.request("no-such-verb", &error, Duration::ZERO);
    let text = metrics.encode();
    assert_eq!(
        value(&text, r#"chat_requests_total{command="auth",status="ok"}"#),
        "2"
    );
    assert_eq!(
        value(
            &text,
            r#"chat_requests_total{command="auth",status="error"}"#
        ),
        "1"
    );
    assert_eq!(
        value(
            &text,
            r#"chat_requests_total{command="unknown",status="error"}"#
        ),
        "1"
    );
    assert_eq!(
        value(
            &text,
            r#"chat_request_duration_seconds_count{command="auth"}"#
        ),
        "3"
    );
    assert_eq!(
        value(
            &text,
            r#"chat_request_duration_seconds_bucket{le="0.005",command="auth"}"#
        ),
        "2"
    );
    assert_eq!(
        value(
            &text,
            r#"chat_request_duration_seconds_count{command="send"}"#
        ),
        "0"
    );
}

#[test]
fn every_series_exists_from_the_start() {
    let text = Metrics::new().encode();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for series in [
        r#"chat_connections{listener="tcp"}"#,
        r#"chat_connections{listener="tls"}"#,
        r#"chat_connections_accepted_total{listener="tls"}"#,
        "chat_messages_stored_total",
        "chat_sync_waiting",
        r#"chat_login_failures_total{reason="unknown_user"}"#,
        "chat_login_delay_seconds_count",
        r#"chat_limit_rejections_total{limit="connections"}"#,
        r#"chat_limit_rejections_total{limit="hashing_queue"}"#,
        r#"chat_store_commit_duration_seconds_count{backend="sqlite"}"#,
        r#"chat_store_commit_batch_size_count{backend="postgres"}"#,
    ] {
        assert_eq!(value(&text, series), "0", "{series}");
    }
    let build = format!(
        r#"chat_build_info{{version="{}",commit="{}"}}"#,
        chat_build_info::PACKAGE_VERSION,
        chat_build_info::GIT_COMMIT
    );
    assert_eq!(value(&text, &build), "1");
}

/// Every verb the protocol parses has its own `command` label.
#[test]
fn every_protocol_verb_is_a_command_label() {
    let lines = [
        "auth a b",
        "login a b",
        "send t u m",
        "chat t u m",
        "inbox t",
        "kotakmasuk t",
        "user_aktif t",
        "user_on t",
        "logout t",
        "register a b",
        "history t u",
        "ping",
    ];
    for line in lines {
        let request = Request::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let verb = request.verb();
        assert_ne!(
            COMMANDS[command_index(verb)],
            UNKNOWN,
            "{verb} has no label"
        );
    }
    assert_eq!(command_index("DROP TABLE"), COMMANDS.len() - 1);
}
