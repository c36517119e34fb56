//! Throughput of several patients of one scenario advanced together
//! (`tmesim bench --patients B`), as a cohort runs them: on the CPU, B
//! separate backends in parallel with one thread each (src/cohort/runner.rs);
//! on the GPU, one batch of B patients in the same dispatches.

use super::timing::{step_params, WARMUP_STEPS};
use crate::backend::batch::Batch;
use crate::backend::Backend;
use crate::cpu::backend::CpuBackend;
use crate::model::params::MIN_PER_DAY;
use crate::model::state::State;
use crate::sim::scenario::ArmSpec;
use crate::sim::select::{cpu_backend, make_batch, BackendChoice};
use anyhow::Result;
use cpu_time::ProcessTime;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How B patients advance.
enum PatientSet {
    /// One CPU backend per patient, spread over worker threads that each
    /// own a one-thread rayon pool.
    CpuParallel {
        patients: Vec<CpuBackend>,
        workers: usize,
    },
    /// One batch of B patients (the GPU: the patient is a dispatch
    /// dimension).
    Batched(Box<dyn Batch>, u32),
}

pub struct PatientsTiming {
    pub patients: u32,
    pub steps: u64,
    pub wall: Duration,
    /// The process's CPU time over the same window (all its threads).
    pub cpu: Duration,
    /// Simulated minutes per step.
    pub dt_min: f64,
    /// How the patients ran, for the report line.
    pub how: String,
    /// Bytes the backend(s) hold for all the patients.
    pub memory_bytes: u64,
    /// Most patients one batch could hold on this device, if bounded.
    pub fit: Option<u64>,
}

impl PatientsTiming {
    pub fn patient_steps_per_s(&self) -> f64 {
        self.patients as f64 * self.steps as f64 / self.wall.as_secs_f64().max(1e-12)
    }

    /// Simulated patient-days (a cohort's patient-arm-days) per second of
    /// wall time.
    pub fn patient_days_per_s(&self) -> f64 {
        self.patient_steps_per_s() * self.dt_min / MIN_PER_DAY as f64
    }

    /// Simulated patient-days per second of the process's CPU time: the
    /// figure that scales with cores, the cohort-throughput measure.
    pub fn patient_days_per_core_s(&self) -> f64 {
        self.patients as f64 * self.steps as f64 * self.dt_min
            / MIN_PER_DAY as f64
            / self.cpu.as_secs_f64().max(1e-12)
    }
}

impl PatientSet {
    fn new(choice: BackendChoice, arm: &ArmSpec, count: u32) -> Result<Self> {
        if choice == BackendChoice::Cpu {
            let patients: Vec<CpuBackend> = (0..count).map(|_| cpu_backend(arm)).collect();
            let workers = rayon::current_num_threads().min(count as usize).max(1);
            return Ok(PatientSet::CpuParallel { patients, workers });
        }
        let (batch, _) = make_batch(choice, arm, count as usize)?;
        Ok(PatientSet::Batched(batch, count))
    }

    fn memory_bytes(&self) -> u64 {
        match self {
            PatientSet::CpuParallel { patients, .. } => {
                patients.iter().map(|b| b.memory_bytes()).sum()
            }
            PatientSet::Batched(batch, _) => batch.memory_bytes(),
        }
    }

    fn fit(&self) -> Option<u64> {
        match self {
            PatientSet::CpuParallel { .. } => None,
            PatientSet::Batched(batch, _) => batch.fit(),
        }
    }

    fn describe(&self) -> String {
        match self {
            PatientSet::CpuParallel { workers, .. } => {
                format!("in parallel, {workers} worker thread(s) of one rayon thread each")
            }
            PatientSet::Batched(_, count) => format!("one batch of {count} on the GPU"),
        }
    }

    /// Upload every patient's state and run the warm-up steps.
    fn prepare(&mut self, arm: &ArmSpec, state: &State) -> Result<()> {
        let warm = step_params(arm, state.step, WARMUP_STEPS);
        let each = |b: &mut dyn Backend| -> Result<()> {
            b.upload(state)?;
            b.run_steps(&warm)?;
            b.download().map(|_| ())
        };
        match self {
            PatientSet::CpuParallel { patients, .. } => {
                patients.iter_mut().try_for_each(|b| each(b))
            }
            PatientSet::Batched(batch, count) => {
                batch.upload_batch(&vec![state.clone(); *count as usize])?;
                batch.run_batch(&vec![warm.as_slice(); *count as usize])?;
                batch.download_batch().map(|_| ())
            }
        }
    }

    /// Every patient advances `steps` steps and is read back.
    fn advance(&mut self, arm: &ArmSpec, first: u64, steps: u64) -> Result<()> {
        let params = step_params(arm, first, steps);
        match self {
            PatientSet::CpuParallel { patients, workers } => {
                let queue = Mutex::new(patients.iter_mut().collect::<Vec<_>>());
                let failure = Mutex::new(None);
                std::thread::scope(|s| {
                    for _ in 0..*workers {
                        s.spawn(|| {
                            if let Err(e) = one_thread_worker(&queue, &params) {
                                failure.lock().expect("lock").get_or_insert(e);
                            }
                        });
                    }
                });
                match failure.into_inner().expect("no worker panicked holding it") {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            PatientSet::Batched(batch, count) => {
                batch.run_batch(&vec![params.as_slice(); *count as usize])?;
                batch.download_batch().map(|_| ())
            }
        }
    }
}

/// Take patients off the queue and advance each, single-threaded.
fn one_thread_worker(
    queue: &Mutex<Vec<&mut CpuBackend>>,
    params: &[crate::model::params::ModelParams],
) -> Result<()> {
    let pool = crate::cpu::fp::pool(1).build()?;
    pool.install(|| loop {
        let Some(b) = queue.lock().expect("lock").pop() else {
            return Ok(());
        };
        b.run_steps(params)?;
        b.download()?;
    })
}

/// Time `count` patients of `arm`, each advancing `steps` steps from
/// `state` after the warm-up steps.
pub fn time_patients(
    choice: BackendChoice,
    arm: &ArmSpec,
    state: &State,
    count: u32,
    steps: u64,
) -> Result<PatientsTiming> {
    let mut set = PatientSet::new(choice, arm, count)?;
    set.prepare(arm, state)?;
    let (start, cpu) = (Instant::now(), ProcessTime::now());
    set.advance(arm, state.step + WARMUP_STEPS, steps)?;
    Ok(PatientsTiming {
        patients: count,
        steps,
        wall: start.elapsed(),
        cpu: cpu.elapsed(),
        dt_min: arm.spec.dt_min as f64,
        how: set.describe(),
        memory_bytes: set.memory_bytes(),
        fit: set.fit(),
    })
}
