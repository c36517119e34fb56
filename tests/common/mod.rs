//! Shared test harness: scenarios from TOML text, and each behavioural test
//! written once and run on every backend (CPU always; GPU when an adapter
//! exists, and required when `CI` or `TMESIM_REQUIRE_GPU` is set).
#![allow(dead_code)]

pub mod browser;

use std::path::Path;
use tmesim::backend::Backend;
use tmesim::config::initial::initial_state;
use tmesim::config::load::parse_config;
use tmesim::model::state::State;
use tmesim::sim::scenario::{resolve, ArmSpec};
use tmesim::sim::select::{cpu_backend, gpu_backend};

/// A validated scenario from TOML text.
pub fn spec(toml: &str) -> ArmSpec {
    spec_with(toml, &[])
}

pub fn spec_with(toml: &str, overrides: &[&str]) -> ArmSpec {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let config =
        parse_config(toml, Path::new("test.toml"), &overrides).unwrap_or_else(|e| panic!("{e}"));
    resolve(config, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

pub fn initial(spec: &ArmSpec) -> State {
    initial_state(&spec.spec).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether a test must not skip for want of a tool: where `CI` or the
/// tool's own variable (`TMESIM_REQUIRE_GPU`, ...) is set.
pub fn required(var: &str) -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set(var)
}

/// Whether `python3` imports every module of `modules`; false (reported as
/// skipped) where it does not and `CI` or `TMESIM_REQUIRE_PYTHON` is unset,
/// a failed test where either is set.
pub fn python_with(modules: &[&str]) -> bool {
    let code = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new("python3")
        .args(["-c", &code])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || !required("TMESIM_REQUIRE_PYTHON"),
        "python3 with {modules:?} is required (CI or TMESIM_REQUIRE_PYTHON): pip install scikit-learn scipy"
    );
    if !ok {
        eprintln!("skipped: python3 lacks one of {modules:?}");
    }
    ok
}

fn gpu_required() -> bool {
    required("TMESIM_REQUIRE_GPU")
}

/// The GPU backend for `spec`, or `None` (reported as skipped) when no
/// adapter exists and the GPU is not required.
pub fn gpu(spec: &ArmSpec) -> Option<Box<dyn Backend>> {
    // A private XDG_RUNTIME_DIR, so Mesa's window-system probe stays quiet.
    tmesim::gpu::runtime_dir::ensure();
    match gpu_backend(spec) {
        Ok(b) => Some(Box::new(b)),
        Err(e) if gpu_required() => {
            panic!("GPU backend required (CI / TMESIM_REQUIRE_GPU) but unavailable: {e}")
        }
        Err(e) => {
            // tests/gpu_status.rs reports this in the summary of every run.
            eprintln!("SKIPPED: GPU part of this test ({e})");
            None
        }
    }
}

/// Every backend available for `spec`: the CPU reference first.
pub fn backends(spec: &ArmSpec) -> Vec<Box<dyn Backend>> {
    let mut all: Vec<Box<dyn Backend>> = vec![Box::new(cpu_backend(spec))];
    all.extend(gpu(spec));
    all
}

/// Run `steps` macro steps from `state` with the scenario's parameters.
pub fn advance(backend: &mut dyn Backend, spec: &ArmSpec, state: &State, steps: u64) -> State {
    backend.upload(state).expect("upload");
    let params: Vec<_> = (state.step..state.step + steps)
        .map(|s| spec.treatment.params_at(&spec.spec.params, s))
        .collect();
    backend.run_steps(&params).expect("steps");
    backend.download().expect("download")
}

/// Run the scenario to its end from its initial state.
pub fn run_to_end(backend: &mut dyn Backend, spec: &ArmSpec) -> State {
    advance(backend, spec, &initial(spec), spec.spec.steps)
}

/// A float32 .npy file: its shape and values.
pub fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

pub fn total(field: &[f32]) -> f64 {
    field.iter().map(|&v| v as f64).sum()
}

/// Every file under `dir` (relative to the repository root) whose name
/// ends in `.ext`, found recursively: the sources the structural tests
/// (tests/layers.rs, tests/twins.rs) read.
pub fn repo_files(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        ext,
        &mut out,
    );
    out
}

/// Run the `tmesim` binary from the repository root.
pub fn tmesim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// The step of the command-line runs below: 15 min, twice the shipped
/// 7.5, because these tests are about files, resumes and refusals, not the
/// step (tests/convergence.rs judges the shipped one), and CI has a time
/// limit. An `extra` time.dt_min comes later and wins.
pub const CLI_TEST_DT: &str = "time.dt_min=15";

/// Arguments of `tmesim run configs/baseline.toml` on the CPU, quiet, into
/// `out` for `days` (`time.end_days=N`) at [`CLI_TEST_DT`], then `extra`.
pub fn baseline_run_args<'a>(out: &'a Path, days: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "configs/baseline.toml",
        "--backend",
        "cpu",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--set",
        CLI_TEST_DT,
        "--set",
        days,
    ];
    args.extend(extra);
    args
}

/// `tmesim run configs/baseline.toml` on the CPU for two days into `out`,
/// with every output, the opt-in .npy arrays and VTK files included, plus
/// `extra` arguments.
pub fn run_short_baseline(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = baseline_run_args(out, "time.end_days=2", &[]);
    args.extend([
        "--set",
        "output.npy=true",
        "--set",
        "output.vtk=true",
        "--set",
        "output.animations=[\"gif\", \"apng\"]",
    ]);
    args.extend(extra);
    tmesim(&args)
}
