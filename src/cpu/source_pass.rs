//! CPU twin of shaders/source_pass.wgsl and shaders/source_add.wgsl: the
//! exact response of the source molecules to their production over one
//! transport, s = V (Phi * (V^T P)) (`backend::plan::SourcePlan`). The GPU
//! applies V^T and V as the plan's dense line passes; the CPU computes the
//! same product with fast transforms, equal to round-off (tested against
//! the dense passes below).

use crate::backend::plan::SourcePlan;
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
            for pass in &sp.passes {
                a = dense_pass(pass, sp, n, &a);
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
