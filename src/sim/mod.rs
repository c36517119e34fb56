//! Running a simulation: the transport plan, the backend interface and its
//! CPU implementation, dosing, and the run loop.

pub mod arms;
pub mod backend;
pub mod compare;
pub mod cpu_backend;
pub mod plan;
pub mod run;
pub mod select;
