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
use super::shaders::{
    source, Stage, CHECK_FIELD_BINDING, CROWDING_CELL_BINDING, EXPONENTIAL_SLOT_BINDING,
    REACT_FIELD_BINDING,
};
use crate::backend::batch::{check_params, Batch};
use crate::backend::plan::{Op, TransportPlan, MAX_MOLECULES};
use crate::backend::{Backend, BadValue, MAX_BATCH};
use crate::model::fields::{fields_of, idx, FieldKind, FIELD_COUNT};
use crate::model::grid::{dispatch_shape, Grid, REDUCE_WG, WORKGROUP_SIZE};
use crate::model::params::ModelParams;
use crate::model::state::{State, Systemic};
use anyhow::Result;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// Binding kinds of the explicit layouts.
#[derive(Clone, Copy)]
enum Slot {
    Read,
    ReadWrite,
    Uniform,
    /// The per-step ring of per-patient `Params`.
    Params,
}

/// The settings of one exponential pass (WGSL `ExponentialPass`), bound as
/// a storage buffer (see shaders/diffuse_exponential.wgsl for why).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ExponentialPassUniform {
    pub len: u32,
    pub stride: u32,
    pub last: u32,
    /// Bit m set when molecule slot m has a Dirichlet offset.
    pub offset_mask: u32,
    /// Molecule slots in use: the dispatch's depth per patient.
    pub molecules: u32,
    pub _pad: [u32; 3],
    /// Per molecule slot: the half-width of its propagator's band ...
    pub band: [u32; MAX_MOLECULES],
    /// ... and where its band rows start in the propagator buffer.
    pub base: [u32; MAX_MOLECULES],
}

pub struct GpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    grid: Grid,
    plan: TransportPlan,
    fields: Vec<wgpu::Buffer>,
    /// Second buffer of each mobile cell field (motility ping-pong); held
    /// here so the buffers live as long as the bind groups that use them.
    _cell_alt: Vec<(usize, wgpu::Buffer)>,
    systemic: wgpu::Buffer,
    params: wgpu::Buffer,
    params_stride: u64,
    params_slots: u64,
    /// Patients the buffers hold, and those the dispatches cover (the
    /// states of the last upload).
    patients: u32,
    active: u32,
    readback: wgpu::Buffer,
    pipelines: Vec<(Stage, wgpu::ComputePipeline)>,
    /// Scratch buffers of the molecule passes, held for their bind groups.
    _molecule_scratch: Vec<wgpu::Buffer>,
    react_bg: wgpu::BindGroup,
    check_bg: wgpu::BindGroup,
    /// Per field: flagged-voxel count and lowest flagged voxel.
    flags: wgpu::Buffer,
    /// The first error the device reported outside an error scope (out of
    /// memory, validation) or its loss; checked after every submission.
    fault: Arc<Mutex<Option<String>>>,
    reduce_bg: wgpu::BindGroup,
    systemic_bg: wgpu::BindGroup,
    crowding_bg: Vec<(u32, wgpu::BindGroup)>,
    /// Per mobile cell field: sub-step bind groups (even, odd).
    motility_bg: Vec<[wgpu::BindGroup; 2]>,
    /// Per exponential pass: its bind group.
    exponential_bg: Vec<wgpu::BindGroup>,
    /// Per molecule: explicit sub-step bind groups (field -> scratch, back).
    explicit_bg: Vec<[wgpu::BindGroup; 2]>,
    /// Per active patient: steps done.
    steps: Vec<u64>,
    memory_bytes: u64,
}

thread_local! {
    /// Bytes of the buffers created on this thread: `build` reads the
    /// difference, so each backend knows its own GPU memory.
    static ALLOCATED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Count `buffer` in this thread's `ALLOCATED`.
fn tracked(buffer: wgpu::Buffer) -> wgpu::Buffer {
    ALLOCATED.with(|a| a.set(a.get() + buffer.size()));
    buffer
}

fn allocated() -> u64 {
    ALLOCATED.with(|a| a.get())
}

fn storage(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    tracked(device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

/// A read-only storage buffer holding `contents` (never written after creation).
fn storage_init(device: &wgpu::Device, label: &str, contents: &[u8]) -> wgpu::Buffer {
    tracked(
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE,
        }),
    )
}

fn uniform<T: bytemuck::Pod>(device: &wgpu::Device, label: &str, value: &T) -> wgpu::Buffer {
    tracked(
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM,
        }),
    )
}

