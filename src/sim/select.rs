//! Choosing the backend: `auto` takes a hardware GPU adapter when there is
//! one and falls back to the CPU reference otherwise. The same choice gives
//! a single-patient backend (`make_backend`) or a batch (`make_batch`).

use super::scenario::ArmSpec;
use crate::backend::batch::Batch;
use crate::backend::Backend;
use crate::cpu::backend::CpuBackend;
use crate::cpu::batch::CpuBatch;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU if one exists, else the CPU reference.
    Auto,
    /// The CPU reference backend (all cores, or --threads N).
    Cpu,
    /// Any wgpu adapter, software ones (llvmpipe/lavapipe) included.
    Gpu,
}

pub fn cpu_backend(arm: &ArmSpec) -> CpuBackend {
    CpuBackend::new(arm.spec.grid, arm.plan.clone(), arm.spec.dt_min)
}

pub fn gpu_backend(arm: &ArmSpec) -> Result<GpuBackend, context::GpuError> {
    GpuBackend::new(arm.spec.grid, arm.plan.clone(), arm.spec.dt_min)
}

/// What `--backend auto` picks on this machine (before building anything
/// on it): the adapter wgpu selects, unless it is a software one that
/// `WGPU_ADAPTER_NAME` did not ask for.
pub enum AutoPick {
    Adapter(wgpu::Adapter),
    Cpu(CpuBecause),
}

/// Why `auto` runs on the CPU.
pub enum CpuBecause {
    NoAdapter(context::GpuError),
    /// The name of the only (software) adapter.
    SoftwareOnly(String),
}

/// The `auto` rule, one place for `make_backend`, `make_batch` and
/// `tmesim info`.
pub fn auto_pick(instance: &wgpu::Instance) -> AutoPick {
    match context::select_adapter(instance) {
        Err(e) => AutoPick::Cpu(CpuBecause::NoAdapter(e)),
        Ok(a) => {
            let info = a.get_info();
            if context::is_software(&info) && std::env::var("WGPU_ADAPTER_NAME").is_err() {
                AutoPick::Cpu(CpuBecause::SoftwareOnly(info.name))
            } else {
                AutoPick::Adapter(a)
            }
        }
    }
}

/// The backend to run on, and a one-line notice when `auto` fell back.
pub fn make_backend(
    choice: BackendChoice,
    arm: &ArmSpec,
) -> anyhow::Result<(Box<dyn Backend>, Option<String>)> {
    match build(choice, arm, 1)? {
        (Built::Gpu(b), note) => Ok((b, note)),
        (Built::Cpu, note) => Ok((Box::new(cpu_backend(arm)), note)),
    }
}

/// A batch of up to `patients` patients of `arm`'s plan, and a one-line
/// notice when `auto` fell back to the CPU.
pub fn make_batch(
    choice: BackendChoice,
    arm: &ArmSpec,
    patients: usize,
) -> anyhow::Result<(Box<dyn Batch>, Option<String>)> {
    let count = u32::try_from(patients.max(1))?;
    match build(choice, arm, count)? {
        (Built::Gpu(b), note) => Ok((b, note)),
        (Built::Cpu, note) => Ok((
            Box::new(CpuBatch::new(
                arm.spec.grid,
                &arm.plan,
                arm.spec.dt_min,
                patients,
            )),
            note,
        )),
    }
}

/// What the choice came to: a GPU backend built for the batch, or the CPU.
enum Built {
    Gpu(Box<GpuBackend>),
    Cpu,
}

fn build(
    choice: BackendChoice,
    arm: &ArmSpec,
    patients: u32,
) -> anyhow::Result<(Built, Option<String>)> {
    let (grid, dt) = (arm.spec.grid, arm.spec.dt_min);
    match choice {
        BackendChoice::Cpu => Ok((Built::Cpu, None)),
        BackendChoice::Gpu => match GpuBackend::batch(grid, arm.plan.clone(), dt, patients) {
            Ok(b) => Ok((Built::Gpu(Box::new(b)), None)),
            Err(e @ context::GpuError::NoAdapter(_)) => Err(anyhow::anyhow!(
                "{e} for --backend gpu. Install a GPU driver; without a GPU, the software Vulkan \
                 driver works (Debian/Ubuntu: apt-get install mesa-vulkan-drivers). `tmesim info` \
                 lists the adapters wgpu sees; --backend cpu runs without one"
            )),
            Err(e) => Err(e.into()),
        },
        BackendChoice::Auto => {
            let adapter = match auto_pick(&context::instance()) {
                AutoPick::Adapter(a) => a,
                AutoPick::Cpu(CpuBecause::NoAdapter(e)) => {
                    let note = format!("{e}; running on the CPU reference backend");
                    return Ok((Built::Cpu, Some(note)));
                }
                AutoPick::Cpu(CpuBecause::SoftwareOnly(name)) => {
                    let note = format!(
                        "no hardware GPU adapter found (only the software adapter {name}); running on the CPU reference backend \
                         (use --backend gpu to run on the software adapter)"
                    );
                    return Ok((Built::Cpu, Some(note)));
                }
            };
            match GpuBackend::with_adapter(&adapter, grid, arm.plan.clone(), dt, patients) {
                Ok(b) => Ok((Built::Gpu(Box::new(b)), None)),
                Err(e) => Ok((
                    Built::Cpu,
                    Some(format!("{e}; running on the CPU reference backend")),
                )),
            }
        }
    }
}
