//! CPU twin of shaders/diffuse_exponential.wgsl: one pass of the exact
//! transport, out = E u along one axis (+ the Dirichlet offset on the last
//! pass). Each output is the same ascending sum over the line as on the
//! GPU, written as updates of whole rows or lines so that the inner loops
//! vectorise and stream through memory. Only the propagator's band (the
//! entries within `band` of the diagonal; the rest are zero) is visited,
//! as on the GPU.

use crate::backend::plan::{band_window, ExponentialPass};
use multiversion::multiversion;
use rayon::prelude::*;

/// Rows of at least this many values make one rayon task.
const MIN_TASK: usize = 4096;

/// Outputs summed in registers over the whole band before they are
/// stored (a multiple of every SIMD width): each term then costs one load
/// of its input, not a load and a store of the output as well.
const BLOCK: usize = 64;

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
    // Register blocks of outputs whose band lies inside the line, [h, n - h):
    // every BLOCK from h, the last one moved back to end at n - h (it
    // recomputes a few outputs, to the same bits).
    let blocks: Vec<usize> = match n.checked_sub(2 * h + BLOCK) {
        Some(room) => (h..=h + room)
            .step_by(BLOCK)
            .chain(std::iter::once(h + room))
            .collect(),
        None => Vec::new(),
    };
    out.par_chunks_mut(n)
        .with_min_len(MIN_TASK.div_ceil(n))
        .enumerate()
        .for_each(|(l, o)| {
            let src = &u[l * n..(l + 1) * n];
            if blocks.is_empty() {
                diagonal_range(o, 0..n, &diagonals, line, src);
            } else {
                for &j in &blocks {
                    let block: &mut [f32; BLOCK] =
                        (&mut o[j..j + BLOCK]).try_into().expect("BLOCK");
                    diagonal_block(block, &diagonals[j..], n, width, &src[j - h..]);
                }
                // The ends of the line, where the band is cut (blocks exist,
                // so n >= 2h + BLOCK).
                for range in [0..h, n - h..n] {
                    diagonal_range(o, range, &diagonals, line, src);
                }
            }
            finish(o, offset.map(|c| &c[l * n..(l + 1) * n]));
        });
}

/// Outputs j..j + BLOCK of a line whose band lies inside it: `diagonals`
/// starts at diagonal 0's entry j (diagonal d at `d * n`), `src` at input
/// j - h. The terms come in ascending d, so in ascending input index.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn diagonal_block(out: &mut [f32; BLOCK], diagonals: &[f32], n: usize, width: usize, src: &[f32]) {
    let mut acc = [0f32; BLOCK];
    for d in 0..width {
        let e: &[f32; BLOCK] = diagonals[d * n..][..BLOCK].try_into().expect("BLOCK");
        let s: &[f32; BLOCK] = src[d..][..BLOCK].try_into().expect("BLOCK");
        for i in 0..BLOCK {
            acc[i] += e[i] * s[i];
        }
    }
    *out = acc;
}

/// Outputs `range` of a line, one diagonal at a time over the range (each
/// diagonal cut to the outputs whose input lies in the line).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn diagonal_range(
    o: &mut [f32],
    range: std::ops::Range<usize>,
    diagonals: &[f32],
    line: Band,
    src: &[f32],
) {
    let (n, h) = (line.n, line.half);
    o[range.clone()].fill(0.0);
    for d in 0..2 * h + 1 {
        // Outputs j in `range` with 0 <= j + d - h < n.
        let first = range.start.max(h.saturating_sub(d));
        let last = range.end.min((n + h).saturating_sub(d));
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
            let weights = &matrix[j * width + ks.start - first..j * width + ks.end - first];
            let rows = &u[(block * n + ks.start) * inner..(block * n + ks.end) * inner];
            weighted_rows(o, weights, rows);
            finish(o, offset.map(|c| &c[row * inner..(row + 1) * inner]));
        });
}

/// `out` = sum_k weights[k] * row k of `rows` (rows of `out.len()` values,
/// back to back), in ascending k, `BLOCK` outputs at a time in registers.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn weighted_rows(out: &mut [f32], weights: &[f32], rows: &[f32]) {
    let inner = out.len();
    let mut blocks = out.chunks_exact_mut(BLOCK);
    for (b, block) in blocks.by_ref().enumerate() {
        let mut acc = [0f32; BLOCK];
        for (k, &w) in weights.iter().enumerate() {
            let s: &[f32; BLOCK] = rows[k * inner + b * BLOCK..][..BLOCK]
                .try_into()
                .expect("BLOCK");
            for i in 0..BLOCK {
                acc[i] += w * s[i];
            }
        }
        block.copy_from_slice(&acc);
    }
    let tail = blocks.into_remainder();
    let start = inner - tail.len();
    tail.fill(0.0);
    for (k, &w) in weights.iter().enumerate() {
        let s = &rows[k * inner + start..(k + 1) * inner];
        tail.iter_mut().zip(s).for_each(|(o, &s)| *o += w * s);
    }
}

/// Add the Dirichlet offset, if any, then set values of magnitude below the
/// smallest normal f32 (1.2e-38) to 0, as the shader does: far tails of a
/// concentration carry no meaning there, and subnormal operands run many
/// times slower in the next pass on CPUs.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn finish(values: &mut [f32], offset: Option<&[f32]>) {
    if let Some(c) = offset {
        values.iter_mut().zip(c).for_each(|(v, &c)| *v += c);
    }
    values.iter_mut().for_each(|v| {
        *v = if v.abs() < f32::MIN_POSITIVE { 0.0 } else { *v };
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
        // Lines long enough for whole register blocks and a remainder.
        let (nx, ny): (usize, usize) = (150, 83);
        let u: Vec<f32> = (0..nx * ny).map(|_| rng.unit() as f32).collect();
        for (axis, n, stride) in [(0, nx, 1), (1, ny, nx)] {
            for half in [0, 1, 3, 40, n - 1] {
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
