//! What ships besides the code: the manual pages and shell completions in `dist/`,
//! generated from the clap definitions and kept in step with them here, and
//! `--version` naming the commit.
//!
//! After changing a flag, regenerate `dist/` with
//! `UPDATE_DIST=1 cargo test -p chat-tests --test dist`.

use chat_tests::run_bin;
use clap::CommandFactory as _;
use clap_complete::{Generator as _, Shell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// Every file that `dist/` must hold for `program`, by path relative to the
/// workspace: a manual page for the program and one per subcommand
/// (`chat-server-user-add.1`, ...), and its bash, zsh and fish completions.
fn generate(program: clap::Command, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    // The package version, not `VERSION`: the pages must not change with every commit.
    let mut program = program
        .version(chat_build_info::PACKAGE_VERSION)
        .disable_help_subcommand(true);
    program.build();
    let name = program.get_name().to_string();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut program.clone(), &name, &mut script);
        files.insert(
            Path::new("dist/completions").join(shell.file_name(&name)),
            script,
        );
    }
    man_pages(program, files);
}

/// The manual page of `command` and of each of its subcommands, recursively.
fn man_pages(command: clap::Command, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub.clone(), files);
    }
    let man = clap_mangen::Man::new(command);
    let mut page = Vec::new();
    man.render(&mut page).expect("rendering a manual page");
    files.insert(Path::new("dist/man").join(man.get_filename()), page);
}

/// The files under `dir` (relative to the workspace), by relative path.
fn committed(dir: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(workspace().join(dir)) else {
        return files;
    };
    for entry in entries {
        let path = entry.expect("reading dist/").path();
        if path.is_file() {
            let relative = Path::new(dir).join(path.file_name().expect("file name"));
            files.insert(relative, std::fs::read(&path).expect("reading dist/"));
        }
    }
    files
}

/// The committed manual pages and completions are what the code generates today;
/// `UPDATE_DIST=1` rewrites them instead.
#[test]
fn dist_matches_the_command_line() {
    let mut wanted = BTreeMap::new();
    generate(chat_server::cli::command(), &mut wanted);
    generate(chat_tui::cli::Cli::command(), &mut wanted);
    let mut found = committed("dist/man");
    found.extend(committed("dist/completions"));

    if std::env::var_os("UPDATE_DIST").is_some_and(|v| v != "0") {
        for stale in found.keys().filter(|path| !wanted.contains_key(*path)) {
            std::fs::remove_file(workspace().join(stale)).expect("removing a stale file");
        }
        for (path, content) in &wanted {
            let path = workspace().join(path);
            std::fs::create_dir_all(path.parent().expect("dist/ directory"))
                .expect("creating dist/");
            std::fs::write(&path, content).expect("writing dist/");
        }
        return;
    }
    let differing: Vec<_> = wanted
        .keys()
        .chain(found.keys())
        .filter(|path| wanted.get(*path) != found.get(*path))
        .collect();
    assert!(
        differing.is_empty(),
        "dist/ is out of step with the command line ({differing:?}); regenerate it with \
         `UPDATE_DIST=1 cargo test -p chat-tests --test dist` and commit the result"
    );
}
