//! The shipped step against a fine one, every molecule: a correctness
//! property of the step schedule, so it is tested here and not only
//! measured (docs/verification.md, "Every field at the shipped step"). A
//! molecule off by orders of magnitude can hide behind a converged
//! outcome: adenosine's tumour mean was 2.5e-9 nM at the shipped step
//! against 0.3 nM at a fine one while the tumour diameter agreed.

mod common;
use common::*;
use std::path::Path;
use tmesim::model::fields::{fields_of, idx, FieldKind, FIELDS};
use tmesim::model::state::State;

/// Mean of `field` over the tumour (voxels with tumour >= 0.1), as
/// timeseries.csv reports it.
fn tumour_mean(s: &State, field: usize) -> f64 {
    let (sum, count) = s.fields[idx::TUMOR]
        .iter()
        .zip(&s.fields[field])
        .filter(|(&t, _)| t >= 0.1)
        .fold((0.0, 0usize), |(sum, n), (_, &v)| (sum + v as f64, n + 1));
    sum / count as f64
}

fn final_state(phenotype: &str, dt_min: f64) -> State {
    // The baseline's 2.5 mm section on a 40 um grid, one day.
    let overrides: Vec<String> = [
        "grid.nx=63".to_string(),
        "grid.ny=63".to_string(),
        "grid.dx_um=40".to_string(),
        "time.end_days=1".to_string(),
        format!("time.dt_min={dt_min}"),
        format!("phenotype=\"{phenotype}\""),
    ]
    .into();
    let arm = tmesim::sim::scenario::load(Path::new("configs/baseline.toml"), &overrides)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut cpu = tmesim::sim::select::cpu_backend(&arm);
    run_to_end(&mut cpu, &arm)
}

#[test]
fn every_molecule_at_the_shipped_step_is_within_5_percent_of_a_fine_step() {
    for phenotype in ["responsive", "adenosine_high", "ido_high"] {
        let shipped = final_state(phenotype, 15.0);
        let fine = final_state(phenotype, 15.0 / 16.0);
        for m in fields_of(FieldKind::Molecule) {
            let (a, b) = (tumour_mean(&shipped, m), tumour_mean(&fine, m));
            let rel = (a - b).abs() / b.abs();
            eprintln!(
                "{phenotype} {}: dt 15 {a:.5e}, dt 0.9375 {b:.5e} ({:.2}%)",
                FIELDS[m].name,
                100.0 * rel
            );
            assert!(
                rel < 0.05,
                "{phenotype}: tumour mean of {} at dt 15 is {a:e}, at dt 0.9375 {b:e} ({:.1}% apart)",
                FIELDS[m].name,
                100.0 * rel
            );
        }
    }
}
