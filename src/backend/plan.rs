//! The schedule of a run, computed once from the config and executed by
//! both backends: the list of operations of one macro step, the molecule
//! propagators and the per-field transport uniforms.

use crate::config::resolve::RunSpec;
use crate::model::exponential::{dirichlet_offset, line_basis, phi1, PropagatorBand};
use crate::model::fields::{fields_of, FieldKind, FIELDS, SOURCES_IN_TRANSPORT};
use crate::model::grid::{Grid, TransportUniform};
use crate::model::solver::{Boundary, DiffusionSolver, Splitting};

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

// ---- Cost model of the operations (`tmesim bench`, src/bench). ----

/// The part of a step an operation belongs to, for timing the parts apart
/// (a phase; `gpu::shaders::Stage` is a compute pipeline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The DC sum and the lymph-node priming ODE.
    Systemic,
    /// Molecule transport (exponential passes or explicit sub-steps).
    Transport,
    /// Crowding and cell motility sub-steps.
    Motility,
    /// The pointwise reactions.
    Reactions,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Systemic,
        Phase::Transport,
        Phase::Motility,
        Phase::Reactions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Systemic => "systemic",
            Phase::Transport => "transport",
            Phase::Motility => "motility",
            Phase::Reactions => "reactions",
        }
    }
}

/// Bytes of one stored value (every buffer holds f32).
const VALUE_BYTES: u64 = std::mem::size_of::<f32>() as u64;

impl Op {
    pub fn phase(&self) -> Phase {
        match self {
            Op::ReduceDc | Op::Systemic => Phase::Systemic,
            Op::ExponentialPass { .. }
            | Op::ExplicitSubstep { .. }
            | Op::Produce
            | Op::SourcePass { .. }
            | Op::SourceAdd => Phase::Transport,
            Op::Crowding { .. } | Op::Motility { .. } => Phase::Motility,
            Op::React => Phase::Reactions,
        }
    }

    /// Compulsory memory traffic of the op on `grid`, in bytes: every value
    /// its kernel (shaders/, src/cpu/) must read or write at least once,
    /// each counted once however often a cache serves it again.
    /// - ReduceDc reads `dc` and writes one partial sum per REDUCE_WG voxels;
    ///   Systemic reads the partials and reads and writes the priming state.
    /// - An exponential pass reads and writes each molecule field once and
    ///   reads each molecule's banded propagator (len x width); the last pass also
    ///   reads the Dirichlet offset of each molecule that has one.
    /// - An explicit sub-step reads one field and writes one.
    /// - Crowding reads every cell field and IFN-gamma and writes the free
    ///   space and the signal.
    /// - A motility sub-step reads the cell field, the free space and the
    ///   signal, and writes the cell field.
    /// - React reads every field and writes every field but the constant
    ///   maps, and the production of each source molecule.
    ///
    /// The CPU's copies back from its scratch buffer are not counted: they
    /// are the CPU backend's choice, not the op's.
    pub fn bytes(&self, plan: &TransportPlan, grid: &Grid) -> u64 {
        let n = grid.len() as u64;
        let field = n * VALUE_BYTES;
        let partials = n.div_ceil(crate::model::grid::REDUCE_WG as u64) * VALUE_BYTES;
        let count = |kind| fields_of(kind).count() as u64;
        match *self {
            Op::ReduceDc => field + partials,
            Op::Systemic => {
                partials + 2 * std::mem::size_of::<crate::model::state::Systemic>() as u64
            }
            Op::ExponentialPass { index } => {
                let pass = plan.exponential.passes[index];
                plan.molecules
                    .iter()
                    .enumerate()
                    .map(|(slot, m)| {
                        let width = band_window(pass.len, pass.band[slot] as usize, 0).1 as u64;
                        let matrix = pass.len as u64 * width * VALUE_BYTES;
                        let offset = pass.last && m.offset.is_some();
                        2 * field + matrix + if offset { field } else { 0 }
                    })
                    .sum()
            }
            Op::ExplicitSubstep { .. } => 2 * field,
            Op::Produce => (FIELDS.len() + plan.sources.fields.len()) as u64 * field,
            Op::SourcePass { index } => {
                let pass = plan.sources.passes[index];
                let matrix = (pass.len * pass.len) as u64 * VALUE_BYTES;
                let phi = if pass.scale { field } else { 0 };
                plan.sources.fields.len() as u64 * (2 * field + matrix + phi)
            }
            Op::SourceAdd => plan.sources.fields.len() as u64 * 3 * field,
            Op::Crowding { .. } => (count(FieldKind::Cell) + 1 + 2) * field,
            Op::Motility { .. } => 4 * field,
            Op::React => {
                let emitted = plan.sources.fields.len() as u64;
                (FIELDS.len() as u64 * 2 - count(FieldKind::Map) + emitted) * field
            }
        }
    }

