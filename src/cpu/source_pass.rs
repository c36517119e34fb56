//! CPU twin of shaders/source_pass.wgsl and shaders/source_add.wgsl: the
//! exact response of the source molecules to their production over one
//! transport, s = V (Phi * (V^T P)) (`backend::plan::SourcePlan`). The GPU
//! applies V^T and V as the plan's dense line passes; the CPU computes the
//! same product with fast transforms, equal to round-off (tested against
//! the dense passes below).

use crate::backend::plan::{SourcePass, SourcePlan};
use crate::model::grid::Grid;
use rayon::prelude::*;
use rustdct::{DctPlanner, TransformType2And3};
use std::sync::Arc;

/// Add each slot's transformed source to its molecule field. The exact
/// source response is >= 0; the f32 transform leaves round-off of either
/// sign where it is near zero, so the sum is held at >= 0.
pub fn source_add(field: &mut [f32], source: &[f32]) {
    field.par_iter_mut().zip(source).for_each(|(u, &s)| {
        let v = *u + s;
        // A NaN stays NaN (the value check reports it).
        *u = if v < 0.0 { 0.0 } else { v };
    });
}

/// The CPU's evaluation of the source transform: the same
/// s = V (Phi * (V^T P)) as the dense passes of the plan (which the GPU
/// runs, and `source_pass` mirrors). Each axis takes the cheaper of two
/// routes (`dense_is_faster`):
/// - fast cosine and sine transforms (DCT-II/III, DST-II/III of rustdct),
///   O(n log n) per line. rustdct's transforms are unnormalised, with type
///   III after type II = (n/2) I along a line of n, so the orthonormal
///   factors fold into the mode integrals once: Phi * prod 2/n_a;
/// - the plan's dense orthonormal matrices, as one matrix product (sgemm)
///   per block of lines: O(n^2) per line, but near the CPU's peak, where a
///   line length with a large prime factor sends rustdct to Bluestein's
///   algorithm (the cohort grid's 83).
pub struct FastSourceTransform {
    dims: [usize; 3],
    /// Per active axis, in the plan's order.
    axes: Vec<AxisTransform>,
    /// Per slot: the sine basis (Dirichlet) or the cosine (no-flux).
    dirichlet: Vec<bool>,
    /// Per slot, per mode: the mode integral with the transforms' scale.
    phi: Vec<Vec<f32>>,
}

/// How the lines along one axis are transformed.
enum AxisTransform {
    Fast {
        axis: usize,
        plan: Arc<dyn TransformType2And3<f32>>,
    },
    /// Per slot, the forward (V^T) and inverse (V) matrices, `len` x `len`
    /// row-major, out[row] = sum_k m[row][k] in[k] along the axis.
    Dense {
        axis: usize,
        forward: Vec<Vec<f32>>,
        inverse: Vec<Vec<f32>>,
    },
}

/// Whether a dense matrix product beats rustdct on lines of `len`: up to
/// 64 always; up to 256 when `len` has a prime factor above 7, for which
/// rustdct falls back to Bluestein's or Rader's algorithm. Measured with
/// `tmesim bench` on square grids (docs/benchmarks.md, "Source
/// transform": the transport stage 1.7-2.3x faster dense at 83, 127, 151
/// and 251; even at 40 and 64; rustdct faster at 125 and 128). The rule
/// depends on the length alone, so a run gives the same bits on any CPU.
pub fn dense_is_faster(len: usize) -> bool {
    let mut rest = len;
    for p in [2, 3, 5, 7] {
        while rest > 1 && rest.is_multiple_of(p) {
            rest /= p;
        }
    }
    len <= 64 || (len <= 256 && rest > 1)
}

impl FastSourceTransform {
    pub fn new(plan: &SourcePlan, grid: &Grid) -> Self {
        Self::with_rule(plan, grid, dense_is_faster)
    }

