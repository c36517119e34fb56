//! manifest.json: what ran, on what, with which resolved config, and where
//! each saved field is (so numpy users need no guesswork).

use serde::Serialize;

#[derive(Serialize)]
pub struct Manifest {
    pub tmesim_version: &'static str,
    /// "running", "complete" or "interrupted".
    pub status: String,
    pub config_file: String,
    pub backend: String,
    pub adapter: String,
    pub grid: GridInfo,
    pub dt_min: f32,
    pub steps_done: u64,
    pub steps_total: u64,
    pub transport: String,
    pub wall_time_s: f64,
    pub saved: Vec<SavedTime>,
    pub fields: Vec<FieldInfo>,
    /// Every kernel parameter as used (defaults plus config).
    pub params: serde_json::Map<String, serde_json::Value>,
    pub config: crate::config::schema::Config,
}

#[derive(Serialize)]
pub struct GridInfo {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
    pub dx_um: f32,
    /// Shape of every .npy file, (nz, ny, nx), C order.
    pub npy_shape: [usize; 3],
}

#[derive(Serialize)]
pub struct SavedTime {
    pub index: usize,
    pub step: u64,
    pub time_days: f64,
}

#[derive(Serialize)]
pub struct FieldInfo {
    pub name: &'static str,
    pub kind: &'static str,
    pub unit: &'static str,
    pub display_max: f32,
    /// Pattern of the frame files, `{index}` being the 4-digit save index.
    pub png: Option<String>,
    pub npy: Option<String>,
}
