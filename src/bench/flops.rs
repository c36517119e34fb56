//! The arithmetic of a step, and the rate this build reaches on this CPU,
//! for `tmesim bench`: with the bytes of a step (`Op::bytes`) and the copy
//! bandwidth, they say which of the two limits a step and how near it comes.
//!
//! A step's operations: the transport's from its plan (an exponential pass
//! is a banded matrix product, two operations per band entry; a source pass
//! a dense one, two per line entry, the GPU's route and the CPU's on prime
//! and short lines), the pointwise kernels' counted from their WGSL by
//! `gpu::flops` (the CPU twins compute the same pieces).

use crate::backend::plan::{Op, TransportPlan};
use crate::gpu::flops::per_thread;
use crate::gpu::shaders::Stage;
use crate::model::grid::Grid;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Operations per voxel of the pointwise kernels on one grid.
pub struct Kernels {
    react: u64,
    produce: u64,
    crowding: u64,
    motility: u64,
    explicit: u64,
}

impl Kernels {
    /// Counted from the kernels' IR; the neighbour loops of motility and the
    /// explicit stencil run over the grid's faces.
    pub fn count(grid: &Grid) -> Result<Self, String> {
        let faces = 2 * grid.spatial_dims() as u64;
        Ok(Self {
            react: per_thread(Stage::React, 1)?,
            produce: per_thread(Stage::Produce, 1)?,
            crowding: per_thread(Stage::Crowding, 1)?,
            motility: per_thread(Stage::Motility, faces)?,
            explicit: per_thread(Stage::DiffuseExplicit, faces)?,
        })
    }

    /// Operations of `op` on `grid`.
    pub fn op(&self, op: &Op, plan: &TransportPlan, grid: &Grid) -> f64 {
        let n = grid.len() as f64;
        let slots = plan.sources.fields.len() as f64;
        match *op {
            Op::ReduceDc => n,
            Op::Systemic => 0.0,
            Op::ExponentialPass { index } => plan
                .pass_bands(index)
                .map(|(width, offset)| n * (2 * width) as f64 + if offset { n } else { 0.0 })
                .sum(),
            Op::ExplicitSubstep { .. } => n * self.explicit as f64,
            Op::Produce => n * self.produce as f64,
            Op::SourcePass { index } => {
                let pass = plan.sources.passes[index];
                let phi = if pass.scale { 1.0 } else { 0.0 };
                slots * n * (2.0 * pass.len as f64 + phi)
            }
            Op::SourceAdd => slots * n,
            Op::Crowding { .. } => n * self.crowding as f64,
            Op::Motility { .. } => n * self.motility as f64,
            Op::React => n * self.react as f64,
        }
    }

    /// Operations of one step of `plan`.
    pub fn step(&self, plan: &TransportPlan, grid: &Grid) -> f64 {
        plan.ops.iter().map(|op| self.op(op, plan, grid)).sum()
    }
}

/// Independent multiply-add chains per thread: enough to fill the vector
/// units and hide their latency.
const CHAINS: usize = 64;
/// Rounds of every chain per timing.
const ROUNDS: usize = 1 << 18;

/// `ROUNDS` multiply-adds on each of `acc`'s chains.
#[inline(always)]
fn chains(acc: &mut [f32; CHAINS], a: f32, b: f32) {
    for _ in 0..ROUNDS {
        for x in acc.iter_mut() {
            *x = x.mul_add(a, b);
        }
    }
}

/// `chains` compiled for AVX2 with fused multiply-adds.
///
/// # Safety
/// The CPU must have AVX2 and FMA (checked by the caller).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_fma(acc: &mut [f32; CHAINS], a: f32, b: f32) {
    chains(acc, a, b)
}

/// Whether the fastest multiply-add of this CPU is the fused AVX2 one.
fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The f32 operations per second of this CPU with as many threads as the
/// run uses: `CHAINS` independent multiply-adds per thread in registers
/// (so memory plays no part), with AVX2 fused multiply-adds where the CPU
/// has them (as the matrix products of the source transform use them,
/// through matrixmultiply's run-time dispatch); the best of `repeats`.
/// Returns the rate and how it was measured.
pub fn cpu_peak(repeats: u32) -> (f64, String) {
    let threads = rayon::current_num_threads();
    let fma = has_fma();
    let once = || {
        let start = Instant::now();
        let sum: f32 = (0..threads)
            .into_par_iter()
            .map(|t| {
                let mut acc = [1.0f32 + t as f32 * 1e-3; CHAINS];
                let (a, b) = std::hint::black_box((0.999_999f32, 1e-7f32));
                #[cfg(target_arch = "x86_64")]
                if fma {
                    // SAFETY: has_fma() found AVX2 and FMA on this CPU.
                    unsafe { chains_fma(&mut acc, a, b) };
                    return acc.iter().sum::<f32>();
                }
                chains(&mut acc, a, b);
                acc.iter().sum::<f32>()
            })
            .sum();
        std::hint::black_box(sum);
        start.elapsed()
    };
    once();
    let best = (0..repeats.max(1))
        .map(|_| once())
        .min()
        .unwrap_or(Duration::MAX);
    let ops = (threads * CHAINS * ROUNDS * 2) as f64;
    (
        ops / best.as_secs_f64().max(1e-12),
        format!(
            "{CHAINS} f32 multiply-add chains per thread over {threads} thread(s){}, best of {repeats}",
            if fma { ", AVX2 FMA" } else { "" }
        ),
    )
}
