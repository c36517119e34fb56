//! The transport schedule of a run, computed once from the config and read
//! by both backends: per-field uniforms, Thomas factors and sub-step counts.

use crate::config::resolve::{Boundary, RunSpec};
use crate::config::schema::DiffusionSolver;
use crate::model::fields::{fields_of, FieldKind, FIELDS};
use crate::model::grid::{Grid, TransportUniform};
use crate::model::thomas::thomas_factors;

/// Largest fraction of the explicit stability limit a diffusion sub-step
/// may use (dt (2 d D / dx^2 + lambda) <= 0.9: non-negative updates).
pub const EXPLICIT_SAFETY: f32 = 0.9;

/// Bound on dt * sum_j w_ij of a motility sub-step. Below 0.5 every update
/// is a convex combination weighted toward the voxel's own value, so the
/// grid-scale checkerboard mode is damped without sign changes instead of
/// ringing (at 0.9 it showed as a dotted ring at the tumour margin).
pub const MOTILITY_SAFETY: f32 = 0.45;

#[derive(Clone, Debug)]
pub struct MoleculePlan {
    pub field: usize,
    /// Implicit solver: residual uniform, then one uniform per sweep.
    pub residual: TransportUniform,
    pub sweeps: Vec<TransportUniform>,
    /// Damped-Jacobi smoothing after the sweeps (`k` holds its weight).
    pub smooth: TransportUniform,
    /// Thomas factors of all sweep axes (offsets in the sweep uniforms).
    pub coef: Vec<f32>,
    /// Explicit solver: sub-step uniform and count.
    pub explicit: TransportUniform,
    pub explicit_substeps: u32,
}

#[derive(Clone, Debug)]
pub struct CellPlan {
    pub field: usize,
    pub uniform: TransportUniform,
}

#[derive(Clone, Debug)]
pub struct TransportPlan {
    pub solver: DiffusionSolver,
    pub molecules: Vec<MoleculePlan>,
    pub cells: Vec<CellPlan>,
    pub motility_substeps: u32,
}

fn base_uniform(spec: &RunSpec, field: usize, dt: f32) -> TransportUniform {
    let setup = &spec.fields[field];
    let (dirichlet, bc_value) = match setup.boundary {
        Boundary::NoFlux => (0, 0.0),
        Boundary::Dirichlet(v) => (1, v),
    };
    TransportUniform {
        diffusivity: setup.diffusivity,
        decay: setup.decay,
        chemotaxis: setup.chemotaxis,
        dt,
        bc_value,
        dirichlet,
        ..Default::default()
    }
}

/// Sub-step counts are rounded up to an even number (at least 2): the GPU
/// ping-pongs between two buffers and must end a step in the first one.
fn even(n: u32) -> u32 {
    n.max(1).div_ceil(2) * 2
}

/// Axes the implicit solver sweeps: the active ones, or x for a single voxel
/// (so decay still acts).
fn sweep_axes(grid: &Grid) -> Vec<usize> {
    let axes = grid.active_axes();
    if axes.is_empty() {
        vec![0]
    } else {
        axes
    }
}

impl TransportPlan {
    pub fn new(spec: &RunSpec) -> Self {
        let grid = spec.grid;
        let dt = spec.dt_min;
        let dx2 = grid.dx_um * grid.dx_um;
        let dims = grid.spatial_dims() as f32;
        let axes = sweep_axes(&grid);

        let molecules = fields_of(FieldKind::Molecule)
            .filter(|&f| spec.fields[f].diffusivity > 0.0 || spec.fields[f].decay > 0.0)
            .map(|f| {
                let setup = &spec.fields[f];
                let residual = base_uniform(spec, f, dt);
                let axis_decay = setup.decay / axes.len() as f32;
                let k = dt * setup.diffusivity / dx2;
                let mut coef = Vec::new();
                let mut sweeps = Vec::new();
                for (n_sweep, &axis) in axes.iter().enumerate() {
                    let n = grid.dims()[axis];
                    let (cp, inv) =
                        thomas_factors(n, k as f64, (dt * axis_decay) as f64, setup.boundary);
                    sweeps.push(TransportUniform {
                        axis_decay,
                        k,
                        axis: axis as u32,
                        apply: (n_sweep + 1 == axes.len()) as u32,
                        coef_offset: coef.len() as u32,
                        ..residual
                    });
                    coef.extend(cp);
                    coef.extend(inv);
                }
                // Weight 1/2 over the interior diagonal of (I - dt A), the
                // same everywhere so the correction sums to zero (no-flux).
                let smooth = TransportUniform {
                    k: 0.5 / (1.0 + 2.0 * dims * k + dt * setup.decay),
                    ..residual
                };
                let rate = 2.0 * dims * setup.diffusivity / dx2 + setup.decay;
                let explicit_substeps = even((dt * rate / EXPLICIT_SAFETY).ceil() as u32);
                let explicit = TransportUniform {
                    dt: dt / explicit_substeps as f32,
                    ..residual
                };
                MoleculePlan {
                    field: f,
                    residual,
                    sweeps,
                    smooth,
                    coef,
                    explicit,
                    explicit_substeps,
                }
            })
            .collect();

        let ghost_crowding: f32 = fields_of(FieldKind::Cell)
            .map(|c| match spec.fields[c].boundary {
                Boundary::Dirichlet(v) => v,
                Boundary::NoFlux => 0.0,
            })
            .sum();
        let mobile: Vec<usize> = fields_of(FieldKind::Cell)
            .filter(|&c| spec.fields[c].diffusivity > 0.0 || spec.fields[c].chemotaxis > 0.0)
            .collect();
        let max_rate = mobile
            .iter()
            .map(|&c| (spec.fields[c].diffusivity + spec.fields[c].chemotaxis) / dx2)
            .fold(0.0f32, f32::max);
        let motility_substeps = if grid.active_axes().is_empty() || mobile.is_empty() {
            0
        } else {
            even((dt * 2.0 * dims * max_rate / MOTILITY_SAFETY).ceil() as u32)
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

        TransportPlan {
            solver: spec.solver,
            molecules,
            cells,
            motility_substeps,
        }
    }

    /// A sentence for logs and the manifest.
    pub fn describe(&self) -> String {
        let subs: Vec<String> = self
            .molecules
            .iter()
            .map(|m| format!("{} {}", FIELDS[m.field].name, m.explicit_substeps))
            .collect();
        match self.solver {
            DiffusionSolver::Implicit => format!(
                "implicit delta-form ADI for {} molecules; {} motility sub-steps per step",
                self.molecules.len(),
                self.motility_substeps
            ),
            DiffusionSolver::Explicit => format!(
                "explicit diffusion sub-steps per step: {}; {} motility sub-steps per step",
                subs.join(", "),
                self.motility_substeps
            ),
        }
    }
}
