//! Batched patients: one GPU backend advancing several patients of one plan
//! in the same dispatches, against its CPU twin (one CPU backend per
//! patient) and against each patient run alone.

mod common;
use common::*;
use tmesim::backend::batch::Batch;
use tmesim::cpu::batch::CpuBatch;
use tmesim::gpu::backend::GpuBackend;
use tmesim::model::fields::idx;
use tmesim::model::params::ModelParams;
use tmesim::model::state::State;
use tmesim::sim::agreement::{compare_states, Tolerance};
use tmesim::sim::scenario::ArmSpec;

const STEPS: u64 = 160;

/// A small tissue with every population, and a Dirichlet IFN-gamma source.
const TISSUE: &str = r#"
arm = ["anti_pd1"]
[grid]
nx = 26
ny = 22
dx_um = 20.0
[time]
dt_min = 15.0
end_days = 1.6667    # 160 steps
save_every_min = 15.0
[fields.tumor]
initial = { kind = "disk", center_um = [260.0, 220.0], radius_um = 110.0, value = 0.6 }
[fields.vessel]
initial = { kind = "spots", count = 10, radius_um = 15.0, value = 0.2, seed = 3 }
[fields.cd8]
initial = { kind = "gaussian", center_um = [260.0, 220.0], sigma_um = 120.0, peak = 0.1 }
[fields.treg]
initial = { kind = "uniform", value = 0.01 }
[fields.mdsc]
initial = { kind = "uniform", value = 0.01 }
[fields.tam]
initial = { kind = "uniform", value = 0.02 }
[fields.dc]
initial = { kind = "uniform", value = 0.002 }
[fields.ifng]
boundary = { dirichlet = 0.001 }
[fields.pi3k]
initial = { kind = "uniform", value = 0.4 }
[fields.ido]
initial = { kind = "uniform", value = 0.5 }
"#;

/// Three patients of one plan: other parameters, other initial tumours and
/// vessels, other therapy arms (a cytotoxic drug, and a radiation field off
/// the tumour centre), so every per-patient input of the kernels differs.
fn patients() -> Vec<ArmSpec> {
    patients_with(&[])
}

/// `patients()` with `grid` overrides for all three.
fn patients_with(grid: &[&str]) -> Vec<ArmSpec> {
    let arms: [&[&str]; 3] = [
        &[],
        &[
            "params.kill_rate_per_day=3.0",
            "params.tumor_growth_per_day=0.2",
            "fields.tumor.initial.radius_um=80.0",
            "fields.vessel.initial.seed=11",
            "arm=[\"anti_pd1\", \"anti_ctla4\", \"paclitaxel\"]",
        ],
        &[
            "params.cd8_entry_per_day=20.0",
            "params.dc_precursor=0.02",
            "fields.tumor.initial.radius_um=140.0",
            "arm=[\"anti_pd1\", \"pi3k_inhibitor\"]",
            "params.rt_shape=1.0",
            "params.rt_center_x_um=300.0",
            "params.rt_center_y_um=220.0",
            "params.rt_center_z_um=100.0",
            "params.rt_radius_um=90.0",
            "params.rt_death_tumor_per_day=0.5",
            "params.rt_death_cd8_per_day=0.8",
        ],
    ];
    let specs: Vec<ArmSpec> = arms
        .iter()
        .map(|o| spec_with(TISSUE, &[grid, o].concat()))
        .collect();
    for s in &specs[1..] {
        assert!(s.plan == specs[0].plan, "the patients must share a plan");
    }
    specs
}

fn params(spec: &ArmSpec, steps: u64) -> Vec<ModelParams> {
    (0..steps)
        .map(|s| spec.treatment.params_at(&spec.spec.params, s))
        .collect()
}

/// Every patient from its initial state for `STEPS` steps on `batch`.
fn run_batch(batch: &mut dyn Batch, specs: &[ArmSpec]) -> Vec<State> {
    let states: Vec<State> = specs.iter().map(initial).collect();
    batch.upload_batch(&states).expect("upload");
    let lists: Vec<Vec<ModelParams>> = specs.iter().map(|s| params(s, STEPS)).collect();
    let refs: Vec<&[ModelParams]> = lists.iter().map(Vec::as_slice).collect();
    batch.run_batch(&refs).expect("steps");
    assert_eq!(batch.find_bad_in_batch().expect("check"), None);
    batch.download_batch().expect("download")
}

fn gpu_batch(spec: &ArmSpec, patients: u32) -> Option<GpuBackend> {
    gpu(spec)?; // skips (or fails when required) without an adapter
    Some(
        GpuBackend::batch(
            spec.spec.grid,
            spec.plan.clone(),
            spec.spec.dt_min,
            patients,
        )
        .expect("a GPU batch"),
    )
}

fn cpu_batch(spec: &ArmSpec, patients: usize) -> CpuBatch {
    CpuBatch::new(spec.spec.grid, &spec.plan, spec.spec.dt_min, patients)
}

/// The round-off tolerance of tests/cpu_gpu_agreement.rs.
const TOL: Tolerance = Tolerance {
    rtol: 1e-3,
    atol: 1e-7,
    scaled: 1e-4,
};

