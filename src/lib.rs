//! tmesim: a GPU-accelerated reaction-diffusion simulator of the tumour
//! microenvironment under PD-1 immunotherapy.
//!
//! The library is organised by layer: `model` (registries, grid, state),
//! `config` (TOML scenarios), `cpu` (reference kernels), `gpu` (the same
//! kernels in WGSL through wgpu), `sim` (schedule and run loop) and
//! `output` (manifest, time series, frames, arrays).

// Config errors carry their file, key, value and the valid names by value:
// they are built once, on the way out of a failed run, so their size does
// not matter.
#![allow(clippy::result_large_err)]

pub mod backend;
pub mod config;
pub mod cpu;
pub mod gpu;
pub mod model;
pub mod output;
pub mod sim;
pub mod therapy;
