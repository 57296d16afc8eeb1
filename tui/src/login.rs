//! The login form: username and hidden password, shown when no credentials were
//! given or when the server refused them.

use ratatui::crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use crate::worker::Credentials;

/// Which field has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The username.
    Username,
    /// The password.
    Password,
}

/// The form's state.
#[derive(Debug, Clone)]
pub struct LoginForm {
    /// Username field.
    pub username: Input,
    /// Password field (shown masked).
    pub password: Input,
    /// Focused field.
    pub focus: Field,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Waiting for the server's answer.
    pub busy: bool,
}

impl LoginForm {
    /// A form with the username filled in when known (then the password has focus).
    pub fn new(username: Option<&str>) -> Self {
        let focus = if username.is_some() {
            Field::Password
        } else {
            Field::Username
        };
        LoginForm {
            username: Input::new(username.unwrap_or_default().to_string()),
            password: Input::default(),
            focus,
            error: None,
            busy: false,
        }
    }

    /// The focused field.
    pub fn focused(&self) -> &Input {
        match self.focus {
            Field::Username => &self.username,
            Field::Password => &self.password,
        }
    }

    /// Passes an editing key to the focused field.
    pub fn edit(&mut self, key: KeyEvent) {
        let field = match self.focus {
            Field::Username => &mut self.username,
            Field::Password => &mut self.password,
        };
        if let Some(req) = to_input_request(&Event::Key(key)) {
            field.handle(req);
        }
    }

    /// Moves to the other field.
    pub fn switch(&mut self) {
        self.focus = match self.focus {
            Field::Username => Field::Password,
            Field::Password => Field::Username,
        };
    }

    /// Enter: moves on, or returns the credentials when both fields are filled.
    pub fn submit(&mut self) -> Option<Credentials> {
        let username = self.username.value().trim().to_string();
        let password = self.password.value().to_string();
        if username.is_empty() || username.contains(char::is_whitespace) {
            self.focus = Field::Username;
            self.error = (!username.is_empty()).then(|| "a username has no spaces".into());
            return None;
        }
        if password.is_empty() {
            self.focus = Field::Password;
            return None;
        }
        self.error = None;
        self.busy = true;
        Some(Credentials { username, password })
    }

    /// The server refused: show why and ask for the password again.
    pub fn rejected(&mut self, reason: String) {
        self.error = Some(reason);
        self.busy = false;
        self.password.reset();
        self.focus = Field::Password;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    fn typed(form: &mut LoginForm, s: &str) {
        for c in s.chars() {
            form.edit(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn fills_both_fields_then_submits() {
        let mut f = LoginForm::new(None);
        assert_eq!(f.submit(), None);
        typed(&mut f, "messi");
        assert_eq!(f.submit(), None);
        assert_eq!(f.focus, Field::Password);
        typed(&mut f, "surabaya");
        let c = f.submit().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("messi", "surabaya")
        );
        assert!(f.busy);
        f.rejected("wrong password".into());
        assert_eq!(f.password.value(), "");
        assert_eq!(f.error.as_deref(), Some("wrong password"));
    }

    #[test]
    fn known_user_starts_on_password() {
        let f = LoginForm::new(Some("lineker"));
        assert_eq!(f.focus, Field::Password);
        assert_eq!(f.username.value(), "lineker");
    }
}
