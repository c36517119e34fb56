//! Tests of the schedule and the propagators.

use super::*;
use crate::config::load::parse_config;
use crate::config::resolve::resolve;
use crate::model::fields::{fields_of, FieldKind, FIELDS};
use std::path::Path;

/// The plan of `toml`, at dt = 15 min (the step these tests count
/// operations for) unless it sets its own.
fn plan(toml: &str) -> TransportPlan {
    let path = Path::new("test.toml");
    let toml = if toml.contains("[time]") {
        toml.to_string()
    } else {
        format!("{toml}\n[time]\ndt_min = 15.0\n")
    };
    let config = parse_config(&toml, path, &[]).expect("config");
    TransportPlan::new(&resolve(config.clone(), &config, path).expect("spec"))
}

/// A motility block of `count` sub-steps starting at `ops[at]`: each
/// sub-step a crowding op with the cells' buffer parities, then the
/// cells whose period starts there. Returns the index after.
fn expect_motility(p: &TransportPlan, mut at: usize, count: usize) -> usize {
    let mut moves = vec![0u32; p.cells.len()];
    for s in 0..count as u32 {
        let alternate = (0..p.cells.len()).map(|c| (moves[c] % 2) << c).sum();
        assert_eq!(p.ops[at], Op::Crowding { alternate });
        at += 1;
        for (cell, c) in p.cells.iter().enumerate() {
            if s % c.every == 0 {
                let odd = moves[cell] % 2 == 1;
                assert_eq!(p.ops[at], Op::Motility { cell, odd });
                at += 1;
                moves[cell] += 1;
            }
        }
    }
    at
}

#[test]
fn each_cell_field_moves_at_the_longest_period_its_bound_allows() {
    let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n");
    let block = p.motility_substeps / 2;
    let sub_dt = 15.0 / p.motility_substeps as f32;
    let dx2 = 20.0f32 * 20.0;
    for c in &p.cells {
        let rate = 4.0 * (c.uniform.diffusion + c.uniform.chemotaxis) / dx2;
        assert_eq!(block % c.every, 0);
        assert_eq!((block / c.every) % 2, 0, "even moves per block");
        assert!((c.uniform.dt - sub_dt * c.every as f32).abs() < 1e-6);
        assert!(c.uniform.dt * rate <= MOTILITY_SAFETY * (1.0 + 1e-6));
        // The next longer admissible period would break the bound.
        let longer = (c.every + 1..=block)
            .find(|&k| block.is_multiple_of(k) && (block / k).is_multiple_of(2));
        if let Some(k) = longer {
            assert!(k as f32 * sub_dt * rate > MOTILITY_SAFETY);
        }
    }
    // The fastest field (cd8) moves every sub-step, the tumour less often.
    let every = |f: usize| p.cells.iter().find(|c| c.field == f).unwrap().every;
    use crate::model::fields::idx;
    assert_eq!(every(idx::CD8), 1);
    assert!(every(idx::TUMOR) > 1);
}

#[test]
fn strang_step_is_symmetric_around_the_reactions() {
    let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n");
    assert_eq!(p.splitting, Splitting::Strang);
    assert_eq!(p.transport_dt, 7.5);
    assert_eq!(p.motility_substeps % 4, 0);
    let half = p.motility_substeps as usize / 2;
    // Every molecule has its production in the transport: produce, the exact passes, two forward and two inverse
    // source passes, the add.
    assert_eq!(p.sources.fields, crate::model::fields::SOURCES_IN_TRANSPORT);
    let passes = [
        Op::Produce,
        Op::ExponentialPass { index: 0 },
        Op::ExponentialPass { index: 1 },
        Op::SourcePass { index: 0 },
        Op::SourcePass { index: 1 },
        Op::SourcePass { index: 2 },
        Op::SourcePass { index: 3 },
        Op::SourceAdd,
    ];
    assert_eq!(&p.ops[..8], &passes);
    let at = expect_motility(&p, 8, half);
    assert_eq!(&p.ops[at..at + 3], &[Op::ReduceDc, Op::Systemic, Op::React]);
    let at = expect_motility(&p, at + 3, half);
    assert_eq!(
        &p.ops[at..],
        &passes[1..],
        "the reactions feed the second half"
    );
    let scaled: Vec<bool> = p.sources.passes.iter().map(|q| q.scale).collect();
    assert_eq!(
        scaled,
        [false, true, false, false],
        "the last forward pass scales"
    );
}

#[test]
fn lie_step_runs_systemic_transport_motility_then_reactions() {
    let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n[solver]\nsplitting = \"lie\"\n");
    assert_eq!(p.transport_dt, 15.0);
    assert_eq!(
        &p.ops[..10],
        &[
            Op::ReduceDc,
            Op::Systemic,
            Op::Produce,
            Op::ExponentialPass { index: 0 },
            Op::ExponentialPass { index: 1 },
            Op::SourcePass { index: 0 },
            Op::SourcePass { index: 1 },
            Op::SourcePass { index: 2 },
            Op::SourcePass { index: 3 },
            Op::SourceAdd,
        ]
    );
    let at = expect_motility(&p, 10, p.motility_substeps as usize);
    assert_eq!(&p.ops[at..], &[Op::React]);
}

