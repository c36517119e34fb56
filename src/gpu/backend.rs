//! The GPU backend: one storage buffer per field, every stage a compute
//! pipeline, a whole batch of steps encoded in one compute pass. State
//! stays on the GPU; only `download` reads it back.
//!
//! One backend advances a batch of patients that share a plan: each field
//! buffer holds every patient's grid back to back, every dispatch covers
//! them all (the patient is the dispatch's z dimension), and each patient
//! has its own parameters and systemic state. A single run is a batch of one.
//!
//! Per-step parameters (one set per patient) live in a ring of slots
//! addressed by dynamic offsets, so a batch of steps with changing therapy
//! parameters needs one upload and one submission. Cell motility and explicit diffusion ping-pong
//! between two buffers with an even number of sub-steps per half step, so a step ends with
//! every field back in its own buffer and no copies are needed.

use super::context::{self, GpuError};
pub use super::resources::ExponentialPassUniform;
use super::resources::{
    allocated, pipelines, Buffers, CellGroups, Layouts, MoleculeGroups, SourceGroups, StepGroups,
};
use super::shaders::Stage;
use crate::backend::batch::{check_params, Batch};
use crate::backend::plan::{Op, Phase, TransportPlan};
use crate::backend::{Backend, BadValue};
use crate::model::fields::FIELD_COUNT;
use crate::model::grid::{dispatch_shape, Grid, REDUCE_WG, WORKGROUP_SIZE};
use crate::model::params::ModelParams;
use crate::model::state::{State, Systemic};
use anyhow::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct GpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    grid: Grid,
    plan: TransportPlan,
    /// Patients the buffers hold, and those the dispatches cover (the
    /// states of the last upload).
    patients: u32,
    active: u32,
    pipelines: Vec<(Stage, wgpu::ComputePipeline)>,
    /// What the stages bind (resources.rs): the shared buffers, then the
    /// bind groups of each kind of operation, which also hold their own
    /// buffers (motility's alternates, the molecule scratch, the sources).
    buffers: Buffers,
    cells: CellGroups,
    molecules: MoleculeGroups,
    sources: SourceGroups,
    groups: StepGroups,
    /// The first error the device reported outside an error scope (out of
    /// memory, validation) or its loss; checked after every submission.
    fault: Arc<Mutex<Option<String>>>,
    /// Per active patient: steps done.
    steps: Vec<u64>,
    memory_bytes: u64,
}

/// The first error the device reports outside an error scope, or its loss.
fn watch_faults(device: &wgpu::Device) -> Arc<Mutex<Option<String>>> {
    let fault = Arc::new(Mutex::new(None));
    let sink = fault.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        let mut f = sink.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert_with(|| format!("GPU error: {e}"));
    }));
    let sink = fault.clone();
    device.set_device_lost_callback(move |reason, message| {
        let mut f = sink.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert_with(|| format!("GPU device lost ({reason:?}): {message}"));
    });
    fault
}

/// Most patients of `grid` and `plan` one batch can hold within `limits`:
/// every field of the batch must fit in one storage binding, and the
/// exponential pass's dispatch depth (patients x molecules) within the
/// per-dimension workgroup limit. Device memory is the other bound; wgpu
/// does not report it, so a batch too large for it fails with an
/// out-of-memory error when it is built.
pub fn patients_that_fit(limits: &wgpu::Limits, grid: &Grid, plan: &TransportPlan) -> u64 {
    let binding = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    let by_binding = binding / (grid.len() as u64 * 4);
    let depth = limits.max_compute_workgroups_per_dimension as u64;
    let by_depth = depth / plan.molecules.len().max(1) as u64;
    let by_params =
        limits.max_storage_buffer_binding_size / std::mem::size_of::<ModelParams>() as u64;
    by_binding.min(by_depth).min(by_params)
}

impl GpuBackend {
    /// Select an adapter (see `context`) and build every pipeline and buffer
    /// for one patient.
    pub fn new(grid: Grid, plan: TransportPlan, dt: f32) -> Result<Self, GpuError> {
        Self::batch(grid, plan, dt, 1)
    }

