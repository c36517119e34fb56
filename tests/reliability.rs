//! Reliability: run folders that never lose or mix data, checkpoints and
//! resume that reproduce an uninterrupted run bit for bit, signals,
//! non-finite detection, GPU faults as errors, and folders the guard never
//! lets a run, render, cohort or merge damage (docs/reliability.md). The
//! refusals of bad input are in tests/config_errors.rs.

mod common;

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

#[test]
fn a_run_resumed_from_a_checkpoint_between_saves_matches_the_uninterrupted_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT);
    let (whole, parts) = whole_and_interrupted(&spec, dir.path());
    let m = manifest(&parts);
    assert_eq!(m["status"], "interrupted");
    // The first batch ends before the first save (step 288).
    let stopped = m["steps_done"].as_u64().unwrap();
    assert!(stopped > 0 && stopped < 288, "stopped at {stopped}");
    assert!(parts
        .join(format!("checkpoints/step_{stopped:010}.ckpt"))
        .is_file());
    // The state at the interrupt was saved for the user to see.
    assert!(parts.join("frames/tumor_0001.png").is_file());

    // Interrupt again after one more batch, then finish.
    assert!(!run_cpu(&spec, &parts, true, true).unwrap());
    assert_eq!(checkpoint::list(&parts).unwrap().len(), 2);
    assert!(run_cpu(&spec, &parts, false, true).unwrap());
    assert_eq!(manifest(&parts)["status"], "complete");
    assert!(
        !parts.join("checkpoints").exists(),
        "a complete run keeps no checkpoint"
    );
    assert_same_results(&whole, &parts);
    assert_eq!(
        std::fs::read_to_string(whole.join("timeseries.csv"))
            .unwrap()
            .lines()
            .count(),
        1 + 3,
        "rows at days 0, 3 and 6"
    );
}

#[test]
fn a_gpu_run_resumed_from_a_checkpoint_agrees_with_the_uninterrupted_gpu_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT_GPU);
    let Some(mut gpu) = common::gpu(&spec) else {
        return;
    };
    let whole = dir.path().join("whole");
    assert!(run_on(gpu.as_mut(), &spec, &whole, false, false).unwrap());
    let parts = dir.path().join("parts");
    assert!(!run_on(gpu.as_mut(), &spec, &parts, true, false).unwrap());
    assert!(run_on(gpu.as_mut(), &spec, &parts, false, true).unwrap());
    let last = |d: &Path| -> State {
        let mut s = State::zeros(spec.spec.grid);
        for (f, field) in FIELDS.iter().enumerate() {
            let path = d.join(format!("fields/{}_0002.npy", field.name));
            let bytes = std::fs::read(&path).unwrap();
            let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
            s.fields[f] = npy.into_vec::<f32>().unwrap();
        }
        s
    };
    // Bit-exact, as the CPU resume is: the checkpoint holds the exact
    // state, and the GPU runs the same kernels in the same order.
    let (a, b) = (last(&whole), last(&parts));
    for (f, field) in FIELDS.iter().enumerate() {
        let differ = a.fields[f]
            .iter()
            .zip(&b.fields[f])
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(
            differ, 0,
            "resumed GPU run differs in {} voxels of `{}`",
            differ, field.name
        );
    }
}

#[test]
fn auto_falls_back_to_the_cpu_when_the_gpu_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .args([
            "run",
            BASELINE,
            "--quiet",
            "--set",
            "time.end_days=1",
            "--set",
            common::CLI_TEST_DT,
            "--out",
        ])
        .arg(&out)
        .env("WGPU_ADAPTER_NAME", "no-such-adapter")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("running on the CPU reference backend"),
        "{}",
        stderr(&o)
    );
    assert_eq!(manifest(&out)["backend"], "cpu");
}

#[test]
fn a_damaged_checkpoint_is_skipped_for_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT);
    let (whole, parts) = whole_and_interrupted(&spec, dir.path());
    assert!(!run_cpu(&spec, &parts, true, true).unwrap());
    let list = checkpoint::list(&parts).unwrap();
    let (newest, older) = (&list[0], &list[1]);
    let older_step = checkpoint::read(older).unwrap().header.step;
    let mut bytes = std::fs::read(newest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(newest, bytes).unwrap();
    assert!(checkpoint::read(newest).is_err());
    let found = find_checkpoint(&parts, &spec).unwrap().unwrap();
    assert_eq!(found.header.step, older_step);
    assert!(run_cpu(&spec, &parts, false, true).unwrap());
    assert_same_results(&whole, &parts);
}

