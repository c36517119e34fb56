//! The schedule of a run, computed once from the config and executed by
//! both backends: the list of operations of one macro step, the molecule
//! propagators and the per-field transport uniforms.

use crate::config::resolve::RunSpec;
use crate::model::exponential::{axis_propagator, dirichlet_offset};
use crate::model::fields::{fields_of, FieldKind, FIELDS};
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

/// Most molecule fields one exponential pass carries (its dispatch depth
/// and the generated bindings of shaders/diffuse_exponential.wgsl).
pub const MAX_MOLECULES: usize = 8;

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
    /// Free space and chemotactic signal from the cell fields; `odd` picks
    /// the GPU's ping-pong buffer set of the motility sub-step.
    Crowding { odd: bool },
    /// One motility sub-step of `cells[cell]`.
    Motility { cell: usize, odd: bool },
    /// Every pointwise mechanism, one voxel at a time.
    React,
}

// ---- Cost model of the operations (`tmesim bench`, src/bench). ----

/// The part of a step an operation belongs to, for timing stages apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The DC sum and the lymph-node priming ODE.
    Systemic,
    /// Molecule transport (exponential passes or explicit sub-steps).
    Transport,
    /// Crowding and cell motility sub-steps.
    Motility,
    /// The pointwise reactions.
    Reactions,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Systemic,
        Stage::Transport,
        Stage::Motility,
        Stage::Reactions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Systemic => "systemic",
            Stage::Transport => "transport",
            Stage::Motility => "motility",
            Stage::Reactions => "reactions",
        }
    }
}

/// Bytes of one stored value (every buffer holds f32).
const VALUE_BYTES: u64 = std::mem::size_of::<f32>() as u64;

impl Op {
    pub fn stage(&self) -> Stage {
        match self {
            Op::ReduceDc | Op::Systemic => Stage::Systemic,
            Op::ExponentialPass { .. } | Op::ExplicitSubstep { .. } => Stage::Transport,
            Op::Crowding { .. } | Op::Motility { .. } => Stage::Motility,
            Op::React => Stage::Reactions,
        }
    }

    /// Compulsory memory traffic of the op on `grid`, in bytes: every value
    /// its kernel (shaders/, src/cpu/) must read or write at least once,
    /// each counted once however often a cache serves it again.
    /// - ReduceDc reads `dc` and writes one partial sum per REDUCE_WG voxels;
    ///   Systemic reads the partials and reads and writes the priming state.
    /// - An exponential pass reads and writes each molecule field once and
    ///   reads each molecule's propagator (len x len); the last pass also
    ///   reads the Dirichlet offset of each molecule that has one.
    /// - An explicit sub-step reads one field and writes one.
    /// - Crowding reads every cell field and IFN-gamma and writes the free
    ///   space and the signal.
    /// - A motility sub-step reads the cell field, the free space and the
    ///   signal, and writes the cell field.
    /// - React reads every field and writes every field but the constant
    ///   maps.
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
                let matrix = (pass.len * pass.len) as u64 * VALUE_BYTES;
                plan.molecules
                    .iter()
                    .map(|m| {
                        let offset = pass.last && m.offset.is_some();
                        2 * field + matrix + if offset { field } else { 0 }
                    })
                    .sum()
            }
            Op::ExplicitSubstep { .. } => 2 * field,
            Op::Crowding { .. } => (count(FieldKind::Cell) + 1 + 2) * field,
            Op::Motility { .. } => 4 * field,
            Op::React => (FIELDS.len() as u64 * 2 - count(FieldKind::Map)) * field,
        }
    }

    /// The fields of the state the op changes (scratch buffers aside).
    pub fn fields_written(&self, plan: &TransportPlan) -> Vec<usize> {
        match *self {
            Op::ReduceDc | Op::Systemic | Op::Crowding { .. } => Vec::new(),
            Op::ExponentialPass { .. } => plan.molecules.iter().map(|m| m.field).collect(),
            Op::ExplicitSubstep { molecule, .. } => vec![plan.molecules[molecule].field],
            Op::Motility { cell, .. } => vec![plan.cells[cell].field],
            Op::React => (0..FIELDS.len())
                .filter(|&f| FIELDS[f].kind != FieldKind::Map)
                .collect(),
        }
    }
}

