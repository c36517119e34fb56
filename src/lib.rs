//! tmesim: a GPU-accelerated reaction-diffusion simulator of the tumour
//! microenvironment under PD-1 immunotherapy.
//!
//! The library is built in layers, each importing only the layers below it
//! (docs/architecture.md has the picture). `model` is the ground floor:
//! registries, grid, state, boundary and solver kinds, importing nothing
//! else of the crate. `config` turns a TOML scenario into checked data
//! (`RunSpec`) and its initial state. Above it, independent of each other:
//! `therapy` (therapy and phenotype files into per-step parameters),
//! `backend` (the interface both backends implement and the transport
//! plan) and `output` (everything a run writes). `cpu` and `gpu` implement
//! the backend. `sim` runs a simulation: the scenario step (phenotype, then
//! resolve, then treatment), the backend choice, the run loop with its
//! checkpoints, and the agreement check between backends. `cohort` runs
//! virtual trials on top of `sim`; beside it, `bench` times steps, stages
//! and patients against the machine's copy bandwidth (`tmesim bench`). `app`
//! is the application on top: each command's arguments and what it does;
//! `main.rs` parses the arguments and calls it.

// Config errors carry their file, key, value and the valid names by value:
// they are built once, on the way out of a failed run, so their size does
// not matter.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod backend;
pub mod bench;
pub mod cohort;
pub mod config;
pub mod cpu;
pub mod gpu;
pub mod model;
pub mod output;
pub mod sim;
pub mod therapy;
