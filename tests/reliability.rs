//! Reliability: run folders that never lose or mix data, checkpoints and
//! resume that reproduce an uninterrupted run bit for bit, signals,
//! non-finite detection, GPU faults as errors, and the input holes and
//! messages found by abusing the command line (docs/reliability.md).

mod common;

use common::{baseline_run_args, tmesim};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tmesim::backend::{Backend, BadValue};
use tmesim::model::fields::{idx, FIELDS};
use tmesim::model::state::State;
use tmesim::sim::checkpoint;
use tmesim::sim::run::{find_checkpoint, run, RunOptions};
use tmesim::sim::scenario::ArmSpec;
use tmesim::sim::select::cpu_backend;

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

/// A short baseline whose saves (every 5 days, 480 steps) do not fall on
/// the loop's batches (256 steps), so an interrupt lands between saves.
const SHORT: &[&str] = &[
    "time.end_days=10",
    "time.save_every_min=7200",
    "output.npy=true",
    "output.vtk=false",
    "output.checkpoint_every_min=0",
    "grid.nx=64",
    "grid.ny=64",
    "grid.dx_um=40",
];

/// Run `spec` on the CPU into `out` (already prepared), optionally
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
    std::fs::create_dir_all(out).unwrap();
    let flag = AtomicBool::new(stop);
    let checkpoint = if resume {
        find_checkpoint(out, spec)?
    } else {
        None
    };
    let initial = tmesim::config::initial::initial_state(&spec.spec).unwrap();
    let report = run(
        spec,
        initial,
        backend,
        &RunOptions {
            out_dir: out,
            progress: false,
            interrupt: Some(&flag),
            resume: checkpoint,
        },
    )?;
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
    // The first batch ends before the first save (step 480).
    let stopped = m["steps_done"].as_u64().unwrap();
    assert!(stopped > 0 && stopped < 480, "stopped at {stopped}");
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
        "rows at days 0, 5 and 10"
    );
}