#[test]
fn a_checkpoint_of_another_scenario_is_refused_saying_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT);
    let out = dir.path().join("run");
    assert!(!run_cpu(&spec, &out, true, false).unwrap());
    let mut other: Vec<&str> = SHORT.to_vec();
    other.push("params.kill_rate_per_day=2");
    let e = find_checkpoint(&out, &baseline_spec(&other))
        .err()
        .expect("refused");
    let e = format!("{e:#}");
    assert!(e.contains("params.kill_rate_per_day: (unset) -> 2"), "{e}");
    let mut grid: Vec<&str> = SHORT.to_vec();
    grid.push("grid.nx=70");
    let e = format!(
        "{:#}",
        find_checkpoint(&out, &baseline_spec(&grid)).err().unwrap()
    );
    assert!(e.contains("grid is [64, 64, 1]"), "{e}");
}

/// The CPU backend, with a NaN written into one voxel of the tumour field
/// once `poison_at` steps have run.
struct Poisoned {
    inner: tmesim::cpu::backend::CpuBackend,
    poison_at: u64,
    state_step: u64,
}

impl Backend for Poisoned {
    fn kind(&self) -> &'static str {
        "cpu"
    }
    fn device_name(&self) -> String {
        "poisoned CPU".into()
    }
    fn memory_bytes(&self) -> u64 {
        self.inner.memory_bytes()
    }
    fn upload(&mut self, state: &State) -> anyhow::Result<()> {
        self.state_step = state.step;
        self.inner.upload(state)
    }
    fn run_steps(&mut self, params: &[tmesim::model::params::ModelParams]) -> anyhow::Result<()> {
        self.inner.run_steps(params)?;
        self.state_step += params.len() as u64;
        if self.state_step >= self.poison_at {
            let mut s = self.inner.download()?;
            s.fields[idx::IFNG][7] = f32::NAN;
            self.inner.upload(&s)?;
        }
        Ok(())
    }
    fn download(&mut self) -> anyhow::Result<State> {
        self.inner.download()
    }
    fn find_bad_value(&mut self) -> anyhow::Result<Option<BadValue>> {
        self.inner.find_bad_value()
    }
}

