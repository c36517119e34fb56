//! A private `XDG_RUNTIME_DIR` when the environment has no valid one.
//!
//! Mesa's Vulkan drivers probe the Wayland window system while wgpu
//! enumerates adapters; without a runtime directory libwayland prints
//! `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` on
//! every probe, although nothing failed. tmesim draws no windows, so a
//! private directory (mode 0700 under the temporary folder) silences it.

use std::path::{Path, PathBuf};
use std::sync::Once;

/// Point `XDG_RUNTIME_DIR` at a private folder if it is unset or not an
/// absolute path to an existing directory. Runs once per process, before
/// the first wgpu instance; the binary calls it first thing in `main`.
pub fn ensure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if valid(
            std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .as_deref(),
        ) {
            return;
        }
        if let Some(dir) = private_dir() {
            // Set before any wgpu or driver thread exists (see `ensure`).
            std::env::set_var("XDG_RUNTIME_DIR", dir);
        }
    });
}

fn valid(dir: Option<&Path>) -> bool {
    dir.is_some_and(|d| d.is_absolute() && d.is_dir())
}

#[cfg(unix)]
fn private_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // The uid of this process, from its own /proc entry (Linux) or the
    // temporary folder's owner elsewhere.
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("tmesim-runtime-{uid}"));
    if !dir.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
    }
    let meta = std::fs::metadata(&dir).ok()?;
    // Only a folder this user owns and nobody else can enter.
    let private = meta.uid() == uid && meta.permissions().mode() & 0o077 == 0;
    private.then_some(dir)
}

#[cfg(not(unix))]
fn private_dir() -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_existing_folders_are_valid() {
        assert!(!valid(None));
        assert!(!valid(Some(Path::new("relative/dir"))));
        assert!(!valid(Some(Path::new("/nonexistent/tmesim-xdg"))));
        assert!(valid(Some(&std::env::temp_dir())));
    }
}