    /// As `new`, with `dense(len)` choosing the route of each axis.
    pub fn with_rule(plan: &SourcePlan, grid: &Grid, dense: impl Fn(usize) -> bool) -> Self {
        let dims = grid.dims();
        let mut planner = DctPlanner::new();
        // The plan's passes: forward ones (one per active axis), then the
        // inverse ones in the same order.
        let forward_passes = plan.passes.len() / 2;
        let axes: Vec<AxisTransform> = plan.passes[..forward_passes]
            .iter()
            .zip(&plan.passes[forward_passes..])
            .map(|(fwd, inv)| {
                let (axis, len) = (fwd.axis, fwd.len);
                if dense(len) {
                    let matrix = |pass: &SourcePass, slot: usize| {
                        let at = pass.base[slot] as usize;
                        plan.matrices[at..at + len * len].to_vec()
                    };
                    let slots = 0..plan.fields.len();
                    AxisTransform::Dense {
                        axis,
                        forward: slots.clone().map(|s| matrix(fwd, s)).collect(),
                        inverse: slots.map(|s| matrix(inv, s)).collect(),
                    }
                } else {
                    AxisTransform::Fast {
                        axis,
                        plan: planner.plan_dct2(len),
                    }
                }
            })
            .collect();
        let scale: f64 = axes
            .iter()
            .map(|a| match a {
                AxisTransform::Fast { axis, .. } => 2.0 / dims[*axis] as f64,
                AxisTransform::Dense { .. } => 1.0,
            })
            .product();
        let n = grid.len();
        let phi = (0..plan.fields.len())
            .map(|slot| {
                plan.phi[slot * n..(slot + 1) * n]
                    .iter()
                    .map(|&f| (f as f64 * scale) as f32)
                    .collect()
            })
            .collect();
        Self {
            dims,
            axes,
            dirichlet: plan.dirichlet.clone(),
            phi,
        }
    }

    /// Replace each slot's production in `sources` (slot after slot) by its
    /// response over the transport. Slots run in parallel; a dense axis
    /// is one matrix product per block, a fast one parallel over lines.
    pub fn apply(&self, sources: &mut [f32]) {
        let n: usize = self.dims.iter().product();
        sources
            .par_chunks_mut(n)
            .enumerate()
            .for_each_init(Vec::new, |out, (slot, data)| {
                out.resize(n, 0.0);
                self.transform(data, out, slot, false);
                for (v, &f) in data.iter_mut().zip(&self.phi[slot]) {
                    *v *= f;
                }
                self.transform(data, out, slot, true);
            });
    }

    /// Into the eigenbasis (`back` false) or back, along every active axis:
    /// sine with Dirichlet faces, cosine without. `out` is scratch of the
    /// field's size.
    fn transform(&self, data: &mut [f32], out: &mut [f32], slot: usize, back: bool) {
        let sine = self.dirichlet[slot];
        for axis in &self.axes {
            match axis {
                AxisTransform::Fast { axis, plan } => {
                    let line = |line: &mut [f32], scratch: &mut [f32]| match (sine, back) {
                        (false, false) => plan.process_dct2_with_scratch(line, scratch),
                        (false, true) => plan.process_dct3_with_scratch(line, scratch),
                        (true, false) => plan.process_dst2_with_scratch(line, scratch),
                        (true, true) => plan.process_dst3_with_scratch(line, scratch),
                    };
                    along_axis(self.dims, *axis, data, plan.get_scratch_len(), &line);
                }
                AxisTransform::Dense {
                    axis,
                    forward,
                    inverse,
                } => {
                    let m = if back { &inverse[slot] } else { &forward[slot] };
                    dense_along_axis(self.dims, *axis, m, data, out);
                    data.copy_from_slice(out);
                }
            }
        }
    }
}

/// out = m applied along `axis` of `data` (shape `dims`, x fastest):
/// out[.., pos, ..] = sum_k m[pos][k] data[.., k, ..], as matrix products.
/// Along x the field is a (lines x len) matrix D and out = D m^T; along
/// another axis each block of `len` rows of `stride` values is a matrix A
/// and out = m A.
fn dense_along_axis(dims: [usize; 3], axis: usize, m: &[f32], data: &[f32], out: &mut [f32]) {
    let len = dims[axis];
    let stride: usize = dims[..axis].iter().product();
    assert_eq!(m.len(), len * len);
    assert_eq!(data.len(), out.len());
    assert_eq!(data.len() % (len * stride), 0);
    let (l, s) = (len as isize, stride as isize);
    if stride == 1 {
        let lines = data.len() / len;
        // SAFETY: D is lines x len with strides (len, 1), m^T is len x len
        // read through strides (1, len), out is lines x len: every index
        // the product touches is inside its slice (asserted above).
        unsafe {
            matrixmultiply::sgemm(
                lines,
                len,
                len,
                1.0,
                data.as_ptr(),
                l,
                1,
                m.as_ptr(),
                1,
                l,
                0.0,
                out.as_mut_ptr(),
                l,
                1,
            );
        }
        return;
    }
    for (a, o) in data
        .chunks_exact(len * stride)
        .zip(out.chunks_exact_mut(len * stride))
    {
        // SAFETY: m is len x len (strides len, 1), A and the output block
        // are len x stride (strides stride, 1), each inside its chunk.
        unsafe {
            matrixmultiply::sgemm(
                len,
                len,
                stride,
                1.0,
                m.as_ptr(),
                l,
                1,
                a.as_ptr(),
                s,
                1,
                0.0,
                o.as_mut_ptr(),
                s,
                1,
            );
        }
    }
}

