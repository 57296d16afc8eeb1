//! What ships besides the code: `--version` naming the commit.

use chat_tests::run_bin;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The workspace root (the git checkout the binaries are built from).
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

/// `git rev-parse --short HEAD` of the workspace; `None` outside a checkout.
fn head_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace())
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}

/// Built from a checkout, both programs name the commit; elsewhere, just the version.
#[test]
fn version_names_the_git_commit() {
    let version = env!("CARGO_PKG_VERSION");
    let expected_tail = match head_commit() {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version.to_string(),
    };
    for program in ["chat-server", "chat"] {
        let out = run_bin(program, &["--version"], Duration::from_secs(30));
        assert!(out.status.success(), "{program} --version: {out:?}");
        let text = String::from_utf8(out.stdout).expect("UTF-8 version");
        assert_eq!(text.trim_end(), format!("{program} {expected_tail}"));
    }
}
