//! The CPU twin of the GPU batch: one CPU backend per patient, the patients
//! advanced in parallel (each on one rayon task, with the kernels' own
//! parallel loops inside it).

use super::backend::CpuBackend;
use crate::backend::batch::{check_params, Batch};
use crate::backend::plan::TransportPlan;
use crate::backend::{Backend, BadValue};
use crate::model::grid::Grid;
use crate::model::params::ModelParams;
use crate::model::state::State;
use anyhow::Result;
use rayon::prelude::*;

pub struct CpuBatch {
    patients: Vec<CpuBackend>,
    /// Patients of the last upload.
    active: usize,
}

impl CpuBatch {
    pub fn new(grid: Grid, plan: &TransportPlan, dt: f32, capacity: usize) -> Self {
        let make = || CpuBackend::new(grid, plan.clone(), dt);
        Self {
            patients: (0..capacity.max(1)).map(|_| make()).collect(),
            active: 0,
        }
    }

    fn active(&mut self) -> &mut [CpuBackend] {
        &mut self.patients[..self.active]
    }
}

impl Batch for CpuBatch {
    fn kind(&self) -> &'static str {
        "cpu"
    }

    fn device_name(&self) -> String {
        self.patients[0].device_name()
    }

    fn capacity(&self) -> usize {
        self.patients.len()
    }

    fn memory_bytes(&self) -> u64 {
        self.patients.iter().map(|b| b.memory_bytes()).sum()
    }

    fn fit(&self) -> Option<u64> {
        None
    }

    fn upload_batch(&mut self, states: &[State]) -> Result<()> {
        anyhow::ensure!(
            !states.is_empty() && states.len() <= self.patients.len(),
            "{} states for a batch of up to {} patients",
            states.len(),
            self.patients.len()
        );
        for (b, s) in self.patients.iter_mut().zip(states) {
            b.upload(s)?;
        }
        self.active = states.len();
        Ok(())
    }

    fn run_batch(&mut self, params: &[&[ModelParams]]) -> Result<()> {
        check_params(params, self.active)?;
        self.active()
            .par_iter_mut()
            .zip(params)
            .try_for_each(|(b, p)| b.run_steps(p))
    }

    fn download_batch(&mut self) -> Result<Vec<State>> {
        self.active().iter_mut().map(|b| b.download()).collect()
    }

    fn find_bad_in_batch(&mut self) -> Result<Option<(usize, BadValue)>> {
        for (k, b) in self.active().iter_mut().enumerate() {
            if let Some(bad) = b.find_bad_value()? {
                return Ok(Some((k, bad)));
            }
        }
        Ok(None)
    }
}
