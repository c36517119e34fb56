//! The run loop: initial state, batches of steps between saves, outputs,
//! progress, and a clean stop on interrupt that keeps everything written.

use super::backend::Backend;
use super::plan::TransportPlan;
use crate::config::resolve::RunSpec;
use crate::model::fields::FIELDS;
use crate::model::params::{MIN_PER_DAY, PARAM_SPECS};
use crate::model::state::State;
use crate::output::manifest::{FieldInfo, GridInfo, Manifest, SavedTime};
use crate::output::timeseries::{summarize, Summary, TimeseriesWriter};
use crate::output::{frames, npy};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    if spec.output.png {
        std::fs::create_dir_all(out.join("frames"))?;
    }
    if spec.output.npy {
        std::fs::create_dir_all(out.join("fields"))?;
    }
    let plan = TransportPlan::new(spec);
    let start = Instant::now();
    let mut ts =
        TimeseriesWriter::create(&out.join("timeseries.csv"), &spec.treatment.columns())
            .with_context(|| format!("cannot write {}", out.join("timeseries.csv").display()))?;
    let mut saved = Vec::new();
    let mut summaries = Vec::new();
    let dt = spec.dt_min as f64;
    let day_of = |step: u64| step as f64 * dt / MIN_PER_DAY as f64;

    let mut manifest = Manifest {
        tmesim_version: env!("CARGO_PKG_VERSION"),
        status: "running".into(),
        config_file: spec.source.display().to_string(),
        backend: backend.kind().into(),
        adapter: backend.device_name(),
        grid: GridInfo {
            nx: spec.grid.nx,
            ny: spec.grid.ny,
            nz: spec.grid.nz,
            dx_um: spec.grid.dx_um,
            npy_shape: [spec.grid.nz, spec.grid.ny, spec.grid.nx],
        },
        dt_min: spec.dt_min,
        steps_done: 0,
        steps_total: spec.steps,
        transport: plan.describe(),
        wall_time_s: 0.0,
        saved: Vec::new(),
        fields: spec
            .output
            .fields
            .iter()
            .map(|&f| FieldInfo {
                name: FIELDS[f].name,
                kind: FIELDS[f].kind.as_str(),
                unit: FIELDS[f].unit,
                display_max: spec.fields[f].display_max,
                png: spec
                    .output
                    .png
                    .then(|| format!("frames/{}_{{index}}.png", FIELDS[f].name)),
                npy: spec
                    .output
                    .npy
                    .then(|| format!("fields/{}_{{index}}.npy", FIELDS[f].name)),
            })
            .collect(),
        params: PARAM_SPECS
            .iter()
            .map(|s| {
                (
                    s.name.to_string(),
                    serde_json::json!(spec.params.get(s.name).unwrap()),
                )
            })
            .collect(),
        config: spec.config.clone(),
    };

    let mut save = |state: &State, manifest: &mut Manifest| -> Result<()> {
        let index = saved.len();
        let t = day_of(state.step);
        for &f in &spec.output.fields {
            let name = FIELDS[f].name;
            if spec.output.png {
                let path = out.join(format!("frames/{name}_{index:04}.png"));
                frames::write_frame(
                    &path,
                    &spec.grid,
                    &state.fields[f],
                    spec.fields[f].display_max,
                )
                .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if spec.output.npy {
                let path = out.join(format!("fields/{name}_{index:04}.npy"));
                npy::write_field(&path, &spec.grid, &state.fields[f])
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        let summary = summarize(state, t);
        ts.write(&summary, &spec.treatment.values(state.step))?;
        summaries.push(summary);
        saved.push(SavedTime {
            index,
            step: state.step,
            time_days: t,
        });
        manifest.saved = saved.iter().map(|s| SavedTime { ..*s }).collect();
        manifest.steps_done = state.step;
        manifest.wall_time_s = start.elapsed().as_secs_f64();
        write_manifest(out, manifest)
    };

    backend.upload(&initial);
    save(&initial, &mut manifest)?;
    let bar = progress_bar(spec, opts.progress);
    let mut step = initial.step;
    let mut last = initial;
    let mut interrupted = false;
    while step < spec.steps {
        let to_save = spec.save_every_steps - step % spec.save_every_steps;
        let batch = to_save.min(spec.steps - step).min(MAX_BATCH);
        let params: Vec<_> = (step..step + batch)
            .map(|s| spec.treatment.params_at(&spec.params, s))
            .collect();
        backend.run_steps(&params);
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
            save(&last, &mut manifest)?;
        }
        if stop {
            interrupted = true;
            break;
        }
    }
    bar.finish_and_clear();
    manifest.status = if interrupted {
        "interrupted"
    } else {
        "complete"
    }
    .into();
    manifest.wall_time_s = start.elapsed().as_secs_f64();
    write_manifest(out, &manifest)?;
    Ok(RunReport {
        completed: !interrupted,
        steps_done: step,
        wall_time_s: manifest.wall_time_s,
        summaries,
        final_state: last,
    })
}

fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let path = out.join("manifest.json");
    let tmp = out.join("manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(manifest)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    // Rename so a reader never sees a half-written manifest.
    std::fs::rename(&tmp, &path)?;
    Ok(())
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
    bar
}
