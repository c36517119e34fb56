//! The TOML scenario schema. Every key has a default, so a scenario lists
//! only what it changes; unknown keys are rejected (see `load.rs`).

use crate::model::solver::{DiffusionSolver, Splitting};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub grid: GridConfig,
    pub time: TimeConfig,
    pub model: ModelConfig,
    pub solver: SolverConfig,
    /// Kernel parameters by registry name (src/model/params.rs).
    pub params: BTreeMap<String, f64>,
    /// Per-field transport, boundary and initial condition, by field name.
    pub fields: BTreeMap<String, FieldConfig>,
    /// The treatment arm: therapy names, looked up in `[therapy.NAME]`
    /// tables of this file, then in `therapies/NAME.toml` beside it, then
    /// in the shipped configs/therapies. Empty: untreated control.
    pub arm: Vec<String>,
    /// A resistance phenotype applied to this scenario (configs/phenotypes).
    pub phenotype: Option<String>,
    /// Therapies defined inline, in the schema of configs/therapies files.
    /// Kept as TOML values here and parsed by the therapy layer, so the
    /// scenario schema does not depend on the therapy schema.
    pub therapy: BTreeMap<String, toml::Value>,
    pub output: OutputConfig,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GridConfig {
    pub nx: i64,
    pub ny: i64,
    pub nz: i64,
    pub dx_um: f64,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            nx: 125,
            ny: 125,
            nz: 1,
            dx_um: 20.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    pub dt_min: f64,
    pub end_days: f64,
    pub save_every_min: f64,
}

impl Default for TimeConfig {
    fn default() -> Self {
        Self {
            dt_min: 7.5,
            end_days: 60.0,
            save_every_min: 1440.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// false turns off every reaction term (solver verification).
    pub reactions: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { reactions: true }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolverConfig {
    pub diffusion: DiffusionSolver,
    pub splitting: Splitting,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldConfig {
    pub diffusion_um2_per_min: Option<f64>,
    pub decay_per_min: Option<f64>,
    pub chemotaxis_um2_per_min: Option<f64>,
    /// `"no_flux"` or `{ dirichlet = value }`; parsed in resolve.rs so the
    /// error can name the field.
    pub boundary: Option<toml::Value>,
    /// One initial-condition table, or a list of them (summed).
    pub initial: Option<toml::Value>,
    /// Upper end of the colour scale of this field's frames.
    pub display_max: Option<f64>,
}

/// One piece of an initial condition.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Initial {
    Uniform {
        value: f64,
    },
    Gaussian {
        center_um: Vec<f64>,
        sigma_um: f64,
        peak: f64,
    },
    /// A disk in 2D, a ball in 3D.
    Disk {
        center_um: Vec<f64>,
        radius_um: f64,
        value: f64,
    },
    /// A float32 or float64 array of shape (nz, ny, nx), C order.
    Npy {
        path: String,
    },
    /// `count` disks of `radius_um` at reproducible pseudo-random centres,
    /// optionally kept between `min_distance_um` and `max_distance_um` of
    /// `center_um` (vessels around a tumour, scattered resident cells).
    Spots {
        count: u32,
        radius_um: f64,
        value: f64,
        #[serde(default)]
        seed: u64,
        #[serde(default)]
        center_um: Option<Vec<f64>>,
        #[serde(default)]
        min_distance_um: Option<f64>,
        #[serde(default)]
        max_distance_um: Option<f64>,
    },
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    pub png: bool,
    pub npy: bool,
    /// Fields written as frames and arrays; empty means every field.
    pub fields: Vec<String>,
    /// A montage of every molecule and cell field per saved time.
    pub montage: bool,
    /// The three fields of the RGB composite (red, green, blue); empty for none.
    pub composite: Vec<String>,
    /// Time-lapse formats written at the end: "gif", "apng".
    pub animations: Vec<Animation>,
    /// Time-lapse frame rate, frames per second.
    pub fps: f64,
    /// z plane shown in 3D frames (default: the middle one).
    pub slice_z: Option<i64>,
    /// VTK ImageData (.vti) per saved time and a .pvd collection.
    pub vtk: bool,
    /// Every field at every save in one OME-Zarr store, fields.ome.zarr.
    pub zarr: bool,
    /// timeseries.png and report.html.
    pub report: bool,
    /// Wall-clock minutes between checkpoints (taken at the first save
    /// after each interval); 0 checkpoints at every save.
    pub checkpoint_every_min: f64,
    /// Mantissa bits each value keeps in fields.ome.zarr (1-23; none:
    /// lossless). Opt-in lossy rounding for smaller stores.
    pub zarr_keep_bits: Option<u32>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            png: true,
            npy: false,
            fields: Vec::new(),
            montage: true,
            composite: vec!["tumor".into(), "cd8".into(), "mdsc".into()],
            // GIF plays everywhere (slides, README); APNG (full colour)
            // is opt-in: both together doubled the size of a run.
            animations: vec![Animation::Gif],
            fps: 6.0,
            slice_z: None,
            vtk: false,
            zarr: true,
            report: true,
            checkpoint_every_min: 10.0,
            zarr_keep_bits: None,
        }
    }
}

/// A time-lapse format of `output.animations`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Animation {
    Gif,
    Apng,
}
