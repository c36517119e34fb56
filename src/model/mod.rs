//! The model: field and parameter registries, grid geometry, state and
//! initial conditions. Shared by both backends.

pub mod fields;
pub mod grid;
pub mod init;
pub mod params;
pub mod state;
pub mod thomas;
