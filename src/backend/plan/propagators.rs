//! The molecule propagators of the exact transport (banded, per axis) and
//! the dense eigenbasis matrices and mode integrals of the source
//! transform, computed once per run in f64 (docs/model.md, "Molecule
//! transport" and "Sources in the transport").

use super::{MAX_MOLECULES, MAX_SOURCES, PROPAGATOR_CUTOFF};
use crate::config::resolve::RunSpec;
use crate::model::exponential::{dirichlet_offset, line_basis, phi1, PropagatorBand};
use crate::model::grid::Grid;
use crate::model::solver::Boundary;

/// One pass of the exponential transport: every molecule's field is
/// multiplied along `axis` by its own `len` x `len` propagator, stored as
/// its band: `band_window` rows of equal width (see there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExponentialPass {
    pub axis: usize,
    pub len: usize,
    /// Distance in memory between neighbours along `axis`.
    pub stride: usize,
    /// The last pass adds the Dirichlet offsets.
    pub last: bool,
    /// Per molecule slot: the half-width h of the propagator's band. Entries
    /// farther than this from the diagonal are zero (`PROPAGATOR_CUTOFF`)
    /// and neither stored nor visited.
    pub band: [u32; MAX_MOLECULES],
    /// Per molecule slot: where its banded propagator starts in
    /// `ExponentialPlan::matrices` (`len * (2h + 1)` values).
    pub base: [u32; MAX_MOLECULES],
}

impl ExponentialPass {
    /// Molecule slot `m`'s banded propagator in `matrices`.
    pub fn propagator<'a>(&self, matrices: &'a [f32], m: usize) -> &'a [f32] {
        let at = self.base[m] as usize;
        let (_, width) = band_window(self.len, self.band[m] as usize, 0);
        &matrices[at..at + self.len * width]
    }
}

/// The stored window of row `row` of a banded propagator on a line of
/// `len` with half-width `half`: the first column k stored and the width,
/// the same for every row (min(2 half + 1, len)). The window holds the band
/// k = row - half ..= row + half within the line, slid inward at the ends
/// (the extra entries there are zeros or in-band values), so no row is
/// longer than the line. shaders/diffuse_exponential.wgsl computes the
/// same window.
pub fn band_window(len: usize, half: usize, row: usize) -> (usize, usize) {
    let width = (2 * half + 1).min(len);
    let first = row.saturating_sub(half).min(len - width);
    (first, width)
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialPlan {
    pub passes: Vec<ExponentialPass>,
    /// Banded propagators (see `ExponentialPass`), every entry >= 0
    /// (model::exponential).
    pub matrices: Vec<f32>,
}

/// One pass of the source transform: each source slot's buffer multiplied
/// along `axis` by its dense `len` x `len` basis matrix (forward: V^T into
/// the eigenbasis; inverse: V back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePass {
    pub axis: usize,
    pub len: usize,
    /// Distance in memory between neighbours along `axis`.
    pub stride: usize,
    /// The last forward pass multiplies each mode by its exact integral
    /// over the step (`SourcePlan::phi`).
    pub scale: bool,
    /// Per source slot: where its matrix starts in `SourcePlan::matrices`.
    pub base: [u32; MAX_SOURCES],
}

/// The exact response of the source molecules to their production over
/// one transport: s = V (Phi * (V^T P)), with V the eigenbasis of the
/// grid's Laplacian (cosine for no-flux, sine for Dirichlet, per axis) and
/// Phi = tau phi1(tau (D sum mu / dx^2 - lambda)) per mode
/// (docs/model.md, "Sources in the transport").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourcePlan {
    /// The field of each source slot.
    pub fields: Vec<usize>,
    /// Per slot: Dirichlet boundaries (the sine basis) or no-flux (cosine).
    pub dirichlet: Vec<bool>,
    /// Forward passes (the last one scaling), then inverse passes: an even
    /// number, so the result ends in source buffer 0.
    pub passes: Vec<SourcePass>,
    pub matrices: Vec<f32>,
    /// Per slot, per mode (voxel order): the mode's integral over the
    /// transport, in minutes.
    pub phi: Vec<f32>,
}

impl SourcePlan {
    /// Bit f set when field f's production is integrated by the transport
    /// (the reaction stage then leaves it out).
    pub fn mask(&self) -> u32 {
        self.fields.iter().map(|&f| 1u32 << f).sum()
    }
}

/// Passes of the exponential transport: one per active axis, each over
/// the whole step. With fewer than two active axes (a line, a single
/// voxel) two half-step passes along x, so every step starts and ends in
/// the field buffers and decay still acts.
fn pass_axes(grid: &Grid) -> Vec<(usize, f64)> {
    let axes = grid.active_axes();
    if axes.len() >= 2 {
        axes.into_iter().map(|a| (a, 1.0)).collect()
    } else {
        let a = axes.first().copied().unwrap_or(0);
        vec![(a, 0.5), (a, 0.5)]
    }
}

