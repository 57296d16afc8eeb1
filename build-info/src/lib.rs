//! The version of this build, and the git commit it was built from.
//!
//! `build.rs` asks `git rev-parse --short HEAD` in the source tree; it reruns when
//! `HEAD`, the checked-out branch or `packed-refs` change, so a new commit is picked
//! up by the next build. Where there is no git or no checkout (a source tarball),
//! set `CHAT_GIT_COMMIT` at build time; without it the commit is unknown and
//! [`VERSION`] is the bare package version.
//!
//! One crate for both binaries, so the logic lives once. Only what depends on this
//! crate is rebuilt after a commit. Whether the work tree had uncommitted changes is
//! not recorded: that would need a rerun after every edit of any file.

/// `0.1.0 (commit 1a2b3c4)`, or `0.1.0` when the commit is unknown: what
/// `chat-server --version` and `chat --version` print after the program's name.
pub const VERSION: &str = env!("CHAT_BUILD_VERSION");

/// The package version alone (`0.1.0`): for what must not change with each commit,
/// such as the generated manual pages.
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short hash of the commit the binaries were built from; empty when unknown.
pub const GIT_COMMIT: &str = env!("CHAT_BUILD_GIT_COMMIT");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_commit_when_known() {
        if GIT_COMMIT.is_empty() {
            assert_eq!(VERSION, PACKAGE_VERSION);
        } else {
            assert!(
                GIT_COMMIT.chars().all(|c| c.is_ascii_hexdigit()),
                "{GIT_COMMIT}"
            );
            assert_eq!(VERSION, format!("{PACKAGE_VERSION} (commit {GIT_COMMIT})"));
        }
    }
}
