//! The interface both backends implement: state goes in, macro steps run
//! with one parameter set per step, state comes out only when asked.

use crate::model::params::ModelParams;
use crate::model::state::State;

pub trait Backend {
    /// "cpu" or "gpu".
    fn kind(&self) -> &'static str;
    /// Adapter or processor description for the manifest.
    fn device_name(&self) -> String;
    /// Replace the backend's state.
    fn upload(&mut self, state: &State);
    /// Run one macro step per entry of `params` (parameters at each step's
    /// start), without reading anything back.
    fn run_steps(&mut self, params: &[ModelParams]);
    /// Read the whole state back.
    fn download(&mut self) -> State;
}
