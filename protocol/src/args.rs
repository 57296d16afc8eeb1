//! A cursor over the words of one request line.
//!
//! Words are separated by runs of whitespace, so the course client's doubled
//! spaces (`send <token> henderson  hi `) parse like single ones. The message of a
//! `send` is not a word list but the rest of the line ([`Args::rest`]), so its inner
//! spacing survives byte for byte.

use crate::error::ParseError;

/// Cursor over a line's words; every accessor takes the usage line to report.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    rest: &'a str,
}

/// Any Unicode whitespace separates words and is trimmed from a message's ends.
fn is_sep(c: char) -> bool {
    c.is_whitespace()
}

impl<'a> Args<'a> {
    /// Starts at the beginning of `line`.
    pub fn new(line: &'a str) -> Self {
        Args { rest: line }
    }

    /// The next word, or `None` at the end of the line.
    pub fn next_word(&mut self) -> Option<&'a str> {
        let trimmed = self.rest.trim_start_matches(is_sep);
        if trimmed.is_empty() {
            self.rest = trimmed;
            return None;
        }
        let end = trimmed.find(is_sep).unwrap_or(trimmed.len());
        let (word, rest) = trimmed.split_at(end);
        self.rest = rest;
        Some(word)
    }

    /// The next word, required.
    pub fn word(&mut self, usage: &'static str) -> Result<&'a str, ParseError> {
        self.next_word().ok_or(ParseError::Usage(usage))
    }

    /// An optional number; a word that is not a number is a usage error.
    pub fn number<T: std::str::FromStr>(
        &mut self,
        usage: &'static str,
    ) -> Result<Option<T>, ParseError> {
        match self.next_word() {
            None => Ok(None),
            Some(w) => w.parse().map(Some).map_err(|_| ParseError::Usage(usage)),
        }
    }

    /// Everything left on the line, trimmed of surrounding whitespace.
    pub fn rest(&mut self) -> &'a str {
        let rest = self.rest.trim_matches(is_sep);
        self.rest = "";
        rest
    }

    /// Rejects trailing words.
    pub fn finish(&mut self, usage: &'static str) -> Result<(), ParseError> {
        match self.next_word() {
            None => Ok(()),
            Some(_) => Err(ParseError::Usage(usage)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_rest() {
        let mut a = Args::new("send  tok\thenderson  halo  apa kabar? ");
        assert_eq!(a.next_word(), Some("send"));
        assert_eq!(a.next_word(), Some("tok"));
        assert_eq!(a.next_word(), Some("henderson"));
        assert_eq!(a.rest(), "halo  apa kabar?");
        assert_eq!(a.next_word(), None);
    }

    #[test]
    fn finish_rejects_trailing_words_but_not_spaces() {
        assert!(Args::new("   ").finish("x").is_ok());
        assert_eq!(Args::new(" y").finish("x"), Err(ParseError::Usage("x")));
    }

    #[test]
    fn number_parses_or_reports_usage() {
        let mut a = Args::new("10 x");
        assert_eq!(a.number::<u32>("u"), Ok(Some(10)));
        assert_eq!(a.number::<u32>("u"), Err(ParseError::Usage("u")));
        assert_eq!(a.number::<u32>("u"), Ok(None));
    }
}
