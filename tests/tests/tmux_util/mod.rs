//! A tmux server of our own for terminal tests: start the real `chat` in a pane,
//! type into it, read its screen and terminal modes, and find how it ended.
//!
//! The pane runs a shell that records the program's pid (the program `exec`s in
//! its place), then after it ends its exit status and `stty -a`, and stays open so
//! the terminal's state after the program can be read.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long anything may take to show up.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One tmux server, one session `t`; killed on drop.
pub struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// A new tmux server (nothing started yet).
    pub fn new() -> Tmux {
        let probe = Command::new("tmux").arg("-V").output();
        assert!(
            probe.map(|o| o.status.success()).unwrap_or(false),
            "tmux is needed for the terminal tests (apt-get install -y tmux)"
        );
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tmux {
            socket: format!("chat-term-{}-{nanos}", std::process::id()),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `command` (a shell command line that starts with the program) in a
    /// `width`x`height` pane.
    pub fn start(&self, command: &str, width: u16, height: u16) {
        let run = self.file("run.sh");
        // The program's remembered state (`chat`'s XDG state dir) stays in the
        // test's own directory, never the machine's.
        let body = format!(
            "echo $$ > {}\nexport XDG_STATE_HOME={}\nexec {command}\n",
            quote(&self.file("pid")),
            quote(&self.file("state")),
        );
        std::fs::write(&run, body).expect("run.sh");
        let script = format!(
            "sh {}; echo $? > {}; stty -a > {}; exec sleep 600",
            quote(&run),
            quote(&self.file("status")),
            quote(&self.file("stty")),
        );
        self.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &script,
        ]);
    }

    /// Runs tmux with `args`; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
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
    pub fn screen(&self) -> Vec<String> {
        let text = self.run(&["capture-pane", "-p", "-t", "t"]);
        let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    pub fn format(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "t", format])
            .trim()
            .to_string()
    }

    /// Types `text` literally, in one write to the terminal.
    pub fn keys(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Presses a named key (`Enter`, `F1`, `C-c`).
    pub fn key(&self, name: &str) {
        self.run(&["send-keys", "-t", "t", name]);
    }

    /// Pastes `text` as the terminal does: bracketed when the program asked for it.
    pub fn paste(&self, text: &str) {
        let file = self.file("paste");
        std::fs::write(&file, text).expect("paste file");
        self.run(&["load-buffer", "-b", "p", &file.display().to_string()]);
        self.run(&["paste-buffer", "-p", "-d", "-b", "p", "-t", "t"]);
    }

    /// Resizes the pane's window.
    pub fn resize(&self, width: u16, height: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    /// Waits until `check` holds for the screen; panics with the screen otherwise.
    pub fn wait_for(&self, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = Instant::now() + DEADLINE;
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

    /// The program's pid.
    pub fn pid(&self) -> u32 {
        let end = Instant::now() + DEADLINE;
        loop {
            let text = std::fs::read_to_string(self.file("pid")).unwrap_or_default();
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
            assert!(Instant::now() < end, "no pid file");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`TERM`, `HUP`, `INT`) to the program.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits for the program to end: its exit status as the shell saw it, and
    /// `stty -a` of the terminal right after.
    pub fn wait_exit(&self) -> (i32, String) {
        let end = Instant::now() + DEADLINE;
        loop {
            let status = std::fs::read_to_string(self.file("status")).unwrap_or_default();
            let stty = std::fs::read_to_string(self.file("stty")).unwrap_or_default();
            if status.ends_with('\n') && stty.contains("speed") {
                let code = status.trim().parse().expect("exit status");
                return (code, stty);
            }
            assert!(
                Instant::now() < end,
                "the program did not exit; screen:\n{}",
                self.screen().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Where the server's socket is, before it goes (tmux can leave the file).
        let path = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "#{socket_path}",
            ])
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .output();
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether `stty -a` shows a terminal as a shell wants it: echo, canonical
/// input, signals from Ctrl-C.
pub fn is_cooked(stty: &str) -> bool {
    let flags: Vec<&str> = stty.split_whitespace().collect();
    ["echo", "icanon", "isig"].iter().all(|f| flags.contains(f))
}

/// Single-quotes a path for the shell.
pub fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