#[test]
fn a_gpu_run_resumed_from_a_checkpoint_agrees_with_the_uninterrupted_gpu_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT);
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
    let tol = tmesim::sim::agreement::Tolerance {
        rtol: 1e-3,
        atol: 1e-6,
        scaled: 1e-4,
    };
    if let Err(m) = tmesim::sim::agreement::compare_states(&last(&whole), &last(&parts), tol) {
        panic!("resumed GPU run differs: {m}");
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
    let set = [
        "--set",
        "output.checkpoint_every_min=0",
        "--set",
        "output.npy=true",
        "--set",
        "output.vtk=false",
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

/// `tmesim check` of a scenario with the therapy `text` in its therapies/.
fn check_with_therapy(text: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("therapies")).unwrap();
    std::fs::write(dir.path().join("therapies/mine.toml"), text).unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::copy(BASELINE, &scenario).unwrap();
    let mut args = vec!["check", scenario.to_str().unwrap(), "--arm", "mine"];
    args.extend(extra);
    let o = tmesim(&args);
    assert!(!o.status.success(), "accepted: {text}");
    stderr(&o)
}

const DRUG_TAIL: &str = "[response]\nec50_mg_per_l = 1.0\n[[effect]]\nparam = \"pd1_occupancy\"\nop = \"set\"\nvalue = 0.5\n";

#[test]
fn a_therapy_without_a_dose_is_refused() {
    let e = check_with_therapy(
        &format!(
            "agent = \"x\"\n[schedule]\ninterval_days = 21\n[pk]\nhalf_life_days = 20\n{DRUG_TAIL}"
        ),
        &[],
    );
    assert!(e.contains("mine.toml") && e.contains("dose_mg"), "{e}");
}

#[test]
fn two_compartment_keys_without_two_compartments_are_refused() {
    let e = check_with_therapy(
        &format!(
            "agent = \"x\"\n[schedule]\ndose_mg = 200\n[pk]\nclearance_l_per_day = 0.2\n\
             peripheral_volume_l = 3\nintercompartmental_l_per_day = 0.5\n{DRUG_TAIL}"
        ),
        &[],
    );
    assert!(
        e.contains("pk.peripheral_volume_l") && e.contains("compartments = 2"),
        "{e}"
    );
}

#[test]
fn a_radiotherapy_without_field_or_lq_parameters_is_refused() {
    let e = check_with_therapy(
        "[radiation]\ndose_gy = 2\nfraction_days = [1]\nalpha_per_gy = { tumor = 0.3 }\n",
        &[],
    );
    assert!(e.contains("mine.toml") && e.contains("field"), "{e}");
    let e = check_with_therapy(
        "[radiation]\ndose_gy = 2\nfraction_days = [1]\nfield = { shape = \"whole\" }\n",
        &[],
    );
    assert!(
        e.contains("radiation.alpha_per_gy") && e.contains("kill nothing"),
        "{e}"
    );
}

fn check(args: &[&str]) -> String {
    let mut all = vec!["check", "configs/baseline.toml"];
    all.extend(args);
    let o = tmesim(&all);
    assert!(!o.status.success(), "accepted: {args:?}");
    stderr(&o)
}

#[test]
fn an_empty_arm_and_a_multi_line_set_value_are_refused() {
    assert!(check(&["--arm", ""]).contains("--arm is empty"));
    let e = check(&["--set", "time.end_days=3\ngrid.nx=10"]);
    assert!(
        e.contains("spans several lines") && e.contains("time.end_days"),
        "{e}"
    );
}

#[test]
fn a_tumour_outside_the_grid_is_refused() {
    let e = check(&["--set", "grid.nx=40"]);
    assert!(
        e.contains("fields.tumor.initial[0]") && e.contains("outside the grid"),
        "{e}"
    );
}

#[test]
fn render_refuses_a_frame_rate_outside_the_config_range() {
    let o = tmesim(&["render", "/nonexistent", "--fps", "0.0001"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("[0.1, 100]"), "{}", stderr(&o));
}

#[test]
fn a_duplicated_compare_arm_is_refused() {
    let o = tmesim(&[
        "compare",
        "configs/baseline.toml",
        "--arms",
        "anti_pd1; control; anti_pd1",
        "--out",
        "/nonexistent/never-created",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("`anti_pd1` twice"), "{}", stderr(&o));
}

#[test]
fn errors_name_the_key_call_values_values_and_stay_short() {
    let e = check(&["--set", "grid.nx=abc"]);
    assert!(e.contains("`--set grid.nx=abc`"), "{e}");
    let e = check(&["--set", "solver.diffusion=magic"]);
    assert!(
        e.contains("`solver.diffusion` = \"magic\" is not a valid value")
            && !e.contains("unknown key"),
        "{e}"
    );
    let e = check(&["--arm", "anti_pd2"]);
    assert!(
        e.contains("--arm: no therapy named `anti_pd2`") && !e.contains("unknown key"),
        "{e}"
    );
    let e = check(&["--set", "params.kill_rate=3"]);
    assert!(
        e.contains("kill_rate_per_day") && !e.contains("rt_half_z_um"),
        "{e}"
    );
    let long = format!("time.end_days={}", "x".repeat(100_000));
    let e = check(&["--set", &long]);
    assert!(e.len() < 1000, "{} characters", e.len());
    let o = tmesim(&["check", "/nonexistent.toml"]);
    let e = stderr(&o);
    assert_eq!(e.matches("os error 2").count(), 1, "{e}");
}

#[test]
fn an_error_in_a_phenotype_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("phenotypes")).unwrap();
    std::fs::write(
        dir.path().join("phenotypes/mine.toml"),
        "description = \"x\"\n[[change]]\nparam = \"kill_rate_per_day\"\nop = \"set\"\nvalue = 1e9\n",
    )
    .unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::copy(BASELINE, &scenario).unwrap();
    let o = tmesim(&["check", scenario.to_str().unwrap(), "--phenotype", "mine"]);
    let e = stderr(&o);
    assert!(
        e.contains("phenotypes/mine.toml") && e.contains("kill_rate_per_day"),
        "{e}"
    );
    assert!(!e.contains("s.toml:"), "{e}");
}
