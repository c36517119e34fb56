//! CPU twin of shaders/source_pass.wgsl and shaders/source_add.wgsl: the
//! exact response of the source molecules to their production over one
//! transport, s = V (Phi * (V^T P)) (`backend::plan::SourcePlan`). Each
//! output is the same ascending sum over its line as on the GPU.

use crate::backend::plan::{SourcePass, SourcePlan};
use crate::model::grid::Grid;
use multiversion::multiversion;
use rayon::prelude::*;
use rustdct::{DctPlanner, TransformType2And3};
use std::sync::Arc;

/// One pass for every slot: `dst` = the slot's matrix applied along the
/// pass's axis of `src` (slots laid one after another, `n` values each),
/// times the mode integrals when the pass scales. `transposed` holds, for a
/// pass along x, each slot's matrix transposed (so the sum over a line runs
/// down contiguous columns).
pub fn source_pass(
    pass: &SourcePass,
    plan: &SourcePlan,
    transposed: Option<&[Vec<f32>]>,
    n: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let len = pass.len;
    for slot in 0..plan.fields.len() {
        let at = pass.base[slot] as usize;
        let m = &plan.matrices[at..at + len * len];
        let input = &src[slot * n..(slot + 1) * n];
        let out = &mut dst[slot * n..(slot + 1) * n];
        match transposed {
            Some(t) => along_x(&t[slot], len, input, out),
            None => across_rows(m, len, pass.stride, input, out),
        }
        if pass.scale {
            let phi = &plan.phi[slot * n..(slot + 1) * n];
            out.par_iter_mut().zip(phi).for_each(|(o, &f)| *o *= f);
        }
    }
}

/// Lines along x: out[k] = sum over ascending i of m[k][i] in[i], with
/// `t` = m transposed (row i of t holds column i of m).
fn along_x(t: &[f32], len: usize, input: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(len)
        .zip(input.par_chunks(len))
        .for_each(|(o, line)| {
            o.fill(0.0);
            for (i, &x) in line.iter().enumerate() {
                axpy(o, &t[i * len..(i + 1) * len], x);
            }
        });
}

/// acc += e * x, compiled for the widest SIMD the CPU has.
#[multiversion(targets = "simd")]
fn axpy(acc: &mut [f32], e: &[f32], x: f32) {
    for (a, &m) in acc.iter_mut().zip(e) {
        *a += m * x;
    }
}

/// Lines along y or z (neighbours `stride` apart): each output row k of a
/// block is the sum over ascending j of m[k][j] times input row j.
fn across_rows(m: &[f32], len: usize, stride: usize, input: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(stride).enumerate().for_each(|(row, o)| {
        let (block, k) = (row / len, row % len);
        let rows = &input[block * len * stride..(block + 1) * len * stride];
        o.fill(0.0);
        for (j, r) in rows.chunks(stride).enumerate() {
            let e = m[k * len + j];
            for (acc, &x) in o.iter_mut().zip(r) {
                *acc += e * x;
            }
        }
    });
}

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

/// Each slot's matrix of a pass along x, transposed (see `source_pass`).
pub fn transposed(pass: &SourcePass, plan: &SourcePlan) -> Vec<Vec<f32>> {
    let len = pass.len;
    (0..plan.fields.len())
        .map(|slot| {
            let at = pass.base[slot] as usize;
            let m = &plan.matrices[at..at + len * len];
            (0..len * len)
                .map(|e| m[(e % len) * len + e / len])
                .collect()
        })
        .collect()
}

/// The CPU's evaluation of the source transform: the same
/// s = V (Phi * (V^T P)) as the dense passes of the plan (which the GPU
/// runs, and `source_pass` mirrors), computed with fast cosine and sine
/// transforms (DCT-II/III, DST-II/III of rustdct): O(n log n) per line
/// instead of n^2. rustdct's transforms are unnormalised, with
/// type III after type II = (n/2) I along a line of n, so the
/// orthonormal factors fold into the mode integrals once: Phi * prod 2/n_a.
pub struct FastSourceTransform {
    dims: [usize; 3],
    axes: Vec<usize>,
    /// Per active axis: the transforms of its line length.
    plans: Vec<Arc<dyn TransformType2And3<f32>>>,
    /// Per slot: the sine basis (Dirichlet) or the cosine (no-flux).
    dirichlet: Vec<bool>,
    /// Per slot, per mode: the mode integral with the transforms' scale.
    phi: Vec<Vec<f32>>,
}

impl FastSourceTransform {
    pub fn new(plan: &SourcePlan, grid: &Grid) -> Self {
        let dims = grid.dims();
        let axes = grid.active_axes();
        let mut planner = DctPlanner::new();
        let plans = axes.iter().map(|&a| planner.plan_dct2(dims[a])).collect();
        let scale: f64 = axes.iter().map(|&a| 2.0 / dims[a] as f64).product();
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
            plans,
            dirichlet: plan.dirichlet.clone(),
            phi,
        }
    }

    /// Replace each slot's production in `sources` (slot after slot) by its
    /// response over the transport.
    pub fn apply(&self, sources: &mut [f32]) {
        let n: usize = self.dims.iter().product();
        for (slot, data) in sources.chunks_mut(n).enumerate() {
            let sine = self.dirichlet[slot];
            self.transform(data, sine, false);
            data.par_iter_mut()
                .zip(&self.phi[slot])
                .for_each(|(v, &f)| *v *= f);
            self.transform(data, sine, true);
        }
    }

    /// Type II (into the eigenbasis) or type III (back) transforms of
    /// `data` along every active axis: sine with Dirichlet faces, cosine
    /// without.
    fn transform(&self, data: &mut [f32], sine: bool, back: bool) {
        for (plan, &axis) in self.plans.iter().zip(&self.axes) {
            let line = |line: &mut [f32], scratch: &mut [f32]| match (sine, back) {
                (false, false) => plan.process_dct2_with_scratch(line, scratch),
                (false, true) => plan.process_dct3_with_scratch(line, scratch),
                (true, false) => plan.process_dst2_with_scratch(line, scratch),
                (true, true) => plan.process_dst3_with_scratch(line, scratch),
            };
            along_axis(self.dims, axis, data, plan.get_scratch_len(), &line);
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
    use crate::backend::plan::TransportPlan;

    /// The fast transforms give the dense passes' result (the GPU's sums)
    /// to f32 round-off, for no-flux and Dirichlet slots, in 2D and 3D.
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
            let mut b = vec![0.0; a.len()];
            for (k, pass) in sp.passes.iter().enumerate() {
                let (src, dst) = if k % 2 == 0 {
                    (&a, &mut b)
                } else {
                    (&b, &mut a)
                };
                let t = (pass.stride == 1).then(|| transposed(pass, sp));
                source_pass(pass, sp, t.as_deref(), n, src, dst);
            }
            let mut fast = input.clone();
            FastSourceTransform::new(sp, &spec.grid).apply(&mut fast);
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = a
                .iter()
                .zip(&fast)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                err <= 1e-5 * scale,
                "{grid} {boundary}: {err:e} of {scale:e}"
            );
        }
    }
}