    /// A backend that advances `patients` patients of one plan together.
    pub fn batch(
        grid: Grid,
        plan: TransportPlan,
        dt: f32,
        patients: u32,
    ) -> Result<Self, GpuError> {
        let instance = context::instance();
        let adapter = context::select_adapter(&instance)?;
        Self::with_adapter(&adapter, grid, plan, dt, patients)
    }

    pub fn with_adapter(
        adapter: &wgpu::Adapter,
        grid: Grid,
        plan: TransportPlan,
        dt: f32,
        patients: u32,
    ) -> Result<Self, GpuError> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let fit = patients_that_fit(&limits, &grid, &plan);
        if patients as u64 > fit {
            return Err(GpuError::Limits {
                adapter: info.name,
                message: format!(
                    "a batch of {patients} patients of {} voxels does not fit: its buffers and \
                     dispatches allow at most {fit} patients; use a smaller batch",
                    grid.len()
                ),
            });
        }
        let bindings = [(
            "molecule propagators",
            plan.exponential.matrices.len() as u64 * 4,
        )];
        let voxels = grid.len() * patients.max(1) as usize;
        let (device, queue) = context::open_device(adapter, voxels, &bindings)?;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let backend = Self::build(device, queue, info, grid, plan, dt, patients.max(1));
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Wgpu(e.to_string()));
        }
        Ok(backend)
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        grid: Grid,
        plan: TransportPlan,
        dt: f32,
        patients: u32,
    ) -> Self {
        let before = allocated();
        let layouts = Layouts::new(&device);
        let pipelines = pipelines(&device, &layouts);
        let b = Buffers::new(&device, grid, dt, patients, plan.sources.mask());
        let cells = CellGroups::new(&device, &layouts, &plan, &b);
        let molecules = MoleculeGroups::new(&device, &layouts, &plan, &b);
        let sources = SourceGroups::new(&device, &layouts, &plan, &b);
        let groups = StepGroups::new(&device, &layouts, &b, &sources);
        let fault = watch_faults(&device);
        Self {
            device,
            queue,
            info,
            grid,
            plan,
            patients,
            active: patients,
            pipelines,
            buffers: b,
            cells,
            molecules,
            sources,
            groups,
            fault,
            steps: vec![0; patients as usize],
            memory_bytes: allocated() - before,
        }
    }

    fn pipeline(&self, stage: Stage) -> &wgpu::ComputePipeline {
        &self
            .pipelines
            .iter()
            .find(|(s, _)| *s == stage)
            .expect("pipeline")
            .1
    }

    /// Workgroups for `count` threads of one patient, shaped like the
    /// all-voxel dispatch so `local_voxel` (gid.x + gid.y * row_threads)
    /// stays valid.
    fn groups(&self, count: u32) -> (u32, u32) {
        let row = dispatch_shape((self.grid.len() as u32).div_ceil(WORKGROUP_SIZE)).0;
        let groups = count.div_ceil(WORKGROUP_SIZE).max(1);
        (groups.min(row), groups.div_ceil(row))
    }

    /// One thread per voxel of every active patient (gid.z the patient).
    fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass,
        stage: Stage,
        bg: &wgpu::BindGroup,
        offsets: &[u32],
    ) {
        pass.set_pipeline(self.pipeline(stage));
        pass.set_bind_group(0, bg, offsets);
        let (x, y) = self.groups(self.grid.len() as u32);
        pass.dispatch_workgroups(x, y, self.active);
    }

    /// Encode one macro step: the plan's operations in order.
    fn encode_step(&self, pass: &mut wgpu::ComputePass, slot: u32) {
        for &op in &self.plan.ops {
            self.encode_op(pass, op, slot);
        }
    }

    /// Encode one operation, with the parameters of ring slot `slot`.
    fn encode_op(&self, pass: &mut wgpu::ComputePass, op: Op, slot: u32) {
        let n = self.grid.len() as u32;
        let off = [slot * self.buffers.params_stride as u32];
        {
            match op {
                Op::ReduceDc => {
                    pass.set_pipeline(self.pipeline(Stage::ReduceDc));
                    pass.set_bind_group(0, &self.groups.reduce, &[]);
                    let (x, y) = dispatch_shape(n.div_ceil(REDUCE_WG));
                    pass.dispatch_workgroups(x, y, self.active);
                }
                Op::Systemic => {
                    pass.set_pipeline(self.pipeline(Stage::Systemic));
                    pass.set_bind_group(0, &self.groups.systemic, &off);
                    pass.dispatch_workgroups(1, 1, self.active);
                }
                Op::ExponentialPass { index } => {
                    pass.set_pipeline(self.pipeline(Stage::DiffuseExponential));
                    pass.set_bind_group(0, &self.molecules.exponential[index], &[]);
                    let (x, y) = self.groups(n);
                    let depth = self.plan.molecules.len() as u32 * self.active;
                    pass.dispatch_workgroups(x, y, depth);
                }
                Op::ExplicitSubstep { molecule, odd } => {
                    let bg = &self.molecules.explicit[molecule][odd as usize];
                    self.dispatch(pass, Stage::DiffuseExplicit, bg, &[]);
                }
                Op::Crowding { alternate } => {
                    let bg = self
                        .cells
                        .crowding
                        .iter()
                        .find(|(mask, _)| *mask == alternate)
                        .map(|(_, bg)| bg)
                        .expect("a bind group for every mask of the plan");
                    self.dispatch(pass, Stage::Crowding, bg, &off);
                }
                Op::Motility { cell, odd } => {
                    let bg = &self.cells.motility[cell][odd as usize];
                    self.dispatch(pass, Stage::Motility, bg, &off);
                }
                Op::React => self.dispatch(pass, Stage::React, &self.groups.react, &off),
                // Produce shares the reaction stage's bindings.
                Op::Produce => self.dispatch(pass, Stage::Produce, &self.groups.react, &off),
                Op::SourcePass { index } => {
                    pass.set_pipeline(self.pipeline(Stage::SourcePass));
                    pass.set_bind_group(0, &self.sources.passes[index], &[]);
                    let (x, y) = self.groups(n);
                    let depth = self.plan.sources.fields.len() as u32 * self.active;
                    pass.dispatch_workgroups(x, y, depth);
                }
                Op::SourceAdd => {
                    pass.set_pipeline(self.pipeline(Stage::SourceAdd));
                    pass.set_bind_group(0, &self.sources.add, &[]);
                    let (x, y) = self.groups(n);
                    let depth = self.plan.sources.fields.len() as u32 * self.active;
                    pass.dispatch_workgroups(x, y, depth);
                }
            }
        }
    }

    /// The device's first reported fault, as an error.
    fn check_fault(&self) -> Result<()> {
        match self
            .fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(f) => Err(anyhow::anyhow!("{f} ({})", self.info.name)),
            None => Ok(()),
        }
    }

    /// `bytes` of `buffer` from byte `from`.
    fn read_bytes(&self, buffer: &wgpu::Buffer, from: u64, bytes: u64) -> Result<Vec<u8>> {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, from, &self.buffers.readback, 0, bytes);
        self.submit_and_read(encoder, &self.buffers.readback, bytes)
    }

    /// Submit `encoder` (which ends by copying into the mappable `staging`)
    /// and read the first `bytes` of `staging` back.
    fn submit_and_read(
        &self,
        encoder: wgpu::CommandEncoder,
        staging: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            let _ = tx.send(r);
        });
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.check_fault()?;
        polled.map_err(|e| anyhow::anyhow!("GPU poll failed: {e}"))?;
        rx.recv()
            .map_err(|_| anyhow::anyhow!("GPU readback was dropped"))?
            .map_err(|e| anyhow::anyhow!("GPU readback failed: {e}"))?;
        let data = staging
            .get_mapped_range(0..bytes)
            .map_err(|e| anyhow::anyhow!("GPU readback failed: {e}"))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// `Backend::profile_stages`: each step's operations in compute passes
    /// of their own, with a timestamp at the start and end of each.
    fn timed_stages(&mut self, params: &[ModelParams]) -> Result<Option<Vec<(Phase, Duration)>>> {
        if !self
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return Ok(None);
        }
        anyhow::ensure!(self.active == 1, "stages are timed on one patient");
        let ops = &self.plan.ops;
        let queries = 2 * ops.len() as u32;
        let bytes = queries as u64 * wgpu::QUERY_SIZE as u64;
        let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("stage timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: queries,
        });
        let buffer = |usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("stage timestamps"),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolved = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let staging = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let tick_ns = self.queue.get_timestamp_period() as f64;
        let mut totals = vec![0f64; Phase::ALL.len()];
        for p in params {
            self.check_fault()?;
            self.queue
                .write_buffer(&self.buffers.params, 0, bytemuck::bytes_of(p));
            let mut encoder = self.device.create_command_encoder(&Default::default());
            for (k, &op) in ops.iter().enumerate() {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &set,
                        beginning_of_pass_write_index: Some(2 * k as u32),
                        end_of_pass_write_index: Some(2 * k as u32 + 1),
                    }),
                });
                self.encode_op(&mut pass, op, 0);
            }
            encoder.resolve_query_set(&set, 0..queries, &resolved, 0);
            encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, bytes);
            let ticks: Vec<u64> =
                bytemuck::pod_collect_to_vec(&self.submit_and_read(encoder, &staging, bytes)?);
            for (k, op) in ops.iter().enumerate() {
                let stage = Phase::ALL.iter().position(|s| *s == op.phase());
                let elapsed = ticks[2 * k + 1].saturating_sub(ticks[2 * k]);
                totals[stage.expect("every stage is listed")] += elapsed as f64 * tick_ns;
            }
        }
        self.steps[0] += params.len() as u64;
        Ok(Some(
            Phase::ALL
                .iter()
                .zip(totals)
                .map(|(&s, ns)| (s, Duration::from_nanos(ns as u64)))
                .collect(),
        ))
    }

    fn read_f32(&self, buffer: &wgpu::Buffer, from: u64, bytes: u64) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(
            &self.read_bytes(buffer, from, bytes)?,
        ))
    }

    /// Simulate the loss of the device (as a driver reset would), so tests
    /// can check that every later call fails with an error.
    #[doc(hidden)]
    pub fn lose_device(&self) {
        self.device.destroy();
    }
}

