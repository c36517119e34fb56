//! Invariants on every backend: mass conservation of transport with no-flux
//! boundaries, non-negativity and crowding bounds under extreme parameters,
//! bitwise determinism, and exact continuation from a saved state.

mod common;
use common::*;
use tmesim::model::fields::{fields_of, idx, FieldKind, FIELDS};
use tmesim::model::params::PARAM_SPECS;
use tmesim::sim::select::cpu_backend;

fn populated(nx: usize, ny: usize, nz: usize, time: &str, extra: &str) -> String {
    let c = [nx as f64 * 10.0, ny as f64 * 10.0, nz as f64 * 10.0];
    let g = |field: &str, sigma: f64, peak: f64, dx: f64| {
        format!(
            "[fields.{field}]\ninitial = {{ kind = \"gaussian\", center_um = [{}, {}, {}], sigma_um = {sigma}, peak = {peak} }}\n",
            c[0] + dx,
            c[1] - dx,
            c[2]
        )
    };
    let mut s =
        format!("[grid]\nnx = {nx}\nny = {ny}\nnz = {nz}\ndx_um = 20.0\n[time]\n{time}\n{extra}\n");
    s += &g("tumor", 80.0, 0.5, 0.0);
    s += &g("cd8", 60.0, 0.15, 40.0);
    s += &g("treg", 90.0, 0.05, -30.0);
    s += &g("mdsc", 50.0, 0.05, 20.0);
    s += &g("tam", 70.0, 0.05, -50.0);
    s += &g("dc", 40.0, 0.02, 10.0);
    s += &g("ifng", 60.0, 0.05, 30.0);
    s += &g("il10", 60.0, 0.5, -20.0);
    s += &g("vegf", 60.0, 1.0, 0.0);
    s += &g("adenosine", 30.0, 100.0, 10.0);
    s += &g("kynurenine", 60.0, 1000.0, -10.0);
    s += "[fields.vessel]\ninitial = { kind = \"spots\", count = 10, radius_um = 15.0, value = 0.2, seed = 5 }\n";
    s
}

#[test]
fn transport_conserves_mass_with_no_flux_boundaries() {
    for (nx, ny, nz) in [(24, 20, 1), (10, 8, 6)] {
        for solver in ["exponential", "explicit"] {
            // No reactions, no decay: every molecule and cell total is fixed.
            // 60 steps: each one conserves or not; more cost CI minutes on
            // lavapipe (the explicit solver's sub-steps) and add nothing.
            let extra = format!("[model]\nreactions = false\n[solver]\ndiffusion = \"{solver}\"\n");
            let toml = populated(
                nx,
                ny,
                nz,
                "dt_min = 5.0\nend_days = 0.20833333333333334\nsave_every_min = 5.0",
                &extra,
            );
            let overrides: Vec<String> = fields_of(FieldKind::Molecule)
                .map(|f| format!("fields.{}.decay_per_min=0", FIELDS[f].name))
                .collect();
            let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
            let spec = spec_with(&toml, &overrides);
            assert_eq!(spec.spec.steps, 60);
            let start = initial(&spec);
            for mut b in backends(&spec) {
                let end = run_to_end(b.as_mut(), &spec);
                for f in fields_of(FieldKind::Molecule).chain(fields_of(FieldKind::Cell)) {
                    let (t0, t1) = (total(&start.fields[f]), total(&end.fields[f]));
                    let rel = ((t1 - t0) / t0).abs();
                    assert!(
                        rel < 2e-5,
                        "{} {solver} {nx}x{ny}x{nz}: {} total {t0} -> {t1} ({rel:e})",
                        b.kind(),
                        FIELDS[f].name
                    );
                }
                // Transport actually moved things.
                let moved = start.fields[idx::CD8]
                    .iter()
                    .zip(&end.fields[idx::CD8])
                    .any(|(a, b)| (a - b).abs() > 1e-4);
                assert!(moved, "cd8 did not move");
            }
        }
    }
}