#[test]
fn passes_cover_each_active_axis_or_two_half_steps() {
    let axes = |toml: &str| -> Vec<(usize, usize, bool)> {
        plan(toml)
            .exponential
            .passes
            .iter()
            .map(|p| (p.axis, p.stride, p.last))
            .collect()
    };
    assert_eq!(
        axes("[grid]\nnx = 6\nny = 5\nnz = 4\n"),
        [(0, 1, false), (1, 6, false), (2, 30, true)]
    );
    assert_eq!(
        axes("[grid]\nnx = 1\nny = 7\nnz = 1\n"),
        [(1, 1, false), (1, 1, true)]
    );
    assert_eq!(
        axes("[grid]\nnx = 1\nny = 1\nnz = 1\n"),
        [(0, 1, false), (0, 1, true)]
    );
}

#[test]
fn with_nothing_between_the_strang_halves_one_whole_transport_runs() {
    // No reactions and no moving cell: E(dt/2) E(dt/2) is E(dt).
    let mut toml = String::from("[grid]\nnx = 6\nny = 5\nnz = 1\n[model]\nreactions = false\n");
    for c in fields_of(FieldKind::Cell) {
        let name = FIELDS[c].name;
        toml += &format!("[fields.{name}]\ndiffusion_um2_per_min = 0.0\n");
        if FIELDS[c].chemotaxis_um2_per_min > 0.0 {
            toml += "chemotaxis_um2_per_min = 0.0\n";
        }
    }
    let p = plan(&toml);
    assert_eq!((p.splitting, p.transport_dt), (Splitting::Lie, 15.0));
    assert!(p.cells.is_empty());
    assert_eq!(
        p.ops,
        [
            Op::ExponentialPass { index: 0 },
            Op::ExponentialPass { index: 1 }
        ]
    );
}

#[test]
fn without_reactions_the_step_is_transport_only() {
    let p = plan("[grid]\nnx = 6\nny = 5\nnz = 1\n[model]\nreactions = false\n[solver]\ndiffusion = \"explicit\"\n");
    assert!(!p
        .ops
        .iter()
        .any(|op| matches!(op, Op::React | Op::ReduceDc | Op::Systemic)));
    // Half of each molecule's sub-steps on each side (Strang).
    let half = p.molecules[0].explicit_substeps as usize / 2;
    assert_eq!(p.molecules[0].explicit_substeps % 4, 0);
    assert_eq!(
        p.ops[0],
        Op::ExplicitSubstep {
            molecule: 0,
            odd: false
        }
    );
    assert_eq!(
        p.ops[half - 1],
        Op::ExplicitSubstep {
            molecule: 0,
            odd: true
        }
    );
    assert_eq!(
        p.ops[half],
        Op::ExplicitSubstep {
            molecule: 1,
            odd: false
        }
    );
    let explicit = p
        .ops
        .iter()
        .filter(|op| matches!(op, Op::ExplicitSubstep { .. }))
        .count();
    let total: u32 = p.molecules.iter().map(|m| m.explicit_substeps).sum();
    assert_eq!(explicit, total as usize);
}

#[test]
fn banded_propagators_hold_every_entry_above_the_cutoff() {
    // IL-10 (D 84) over a 0.05 min step spreads a few voxels; the fast
    // molecules over a 15 min step fill the line.
    let short = plan("[grid]\nnx = 64\nny = 48\nnz = 1\n[time]\ndt_min = 0.05\nend_days = 1.0\n");
    let long = plan("[grid]\nnx = 64\nny = 48\nnz = 1\n");
    for p in [&short, &long] {
        let dx2 = 20.0f64 * 20.0;
        for (index, pass) in p.exponential.passes.iter().enumerate() {
            let n = pass.len;
            for (m, mp) in p.molecules.iter().enumerate() {
                let setup = crate::model::fields::FIELDS[mp.field].diffusion_um2_per_min as f64;
                let r = p.transport_dt as f64 * setup / dx2;
                let dense = crate::model::exponential::axis_propagator(n, r, false, 1.0);
                let largest = dense.iter().cloned().fold(0.0, f64::max);
                // Undo the decay of the first pass: compare shapes.
                let band = pass.propagator(&p.exponential.matrices, m);
                let h = pass.band[m] as usize;
                let diag = band[0] as f64 / dense[0];
                for j in 0..n {
                    for k in 0..n {
                        let e = dense[j * n + k];
                        if j.abs_diff(k) > h {
                            assert!(e < largest * PROPAGATOR_CUTOFF, "pass {index}: dropped {e}");
                        } else {
                            let (first, width) = band_window(n, h, j);
                            let stored = band[j * width + k - first] as f64 / diag;
                            let scale = if e < largest * PROPAGATOR_CUTOFF {
                                0.0
                            } else {
                                e
                            };
                            assert!(
                                (stored - scale).abs() <= 1e-6 * e + 1e-13 * largest,
                                "({j},{k}): {stored} vs {e}"
                            );
                        }
                    }
                }
            }
        }
    }
    let il10 = short
        .molecules
        .iter()
        .position(|m| m.field == crate::model::fields::idx::IL10)
        .unwrap();
    let narrow = short.exponential.passes[0].band[il10];
    assert!((2..20).contains(&narrow), "band {narrow}");
    let wide = long.exponential.passes[0].band[il10];
    assert!(wide > 3 * narrow, "band {wide} at 15 min vs {narrow}");
}