#[test]
fn a_non_finite_value_stops_the_run_naming_field_voxel_and_step_and_keeps_the_last_good_state() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(&[
        "time.end_days=4",
        "output.checkpoint_every_min=1000",
        "grid.nx=64",
        "grid.ny=64",
        "grid.dx_um=40",
    ]);
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    let mut backend = Poisoned {
        inner: cpu_backend(&spec),
        poison_at: 200,
        state_step: 0,
    };
    let e = run(
        &spec,
        tmesim::config::initial::initial_state(&spec.spec).unwrap(),
        &mut backend,
        &RunOptions {
            out_dir: &out,
            progress: false,
            interrupt: None,
            resume: None,
        },
    )
    .err()
    .expect("the run must stop");
    let e = format!("{e:#}");
    // Found after the first batch that ends past step 200 (the next save
    // is step 288; batches end there at the latest).
    let at: u64 = e
        .split("after step ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step in: {e}"));
    assert!((200..=288).contains(&at), "{e}");
    assert!(
        e.contains("field `ifng`") && e.contains("(x=7, y=0, z=0)"),
        "{e}"
    );
    assert!(e.contains("--resume") && e.contains("from step 192"), "{e}");
    let m = manifest(&out);
    assert_eq!(m["status"], "failed");
    assert!(m["error"].as_str().unwrap().contains("ifng"));
    let c = find_checkpoint(&out, &spec).unwrap().unwrap();
    assert_eq!(c.header.step, 192);
    assert!(c.state.fields.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn the_gpu_value_check_finds_what_the_cpu_scan_finds() {
    let spec = baseline_spec(&["grid.nx=64", "grid.ny=64", "grid.dx_um=40"]);
    let Some(mut gpu) = common::gpu(&spec) else {
        return;
    };
    let mut s = tmesim::config::initial::initial_state(&spec.spec).unwrap();
    gpu.upload(&s).unwrap();
    assert_eq!(gpu.find_bad_value().unwrap(), None);
    s.fields[idx::VEGF][100] = -0.5;
    s.fields[idx::VEGF][40] = f32::INFINITY;
    s.fields[idx::MDSC][3] = f32::NAN;
    gpu.upload(&s).unwrap();
    let bad = gpu.find_bad_value().unwrap().expect("found");
    let cpu = tmesim::backend::scan_values(&s.fields).unwrap();
    assert_eq!(bad, cpu, "GPU found {bad:?}, CPU {cpu:?}");
    assert_eq!(
        bad.count, 2,
        "{} has two bad voxels",
        FIELDS[bad.field].name
    );
}

#[test]
fn a_lost_gpu_device_is_an_error_not_a_panic() {
    let spec = baseline_spec(&["grid.nx=32", "grid.ny=32", "grid.dx_um=80"]);
    let gpu = match tmesim::sim::select::gpu_backend(&spec) {
        Ok(g) => g,
        Err(e) => {
            // common::gpu panics here when the GPU is required.
            assert!(common::gpu(&spec).is_none(), "{e}");
            return;
        }
    };
    let mut gpu = gpu;
    let s = tmesim::config::initial::initial_state(&spec.spec).unwrap();
    gpu.upload(&s).unwrap();
    gpu.lose_device();
    let params = vec![spec.spec.params; 3];
    let r = gpu
        .run_steps(&params)
        .and_then(|()| gpu.download().map(|_| ()));
    let e = format!("{:#}", r.expect_err("an error after the device is lost"));
    assert!(
        e.to_lowercase().contains("device") || e.contains("GPU"),
        "{e}"
    );
}

#[test]
fn tumour_means_are_empty_cells_when_no_voxel_is_tumour() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = short_run(
        &out,
        "time.end_days=1",
        &[
            "--set",
            "fields.tumor.initial=[{ kind = \"uniform\", value = 0.0 }]",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let k = header.iter().position(|h| *h == "cd8_tumor_mean").unwrap();
    for row in lines {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[k], "", "{row}");
        assert!(!row.contains("NaN"), "{row}");
    }
}

// ---- run folders -------------------------------------------------------

#[test]
fn compare_with_a_relative_or_default_out_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let compare = |extra: &[&str]| {
        let mut args = vec![
            "compare",
            BASELINE,
            "--arms",
            "control",
            "--backend",
            "cpu",
            "--quiet",
            "--set",
            "time.end_days=1",
            "--set",
            common::CLI_TEST_DT,
        ];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_tmesim"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = compare(&["--out", "cmp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "report.html",
        "summary.csv",
        "tumor_burden.png",
        "control/report.html",
    ] {
        assert!(dir.path().join("cmp").join(f).is_file(), "missing cmp/{f}");
    }
    let o = compare(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let made: Vec<_> = std::fs::read_dir(dir.path().join("outputs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(made.len(), 1);
    assert!(made[0].path().join("report.html").is_file());
}

#[test]
fn a_run_never_writes_over_its_scenario_file() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let config = proj.join("config.toml");
    let text = std::fs::read_to_string(BASELINE).unwrap();
    std::fs::write(&config, &text).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec![
            "run",
            config.to_str().unwrap(),
            "--out",
            proj.to_str().unwrap(),
            "--set",
            "time.end_days=1",
            "--backend",
            "cpu",
        ];
        args.extend(extra);
        let o = tmesim(&args);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("contains the input file"),
            "{}",
            stderr(&o)
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    }
}

fn short_run(out: &Path, days: &str, extra: &[&str]) -> Output {
    tmesim(&baseline_run_args(out, days, extra))
}

#[test]
fn a_used_run_folder_is_refused_and_force_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert!(short_run(&out, "time.end_days=3", &[]).status.success());
    assert!(out.join("frames/tumor_0003.png").is_file());
    let o = short_run(&out, "time.end_days=1", &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(
        out.join("frames/tumor_0003.png").is_file(),
        "refusal removed nothing"
    );

    let o = short_run(&out, "time.end_days=1", &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("frames/tumor_0002.png").exists());
    assert!(!out.join("frames/tumor_0003.png").exists());
    assert!(out.join("frames/tumor_0001.png").is_file());
    assert_eq!(manifest(&out)["saved"].as_array().unwrap().len(), 2);
    let rows = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert_eq!(rows.lines().count(), 3);
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

#[test]
fn a_second_concurrent_run_into_one_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut first = start_long_run(&out, &[]);
    let o = short_run(&out, "time.end_days=1", &["--force"]);
    let _ = first.kill();
    let _ = first.wait();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another tmesim run"), "{}", stderr(&o));
    // The first run's files are intact: one header and whole rows.
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(csv.lines().count() >= 2 && csv.ends_with('\n'));
}

#[test]
fn sigterm_checkpoints_and_exits_130_and_resume_finishes_the_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // On a 64 x 64 grid: long enough to stop between saves, and a quarter
    // of the baseline's cost.
    let set = [
        "--set",
        "output.checkpoint_every_min=0",
        "--set",
        "output.npy=true",
        "--set",
        "output.vtk=false",
        "--set",
        "grid.nx=64",
        "--set",
        "grid.ny=64",
        "--set",
        "grid.dx_um=40",
    ];
    let whole = dir.path().join("whole");
    let o = short_run(&whole, "time.end_days=12", &set);
    assert!(o.status.success(), "{}", stderr(&o));

    let parts = dir.path().join("parts");
    let mut args = vec!["--set", "time.end_days=12"];
    args.extend(set);
    let mut child = start_long_run(&parts, &args[..]);
    // Let it make at least two saves, then stop it.
    let start = Instant::now();
    while manifest(&parts)["saved"].as_array().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let m = manifest(&parts);
    assert_eq!(m["status"], "interrupted");
    assert!(
        m["steps_done"].as_u64().unwrap() < 1152,
        "stopped before the end"
    );
    assert!(!checkpoint::list(&parts).unwrap().is_empty());

    let o = tmesim(&["status", parts.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("interrupted"));
    let o = tmesim(&[
        "run",
        "--resume",
        parts.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    assert_eq!(manifest(&parts)["status"], "complete");
    assert_same_results(&whole, &parts);
}

#[test]
fn a_double_interrupt_or_a_kill_never_leaves_a_run_that_looks_alive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("twice");
    let mut child = start_long_run(&out, &[]);
    signal(&child, "-INT");
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let status = manifest(&out)["status"].as_str().unwrap().to_string();
    assert!(status == "failed" || status == "interrupted", "{status}");

    let out = dir.path().join("killed");
    let mut child = start_long_run(&out, &[]);
    signal(&child, "-KILL");
    let _ = child.wait();
    assert_eq!(manifest(&out)["status"], "running");
    let o = tmesim(&["status", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.starts_with("dead:") && said.contains("--resume"),
        "{said}"
    );
}

#[test]
fn compare_resume_keeps_finished_arms_and_completes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "compare",
            BASELINE,
            "--arms",
            "control; anti_pd1",
            "--backend",
            "cpu",
            "--quiet",
            "--set",
            "time.end_days=2",
            "--set",
            common::CLI_TEST_DT,
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        tmesim(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    // Pretend the second arm died mid-run.
    let arm2 = out.join("anti_pd1");
    let mut m = manifest(&arm2);
    m["status"] = "running".into();
    std::fs::write(arm2.join("manifest.json"), m.to_string()).unwrap();
    let before = std::fs::metadata(out.join("control/timeseries.csv"))
        .unwrap()
        .modified()
        .unwrap();

    let o = run(&[]);
    assert!(
        !o.status.success(),
        "a used folder needs --resume or --force"
    );
    let o = run(&["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));
    let after = std::fs::metadata(out.join("control/timeseries.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "the finished arm was not run again");
    assert_eq!(manifest(&arm2)["status"], "complete");
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
}

// ---- input holes and messages ---------------------------------------------

// ---- round two: the folder guard (issue 20) ---------------------------------

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

/// Case 1: `cohort merge ... --out / --force` deleted system folders. The
/// guard refuses `/` (unit test `output::guard`), the home folder and the
/// working folder, before anything is read or removed.
#[test]
fn force_never_clears_the_root_home_or_working_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("srv-root");
    write(&cwd.join("records/db.csv"), "id,name\n1,a\n");
    write(&cwd.join("srv/manifest.json"), "{}");
    write(&cwd.join("srv/config.toml"), "# mine");
    write(&cwd.join("srv/app/main.py"), "print()");
    write(&cwd.join("report.html"), "<p>mine</p>");
    let before = snapshot(&cwd);
    let [s1, s2] = shards();
    let o = tmesim_in(
        &cwd,
        &[],
        &[
            "cohort",
            "merge",
            s1.to_str().unwrap(),
            s2.to_str().unwrap(),
            "--out",
            ".",
            "--force",
        ],
    );
    assert_eq!(before, snapshot(&cwd), "merge changed the working folder");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("the working folder"), "{}", stderr(&o));
    let mut args = vec!["run", BASELINE, "--out", ".", "--force"];
    args.extend(TINY);
    let o = tmesim_in(&cwd, &[], &args);
    assert_eq!(before, snapshot(&cwd), "run changed the working folder");
    assert!(stderr(&o).contains("the working folder"), "{}", stderr(&o));
    // The home folder, as $HOME says.
    let mut args = vec!["run", BASELINE, "--out", cwd.to_str().unwrap(), "--force"];
    args.extend(TINY);
    let o = tmesim_in(dir.path(), &[("HOME", &cwd)], &args);
    assert_eq!(before, snapshot(&cwd), "run changed the home folder");
    assert!(stderr(&o).contains("the home folder"), "{}", stderr(&o));
    // A folder above the working folder.
    let o = tmesim_in(
        &cwd.join("srv"),
        &[],
        &[
            "cohort",
            "merge",
            s1.to_str().unwrap(),
            s2.to_str().unwrap(),
            "--out",
            "..",
            "--force",
        ],
    );
    assert!(
        stderr(&o).contains("above the working folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        before,
        snapshot(&cwd),
        "a refused command changed the folder"
    );
}

/// The folder of the case 2: files with tmesim's names, a
/// subfolder with a manifest.json, none of them tmesim's.
fn seeded_user_folder(u: &Path) {
    write(&u.join("config.toml"), "# my config");
    write(&u.join("report.html"), "<p>my report</p>");
    write(&u.join("frames/photo.png"), "my photo");
    write(&u.join("notes.txt"), "my notes");
    write(&u.join("project/manifest.json"), "{\"mine\": true}");
    write(&u.join("project/main.py"), "print('mine')");
}

/// Case 2: `--force` deleted user files named like outputs, then refused.
#[test]
fn force_never_deletes_user_files_with_tmesim_names() {
    let dir = tempfile::tempdir().unwrap();
    let u = dir.path().join("u");
    seeded_user_folder(&u);
    let before = snapshot(&u);
    let o = tiny_run(&u, &["--force"]);
    assert_eq!(before, snapshot(&u), "{}", stderr(&o));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("notes.txt") && e.contains("config.toml") && e.contains("nothing was removed"),
        "{e}"
    );
    assert_eq!(before, snapshot(&u));
    assert!(
        !u.join(".tmesim.lock").exists(),
        "a refusal leaves no lock file"
    );
}

/// Case 3: `--force` followed a symlink out of the folder.
#[test]
fn force_never_follows_a_symlink_out_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("elsewhere/precious");
    let run = dir.path().join("run");
    ok(&tiny_run(&run, &[]));
    // The symlinked folder looks like a run of tmesim's.
    copy_dir(&run, &precious);
    write(&precious.join("records/2025.csv"), "year\n2025\n");
    let outside = snapshot(&precious);
    std::os::unix::fs::symlink(&precious, run.join("webapp")).unwrap();
    let before = snapshot(&run);
    let o = tiny_run(&run, &["--force"]);
    assert_eq!(outside, snapshot(&precious), "{}", stderr(&o));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("webapp (a symlink)"), "{}", stderr(&o));
    assert_eq!(before, snapshot(&run));
}

/// Case 4: `cohort merge s1 s2 --out s1 --force` destroyed shard 1.
#[test]
fn merge_never_writes_into_a_shard() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_copies(dir.path());
    let before = (snapshot(&s[0]), snapshot(&s[1]));
    for out in [s[0].clone(), s[0].join("merged"), dir.path().to_path_buf()] {
        let o = tmesim(&[
            "cohort",
            "merge",
            s[0].to_str().unwrap(),
            s[1].to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(before, (snapshot(&s[0]), snapshot(&s[1])), "{}", stderr(&o));
        assert!(!o.status.success(), "--out {}", out.display());
        assert!(stderr(&o).contains("input"), "{}", stderr(&o));
    }
    // Merged elsewhere, it works.
    let merged = dir.path().join("merged");
    ok(&merge_into(&s, &merged));
    assert!(merged.join("arms.csv").is_file());
}

/// Two private copies of the shared shards.
fn shard_copies(dir: &Path) -> Vec<PathBuf> {
    shards()
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let to = dir.join(format!("s{}", k + 1));
            copy_dir(d, &to);
            to
        })
        .collect()
}

fn merge_into(s: &[PathBuf], out: &Path) -> Output {
    tmesim(&[
        "cohort",
        "merge",
        s[0].to_str().unwrap(),
        s[1].to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Case 5 (second half): a refused rerun of a shard with another
/// `--set` had already rewritten its cohort.toml.
#[test]
fn a_refused_cohort_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_copies(dir.path());
    let before = snapshot(&s[0]);
    let o = tiny_cohort(&s[0], &["--shard", "1/2", "--set", "time.end_days=2"]);
    assert_eq!(
        before,
        snapshot(&s[0]),
        "the refused rerun changed the shard"
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another scenario"), "{}", stderr(&o));
}

/// Case 5: records of another build or scenario were merged silently.
#[test]
fn merge_checks_the_fingerprint_of_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_copies(dir.path());
    // Both shards' cohort.toml say two days (as a refused rerun used to
    // leave one): the records, run for one day, do not match.
    for d in &s {
        let p = d.join("cohort.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("time.end_days=1"), "{text}");
        std::fs::write(&p, text.replace("time.end_days=1", "time.end_days=2")).unwrap();
    }
    let o = merge_into(&s, &dir.path().join("m1"));
    assert!(!o.status.success(), "merged records of another scenario");
    assert!(
        stderr(&o).contains("another tmesim build or scenario"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("m1").exists(), "nothing written");
    for d in &s {
        let p = d.join("cohort.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("time.end_days=2", "time.end_days=1")).unwrap();
    }
    // A record of another build (its run_fingerprint differs).
    let record = s[1].join("records/p000001/anti_pd1.csv");
    let text = std::fs::read_to_string(&record).unwrap();
    let (head, fp) = text.trim_end().rsplit_once(',').unwrap();
    std::fs::write(&record, format!("{head},{}\n", "0".repeat(fp.len()))).unwrap();
    let o = merge_into(&s, &dir.path().join("m2"));
    assert!(!o.status.success(), "merged a record of another build");
    let e = stderr(&o);
    assert!(
        e.contains("p000001/anti_pd1.csv") && e.contains("another tmesim build or scenario"),
        "{e}"
    );
    std::fs::write(&record, text).unwrap();
    ok(&merge_into(&s, &dir.path().join("m3")));
}

/// Case 6: render ran while a run wrote the folder.
#[test]
fn render_waits_for_the_run_writing_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start_long_run(&out, &[]);
    let o = tmesim(&["render", out.to_str().unwrap()]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another tmesim run"), "{}", stderr(&o));
}

/// Case 7: render said "rendered 11 saved times" after drawing nothing.
#[test]
fn render_fails_when_it_draws_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&tiny_run(&out, &[]));
    std::fs::remove_dir_all(out.join("fields.ome.zarr")).unwrap();
    let o = tmesim(&["render", out.to_str().unwrap(), "--fields", "cd8"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("fields.ome.zarr"), "{}", stderr(&o));
}

/// Case 15: APNG time-lapses above 65 fps played slower (the delay's
/// denominator was clamped at 65535). The disk-full messages:
/// `output::atomic` unit test.
#[test]
fn apng_time_lapses_play_at_their_frame_rate_above_65_fps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&tiny_run(&out, &[]));
    ok(&tmesim(&[
        "render",
        out.to_str().unwrap(),
        "--apng",
        "--fps",
        "100",
    ]));
    let apng = std::fs::read(out.join("animations/montage.apng")).unwrap();
    let at = apng.windows(4).position(|w| w == b"fcTL").unwrap() + 4;
    let num = u16::from_be_bytes([apng[at + 20], apng[at + 21]]);
    let den = u16::from_be_bytes([apng[at + 22], apng[at + 23]]);
    assert_eq!(
        num as f64 / den as f64,
        0.01,
        "delay {num}/{den} s at 100 fps"
    );
}

/// Case 8: `status` called a live run dead when its folder was read-only.
#[test]
fn status_of_a_live_run_in_a_read_only_folder_is_never_dead() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start_long_run(&out, &[]);
    let root = unsafe { libc::geteuid() } == 0;
    let o = if root {
        // Root writes through permissions: a read-only bind mount, in a
        // mount namespace of its own.
        let d = out.to_str().unwrap();
        Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                &format!(
                    "mount --bind {d} {d} && mount -o remount,ro,bind {d} && exec {} status {d}",
                    env!("CARGO_BIN_EXE_tmesim")
                ),
            ])
            .output()
            .unwrap()
    } else {
        let mode = |p: &Path, m: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        mode(&out.join(".tmesim.lock"), 0o444);
        mode(&out, 0o555);
        let o = tmesim(&["status", out.to_str().unwrap()]);
        mode(&out, 0o755);
        o
    };
    let _ = child.kill();
    let _ = child.wait();
    if root && !o.status.success() {
        eprintln!("SKIPPED: no read-only bind mount here: {}", stderr(&o));
        return;
    }
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.starts_with("running:"), "{said}{}", stderr(&o));
}

