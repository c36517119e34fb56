//! One virtual patient on one arm: the scenario with the patient's
//! overrides on the cohort grid, run in memory (no run folder), and the
//! tumour's response read from its diameter at every save.

use super::lesion::{Course, Track};
use super::sample::Patient;
use super::spec::CohortSpec;
use crate::backend::batch::Batch;
use crate::backend::MAX_BATCH;
use crate::model::fields::idx::DC;
use crate::model::params::MIN_PER_DAY;
use crate::model::state::State;
use crate::output::arms::Response;
use crate::output::timeseries::{summarize, Summary};
use crate::sim::scenario::ArmSpec;
use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// The grid overrides that put the scenario's domain on the cohort grid
/// (none at full resolution).
pub fn grid_overrides(cohort: &CohortSpec, scenario: &ArmSpec) -> Vec<String> {
    let Some(dx) = cohort.grid_dx_um() else {
        return Vec::new();
    };
    let g = &scenario.spec.grid;
    let cells = |n: usize| -> usize {
        if n == 1 {
            1
        } else {
            ((n as f64 * g.dx_um as f64 / dx).round() as usize).max(3)
        }
    };
    let [nx, ny, nz] = g.dims();
    vec![
        format!("grid.nx={}", cells(nx)),
        format!("grid.ny={}", cells(ny)),
        format!("grid.nz={}", cells(nz)),
        format!("grid.dx_um={}", super::sample::format_value(dx, false)),
    ]
}

/// Every override of one patient on one arm, in the order they apply:
/// the cohort grid, the cohort's `set`, the patient, the arm.
pub fn overrides(
    cohort: &CohortSpec,
    grid: &[String],
    patient: &Patient,
    arm: &[String],
) -> Vec<String> {
    let mut all: Vec<String> = grid.to_vec();
    all.extend(cohort.cohort.set.iter().cloned());
    all.extend(patient.overrides(cohort));
    let list = arm.iter().map(|t| toml::Value::String(t.clone())).collect();
    all.push(format!("arm={}", toml::Value::Array(list)));
    all
}

/// The run spec of one patient on one arm, with errors that say which
/// patient's draws broke the scenario.
pub fn run_spec(
    cohort: &CohortSpec,
    grid: &[String],
    patient: &Patient,
    arm: &[String],
) -> Result<ArmSpec> {
    let all = overrides(cohort, grid, patient, arm);
    crate::sim::scenario::load(&cohort.scenario, &all).with_context(|| {
        format!(
            "{}: patient {} ({}) does not make a valid scenario",
            cohort.file.display(),
            patient.index,
            patient.phenotype
        )
    })
}

/// The tumour burden at each save.
fn course(saves: &[Summary]) -> Course {
    Course {
        days: saves.iter().map(|x| x.time_days).collect(),
        burden: saves.iter().map(|x| x.tumor_burden).collect(),
    }
}

/// Whether two patient-arms can share a batch: one plan (grid, step,
/// transport) and one schedule of steps and saves.
pub fn same_batch(a: &ArmSpec, b: &ArmSpec) -> bool {
    let (x, y) = (&a.spec, &b.spec);
    a.plan == b.plan
        && x.grid == y.grid
        && x.dt_min == y.dt_min
        && x.steps == y.steps
        && x.save_every_steps == y.save_every_steps
}

/// What one patient-arm's region did: its response (the region's own
/// diameter), its track (burden and diameter at every save) and its
/// domain-mean mature DC fraction at every save.
#[derive(Clone, Debug)]
pub struct RegionRun {
    pub region: Response,
    pub track: Track,
    pub dc_mean: Vec<f64>,
    /// The whole-domain summary at the end of follow-up (sweeps read it).
    pub last: Summary,
}

impl RegionRun {
    /// The domain-mean DC fraction at `day`, linear between saves.
    pub fn dc_mean_at(&self, day: f64) -> f64 {
        let days = &self.track.course.days;
        let k = days.partition_point(|&d| d < day);
        if k == 0 {
            return self.dc_mean[0];
        }
        if k >= days.len() {
            return self.dc_mean[days.len() - 1];
        }
        let w = (day - days[k - 1]) / (days[k] - days[k - 1]);
        self.dc_mean[k - 1] * (1.0 - w) + self.dc_mean[k] * w
    }
}

