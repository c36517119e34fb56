//! The GPU kernels against their CPU twins on the full model: every
//! mechanism active, 2D and 3D, both diffusion solvers, hundreds of steps.

mod common;
use common::*;
use tmesim::model::fields::idx;
use tmesim::model::state::State;
use tmesim::sim::agreement::{
    compare_states, compare_tumour_means, max_relative_difference, Tolerance,
};
use tmesim::sim::select::cpu_backend;

/// A small tissue with every population, phenotype map and drug present.
fn every_mechanism(nx: usize, ny: usize, nz: usize, solver: &str) -> String {
    // The explicit solver sub-steps under its stability limit, so it gets a
    // shorter step and slower small molecules to keep the test quick.
    let (dt, small_molecule_d) = if solver == "explicit" {
        (2.0, 2000.0)
    } else {
        (15.0, 18000.0)
    };
    let end_days = 300.0 * dt / 1440.0;
    let (cx, cy, cz) = (nx as f64 * 10.0, ny as f64 * 10.0, nz as f64 * 10.0);
    let rx = cx + 37.0;
    format!(
        r#"
arm = ["anti_pd1"]
[grid]
nx = {nx}
ny = {ny}
nz = {nz}
dx_um = 20.0
[time]
dt_min = {dt}
end_days = {end_days}    # 300 steps
save_every_min = {dt}
[solver]
diffusion = "{solver}"
[params]
ctla4_occupancy = 0.3
lag3_occupancy = 0.2
a2a_occupancy = 0.1
ido_inhibition = 0.1
dc_systemic_boost = 1.5
# Therapy hooks, so every kernel term runs: sinks, PI3K inhibition,
# chemotherapy and a radiation field (a disk off the tumour centre).
sink_treg_per_day = 0.05
sink_vegf_per_day = 1.44
sink_il10_per_day = 0.5
sink_adenosine_per_day = 0.5
sink_kynurenine_per_day = 0.5
sink_mdsc_per_day = 0.1
pi3k_inhibition = 0.3
chemo_kill_per_day = 0.2
rt_shape = 1.0
rt_center_x_um = {rx}
rt_center_y_um = {cy}
rt_center_z_um = {cz}
rt_radius_um = 90.0
rt_death_tumor_per_day = 0.5
rt_death_cd8_per_day = 0.8
rt_death_treg_per_day = 0.3
rt_death_vessel_per_day = 0.1
[fields.tumor]
initial = {{ kind = "disk", center_um = [{cx}, {cy}, {cz}], radius_um = 100.0, value = 0.6 }}
[fields.vessel]
initial = {{ kind = "spots", count = 12, radius_um = 15.0, value = 0.2, seed = 3 }}
[fields.cd8]
initial = {{ kind = "gaussian", center_um = [{cx}, {cy}, {cz}], sigma_um = 120.0, peak = 0.1 }}
[fields.treg]
initial = {{ kind = "uniform", value = 0.01 }}
[fields.mdsc]
initial = {{ kind = "uniform", value = 0.01 }}
[fields.tam]
initial = {{ kind = "uniform", value = 0.02 }}
[fields.dc]
initial = {{ kind = "uniform", value = 0.002 }}
[fields.ifng]
initial = {{ kind = "gaussian", center_um = [{cx}, {cy}, {cz}], sigma_um = 80.0, peak = 0.05 }}
boundary = {{ dirichlet = 0.001 }}
[fields.vegf]
boundary = {{ dirichlet = 0.1 }}
[fields.adenosine]
diffusion_um2_per_min = {small_molecule_d}
[fields.kynurenine]
diffusion_um2_per_min = {small_molecule_d}
[fields.pi3k]
initial = {{ kind = "disk", center_um = [{cx}, {cy}, {cz}], radius_um = 60.0, value = 0.8 }}
[fields.wnt]
initial = {{ kind = "uniform", value = 0.3 }}
[fields.ido]
initial = {{ kind = "uniform", value = 0.5 }}
"#
    )
}

/// f32 sums in another order, fused multiply-adds and the GPU's own exp and
/// pow make the backends drift apart slowly; on lavapipe the largest
/// relative difference after 300 steps is about 2e-5. A 2% change of one
/// kernel parameter moves fields by far more (see the last test).
const TOL: Tolerance = Tolerance {
    rtol: 1e-3,
    atol: 1e-7,
    scaled: 1e-4,
};

/// Tumour means of every field agree to this (relative): round-off drift
/// is about 1e-5 (see `TOL`).
const TUMOUR_MEAN_RTOL: f64 = 1e-3;