/// Case 9: `cohort --out` into a folder of the user's overwrote patients.csv.
#[test]
fn cohort_refuses_a_folder_that_is_not_an_earlier_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    write(&out.join("patients.csv"), "id\n1\n");
    let before = snapshot(&out);
    let o = tiny_cohort(&out, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not an earlier cohort"),
        "{}",
        stderr(&o)
    );
    assert_eq!(before, snapshot(&out));
    let o = tiny_cohort(&out, &["--force"]);
    assert!(!o.status.success());
    assert_eq!(before, snapshot(&out));
}

/// Case 10: a lock file that is a symlink had its target overwritten.
#[test]
fn a_lock_that_is_a_symlink_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("precious.txt");
    write(&target, "mine");
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&target, out.join(".tmesim.lock")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let o = tiny_run(&out, extra);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");
}

/// Case 11: a long axis made `check` allocate 34 GB and abort.
#[test]
fn check_refuses_an_axis_too_long_for_the_dense_propagator() {
    let o = tmesim(&[
        "check",
        BASELINE,
        "--set",
        "grid.nx=65536",
        "--set",
        "grid.ny=3",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("grid.nx") && e.contains("[1, 4096]"), "{e}");
}

/// Case 12: `tmesim check ... | head -1` panicked on the closed pipe.
#[test]
fn check_survives_a_reader_that_closes_the_pipe() {
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tmesim"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["check", BASELINE])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
}

/// Case 13: a truncated record said "the same command continues".
#[test]
fn a_damaged_cohort_record_is_named_with_its_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    ok(&tiny_cohort(&out, &[]));
    let record = out.join("records/p000001/anti_pd1.csv");
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, &text[..text.len() / 2 + 10]).unwrap();
    let o = tiny_cohort(&out, &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("p000001/anti_pd1.csv") && e.contains("remove that file"),
        "{e}"
    );
    assert!(!e.contains("the same command continues"), "{e}");
    std::fs::remove_file(&record).unwrap();
    let e = ok(&tiny_cohort(&out, &[]));
    assert!(e.contains("1 patient-arm result(s) run now"), "{e}");
}