#[test]
fn a_gpu_batch_of_patients_with_different_parameters_matches_its_cpu_twin() {
    let specs = patients();
    let Some(mut gpu) = gpu_batch(&specs[0], 3) else {
        return;
    };
    let on_gpu = run_batch(&mut gpu, &specs);
    let on_cpu = run_batch(&mut cpu_batch(&specs[0], 3), &specs);
    for (k, (c, g)) in on_cpu.iter().zip(&on_gpu).enumerate() {
        assert_eq!(g.step, STEPS);
        compare_states(c, g, TOL).unwrap_or_else(|m| panic!("patient {k}: {m}"));
        assert!((c.systemic.priming - g.systemic.priming).abs() <= 1e-3 * c.systemic.priming);
    }
    // The patients really differ, by far more than the tolerance: a kernel
    // that read patient 0's parameters or state for all would fail above.
    for k in 1..3 {
        assert!(
            compare_states(&on_cpu[0], &on_cpu[k], TOL).is_err(),
            "patients 0 and {k} ended alike"
        );
        assert_ne!(on_cpu[0].systemic.priming, on_cpu[k].systemic.priming);
    }
    assert!(total(&on_cpu[2].fields[idx::CD8]) > total(&on_cpu[0].fields[idx::CD8]));
}

#[test]
fn a_3d_gpu_batch_matches_its_cpu_twin() {
    // Neighbours and coordinates along z must stay inside each patient.
    let specs = patients_with(&["grid.nx=14", "grid.ny=12", "grid.nz=6", "grid.dx_um=40.0"]);
    let Some(mut gpu) = gpu_batch(&specs[0], 3) else {
        return;
    };
    let on_gpu = run_batch(&mut gpu, &specs);
    let on_cpu = run_batch(&mut cpu_batch(&specs[0], 3), &specs);
    for (k, (c, g)) in on_cpu.iter().zip(&on_gpu).enumerate() {
        compare_states(c, g, TOL).unwrap_or_else(|m| panic!("patient {k}: {m}"));
    }
    assert!(compare_states(&on_cpu[0], &on_cpu[2], TOL).is_err());
}

#[test]
fn a_patient_in_a_gpu_batch_ends_as_it_ends_alone() {
    let specs = patients();
    let Some(mut batch) = gpu_batch(&specs[0], 3) else {
        return;
    };
    let together = run_batch(&mut batch, &specs);
    for (k, spec) in specs.iter().enumerate() {
        let mut alone = gpu(spec).expect("adapter found above");
        let state = advance(alone.as_mut(), spec, &initial(spec), STEPS);
        // The same kernels on the same values: bit for bit.
        assert_eq!(state.fields, together[k].fields, "patient {k}");
        assert_eq!(state.systemic.priming, together[k].systemic.priming);
    }
}

#[test]
fn a_partly_filled_batch_runs_its_patients_and_names_a_bad_one() {
    let specs = patients();
    let Some(mut gpu) = gpu_batch(&specs[0], 3) else {
        return;
    };
    let mut cpu = cpu_batch(&specs[0], 3);
    let last_two = &specs[1..];
    let on_gpu = run_batch(&mut gpu, last_two);
    let on_cpu = run_batch(&mut cpu, last_two);
    assert_eq!(on_gpu.len(), 2);
    for (c, g) in on_cpu.iter().zip(&on_gpu) {
        compare_states(c, g, TOL).unwrap_or_else(|m| panic!("{m}"));
    }

    // A non-finite value in the second patient is found there, on both.
    let mut states: Vec<State> = specs.iter().map(initial).collect();
    states[1].fields[idx::IL10][37] = f32::NAN;
    for batch in [&mut gpu as &mut dyn Batch, &mut cpu] {
        batch.upload_batch(&states).expect("upload");
        let (patient, bad) = batch.find_bad_in_batch().expect("check").expect("flagged");
        assert_eq!((patient, bad.field, bad.voxel), (1, idx::IL10, 37));
    }
}

#[test]
fn a_batch_refuses_more_patients_than_it_holds_and_unequal_step_counts() {
    let specs = patients();
    let mut batch = cpu_batch(&specs[0], 2);
    let states: Vec<State> = specs.iter().map(initial).collect();
    let e = batch.upload_batch(&states).unwrap_err().to_string();
    assert!(e.contains("3 states for a batch of up to 2"), "{e}");
    batch.upload_batch(&states[..2]).expect("upload");
    let (a, b) = (params(&specs[0], 3), params(&specs[1], 2));
    let e = batch.run_batch(&[&a, &b]).unwrap_err().to_string();
    assert!(e.contains("same number of steps"), "{e}");
    let e = batch.run_batch(&[&a]).unwrap_err().to_string();
    assert!(e.contains("1 parameter lists for a batch of 2"), "{e}");
}

#[test]
fn a_single_gpu_run_is_a_batch_of_one() {
    // The Backend interface on a batch-capable GPU backend, after a batch.
    let specs = patients();
    let Some(mut gpu) = gpu_batch(&specs[0], 2) else {
        return;
    };
    let spec = &specs[2];
    let alone = advance(&mut gpu, spec, &initial(spec), 20);
    let twin = advance(
        &mut tmesim::sim::select::cpu_backend(spec),
        spec,
        &initial(spec),
        20,
    );
    compare_states(&twin, &alone, TOL).unwrap_or_else(|m| panic!("{m}"));
}
