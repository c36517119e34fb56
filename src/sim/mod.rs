//! Running a simulation: the scenario step (phenotype, resolve,
//! treatment), the backend choice, the run loop with its checkpoints, a
//! run launched into a folder (`launch`: guard, resume, interrupt,
//! status), a comparison of arms (`compare`), and the agreement check
//! between two backends' states.

pub mod agreement;
pub mod checkpoint;
pub mod compare;
pub mod launch;
pub(crate) mod pace;
pub mod run;
pub mod scenario;
pub mod select;