/// Case 14: a resumed run kept only its last backend.
#[test]
fn a_resumed_run_records_the_backend_of_each_segment() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT_GPU);
    let out = dir.path().join("run");
    assert!(!run_cpu(&spec, &out, true, false).unwrap());
    let first = manifest(&out)["segments"].clone();
    assert_eq!(first.as_array().map(Vec::len), Some(1), "{first}");
    // The second segment on the GPU where there is one.
    let resumed = match common::gpu(&spec) {
        Some(mut gpu) => run_on(gpu.as_mut(), &spec, &out, false, true).unwrap(),
        None => run_cpu(&spec, &out, false, true).unwrap(),
    };
    assert!(resumed);
    let m = manifest(&out);
    let segments = m["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert_eq!(segments[0]["backend"], "cpu");
    assert_eq!(segments[0]["from_step"], 0);
    assert!(segments[0]["to_step"].as_u64().unwrap() > 0);
    assert_eq!(segments[0]["to_step"], segments[1]["from_step"]);
    assert_eq!(segments[1]["to_step"], m["steps_total"]);
    assert_eq!(segments[1]["backend"], m["backend"]);
}

// ---- fuzzing: seeded folders (issue 20) ------------------------------------

/// What a seeded folder starts as.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Base {
    Empty,
    Run,
    Comparison,
    Cohort,
}

