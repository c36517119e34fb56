//! The GPU's copy bandwidth, the yardstick of `tmesim bench`: one large
//! buffer-to-buffer copy on a device of its own, timed with the wall clock
//! from submit to the end of `device.poll(wait)`, best of several. Wall
//! time needs no timestamp-query feature, so every adapter can measure it.

use super::context::{self, GpuError};
use std::time::{Duration, Instant};

/// A timed copy: `bytes` read and `bytes` written in `best` (the fastest
/// of the repeats).
#[derive(Clone, Copy, Debug)]
pub struct CopyTime {
    pub bytes: u64,
    pub best: Duration,
}

impl CopyTime {
    /// Read plus write bytes per second, in GB/s (1e9 bytes).
    pub fn gb_per_s(&self) -> f64 {
        2.0 * self.bytes as f64 / self.best.as_secs_f64().max(1e-12) / 1e9
    }
}

/// Copy `bytes` (at most the adapter's largest buffer) from one buffer to
/// another `repeats` times after one untimed copy (which also clears the
/// buffers wgpu initialises lazily). Returns the fastest, and the adapter.
pub fn copy_bandwidth(bytes: u64, repeats: u32) -> Result<(CopyTime, String), GpuError> {
    let instance = context::instance();
    let adapter = context::select_adapter(&instance)?;
    let info = adapter.get_info();
    let limits = adapter.limits();
    let bytes = bytes.min(limits.max_buffer_size) / wgpu::COPY_BUFFER_ALIGNMENT
        * wgpu::COPY_BUFFER_ALIGNMENT;
    let desc = wgpu::DeviceDescriptor {
        label: Some("tmesim copy bandwidth"),
        required_limits: limits,
        ..Default::default()
    };
    let (device, queue) =
        pollster::block_on(adapter.request_device(&desc)).map_err(|source| GpuError::Device {
            adapter: info.name.clone(),
            source,
        })?;
    let buffer = |label, usage| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage,
            mapped_at_creation: false,
        })
    };
    let src = buffer("copy source", wgpu::BufferUsages::COPY_SRC);
    let dst = buffer("copy destination", wgpu::BufferUsages::COPY_DST);
    let copy_once = || -> Result<Duration, GpuError> {
        let start = Instant::now();
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&src, 0, &dst, 0, bytes);
        queue.submit([encoder.finish()]);
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Wgpu(format!("poll failed: {e}")))?;
        Ok(start.elapsed())
    };
    copy_once()?;
    let mut best = Duration::MAX;
    for _ in 0..repeats.max(1) {
        best = best.min(copy_once()?);
    }
    Ok((CopyTime { bytes, best }, context::describe(&info)))
}
