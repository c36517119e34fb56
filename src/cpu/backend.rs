//! The CPU backend: runs the plan's operations with the reference kernels
//! in src/cpu.

use crate::backend::plan::{Op, TransportPlan};
use crate::backend::{scan_values, Backend, BadValue};
use crate::cpu;
use crate::cpu::diffuse_exponential::LinePropagator;
use crate::cpu::motility::MotilityInputs;
use crate::model::fields::idx;
use crate::model::grid::Grid;
use crate::model::params::ModelParams;
use crate::model::state::State;
use anyhow::Result;

pub struct CpuBackend {
    state: State,
    plan: TransportPlan,
    dt: f32,
    scratch: Vec<f32>,
    free: Vec<f32>,
    signal: Vec<f32>,
    dc_partials: Vec<f32>,
    /// Per exponential pass along x, per molecule: its propagator laid out
    /// for the CPU's sums, once per run (None for the other axes).
    lines: Vec<Vec<Option<LinePropagator>>>,
    /// The source buffer (slot after slot) and the transforms that
    /// replace the plan's dense source passes on the CPU.
    sources: Vec<f32>,
    fast_sources: cpu::source_pass::FastSourceTransform,
}

impl CpuBackend {
    pub fn new(grid: Grid, plan: TransportPlan, dt: f32) -> Self {
        let n = grid.len();
        let exp = &plan.exponential;
        let lines = exp
            .passes
            .iter()
            .map(|pass| {
                (0..plan.molecules.len())
                    .map(|m| {
                        let matrix = pass.propagator(&exp.matrices, m);
                        (pass.stride == 1)
                            .then(|| LinePropagator::new(pass, matrix, pass.band[m] as usize))
                    })
                    .collect()
            })
            .collect();
        Self {
            state: State::zeros(grid),
            sources: vec![0.0; n * plan.sources.fields.len()],
            fast_sources: cpu::source_pass::FastSourceTransform::new(&plan.sources, &grid),
            plan,
            lines,
            dt,
            scratch: vec![0.0; n],
            free: vec![0.0; n],
            signal: vec![0.0; n],
            dc_partials: Vec::new(),
        }
    }

    fn run_op(&mut self, op: Op, p: &ModelParams) {
        let grid = self.state.grid;
        match op {
            Op::ReduceDc => {
                self.dc_partials = cpu::systemic::reduce_dc(&self.state.fields[idx::DC]);
            }
            Op::Systemic => {
                cpu::systemic::systemic(
                    &self.dc_partials,
                    grid.len(),
                    p,
                    &mut self.state.systemic,
                    self.dt,
                );
            }
            Op::ExponentialPass { index } => {
                let exp = &self.plan.exponential;
                let pass = exp.passes[index];
                for (m, plan) in self.plan.molecules.iter().enumerate() {
                    let offset = plan.offset.as_deref().filter(|_| pass.last);
                    cpu::diffuse_exponential::exponential_pass(
                        &pass,
                        pass.propagator(&exp.matrices, m),
                        pass.band[m] as usize,
                        self.lines[index][m].as_ref(),
                        &self.state.fields[plan.field],
                        offset,
                        &mut self.scratch,
                    );
                    std::mem::swap(&mut self.state.fields[plan.field], &mut self.scratch);
                }
            }
            // The CPU copies back after each sub-step: no ping-pong parity.
            Op::ExplicitSubstep { molecule, odd: _ } => {
                let m = &self.plan.molecules[molecule];
                let u = &mut self.state.fields[m.field];
                cpu::diffuse_explicit::diffuse_explicit(&grid, &m.explicit, u, &mut self.scratch);
                u.copy_from_slice(&self.scratch);
            }
            Op::Crowding { alternate: _ } => {
                cpu::crowding::crowding(
                    &self.state.fields,
                    p.crowding_limit,
                    p.chemotaxis_ifng_k_nm,
                    &mut self.free,
                    &mut self.signal,
                );
            }
            Op::Motility { cell, odd: _ } => {
                let c = &self.plan.cells[cell];
                let inputs = MotilityInputs {
                    c: &self.state.fields[c.field],
                    free: &self.free,
                    ghost_free: (1.0 - c.uniform.ghost_crowding / p.crowding_limit).max(0.0),
                    signal: &self.signal,
                };
                cpu::motility::motility(&grid, &c.uniform, &inputs, &mut self.scratch);
                // The sub-step wrote every voxel of the scratch: it becomes
                // the field, and the old field the next scratch.
                std::mem::swap(&mut self.state.fields[c.field], &mut self.scratch);
            }
            Op::React => {
                cpu::react::react(
                    &self.state.grid,
                    &mut self.state.fields,
                    p,
                    &self.state.systemic,
                    self.dt,
                    self.plan.sources.mask(),
                    &mut self.sources,
                );
            }
            Op::Produce => {
                cpu::react::produce(
                    &grid,
                    &self.state.fields,
                    p,
                    &self.plan.sources.fields,
                    &mut self.sources,
                );
            }
            // The whole transform at the first pass, by fast transforms or
            // matrix products (the plan's dense passes' result, to
            // round-off).
            Op::SourcePass { index } => {
                if index == 0 {
                    self.fast_sources.apply(&mut self.sources);
                }
            }
            Op::SourceAdd => {
                let n = grid.len();
                for (slot, &f) in self.plan.sources.fields.iter().enumerate() {
                    cpu::source_pass::source_add(
                        &mut self.state.fields[f],
                        &self.sources[slot * n..(slot + 1) * n],
                    );
                }
            }
        }
    }
}

impl Backend for CpuBackend {
    fn kind(&self) -> &'static str {
        "cpu"
    }

    fn device_name(&self) -> String {
        match rayon::current_num_threads() {
            1 => "CPU reference (1 thread)".to_string(),
            n => format!("CPU reference ({n} threads)"),
        }
    }

    fn memory_bytes(&self) -> u64 {
        let values: usize = self.state.fields.iter().map(Vec::len).sum::<usize>()
            + self.scratch.len()
            + self.free.len()
            + self.signal.len()
            + self.plan.exponential.matrices.len()
            + self.sources.len()
            + self.plan.sources.matrices.len()
            + self.plan.sources.phi.len();
        (values * std::mem::size_of::<f32>()) as u64
    }

    fn upload(&mut self, state: &State) -> Result<()> {
        anyhow::ensure!(
            state.grid == self.state.grid,
            "state grid differs from backend grid"
        );
        self.state = state.clone();
        Ok(())
    }

    fn run_steps(&mut self, params: &[ModelParams]) -> Result<()> {
        // The whole batch runs on a rayon worker: each op's parallel loop
        // then starts from inside the pool instead of being handed over from
        // the calling thread (a sleep and a wake per op, about a quarter of
        // a one-thread run's time in the scheduler).
        rayon::scope(|_| {
            for p in params {
                for i in 0..self.plan.ops.len() {
                    self.run_op(self.plan.ops[i], p);
                }
                self.state.step += 1;
            }
        });
        Ok(())
    }

    fn download(&mut self) -> Result<State> {
        Ok(self.state.clone())
    }

    fn find_bad_value(&mut self) -> Result<Option<BadValue>> {
        Ok(scan_values(&self.state.fields))
    }
}