/// The writing commands.
#[derive(Clone, Copy, Debug)]
enum Writer {
    Run,
    Compare,
    CompareResume,
    Cohort,
    Merge,
    Render,
}

/// User files, symlinks and names like tmesim's; `owned` lists the bases
/// whose record holds that name (there a command may replace it).
struct Seed {
    path: &'static str,
    link: bool,
    owned: &'static [Base],
}

const SEEDS: &[Seed] = &[
    Seed {
        path: "notes.txt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "config.toml",
        link: false,
        owned: &[Base::Run],
    },
    Seed {
        path: "report.html",
        link: false,
        owned: &[Base::Run, Base::Comparison, Base::Cohort],
    },
    Seed {
        path: "manifest.json",
        link: false,
        owned: &[],
    },
    Seed {
        path: "frames/photo.png",
        link: false,
        owned: &[],
    },
    Seed {
        path: "frames/tumor_01.png",
        link: false,
        owned: &[],
    },
    Seed {
        path: "frames/tumor_0000.png",
        link: false,
        owned: &[Base::Run],
    },
    Seed {
        path: "sub/manifest.json",
        link: false,
        owned: &[],
    },
    Seed {
        path: "records/db.csv",
        link: false,
        owned: &[],
    },
    Seed {
        path: "records/p000000/mine.csv",
        link: false,
        owned: &[],
    },
    Seed {
        path: "checkpoints/keep.ckpt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "fields.ome.zarr/notes.txt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "animations/holiday.gif",
        link: false,
        owned: &[],
    },
    Seed {
        path: "control/notes.txt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "webapp",
        link: true,
        owned: &[],
    },
    Seed {
        path: "frames/link.png",
        link: true,
        owned: &[],
    },
    // An arm folder of the comparison replaced by a symlink.
    Seed {
        path: "anti_pd1",
        link: true,
        owned: &[],
    },
];

