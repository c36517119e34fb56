//! Several patients that share a plan (grid, step, transport), advanced
//! together, each with its own state and its own parameters at every step.
//! The GPU backend runs a batch in one set of dispatches (the patient is a
//! dispatch dimension); its CPU twin, `cpu::batch::CpuBatch`, runs one CPU
//! backend per patient. A cohort runs its patients through this interface.

use super::BadValue;
use crate::model::params::ModelParams;
use crate::model::state::State;
use anyhow::Result;

pub trait Batch {
    /// "cpu" or "gpu".
    fn kind(&self) -> &'static str;
    /// Adapter or processor description.
    fn device_name(&self) -> String;
    /// Most patients the batch holds.
    fn capacity(&self) -> usize;
    /// Bytes the batch holds for all its patients (as `Backend::memory_bytes`).
    fn memory_bytes(&self) -> u64;
    /// Most patients of this plan one batch could hold on this device
    /// (`None`: no bound but memory).
    fn fit(&self) -> Option<u64>;
    /// Replace the states: patient k takes `states[k]` (at most `capacity`
    /// states; the later calls cover these patients only).
    fn upload_batch(&mut self, states: &[State]) -> Result<()>;
    /// Run one macro step per entry of each patient's parameter list:
    /// `params[k]` is patient k's, and every list has the same length.
    fn run_batch(&mut self, params: &[&[ModelParams]]) -> Result<()>;
    /// Read every patient's state back, in upload order.
    fn download_batch(&mut self) -> Result<Vec<State>>;
    /// The first patient with a non-finite or out-of-range value, and where
    /// (on the GPU the count is over the whole batch).
    fn find_bad_in_batch(&mut self) -> Result<Option<(usize, BadValue)>>;
}

/// Checks every `run_batch` makes: one list per uploaded patient, all of
/// one length.
pub fn check_params(params: &[&[ModelParams]], patients: usize) -> Result<usize> {
    anyhow::ensure!(
        params.len() == patients,
        "{} parameter lists for a batch of {patients} patients",
        params.len()
    );
    let steps = params.first().map_or(0, |p| p.len());
    anyhow::ensure!(
        params.iter().all(|p| p.len() == steps),
        "the patients of a batch must run the same number of steps"
    );
    Ok(steps)
}
