//! What a run writes: the manifest, the time series, PNG frames and .npy
//! field dumps (layout: docs/outputs.md).

pub mod font;
pub mod frames;
pub mod manifest;
pub mod npy;
pub mod plot;
pub mod timeseries;