/// The folders the seeded cases start from, made once.
struct Bases {
    _dir: tempfile::TempDir,
    run: PathBuf,
    comparison: PathBuf,
    cohort: PathBuf,
}

fn bases() -> &'static Bases {
    static BASES: std::sync::OnceLock<Bases> = std::sync::OnceLock::new();
    BASES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        ok(&tiny_run(&run, &[]));
        let comparison = dir.path().join("comparison");
        ok(&tmesim(&compare_args(&comparison, false)));
        let cohort = dir.path().join("cohort");
        ok(&tiny_cohort(&cohort, &[]));
        Bases {
            _dir: dir,
            run,
            comparison,
            cohort,
        }
    })
}

fn compare_args(out: &Path, force: bool) -> Vec<&str> {
    let mut a = vec![
        "compare",
        BASELINE,
        "--arms",
        "control; anti_pd1",
        "--out",
        out.to_str().unwrap(),
    ];
    a.extend(TINY);
    if force {
        a.push("--force");
    }
    a
}

/// Plant `seeds` (bit k: SEEDS[k]) in `d`; symlinks point to `outside`.
fn plant(d: &Path, seeds: u32, outside: &Path) {
    for (k, s) in SEEDS.iter().enumerate() {
        if seeds & (1 << k) == 0 {
            continue;
        }
        let p = d.join(s.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        }
        if s.link {
            let to = if s.path.ends_with(".png") {
                outside.join("config.toml")
            } else {
                outside.to_path_buf()
            };
            std::os::unix::fs::symlink(to, &p).unwrap();
        } else if s.path.ends_with("manifest.json") && s.path.contains('/') {
            // A valid manifest of tmesim's, in a folder tmesim did not make.
            std::fs::copy(bases().run.join("manifest.json"), &p).unwrap();
        } else {
            std::fs::write(&p, format!("the user's {}", s.path)).unwrap();
        }
    }
}

