//! Reliability: run folders that never lose or mix data, checkpoints and
//! resume that reproduce an uninterrupted run bit for bit, signals,
//! non-finite detection, GPU faults as errors, and folders the guard never
//! lets a run, render, cohort or merge damage (docs/reliability.md). The
//! refusals of bad input are in tests/config_errors.rs.
//!
//! One test binary, one file per subject: `resume` (checkpoints, resume,
//! non-finite values, GPU faults), `folders` (run folders, signals,
//! comparisons), `guard` (the cases of the folder guard) and `fuzz`
//! (seeded folders against every writing command). This file holds what
//! they share.

#[path = "../common/mod.rs"]
mod common;

mod folders;
mod fuzz;
mod guard;
mod resume;

use common::{baseline_run_args, tmesim};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tmesim::backend::{Backend, BadValue};
use tmesim::model::fields::{idx, FIELDS};
use tmesim::model::state::State;
use tmesim::output::guard::Existing;
use tmesim::sim::checkpoint;
use tmesim::sim::launch::{run_on_backend, Launch};
use tmesim::sim::run::{find_checkpoint, run, RunOptions};
use tmesim::sim::scenario::ArmSpec;
use tmesim::sim::select::{cpu_backend, BackendChoice};

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/baseline.toml");

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Every file under `dir` (relative paths), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The results two runs must share bit for bit: time series, frames,
/// arrays, the OME-Zarr store and time-lapses (not the manifest, which
/// records wall times).
fn assert_same_results(a: &Path, b: &Path) {
    let results = |d: &Path| -> Vec<PathBuf> {
        files(d)
            .into_iter()
            .filter(|p| {
                let s = p.to_string_lossy();
                s == "timeseries.csv"
                    || s.starts_with("frames/")
                    || s.starts_with("fields/")
                    || s.starts_with("animations/")
                    || s.starts_with("fields.ome.zarr/")
            })
            .collect()
    };
    let (fa, fb) = (results(a), results(b));
    assert_eq!(fa, fb, "the runs wrote different files");
    assert!(fa.len() > 5, "too few files compared: {fa:?}");
    for f in &fa {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{} differs between {} and {}",
            f.display(),
            a.display(),
            b.display()
        );
    }
}

fn baseline_spec(overrides: &[&str]) -> ArmSpec {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    tmesim::sim::scenario::load(Path::new(BASELINE), &o).unwrap()
}

/// A short baseline whose saves (every 3 days, 288 steps of 15 min) do not
/// fall on the loop's batches (256 steps), so an interrupt lands between
/// saves. (The step is pinned: these tests are about files and resumes.)
const SHORT: &[&str] = &[
    "time.dt_min=15",
    "time.end_days=6",
    "time.save_every_min=4320",
    "output.npy=true",
    "output.vtk=false",
    "output.checkpoint_every_min=0",
    "grid.nx=64",
    "grid.ny=64",
    "grid.dx_um=40",
];

/// As `SHORT`, for the tests that run on the GPU: 3 days (288 steps, past
/// the first batch of 256) with saves every 1.5 days (144 steps, so the
/// first batch ends between saves), on 80 um voxels. Lavapipe, the GPU of
/// CI, pays for the dense transport passes: this costs seconds where
/// `SHORT` costs minutes.
const SHORT_GPU: &[&str] = &[
    "time.dt_min=15",
    "time.end_days=3",
    "time.save_every_min=2160",
    "output.npy=true",
    "output.vtk=false",
    "output.checkpoint_every_min=0",
    "grid.nx=32",
    "grid.ny=32",
    "grid.dx_um=80",
];

/// Run `spec` on the CPU into `out` (as `tmesim run` does), optionally
/// resuming from its newest checkpoint, stopping after the first batch
/// when `stop` is set.
fn run_cpu(spec: &ArmSpec, out: &Path, stop: bool, resume: bool) -> anyhow::Result<bool> {
    run_on(&mut cpu_backend(spec), spec, out, stop, resume)
}

