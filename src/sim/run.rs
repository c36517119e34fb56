//! The run loop: initial state (or a checkpoint), batches of steps between
//! saves, a value check after every batch, outputs, checkpoints, progress,
//! and a clean stop on interrupt or failure that keeps everything written.

use super::checkpoint::{self, Checkpoint};
use super::scenario::ArmSpec;
use crate::backend::{Backend, MAX_BATCH};
use crate::config::resolve::RunSpec;
use crate::model::params::MIN_PER_DAY;
use crate::model::state::State;
use crate::output::timeseries::Summary;
use crate::output::writer::{Earlier, RunInfo, RunWriter};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a running run rewrites its manifest (its heartbeat).
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// What a finished (or interrupted) run reports.
pub struct RunReport {
    pub completed: bool,
    pub steps_done: u64,
    pub wall_time_s: f64,
    pub summaries: Vec<Summary>,
    pub final_state: State,
}

pub struct RunOptions<'a> {
    /// The run folder, prepared by `output::guard::prepare`.
    pub out_dir: &'a Path,
    pub progress: bool,
    pub interrupt: Option<&'a AtomicBool>,
    /// Continue from this checkpoint instead of the initial state.
    pub resume: Option<Checkpoint>,
}

/// Run `arm` from `initial` (ignored when resuming) on `backend`.
///
/// On an error (a GPU fault, a non-finite value, a full disk) the newest
/// good state is kept as a checkpoint when it is newer than the last one,
/// the manifest says "failed" with the error, and the error says where to
/// resume from.
pub fn run(
    arm: &ArmSpec,
    initial: State,
    backend: &mut dyn Backend,
    opts: &RunOptions,
) -> Result<RunReport> {
    let out = opts.out_dir;
    let spec = &arm.spec;
    let fingerprint = checkpoint::fingerprint(arm);
    let info = RunInfo {
        backend: backend.kind().into(),
        adapter: backend.device_name(),
        transport: arm.plan.describe(),
        config_hash: fingerprint.clone(),
    };
    let columns = arm.treatment.columns();
    let (mut writer, start) = match &opts.resume {
        None => (RunWriter::new(spec, out, info, &columns)?, initial),
        Some(c) => (
            RunWriter::continuing(
                spec,
                out,
                info,
                &columns,
                &Earlier {
                    saved: &c.header.saved,
                    summaries: &c.summaries(),
                    extra_values: &c
                        .header
                        .saved
                        .iter()
                        .map(|s| arm.treatment.values(s.step))
                        .collect::<Vec<_>>(),
                    wall_time_s: c.header.wall_time_s,
                    step: c.state.step,
                },
            )?,
            c.state.clone(),
        ),
    };
    let mut loop_state = Loop {
        arm,
        out,
        fingerprint,
        last_good: start.clone(),
        checkpointed: opts.resume.as_ref().map(|c| c.state.step),
        last_checkpoint: Instant::now(),
    };
    match loop_state.steps(start, backend, &mut writer, opts) {
        Ok(completed) => {
            let steps_done = loop_state.last_good.step;
            let (manifest, summaries) = writer.finish(completed)?;
            Ok(RunReport {
                completed,
                steps_done,
                wall_time_s: manifest.wall_time_s,
                summaries,
                final_state: loop_state.last_good,
            })
        }
        Err(e) => {
            let e = loop_state.keep_last_good(&mut writer, e);
            writer.fail(&e);
            Err(e)
        }
    }
}

/// The state of the loop that the failure path needs.
struct Loop<'a> {
    arm: &'a ArmSpec,
    out: &'a Path,
    /// The scenario's fingerprint, for every checkpoint's header.
    fingerprint: String,
    /// The newest state read back and checked.
    last_good: State,
    /// Step of the newest checkpoint.
    checkpointed: Option<u64>,
    last_checkpoint: Instant,
}

