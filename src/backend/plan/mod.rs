//! The schedule of a run, computed once from the config and executed by
//! both backends: the list of operations of one macro step, the molecule
//! propagators and the per-field transport uniforms. The plan's types and
//! limits are here; how the step is put together in `schedule`, the
//! propagators and source-transform matrices in `propagators`, the bytes
//! and phases `tmesim bench` reports in `cost`.

mod cost;
mod propagators;
mod schedule;
#[cfg(test)]
mod tests;

pub use cost::Phase;
pub use propagators::{band_window, ExponentialPass, ExponentialPlan, SourcePass, SourcePlan};

use crate::model::grid::TransportUniform;
use crate::model::solver::{DiffusionSolver, Splitting};

/// Largest fraction of the explicit stability limit a diffusion sub-step
/// may use (dt (2 d D / dx^2 + lambda) <= 0.9: non-negative updates).
pub const EXPLICIT_SAFETY: f32 = 0.9;

/// Bound on dt * sum_j w_ij of a motility sub-step. Below 0.5 every update
/// is a convex combination weighted toward the voxel's own value, so the
/// grid-scale checkerboard mode is damped without sign changes instead of
/// ringing (at 0.9 it showed as a dotted ring at the tumour margin).
pub const MOTILITY_SAFETY: f32 = 0.45;

/// Propagator entries below this fraction of the propagator's largest
/// entry are set to zero, so that a pass costs the band of its propagator
/// rather than the whole line (a Gaussian of width sqrt(2 D dt) / dx).
/// Each row sums to at most 1, so the dropped part of an output is below
/// `len * cutoff` of the largest input: at 2^-40 and 2048 voxels a line,
/// 2e-9, under the f32 rounding of the largest value (6e-8).
pub const PROPAGATOR_CUTOFF: f64 = 1.0 / (1u64 << 40) as f64;

/// Most molecule fields one exponential pass carries (its dispatch depth
/// and the generated bindings of shaders/diffuse_exponential.wgsl).
pub const MAX_MOLECULES: usize = 8;

/// Most molecules whose production the transport integrates (the source
/// slots of shaders/source_pass.wgsl).
pub const MAX_SOURCES: usize = 5;

/// One operation of a macro step. Both backends run `TransportPlan::ops`
/// in order with one exhaustive `match`, so the stage order is written
/// only here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Sum the dendritic-cell field (per-workgroup partial sums).
    ReduceDc,
    /// Advance the lymph-node priming ODE from the sum.
    Systemic,
    /// Exact transport of every molecule along one axis: pass `index` of
    /// `ExponentialPlan::passes`.
    ExponentialPass { index: usize },
    /// One forward-Euler sub-step of `molecules[molecule]`; odd sub-steps
    /// read the scratch buffer and write the field (reference solver).
    ExplicitSubstep { molecule: usize, odd: bool },
    /// Free space and chemotactic signal from the cell fields. Bit c of
    /// `alternate` is set when `cells[c]` is in its alternate GPU buffer
    /// (an odd number of its moves done in this motility block).
    Crowding { alternate: u32 },
    /// One move of `cells[cell]` over its own sub-step; `odd` when it reads
    /// the alternate GPU buffer and writes the field buffer.
    Motility { cell: usize, odd: bool },
    /// Every pointwise mechanism, one voxel at a time. With source
    /// molecules it also writes their production (at the state it starts
    /// from) into source buffer 0 for the transport after it.
    React,
    /// The production rate of each source molecule (`SourcePlan::fields`)
    /// from the state now, into source buffer 0: frozen over the transport
    /// that follows (the first of a step; the reactions feed the second).
    Produce,
    /// Pass `index` of `SourcePlan::passes`: source buffer `index % 2` to
    /// the other, along one axis, into the eigenbasis and back.
    SourcePass { index: usize },
    /// Add the transformed sources (source buffer 0) to their molecules.
    SourceAdd,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MoleculePlan {
    pub field: usize,
    /// Explicit solver: sub-step uniform and count.
    pub explicit: TransportUniform,
    pub explicit_substeps: u32,
    /// Exponential solver: the Dirichlet offset added in the last pass
    /// (exact response to the boundary source over one step), if any.
    pub offset: Option<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CellPlan {
    pub field: usize,
    /// The field moves on every `every`-th motility sub-step, over
    /// `every` sub-steps' time (`uniform.dt`): a slow field needs fewer
    /// moves than the fastest under the same bound.
    pub every: u32,
    pub uniform: TransportUniform,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TransportPlan {
    pub solver: DiffusionSolver,
    pub splitting: Splitting,
    /// Time one molecule transport covers: dt, or dt/2 with Strang
    /// splitting (which transports twice per step).
    pub transport_dt: f32,
    pub molecules: Vec<MoleculePlan>,
    pub exponential: ExponentialPlan,
    /// Molecules whose production the exact transport integrates.
    pub sources: SourcePlan,
    pub cells: Vec<CellPlan>,
    pub motility_substeps: u32,
    /// The operations of one macro step, in order.
    pub ops: Vec<Op>,
}
