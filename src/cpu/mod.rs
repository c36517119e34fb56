//! CPU reference kernels. Each file mirrors one WGSL stage by name
//! (`react.rs` <-> `shaders/react.wgsl`), works on the same per-field
//! buffers with the same f32 arithmetic, and runs in parallel with rayon.
//! Nothing here depends on wgpu.

pub mod crowding;
pub mod diffuse_explicit;
pub mod diffuse_residual;
pub mod diffuse_sweep;
pub mod motility;
pub mod react;
pub mod systemic;

use crate::model::fields::FIELD_COUNT;
use crate::model::grid::Grid;
use rayon::prelude::*;

/// Voxels per rayon task.
const CHUNK: usize = 4096;

/// Apply `f` to the values of all fields at each voxel, in parallel.
pub fn for_each_voxel(fields: &mut [Vec<f32>], f: impl Fn(&mut [f32; FIELD_COUNT]) + Sync) {
    assert_eq!(fields.len(), FIELD_COUNT);
    let n = fields[0].len();
    let mut chunks: Vec<Vec<&mut [f32]>> = (0..n.div_ceil(CHUNK)).map(|_| Vec::with_capacity(FIELD_COUNT)).collect();
    for field in fields.iter_mut() {
        for (c, part) in field.chunks_mut(CHUNK).enumerate() {
            chunks[c].push(part);
        }
    }
    chunks.into_par_iter().for_each(|mut parts| {
        let mut v = [0f32; FIELD_COUNT];
        for j in 0..parts[0].len() {
            for (f, part) in parts.iter().enumerate() {
                v[f] = part[j];
            }
            f(&mut v);
            for (f, part) in parts.iter_mut().enumerate() {
                part[j] = v[f];
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

/// The neighbour of voxel `i` one step along `axis` in direction `dir`
/// (-1 or +1), or `None` across the domain boundary. Mirrors `neighbor` in
/// common.wgsl.
#[inline]
pub fn neighbor(grid: &Grid, i: usize, axis: usize, dir: i32) -> Option<usize> {
    let (x, y, z) = grid.coords(i);
    let (pos, n, stride) = match axis {
        0 => (x, grid.nx, 1),
        1 => (y, grid.ny, grid.nx),
        _ => (z, grid.nz, grid.nx * grid.ny),
    };
    if dir < 0 {
        (pos > 0).then(|| i - stride)
    } else {
        (pos + 1 < n).then(|| i + stride)
    }
}
