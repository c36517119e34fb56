//! How one macro step is put together: the molecules' and cells' plans
//! and the ordered list of operations both backends run.

use super::propagators::{exponential_plan, molecule_offset, source_plan};
use super::*;
use crate::config::resolve::RunSpec;
use crate::model::fields::{fields_of, FieldKind, FIELDS, SOURCES_IN_TRANSPORT};
use crate::model::solver::Boundary;

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
