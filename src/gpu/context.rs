//! Adapter and device selection, kept apart from the simulation work.
//! Honours `WGPU_BACKEND` (vulkan, metal, dx12, gl) and `WGPU_ADAPTER_NAME`
//! (a case-insensitive substring of the adapter name), as wgpu's examples do.

use crate::model::fields::FIELD_COUNT;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found{0}")]
    NoAdapter(String),
    #[error("WGPU_ADAPTER_NAME={wanted} matches no adapter; available: {available}")]
    NoMatchingAdapter { wanted: String, available: String },
    #[error("adapter {adapter}: {message}")]
    Limits { adapter: String, message: String },
    #[error("adapter {adapter}: cannot open device: {source}")]
    Device {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    #[error("GPU error: {0}")]
    Wgpu(String),
}

/// Storage buffers a kernel binds at most: the reaction kernel every field
/// plus the systemic state; the exponential pass its pass record and
/// propagators plus source, destination and offset of each molecule slot.
pub const STORAGE_BUFFERS_NEEDED: u32 = {
    let react = FIELD_COUNT as u32 + 1;
    let exponential = 2 + 3 * crate::backend::plan::MAX_MOLECULES as u32;
    if react > exponential {
        react
    } else {
        exponential
    }
};

pub fn instance() -> wgpu::Instance {
    super::runtime_dir::ensure();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends();
    wgpu::Instance::new(desc)
}

fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY)
}

/// Every adapter the instance sees.
pub fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(backends()))
}

/// The adapter tmesim uses: the one named by `WGPU_ADAPTER_NAME`, else a
/// discrete or integrated GPU before a software one.
pub fn select_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter, GpuError> {
    let all = adapters(instance);
    if let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") {
        let lower = wanted.to_lowercase();
        return all
            .iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&lower))
            .cloned()
            .ok_or_else(|| GpuError::NoMatchingAdapter {
                wanted,
                available: all
                    .iter()
                    .map(|a| a.get_info().name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
    }
    let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    all.into_iter()
        .min_by_key(rank)
        .ok_or_else(|| GpuError::NoAdapter(String::new()))
}

/// True for software rasterisers (llvmpipe/lavapipe, WARP, SwiftShader).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Open a device with the adapter's own limits, after checking that the
/// kernels, a grid of `voxels` and the `other` buffers (name, bytes) each
/// fit in one binding.
pub fn open_device(
    adapter: &wgpu::Adapter,
    voxels: usize,
    other: &[(&str, u64)],
) -> Result<(wgpu::Device, wgpu::Queue), GpuError> {
    let info = adapter.get_info();
    let limits = adapter.limits();
    check_limits(&info.name, &limits, voxels)?;
    check_bindings(&info.name, &limits, other)?;
    let desc = wgpu::DeviceDescriptor {
        label: Some("tmesim"),
        // Timestamps where the adapter has them: `tmesim bench` times
        // stages inside the step with them (GpuBackend::profile_stages).
        required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
        required_limits: limits,
        ..Default::default()
    };
    pollster::block_on(adapter.request_device(&desc)).map_err(|source| GpuError::Device {
        adapter: info.name,
        source,
    })
}

pub fn check_limits(adapter: &str, limits: &wgpu::Limits, voxels: usize) -> Result<(), GpuError> {
    let fail = |message: String| {
        Err(GpuError::Limits {
            adapter: adapter.to_string(),
            message,
        })
    };
    if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_NEEDED {
        return fail(format!(
            "allows {} storage buffers per shader stage; the kernels need {STORAGE_BUFFERS_NEEDED}",
            limits.max_storage_buffers_per_shader_stage
        ));
    }
    let bytes = voxels as u64 * 4;
    let max = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    if bytes > max {
        return fail(format!(
            "grid too large for this adapter: one field needs {bytes} bytes, the adapter binds at most {max} bytes \
             (max {} voxels); use a smaller grid or --backend cpu",
            max / 4
        ));
    }
    Ok(())
}

/// Each of `buffers` (name, bytes) must fit in one storage binding.
pub fn check_bindings(
    adapter: &str,
    limits: &wgpu::Limits,
    buffers: &[(&str, u64)],
) -> Result<(), GpuError> {
    let max = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    match buffers.iter().find(|(_, bytes)| *bytes > max) {
        Some((name, bytes)) => Err(GpuError::Limits {
            adapter: adapter.to_string(),
            message: format!(
                "the {name} need {bytes} bytes in one binding, the adapter binds at most {max} bytes; \
                 use a smaller grid or --backend cpu"
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_with_clear_messages() {
        // WebGPU's defaults: 8 storage buffers per stage, 128 MiB bindings.
        let defaults = wgpu::Limits::default();
        let e = check_limits("test adapter", &defaults, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test adapter")
                && e.contains("storage buffers")
                && e.contains(&STORAGE_BUFFERS_NEEDED.to_string()),
            "{e}"
        );
        let roomy = wgpu::Limits {
            max_storage_buffers_per_shader_stage: 32,
            ..defaults
        };
        assert!(check_limits("a", &roomy, 1 << 20).is_ok());
        let e = check_limits("a", &roomy, 1 << 26).unwrap_err().to_string();
        assert!(
            e.contains("grid too large") && e.contains("33554432 voxels"),
            "{e}"
        );
        let fits = [("molecule propagators", 1u64 << 20)];
        assert!(check_bindings("a", &roomy, &fits).is_ok());
        let e = check_bindings("a", &roomy, &[("molecule propagators", 200 << 20)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("molecule propagators") && e.contains("134217728 bytes"),
            "{e}"
        );
    }
}
