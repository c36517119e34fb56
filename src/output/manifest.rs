//! manifest.json: what ran, on what, with which resolved config, and a
//! layout index of every file (field names, units, shapes, dx, times, file
//! patterns), so numpy and ParaView users need no guesswork. `tmesim
//! render` reads it back.

use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub tmesim_version: String,
    /// "running", "complete", "interrupted" (stopped by a signal; resumable)
    /// or "failed" (see `error`). A "running" manifest whose folder lock is
    /// free (`tmesim status`) belongs to a run that died.
    pub status: String,
    /// Process id of the run that writes the folder.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Local time the run last wrote the manifest (at least once a minute
    /// while it runs), RFC 3339.
    #[serde(default)]
    pub heartbeat: Option<String>,
    /// Why a failed run stopped.
    #[serde(default)]
    pub error: Option<String>,
    /// The newest checkpoint, relative to the run folder.
    #[serde(default)]
    pub checkpoint: Option<String>,
    pub config_file: String,
    /// Fingerprint of the resolved scenario (`sim::checkpoint::fingerprint`):
    /// equal for two runs of the same scenario.
    #[serde(default)]
    pub config_hash: String,
    /// The scenario file as an absolute path, for `--resume` from elsewhere.
    #[serde(default)]
    pub config_file_absolute: Option<String>,
    /// Where the run ran: the backend of its last segment (see `segments`).
    pub backend: String,
    pub adapter: String,
    /// Each stretch of steps and the backend that computed it: one for a
    /// run that was never resumed, one more for each resume (a run
    /// interrupted on the CPU and resumed on the GPU lists both).
    #[serde(default)]
    pub segments: Vec<Segment>,
    pub grid: GridInfo,
    pub dt_min: f32,
    pub steps_done: u64,
    pub steps_total: u64,
    pub transport: String,
    pub wall_time_s: f64,
    pub saved: Vec<SavedTime>,
    pub fields: Vec<FieldInfo>,
    pub output: OutputInfo,
    pub layout: LayoutInfo,
    /// Every kernel parameter as used (defaults plus config).
    pub params: serde_json::Map<String, serde_json::Value>,
    pub config: crate::config::schema::Config,
}

/// Steps `from_step..to_step` of a run, computed on `backend` (`adapter`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub backend: String,
    pub adapter: String,
    pub from_step: u64,
    pub to_step: u64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct GridInfo {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
    pub dx_um: f32,
    /// Shape of every .npy file, (nz, ny, nx), C order.
    pub npy_shape: [usize; 3],
    /// Voxel (i, j, k) spans [origin + spacing * (i, j, k), + spacing).
    pub origin_um: [f32; 3],
    pub spacing_um: [f32; 3],
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTime {
    pub index: usize,
    pub step: u64,
    pub time_days: f64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct FieldInfo {
    pub name: String,
    pub kind: String,
    pub unit: String,
    pub description: String,
    /// The fixed colour scale of the frames: [display_min, display_max].
    pub display_min: f32,
    pub display_max: f32,
    pub colormap: String,
    /// Name of the field's array in the .vti files.
    pub vtk_array: String,
    /// Pattern of the frame files, `{index}` being the 4-digit save index.
    pub png: Option<String>,
    pub npy: Option<String>,
}

/// Output settings as resolved, so `tmesim render` redraws the same images.
#[derive(Clone, Serialize, Deserialize)]
pub struct OutputInfo {
    /// z plane shown in 3D frames.
    pub slice_z: usize,
    /// Fields in the montage.
    pub montage: Vec<String>,
    /// Fields of the RGB composite (red, green, blue).
    pub composite: Vec<String>,
    pub fps: f32,
    pub gif: bool,
    pub apng: bool,
    pub vtk: bool,
    pub report: bool,
    /// Saves with a frame per field: "final" (the default run: montage and
    /// composite at every save, single fields at the last) or "every".
    #[serde(default = "every")]
    pub field_frames: String,
}

fn every() -> String {
    FIELD_FRAMES_EVERY.into()
}

/// `OutputInfo::field_frames` values.
pub const FIELD_FRAMES_FINAL: &str = "final";
pub const FIELD_FRAMES_EVERY: &str = "every";

/// File patterns; `{index}` is the save index (4 digits), `{name}` a field
/// name, "montage" or "composite".
#[derive(Clone, Serialize, Deserialize)]
pub struct LayoutInfo {
    pub index_digits: usize,
    pub config: String,
    pub timeseries_csv: String,
    pub timeseries_png: Option<String>,
    pub report: Option<String>,
    pub frame: Option<String>,
    pub npy: Option<String>,
    pub vti: Option<String>,
    pub pvd: Option<String>,
    /// The OME-Zarr store of every field at every save.
    #[serde(default)]
    pub zarr: Option<String>,
    pub animation_gif: Option<String>,
    pub animation_apng: Option<String>,
}

impl Manifest {
    /// The manifest of the run folder `dir`.
    pub fn read(dir: &std::path::Path) -> anyhow::Result<Manifest> {
        use anyhow::Context;
        let path = dir.join(super::layout::MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a run folder: cannot read {}",
                dir.display(),
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a tmesim manifest", path.display()))
    }
}