/// Run each of `arms` (which share a batch, see `same_batch`) from its
/// initial state in `initials`, together on `backend`, and read each one's
/// region at every save. Where `primed_by` gives another region's run,
/// that run's DCs drive the arm's priming equally with its own (a
/// patient's unirradiated lesions beside the irradiated one). `names` say
/// which patient-arm an error is about. Stops with an error when `stop` is
/// raised.
///
/// `settled(k, course)` says, at each save, whether arm `k`'s reading can
/// no longer change (`lesion::settled`): its run then ends at that save,
/// and the batch when every arm's has.
pub fn run_arms(
    arms: &[&ArmSpec],
    initials: &[&State],
    names: &[String],
    primed_by: &[Option<&RegionRun>],
    settled: &dyn Fn(usize, &Course) -> bool,
    backend: &mut dyn Batch,
    stop: &AtomicBool,
) -> Result<Vec<RegionRun>> {
    let spec = &arms[0].spec;
    debug_assert!(arms.iter().all(|a| same_batch(a, arms[0])));
    let dt = spec.dt_min as f64;
    let day = |step: u64| step as f64 * dt / MIN_PER_DAY as f64;
    let states: Vec<State> = initials.iter().map(|s| (*s).clone()).collect();
    backend.upload_batch(&states)?;
    let mut saves: Vec<Vec<Summary>> = initials.iter().map(|s| vec![summarize(s, 0.0)]).collect();
    let mut open = vec![true; arms.len()];
    let mut step = initials[0].step;
    anyhow::ensure!(
        initials.iter().all(|s| s.step == step),
        "the patient-arms of a batch must start at one step"
    );
    while step < spec.steps && open.contains(&true) {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        let to_save = spec.save_every_steps - step % spec.save_every_steps;
        let batch = to_save.min(spec.steps - step).min(MAX_BATCH);
        let params: Vec<Vec<_>> = arms
            .iter()
            .zip(primed_by)
            .map(|(arm, by)| {
                (step..step + batch)
                    .map(|s| {
                        let mut p = arm.treatment.params_at(&arm.spec.params, s);
                        if let Some(run) = by {
                            // The systemic stage reads the DCs of the step before.
                            p.partner_dc_mean = run.dc_mean_at(day(s)) as f32;
                        }
                        p
                    })
                    .collect()
            })
            .collect();
        let lists: Vec<&[_]> = params.iter().map(Vec::as_slice).collect();
        backend.run_batch(&lists)?;
        if let Some((k, bad)) = backend.find_bad_in_batch()? {
            bail!(
                "{}: after day {:.2}: {}",
                names[k],
                day(step + batch),
                bad.describe(&spec.grid)
            );
        }
        step += batch;
        if spec.is_save_step(step) {
            let states = backend.download_batch()?;
            for (k, (s, state)) in saves.iter_mut().zip(&states).enumerate() {
                if open[k] {
                    s.push(summarize(state, day(step)));
                    open[k] = !settled(k, &course(s));
                }
            }
        }
    }
    let grid = &spec.grid;
    let domain = grid.len() as f64 * grid.voxel_measure();
    Ok(saves
        .iter()
        .map(|s| {
            let track = Track {
                course: course(s),
                diameter_um: s.iter().map(|x| x.equivalent_diameter_um).collect(),
            };
            RegionRun {
                region: track.response(grid),
                track,
                dc_mean: s.iter().map(|x| x.totals[DC] / domain).collect(),
                last: s.last().expect("the baseline save").clone(),
            }
        })
        .collect())
}

/// Run `arms` (which share a batch) as a trial reads them, and return for
/// each its targets' region and, on an arm with radiotherapy, the
/// irradiated one. Such an arm runs twice: the irradiated region to the
/// end of follow-up, then the patient's other lesions, which get no dose
/// but share the irradiated lesion's priming (docs/model.md), primed by
/// its DCs as well as their own. `settled(k, course)` ends arm `k`'s
/// targets region once its reading is settled (`lesion::settled`); an
/// irradiated region never ends early, since its DCs prime the others
/// and its own lesion is read beside them.
pub fn run_trial_arms(
    arms: &[&ArmSpec],
    initials: &[&State],
    names: &[String],
    settled: &dyn Fn(usize, &Course) -> bool,
    backend: &mut dyn Batch,
    stop: &AtomicBool,
) -> Result<Vec<(RegionRun, Option<RegionRun>)>> {
    let irradiated: Vec<usize> = (0..arms.len())
        .filter(|&i| !arms[i].treatment.radiation.is_empty())
        .collect();
    let none = vec![None; arms.len()];
    let first = |k: usize, c: &Course| !irradiated.contains(&k) && settled(k, c);
    let runs = run_arms(arms, initials, names, &none, &first, backend, stop)?;
    let mut others = Vec::new();
    if !irradiated.is_empty() {
        let specs: Vec<ArmSpec> = irradiated
            .iter()
            .map(|&i| {
                let mut s = arms[i].clone();
                s.treatment.radiation.clear();
                s
            })
            .collect();
        let specs: Vec<&ArmSpec> = specs.iter().collect();
        let states: Vec<&State> = irradiated.iter().map(|&i| initials[i]).collect();
        let names: Vec<String> = irradiated
            .iter()
            .map(|&i| format!("{} (unirradiated lesions)", names[i]))
            .collect();
        let by: Vec<Option<&RegionRun>> = irradiated.iter().map(|&i| Some(&runs[i])).collect();
        let second = |j: usize, c: &Course| settled(irradiated[j], c);
        others = run_arms(&specs, &states, &names, &by, &second, backend, stop)
            .context("the unirradiated lesions of arms with radiotherapy")?;
    }
    let mut others = others.into_iter();
    Ok(runs
        .into_iter()
        .enumerate()
        .map(|(k, run)| {
            if irradiated.contains(&k) {
                let targets = others.next().expect("one per irradiated arm");
                (targets, Some(run))
            } else {
                (run, None)
            }
        })
        .collect())
}
