//! CPU twin of shaders/motility.wgsl: one explicit sub-step of random
//! motility and chemotaxis with volume exclusion, for one cell field.
//!
//! A cell hops from voxel i to neighbour j at rate
//!   w_ij = (M + chi * max(0, s_j - s_i)) / dx^2,
//! with s = ifng / (ifng + K) the chemotactic signal, times the free space
//! 1 - rho_j / rho_max at the target (both from the crowding stage). The
//! sub-step is chosen so that dt * sum_j w_ij <= 0.45, which keeps every
//! field non-negative and the cell sum within rho_max (docs/model.md,
//! "Cell transport").
//!
//! The GPU computes one voxel per thread; here a row of voxels is done one
//! neighbour direction at a time over contiguous slices, so the compiler
//! can vectorise it. The flux is summed in the same direction order
//! (-x, +x, -y, +y, -z, +z) as the shader.

use crate::model::grid::{Grid, TransportUniform};
use multiversion::multiversion;
use rayon::prelude::*;

/// Voxels per rayon task (whole rows): a 125-voxel row alone is too little
/// work to hand to another thread.
const ROWS_TASK: usize = 4096;

pub struct MotilityInputs<'a> {
    /// The field being moved.
    pub c: &'a [f32],
    /// Free space per voxel at the start of the sub-step.
    pub free: &'a [f32],
    /// Free space of the ghost voxel beyond a Dirichlet boundary.
    pub ghost_free: f32,
    /// Chemotactic signal per voxel.
    pub signal: &'a [f32],
}

/// Add the exchange with the neighbours at offset `j - i` to `flux` for
/// voxels `i` in `range` of the row starting at `base` (compiled for the
/// widest SIMD the processor has; the same operations in the same order).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn exchange(
    t: &TransportUniform,
    m: &MotilityInputs,
    flux: &mut [f32],
    base: usize,
    range: std::ops::Range<usize>,
    offset: isize,
) {
    let i0 = base + range.start;
    let j0 = (i0 as isize + offset) as usize;
    let len = range.len();
    let (ci, si, fi) = (
        &m.c[i0..i0 + len],
        &m.signal[i0..i0 + len],
        &m.free[i0..i0 + len],
    );
    let (cj, sj, fj) = (
        &m.c[j0..j0 + len],
        &m.signal[j0..j0 + len],
        &m.free[j0..j0 + len],
    );
    let out = &mut flux[range];
    // Fixed blocks of LANES, then the rest: a row is short, and a
    // compiler's unrolled vector loop would leave much of it to its scalar
    // remainder.
    let full = len / LANES * LANES;
    let mut k0 = 0;
    while k0 < full {
        let r = k0..k0 + LANES;
        let lanes = |x: &[f32]| -> [f32; LANES] { x[r.clone()].try_into().expect("LANES") };
        let o: &mut [f32; LANES] = (&mut out[r.clone()]).try_into().expect("LANES");
        exchange_lanes(
            t,
            o,
            [lanes(ci), lanes(si), lanes(fi)],
            [lanes(cj), lanes(sj), lanes(fj)],
        );
        k0 += LANES;
    }
    for k in full..len {
        out[k] += term(t, [ci[k], si[k], fi[k]], [cj[k], sj[k], fj[k]]);
    }
}

/// The exchange term of one voxel i with its neighbour j, from the cell
/// density, signal and free space at each ([c, s, free]).
#[inline(always)]
fn term(t: &TransportUniform, i: [f32; 3], j: [f32; 3]) -> f32 {
    let ([ci, si, fi], [cj, sj, fj]) = (i, j);
    if t.chemotaxis == 0.0 {
        // The same value as below (w = M + 0 exactly), without the signal.
        let w = t.diffusion;
        return w * cj * fi - w * ci * fj;
    }
    let w_ij = t.diffusion + t.chemotaxis * (sj - si).max(0.0);
    let w_ji = t.diffusion + t.chemotaxis * (si - sj).max(0.0);
    w_ji * cj * fi - w_ij * ci * fj
}

/// `term` for LANES voxels at once.
#[inline(always)]
fn exchange_lanes(
    t: &TransportUniform,
    out: &mut [f32; LANES],
    [ci, si, fi]: [[f32; LANES]; 3],
    [cj, sj, fj]: [[f32; LANES]; 3],
) {
    for l in 0..LANES {
        out[l] += term(t, [ci[l], si[l], fi[l]], [cj[l], sj[l], fj[l]]);
    }
}

/// Voxels of one vector step of `exchange` (16 f32: one AVX-512 register).
const LANES: usize = 16;

/// Dirichlet face of voxel `i`: exchange with a ghost at the boundary value.
fn ghost(t: &TransportUniform, m: &MotilityInputs, i: usize) -> f32 {
    if t.dirichlet != 1 {
        return 0.0;
    }
    let w = t.diffusion;
    w * t.bc_value * m.free[i] - w * m.c[i] * m.ghost_free
}

pub fn motility(grid: &Grid, t: &TransportUniform, m: &MotilityInputs, out: &mut [f32]) {
    let (nx, ny, nz) = (grid.nx, grid.ny, grid.nz);
    let inv_dx2 = 1.0 / (grid.dx_um * grid.dx_um);
    let plane = (nx * ny) as isize;
    out.par_chunks_mut(nx)
        .with_min_len(ROWS_TASK.div_ceil(nx))
        .enumerate()
        .for_each(|(row, out_row)| {
            let (y, z) = (row % ny, row / ny);
            let base = row * nx;
            let mut flux = vec![0f32; nx];
            // x neighbours
            if nx > 1 {
                exchange(t, m, &mut flux, base, 1..nx, -1);
                flux[0] += ghost(t, m, base);
                exchange(t, m, &mut flux, base, 0..nx - 1, 1);
                flux[nx - 1] += ghost(t, m, base + nx - 1);
            }
            // y and z neighbours: whole rows, or ghosts on the boundary
            for (axis_len, pos, stride) in [(ny, y, nx as isize), (nz, z, plane)] {
                if axis_len <= 1 {
                    continue;
                }
                for (has, offset) in [(pos > 0, -stride), (pos + 1 < axis_len, stride)] {
                    if has {
                        exchange(t, m, &mut flux, base, 0..nx, offset);
                    } else {
                        flux.iter_mut()
                            .enumerate()
                            .for_each(|(x, f)| *f += ghost(t, m, base + x));
                    }
                }
            }
            for x in 0..nx {
                out_row[x] = m.c[base + x] + t.dt * flux[x] * inv_dx2;
            }
        });
}
