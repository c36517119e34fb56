//! Precomputed Thomas-algorithm factors for the implicit sweeps (the BioFVM
//! idea: with constant coefficients every grid line along an axis shares
//! one factorisation, so a step is a forward sweep and a back substitution).
//!
//! One sweep solves
//! `(1 + dt*lambda_a) d_i + k * sum_j (d_i - d_j) + 2k * d_i [per Dirichlet face of voxel i] = r_i`
//! along one axis, with k = dt D / dx^2 and neighbours j on that axis.

use crate::config::resolve::Boundary;

/// `cp` (modified super-diagonal) and `inv` (1 / pivot) for a line of `n`
/// voxels, computed in f64 and stored as the f32 both backends read.
pub fn thomas_factors(n: usize, k: f64, decay_dt: f64, boundary: Boundary) -> (Vec<f32>, Vec<f32>) {
    let face = match boundary {
        Boundary::NoFlux => 0.0,
        Boundary::Dirichlet(_) => 2.0 * k,
    };
    let mut cp = vec![0f32; n];
    let mut inv = vec![0f32; n];
    let mut prev_cp = 0.0f64;
    for i in 0..n {
        let lower = if i > 0 { k } else { 0.0 };
        let upper = if i + 1 < n { k } else { 0.0 };
        let mut diag = 1.0 + decay_dt + lower + upper;
        if n > 1 && i == 0 {
            diag += face;
        }
        if n > 1 && i + 1 == n {
            diag += face;
        }
        let pivot = diag - lower * prev_cp;
        let c = -upper / pivot;
        cp[i] = c as f32;
        inv[i] = (1.0 / pivot) as f32;
        prev_cp = -c;
    }
    (cp, inv)
}

/// Solve one line in place with the precomputed factors: `line[i]` holds
/// r_i on entry and the increment on exit. Mirrors the loop in
/// diffuse_sweep.wgsl (there with strided indexing).
pub fn thomas_solve(line: &mut [f32], k: f32, cp: &[f32], inv: &[f32]) {
    let n = line.len();
    let mut prev = 0.0f32;
    for i in 0..n {
        let lower = if i > 0 { k } else { 0.0 };
        prev = (line[i] + lower * prev) * inv[i];
        line[i] = prev;
    }
    for i in (0..n.saturating_sub(1)).rev() {
        line[i] -= cp[i] * line[i + 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compare with a dense solve of the same tridiagonal system.
    #[test]
    fn matches_dense_solution() {
        for boundary in [Boundary::NoFlux, Boundary::Dirichlet(1.0)] {
            let n = 7;
            let (k, ld) = (0.8f64, 0.05f64);
            let (cp, inv) = thomas_factors(n, k, ld, boundary);
            let r: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut x = r.clone();
            thomas_solve(&mut x, k as f32, &cp, &inv);
            // Residual of the original system.
            let face = if matches!(boundary, Boundary::Dirichlet(_)) {
                2.0 * k
            } else {
                0.0
            };
            for i in 0..n {
                let mut lhs = (1.0 + ld) * x[i] as f64;
                if i > 0 {
                    lhs += k * (x[i] as f64 - x[i - 1] as f64);
                } else {
                    lhs += face * x[i] as f64;
                }
                if i + 1 < n {
                    lhs += k * (x[i] as f64 - x[i + 1] as f64);
                } else {
                    lhs += face * x[i] as f64;
                }
                assert!(
                    (lhs - r[i] as f64).abs() < 1e-5,
                    "row {i}: {lhs} vs {}",
                    r[i]
                );
            }
        }
    }
}
