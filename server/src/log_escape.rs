//! The text log's field formatter: every field value, and the message, is written
//! with control and bidi characters escaped ([`crate::text_rules::write_escaped`]).
//!
//! Log fields carry client bytes on many paths (an unknown command echoed in
//! `error=`, a username in `login delayed`, a storage error naming a value ...).
//! Escaping where the text log is formatted covers all of them, and every field
//! added later, instead of relying on each call site: a client can no longer set
//! the operator's window title or clear the screen of a server running in a
//! terminal, or forge a log line with a bare CR. The JSON format escapes on its own.
//!
//! Fields are written as the default formatter writes them (`name=value`, the
//! message first without a name, `%` fields with `Display`, `?` fields and strings
//! with `Debug`), without its italic field names on a terminal.

use crate::text_rules::write_escaped;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// A [`FormatFields`] that escapes what it writes; use with
/// `tracing_subscriber::fmt().fmt_fields(EscapedFields)` for the text format.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            out: Escaping(writer),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes through to the log line, escaping unsafe characters.
struct Escaping<'a>(Writer<'a>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(&mut self.0, s)
    }
}

struct Visitor<'a> {
    out: Escaping<'a>,
    first: bool,
    result: fmt::Result,
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        let name = field.name();
        self.result = if name == "message" {
            write!(self.out, "{separator}{value:?}")
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            write!(self.out, "{separator}{name}={value:?}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_rules::is_unsafe_for_terminals;

    use crate::test_log::Captured;

    #[test]
    fn every_kind_of_field_is_escaped() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .fmt_fields(EscapedFields)
            .finish();
        let evil = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\u{9b}\u{202E}";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", user = %evil);
            let _entered = span.enter();
            tracing::info!(error = %evil, debug = ?evil, text = evil, n = 3, "failed {evil}");
        });
        let text = logs.text();
        let line = text.trim_end_matches('\n');
        assert!(!line.chars().any(is_unsafe_for_terminals), "{line:?}");
        assert!(
            line.contains(r"request{user=\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\u{9b}\u{202e}}"),
            "{line}"
        );
        assert!(line.contains(r"failed \u{1b}]0;PWNED"), "{line}");
        assert!(line.contains(r"error=\u{1b}]0;PWNED"), "{line}");
        // Debug already escapes C0 (as \u{1b}); what it leaves is escaped here.
        assert!(line.contains(r#"debug="\u{1b}]0;PWNED"#), "{line}");
        assert!(line.contains(" n=3"), "{line}");
    }
}