#[derive(Clone, Debug)]
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
/// multiplied along `axis` by its own `len` x `len` propagator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExponentialPass {
    pub axis: usize,
    pub len: usize,
    /// Distance in memory between neighbours along `axis`.
    pub stride: usize,
    /// Start of this pass's propagators in `ExponentialPlan::matrices`
    /// (molecule m's at `matrix_base + m * len * len`).
    pub matrix_base: usize,
    /// The last pass adds the Dirichlet offsets.
    pub last: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ExponentialPlan {
    pub passes: Vec<ExponentialPass>,
    /// Row-major propagators, every entry >= 0 (model::exponential).
    pub matrices: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct CellPlan {
    pub field: usize,
    pub uniform: TransportUniform,
}

#[derive(Clone, Debug)]
pub struct TransportPlan {
    pub solver: DiffusionSolver,
    pub splitting: Splitting,
    /// Time one molecule transport covers: dt, or dt/2 with Strang
    /// splitting (which transports twice per step).
    pub transport_dt: f32,
    pub molecules: Vec<MoleculePlan>,
    pub exponential: ExponentialPlan,
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
    let mut cache: std::collections::HashMap<(usize, u64, bool), Vec<f64>> = Default::default();
    for (p, &(axis, share)) in axes.iter().enumerate() {
        let len = grid.dims()[axis];
        let stride: usize = grid.dims()[..axis].iter().product();
        plan.passes.push(ExponentialPass {
            axis,
            len,
            stride,
            matrix_base: plan.matrices.len(),
            last: p + 1 == axes.len(),
        });
        for &f in molecules {
            let s = &spec.fields[f];
            let r = share * dt * s.diffusion as f64 / dx2;
            // Decay acts in the first pass (half in each pass of a line).
            let decay_share = if share < 1.0 || p == 0 { share } else { 0.0 };
            let scale = (-(s.decay as f64) * dt * decay_share).exp();
            let dirichlet = matches!(s.boundary, Boundary::Dirichlet(_));
            let dirichlet = dirichlet && len > 1;
            let m = cache
                .entry((len, r.to_bits(), dirichlet))
                .or_insert_with(|| axis_propagator(len, r, dirichlet, 1.0));
            plan.matrices
                .extend(m.iter().map(|&x| flush_subnormal((x * scale) as f32)));
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

/// The mobile cell fields with their sub-step uniforms, and the number of
/// motility sub-steps per macro step (a multiple of `multiple`, under the
/// stability limit of the fastest field; 0 when nothing moves).
fn cell_plans(spec: &RunSpec, multiple: u32) -> (Vec<CellPlan>, u32) {
    let (grid, dt) = (spec.grid, spec.dt_min);
    let dx2 = grid.dx_um * grid.dx_um;
    let dims = grid.spatial_dims() as f32;
    let ghost_crowding: f32 = fields_of(FieldKind::Cell)
        .map(|c| spec.fields[c].boundary.ghost_value())
        .sum();
    let mobile: Vec<usize> = fields_of(FieldKind::Cell)
        .filter(|&c| spec.fields[c].diffusion > 0.0 || spec.fields[c].chemotaxis > 0.0)
        .collect();
    let max_rate = mobile
        .iter()
        .map(|&c| (spec.fields[c].diffusion + spec.fields[c].chemotaxis) / dx2)
        .fold(0.0f32, f32::max);
    let motility_substeps = if grid.active_axes().is_empty() || mobile.is_empty() {
        0
    } else {
        round_up(
            (dt * 2.0 * dims * max_rate / MOTILITY_SAFETY).ceil() as u32,
            multiple,
        )
    };
    let sub_dt = if motility_substeps > 0 {
        dt / motility_substeps as f32
    } else {
        dt
    };
    let cells = mobile
        .into_iter()
        .map(|c| CellPlan {
            field: c,
            uniform: TransportUniform {
                ghost_crowding,
                ..base_uniform(spec, c, sub_dt)
            },
        })
        .collect();
    (cells, motility_substeps)
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
        let (multiple, transport_dt) = match spec.splitting {
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
        let (cells, motility_substeps) = cell_plans(spec, multiple);
        let mut plan = TransportPlan {
            solver: spec.solver,
            splitting: spec.splitting,
            transport_dt,
            molecules,
            exponential,
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
                self.molecule_ops(&mut ops, 1);
                self.motility_ops(&mut ops, self.motility_substeps);
                if reactions {
                    ops.push(Op::React);
                }
            }
            Splitting::Strang => {
                let half = self.motility_substeps / 2;
                self.molecule_ops(&mut ops, 2);
                self.motility_ops(&mut ops, half);
                pointwise(&mut ops);
                self.motility_ops(&mut ops, half);
                self.molecule_ops(&mut ops, 2);
            }
        }
        ops
    }

    /// One molecule transport: the exponential passes (over
    /// `transport_dt`), or 1/`parts` of each molecule's explicit sub-steps.
    fn molecule_ops(&self, ops: &mut Vec<Op>, parts: u32) {
        match self.solver {
            DiffusionSolver::Exponential => {
                ops.extend(
                    (0..self.exponential.passes.len()).map(|index| Op::ExponentialPass { index }),
                );
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

    /// `count` motility sub-steps: crowding, then each mobile cell field.
    fn motility_ops(&self, ops: &mut Vec<Op>, count: u32) {
        for s in 0..count {
            let odd = s % 2 == 1;
            ops.push(Op::Crowding { odd });
            ops.extend((0..self.cells.len()).map(|cell| Op::Motility { cell, odd }));
        }
    }

    /// A sentence for logs and the manifest.
    pub fn describe(&self) -> String {
        let motility = format!("{} motility sub-steps per step", self.motility_substeps);
        match self.solver {
            DiffusionSolver::Exponential => format!(
                "{:?} splitting; exact exponential transport of {} molecules ({} axis passes); {motility}",
                self.splitting,
                self.molecules.len(),
                self.exponential.passes.len(),
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
    pub fn only(&self, stage: Stage) -> TransportPlan {
        let mut plan = self.clone();
        plan.ops.retain(|op| op.stage() == stage);
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

    fn plan(toml: &str) -> TransportPlan {
        let path = Path::new("test.toml");
        let config = parse_config(toml, path, &[]).expect("config");
        TransportPlan::new(&resolve(config.clone(), &config, path).expect("spec"))
    }

    /// Motility sub-steps starting at `ops[at]`: (crowding, each cell) x
    /// `count`, with alternating parity from even. Returns the index after.
    fn expect_motility(p: &TransportPlan, at: usize, count: usize) -> usize {
        let per = 1 + p.cells.len();
        for s in 0..count {
            let odd = s % 2 == 1;
            assert_eq!(p.ops[at + s * per], Op::Crowding { odd });
            for cell in 0..p.cells.len() {
                assert_eq!(p.ops[at + s * per + 1 + cell], Op::Motility { cell, odd });
            }
        }
        at + count * per
    }

    #[test]
    fn strang_step_is_symmetric_around_the_reactions() {
        let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n");
        assert_eq!(p.splitting, Splitting::Strang);
        assert_eq!(p.transport_dt, 7.5);
        assert_eq!(p.motility_substeps % 4, 0);
        let half = p.motility_substeps as usize / 2;
        let passes = [
            Op::ExponentialPass { index: 0 },
            Op::ExponentialPass { index: 1 },
        ];
        assert_eq!(&p.ops[..2], &passes);
        let at = expect_motility(&p, 2, half);
        assert_eq!(&p.ops[at..at + 3], &[Op::ReduceDc, Op::Systemic, Op::React]);
        let at = expect_motility(&p, at + 3, half);
        assert_eq!(&p.ops[at..], &passes);
    }

    #[test]
    fn lie_step_runs_systemic_transport_motility_then_reactions() {
        let p = plan("[grid]\nnx = 10\nny = 8\nnz = 1\n[solver]\nsplitting = \"lie\"\n");
        assert_eq!(p.transport_dt, 15.0);
        assert_eq!(
            &p.ops[..4],
            &[
                Op::ReduceDc,
                Op::Systemic,
                Op::ExponentialPass { index: 0 },
                Op::ExponentialPass { index: 1 },
            ]
        );
        let at = expect_motility(&p, 4, p.motility_substeps as usize);
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
        // Pass along x (len 4) and along y (len 3, the last: + offsets).
        let passes =
            molecules * (2 * field + 16 * 4) + molecules * (2 * field + 9 * 4) + offsets * field;
        // Crowding: 7 cells + ifng in, free + signal out; each cell 3 in, 1 out.
        let per_substep = (7 + 1 + 2) * field + p.cells.len() as u64 * 4 * field;
        let motility = p.motility_substeps as u64 * per_substep;
        // React: 19 fields in, 16 out (the 3 maps are constant).
        let react = (19 + 16) * field;
        assert_eq!(
            p.bytes_per_step(&s.grid),
            systemic + passes + motility + react
        );
        let only_transport = p.only(Stage::Transport);
        assert_eq!(only_transport.bytes_per_step(&s.grid), passes);
    }

    #[test]
    fn stages_partition_the_step() {
        let s = spec("[grid]\nnx = 6\nny = 5\nnz = 1\n");
        let p = TransportPlan::new(&s);
        let total: usize = Stage::ALL.iter().map(|&st| p.only(st).ops.len()).sum();
        assert_eq!(total, p.ops.len());
        let sum: u64 = Stage::ALL
            .iter()
            .map(|&st| p.only(st).bytes_per_step(&s.grid))
            .sum();
        assert_eq!(sum, p.bytes_per_step(&s.grid));
        // Molecules, mobile cells and reacted fields: all but the 3 maps.
        assert_eq!(p.fields_advanced().len(), 16);
        let transport = p.only(Stage::Transport);
        assert!(transport
            .ops
            .iter()
            .all(|op| op.stage() == Stage::Transport));
        assert_eq!(transport.fields_advanced().len(), 5);
    }
}