fn layout(device: &wgpu::Device, stage: Stage, slots: &[Slot]) -> wgpu::BindGroupLayout {
    let entries: Vec<_> = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: match slot {
                Slot::Read | Slot::ReadWrite => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: matches!(slot, Slot::Read),
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                Slot::Uniform => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                Slot::Params => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: true },
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(
                        std::mem::size_of::<ModelParams>() as u64
                    ),
                },
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(stage.name()),
        entries: &entries,
    })
}

/// The binding slots of each stage, in binding order (see the WGSL files).
fn slots(stage: Stage) -> Vec<Slot> {
    use Slot::*;
    match stage {
        Stage::React => {
            let mut s = vec![Read, Uniform, Params];
            assert_eq!(s.len() as u32, REACT_FIELD_BINDING);
            s.extend(std::iter::repeat_n(ReadWrite, FIELD_COUNT));
            s
        }
        Stage::Crowding => {
            let mut s = vec![ReadWrite, ReadWrite, Uniform, Params];
            assert_eq!(s.len() as u32, CROWDING_CELL_BINDING);
            s.extend(std::iter::repeat_n(
                Read,
                fields_of(FieldKind::Cell).count() + 1,
            ));
            s
        }
        Stage::Motility => vec![Read, ReadWrite, Read, Read, Uniform, Uniform, Params],
        Stage::DiffuseExplicit => vec![Read, ReadWrite, Uniform, Uniform],
        Stage::DiffuseExponential => {
            let mut s = vec![Uniform, Read, Read];
            assert_eq!(s.len() as u32, EXPONENTIAL_SLOT_BINDING);
            for _ in 0..MAX_MOLECULES {
                s.extend([Read, ReadWrite, Read]);
            }
            s
        }
        Stage::ReduceDc => vec![Read, ReadWrite, Uniform],
        Stage::CheckValues => {
            let mut s = vec![Uniform, ReadWrite];
            assert_eq!(s.len() as u32, CHECK_FIELD_BINDING);
            s.extend(std::iter::repeat_n(Read, FIELD_COUNT));
            s
        }
        Stage::Systemic => vec![Read, ReadWrite, Uniform, Params],
    }
}

/// The resource bound to one binding.
enum Res<'a> {
    Buf(&'a wgpu::Buffer),
    /// The parameter ring, one slot (`bytes`: a parameter set per patient)
    /// at a time.
    Params(&'a wgpu::Buffer, u64),
}

fn bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    res: &[Res],
) -> wgpu::BindGroup {
    let entries: Vec<_> = res
        .iter()
        .enumerate()
        .map(|(i, r)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: match r {
                Res::Buf(b) => b.as_entire_binding(),
                Res::Params(b, bytes) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b,
                    offset: 0,
                    size: wgpu::BufferSize::new(*bytes),
                }),
            },
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// The bind group layout of every stage.
struct Layouts(Vec<(Stage, wgpu::BindGroupLayout)>);

impl Layouts {
    fn new(device: &wgpu::Device) -> Self {
        Self(
            Stage::ALL
                .iter()
                .map(|&s| (s, layout(device, s, &slots(s))))
                .collect(),
        )
    }

    fn get(&self, stage: Stage) -> &wgpu::BindGroupLayout {
        &self.0.iter().find(|(k, _)| *k == stage).expect("layout").1
    }
}

/// Every stage's compute pipeline, from its generated WGSL source.
fn pipelines(device: &wgpu::Device, layouts: &Layouts) -> Vec<(Stage, wgpu::ComputePipeline)> {
    Stage::ALL
        .iter()
        .map(|&s| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(s.name()),
                source: wgpu::ShaderSource::Wgsl(source(s).into()),
            });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(s.name()),
                bind_group_layouts: &[Some(layouts.get(s))],
                immediate_size: 0,
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(s.name()),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            (s, pipeline)
        })
        .collect()
}

/// Most bytes of the parameter ring: a large batch of patients gets fewer
/// steps per submission rather than an outsized ring.
const PARAMS_RING_BYTES: u64 = 32 << 20;

