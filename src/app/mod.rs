//! The application: what each `tmesim` command does. main.rs parses the
//! arguments (`cli`) and calls one function here per command; each is a
//! short sequence of library calls (the run launched into a folder is
//! `sim::launch`, a comparison `sim::compare`, a cohort `cohort::runner`)
//! and the lines it prints.

pub mod cli;

mod check;
mod cohort;
mod info;
mod render;
mod run;
mod scenario;
mod sweep;

pub use check::check;
pub use cohort::{cohort, merge};
pub use info::{info, params};
pub use render::render;
pub use run::{compare, resume, run, status};
pub use sweep::{sensitivity, sweep};

use crate::therapy::treatment::parse_arm;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// How a command ended, when it did not fail: main.rs turns `Interrupted`
/// into exit status 130.
pub enum Outcome {
    Complete,
    Interrupted,
}

/// Therapy names given on the command line, checked before the scenario
/// loads (src/therapy/library.rs).
pub(crate) fn check_arm(option: &str, arm: Option<&[String]>, scenario: &Path) -> Result<()> {
    match arm {
        Some(arm) => {
            crate::therapy::library::check_arm(option, arm, scenario).map_err(anyhow::Error::msg)
        }
        None => Ok(()),
    }
}

/// A new folder under outputs/, named after the config and the time.
pub(crate) fn default_out_dir(config: &Path) -> PathBuf {
    let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("outputs").join(format!("{stem}-{stamp}"))
}

/// The therapies of `--arm`; an empty `--arm` is refused (it would
/// silently mean no treatment).
pub(crate) fn cli_arm(arm: Option<&str>) -> Result<Option<Vec<String>>> {
    match arm {
        Some(a) if a.trim().is_empty() => {
            anyhow::bail!(
                "--arm is empty; give therapies such as anti_pd1+anti_lag3, or `control` for none"
            )
        }
        Some(a) => Ok(Some(parse_arm(a))),
        None => Ok(None),
    }
}

/// Print the probable unit slips of a valid config (config::advice).
pub(crate) fn warn_slips(spec: &crate::config::resolve::RunSpec) {
    for note in crate::config::advice::advisories(spec) {
        eprintln!("warning: {}: {note}", spec.source.display());
    }
}
