//! Running a simulation: the scenario step (phenotype, resolve,
//! treatment), the backend choice, the run loop with its checkpoints, and
//! the agreement check between two backends' states.

pub mod agreement;
pub mod checkpoint;
pub mod pace;
pub mod run;
pub mod scenario;
pub mod select;
