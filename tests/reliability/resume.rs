//! Checkpoints and resume (bit for bit, on both backends), the backend
//! fallback, damaged or foreign checkpoints, non-finite values, GPU faults.

use super::*;

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
    // Found after the first batch that ends past step 200. Batches end at
    // the next save at the latest; where before it depends on the pace
    // (half a second of wall time), so only that bound is fixed.
    let next_save = (200 / spec.spec.save_every_steps + 1) * spec.spec.save_every_steps;
    let at: u64 = e
        .split("after step ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step in: {e}"));
    assert!(
        (200..=next_save).contains(&at),
        "{e} (next save: step {next_save})"
    );
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
