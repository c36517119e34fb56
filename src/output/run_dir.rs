//! A run folder that never mixes two runs: it is locked while a run
//! writes to it, refused when it already holds another run's files (unless
//! `--force` clears them), and never holds the run's own input files.

use super::layout;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file: held (an OS file lock) for as long as a run writes the
/// folder. The OS releases it when the process ends in any way, so a
/// folder whose manifest says "running" but whose lock is free belongs to
/// a run that died.
pub const LOCK: &str = ".tmesim.lock";

/// Every name a run or a comparison writes at the top of its folder.
const RUN_OUTPUTS: &[&str] = &[
    layout::MANIFEST,
    layout::CONFIG,
    layout::TIMESERIES_CSV,
    layout::TIMESERIES_PNG,
    layout::REPORT,
    layout::PVD,
    layout::FRAMES_DIR,
    layout::FIELDS_DIR,
    layout::VTK_DIR,
    layout::ANIMATIONS_DIR,
    layout::CHECKPOINTS_DIR,
    layout::ZARR,
    layout::SUMMARY_CSV,
    layout::BURDEN_PNG,
    layout::COHORT_TOML,
    layout::COHORT_JSON,
    layout::RECORDS_DIR,
    layout::PATIENTS_CSV,
    layout::ARMS_CSV,
    layout::PFS_PNG,
    layout::WATERFALL_PNG,
    layout::MECHANISM_CSV,
    layout::MECHANISM_PNG,
];

/// How to treat what a folder already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse a folder that holds anything.
    Refuse,
    /// Remove what an earlier run wrote first.
    Replace,
    /// Keep it: the run continues the one in the folder.
    Continue,
}

/// A locked run folder; the lock is released when this is dropped.
pub struct RunDir {
    pub path: PathBuf,
    _lock: File,
}

/// Make `out` ready for a run: refuse it when it contains one of `inputs`
/// (a run must never write over the files it reads), lock it, and treat
/// what it holds as `existing` says.
pub fn prepare(out: &Path, inputs: &[PathBuf], existing: Existing) -> Result<RunDir> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    refuse_inputs_inside(out, inputs)?;
    let lock = lock(out)?;
    let held = foreign_entries(out)?;
    if !held.is_empty() {
        match existing {
            Existing::Continue => {}
            Existing::Refuse => bail!(
                "{} already holds {} (an earlier run's outputs?); use --force to replace what \
                 tmesim wrote there, --resume to continue an interrupted run, or choose another --out",
                out.display(),
                list(&held)
            ),
            Existing::Replace => clear(out)?,
        }
    }
    Ok(RunDir {
        path: out.to_path_buf(),
        _lock: lock,
    })
}

/// Whether a run holds the folder's lock now (a live run), without taking it.
pub fn is_locked(out: &Path) -> bool {
    let Ok(f) = File::options().read(true).write(true).open(out.join(LOCK)) else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

fn lock(out: &Path) -> Result<File> {
    let path = out.join(LOCK);
    let mut f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let owner = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another tmesim run ({}) is writing to {}; wait for it or choose another --out",
                owner.trim(),
                out.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    f.set_len(0)?;
    write!(f, "pid {}", std::process::id())?;
    f.flush()?;
    Ok(f)
}

/// What the folder holds besides its lock.
fn foreign_entries(out: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(out)
        .with_context(|| format!("cannot read {}", out.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != LOCK)
        .collect();
    names.sort();
    Ok(names)
}

fn list(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Remove what tmesim wrote in `out` (and in the run folders of a
/// comparison's arms); refuse if anything else is left, so `--force` never
/// deletes a file tmesim did not write.
fn clear(out: &Path) -> Result<()> {
    remove_outputs(out)?;
    let left = foreign_entries(out)?;
    if !left.is_empty() {
        bail!(
            "--force: {} holds {}, which tmesim did not write; move it away or choose another --out",
            out.display(),
            list(&left)
        );
    }
    Ok(())
}

fn remove_outputs(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let removal = if RUN_OUTPUTS.contains(&name.as_str()) || is_temporary(&name) {
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
        } else if path.is_dir() && path.join(layout::MANIFEST).is_file() {
            // An arm of a comparison: clear it, and remove it once empty.
            remove_outputs(&path)?;
            let _ = std::fs::remove_file(path.join(LOCK));
            let _ = std::fs::remove_dir(&path);
            Ok(())
        } else {
            Ok(())
        };
        removal.with_context(|| format!("--force: cannot remove {}", path.display()))?;
    }
    Ok(())
}

/// Temporary files of an interrupted atomic write (see `atomic`).
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

fn refuse_inputs_inside(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    let Ok(out_abs) = out.canonicalize() else {
        return Ok(());
    };
    for input in inputs {
        let Ok(abs) = input.canonicalize() else {
            continue;
        };
        if abs.starts_with(&out_abs) {
            bail!(
                "the output folder {} contains the input file {}; a run writes only to its own \
                 folder, so choose an --out that holds no input (e.g. {})",
                out.display(),
                input.display(),
                out.join("run").display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(dir.path(), &[], Existing::Refuse).unwrap();
        assert!(is_locked(dir.path()));
        let e = prepare(dir.path(), &[], Existing::Continue)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("another tmesim run"), "{e}");
        drop(first);
        assert!(!is_locked(dir.path()));
        prepare(dir.path(), &[], Existing::Refuse).unwrap();
    }

    #[test]
    fn force_clears_only_what_tmesim_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("frames")).unwrap();
        std::fs::write(d.join("frames/tumor_0000.png"), "x").unwrap();
        std::fs::write(d.join("manifest.json"), "{}").unwrap();
        let e = prepare(d, &[], Existing::Refuse).err().unwrap().to_string();
        assert!(
            e.contains("frames, manifest.json") && e.contains("--force"),
            "{e}"
        );
        prepare(d, &[], Existing::Replace).unwrap();
        assert!(!d.join("frames").exists() && !d.join("manifest.json").exists());
        std::fs::write(d.join("notes.txt"), "mine").unwrap();
        let e = prepare(d, &[], Existing::Replace)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("notes.txt") && e.contains("did not write"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("notes.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn an_input_inside_the_output_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("config.toml");
        std::fs::write(&input, "# mine").unwrap();
        let e = prepare(dir.path(), std::slice::from_ref(&input), Existing::Replace)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("contains the input file"), "{e}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "# mine");
    }
}
