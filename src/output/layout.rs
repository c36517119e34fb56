//! Where each output lives inside a run folder: the one place for file
//! names (docs/outputs.md describes them; manifest.json lists the patterns).

/// Save indices are zero-padded to this many digits.
pub const INDEX_DIGITS: usize = 4;

pub const MANIFEST: &str = "manifest.json";
pub const CONFIG: &str = "config.toml";
pub const TIMESERIES_CSV: &str = "timeseries.csv";
pub const TIMESERIES_PNG: &str = "timeseries.png";
pub const REPORT: &str = "report.html";
pub const PVD: &str = "run.pvd";
/// Every field at every save: OME-Zarr (src/output/zarr.rs).
pub const ZARR: &str = "fields.ome.zarr";
pub const FRAMES_DIR: &str = "frames";
pub const FIELDS_DIR: &str = "fields";
pub const VTK_DIR: &str = "vtk";
pub const ANIMATIONS_DIR: &str = "animations";
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// A comparison's table and plot, beside one run folder per arm.
pub const SUMMARY_CSV: &str = "summary.csv";
pub const BURDEN_PNG: &str = "tumor_burden.png";
/// A comparison's record: its arm folders (src/output/guard.rs).
pub const COMPARISON_JSON: &str = "comparison.json";
// A cohort folder (`tmesim cohort`, docs/cohorts.md).
pub const COHORT_TOML: &str = "cohort.toml";
pub const COHORT_JSON: &str = "cohort.json";
pub const RECORDS_DIR: &str = "records";
// A sweep (`tmesim sweep`, `tmesim sensitivity`).
pub const SWEEP_JSON: &str = "sweep.json";
pub const SWEEP_CSV: &str = "sweep.csv";
pub const SOBOL_CSV: &str = "sobol.csv";
pub const MORRIS_CSV: &str = "morris.csv";
pub const POINTS_DIR: &str = "points";
pub const PATIENTS_CSV: &str = "patients.csv";
pub const ARMS_CSV: &str = "arms.csv";
pub const COURSE_CSV: &str = "response_course.csv";
pub const TRIAL_CSV: &str = "trial.csv";
pub const TRIAL_PNG: &str = "trial.png";
pub const PFS_PNG: &str = "pfs.png";
pub const WATERFALL_PNG: &str = "waterfall.png";
pub const MECHANISM_CSV: &str = "mechanism_map.csv";
pub const MECHANISM_PNG: &str = "mechanism_map.png";

/// Names of the two multi-field images, used like field names in frames/
/// and animations/.
pub const MONTAGE: &str = "montage";
pub const COMPOSITE: &str = "composite";

/// The placeholder the manifest's patterns use for the save index.
pub const INDEX_PLACEHOLDER: &str = "{index}";

pub fn frame(name: &str, index: usize) -> String {
    format!("{FRAMES_DIR}/{name}_{index:04}.png")
}

pub fn npy(name: &str, index: usize) -> String {
    format!("{FIELDS_DIR}/{name}_{index:04}.npy")
}

pub fn vti(index: usize) -> String {
    format!("{VTK_DIR}/state_{index:04}.vti")
}

pub fn animation(name: &str, extension: &str) -> String {
    format!("{ANIMATIONS_DIR}/{name}.{extension}")
}

/// A per-index path with the index replaced by the placeholder.
pub fn pattern(path_at_zero: String) -> String {
    path_at_zero.replace("0000", INDEX_PLACEHOLDER)
}

/// A checkpoint's file name: the step, zero-padded so names sort by step.
pub fn checkpoint(step: u64) -> String {
    format!("{CHECKPOINTS_DIR}/step_{step:010}.ckpt")
}

/// The save index of a per-save file name (`tumor_0012.png` -> 12).
pub fn save_index(file_name: &str) -> Option<usize> {
    let stem = file_name.rsplit_once('.')?.0;
    let digits = stem.rsplit_once('_')?.1;
    (digits.len() == INDEX_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}
