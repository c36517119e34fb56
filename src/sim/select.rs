//! Choosing the backend: `auto` takes a hardware GPU adapter when there is
//! one and falls back to the CPU reference otherwise.

use super::scenario::ArmSpec;
use crate::backend::Backend;
use crate::cpu::backend::CpuBackend;
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

/// The backend to run on, and a one-line notice when `auto` fell back.
pub fn make_backend(
    choice: BackendChoice,
    arm: &ArmSpec,
) -> anyhow::Result<(Box<dyn Backend>, Option<String>)> {
    match choice {
        BackendChoice::Cpu => Ok((Box::new(cpu_backend(arm)), None)),
        BackendChoice::Gpu => match gpu_backend(arm) {
            Ok(b) => Ok((Box::new(b), None)),
            Err(e @ context::GpuError::NoAdapter(_)) => Err(anyhow::anyhow!(
                "{e} for --backend gpu. Install a GPU driver; without a GPU, the software Vulkan \
                 driver works (Debian/Ubuntu: apt-get install mesa-vulkan-drivers). `tmesim info` \
                 lists the adapters wgpu sees; --backend cpu runs without one"
            )),
            Err(e) => Err(e.into()),
        },
        BackendChoice::Auto => {
            let instance = context::instance();
            let adapter = match context::select_adapter(&instance) {
                Ok(a) => a,
                Err(e) => {
                    return Ok((
                        Box::new(cpu_backend(arm)),
                        Some(format!("{e}; running on the CPU reference backend")),
                    ))
                }
            };
            let info = adapter.get_info();
            if context::is_software(&info) && std::env::var("WGPU_ADAPTER_NAME").is_err() {
                let note = format!(
                    "no hardware GPU adapter found (only the software adapter {}); running on the CPU reference backend \
                     (use --backend gpu to run on the software adapter)",
                    info.name
                );
                return Ok((Box::new(cpu_backend(arm)), Some(note)));
            }
            match GpuBackend::with_adapter(
                &adapter,
                arm.spec.grid,
                arm.plan.clone(),
                arm.spec.dt_min,
            ) {
                Ok(b) => Ok((Box::new(b), None)),
                Err(e) => Ok((
                    Box::new(cpu_backend(arm)),
                    Some(format!("{e}; running on the CPU reference backend")),
                )),
            }
        }
    }
}
