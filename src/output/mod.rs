//! What a run writes: the manifest, the time series and its plot, labelled
//! frames, montages, composites, time-lapses, the OME-Zarr field store,
//! optional .npy and VTK files and the report page (layout: docs/outputs.md). `writer` drives them all.

pub mod animate;
pub mod arms;
pub mod atomic;
pub(crate) mod colormap;
pub(crate) mod font;
pub(crate) mod frames;
pub mod guard;
pub mod headline;
pub(crate) mod images;
pub mod layout;
pub mod manifest;
pub mod npy;
pub(crate) mod plot;
pub mod recist;
pub mod render;
pub mod report;
pub(crate) mod text;
pub mod timeseries;
pub mod tsplot;
pub(crate) mod vtk;
pub mod writer;
pub(crate) mod zarr;
