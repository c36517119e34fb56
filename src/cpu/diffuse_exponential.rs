//! CPU twin of shaders/diffuse_exponential.wgsl: one pass of the exact
//! transport, out = E u along one axis (+ the Dirichlet offset on the last
//! pass). Each output is the same ascending sum over the line as on the
//! GPU, written as row updates so the strided axes stream through memory.

use crate::sim::plan::ExponentialPass;
use rayon::prelude::*;

/// Rows of at least this many values make one rayon task.
const MIN_TASK: usize = 4096;

/// `out` = `matrix` (len x len, row-major) applied along the pass's axis
/// of `u`, plus `offset` when given.
pub fn exponential_pass(
    pass: &ExponentialPass,
    matrix: &[f32],
    u: &[f32],
    offset: Option<&[f32]>,
    out: &mut [f32],
) {
    let (n, inner) = (pass.len, pass.stride);
    out.par_chunks_mut(inner)
        .with_min_len(MIN_TASK.div_ceil(inner))
        .enumerate()
        .for_each(|(row, o)| {
            // Output row `row` is line position j of block `outer`.
            let (outer, j) = (row / n, row % n);
            let weights = &matrix[j * n..(j + 1) * n];
            if inner == 1 {
                // Along x the line is contiguous: one dot product.
                let line = &u[outer * n..(outer + 1) * n];
                o[0] = weights
                    .iter()
                    .zip(line)
                    .fold(0.0, |acc, (&w, &s)| acc + w * s);
            } else {
                o.fill(0.0);
                for (k, &w) in weights.iter().enumerate() {
                    let src = &u[(outer * n + k) * inner..][..inner];
                    o.iter_mut().zip(src).for_each(|(o, &s)| *o += w * s);
                }
            }
            if let Some(c) = offset {
                let at = row * inner;
                o.iter_mut()
                    .zip(&c[at..at + inner])
                    .for_each(|(o, &c)| *o += c);
            }
        });
}
