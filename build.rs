//! Hashes the sources that compute a run (src/ and shaders/) into
//! `TMESIM_SOURCE_HASH`, so that a run's fingerprint changes with the code:
//! a resumed run or a rerun cohort never mixes results of two builds; and
//! the part of them that computes a simulated region into
//! `TMESIM_REGION_HASH` (`REGION_CODE`).

use std::fs;
use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The code that computes a simulated region (its fields at every step and
/// the summaries a cohort keeps of them): a cohort reads a region again
/// from another cohort's records (`tmesim cohort --regions`) only when this
/// code is the same, so a change of the readout, the reports or the command
/// line keeps the regions, and a change of the model does not.
const REGION_CODE: &[&str] = &[
    "shaders",
    "src/backend",
    "src/config",
    "src/cpu",
    "src/gpu",
    "src/model",
    "src/sim",
    "src/therapy",
    "src/cohort/patient.rs",
    "src/output/timeseries.rs",
];

/// FNV-1a over each path and its bytes.
fn hash(files: &[PathBuf]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for path in files {
        let name = path.to_string_lossy().replace('\\', "/");
        let bytes = fs::read(path).unwrap_or_default();
        for b in name.bytes().chain(bytes) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

fn main() {
    let mut files = Vec::new();
    for dir in ["src", "shaders"] {
        println!("cargo:rerun-if-changed={dir}");
        files_under(Path::new(dir), &mut files);
    }
    files.sort();
    println!("cargo:rustc-env=TMESIM_SOURCE_HASH={:016x}", hash(&files));
    // The crates the model's code calls (libm, matrixmultiply, ...) shape
    // its values too.
    println!("cargo:rerun-if-changed=Cargo.lock");
    let mut region: Vec<PathBuf> = vec![PathBuf::from("Cargo.lock")];
    region.extend(
        files
            .iter()
            .filter(|f| {
                let name = f.to_string_lossy().replace('\\', "/");
                REGION_CODE
                    .iter()
                    .any(|r| name == *r || name.starts_with(&format!("{r}/")))
            })
            .cloned(),
    );
    println!("cargo:rustc-env=TMESIM_REGION_HASH={:016x}", hash(&region));
}
