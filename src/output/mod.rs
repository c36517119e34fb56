//! What a run writes: the manifest, the time series and its plot, labelled
//! frames, montages, composites, time-lapses, the OME-Zarr field store,
//! optional .npy and VTK files and the report page (layout: docs/outputs.md). `writer` drives them all.

pub mod animate;
pub mod arms;
pub mod atomic;
pub mod colormap;
pub mod font;
pub mod frames;
pub mod guard;
pub mod headline;
pub mod images;
pub mod layout;
pub mod manifest;
pub mod npy;
pub mod plot;
pub mod render;
pub mod report;
pub mod text;
pub mod timeseries;
pub mod tsplot;
pub mod vtk;
pub mod writer;
pub mod zarr;