impl Loop<'_> {
    /// Run to the end (true) or to an interrupt (false).
    fn steps(
        &mut self,
        start: State,
        backend: &mut dyn Backend,
        writer: &mut RunWriter,
        opts: &RunOptions,
    ) -> Result<bool> {
        let spec = &self.arm.spec;
        let treatment = &self.arm.treatment;
        let dt = spec.dt_min as f64;
        let day_of = |step: u64| step as f64 * dt / MIN_PER_DAY as f64;
        let save = |state: &State, writer: &mut RunWriter| -> Result<()> {
            let t = day_of(state.step);
            writer.on_save(state, t, &treatment.values(state.step))
        };
        if let Some(bad) = crate::backend::scan_values(&start.fields) {
            anyhow::bail!(
                "the initial state is invalid: {}",
                bad.describe(&start.grid)
            );
        }
        backend.upload(&start)?;
        if opts.resume.is_none() {
            save(&start, writer)?;
        }
        let bar = progress_bar(spec, opts.progress, start.step);
        let mut step = start.step;
        let mut pace = super::pace::Pace::default();
        while step < spec.steps {
            let to_save = spec.save_every_steps - step % spec.save_every_steps;
            let batch = to_save
                .min(spec.steps - step)
                .min(MAX_BATCH)
                .min(pace.cap());
            let started = Instant::now();
            let params: Vec<_> = (step..step + batch)
                .map(|s| treatment.params_at(&spec.params, s))
                .collect();
            backend.run_steps(&params)?;
            // The check reads back a result, so the time includes the GPU's work.
            let bad = backend.find_bad_value()?;
            pace.record(batch, started.elapsed());
            if let Some(bad) = bad {
                anyhow::bail!(
                    "after step {} (day {:.2}): {}",
                    step + batch,
                    day_of(step + batch),
                    bad.describe(&spec.grid)
                );
            }
            step += batch;
            bar.set_position(step);
            bar.set_message(format!(
                "day {:.1} of {:.1}",
                day_of(step),
                day_of(spec.steps)
            ));
            let stop = opts.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
            if spec.is_save_step(step) || stop {
                let mut state = backend.download()?;
                state.step = step;
                save(&state, writer)?;
                self.last_good = state;
                let due = self.last_checkpoint.elapsed() >= spec.output.checkpoint_every;
                if (stop || due) && step < spec.steps {
                    self.checkpoint(writer)?;
                }
            }
            if stop && step < spec.steps {
                bar.finish_and_clear();
                return Ok(false);
            }
            writer.heartbeat(HEARTBEAT)?;
        }
        bar.finish_and_clear();
        Ok(true)
    }

    /// Checkpoint the newest good state, with the saves on the schedule.
    fn checkpoint(&mut self, writer: &mut RunWriter) -> Result<()> {
        let s = &self.last_good;
        let kept: Vec<usize> = (0..writer.saved().len())
            .filter(|&i| self.arm.spec.is_save_step(writer.saved()[i].step))
            .collect();
        let saved: Vec<_> = kept.iter().map(|&i| writer.saved()[i]).collect();
        let summaries: Vec<_> = kept.iter().map(|&i| writer.summaries[i].clone()).collect();
        let path = checkpoint::write(
            self.out,
            &self.arm.spec,
            &self.fingerprint,
            s,
            &saved,
            &summaries,
            writer.wall_time_s(),
        )?;
        writer.on_checkpoint(&path)?;
        self.checkpointed = Some(s.step);
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// After `error`: checkpoint the last good state if it is newer than
    /// the last checkpoint, and say in the error where to resume from.
    fn keep_last_good(&mut self, writer: &mut RunWriter, error: anyhow::Error) -> anyhow::Error {
        let newer = self.checkpointed.is_none_or(|s| s < self.last_good.step);
        if newer && self.last_good.step > 0 && self.last_good.step < self.arm.spec.steps {
            if let Err(e) = self.checkpoint(writer) {
                eprintln!("warning: cannot checkpoint the last good state: {e:#}");
            }
        }
        match self.checkpointed {
            Some(step) => error.context(format!(
                "run stopped; `tmesim run --resume {}` continues from step {step}",
                self.out.display()
            )),
            None => error.context("run stopped before its first checkpoint"),
        }
    }
}

fn progress_bar(spec: &RunSpec, show: bool, start: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(spec.steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} steps  {msg}  elapsed {elapsed}  ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_position(start);
    bar.reset_eta();
    // Elapsed time and ETA move between batches too.
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Read the checkpoint to resume `arm` in `out` from, if any.
pub fn find_checkpoint(out: &Path, arm: &ArmSpec) -> Result<Option<Checkpoint>> {
    checkpoint::latest(out, arm).with_context(|| format!("cannot resume {}", out.display()))
}