/// The buffers several stages share: the fields, the crowding and signal
/// maps, the DC partial sums, the systemic state, the grid uniform, the
/// per-step parameter ring, the value flags and the readback buffer. Each
/// per-voxel buffer holds `patients` grids back to back.
struct Buffers {
    patients: u32,
    /// Bytes of one field of the whole batch.
    batch_bytes: u64,
    fields: Vec<wgpu::Buffer>,
    free: wgpu::Buffer,
    signal: wgpu::Buffer,
    partials: wgpu::Buffer,
    systemic: wgpu::Buffer,
    grid: wgpu::Buffer,
    params: wgpu::Buffer,
    /// Bytes of one step's slot of the ring (a parameter set per patient,
    /// rounded up to the dynamic-offset alignment), and slots in the ring.
    params_stride: u64,
    params_slots: u64,
    flags: wgpu::Buffer,
    readback: wgpu::Buffer,
}

/// Bytes of one step's parameters for `patients` patients.
fn params_bytes(patients: u32) -> u64 {
    patients as u64 * std::mem::size_of::<ModelParams>() as u64
}

impl Buffers {
    fn new(device: &wgpu::Device, grid: Grid, dt: f32, patients: u32) -> Self {
        let n = grid.len() as u64;
        let bytes = n * 4;
        let batch_bytes = bytes * patients as u64;
        let align = device.limits().min_storage_buffer_offset_alignment as u64;
        let params_stride = params_bytes(patients).div_ceil(align) * align;
        let params_slots = (PARAMS_RING_BYTES / params_stride).clamp(1, MAX_BATCH);
        let flags_bytes = 8 * FIELD_COUNT as u64;
        let per_patient = |what: u64| what * patients as u64;
        Self {
            patients,
            batch_bytes,
            fields: (0..FIELD_COUNT)
                .map(|f| storage(device, crate::model::fields::FIELDS[f].name, batch_bytes))
                .collect(),
            free: storage(device, "free space", batch_bytes),
            signal: storage(device, "chemotactic signal", batch_bytes),
            partials: storage(
                device,
                "dc partials",
                per_patient(n.div_ceil(REDUCE_WG as u64) * 4),
            ),
            systemic: storage(
                device,
                "systemic",
                per_patient(std::mem::size_of::<Systemic>() as u64),
            ),
            grid: uniform(device, "grid", &grid.uniform(dt)),
            params: tracked(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params ring"),
                size: params_stride * params_slots,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })),
            params_stride,
            params_slots,
            flags: tracked(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("value flags"),
                size: flags_bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })),
            readback: tracked(
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: batch_bytes
                        .max(flags_bytes)
                        .max(per_patient(std::mem::size_of::<Systemic>() as u64))
                        .max(16),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            ),
        }
    }

    /// The parameter ring as bound: one slot's per-patient sets.
    fn params_res(&self) -> Res<'_> {
        Res::Params(&self.params, params_bytes(self.patients))
    }
}

/// Cell motility: the alternate buffers of the ping-pong and the bind
/// groups of the crowding and motility sub-steps. Fields move at their own
/// periods, so crowding has one bind group per mix of buffers (`alternate`
/// mask) the plan's sub-steps read.
struct CellGroups {
    alternates: Vec<(usize, wgpu::Buffer)>,
    crowding: Vec<(u32, wgpu::BindGroup)>,
    motility: Vec<[wgpu::BindGroup; 2]>,
}

