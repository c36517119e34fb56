//! The model: field and parameter registries, grid geometry, state, the
//! transport kinds (boundaries, solvers) and the exact axis propagators.
//! The ground floor: it imports nothing else of the crate.

pub(crate) mod exponential;
pub mod fields;
pub mod grid;
pub mod params;
pub(crate) mod rng;
pub(crate) mod solver;
pub mod state;
