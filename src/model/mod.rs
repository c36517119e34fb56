//! The model: field and parameter registries, grid geometry, state and
//! initial conditions. Shared by both backends.

pub mod exponential;
pub mod fields;
pub mod grid;
pub mod init;
pub mod params;
pub mod rng;
pub mod state;