pub(super) fn exponential_plan(
    spec: &RunSpec,
    molecules: &[usize],
    transport_dt: f32,
) -> ExponentialPlan {
    let grid = spec.grid;
    let dt = transport_dt as f64;
    let dx2 = (grid.dx_um as f64).powi(2);
    let axes = pass_axes(&grid);
    let mut plan = ExponentialPlan::default();
    // Square grids repeat propagators: compute each (len, r, boundary) once.
    let mut cache: std::collections::HashMap<(usize, u64, bool), PropagatorBand> =
        Default::default();
    for (p, &(axis, share)) in axes.iter().enumerate() {
        let len = grid.dims()[axis];
        let stride: usize = grid.dims()[..axis].iter().product();
        let mut pass = ExponentialPass {
            axis,
            len,
            stride,
            last: p + 1 == axes.len(),
            band: [0; MAX_MOLECULES],
            base: [0; MAX_MOLECULES],
        };
        for (slot, &f) in molecules.iter().enumerate() {
            let s = &spec.fields[f];
            let r = share * dt * s.diffusion as f64 / dx2;
            // Decay acts in the first pass (half in each pass of a line).
            let decay_share = if share < 1.0 || p == 0 { share } else { 0.0 };
            let scale = (-(s.decay as f64) * dt * decay_share).exp();
            let dirichlet = matches!(s.boundary, Boundary::Dirichlet(_));
            let dirichlet = dirichlet && len > 1;
            let m = cache
                .entry((len, r.to_bits(), dirichlet))
                .or_insert_with(|| PropagatorBand::new(len, r, dirichlet, PROPAGATOR_CUTOFF));
            let h = m.half;
            pass.band[slot] = h as u32;
            pass.base[slot] = plan.matrices.len() as u32;
            for j in 0..len {
                let (first, width) = band_window(len, h, j);
                plan.matrices.extend(
                    (first..first + width).map(|k| flush_subnormal((m.entry(j, k) * scale) as f32)),
                );
            }
        }
        plan.passes.push(pass);
    }
    plan
}

/// The source transform of the molecules `fields` (their slots in order)
/// over `transport_dt`: the dense eigenbasis matrices of every active axis
/// (one x pass on a single voxel) and each slot's mode integrals.
pub(super) fn source_plan(spec: &RunSpec, fields: &[usize], transport_dt: f32) -> SourcePlan {
    assert!(fields.len() <= MAX_SOURCES, "more sources than MAX_SOURCES");
    let grid = spec.grid;
    let dims = grid.dims();
    let tau = transport_dt as f64;
    let dx2 = (grid.dx_um as f64).powi(2);
    let mut axes = grid.active_axes();
    if axes.is_empty() {
        axes.push(0);
    }
    let dirichlet = |f: usize| matches!(spec.fields[f].boundary, Boundary::Dirichlet(_));
    let mut plan = SourcePlan {
        fields: fields.to_vec(),
        dirichlet: fields.iter().map(|&f| dirichlet(f)).collect(),
        ..Default::default()
    };
    // Each (axis length, boundary, direction) matrix once.
    let mut stored: std::collections::HashMap<(usize, bool, bool), u32> = Default::default();
    for inverse in [false, true] {
        for (k, &axis) in axes.iter().enumerate() {
            let len = dims[axis];
            let mut pass = SourcePass {
                axis,
                len,
                stride: dims[..axis].iter().product(),
                scale: !inverse && k + 1 == axes.len(),
                base: [0; MAX_SOURCES],
            };
            for (slot, &f) in fields.iter().enumerate() {
                let key = (len, dirichlet(f) && len > 1, inverse);
                let matrices = &mut plan.matrices;
                pass.base[slot] = *stored.entry(key).or_insert_with(|| {
                    let (v, _) = line_basis(len, key.1);
                    let at = matrices.len() as u32;
                    // Forward: row k holds v_k (V^T); inverse: V itself.
                    matrices.extend((0..len * len).map(|e| {
                        let (row, col) = (e / len, e % len);
                        let x = if inverse {
                            v[row * len + col]
                        } else {
                            v[col * len + row]
                        };
                        x as f32
                    }));
                    at
                });
            }
            plan.passes.push(pass);
        }
    }
    for &f in fields {
        let s = &spec.fields[f];
        let d = dirichlet(f);
        let mus: Vec<Vec<f64>> = (0..3)
            .map(|a| line_basis(dims[a], d && dims[a] > 1).1)
            .collect();
        let r = tau * s.diffusion as f64 / dx2;
        for i in 0..grid.len() {
            let pos = [
                i % dims[0],
                (i / dims[0]) % dims[1],
                i / (dims[0] * dims[1]),
            ];
            let mu: f64 = (0..3).map(|a| mus[a][pos[a]]).sum();
            let z = r * mu - s.decay as f64 * tau;
            plan.phi.push((tau * phi1(z)) as f32);
        }
    }
    plan
}

/// Propagator entries below the smallest normal f32 (1.2e-38) become 0.
/// They carry no weight any f32 sum could show, and subnormal operands
/// run many times slower on CPUs and software GPU drivers. Zero keeps
/// every entry non-negative.
fn flush_subnormal(x: f32) -> f32 {
    if x < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

pub(super) fn molecule_offset(spec: &RunSpec, field: usize, transport_dt: f32) -> Option<Vec<f32>> {
    let s = &spec.fields[field];
    let Boundary::Dirichlet(v) = s.boundary else {
        return None;
    };
    let grid = spec.grid;
    let axes = grid.active_axes();
    if v == 0.0 || axes.is_empty() {
        return None;
    }
    let dt = transport_dt as f64;
    let r = dt * s.diffusion as f64 / (grid.dx_um as f64).powi(2);
    let c = dirichlet_offset(grid.dims(), &axes, r, s.decay as f64 * dt, v as f64);
    Some(c.iter().map(|&x| x as f32).collect())
}
