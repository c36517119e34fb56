//! CPU twin of shaders/diffuse_exponential.wgsl: one pass of the exact
//! transport, out = E u along one axis (+ the Dirichlet offset on the last
//! pass). Each output is the same ascending sum over the line as on the
//! GPU, written as updates of whole rows or lines so that the inner loops
//! vectorise and stream through memory.

use crate::backend::plan::ExponentialPass;
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
    if pass.stride == 1 {
        along_lines(pass.len, matrix, u, offset, out);
    } else {
        across_rows(pass.len, pass.stride, matrix, u, offset, out);
    }
}

/// Contiguous lines (x, or a 1D grid): each output line is
/// sum_k column_k(E) * u_k, accumulated over k in ascending order.
fn along_lines(n: usize, matrix: &[f32], u: &[f32], offset: Option<&[f32]>, out: &mut [f32]) {
    let mut columns = vec![0f32; n * n];
    for j in 0..n {
        for k in 0..n {
            columns[k * n + j] = matrix[j * n + k];
        }
    }
    out.par_chunks_mut(n)
        .with_min_len(MIN_TASK.div_ceil(n))
        .enumerate()
        .for_each(|(line, o)| {
            let src = &u[line * n..(line + 1) * n];
            o.fill(0.0);
            for (k, &s) in src.iter().enumerate() {
                let column = &columns[k * n..(k + 1) * n];
                o.iter_mut().zip(column).for_each(|(o, &e)| *o += e * s);
            }
            if let Some(c) = offset {
                o.iter_mut().zip(&c[line * n..]).for_each(|(o, &c)| *o += c);
            }
        });
}

/// Strided axes: output row (block, j) is sum_k E[j, k] * row (block, k),
/// whole rows of `inner` values at a time.
fn across_rows(
    n: usize,
    inner: usize,
    matrix: &[f32],
    u: &[f32],
    offset: Option<&[f32]>,
    out: &mut [f32],
) {
    out.par_chunks_mut(inner)
        .with_min_len(MIN_TASK.div_ceil(inner))
        .enumerate()
        .for_each(|(row, o)| {
            let (block, j) = (row / n, row % n);
            let weights = &matrix[j * n..(j + 1) * n];
            o.fill(0.0);
            for (k, &w) in weights.iter().enumerate() {
                let src = &u[(block * n + k) * inner..][..inner];
                o.iter_mut().zip(src).for_each(|(o, &s)| *o += w * s);
            }
            if let Some(c) = offset {
                let at = row * inner;
                o.iter_mut()
                    .zip(&c[at..at + inner])
                    .for_each(|(o, &c)| *o += c);
            }
        });
}