fn run_on(
    backend: &mut dyn Backend,
    spec: &ArmSpec,
    out: &Path,
    stop: bool,
    resume: bool,
) -> anyhow::Result<bool> {
    let flag = AtomicBool::new(stop);
    let existing = if resume {
        Existing::Continue
    } else {
        Existing::Refuse
    };
    let report = run_on_backend(spec, out, backend, false, &flag, existing, resume)?;
    Ok(report.completed)
}

/// `spec` run whole on the CPU into `dir/whole`, and into `dir/parts`
/// stopped after its first batch.
fn whole_and_interrupted(spec: &ArmSpec, dir: &Path) -> (PathBuf, PathBuf) {
    let whole = dir.join("whole");
    assert!(run_cpu(spec, &whole, false, false).unwrap());
    let parts = dir.join("parts");
    assert!(!run_cpu(spec, &parts, true, false).unwrap());
    (whole, parts)
}

fn short_run(out: &Path, days: &str, extra: &[&str]) -> Output {
    tmesim(&baseline_run_args(out, days, extra))
}

/// Start a long CPU run into `out` and wait until it has written its manifest.
fn start_long_run(out: &Path, extra: &[&str]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(baseline_run_args(out, "time.end_days=200", extra))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.join("manifest.json").is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "run did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

// ---- shared by the folder guard and its fuzzing ----------------------------

/// A run of a few tenths of a second: 12 x 12 voxels of 250 um, one day.
const TINY: &[&str] = &[
    "--set",
    "grid.nx=12",
    "--set",
    "grid.ny=12",
    "--set",
    "grid.dx_um=250",
    "--set",
    "time.end_days=1",
    "--backend",
    "cpu",
    "--quiet",
];

/// A tiny cohort: two patients, one arm, one day on a coarse grid.
const TINY_COHORT: &[&str] = &[
    "--set",
    "cohort.patients=2",
    "--set",
    "cohort.arms=[\"anti_pd1\"]",
    "--set",
    "cohort.grid_dx_um=250.0",
    "--set",
    "time.end_days=1",
    "--backend",
    "cpu",
    "--quiet",
];

const SEED_TRIALS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/configs/cohorts/seed_trials.toml"
);

/// `tmesim` with `args` (and TINY) run in `cwd`, with `env` set.
fn tmesim_in(cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tmesim"));
    c.current_dir(cwd).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn tiny_run(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", BASELINE, "--out", out.to_str().unwrap()];
    args.extend(TINY);
    args.extend(extra);
    tmesim(&args)
}

fn tiny_cohort(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["cohort", SEED_TRIALS, "--out", out.to_str().unwrap()];
    args.extend(TINY_COHORT);
    args.extend(extra);
    tmesim(&args)
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "tmesim failed: {}", stderr(o));
    stderr(o)
}

/// Every entry under `dir`, not following symlinks: files with their
/// bytes, symlinks with their targets, folders as such; but the lock.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    fn walk(root: &Path, d: &Path, out: &mut std::collections::BTreeMap<PathBuf, String>) {
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let t = e.file_type().unwrap();
            if e.file_name() == ".tmesim.lock" {
                continue;
            }
            if t.is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if t.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(
                    rel,
                    format!("{:x?}", &bytes[..bytes.len().min(64)])
                        + &bytes.len().to_string()
                        + &format!("{:016x}", fnv(&bytes)),
                );
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Two shards of the tiny cohort, made once for every test that needs them.
fn shards() -> &'static [PathBuf; 2] {
    static SHARDS: std::sync::OnceLock<(tempfile::TempDir, [PathBuf; 2])> =
        std::sync::OnceLock::new();
    &SHARDS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let s = [dir.path().join("s1"), dir.path().join("s2")];
            for (k, d) in s.iter().enumerate() {
                ok(&tiny_cohort(d, &["--shard", &format!("{}/2", k + 1)]));
            }
            (dir, s)
        })
        .1
}

/// A copy of a folder (files and folders only).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().filter_map(|e| e.ok()) {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if t.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
