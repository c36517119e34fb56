//! CPU twin of shaders/diffuse_exponential.wgsl: one pass of the exact
//! transport, out = E u along one axis (+ the Dirichlet offset on the last
//! pass). Each output is the same ascending sum over the line as on the
//! GPU, written as updates of whole rows or lines so that the inner loops
//! vectorise and stream through memory. Only the propagator's band (the
//! entries within `band` of the diagonal; the rest are zero) is visited,
//! as on the GPU.

use crate::backend::plan::ExponentialPass;
use rayon::prelude::*;

/// Rows of at least this many values make one rayon task.
const MIN_TASK: usize = 4096;

/// `out` = `matrix` (len x len, row-major, zero beyond `band` of the
/// diagonal) applied along the pass's axis of `u`, plus `offset` when given.
pub fn exponential_pass(
    pass: &ExponentialPass,
    matrix: &[f32],
    band: usize,
    u: &[f32],
    offset: Option<&[f32]>,
    out: &mut [f32],
) {
    let line = Band {
        n: pass.len,
        half: band,
    };
    if pass.stride == 1 {
        along_lines(line, matrix, u, offset, out);
    } else {
        across_rows(line, pass.stride, matrix, u, offset, out);
    }
}

/// A line of `n` values and the half-width of its propagator's band.
#[derive(Clone, Copy)]
struct Band {
    n: usize,
    half: usize,
}

impl Band {
    /// The indices within the band of `k`.
    fn around(&self, k: usize) -> std::ops::Range<usize> {
        k.saturating_sub(self.half)..(k + self.half + 1).min(self.n)
    }
}

/// Contiguous lines (x, or a 1D grid): each output line is
/// sum_k column_k(E) * u_k, accumulated over k in ascending order.
fn along_lines(line: Band, matrix: &[f32], u: &[f32], offset: Option<&[f32]>, out: &mut [f32]) {
    let n = line.n;
    let mut columns = vec![0f32; n * n];
    for j in 0..n {
        for k in 0..n {
            columns[k * n + j] = matrix[j * n + k];
        }
    }
    out.par_chunks_mut(n)
        .with_min_len(MIN_TASK.div_ceil(n))
        .enumerate()
        .for_each(|(l, o)| {
            let src = &u[l * n..(l + 1) * n];
            o.fill(0.0);
            for (k, &s) in src.iter().enumerate() {
                let rows = line.around(k);
                let column = &columns[k * n + rows.start..k * n + rows.end];
                o[rows]
                    .iter_mut()
                    .zip(column)
                    .for_each(|(o, &e)| *o += e * s);
            }
            if let Some(c) = offset {
                o.iter_mut().zip(&c[l * n..]).for_each(|(o, &c)| *o += c);
            }
            flush_subnormals(o);
        });
}

/// Strided axes: output row (block, j) is sum_k E[j, k] * row (block, k),
/// whole rows of `inner` values at a time.
fn across_rows(
    line: Band,
    inner: usize,
    matrix: &[f32],
    u: &[f32],
    offset: Option<&[f32]>,
    out: &mut [f32],
) {
    let n = line.n;
    out.par_chunks_mut(inner)
        .with_min_len(MIN_TASK.div_ceil(inner))
        .enumerate()
        .for_each(|(row, o)| {
            let (block, j) = (row / n, row % n);
            let ks = line.around(j);
            o.fill(0.0);
            for k in ks {
                let w = matrix[j * n + k];
                let src = &u[(block * n + k) * inner..][..inner];
                o.iter_mut().zip(src).for_each(|(o, &s)| *o += w * s);
            }
            if let Some(c) = offset {
                let at = row * inner;
                o.iter_mut()
                    .zip(&c[at..at + inner])
                    .for_each(|(o, &c)| *o += c);
            }
            flush_subnormals(o);
        });
}

/// Values of magnitude below the smallest normal f32 (1.2e-38) become 0, as
/// in the shader: far tails of a concentration carry no meaning there, and
/// subnormal operands run many times slower in the next pass on CPUs.
fn flush_subnormals(values: &mut [f32]) {
    values.iter_mut().for_each(|v| {
        if v.abs() < f32::MIN_POSITIVE {
            *v = 0.0;
        }
    });
}