impl CellGroups {
    fn new(device: &wgpu::Device, layouts: &Layouts, plan: &TransportPlan, b: &Buffers) -> Self {
        // Motility ping-pong: set 0 is the field buffers, set 1 the
        // alternates (immobile cells share their one buffer in both sets).
        let alternates: Vec<(usize, wgpu::Buffer)> = plan
            .cells
            .iter()
            .map(|c| (c.field, storage(device, "cell alternate", b.batch_bytes)))
            .collect();
        let cell_buffer = |field: usize, set: usize| -> &wgpu::Buffer {
            match (set, alternates.iter().find(|(f, _)| *f == field)) {
                (1, Some((_, buf))) => buf,
                _ => &b.fields[field],
            }
        };
        // Set of field f under mask `alternate` (bit c for plan.cells[c]).
        let set_of = |field: usize, alternate: u32| -> usize {
            plan.cells
                .iter()
                .position(|c| c.field == field)
                .map_or(0, |c| ((alternate >> c) & 1) as usize)
        };
        let mut masks: Vec<u32> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Crowding { alternate } => Some(*alternate),
                _ => None,
            })
            .collect();
        masks.sort_unstable();
        masks.dedup();
        let crowding = masks
            .into_iter()
            .map(|mask| {
                let mut res = vec![
                    Res::Buf(&b.free),
                    Res::Buf(&b.signal),
                    Res::Buf(&b.grid),
                    b.params_res(),
                ];
                res.extend(
                    fields_of(FieldKind::Cell).map(|c| Res::Buf(cell_buffer(c, set_of(c, mask)))),
                );
                res.push(Res::Buf(&b.fields[idx::IFNG]));
                let bg = bind_group(device, layouts.get(Stage::Crowding), "crowding", &res);
                (mask, bg)
            })
            .collect();
        let motility = plan
            .cells
            .iter()
            .map(|c| {
                let ub = uniform(device, "motility", &c.uniform);
                [0, 1].map(|set| {
                    bind_group(
                        device,
                        layouts.get(Stage::Motility),
                        "motility",
                        &[
                            Res::Buf(cell_buffer(c.field, set)),
                            Res::Buf(cell_buffer(c.field, 1 - set)),
                            Res::Buf(&b.free),
                            Res::Buf(&b.signal),
                            Res::Buf(&b.grid),
                            Res::Buf(&ub),
                            b.params_res(),
                        ],
                    )
                })
            })
            .collect();
        Self {
            alternates,
            crowding,
            motility,
        }
    }
}

/// Molecule transport. Pass p of the exponential solver reads chain[p] and
/// writes chain[p + 1] of each molecule: field, scratch A, (scratch B,)
/// field. The explicit solver ping-pongs between the field and scratch A.
struct MoleculeGroups {
    scratch: Vec<wgpu::Buffer>,
    exponential: Vec<wgpu::BindGroup>,
    explicit: Vec<[wgpu::BindGroup; 2]>,
}

impl MoleculeGroups {
    fn new(device: &wgpu::Device, layouts: &Layouts, plan: &TransportPlan, b: &Buffers) -> Self {
        let passes = plan.exponential.passes.len();
        let per_molecule = passes.saturating_sub(1).max(1);
        let scratch: Vec<wgpu::Buffer> = (0..plan.molecules.len() * per_molecule)
            .map(|_| storage(device, "molecule scratch", b.batch_bytes))
            .collect();
        let chain = |m: usize, k: usize| -> &wgpu::Buffer {
            if k == 0 || k == passes {
                &b.fields[plan.molecules[m].field]
            } else {
                &scratch[m * per_molecule + k - 1]
            }
        };
        let exponential = exponential_groups(device, layouts, plan, b, &chain);
        let explicit = plan
            .molecules
            .iter()
            .enumerate()
            .map(|(m, mp)| {
                let u = &b.fields[mp.field];
                let tmp = &scratch[m * per_molecule];
                let ub = uniform(device, "explicit", &mp.explicit);
                [(u, tmp), (tmp, u)].map(|(from, to)| {
                    let res = [
                        Res::Buf(from),
                        Res::Buf(to),
                        Res::Buf(&b.grid),
                        Res::Buf(&ub),
                    ];
                    bind_group(
                        device,
                        layouts.get(Stage::DiffuseExplicit),
                        "diffuse_explicit",
                        &res,
                    )
                })
            })
            .collect();
        Self {
            scratch,
            exponential,
            explicit,
        }
    }
}

