//! CPU reference kernels, and the CPU backend that runs them (`backend.rs`,
//! the twin of `gpu/backend.rs`). Each kernel file mirrors one WGSL stage
//! by name (`react.rs` <-> `shaders/react.wgsl`), works on the same
//! per-field buffers with the same f32 arithmetic, and runs in parallel
//! with rayon. Nothing here depends on wgpu.

pub mod backend;
pub mod batch;
pub(crate) mod crowding;
pub(crate) mod diffuse_explicit;
pub(crate) mod diffuse_exponential;
pub mod fp;
pub mod lanes;
pub(crate) mod motility;
pub mod react;
pub(crate) mod source_pass;
pub(crate) mod systemic;

use crate::backend::plan::MAX_SOURCES;
use crate::model::fields::FIELD_COUNT;
use crate::model::grid::Grid;
use lanes::{Lanes, Real, LANES};
use rayon::prelude::*;

/// Voxels per rayon task (a multiple of `LANES`).
const CHUNK: usize = 4096;
const _: () = assert!(CHUNK.is_multiple_of(LANES));

/// The values of every field at the `count` voxels from `first`, one lane
/// per voxel; the lanes past `count` repeat the last voxel, so they hold
/// values the kernel meets anyway (their results are dropped).
pub(crate) fn gather_lanes(
    fields: &[Vec<f32>],
    first: usize,
    count: usize,
) -> [Lanes; FIELD_COUNT] {
    std::array::from_fn(|f| lane_run(&fields[f], first, count))
}

/// `values[first..first + count]` as lanes, the last repeated to fill them.
#[inline(always)]
fn lane_run(values: &[f32], first: usize, count: usize) -> Lanes {
    let part = &values[first..first + count];
    Lanes(std::array::from_fn(|l| part[l.min(count - 1)]))
}

/// Apply `f(first, count, values, emitted)` to every run of `LANES`
/// voxels (`count` of them real, fewer at the end), in parallel, writing
/// the values back and `slots` emitted values per voxel into `out` (slot
/// after slot, each as long as a field).
pub fn for_each_lanes_emitting(
    fields: &mut [Vec<f32>],
    out: &mut [f32],
    slots: usize,
    f: impl Fn(usize, usize, &mut [Lanes; FIELD_COUNT], &mut [Lanes; MAX_SOURCES]) + Sync,
) {
    assert_eq!(fields.len(), FIELD_COUNT);
    let n = fields[0].len();
    // Per chunk of voxels: its part of every field and of every slot.
    type Parts<'a> = (Vec<&'a mut [f32]>, Vec<&'a mut [f32]>);
    let mut chunks: Vec<Parts> = (0..n.div_ceil(CHUNK))
        .map(|_| (Vec::with_capacity(FIELD_COUNT), Vec::with_capacity(slots)))
        .collect();
    for field in fields.iter_mut() {
        for (c, part) in field.chunks_mut(CHUNK).enumerate() {
            chunks[c].0.push(part);
        }
    }
    for slot in out.chunks_mut(n).take(slots) {
        for (c, part) in slot.chunks_mut(CHUNK).enumerate() {
            chunks[c].1.push(part);
        }
    }
    chunks
        .into_par_iter()
        .enumerate()
        .for_each(|(c, (mut parts, mut emitted))| {
            let mut e = [Lanes::splat(0.0); MAX_SOURCES];
            for j in (0..parts[0].len()).step_by(LANES) {
                let count = LANES.min(parts[0].len() - j);
                let mut v: [Lanes; FIELD_COUNT] =
                    std::array::from_fn(|f| lane_run(parts[f], j, count));
                f(c * CHUNK + j, count, &mut v, &mut e);
                for (part, lanes) in parts.iter_mut().zip(&v) {
                    part[j..j + count].copy_from_slice(&lanes.0[..count]);
                }
                for (part, lanes) in emitted.iter_mut().zip(&e) {
                    part[j..j + count].copy_from_slice(&lanes.0[..count]);
                }
            }
        });
}

/// Compute `out[i] = f(i)` in parallel.
pub fn map_voxels(out: &mut [f32], f: impl Fn(usize) -> f32 + Sync) {
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, part)| {
        for (j, o) in part.iter_mut().enumerate() {
            *o = f(c * CHUNK + j);
        }
    });
}

/// Compute `out[i] = f(i, x, y, z)` in parallel, one task per grid row.
pub fn map_voxels_xyz(
    grid: &Grid,
    out: &mut [f32],
    f: impl Fn(usize, usize, usize, usize) -> f32 + Sync,
) {
    let nx = grid.nx;
    let rows_per_task = CHUNK.div_ceil(nx);
    out.par_chunks_mut(nx * rows_per_task)
        .enumerate()
        .for_each(|(task, part)| {
            for (r, row_part) in part.chunks_mut(nx).enumerate() {
                let row = task * rows_per_task + r;
                let (y, z) = (row % grid.ny, row / grid.ny);
                for (x, o) in row_part.iter_mut().enumerate() {
                    *o = f(row * nx + x, x, y, z);
                }
            }
        });
}

/// The up to six face neighbours of voxel `i` at (x, y, z) along the active
/// axes, in the order (-x, +x, -y, +y, -z, +z); `None` across the domain
/// boundary or along an inactive axis. Mirrors `neighbor` in common.wgsl.
#[inline]
pub fn neighbors(grid: &Grid, i: usize, x: usize, y: usize, z: usize) -> [Option<usize>; 6] {
    let (nx, ny, nz) = (grid.nx, grid.ny, grid.nz);
    let plane = nx * ny;
    [
        (x > 0).then(|| i - 1),
        (x + 1 < nx).then(|| i + 1),
        (y > 0).then(|| i - nx),
        (y + 1 < ny).then(|| i + nx),
        (z > 0).then(|| i - plane),
        (z + 1 < nz).then(|| i + plane),
    ]
}

/// Whether neighbour slot `k` of [`neighbors`] lies on an active axis: a
/// missing neighbour there is a boundary face.
#[inline]
pub fn slot_active(grid: &Grid, k: usize) -> bool {
    grid.dims()[k / 2] > 1
}
