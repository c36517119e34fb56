//! CPU twin of shaders/diffuse_sweep.wgsl: one implicit sweep along an axis,
//! solving every grid line with the precomputed Thomas factors. On the last
//! sweep (`apply` = 1) the increment is added to the field.

use crate::model::grid::{Grid, TransportUniform};
use crate::model::thomas::thomas_solve;
use rayon::prelude::*;

/// Solve all lines along `t.axis` in place in `r`; add to `u` when `t.apply`.
pub fn diffuse_sweep(
    grid: &Grid,
    t: &TransportUniform,
    coef: &[f32],
    r: &mut [f32],
    u: &mut [f32],
) {
    let axis = t.axis as usize;
    let n = grid.dims()[axis];
    let off = t.coef_offset as usize;
    let (cp, inv) = (&coef[off..off + n], &coef[off + n..off + 2 * n]);
    let lines = grid.line_count(axis);
    // Lines are disjoint sets of voxels, so each is solved independently
    // (one GPU thread per line); gather/scatter keeps the CPU code safe.
    let solved: Vec<Vec<f32>> = (0..lines)
        .into_par_iter()
        .map(|l| {
            let (start, stride) = grid.line_start(axis, l);
            let mut line: Vec<f32> = (0..n).map(|i| r[start + i * stride]).collect();
            thomas_solve(&mut line, t.k, cp, inv);
            line
        })
        .collect();
    for (l, line) in solved.iter().enumerate() {
        let (start, stride) = grid.line_start(axis, l);
        for (i, d) in line.iter().enumerate() {
            let j = start + i * stride;
            r[j] = *d;
            if t.apply == 1 {
                u[j] += *d;
            }
        }
    }
}
