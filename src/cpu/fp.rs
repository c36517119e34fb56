//! Subnormal floats flushed to zero on every thread that runs CPU kernels.
//!
//! Fields that decay far from their sources (adenosine's 15 s half-life,
//! exponentials of large arguments in the transport) pass through the
//! subnormal range, below 1.2e-38, where many x86 cores take a slow
//! microcode path for each operation. Flushing them (FTZ: results to zero;
//! DAZ: inputs read as zero) changes values only there, far below any
//! concentration the model reads, and WGSL lets GPUs flush them too. tmesim's
//! own thread pools set the mode on every thread they start
//! ([`pool`]) and `main` sets it on the main thread; a library user who
//! builds its own pools gets the IEEE default. docs/benchmarks.md has the
//! measured gain.

/// Flush subnormal results and inputs to zero on the calling thread: the
/// FTZ and DAZ bits of MXCSR on x86-64, FZ of FPCR on AArch64 (which has
/// no separate input flag); elsewhere nothing changes.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control
        // register through a valid pointer; only the two flush bits change.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= FTZ | DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        const FZ: u64 = 1 << 24;
        let mut fpcr: u64;
        // SAFETY: reads and writes this thread's FPCR; only FZ changes.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            fpcr |= FZ;
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }
}

/// A rayon pool of `threads` threads (0: rayon's default) whose every
/// thread flushes subnormals.
pub fn pool(threads: usize) -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| flush_subnormals())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2e-39 is subnormal in f32: kept by IEEE, zero once flushed.
    fn doubled_subnormal() -> f32 {
        std::hint::black_box(1e-39f32) * 2.0
    }

    #[test]
    fn a_subnormal_becomes_zero_on_a_flushing_thread() {
        let kept = std::thread::spawn(doubled_subnormal).join().unwrap();
        assert!(kept > 0.0, "IEEE keeps subnormals: {kept}");
        let flushed = std::thread::spawn(|| {
            flush_subnormals();
            doubled_subnormal()
        })
        .join()
        .unwrap();
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert_eq!(flushed, 0.0);
        }
    }

    #[test]
    fn every_thread_of_the_pool_flushes() {
        let out: Vec<f32> = pool(2).build().unwrap().broadcast(|_| doubled_subnormal());
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert_eq!(out, [0.0, 0.0]);
        }
    }
}
