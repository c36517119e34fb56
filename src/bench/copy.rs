//! The copy bandwidth a step's bandwidth is compared with, measured in the
//! same run: a large memcpy on the CPU (as many threads as the run uses),
//! a buffer-to-buffer copy on the GPU (src/gpu/copy_bench.rs). Both count
//! read plus write bytes.

use crate::gpu::copy_bench::{self, CopyTime};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Bytes copied: far beyond any cache, so the copy runs at memory speed.
pub const COPY_BYTES: usize = 256 << 20;

/// Timed copies; the fastest counts.
pub const COPY_REPEATS: u32 = 5;

/// The copy bandwidth and a phrase saying how it was measured.
pub struct CopyRate {
    pub time: CopyTime,
    pub how: String,
}

/// A memcpy of `bytes` split into one chunk per thread of the current
/// rayon pool, `repeats` times after one untimed copy (which faults the
/// pages in); the fastest counts.
pub fn cpu_copy(bytes: usize, repeats: u32) -> CopyRate {
    let threads = rayon::current_num_threads();
    let src = vec![1u8; bytes];
    let mut dst = vec![0u8; bytes];
    let chunk = bytes.div_ceil(threads).max(1);
    let mut copy_once = || {
        let start = Instant::now();
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&dst);
        start.elapsed()
    };
    copy_once();
    let best = (0..repeats.max(1))
        .map(|_| copy_once())
        .min()
        .unwrap_or(Duration::MAX);
    CopyRate {
        time: CopyTime {
            bytes: bytes as u64,
            best,
        },
        how: format!(
            "memcpy of {} MiB over {threads} thread(s), best of {repeats}",
            bytes >> 20
        ),
    }
}

/// The GPU's buffer-to-buffer copy of `bytes` (or the adapter's largest
/// buffer).
pub fn gpu_copy(bytes: usize, repeats: u32) -> anyhow::Result<CopyRate> {
    let (time, adapter) = copy_bench::copy_bandwidth(bytes as u64, repeats)?;
    Ok(CopyRate {
        how: format!(
            "buffer-to-buffer copy of {} MiB on {adapter}, best of {repeats}",
            time.bytes >> 20
        ),
        time,
    })
}
