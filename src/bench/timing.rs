//! Timing steps of a backend: wall and process CPU time of `run_steps`
//! plus one final download, after a few untimed warm-up steps. The
//! download is the sync point (a GPU runs asynchronously until something
//! is read back), so it is inside the timed window; its bytes are not
//! counted as the step's.

use crate::backend::plan::Phase;
use crate::backend::Backend;
use crate::model::params::ModelParams;
use crate::model::state::State;
use crate::sim::scenario::ArmSpec;
use crate::sim::select::{make_backend, BackendChoice};
use anyhow::Result;
use cpu_time::ProcessTime;
use std::time::{Duration, Instant};

/// Untimed steps first: caches, page faults, lazy GPU pipeline and buffer
/// set-up all settle before the clock starts.
pub const WARMUP_STEPS: u64 = 3;

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub steps: u64,
    pub wall: Duration,
    pub cpu: Duration,
    /// One download alone, timed after the window: the share of `wall`
    /// that is the sync point rather than steps.
    pub sync: Duration,
}

impl Timing {
    pub fn wall_per_step_s(&self) -> f64 {
        self.wall.as_secs_f64() / self.steps.max(1) as f64
    }

    pub fn cpu_per_step_s(&self) -> f64 {
        self.cpu.as_secs_f64() / self.steps.max(1) as f64
    }
}

/// The parameters of `count` steps from step `first` (the arm's treatment
/// applied, as a run would).
pub fn step_params(arm: &ArmSpec, first: u64, count: u64) -> Vec<ModelParams> {
    (first..first + count)
        .map(|s| arm.treatment.params_at(&arm.spec.params, s))
        .collect()
}

/// Upload `state`, run the warm-up steps, then time `steps` steps and the
/// download that ends them.
pub fn time_steps(
    backend: &mut dyn Backend,
    arm: &ArmSpec,
    state: &State,
    steps: u64,
) -> Result<Timing> {
    backend.upload(state)?;
    let params = step_params(arm, state.step, WARMUP_STEPS + steps);
    let (warm, timed) = params.split_at(WARMUP_STEPS as usize);
    backend.run_steps(warm)?;
    backend.download()?;
    let (wall, cpu) = (Instant::now(), ProcessTime::now());
    backend.run_steps(timed)?;
    backend.download()?;
    let (wall, cpu) = (wall.elapsed(), cpu.elapsed());
    let sync = Instant::now();
    backend.download()?;
    Ok(Timing {
        steps,
        wall,
        cpu,
        sync: sync.elapsed(),
    })
}

/// One stage timed alone: its operations only, on a backend of their own.
#[derive(Clone, Copy, Debug)]
pub struct StageTiming {
    pub stage: Phase,
    pub timing: Timing,
    pub bytes_per_step: u64,
}

/// Time each stage of the arm's step in isolation (a backend built with
/// `plan.only(stage)`), skipping stages the step does not have. Isolation
/// works on every backend without GPU timestamp queries; the stages'
/// sum can differ from the full step by what isolation changes (caches
/// warm from the previous stage, the data each stage sees).
pub fn time_stages(
    choice: BackendChoice,
    arm: &ArmSpec,
    state: &State,
    steps: u64,
) -> Result<Vec<StageTiming>> {
    let mut stages = Vec::new();
    for stage in Phase::ALL {
        let plan = arm.plan.only(stage);
        if plan.ops.is_empty() {
            continue;
        }
        let bytes_per_step = plan.bytes_per_step(&arm.spec.grid);
        let alone = ArmSpec {
            plan,
            ..arm.clone()
        };
        let (mut backend, _) = make_backend(choice, &alone)?;
        let timing = time_steps(backend.as_mut(), &alone, state, steps)?;
        stages.push(StageTiming {
            stage,
            timing,
            bytes_per_step,
        });
    }
    Ok(stages)
}
