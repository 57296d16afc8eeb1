//! The command box's history: Up for older lines, Down back to newer ones and
//! finally to what was being typed before Up was first pressed.

/// Lines entered so far, and where Up/Down have got to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineHistory {
    lines: Vec<String>,
    /// Index into `lines` while browsing.
    at: Option<usize>,
    /// The unfinished line saved when browsing started.
    draft: String,
}

/// Most lines kept.
const MAX_LINES: usize = 500;

impl LineHistory {
    /// Records an entered line (not twice in a row), and stops browsing.
    pub fn push(&mut self, line: &str) {
        self.at = None;
        self.draft.clear();
        if line.trim().is_empty() || self.lines.last().is_some_and(|l| l == line) {
            return;
        }
        if self.lines.len() == MAX_LINES {
            self.lines.remove(0);
        }
        self.lines.push(line.to_string());
    }

    /// Every line, oldest first (to remember them across runs).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// A history holding `lines` (the newest [`MAX_LINES`] of them).
    pub fn from_lines(lines: Vec<String>) -> Self {
        let skip = lines.len().saturating_sub(MAX_LINES);
        LineHistory {
            lines: lines.into_iter().skip(skip).collect(),
            ..LineHistory::default()
        }
    }

    /// The older line to show, given what is in the box now.
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let next = match self.at {
            None if self.lines.is_empty() => return None,
            None => {
                self.draft = current.to_string();
                self.lines.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.at = Some(next);
        self.lines.get(next).map(String::as_str)
    }

    /// The newer line to show (the saved draft after the newest).
    pub fn newer(&mut self) -> Option<&str> {
        let i = self.at?;
        if i + 1 < self.lines.len() {
            self.at = Some(i + 1);
            self.lines.get(i + 1).map(String::as_str)
        } else {
            self.at = None;
            Some(self.draft.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_down_and_draft() {
        let mut h = LineHistory::default();
        assert_eq!(h.older("x"), None);
        h.push("one");
        h.push("two");
        h.push("two");
        h.push("  ");
        assert_eq!(h.older("draft"), Some("two"));
        assert_eq!(h.older("two"), Some("one"));
        assert_eq!(h.older("one"), Some("one"));
        assert_eq!(h.newer(), Some("two"));
        assert_eq!(h.newer(), Some("draft"));
        assert_eq!(h.newer(), None);
    }
}
