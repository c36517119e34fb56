//! CPU twin of shaders/diffuse_exponential.wgsl: one pass of the exact
//! transport, out = E u along one axis (+ the Dirichlet offset on the last
//! pass). Each output is the same ascending sum over the line as on the
//! GPU, written as updates of whole rows or lines so that the inner loops
//! vectorise and stream through memory. Only the propagator's band (the
//! entries within `band` of the diagonal; the rest are zero) is visited,
//! as on the GPU.

use crate::backend::plan::{band_window, ExponentialPass};
use rayon::prelude::*;

/// Rows of at least this many values make one rayon task.
const MIN_TASK: usize = 4096;

/// `out` = the propagator applied along the pass's axis of `u`, plus
/// `offset` when given. `matrix` is the banded propagator: row j holds the
/// entries k = j - band ..= j + band (see `ExponentialPass`).
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

/// Contiguous lines (x, or a 1D grid), one diagonal of the band at a time:
/// `out[j] += E[j, j + d] * u[j + d]` for d = -h..=h over the whole line
/// (long loops that vectorise, even for a narrow band). For each output
/// the terms still come in ascending k = j + d, as on the GPU.
fn along_lines(line: Band, matrix: &[f32], u: &[f32], offset: Option<&[f32]>, out: &mut [f32]) {
    let (n, h) = (line.n, line.half);
    let width = 2 * h + 1;
    // diagonals[d * n + j] = E[j, j + d - h], from row j's stored window.
    let mut diagonals = vec![0f32; width * n];
    for j in 0..n {
        let (first, stored) = band_window(n, h, j);
        for k in line.around(j) {
            diagonals[(k + h - j) * n + j] = matrix[j * stored + k - first];
        }
    }
    out.par_chunks_mut(n)
        .with_min_len(MIN_TASK.div_ceil(n))
        .enumerate()
        .for_each(|(l, o)| {
            let src = &u[l * n..(l + 1) * n];
            o.fill(0.0);
            for d in 0..width {
                // Outputs j with 0 <= j + d - h < n.
                let (first, last) = (h.saturating_sub(d), (n + h).saturating_sub(d).min(n));
                if first >= last {
                    continue;
                }
                let diagonal = &diagonals[d * n + first..d * n + last];
                let inputs = &src[first + d - h..last + d - h];
                o[first..last]
                    .iter_mut()
                    .zip(diagonal.iter().zip(inputs))
                    .for_each(|(o, (&e, &s))| *o += e * s);
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
            let (first, width) = band_window(n, line.half, j);
            let ks = line.around(j);
            o.fill(0.0);
            for k in ks {
                let w = matrix[j * width + k - first];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rng::SplitMix64;

    /// The dense product with ascending k, skipping nothing: the order the
    /// shader sums in.
    fn dense(n: usize, stride: usize, matrix: &[f32], u: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; u.len()];
        for (i, o) in out.iter_mut().enumerate() {
            let pos = (i / stride) % n;
            let start = i - pos * stride;
            let mut acc = 0.0f32;
            for k in 0..n {
                acc += matrix[pos * n + k] * u[start + k * stride];
            }
            *o = acc;
        }
        out
    }

    #[test]
    fn banded_passes_equal_the_dense_product_bit_for_bit() {
        let mut rng = SplitMix64(7);
        let (nx, ny): (usize, usize) = (13, 9);
        let u: Vec<f32> = (0..nx * ny).map(|_| rng.unit() as f32).collect();
        for (axis, n, stride) in [(0, nx, 1), (1, ny, nx)] {
            for half in [0, 1, 3, n - 1] {
                let matrix: Vec<f32> = (0..n * n)
                    .map(|e| {
                        let v = rng.unit() as f32;
                        if (e / n).abs_diff(e % n) > half {
                            0.0
                        } else {
                            v
                        }
                    })
                    .collect();
                let pass = ExponentialPass {
                    axis,
                    len: n,
                    stride,
                    last: false,
                    band: [0; crate::backend::plan::MAX_MOLECULES],
                    base: [0; crate::backend::plan::MAX_MOLECULES],
                };
                // The stored windows of the band rows.
                let banded: Vec<f32> = (0..n)
                    .flat_map(|j| {
                        let (first, width) = band_window(n, half, j);
                        matrix[j * n + first..j * n + first + width].to_vec()
                    })
                    .collect();
                let mut out = vec![0f32; u.len()];
                exponential_pass(&pass, &banded, half, &u, None, &mut out);
                assert_eq!(
                    out,
                    dense(n, stride, &matrix, &u),
                    "axis {axis}, band {half}"
                );
            }
        }
    }
}