fn agree(nx: usize, ny: usize, nz: usize, solver: &str) {
    agree_with(nx, ny, nz, solver, &[]);
}

/// `every_mechanism` with `overrides`, on both backends.
fn agree_with(nx: usize, ny: usize, nz: usize, solver: &str, overrides: &[&str]) {
    let spec = spec_with(&every_mechanism(nx, ny, nz, solver), overrides);
    assert_eq!(spec.spec.steps, 300);
    let Some(mut gpu) = gpu(&spec) else { return };
    let cpu_state = run_to_end(&mut cpu_backend(&spec), &spec);
    let gpu_state = run_to_end(gpu.as_mut(), &spec);
    // The run must be non-trivial: T cells infiltrate, cytokines form.
    assert!(
        total(&cpu_state.fields[idx::CD8]) > 0.0 && total(&cpu_state.fields[idx::KYNURENINE]) > 0.0
    );
    eprintln!(
        "{solver} {nx}x{ny}x{nz}: max relative differences {:?}",
        max_relative_difference(&cpu_state, &gpu_state)
    );
    if let Err(m) = compare_states(&cpu_state, &gpu_state, TOL) {
        panic!("CPU and GPU disagree ({solver}, {nx}x{ny}x{nz}): {m}");
    }
    // Each field at its own scale too: its tumour mean.
    if let Err(m) = compare_tumour_means(&cpu_state, &gpu_state, TUMOUR_MEAN_RTOL) {
        panic!("CPU and GPU disagree ({solver}, {nx}x{ny}x{nz}): {m}");
    }
    assert_eq!(cpu_state.step, gpu_state.step);
    let (a, b) = (cpu_state.systemic.priming, gpu_state.systemic.priming);
    assert!(
        (a - b).abs() <= 1e-3 * a.abs().max(1e-6),
        "priming {a} vs {b}"
    );
}

#[test]
fn agree_2d_exponential() {
    agree(24, 20, 1, "exponential");
}

#[test]
fn agree_2d_explicit() {
    agree(24, 20, 1, "explicit");
}

#[test]
fn agree_3d_exponential() {
    agree(12, 10, 8, "exponential");
}

#[test]
fn agree_3d_explicit() {
    agree(12, 10, 8, "explicit");
}

/// The box radiation field (rt_shape 2), Dirichlet boundaries on cell
/// fields (cells held outside the edge, crowding the edge voxels) and the
/// DCs of another lesion driving priming (`partner_dc_mean`, as a cohort's
/// unirradiated lesions run).
#[test]
fn agree_2d_box_field_and_cell_boundaries() {
    agree_with(
        24,
        20,
        1,
        "exponential",
        &[
            "params.rt_shape=2.0",
            "params.rt_half_x_um=60.0",
            "params.rt_half_y_um=40.0",
            "fields.cd8.boundary={ dirichlet = 0.02 }",
            "fields.treg.boundary={ dirichlet = 0.01 }",
            "params.partner_dc_mean=0.05",
        ],
    );
}

#[test]
fn agree_3d_box_field_and_cell_boundaries() {
    agree_with(
        12,
        10,
        8,
        "explicit",
        &[
            "params.rt_shape=2.0",
            "params.rt_half_x_um=40.0",
            "params.rt_half_y_um=30.0",
            "params.rt_half_z_um=30.0",
            "fields.cd8.boundary={ dirichlet = 0.02 }",
        ],
    );
}

/// The comparison can fail: a 2% change in one kernel parameter on the GPU
/// side only is caught, and reported with a field and a voxel.
#[test]
fn a_changed_kernel_is_caught() {
    let spec_a = spec(&every_mechanism(16, 12, 1, "exponential"));
    let mut spec_b = spec_a.clone();
    spec_b.spec.params.kill_rate_per_day *= 1.02;
    let Some(mut gpu) = gpu(&spec_b) else { return };
    let cpu_state = run_to_end(&mut cpu_backend(&spec_a), &spec_a);
    let gpu_state = run_to_end(gpu.as_mut(), &spec_b);
    let m = compare_states(&cpu_state, &gpu_state, TOL)
        .expect_err("a changed kill rate must be detected");
    eprintln!("detected as intended: {m}");
}