fn seeded_case(base: Base, writer: Writer, force: bool, seeds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write(&outside.join("config.toml"), "# outside");
    write(&outside.join("records/2025.csv"), "year\n2025\n");
    std::fs::copy(
        bases().run.join("manifest.json"),
        outside.join("manifest.json"),
    )
    .unwrap();
    let d = dir.path().join("d");
    match base {
        Base::Empty => std::fs::create_dir_all(&d).unwrap(),
        Base::Run => copy_dir(&bases().run, &d),
        Base::Comparison => copy_dir(&bases().comparison, &d),
        Base::Cohort => copy_dir(&bases().cohort, &d),
    }
    plant(&d, seeds, &outside);
    let before = snapshot(&d);
    let outside_before = snapshot(&outside);
    let out = d.to_str().unwrap();
    let [s1, s2] = shards();
    let mut args: Vec<&str> = match writer {
        Writer::Run => {
            let mut a = vec!["run", BASELINE, "--out", out];
            a.extend(TINY);
            a
        }
        Writer::Compare => compare_args(&d, false),
        Writer::CompareResume => {
            let mut a = compare_args(&d, false);
            a.push("--resume");
            a
        }
        Writer::Cohort => {
            let mut a = vec!["cohort", SEED_TRIALS, "--out", out];
            a.extend(TINY_COHORT);
            a
        }
        Writer::Merge => vec![
            "cohort",
            "merge",
            s1.to_str().unwrap(),
            s2.to_str().unwrap(),
            "--out",
            out,
        ],
        Writer::Render => vec!["render", out],
    };
    if force && !matches!(writer, Writer::Render | Writer::CompareResume) {
        args.push("--force");
    }
    let o = tmesim(&args);
    if std::env::var_os("TMESIM_FUZZ_LOG").is_some() {
        eprintln!(
            "{base:?} {writer:?} force={force} seeds={seeds:#x}: {}",
            o.status
        );
    }
    let after = snapshot(&d);
    // Every seeded entry outside the base's record, and everything under
    // a seeded folder, is as it was.
    for (k, s) in SEEDS.iter().enumerate() {
        if seeds & (1 << k) == 0 || s.owned.contains(&base) {
            continue;
        }
        let p = Path::new(s.path);
        assert_eq!(
            before.get(p),
            after.get(p),
            "{base:?} {writer:?} force={force}: {} changed; {}",
            s.path,
            stderr(&o)
        );
    }
    assert_eq!(
        outside_before,
        snapshot(&outside),
        "{base:?} {writer:?} force={force}: the folder outside changed; {}",
        stderr(&o)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Every writing command, with and without --force, on folders seeded
    /// with user files, symlinks and tmesim-like names: nothing outside
    /// tmesim's own record of the folder, and nothing outside the folder,
    /// is ever removed or changed.
    #[test]
    fn no_command_removes_or_changes_what_tmesim_did_not_write(
        base in proptest::sample::select(vec![Base::Empty, Base::Run, Base::Comparison, Base::Cohort]),
        writer in proptest::sample::select(vec![Writer::Run, Writer::Compare, Writer::CompareResume, Writer::Cohort, Writer::Merge, Writer::Render]),
        force in proptest::bool::ANY,
        // Few seeds at a time, so that many cases run the command whole
        // (with none, --force replaces the base) rather than refuse.
        picked in proptest::collection::vec(0..SEEDS.len(), 0..3),
    ) {
        let seeds = picked.iter().fold(0u32, |bits, &k| bits | (1 << k));
        seeded_case(base, writer, force, seeds);
    }
}

/// `sim::compare::compare` as a library call: each arm in its folder, one
/// summary row per arm, and a second call with `Existing::Continue` keeps
/// the finished arms without running them again.
#[test]
fn a_comparison_runs_each_arm_into_its_folder_and_resume_keeps_them() {
    use tmesim::sim::compare::{compare, parse_arms};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let arms = parse_arms("control; anti_pd1").unwrap();
    let specs: Vec<ArmSpec> = arms
        .iter()
        .map(|arm| {
            let list: Vec<String> = arm.iter().map(|t| format!("\"{t}\"")).collect();
            let arm_set = format!("arm=[{}]", list.join(","));
            let mut o: Vec<&str> = SHORT_GPU.to_vec();
            o.extend(["time.end_days=1", "output.npy=false", "output.png=false"]);
            o.push(&arm_set);
            baseline_spec(&o)
        })
        .collect();
    let quiet = Launch {
        backend: BackendChoice::Cpu,
        progress: false,
    };
    let done = compare(Path::new(BASELINE), &specs, &out, Existing::Refuse, quiet).unwrap();
    assert!(done.complete());
    let labels: Vec<&str> = done.results.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["control", "anti_pd1"]);
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 3, "{summary}");
    assert!(out.join("tumor_burden.png").is_file());
    let series = out.join("anti_pd1/timeseries.csv");
    let before = std::fs::metadata(&series).unwrap().modified().unwrap();
    // A used folder is refused without resume or force.
    assert!(compare(Path::new(BASELINE), &specs, &out, Existing::Refuse, quiet).is_err());
    let again = compare(Path::new(BASELINE), &specs, &out, Existing::Continue, quiet).unwrap();
    assert!(again.complete());
    assert_eq!(again.results[1].1.len(), done.results[1].1.len());
    let after = std::fs::metadata(&series).unwrap().modified().unwrap();
    assert_eq!(before, after, "a finished arm is kept, not run again");
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
}
