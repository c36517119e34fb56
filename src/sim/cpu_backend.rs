//! The CPU backend: runs the schedule with the reference kernels in src/cpu.

use super::backend::Backend;
use super::plan::TransportPlan;
use crate::config::schema::DiffusionSolver;
use crate::cpu;
use crate::cpu::motility::MotilityInputs;
use crate::model::fields::idx;
use crate::model::grid::Grid;
use crate::model::params::ModelParams;
use crate::model::state::State;

pub struct CpuBackend {
    state: State,
    plan: TransportPlan,
    reactions: bool,
    dt: f32,
    scratch: Vec<f32>,
    free: Vec<f32>,
    signal: Vec<f32>,
}

impl CpuBackend {
    pub fn new(grid: Grid, plan: TransportPlan, reactions: bool, dt: f32) -> Self {
        let n = grid.len();
        Self {
            state: State::zeros(grid),
            plan,
            reactions,
            dt,
            scratch: vec![0.0; n],
            free: vec![0.0; n],
            signal: vec![0.0; n],
        }
    }

    /// One macro step: systemic ODE, molecule transport, cell transport,
    /// reactions (the same order as gpu::backend).
    fn step(&mut self, p: &ModelParams) {
        let grid = self.state.grid;
        if self.reactions {
            let partials = cpu::systemic::reduce_dc(&self.state.fields[idx::DC]);
            cpu::systemic::systemic(&partials, grid.len(), p, &mut self.state.systemic, self.dt);
        }
        for m in &self.plan.molecules {
            let u = &mut self.state.fields[m.field];
            match self.plan.solver {
                DiffusionSolver::Implicit => {
                    cpu::diffuse_residual::diffuse_residual(
                        &grid,
                        &m.residual,
                        u,
                        &mut self.scratch,
                    );
                    for sweep in &m.sweeps {
                        cpu::diffuse_sweep::diffuse_sweep(
                            &grid,
                            sweep,
                            &m.coef,
                            &mut self.scratch,
                            u,
                        );
                    }
                    cpu::diffuse_smooth::diffuse_smooth(&grid, &m.smooth, u, &mut self.scratch);
                    cpu::diffuse_smooth::diffuse_apply(u, &self.scratch);
                }
                DiffusionSolver::Explicit => {
                    for _ in 0..m.explicit_substeps {
                        cpu::diffuse_explicit::diffuse_explicit(
                            &grid,
                            &m.explicit,
                            u,
                            &mut self.scratch,
                        );
                        u.copy_from_slice(&self.scratch);
                    }
                }
            }
        }
        for _ in 0..self.plan.motility_substeps {
            cpu::crowding::crowding(
                &self.state.fields,
                p.crowding_limit,
                p.chemotaxis_ifng_k_nm,
                &mut self.free,
                &mut self.signal,
            );
            for c in &self.plan.cells {
                let inputs = MotilityInputs {
                    c: &self.state.fields[c.field],
                    free: &self.free,
                    ghost_free: (1.0 - c.uniform.ghost_crowding / p.crowding_limit).max(0.0),
                    signal: &self.signal,
                };
                cpu::motility::motility(&grid, &c.uniform, &inputs, &mut self.scratch);
                self.state.fields[c.field].copy_from_slice(&self.scratch);
            }
        }
        if self.reactions {
            cpu::react::react(
                &self.state.grid,
                &mut self.state.fields,
                p,
                &self.state.systemic,
                self.dt,
            );
        }
        self.state.step += 1;
    }
}

impl Backend for CpuBackend {
    fn kind(&self) -> &'static str {
        "cpu"
    }

    fn device_name(&self) -> String {
        format!("CPU reference ({} threads)", rayon::current_num_threads())
    }

    fn upload(&mut self, state: &State) {
        self.state = state.clone();
    }

    fn run_steps(&mut self, params: &[ModelParams]) {
        for p in params {
            self.step(p);
        }
    }

    fn download(&mut self) -> State {
        self.state.clone()
    }
}