/// Apply `f` to every line of `data` (shape `dims`, x fastest) along
/// `axis`, in parallel; lines across memory are gathered into contiguous
/// rows and scattered back.
fn along_axis(
    dims: [usize; 3],
    axis: usize,
    data: &mut [f32],
    scratch_len: usize,
    f: &(dyn Fn(&mut [f32], &mut [f32]) + Sync),
) {
    let len = dims[axis];
    let stride: usize = dims[..axis].iter().product();
    if stride == 1 {
        data.par_chunks_mut(len)
            .for_each_init(|| vec![0.0; scratch_len], |s, line| f(line, s));
        return;
    }
    // Layout [outer][pos][inner] -> lines [outer][inner][pos] and back.
    let block = len * stride;
    let mut lines = vec![0.0f32; data.len()];
    lines.par_chunks_mut(len).enumerate().for_each_init(
        || vec![0.0; scratch_len],
        |s, (l, line)| {
            let (outer, inner) = (l / stride, l % stride);
            for (pos, v) in line.iter_mut().enumerate() {
                *v = data[outer * block + pos * stride + inner];
            }
            f(line, s);
        },
    );
    data.par_chunks_mut(stride)
        .enumerate()
        .for_each(|(row, out)| {
            let (outer, pos) = (row / len, row % len);
            for (inner, v) in out.iter_mut().enumerate() {
                *v = lines[(outer * stride + inner) * len + pos];
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::plan::{SourcePass, TransportPlan};

    /// The GPU's pass (shaders/source_pass.wgsl) written out: each output
    /// the ascending sum over its line of the slot's dense matrix, times
    /// the mode integrals on the scaling pass.
    fn dense_pass(pass: &SourcePass, plan: &SourcePlan, n: usize, src: &[f32]) -> Vec<f32> {
        let (len, stride) = (pass.len, pass.stride);
        (0..src.len())
            .map(|i| {
                let (slot, local) = (i / n, i % n);
                let pos = (local / stride) % len;
                let start = i - pos * stride;
                let row = pass.base[slot] as usize + pos * len;
                let acc: f32 = (0..len)
                    .map(|k| plan.matrices[row + k] * src[start + k * stride])
                    .sum();
                if pass.scale {
                    acc * plan.phi[slot * n + local]
                } else {
                    acc
                }
            })
            .collect()
    }

    /// Both CPU routes give the dense passes' result (the GPU's sums) to
    /// f32 round-off, for no-flux and Dirichlet slots, in 2D and 3D.
    #[test]
    fn dense_products_where_rustdct_would_use_bluestein() {
        // Short lines, and lengths up to 256 with a prime factor above 7.
        for len in [1, 7, 47, 64, 83, 127, 151, 251] {
            assert!(dense_is_faster(len), "{len}");
        }
        for len in [72, 125, 128, 160, 256, 257, 2 * 131] {
            assert!(!dense_is_faster(len), "{len}");
        }
    }

    #[test]
    fn fast_transforms_equal_the_dense_passes() {
        for (grid, boundary) in [
            ("nx = 12\nny = 9\nnz = 1", ""),
            ("nx = 7\nny = 6\nnz = 5", ""),
            (
                "nx = 10\nny = 8\nnz = 1",
                "[fields.adenosine]\nboundary = { dirichlet = 2.0 }\n",
            ),
        ] {
            let toml = format!("[grid]\n{grid}\ndx_um = 20\n{boundary}");
            let config =
                crate::config::load::parse_config(&toml, std::path::Path::new("t.toml"), &[])
                    .unwrap();
            let spec = crate::config::resolve::resolve(
                config.clone(),
                &config,
                std::path::Path::new("t.toml"),
            )
            .unwrap();
            let plan = TransportPlan::new(&spec);
            let sp = &plan.sources;
            assert!(!sp.fields.is_empty());
            let n = spec.grid.len();
            let input: Vec<f32> = (0..n * sp.fields.len())
                .map(|i| ((i * 7919) % 97) as f32 * if i % 5 == 0 { 10.0 } else { 0.1 })
                .collect();
            let mut a = input.clone();
            for pass in &sp.passes {
                a = dense_pass(pass, sp, n, &a);
            }
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            // Every axis by rustdct, every axis by matrix products, and
            // the shipped choice.
            type Rule = fn(usize) -> bool;
            let rules: [(&str, Rule); 3] = [
                ("fast", |_| false),
                ("dense", |_| true),
                ("shipped", dense_is_faster),
            ];
            for (route, rule) in rules {
                let mut fast = input.clone();
                FastSourceTransform::with_rule(sp, &spec.grid, rule).apply(&mut fast);
                let err = a
                    .iter()
                    .zip(&fast)
                    .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    err <= 1e-5 * scale,
                    "{grid} {boundary} {route}: {err:e} of {scale:e}"
                );
            }
        }
    }
}
