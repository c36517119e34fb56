//! Running a simulation: the transport plan, the backend interface and its
//! CPU implementation, the run loop, and treatment-arm comparison.

pub mod arms;
pub mod backend;
pub mod checkpoint;
pub mod compare;
pub mod cpu_backend;
pub mod pace;
pub mod plan;
pub mod run;
pub mod select;
