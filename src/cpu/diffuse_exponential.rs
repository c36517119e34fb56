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
/// `lines`, for a pass along x, is its propagator laid out by
/// `LinePropagator::new` (the CPU backend keeps one per pass and molecule;
/// without it one is laid out for this call).
pub fn exponential_pass(
    pass: &ExponentialPass,
    matrix: &[f32],
    band: usize,
    lines: Option<&LinePropagator>,
    u: &[f32],
    offset: Option<&[f32]>,
    out: &mut [f32],
) {
    let line = Band {
        n: pass.len,
        half: band,
    };
    if pass.stride == 1 {
        match lines {
            Some(l) => along_lines(line, l, u, offset, out),
            None => along_lines(
                line,
                &LinePropagator::new(pass, matrix, band),
                u,
                offset,
                out,
            ),
        }
    } else {
        across_rows(line, pass.stride, matrix, u, offset, out);
    }
}

/// Longest line whose propagator is laid out whole, by columns (`n^2`
/// values: 1 MiB at 512).
const COLUMNS_MAX_LEN: usize = 512;

/// A pass's propagator along x laid out for the CPU's sums.
pub enum LinePropagator {
    /// `diagonals[d * n + j]` = E[j, j + d - h]: a band narrow enough for
    /// register blocks of outputs inside the line.
    Diagonals(Vec<f32>),
    /// `columns[k * n + j]` = E[j, k], zero outside the band: a band as
    /// wide as a short line, summed for several lines at once.
    Columns(Vec<f32>),
}

impl LinePropagator {
    pub fn new(pass: &ExponentialPass, matrix: &[f32], band: usize) -> Self {
        let line = Band {
            n: pass.len,
            half: band,
        };
        let (n, h) = (line.n, line.half);
        // Every stored entry E[j, k] of the band, put where the layout wants it.
        let fill = |len: usize, at: &dyn Fn(usize, usize) -> usize| {
            let mut values = vec![0f32; len];
            for j in 0..n {
                let (first, stored) = band_window(n, h, j);
                for k in line.around(j) {
                    values[at(j, k)] = matrix[j * stored + k - first];
                }
            }
            values
        };
        let narrow = n >= 2 * h + BLOCK;
        if narrow || !(LANES..=COLUMNS_MAX_LEN).contains(&n) {
            LinePropagator::Diagonals(fill((2 * h + 1) * n, &|j, k| (k + h - j) * n + j))
        } else {
            LinePropagator::Columns(fill(n * n, &|j, k| k * n + j))
        }
    }
}

/// Outputs of one line in a vector step of the column sum.
const LANES: usize = 16;
/// Lines summed together by the column sum (each column entry loaded once
/// for all of them).
const LINES: usize = 4;

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
fn along_lines(
    line: Band,
    layout: &LinePropagator,
    u: &[f32],
    offset: Option<&[f32]>,
    out: &mut [f32],
) {
    let diagonals = match layout {
        LinePropagator::Diagonals(d) => d,
        LinePropagator::Columns(c) => return by_columns(line, c, u, offset, out),
    };
    let (n, h) = (line.n, line.half);
    let width = 2 * h + 1;
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
                diagonal_range(o, 0..n, diagonals, line, src);
            } else {
                for &j in &blocks {
                    let block: &mut [f32; BLOCK] =
                        (&mut o[j..j + BLOCK]).try_into().expect("BLOCK");
                    diagonal_block(block, &diagonals[j..], n, width, &src[j - h..]);
                }
                // The ends of the line, where the band is cut (blocks exist,
                // so n >= 2h + BLOCK).
                for range in [0..h, n - h..n] {
                    diagonal_range(o, range, diagonals, line, src);
                }
            }
            finish(o, offset.map(|c| &c[l * n..(l + 1) * n]));
        });
}