/// One bind group per exponential pass; `chain(m, k)` is molecule m's
/// buffer before pass k.
fn exponential_groups<'a>(
    device: &wgpu::Device,
    layouts: &Layouts,
    plan: &TransportPlan,
    b: &Buffers,
    chain: &dyn Fn(usize, usize) -> &'a wgpu::Buffer,
) -> Vec<wgpu::BindGroup> {
    let matrices = storage_init(
        device,
        "molecule propagators",
        bytemuck::cast_slice(&plan.exponential.matrices),
    );
    // Each molecule's Dirichlet offset is a buffer of its own, bound to its
    // slot: one binding never holds more than one field, whatever the
    // number of molecules (a 192^3 grid's five offsets exceed 128 MiB).
    let mut offset_mask = 0u32;
    let offsets: Vec<Option<wgpu::Buffer>> = plan
        .molecules
        .iter()
        .enumerate()
        .map(|(m, mp)| {
            let c = mp.offset.as_ref()?;
            offset_mask |= 1 << m;
            Some(storage_init(
                device,
                "dirichlet offset",
                bytemuck::cast_slice(c),
            ))
        })
        .collect();
    // Unused slots bind placeholders (a buffer may not be read and written
    // in one dispatch, so two; a third for a slot without an offset).
    let unused_src = storage(device, "unused slot source", 16);
    let unused_dst = storage(device, "unused slot destination", 16);
    let no_offset = storage(device, "no offset", 16);
    plan.exponential
        .passes
        .iter()
        .enumerate()
        .map(|(p, pass)| {
            let ub = storage_init(
                device,
                "exponential pass",
                bytemuck::bytes_of(&ExponentialPassUniform {
                    len: pass.len as u32,
                    stride: pass.stride as u32,
                    last: pass.last as u32,
                    offset_mask,
                    molecules: plan.molecules.len() as u32,
                    _pad: [0; 3],
                    band: pass.band,
                    base: pass.base,
                }),
            );
            let mut res = vec![Res::Buf(&b.grid), Res::Buf(&ub), Res::Buf(&matrices)];
            for m in 0..MAX_MOLECULES {
                let offset = offsets
                    .get(m)
                    .and_then(Option::as_ref)
                    .unwrap_or(&no_offset);
                if m < plan.molecules.len() {
                    res.extend([
                        Res::Buf(chain(m, p)),
                        Res::Buf(chain(m, p + 1)),
                        Res::Buf(offset),
                    ]);
                } else {
                    res.extend([
                        Res::Buf(&unused_src),
                        Res::Buf(&unused_dst),
                        Res::Buf(&no_offset),
                    ]);
                }
            }
            bind_group(
                device,
                layouts.get(Stage::DiffuseExponential),
                "diffuse_exponential",
                &res,
            )
        })
        .collect()
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
        let b = Buffers::new(&device, grid, dt, patients);
        let cells = CellGroups::new(&device, &layouts, &plan, &b);
        let molecules = MoleculeGroups::new(&device, &layouts, &plan, &b);
        let fault = watch_faults(&device);
        let react_bg = {
            let mut res = vec![Res::Buf(&b.systemic), Res::Buf(&b.grid), b.params_res()];
            res.extend(b.fields.iter().map(Res::Buf));
            bind_group(&device, layouts.get(Stage::React), "react", &res)
        };
        let check_bg = {
            let mut res = vec![Res::Buf(&b.grid), Res::Buf(&b.flags)];
            res.extend(b.fields.iter().map(Res::Buf));
            bind_group(
                &device,
                layouts.get(Stage::CheckValues),
                "check_values",
                &res,
            )
        };
        let reduce_bg = bind_group(
            &device,
            layouts.get(Stage::ReduceDc),
            "reduce_dc",
            &[
                Res::Buf(&b.fields[idx::DC]),
                Res::Buf(&b.partials),
                Res::Buf(&b.grid),
            ],
        );
        let systemic_bg = bind_group(
            &device,
            layouts.get(Stage::Systemic),
            "systemic",
            &[
                Res::Buf(&b.partials),
                Res::Buf(&b.systemic),
                Res::Buf(&b.grid),
                b.params_res(),
            ],
        );
        Self {
            device,
            queue,
            info,
            grid,
            plan,
            fields: b.fields,
            _cell_alt: cells.alternates,
            systemic: b.systemic,
            params: b.params,
            params_stride: b.params_stride,
            params_slots: b.params_slots,
            patients,
            active: patients,
            readback: b.readback,
            pipelines,
            _molecule_scratch: molecules.scratch,
            react_bg,
            check_bg,
            flags: b.flags,
            fault,
            reduce_bg,
            systemic_bg,
            crowding_bg: cells.crowding,
            motility_bg: cells.motility,
            exponential_bg: molecules.exponential,
            explicit_bg: molecules.explicit,
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
        let n = self.grid.len() as u32;
        let off = [slot * self.params_stride as u32];
        for &op in &self.plan.ops {
            match op {
                Op::ReduceDc => {
                    pass.set_pipeline(self.pipeline(Stage::ReduceDc));
                    pass.set_bind_group(0, &self.reduce_bg, &[]);
                    let (x, y) = dispatch_shape(n.div_ceil(REDUCE_WG));
                    pass.dispatch_workgroups(x, y, self.active);
                }
                Op::Systemic => {
                    pass.set_pipeline(self.pipeline(Stage::Systemic));
                    pass.set_bind_group(0, &self.systemic_bg, &off);
                    pass.dispatch_workgroups(1, 1, self.active);
                }
                Op::ExponentialPass { index } => {
                    pass.set_pipeline(self.pipeline(Stage::DiffuseExponential));
                    pass.set_bind_group(0, &self.exponential_bg[index], &[]);
                    let (x, y) = self.groups(n);
                    let depth = self.plan.molecules.len() as u32 * self.active;
                    pass.dispatch_workgroups(x, y, depth);
                }
                Op::ExplicitSubstep { molecule, odd } => {
                    let bg = &self.explicit_bg[molecule][odd as usize];
                    self.dispatch(pass, Stage::DiffuseExplicit, bg, &[]);
                }
                Op::Crowding { alternate } => {
                    let bg = self
                        .crowding_bg
                        .iter()
                        .find(|(mask, _)| *mask == alternate)
                        .map(|(_, bg)| bg)
                        .expect("a bind group for every mask of the plan");
                    self.dispatch(pass, Stage::Crowding, bg, &off);
                }
                Op::Motility { cell, odd } => {
                    let bg = &self.motility_bg[cell][odd as usize];
                    self.dispatch(pass, Stage::Motility, bg, &off);
                }
                Op::React => self.dispatch(pass, Stage::React, &self.react_bg, &off),
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
        encoder.copy_buffer_to_buffer(buffer, from, &self.readback, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        self.readback
            .map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
                let _ = tx.send(r);
            });
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.check_fault()?;
        polled.map_err(|e| anyhow::anyhow!("GPU poll failed: {e}"))?;
        rx.recv()
            .map_err(|_| anyhow::anyhow!("GPU readback was dropped"))?
            .map_err(|e| anyhow::anyhow!("GPU readback failed: {e}"))?;
        let data = self
            .readback
            .get_mapped_range(0..bytes)
            .map_err(|e| anyhow::anyhow!("GPU readback failed: {e}"))?
            .to_vec();
        self.readback.unmap();
        Ok(data)
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
            for (buf, data) in self.fields.iter().zip(&state.fields) {
                let at = k as u64 * field_bytes;
                self.queue.write_buffer(buf, at, bytemuck::cast_slice(data));
            }
        }
        let systemic: Vec<Systemic> = states.iter().map(|s| s.systemic).collect();
        self.queue
            .write_buffer(&self.systemic, 0, bytemuck::cast_slice(&systemic));
        self.active = states.len() as u32;
        self.steps = states.iter().map(|s| s.step).collect();
        self.check_fault()
    }

    fn run_batch(&mut self, params: &[&[ModelParams]]) -> Result<()> {
        let steps = check_params(params, self.active as usize)?;
        let size = std::mem::size_of::<ModelParams>();
        let stride = self.params_stride as usize;
        let mut first = 0;
        while first < steps {
            let chunk = (steps - first).min(self.params_slots as usize);
            self.check_fault()?;
            let mut ring = vec![0u8; stride * chunk];
            for slot in 0..chunk {
                for (k, patient) in params.iter().enumerate() {
                    let at = slot * stride + k * size;
                    ring[at..at + size].copy_from_slice(bytemuck::bytes_of(&patient[first + slot]));
                }
            }
            self.queue.write_buffer(&self.params, 0, &ring);
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
            &self.systemic,
            0,
            size * self.active as u64,
        )?);
        // One read per field covers every active patient.
        let batch = bytes * self.active as u64;
        let fields: Vec<Vec<f32>> = self
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
            .write_buffer(&self.flags, 0, bytemuck::cast_slice(&reset));
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            self.dispatch(&mut pass, Stage::CheckValues, &self.check_bg, &[]);
        }
        self.queue.submit([encoder.finish()]);
        let flags: Vec<u32> = bytemuck::pod_collect_to_vec(&self.read_bytes(
            &self.flags,
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