/// A single run is a batch of one patient.
impl Backend for GpuBackend {
    fn kind(&self) -> &'static str {
        "gpu"
    }

    fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    fn device_name(&self) -> String {
        context::describe(&self.info)
    }

    fn upload(&mut self, state: &State) -> Result<()> {
        self.upload_batch(std::slice::from_ref(state))
    }

    fn run_steps(&mut self, params: &[ModelParams]) -> Result<()> {
        anyhow::ensure!(
            self.active == 1,
            "a batch of {} patients run as one",
            self.active
        );
        self.run_batch(&[params])
    }

    fn download(&mut self) -> Result<State> {
        let mut states = self.download_batch()?;
        anyhow::ensure!(
            states.len() == 1,
            "a batch of {} patients read as one",
            states.len()
        );
        Ok(states.remove(0))
    }

    fn find_bad_value(&mut self) -> Result<Option<BadValue>> {
        Ok(self.find_bad_in_batch()?.map(|(_, bad)| bad))
    }

    fn profile_stages(&mut self, params: &[ModelParams]) -> Result<Option<Vec<(Phase, Duration)>>> {
        self.timed_stages(params)
    }
}

impl Batch for GpuBackend {
    fn kind(&self) -> &'static str {
        "gpu"
    }

    fn device_name(&self) -> String {
        context::describe(&self.info)
    }

    fn capacity(&self) -> usize {
        self.patients as usize
    }

    fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    fn fit(&self) -> Option<u64> {
        Some(patients_that_fit(
            &self.device.limits(),
            &self.grid,
            &self.plan,
        ))
    }

    fn upload_batch(&mut self, states: &[State]) -> Result<()> {
        anyhow::ensure!(
            !states.is_empty() && states.len() <= self.patients as usize,
            "{} states for a batch of up to {} patients",
            states.len(),
            self.patients
        );
        let field_bytes = self.grid.len() as u64 * 4;
        for (k, state) in states.iter().enumerate() {
            anyhow::ensure!(
                state.grid == self.grid,
                "state grid differs from backend grid"
            );
            for (buf, data) in self.buffers.fields.iter().zip(&state.fields) {
                let at = k as u64 * field_bytes;
                self.queue.write_buffer(buf, at, bytemuck::cast_slice(data));
            }
        }
        let systemic: Vec<Systemic> = states.iter().map(|s| s.systemic).collect();
        self.queue
            .write_buffer(&self.buffers.systemic, 0, bytemuck::cast_slice(&systemic));
        self.active = states.len() as u32;
        self.steps = states.iter().map(|s| s.step).collect();
        self.check_fault()
    }

    fn run_batch(&mut self, params: &[&[ModelParams]]) -> Result<()> {
        let steps = check_params(params, self.active as usize)?;
        let size = std::mem::size_of::<ModelParams>();
        let stride = self.buffers.params_stride as usize;
        let mut first = 0;
        while first < steps {
            let chunk = (steps - first).min(self.buffers.params_slots as usize);
            self.check_fault()?;
            let mut ring = vec![0u8; stride * chunk];
            for slot in 0..chunk {
                for (k, patient) in params.iter().enumerate() {
                    let at = slot * stride + k * size;
                    ring[at..at + size].copy_from_slice(bytemuck::bytes_of(&patient[first + slot]));
                }
            }
            self.queue.write_buffer(&self.buffers.params, 0, &ring);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for slot in 0..chunk {
                    self.encode_step(&mut pass, slot as u32);
                }
            }
            self.queue.submit([encoder.finish()]);
            first += chunk;
        }
        self.steps.iter_mut().for_each(|s| *s += steps as u64);
        self.check_fault()
    }

    fn download_batch(&mut self) -> Result<Vec<State>> {
        let bytes = self.grid.len() as u64 * 4;
        let size = std::mem::size_of::<Systemic>() as u64;
        let systemic: Vec<Systemic> = bytemuck::pod_collect_to_vec(&self.read_bytes(
            &self.buffers.systemic,
            0,
            size * self.active as u64,
        )?);
        // One read per field covers every active patient.
        let batch = bytes * self.active as u64;
        let fields: Vec<Vec<f32>> = self
            .buffers
            .fields
            .iter()
            .map(|b| self.read_f32(b, 0, batch))
            .collect::<Result<_>>()?;
        let n = self.grid.len();
        Ok((0..self.active as usize)
            .map(|k| State {
                grid: self.grid,
                fields: fields
                    .iter()
                    .map(|f| f[k * n..(k + 1) * n].to_vec())
                    .collect(),
                systemic: systemic[k],
                step: self.steps[k],
            })
            .collect())
    }

    fn find_bad_in_batch(&mut self) -> Result<Option<(usize, BadValue)>> {
        let reset: Vec<u32> = (0..FIELD_COUNT).flat_map(|_| [0, u32::MAX]).collect();
        self.queue
            .write_buffer(&self.buffers.flags, 0, bytemuck::cast_slice(&reset));
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            self.dispatch(&mut pass, Stage::CheckValues, &self.groups.check, &[]);
        }
        self.queue.submit([encoder.finish()]);
        let flags: Vec<u32> = bytemuck::pod_collect_to_vec(&self.read_bytes(
            &self.buffers.flags,
            0,
            8 * FIELD_COUNT as u64,
        )?);
        // The flagged voxel is an index into the batch's buffers.
        let n = self.grid.len();
        Ok(flags
            .chunks(2)
            .enumerate()
            .find(|(_, c)| c[0] > 0)
            .map(|(field, c)| {
                let voxel = c[1] as usize;
                let bad = BadValue {
                    field,
                    voxel: voxel % n,
                    count: c[0] as u64,
                };
                (voxel / n, bad)
            }))
    }
}