/// Cell transport alone (reactions off), from sharp fronts of every mobile
/// population side by side, so that each field's moves change the free
/// space the others see: the slow fields move every few sub-steps, and the
/// GPU's crowding must read each field from the buffer its last move wrote.
/// Without reactions the backends differ by round-off only, so the
/// tolerance is tight.
#[test]
fn agree_cell_transport_from_sharp_fronts() {
    let disk = |cx: f64, cy: f64, v: f64| {
        format!(
            "{{ kind = \"disk\", center_um = [{cx}, {cy}, 0.0], radius_um = 90.0, value = {v} }}"
        )
    };
    let toml = format!(
        r#"
arm = []
[model]
reactions = false
[grid]
nx = 24
ny = 20
nz = 1
dx_um = 20.0
[time]
dt_min = 15.0
end_days = {end}
save_every_min = 15.0
[fields.tumor]
initial = {tumor}
[fields.cd8]
initial = {cd8}
[fields.treg]
initial = {treg}
[fields.mdsc]
initial = {mdsc}
[fields.tam]
initial = {tam}
[fields.dc]
initial = {dc}
[fields.ifng]
initial = {{ kind = "gaussian", center_um = [240.0, 200.0, 0.0], sigma_um = 60.0, peak = 0.05 }}
"#,
        end = 40.0 * 15.0 / 1440.0,
        tumor = disk(240.0, 200.0, 0.3),
        cd8 = disk(150.0, 120.0, 0.3),
        treg = disk(330.0, 120.0, 0.2),
        mdsc = disk(150.0, 280.0, 0.3),
        tam = disk(330.0, 280.0, 0.3),
        dc = disk(240.0, 90.0, 0.15),
    );
    let spec = spec_with(&toml, &[]);
    assert!(spec.plan.cells.iter().any(|c| c.every > 1));
    let Some(mut gpu) = gpu(&spec) else { return };
    let cpu_state = run_to_end(&mut cpu_backend(&spec), &spec);
    let gpu_state = run_to_end(gpu.as_mut(), &spec);
    agree_to_round_off("cell transport", &cpu_state, &gpu_state, 1e-8);
}

/// Without reactions the backends differ by f32 round-off only: a tight
/// tolerance (absolute floor `atol`).
fn agree_to_round_off(what: &str, cpu: &State, gpu: &State, atol: f32) {
    eprintln!(
        "{what}: max relative differences {:?}",
        max_relative_difference(cpu, gpu)
    );
    let tight = Tolerance {
        rtol: 1e-5,
        atol,
        scaled: 1e-6,
    };
    if let Err(m) = compare_states(cpu, gpu, tight) {
        panic!("CPU and GPU {what} disagree: {m}");
    }
}

/// Molecule transport alone over short steps, where the propagators' bands
/// are narrower than the lines (so each row's stored window slides along
/// the line), from one-voxel pulses of every molecule.
#[test]
fn agree_molecule_transport_with_narrow_bands() {
    let toml = format!(
        r#"
arm = []
[model]
reactions = false
[grid]
nx = 40
ny = 36
nz = 1
dx_um = 20.0
[time]
dt_min = 0.25
end_days = {end}
save_every_min = 0.25
[fields.vegf]
boundary = {{ dirichlet = 0.1 }}
"#,
        end = 40.0 * 0.25 / 1440.0
    );
    let spec = spec_with(&toml, &[]);
    assert_eq!(spec.spec.steps, 40);
    let passes = &spec.plan.exponential.passes;
    let narrow = passes
        .iter()
        .flat_map(|p| {
            (0..spec.plan.molecules.len()).map(move |m| 2 * p.band[m] as usize + 1 < p.len)
        })
        .filter(|&n| n)
        .count();
    assert!(narrow >= 4, "bands narrower than the line: {narrow}");
    let Some(mut gpu) = gpu(&spec) else { return };
    // One-voxel pulses, at different places per molecule.
    let mut start = initial(&spec);
    let grid = spec.spec.grid;
    for (k, m) in spec.plan.molecules.iter().enumerate() {
        let at = grid.index(5 + 7 * k, 4 + 6 * k, 0);
        start.fields[m.field][at] = 10.0;
    }
    let cpu_state = advance(&mut cpu_backend(&spec), &spec, &start, 40);
    let gpu_state = advance(gpu.as_mut(), &spec, &start, 40);
    // The pulses spread: the peak fell and its neighbours gained.
    let m = &spec.plan.molecules[0];
    let at = grid.index(5, 4, 0);
    assert!(cpu_state.fields[m.field][at] < 9.0 && cpu_state.fields[m.field][at + 1] > 0.01);
    agree_to_round_off("transport", &cpu_state, &gpu_state, 1e-9);
}