    /// The fields of the state the op changes (scratch buffers aside).
    pub fn fields_written(&self, plan: &TransportPlan) -> Vec<usize> {
        match *self {
            Op::ReduceDc
            | Op::Systemic
            | Op::Crowding { .. }
            | Op::Produce
            | Op::SourcePass { .. } => Vec::new(),
            Op::SourceAdd => plan.sources.fields.clone(),
            Op::ExponentialPass { .. } => plan.molecules.iter().map(|m| m.field).collect(),
            Op::ExplicitSubstep { molecule, .. } => vec![plan.molecules[molecule].field],
            Op::Motility { cell, .. } => vec![plan.cells[cell].field],
            Op::React => (0..FIELDS.len())
                .filter(|&f| FIELDS[f].kind != FieldKind::Map)
                .collect(),
        }
    }
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

fn base_uniform(spec: &RunSpec, field: usize, dt: f32) -> TransportUniform {
    let setup = &spec.fields[field];
    let (dirichlet, bc_value) = match setup.boundary {
        Boundary::NoFlux => (0, 0.0),
        Boundary::Dirichlet(v) => (1, v),
    };
    TransportUniform {
        diffusion: setup.diffusion,
        decay: setup.decay,
        chemotaxis: setup.chemotaxis,
        dt,
        bc_value,
        dirichlet,
        ..Default::default()
    }
}

/// Sub-step counts are rounded up to a multiple of `m` (2, or 4 with Strang
/// splitting, which runs half of them on each side of the reactions): the
/// GPU ping-pongs between two buffers and must end each half in the first.
fn round_up(n: u32, m: u32) -> u32 {
    n.max(1).div_ceil(m) * m
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

fn exponential_plan(spec: &RunSpec, molecules: &[usize], transport_dt: f32) -> ExponentialPlan {
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
fn source_plan(spec: &RunSpec, fields: &[usize], transport_dt: f32) -> SourcePlan {
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

fn molecule_offset(spec: &RunSpec, field: usize, transport_dt: f32) -> Option<Vec<f32>> {
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

/// Molecule `f`'s explicit sub-steps (a multiple of `multiple`, under the
/// stability limit) and, for the exponential solver, its Dirichlet offset.
fn molecule_plan(spec: &RunSpec, f: usize, multiple: u32, transport_dt: f32) -> MoleculePlan {
    let (grid, dt) = (spec.grid, spec.dt_min);
    let dx2 = grid.dx_um * grid.dx_um;
    let dims = grid.spatial_dims() as f32;
    let setup = &spec.fields[f];
    let rate = 2.0 * dims * setup.diffusion / dx2 + setup.decay;
    let explicit_substeps = round_up((dt * rate / EXPLICIT_SAFETY).ceil() as u32, multiple);
    MoleculePlan {
        field: f,
        explicit: TransportUniform {
            dt: dt / explicit_substeps as f32,
            ..base_uniform(spec, f, dt)
        },
        explicit_substeps,
        offset: if spec.solver == DiffusionSolver::Exponential {
            molecule_offset(spec, f, transport_dt)
        } else {
            None
        },
    }
}

/// The mobile cell fields with their move periods and uniforms, and the
/// number of motility sub-steps per macro step (a multiple of `multiple`,
/// under the stability limit of the fastest field; 0 when nothing moves).
/// Each field moves every `every` sub-steps, the longest period under its
/// own bound `dt_move * 2d * (M + chi) / dx^2 <= MOTILITY_SAFETY` that
/// divides a motility block (half the sub-steps with Strang splitting)
/// into an even number of moves (the GPU's ping-pong ends each block in
/// the field buffers).
fn cell_plans(spec: &RunSpec, multiple: u32) -> (Vec<CellPlan>, u32) {
    let (grid, dt) = (spec.grid, spec.dt_min);
    let dx2 = grid.dx_um * grid.dx_um;
    let dims = grid.spatial_dims() as f32;
    let ghost_crowding: f32 = fields_of(FieldKind::Cell)
        .map(|c| spec.fields[c].boundary.ghost_value())
        .sum();
    let rate = |c: usize| 2.0 * dims * (spec.fields[c].diffusion + spec.fields[c].chemotaxis) / dx2;
    let mobile: Vec<usize> = fields_of(FieldKind::Cell)
        .filter(|&c| spec.fields[c].diffusion > 0.0 || spec.fields[c].chemotaxis > 0.0)
        .collect();
    let max_rate = mobile.iter().map(|&c| rate(c)).fold(0.0f32, f32::max);
    let motility_substeps = if grid.active_axes().is_empty() || mobile.is_empty() {
        0
    } else {
        round_up((dt * max_rate / MOTILITY_SAFETY).ceil() as u32, multiple)
    };
    let sub_dt = if motility_substeps > 0 {
        dt / motility_substeps as f32
    } else {
        dt
    };
    let block = motility_substeps / (multiple / 2).max(1);
    let cells = mobile
        .into_iter()
        .map(|c| {
            let every = move_period(block, sub_dt * rate(c));
            CellPlan {
                field: c,
                every,
                uniform: TransportUniform {
                    ghost_crowding,
                    ..base_uniform(spec, c, sub_dt * every as f32)
                },
            }
        })
        .collect();
    (cells, motility_substeps)
}

/// The longest period k dividing `block` sub-steps into an even number of
/// moves with `k * load <= MOTILITY_SAFETY` (`load` = dt_sub * 2d * rate);
/// 1 when no longer one qualifies.
fn move_period(block: u32, load: f32) -> u32 {
    (1..=block)
        .filter(|&k| block.is_multiple_of(k) && (block / k).is_multiple_of(2))
        .filter(|&k| k as f32 * load <= MOTILITY_SAFETY)
        .max()
        .unwrap_or(1)
}

impl TransportPlan {
    pub fn new(spec: &RunSpec) -> Self {
        let fields: Vec<usize> = fields_of(FieldKind::Molecule)
            .filter(|&f| spec.fields[f].diffusion > 0.0 || spec.fields[f].decay > 0.0)
            .collect();
        assert!(
            fields.len() <= MAX_MOLECULES,
            "more molecules than MAX_MOLECULES"
        );
        let exponential_solver = spec.solver == DiffusionSolver::Exponential;
        // With nothing between the two halves of a Strang step (no
        // reactions, no moving cells) the half transports compose to one
        // whole transport, exactly for the exact solver: run it once.
        let splitting = if !spec.reactions && cell_plans(spec, 2).0.is_empty() {
            Splitting::Lie
        } else {
            spec.splitting
        };
        let (multiple, transport_dt) = match splitting {
            Splitting::Strang => (4, spec.dt_min / 2.0),
            Splitting::Lie => (2, spec.dt_min),
        };
        let molecules = fields
            .iter()
            .map(|&f| molecule_plan(spec, f, multiple, transport_dt))
            .collect();
        let exponential = if exponential_solver && !fields.is_empty() {
            exponential_plan(spec, &fields, transport_dt)
        } else {
            ExponentialPlan::default()
        };
        // With reactions on, the exact solver integrates the cellular
        // production of the source molecules it transports.
        let sources: Vec<usize> = SOURCES_IN_TRANSPORT
            .into_iter()
            .filter(|f| fields.contains(f))
            .collect();
        let sources = if exponential_solver && spec.reactions && !sources.is_empty() {
            source_plan(spec, &sources, transport_dt)
        } else {
            SourcePlan::default()
        };
        let (cells, motility_substeps) = cell_plans(spec, multiple);
        let mut plan = TransportPlan {
            solver: spec.solver,
            splitting,
            transport_dt,
            molecules,
            exponential,
            sources,
            cells,
            motility_substeps,
            ops: Vec::new(),
        };
        plan.ops = plan.schedule(spec.reactions);
        plan
    }

    /// One macro step (docs/model.md, "One step"). Lie: systemic ODE,
    /// molecule transport, cell motility, reactions. Strang: molecule
    /// transport and motility over half a step, the systemic ODE and the
    /// reactions over the whole step, then the second half in reverse order.
    fn schedule(&self, reactions: bool) -> Vec<Op> {
        let mut ops = Vec::new();
        let pointwise = |ops: &mut Vec<Op>| {
            if reactions {
                ops.extend([Op::ReduceDc, Op::Systemic, Op::React]);
            }
        };
        match self.splitting {
            Splitting::Lie => {
                if reactions {
                    ops.extend([Op::ReduceDc, Op::Systemic]);
                }
                self.molecule_ops(&mut ops, 1, true);
                self.motility_ops(&mut ops, self.motility_substeps);
                if reactions {
                    ops.push(Op::React);
                }
            }
            Splitting::Strang => {
                let half = self.motility_substeps / 2;
                self.molecule_ops(&mut ops, 2, true);
                self.motility_ops(&mut ops, half);
                pointwise(&mut ops);
                self.motility_ops(&mut ops, half);
                // The reactions hand the second transport its production.
                self.molecule_ops(&mut ops, 2, !reactions);
            }
        }
        ops
    }

    /// One molecule transport: the exponential passes (over
    /// `transport_dt`), or 1/`parts` of each molecule's explicit sub-steps.
    fn molecule_ops(&self, ops: &mut Vec<Op>, parts: u32, produce: bool) {
        match self.solver {
            DiffusionSolver::Exponential => {
                let sources = !self.sources.fields.is_empty();
                if sources && produce {
                    ops.push(Op::Produce);
                }
                ops.extend(
                    (0..self.exponential.passes.len()).map(|index| Op::ExponentialPass { index }),
                );
                if sources {
                    ops.extend(
                        (0..self.sources.passes.len()).map(|index| Op::SourcePass { index }),
                    );
                    ops.push(Op::SourceAdd);
                }
            }
            DiffusionSolver::Explicit => {
                for (molecule, m) in self.molecules.iter().enumerate() {
                    ops.extend(
                        (0..m.explicit_substeps / parts).map(|s| Op::ExplicitSubstep {
                            molecule,
                            odd: s % 2 == 1,
                        }),
                    );
                }
            }
        }
    }

    /// A block of `count` motility sub-steps: crowding, then each mobile
    /// cell field whose period starts at this sub-step.
    fn motility_ops(&self, ops: &mut Vec<Op>, count: u32) {
        let mut moves = vec![0u32; self.cells.len()];
        for s in 0..count {
            let alternate = moves.iter().enumerate().map(|(c, &m)| (m % 2) << c).sum();
            ops.push(Op::Crowding { alternate });
            for (cell, c) in self.cells.iter().enumerate() {
                if s % c.every == 0 {
                    let odd = moves[cell] % 2 == 1;
                    ops.push(Op::Motility { cell, odd });
                    moves[cell] += 1;
                }
            }
        }
        debug_assert!(
            moves.iter().all(|m| m % 2 == 0),
            "a block ends in the field buffers"
        );
    }

    /// A sentence for logs and the manifest.
    pub fn describe(&self) -> String {
        let motility = format!("{} motility sub-steps per step", self.motility_substeps);
        match self.solver {
            DiffusionSolver::Exponential => format!(
                "{:?} splitting; exact exponential transport of {} molecules ({} axis passes){}; {motility}",
                self.splitting,
                self.molecules.len(),
                self.exponential.passes.len(),
                if self.sources.fields.is_empty() {
                    String::new()
                } else {
                    let names: Vec<&str> =
                        self.sources.fields.iter().map(|&f| FIELDS[f].name).collect();
                    format!(", production of {} integrated in it", names.join(", "))
                },
            ),
            DiffusionSolver::Explicit => {
                let subs: Vec<String> = self
                    .molecules
                    .iter()
                    .map(|m| format!("{} {}", FIELDS[m.field].name, m.explicit_substeps))
                    .collect();
                format!(
                    "explicit diffusion sub-steps per step: {}; {motility}",
                    subs.join(", ")
                )
            }
        }
    }
}

// ---- Cost model of a step (`tmesim bench`, src/bench). ----

impl TransportPlan {
    /// The plan with only `stage`'s operations, in their order: a backend
    /// built with it times that stage alone.
    pub fn only(&self, stage: Phase) -> TransportPlan {
        let mut plan = self.clone();
        plan.ops.retain(|op| op.phase() == stage);
        plan
    }

    /// Compulsory memory traffic of one step on `grid`, in bytes (the sum
    /// of [`Op::bytes`] over the step's operations).
    pub fn bytes_per_step(&self, grid: &Grid) -> u64 {
        self.ops.iter().map(|op| op.bytes(self, grid)).sum()
    }

    /// The fields one step changes, in registry order: the molecules
    /// transported, the cells moved, the fields reacted.
    pub fn fields_advanced(&self) -> Vec<usize> {
        let mut fields: Vec<usize> = self
            .ops
            .iter()
            .flat_map(|op| op.fields_written(self))
            .collect();
        fields.sort_unstable();
        fields.dedup();
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse_config;
    use crate::config::resolve::resolve;
    use std::path::Path;

    /// The plan of `toml`, at dt = 15 min (the step these tests count
    /// operations for) unless it sets its own.
    fn plan(toml: &str) -> TransportPlan {
        let path = Path::new("test.toml");
        let toml = if toml.contains("[time]") {
            toml.to_string()
        } else {
            format!("{toml}\n[time]\ndt_min = 15.0\n")
        };
        let config = parse_config(&toml, path, &[]).expect("config");
        TransportPlan::new(&resolve(config.clone(), &config, path).expect("spec"))
    }

    /// A motility block of `count` sub-steps starting at `ops[at]`: each
    /// sub-step a crowding op with the cells' buffer parities, then the
    /// cells whose period starts there. Returns the index after.
    fn expect_motility(p: &TransportPlan, mut at: usize, count: usize) -> usize {
        let mut moves = vec![0u32; p.cells.len()];
        for s in 0..count as u32 {
            let alternate = (0..p.cells.len()).map(|c| (moves[c] % 2) << c).sum();
            assert_eq!(p.ops[at], Op::Crowding { alternate });
            at += 1;
            for (cell, c) in p.cells.iter().enumerate() {
                if s % c.every == 0 {
                    let odd = moves[cell] % 2 == 1;
                    assert_eq!(p.ops[at], Op::Motility { cell, odd });
                    at += 1;
                    moves[cell] += 1;
                }
            }
        }
        at
    }

    #[test]
    fn each_cell_field_moves_at_the_longest_period_its_bound_allows() {
        let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n");
        let block = p.motility_substeps / 2;
        let sub_dt = 15.0 / p.motility_substeps as f32;
        let dx2 = 20.0f32 * 20.0;
        for c in &p.cells {
            let rate = 4.0 * (c.uniform.diffusion + c.uniform.chemotaxis) / dx2;
            assert_eq!(block % c.every, 0);
            assert_eq!((block / c.every) % 2, 0, "even moves per block");
            assert!((c.uniform.dt - sub_dt * c.every as f32).abs() < 1e-6);
            assert!(c.uniform.dt * rate <= MOTILITY_SAFETY * (1.0 + 1e-6));
            // The next longer admissible period would break the bound.
            let longer = (c.every + 1..=block)
                .find(|&k| block.is_multiple_of(k) && (block / k).is_multiple_of(2));
            if let Some(k) = longer {
                assert!(k as f32 * sub_dt * rate > MOTILITY_SAFETY);
            }
        }
        // The fastest field (cd8) moves every sub-step, the tumour less often.
        let every = |f: usize| p.cells.iter().find(|c| c.field == f).unwrap().every;
        use crate::model::fields::idx;
        assert_eq!(every(idx::CD8), 1);
        assert!(every(idx::TUMOR) > 1);
    }

    #[test]
    fn strang_step_is_symmetric_around_the_reactions() {
        let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n");
        assert_eq!(p.splitting, Splitting::Strang);
        assert_eq!(p.transport_dt, 7.5);
        assert_eq!(p.motility_substeps % 4, 0);
        let half = p.motility_substeps as usize / 2;
        // Every molecule has its production in the transport: produce, the exact passes, two forward and two inverse
        // source passes, the add.
        assert_eq!(p.sources.fields, crate::model::fields::SOURCES_IN_TRANSPORT);
        let passes = [
            Op::Produce,
            Op::ExponentialPass { index: 0 },
            Op::ExponentialPass { index: 1 },
            Op::SourcePass { index: 0 },
            Op::SourcePass { index: 1 },
            Op::SourcePass { index: 2 },
            Op::SourcePass { index: 3 },
            Op::SourceAdd,
        ];
        assert_eq!(&p.ops[..8], &passes);
        let at = expect_motility(&p, 8, half);
        assert_eq!(&p.ops[at..at + 3], &[Op::ReduceDc, Op::Systemic, Op::React]);
        let at = expect_motility(&p, at + 3, half);
        assert_eq!(
            &p.ops[at..],
            &passes[1..],
            "the reactions feed the second half"
        );
        let scaled: Vec<bool> = p.sources.passes.iter().map(|q| q.scale).collect();
        assert_eq!(
            scaled,
            [false, true, false, false],
            "the last forward pass scales"
        );
    }

    #[test]
    fn lie_step_runs_systemic_transport_motility_then_reactions() {
        let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n[solver]\nsplitting = \"lie\"\n");
        assert_eq!(p.transport_dt, 15.0);
        assert_eq!(
            &p.ops[..10],
            &[
                Op::ReduceDc,
                Op::Systemic,
                Op::Produce,
                Op::ExponentialPass { index: 0 },
                Op::ExponentialPass { index: 1 },
                Op::SourcePass { index: 0 },
                Op::SourcePass { index: 1 },
                Op::SourcePass { index: 2 },
                Op::SourcePass { index: 3 },
                Op::SourceAdd,
            ]
        );
        let at = expect_motility(&p, 10, p.motility_substeps as usize);
        assert_eq!(&p.ops[at..], &[Op::React]);
    }

    #[test]
    fn passes_cover_each_active_axis_or_two_half_steps() {
        let axes = |toml: &str| -> Vec<(usize, usize, bool)> {
            plan(toml)
                .exponential
                .passes
                .iter()
                .map(|p| (p.axis, p.stride, p.last))
                .collect()
        };
        assert_eq!(
            axes("[grid]\nnx = 6\nny = 5\nnz = 4\n"),
            [(0, 1, false), (1, 6, false), (2, 30, true)]
        );
        assert_eq!(
            axes("[grid]\nnx = 1\nny = 7\nnz = 1\n"),
            [(1, 1, false), (1, 1, true)]
        );
        assert_eq!(
            axes("[grid]\nnx = 1\nny = 1\nnz = 1\n"),
            [(0, 1, false), (0, 1, true)]
        );
    }

    #[test]
    fn with_nothing_between_the_strang_halves_one_whole_transport_runs() {
        // No reactions and no moving cell: E(dt/2) E(dt/2) is E(dt).
        let mut toml = String::from("[grid]\nnx = 6\nny = 5\nnz = 1\n[model]\nreactions = false\n");
        for c in fields_of(FieldKind::Cell) {
            let name = FIELDS[c].name;
            toml += &format!("[fields.{name}]\ndiffusion_um2_per_min = 0.0\n");
            if FIELDS[c].chemotaxis_um2_per_min > 0.0 {
                toml += "chemotaxis_um2_per_min = 0.0\n";
            }
        }
        let p = plan(&toml);
        assert_eq!((p.splitting, p.transport_dt), (Splitting::Lie, 15.0));
        assert!(p.cells.is_empty());
        assert_eq!(
            p.ops,
            [
                Op::ExponentialPass { index: 0 },
                Op::ExponentialPass { index: 1 }
            ]
        );
    }

    #[test]
    fn without_reactions_the_step_is_transport_only() {
        let p = plan("[grid]\nnx = 6\nny = 5\nnz = 1\n[model]\nreactions = false\n[solver]\ndiffusion = \"explicit\"\n");
        assert!(!p
            .ops
            .iter()
            .any(|op| matches!(op, Op::React | Op::ReduceDc | Op::Systemic)));
        // Half of each molecule's sub-steps on each side (Strang).
        let half = p.molecules[0].explicit_substeps as usize / 2;
        assert_eq!(p.molecules[0].explicit_substeps % 4, 0);
        assert_eq!(
            p.ops[0],
            Op::ExplicitSubstep {
                molecule: 0,
                odd: false
            }
        );
        assert_eq!(
            p.ops[half - 1],
            Op::ExplicitSubstep {
                molecule: 0,
                odd: true
            }
        );
        assert_eq!(
            p.ops[half],
            Op::ExplicitSubstep {
                molecule: 1,
                odd: false
            }
        );
        let explicit = p
            .ops
            .iter()
            .filter(|op| matches!(op, Op::ExplicitSubstep { .. }))
            .count();
        let total: u32 = p.molecules.iter().map(|m| m.explicit_substeps).sum();
        assert_eq!(explicit, total as usize);
    }

    #[test]
    fn banded_propagators_hold_every_entry_above_the_cutoff() {
        // IL-10 (D 84) over a 0.05 min step spreads a few voxels; the fast
        // molecules over a 15 min step fill the line.
        let short =
            plan("[grid]\nnx = 64\nny = 48\nnz = 1\n[time]\ndt_min = 0.05\nend_days = 1.0\n");
        let long = plan("[grid]\nnx = 64\nny = 48\nnz = 1\n");
        for p in [&short, &long] {
            let dx2 = 20.0f64 * 20.0;
            for (index, pass) in p.exponential.passes.iter().enumerate() {
                let n = pass.len;
                for (m, mp) in p.molecules.iter().enumerate() {
                    let setup = crate::model::fields::FIELDS[mp.field].diffusion_um2_per_min as f64;
                    let r = p.transport_dt as f64 * setup / dx2;
                    let dense = crate::model::exponential::axis_propagator(n, r, false, 1.0);
                    let largest = dense.iter().cloned().fold(0.0, f64::max);
                    // Undo the decay of the first pass: compare shapes.
                    let band = pass.propagator(&p.exponential.matrices, m);
                    let h = pass.band[m] as usize;
                    let diag = band[0] as f64 / dense[0];
                    for j in 0..n {
                        for k in 0..n {
                            let e = dense[j * n + k];
                            if j.abs_diff(k) > h {
                                assert!(
                                    e < largest * PROPAGATOR_CUTOFF,
                                    "pass {index}: dropped {e}"
                                );
                            } else {
                                let (first, width) = band_window(n, h, j);
                                let stored = band[j * width + k - first] as f64 / diag;
                                let scale = if e < largest * PROPAGATOR_CUTOFF {
                                    0.0
                                } else {
                                    e
                                };
                                assert!(
                                    (stored - scale).abs() <= 1e-6 * e + 1e-13 * largest,
                                    "({j},{k}): {stored} vs {e}"
                                );
                            }
                        }
                    }
                }
            }
        }
        let il10 = short
            .molecules
            .iter()
            .position(|m| m.field == crate::model::fields::idx::IL10)
            .unwrap();
        let narrow = short.exponential.passes[0].band[il10];
        assert!((2..20).contains(&narrow), "band {narrow}");
        let wide = long.exponential.passes[0].band[il10];
        assert!(wide > 3 * narrow, "band {wide} at 15 min vs {narrow}");
    }
}

#[cfg(test)]
mod cost_tests {
    use super::*;
    use crate::config::load::parse_config;
    use crate::config::resolve::resolve;
    use std::path::Path;

    fn spec(toml: &str) -> RunSpec {
        let path = Path::new("test.toml");
        let config = parse_config(toml, path, &[]).expect("config");
        resolve(config.clone(), &config, path).expect("spec")
    }

    /// A 4 x 3 grid, Lie splitting, the exponential solver: bytes counted
    /// by hand from the kernels.
    #[test]
    fn bytes_per_step_match_a_hand_count() {
        let s = spec("[grid]\nnx = 4\nny = 3\nnz = 1\n[solver]\nsplitting = \"lie\"\n");
        let p = TransportPlan::new(&s);
        let field = 12 * 4; // 12 voxels of f32
        let molecules = p.molecules.len() as u64;
        assert_eq!(molecules, 5);
        let offsets = p.molecules.iter().filter(|m| m.offset.is_some()).count() as u64;
        // ReduceDc: dc + 1 partial; Systemic: 1 partial + priming in and out (16 B each).
        let systemic = (field + 4) + (4 + 32);
        // Pass along x (len 4) and along y (len 3, the last: + offsets),
        // each reading its banded propagators (len x (2h + 1) values).
        let bands: u64 = p
            .exponential
            .passes
            .iter()
            .map(|pass| {
                (0..5)
                    .map(|m| {
                        (pass.len * band_window(pass.len, pass.band[m] as usize, 0).1) as u64 * 4
                    })
                    .sum::<u64>()
            })
            .sum();
        let exact = 2 * molecules * 2 * field + bands + offsets * field;
        // Every molecule has its production in the transport: produce
        // reads 19 fields and writes 5 slots; four
        // source passes each read and write both slots and read each slot's
        // dense matrix (len^2), the second (the last forward) the mode
        // integrals too; the add reads a slot and reads and writes its field.
        let slots = 5;
        assert_eq!(p.sources.fields.len(), slots as usize);
        let produce = (19 + slots) * field;
        let source_passes: u64 = [4u64, 3, 4, 3]
            .iter()
            .enumerate()
            .map(|(k, len)| slots * (2 * field + len * len * 4 + if k == 1 { field } else { 0 }))
            .sum();
        let add = slots * 3 * field;
        let passes = exact + produce + source_passes + add;
        // Crowding each sub-step: 7 cells + ifng in, free + signal out; each
        // move of a cell field (every `every` sub-steps): 3 in, 1 out.
        let subs = p.motility_substeps as u64;
        let moves: u64 = p.cells.iter().map(|c| subs / c.every as u64).sum();
        assert!(
            moves < subs * p.cells.len() as u64,
            "slow fields move less often"
        );
        let motility = subs * (7 + 1 + 2) * field + moves * 4 * field;
        // React: 19 fields in, 16 out (the 3 maps are constant), and the
        // production of the 5 source slots.
        let react = (19 + 16 + 5) * field;
        assert_eq!(
            p.bytes_per_step(&s.grid),
            systemic + passes + motility + react
        );
        let only_transport = p.only(Phase::Transport);
        assert_eq!(only_transport.bytes_per_step(&s.grid), passes);
    }

    #[test]
    fn stages_partition_the_step() {
        let s = spec("[grid]\nnx = 6\nny = 5\nnz = 1\n");
        let p = TransportPlan::new(&s);
        let total: usize = Phase::ALL.iter().map(|&st| p.only(st).ops.len()).sum();
        assert_eq!(total, p.ops.len());
        let sum: u64 = Phase::ALL
            .iter()
            .map(|&st| p.only(st).bytes_per_step(&s.grid))
            .sum();
        assert_eq!(sum, p.bytes_per_step(&s.grid));
        // Molecules, mobile cells and reacted fields: all but the 3 maps.
        assert_eq!(p.fields_advanced().len(), 16);
        let transport = p.only(Phase::Transport);
        assert!(transport
            .ops
            .iter()
            .all(|op| op.phase() == Phase::Transport));
        assert_eq!(transport.fields_advanced().len(), 5);
    }
}
