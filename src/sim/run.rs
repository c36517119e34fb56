//! The run loop: initial state, batches of steps between saves, outputs,
//! progress, and a clean stop on interrupt that keeps everything written.

use super::backend::Backend;
use super::plan::TransportPlan;
use crate::config::resolve::RunSpec;
use crate::model::params::MIN_PER_DAY;
use crate::model::state::State;
use crate::output::timeseries::Summary;
use crate::output::writer::{RunInfo, RunWriter};
use anyhow::Result;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Most steps encoded per GPU submission (and per parameter upload).
pub const MAX_BATCH: u64 = 256;

/// What a finished (or interrupted) run reports.
pub struct RunReport {
    pub completed: bool,
    pub steps_done: u64,
    pub wall_time_s: f64,
    pub summaries: Vec<Summary>,
    pub final_state: State,
}

pub struct RunOptions<'a> {
    pub out_dir: &'a Path,
    pub progress: bool,
    pub interrupt: Option<&'a AtomicBool>,
}

pub fn run(
    spec: &RunSpec,
    initial: State,
    backend: &mut dyn Backend,
    opts: &RunOptions,
) -> Result<RunReport> {
    let out = opts.out_dir;
    let plan = TransportPlan::new(spec);
    let info = RunInfo {
        backend: backend.kind().into(),
        adapter: backend.device_name(),
        transport: plan.describe(),
    };
    let mut writer = RunWriter::new(spec, out, info, &spec.treatment.columns())?;
    let dt = spec.dt_min as f64;
    let day_of = |step: u64| step as f64 * dt / MIN_PER_DAY as f64;
    let save = |state: &State, writer: &mut RunWriter| -> Result<()> {
        let t = day_of(state.step);
        writer.on_save(state, t, &spec.treatment.values(state.step))
    };

    backend.upload(&initial);
    save(&initial, &mut writer)?;
    let bar = progress_bar(spec, opts.progress);
    let mut step = initial.step;
    let mut last = initial;
    let mut interrupted = false;
    let mut pace = super::pace::Pace::default();
    while step < spec.steps {
        let to_save = spec.save_every_steps - step % spec.save_every_steps;
        let batch = to_save
            .min(spec.steps - step)
            .min(MAX_BATCH)
            .min(pace.cap());
        let started = std::time::Instant::now();
        let params: Vec<_> = (step..step + batch)
            .map(|s| spec.treatment.params_at(&spec.params, s))
            .collect();
        backend.run_steps(&params);
        pace.record(batch, started.elapsed());
        step += batch;
        bar.set_position(step);
        bar.set_message(format!(
            "day {:.1} of {:.1}",
            day_of(step),
            day_of(spec.steps)
        ));
        let stop = opts.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
        if step.is_multiple_of(spec.save_every_steps) || step == spec.steps || stop {
            last = backend.download();
            last.step = step;
            save(&last, &mut writer)?;
        }
        if stop {
            interrupted = true;
            break;
        }
    }
    bar.finish_and_clear();
    let (manifest, summaries) = writer.finish(!interrupted)?;
    Ok(RunReport {
        completed: !interrupted,
        steps_done: step,
        wall_time_s: manifest.wall_time_s,
        summaries,
        final_state: last,
    })
}

fn progress_bar(spec: &RunSpec, show: bool) -> indicatif::ProgressBar {
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
    // Elapsed time and ETA move between batches too.
    bar.enable_steady_tick(std::time::Duration::from_millis(500));
    bar
}
