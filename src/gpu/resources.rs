//! What the GPU backend binds: buffers (each counted, so a backend knows
//! its GPU memory), every stage's bind group layout and pipeline, and the
//! bind groups each operation of the plan dispatches with. Every per-voxel
//! buffer holds a batch of patients' grids back to back.

use super::shaders::{source, Slot, Stage};
use crate::backend::plan::{Op, TransportPlan, MAX_MOLECULES, MAX_SOURCES};
use crate::backend::MAX_BATCH;
use crate::model::fields::{fields_of, idx, FieldKind, FIELD_COUNT};
use crate::model::grid::{Grid, REDUCE_WG};
use crate::model::params::ModelParams;
use crate::model::state::Systemic;
use wgpu::util::DeviceExt;

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

/// WGSL `SourcePass` (shaders/source_pass.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SourcePassUniform {
    pub len: u32,
    pub stride: u32,
    pub scale: u32,
    pub slots: u32,
    pub base: [u32; MAX_SOURCES],
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

pub(super) fn allocated() -> u64 {
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

/// A stage's bind group layout, from its binding list (the stage table).
fn layout(device: &wgpu::Device, stage: Stage) -> wgpu::BindGroupLayout {
    let entries: Vec<_> = stage
        .slots()
        .iter()
        .enumerate()
        .map(|(i, (_, slot, _))| wgpu::BindGroupLayoutEntry {
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

/// The resource bound to one binding.
pub(super) enum Res<'a> {
    Buf(&'a wgpu::Buffer),
    /// The parameter ring, one slot (`bytes`: a parameter set per patient)
    /// at a time.
    Params(&'a wgpu::Buffer, u64),
}

pub(super) fn bind_group(
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
pub(super) struct Layouts(Vec<(Stage, wgpu::BindGroupLayout)>);

impl Layouts {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        Self(Stage::ALL.iter().map(|&s| (s, layout(device, s))).collect())
    }

    pub(super) fn get(&self, stage: Stage) -> &wgpu::BindGroupLayout {
        &self.0.iter().find(|(k, _)| *k == stage).expect("layout").1
    }
}

/// Every stage's compute pipeline, from its generated WGSL source.
pub(super) fn pipelines(
    device: &wgpu::Device,
    layouts: &Layouts,
) -> Vec<(Stage, wgpu::ComputePipeline)> {
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
                entry_point: Some(s.entry()),
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
pub(super) struct Buffers {
    pub(super) patients: u32,
    /// Bytes of one field of the whole batch.
    pub(super) batch_bytes: u64,
    pub(super) fields: Vec<wgpu::Buffer>,
    pub(super) free: wgpu::Buffer,
    pub(super) signal: wgpu::Buffer,
    pub(super) partials: wgpu::Buffer,
    pub(super) systemic: wgpu::Buffer,
    pub(super) grid: wgpu::Buffer,
    pub(super) params: wgpu::Buffer,
    /// Bytes of one step's slot of the ring (a parameter set per patient,
    /// rounded up to the dynamic-offset alignment), and slots in the ring.
    pub(super) params_stride: u64,
    pub(super) params_slots: u64,
    pub(super) flags: wgpu::Buffer,
    pub(super) readback: wgpu::Buffer,
}

/// Bytes of one step's parameters for `patients` patients.
fn params_bytes(patients: u32) -> u64 {
    patients as u64 * std::mem::size_of::<ModelParams>() as u64
}

impl Buffers {
    pub(super) fn new(
        device: &wgpu::Device,
        grid: Grid,
        dt: f32,
        patients: u32,
        source_mask: u32,
    ) -> Self {
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
            grid: uniform(
                device,
                "grid",
                &crate::model::grid::GridUniform {
                    source_mask,
                    ..grid.uniform(dt)
                },
            ),
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
    pub(super) fn params_res(&self) -> Res<'_> {
        Res::Params(&self.params, params_bytes(self.patients))
    }
}

/// Cell motility: the alternate buffers of the ping-pong and the bind
/// groups of the crowding and motility sub-steps. Fields move at their own
/// periods, so crowding has one bind group per mix of buffers (`alternate`
/// mask) the plan's sub-steps read.
pub(super) struct CellGroups {
    /// Held for the bind groups that use them.
    _alternates: Vec<(usize, wgpu::Buffer)>,
    pub(super) crowding: Vec<(u32, wgpu::BindGroup)>,
    pub(super) motility: Vec<[wgpu::BindGroup; 2]>,
}

impl CellGroups {
    pub(super) fn new(
        device: &wgpu::Device,
        layouts: &Layouts,
        plan: &TransportPlan,
        b: &Buffers,
    ) -> Self {
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
            _alternates: alternates,
            crowding,
            motility,
        }
    }
}

/// Molecule transport. Pass p of the exponential solver reads chain[p] and
/// writes chain[p + 1] of each molecule: field, scratch A, (scratch B,)
/// field. The explicit solver ping-pongs between the field and scratch A.
pub(super) struct MoleculeGroups {
    /// Held for the bind groups that use them.
    _scratch: Vec<wgpu::Buffer>,
    pub(super) exponential: Vec<wgpu::BindGroup>,
    pub(super) explicit: Vec<[wgpu::BindGroup; 2]>,
}

impl MoleculeGroups {
    pub(super) fn new(
        device: &wgpu::Device,
        layouts: &Layouts,
        plan: &TransportPlan,
        b: &Buffers,
    ) -> Self {
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
            _scratch: scratch,
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

/// The source transform (backend::plan::SourcePlan): two buffers of every
/// patient's source slots (pass p reads `buffers[p % 2]` and writes the
/// other; Produce fills buffer 0, where the result ends), the pass bind
/// groups and the one that adds the result to the molecules.
pub(super) struct SourceGroups {
    pub(super) buffers: [wgpu::Buffer; 2],
    pub(super) passes: Vec<wgpu::BindGroup>,
    pub(super) add: wgpu::BindGroup,
}

impl SourceGroups {
    pub(super) fn new(
        device: &wgpu::Device,
        layouts: &Layouts,
        plan: &TransportPlan,
        b: &Buffers,
    ) -> Self {
        let sp = &plan.sources;
        let slots = sp.fields.len() as u64;
        let buffers = [0, 1].map(|_| storage(device, "sources", b.batch_bytes * slots));
        let matrices = storage_init(device, "source bases", bytemuck::cast_slice(&sp.matrices));
        let phi = storage_init(
            device,
            "source mode integrals",
            bytemuck::cast_slice(&sp.phi),
        );
        let passes = sp
            .passes
            .iter()
            .enumerate()
            .map(|(p, pass)| {
                let ub = storage_init(
                    device,
                    "source pass",
                    bytemuck::bytes_of(&SourcePassUniform {
                        len: pass.len as u32,
                        stride: pass.stride as u32,
                        scale: pass.scale as u32,
                        slots: slots as u32,
                        base: pass.base,
                    }),
                );
                bind_group(
                    device,
                    layouts.get(Stage::SourcePass),
                    "source_pass",
                    &[
                        Res::Buf(&b.grid),
                        Res::Buf(&ub),
                        Res::Buf(&matrices),
                        Res::Buf(&phi),
                        Res::Buf(&buffers[p % 2]),
                        Res::Buf(&buffers[(p + 1) % 2]),
                    ],
                )
            })
            .collect();
        let unused: Vec<wgpu::Buffer> = (sp.fields.len()..MAX_SOURCES)
            .map(|_| storage(device, "unused source slot", 16))
            .collect();
        let mut res = vec![Res::Buf(&b.grid), Res::Buf(&buffers[0])];
        res.extend(sp.fields.iter().map(|&f| Res::Buf(&b.fields[f])));
        res.extend(unused.iter().map(Res::Buf));
        let add = bind_group(device, layouts.get(Stage::SourceAdd), "source_add", &res);
        Self {
            buffers,
            passes,
            add,
        }
    }
}

/// The bind groups of the whole-field stages: the reactions (and the
/// production they share a module with), the value check, the DC
/// reduction and the lymph-node priming.
pub(super) struct StepGroups {
    pub(super) react: wgpu::BindGroup,
    pub(super) check: wgpu::BindGroup,
    pub(super) reduce: wgpu::BindGroup,
    pub(super) systemic: wgpu::BindGroup,
}

impl StepGroups {
    pub(super) fn new(
        device: &wgpu::Device,
        layouts: &Layouts,
        b: &Buffers,
        sources: &SourceGroups,
    ) -> Self {
        let mut react = vec![Res::Buf(&b.systemic), Res::Buf(&b.grid), b.params_res()];
        react.extend(b.fields.iter().map(Res::Buf));
        react.push(Res::Buf(&sources.buffers[0]));
        let mut check = vec![Res::Buf(&b.grid), Res::Buf(&b.flags)];
        check.extend(b.fields.iter().map(Res::Buf));
        let group =
            |stage: Stage, res: &[Res]| bind_group(device, layouts.get(stage), stage.name(), res);
        Self {
            react: group(Stage::React, &react),
            check: group(Stage::CheckValues, &check),
            reduce: group(
                Stage::ReduceDc,
                &[
                    Res::Buf(&b.fields[idx::DC]),
                    Res::Buf(&b.partials),
                    Res::Buf(&b.grid),
                ],
            ),
            systemic: group(
                Stage::Systemic,
                &[
                    Res::Buf(&b.partials),
                    Res::Buf(&b.systemic),
                    Res::Buf(&b.grid),
                    b.params_res(),
                ],
            ),
        }
    }
}
