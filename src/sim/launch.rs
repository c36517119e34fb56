//! Running a resolved scenario into a folder, as `tmesim run` does: the
//! folder guard, resuming from the newest checkpoint, the backend and the
//! run's banner, and the interrupt flag (Ctrl-C and SIGTERM). Also what a
//! folder says of its run (`tmesim status`). The command line parses
//! flags and calls these; tests call them directly.

use super::checkpoint::Checkpoint;
use super::run::{find_checkpoint, run, RunOptions, RunReport};
use super::scenario::ArmSpec;
use super::select::{make_backend, BackendChoice};
use crate::backend::Backend;
use crate::config::initial::initial_state;
use crate::model::state::State;
use crate::output::guard::{self, Existing, Kind};
use crate::output::manifest::Manifest;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Exit status of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as
/// shells report it): distinct from 0 (complete) and 1 (failed).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Where a run goes and how it shows itself.
#[derive(Clone, Copy, Debug)]
pub struct Launch {
    pub backend: BackendChoice,
    /// A progress bar on stderr.
    pub progress: bool,
}

/// Every file a run reads, so its output folder can be checked to hold none.
pub fn input_files(arm: &ArmSpec) -> Vec<PathBuf> {
    let mut files = vec![arm.spec.source.clone()];
    files.extend(arm.treatment.drugs.iter().map(|d| d.file.clone()));
    files.extend(arm.treatment.radiation.iter().map(|r| r.file.clone()));
    files
}

/// Run one resolved scenario into `out` on the chosen backend; with
/// `resume`, continue from the newest valid checkpoint in `out` (or start
/// over when it has none). `existing` says what to do with a folder that
/// holds files already. The folder is checked before any backend starts.
pub fn run_into(
    arm: &ArmSpec,
    out: &Path,
    launch: Launch,
    interrupt: &AtomicBool,
    existing: Existing,
    resume: bool,
) -> Result<RunReport> {
    let prepared = prepare(arm, out, existing, resume)?;
    let (mut backend, notice) = make_backend(launch.backend, arm)?;
    if let Some(notice) = notice {
        eprintln!("note: {notice}");
    }
    run_prepared(
        arm,
        out,
        prepared,
        backend.as_mut(),
        launch.progress,
        interrupt,
    )
}

/// `run_into` on a backend the caller made (a GPU shared by several runs,
/// say), with or without a progress bar.
pub fn run_on_backend(
    arm: &ArmSpec,
    out: &Path,
    backend: &mut dyn Backend,
    progress: bool,
    interrupt: &AtomicBool,
    existing: Existing,
    resume: bool,
) -> Result<RunReport> {
    let prepared = prepare(arm, out, existing, resume)?;
    run_prepared(arm, out, prepared, backend, progress, interrupt)
}

/// The guarded folder and, when resuming, the checkpoint to start from.
struct Prepared {
    dir: guard::Guarded,
    checkpoint: Option<Checkpoint>,
}

fn prepare(arm: &ArmSpec, out: &Path, existing: Existing, resume: bool) -> Result<Prepared> {
    let dir = guard::prepare(out, Kind::Run, &input_files(arm), existing)?;
    let checkpoint = match resume {
        false => None,
        true => {
            let c = find_checkpoint(out, arm)?;
            match &c {
                Some(c) => eprintln!(
                    "resuming {} from step {} of {} ({})",
                    out.display(),
                    c.header.step,
                    arm.spec.steps,
                    c.path.display()
                ),
                None => eprintln!(
                    "{} has no usable checkpoint; starting the run again from step 0",
                    out.display()
                ),
            }
            c
        }
    };
    Ok(Prepared { dir, checkpoint })
}

