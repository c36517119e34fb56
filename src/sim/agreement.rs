//! Tolerant comparison of two states that says where they differ: used by
//! the CPU-vs-GPU tests and by anyone validating a port.

use crate::model::fields::FIELDS;
use crate::model::state::State;

/// A voxel passes when
/// |a - b| <= atol + scaled * max_field|a| + rtol * max(|a|, |b|):
/// `scaled` is an absolute tolerance in units of the field's largest value,
/// so fields whose values span many decades are judged fairly.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub rtol: f32,
    pub atol: f32,
    pub scaled: f32,
}

/// The worst failing voxel of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub field: &'static str,
    pub voxel: (usize, usize, usize),
    pub a: f32,
    pub b: f32,
    /// Number of voxels over tolerance in all fields.
    pub failures: usize,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (x, y, z) = self.voxel;
        write!(
            f,
            "{} voxels over tolerance; worst: field `{}` at voxel (x={x}, y={y}, z={z}): {} vs {} (difference {:e})",
            self.failures,
            self.field,
            self.a,
            self.b,
            (self.a - self.b).abs()
        )
    }
}

/// Compare every field voxel by voxel. NaN or infinity anywhere fails.
pub fn compare_states(a: &State, b: &State, tol: Tolerance) -> Result<(), Mismatch> {
    assert_eq!(a.grid, b.grid, "states on different grids");
    let mut worst: Option<(f32, Mismatch)> = None;
    let mut failures = 0;
    for (f, (fa, fb)) in a.fields.iter().zip(&b.fields).enumerate() {
        let floor = tol.atol + tol.scaled * fa.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (&va, &vb)) in fa.iter().zip(fb).enumerate() {
            let bound = floor + tol.rtol * va.abs().max(vb.abs());
            let diff = (va - vb).abs();
            let bad = diff.is_nan() || diff > bound || !va.is_finite() || !vb.is_finite();
            if bad {
                failures += 1;
                let excess = if diff.is_finite() {
                    diff / bound
                } else {
                    f32::INFINITY
                };
                if worst.as_ref().is_none_or(|(e, _)| excess > *e) {
                    let voxel = a.grid.coords(i);
                    worst = Some((
                        excess,
                        Mismatch {
                            field: FIELDS[f].name,
                            voxel,
                            a: va,
                            b: vb,
                            failures: 0,
                        },
                    ));
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((_, mut m)) => {
            m.failures = failures;
            Err(m)
        }
    }
}

/// Compare each field's mean over the tumour (the voxels where `a` holds
/// tumour >= 0.1, as timeseries.csv reports it) at the field's own scale:
/// relative difference at most `rtol`. A field whose tumour values lie far
/// below its domain maximum (a fast-decaying molecule near its sources, a
/// cell type still arriving) is judged here, where the voxel-wise floor of
/// `compare_states` would let it pass. Returns each offending field with
/// both means.
pub fn compare_tumour_means(a: &State, b: &State, rtol: f64) -> Result<(), String> {
    let tumour = &a.fields[crate::model::fields::idx::TUMOR];
    let mean = |field: &[f32]| {
        let (sum, n) = tumour
            .iter()
            .zip(field)
            .filter(|(&t, _)| t >= 0.1)
            .fold((0.0f64, 0usize), |(s, n), (_, &v)| (s + v as f64, n + 1));
        sum / n.max(1) as f64
    };
    let bad: Vec<String> = a
        .fields
        .iter()
        .zip(&b.fields)
        .enumerate()
        .filter_map(|(f, (fa, fb))| {
            let (ma, mb) = (mean(fa), mean(fb));
            let scale = ma.abs().max(mb.abs());
            let off = !(ma - mb).abs().le(&(rtol * scale)) && scale > 1e-30;
            off.then(|| format!("{}: {ma:e} vs {mb:e}", FIELDS[f].name))
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tumour means differ by more than {rtol:e} relative: {}",
            bad.join("; ")
        ))
    }
}

/// Largest relative difference max|a-b| / max|a| per field, for reports.
pub fn max_relative_difference(a: &State, b: &State) -> Vec<(&'static str, f32)> {
    a.fields
        .iter()
        .zip(&b.fields)
        .enumerate()
        .map(|(f, (fa, fb))| {
            let scale = fa.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
            let diff = fa
                .iter()
                .zip(fb)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            (FIELDS[f].name, diff / scale)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fields::idx;
    use crate::model::grid::Grid;

    fn state() -> State {
        let grid = Grid {
            nx: 4,
            ny: 3,
            nz: 2,
            dx_um: 10.0,
        };
        let mut s = State::zeros(grid);
        for (f, field) in s.fields.iter_mut().enumerate() {
            for (i, v) in field.iter_mut().enumerate() {
                *v = (f * 100 + i) as f32;
            }
        }
        s
    }

    #[test]
    fn identical_states_pass() {
        let s = state();
        assert!(compare_states(
            &s,
            &s.clone(),
            Tolerance {
                rtol: 0.0,
                atol: 0.0,
                scaled: 0.0
            }
        )
        .is_ok());
    }

    #[test]
    fn reports_field_voxel_and_values() {
        let a = state();
        let mut b = a.clone();
        let i = a.grid.index(3, 1, 1);
        b.fields[idx::VEGF][i] += 1.0;
        let m = compare_states(
            &a,
            &b,
            Tolerance {
                rtol: 1e-6,
                atol: 1e-6,
                scaled: 0.0,
            },
        )
        .unwrap_err();
        assert_eq!(m.field, "vegf");
        assert_eq!(m.voxel, (3, 1, 1));
        assert_eq!(m.b - m.a, 1.0);
        assert_eq!(m.failures, 1);
        let text = m.to_string();
        assert!(
            text.contains("vegf") && text.contains("x=3, y=1, z=1"),
            "{text}"
        );
    }

    #[test]
    fn within_tolerance_passes_and_nan_fails() {
        let a = state();
        let mut b = a.clone();
        b.fields[idx::TUMOR][5] *= 1.0 + 1e-4;
        assert!(compare_states(
            &a,
            &b,
            Tolerance {
                rtol: 1e-3,
                atol: 0.0,
                scaled: 0.0
            }
        )
        .is_ok());
        assert!(compare_states(
            &a,
            &b,
            Tolerance {
                rtol: 1e-6,
                atol: 0.0,
                scaled: 0.0
            }
        )
        .is_err());
        // A small absolute error in a low voxel of a large field passes
        // with a scaled tolerance only.
        let mut low = a.clone();
        low.fields[idx::KYNURENINE][0] = 0.0;
        let mut c = low.clone();
        c.fields[idx::KYNURENINE][0] = 0.01;
        assert!(compare_states(
            &low,
            &c,
            Tolerance {
                rtol: 1e-3,
                atol: 0.0,
                scaled: 0.0
            }
        )
        .is_err());
        assert!(compare_states(
            &low,
            &c,
            Tolerance {
                rtol: 1e-3,
                atol: 0.0,
                scaled: 1e-4
            }
        )
        .is_ok());
        b.fields[idx::CD8][0] = f32::NAN;
        assert_eq!(
            compare_states(
                &a,
                &b,
                Tolerance {
                    rtol: 1.0,
                    atol: 1.0,
                    scaled: 0.0
                }
            )
            .unwrap_err()
            .field,
            "cd8"
        );
    }
}
