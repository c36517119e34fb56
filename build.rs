//! Hashes the sources that compute a run (src/ and shaders/) into
//! `TMESIM_SOURCE_HASH`, so that a run's fingerprint changes with the code:
//! a resumed run or a rerun cohort never mixes results of two builds.

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

fn main() {
    let mut files = Vec::new();
    for dir in ["src", "shaders"] {
        println!("cargo:rerun-if-changed={dir}");
        files_under(Path::new(dir), &mut files);
    }
    files.sort();
    // FNV-1a over each path and its bytes.
    let mut h: u64 = 0xcbf29ce484222325;
    for path in &files {
        let name = path.to_string_lossy().replace('\\', "/");
        let bytes = fs::read(path).unwrap_or_default();
        for b in name.bytes().chain(bytes) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    println!("cargo:rustc-env=TMESIM_SOURCE_HASH={h:016x}");
}