fn run_prepared(
    arm: &ArmSpec,
    out: &Path,
    prepared: Prepared,
    backend: &mut dyn Backend,
    progress: bool,
    interrupt: &AtomicBool,
) -> Result<RunReport> {
    let spec = &arm.spec;
    let state = match &prepared.checkpoint {
        Some(_) => State::zeros(spec.grid),
        None => initial_state(spec)?,
    };
    eprintln!(
        "tmesim: {} | arm {}{} on {} | grid {}x{}x{} at {} um | {} steps of {} min | output {}",
        spec.source.display(),
        arm.treatment.label(),
        spec.config
            .phenotype
            .as_ref()
            .map(|p| format!(" | phenotype {p}"))
            .unwrap_or_default(),
        backend.device_name(),
        spec.grid.nx,
        spec.grid.ny,
        spec.grid.nz,
        spec.grid.dx_um,
        spec.steps,
        spec.dt_min,
        out.display()
    );
    set_current_run(Some(out));
    let report = run(
        arm,
        state,
        backend,
        &RunOptions {
            out_dir: &prepared.dir.path,
            progress,
            interrupt: Some(interrupt),
            resume: prepared.checkpoint,
        },
    );
    set_current_run(None);
    report
}

/// The run folder being written, for the second-signal handler.
static CURRENT_RUN: Mutex<Option<PathBuf>> = Mutex::new(None);

fn set_current_run(dir: Option<&Path>) {
    *CURRENT_RUN.lock().unwrap_or_else(|p| p.into_inner()) = dir.map(Path::to_path_buf);
}

/// A flag set by Ctrl-C or SIGTERM: the first finishes the current batch,
/// writes a checkpoint and the outputs so far and stops; the second marks
/// the run failed in its manifest and exits at once. Installed once per
/// process.
pub fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(f) = FLAG.get() {
        return Ok(f.clone());
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            if let Some(dir) = CURRENT_RUN.lock().ok().and_then(|d| d.clone()) {
                mark_aborted(&dir);
            }
            std::process::exit(EXIT_INTERRUPTED);
        }
        eprintln!("\ninterrupt: keeping what is finished (a run saves a checkpoint and its outputs so far), then stopping; again to abort");
    })
    .context("cannot install the Ctrl-C handler")?;
    let _ = FLAG.set(interrupt.clone());
    Ok(interrupt)
}

/// Say in the manifest of `dir` that its run was aborted, so it is not
/// taken for a live run.
fn mark_aborted(dir: &Path) {
    if let Ok(mut m) = Manifest::read(dir) {
        m.status = "failed".into();
        m.error = Some("aborted by a second interrupt before the outputs were finished".into());
        let _ = crate::output::writer::write_manifest(dir, &m);
    }
}

/// The run's scenario, resolved again from the config its manifest holds.
pub fn manifest_spec(dir: &Path, m: &Manifest) -> Result<ArmSpec> {
    let source = m
        .config_file_absolute
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(&m.config_file));
    super::scenario::resolve(m.config.clone(), &source).with_context(|| {
        format!(
            "cannot resolve the scenario of {} again (started from {})",
            dir.display(),
            source.display()
        )
    })
}

/// What the folder `dir` says of its run, a line or two (`tmesim status`):
/// running, dead (no process holds it), unknown, failed or complete, with
/// the progress and the newest checkpoint.
pub fn status(dir: &Path) -> Result<Vec<String>> {
    let m = Manifest::read(dir)?;
    let lock = guard::lock_state(dir);
    let progress = format!(
        "step {} of {} ({} saves)",
        m.steps_done,
        m.steps_total,
        m.saved.len()
    );
    let beat = m.heartbeat.as_deref().unwrap_or("never");
    let pid = || m.pid.map_or("?".into(), |p| p.to_string());
    let mut lines = vec![match (m.status.as_str(), lock) {
        ("running", guard::LockState::Held) => {
            format!("running: {progress}, pid {}, last heartbeat {beat}", pid())
        }
        ("running", guard::LockState::Unknown) => format!(
            "unknown: the manifest says running (pid {}, last heartbeat {beat}), but whether a process still holds {} cannot be checked; {progress}. Do not resume it while the process may be alive",
            pid(),
            dir.join(guard::LOCK).display()
        ),
        ("running", guard::LockState::Free) => format!(
            "dead: the manifest says running, but no process holds the folder (last heartbeat {beat}); {progress}; continue with: tmesim run --resume {}",
            dir.display()
        ),
        ("failed", _) => format!(
            "failed: {}; {progress}",
            m.error.as_deref().unwrap_or("no error recorded")
        ),
        (status, _) => format!("{status}: {progress}"),
    }];
    if let Some(c) = &m.checkpoint {
        lines.push(format!("newest checkpoint: {}", dir.join(c).display()));
    }
    Ok(lines)
}
