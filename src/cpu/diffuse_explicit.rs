//! CPU twin of shaders/diffuse_explicit.wgsl: one forward-Euler sub-step
//! u_out = u + dt_sub (D lap(u) - lambda u), the reference solver.

use super::{map_voxels_xyz, neighbors, slot_active};
use crate::model::grid::{Grid, TransportUniform};

/// D lap(u) - lambda u at voxel `i` = (x, y, z). Dirichlet faces use the
/// ghost value 2v - u_i, which puts v on the face. Mirrors
/// `transport_rate` in shaders/stencil.wgsl.
#[inline]
fn operator(
    grid: &Grid,
    t: &TransportUniform,
    u: &[f32],
    i: usize,
    x: usize,
    y: usize,
    z: usize,
) -> f32 {
    let inv_dx2 = 1.0 / (grid.dx_um * grid.dx_um);
    let ui = u[i];
    let mut lap = 0.0f32;
    for (k, j) in neighbors(grid, i, x, y, z).into_iter().enumerate() {
        lap += match j {
            Some(j) => u[j] - ui,
            None if t.dirichlet == 1 && slot_active(grid, k) => 2.0 * (t.bc_value - ui),
            None => 0.0,
        };
    }
    t.diffusion * lap * inv_dx2 - t.decay * ui
}

pub fn diffuse_explicit(grid: &Grid, t: &TransportUniform, u: &[f32], out: &mut [f32]) {
    map_voxels_xyz(grid, out, |i, x, y, z| {
        u[i] + t.dt * operator(grid, t, u, i, x, y, z)
    });
}