/// Every parameter at the top (or bottom) of its allowed range, a one-hour
/// step, fast transport and a Dirichlet molecule boundary: at every save
/// (every step) every field is finite and non-negative, with nothing
/// clamped on the way, and the bounded states and the crowding hold.
fn check_bounds_with(extreme: impl Fn(&tmesim::model::params::ParamSpec) -> f32, label: &str) {
    let mut overrides: Vec<String> = PARAM_SPECS
        .iter()
        .filter(|s| s.name != "crowding_limit")
        .map(|s| format!("params.{}={}", s.name, extreme(s)))
        .collect();
    overrides.push("fields.cd8.chemotaxis_um2_per_min=500".into());
    overrides.push("fields.tumor.diffusion_um2_per_min=100".into());
    overrides.push("fields.vegf.boundary={ dirichlet = 0.3 }".into());
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let toml = populated(
        16,
        14,
        1,
        "dt_min = 60.0\nend_days = 4.166666666666667\nsave_every_min = 60.0",
        "",
    );
    let spec = spec_with(&toml, &overrides);
    assert_eq!(spec.spec.save_every_steps, 1);
    for mut b in backends(&spec) {
        let mut state = initial(&spec);
        for _ in 0..spec.spec.steps {
            state = advance(b.as_mut(), &spec, &state, 1);
            check_state(
                &spec,
                &state,
                &format!("{label} {} step {}", b.kind(), state.step),
            );
        }
    }
}

fn check_state(
    spec: &tmesim::sim::scenario::ArmSpec,
    end: &tmesim::model::state::State,
    label: &str,
) {
    for (f, field) in end.fields.iter().enumerate() {
        let min = field.iter().copied().fold(f32::INFINITY, f32::min);
        assert!(
            min.is_finite() && min >= 0.0 && field.iter().all(|v| v.is_finite()),
            "{label}: {} minimum {min}",
            FIELDS[f].name
        );
    }
    for f in [idx::LAG3, idx::EXHAUSTION] {
        assert!(
            end.fields[f].iter().all(|&v| v <= 1.0 + 1e-6),
            "{label}: {} above 1",
            FIELDS[f].name
        );
    }
    let limit = spec.spec.params.crowding_limit;
    for i in 0..spec.spec.grid.len() {
        let rho: f32 = fields_of(FieldKind::Cell).map(|c| end.fields[c][i]).sum();
        assert!(
            rho <= limit * (1.0 + 1e-5),
            "{label}: cell sum {rho} above {limit} at voxel {i}"
        );
    }
}

#[test]
fn extreme_high_parameters_keep_fields_non_negative_and_bounded() {
    check_bounds_with(|s| s.max, "max");
}

#[test]
fn extreme_low_parameters_keep_fields_non_negative_and_bounded() {
    check_bounds_with(|s| s.min, "min");
}

#[test]
fn runs_are_deterministic_and_resume_exactly() {
    // An arm with a drug and a radiation fraction mid-run, so resuming
    // must also pick up the therapy schedule where it was.
    let toml = format!(
        "arm = [\"anti_pd1\", \"rt\"]\n{}",
        populated(
            20,
            18,
            1,
            "dt_min = 15.0\nend_days = 1.0\nsave_every_min = 15.0",
            "[therapy.rt.radiation]\ndose_gy = 4.0\nfraction_days = [0.4]\ndeath_window_days = 0.25\n\
             alpha_per_gy = { tumor = 0.3, cd8 = 0.5 }\nbeta_per_gy2 = { tumor = 0.03 }\n\
             field = { shape = \"disk\", center_um = [200.0, 180.0], radius_um = 100.0 }\n",
        )
    );
    let spec = spec(&toml);
    for mut b in backends(&spec) {
        let a = run_to_end(b.as_mut(), &spec);
        let again = run_to_end(b.as_mut(), &spec);
        assert_eq!(
            a,
            again,
            "{}: two runs of the same scenario differ",
            b.kind()
        );
        // Stop half-way, take the state out, put it into a fresh backend.
        let half = advance(b.as_mut(), &spec, &initial(&spec), spec.spec.steps / 2);
        let mut fresh: Box<dyn tmesim::backend::Backend> = if b.kind() == "cpu" {
            Box::new(cpu_backend(&spec))
        } else {
            gpu(&spec).expect("GPU available")
        };
        let resumed = advance(
            fresh.as_mut(),
            &spec,
            &half,
            spec.spec.steps - spec.spec.steps / 2,
        );
        assert_eq!(
            a,
            resumed,
            "{}: resuming from a saved state changed the result",
            b.kind()
        );
    }
}