/// Lines of a short axis with a wide band (`LinePropagator::Columns`):
/// LINES lines at a time, LANES outputs of each in registers, summed over
/// the band's columns k in ascending order. A column entry outside output
/// j's band is 0 and adds 0 * u = 0 to its sum, so each output is the
/// banded sum of the other layouts, to the bit (for finite inputs).
fn by_columns(line: Band, columns: &[f32], u: &[f32], offset: Option<&[f32]>, out: &mut [f32]) {
    let (n, h) = (line.n, line.half);
    // Blocks of LANES outputs; the last moved back to end at n (it
    // recomputes a few outputs, to the same bits). n >= LANES here.
    let blocks: Vec<usize> = (0..n - LANES)
        .step_by(LANES)
        .chain(std::iter::once(n - LANES))
        .collect();
    out.par_chunks_mut(n * LINES)
        .with_min_len(MIN_TASK.div_ceil(n * LINES))
        .enumerate()
        .for_each(|(g, o)| {
            let first = g * LINES;
            let src = &u[first * n..first * n + o.len()];
            for &j0 in &blocks {
                let ks = j0.saturating_sub(h)..(j0 + LANES + h).min(n);
                let cols = &columns[ks.start * n + j0..];
                if o.len() == LINES * n {
                    column_block::<LINES>(o, cols, n, ks, src, j0);
                } else {
                    for (l, o) in o.chunks_mut(n).enumerate() {
                        column_block::<1>(o, cols, n, ks.clone(), &src[l * n..(l + 1) * n], j0);
                    }
                }
            }
            for (l, o) in o.chunks_mut(n).enumerate() {
                let line = first + l;
                finish(o, offset.map(|c| &c[line * n..(line + 1) * n]));
            }
        });
}

/// Outputs j0..j0 + LANES of R lines (`out` and `src` hold R lines of n):
/// the sum over columns `ks` of the column entries (`cols` starts at column
/// ks.start, row j0) times each line's input.
#[inline(always)]
fn column_block<const R: usize>(
    out: &mut [f32],
    cols: &[f32],
    n: usize,
    ks: std::ops::Range<usize>,
    src: &[f32],
    j0: usize,
) {
    #[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
    fn sum<const R: usize>(
        acc: &mut [[f32; LANES]; R],
        cols: &[f32],
        n: usize,
        ks: std::ops::Range<usize>,
        src: &[f32],
    ) {
        for (c, k) in ks.enumerate() {
            let e: &[f32; LANES] = cols[c * n..][..LANES].try_into().expect("LANES");
            for (r, a) in acc.iter_mut().enumerate() {
                let s = src[r * n + k];
                for i in 0..LANES {
                    a[i] += e[i] * s;
                }
            }
        }
    }
    let mut acc = [[0f32; LANES]; R];
    sum::<R>(&mut acc, cols, n, ks, src);
    for (r, a) in acc.iter().enumerate() {
        out[r * n + j0..r * n + j0 + LANES].copy_from_slice(a);
    }
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
        // Lines long enough for whole register blocks and a remainder
        // (150), and short lines summed by columns (40, 83 lines: groups
        // of LINES and a remainder).
        for (nx, ny) in [(150usize, 83usize), (40, 83)] {
            let u: Vec<f32> = (0..nx * ny).map(|_| rng.unit() as f32).collect();
            for (axis, n, stride) in [(0, nx, 1), (1, ny, nx)] {
                for half in [0, 1, 3, 12, 40, n - 1].into_iter().filter(|&h| h < n) {
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
                    exponential_pass(&pass, &banded, half, None, &u, None, &mut out);
                    assert_eq!(
                        out,
                        dense(n, stride, &matrix, &u),
                        "axis {axis}, line {n}, band {half}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_lines_with_wide_bands_are_summed_by_columns() {
        let pass = |len: usize| ExponentialPass {
            axis: 0,
            len,
            stride: 1,
            last: false,
            band: [0; crate::backend::plan::MAX_MOLECULES],
            base: [0; crate::backend::plan::MAX_MOLECULES],
        };
        let layout = |n: usize, h: usize| {
            let width = (2 * h + 1).min(n);
            LinePropagator::new(&pass(n), &vec![1.0; n * width], h)
        };
        assert!(matches!(layout(40, 12), LinePropagator::Columns(_)));
        assert!(matches!(layout(125, 124), LinePropagator::Columns(_)));
        assert!(matches!(layout(150, 40), LinePropagator::Diagonals(_)));
        assert!(matches!(layout(2048, 2047), LinePropagator::Diagonals(_)));
    }
}
