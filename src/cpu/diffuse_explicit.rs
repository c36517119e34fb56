//! CPU twin of shaders/diffuse_explicit.wgsl: one forward-Euler sub-step
//! u_out = u + dt_sub (D lap(u) - lambda u), for solver verification.

use super::diffuse_residual::operator;
use super::map_voxels_xyz;
use crate::model::grid::{Grid, TransportUniform};

pub fn diffuse_explicit(grid: &Grid, t: &TransportUniform, u: &[f32], out: &mut [f32]) {
    map_voxels_xyz(grid, out, |i, x, y, z| {
        u[i] + t.dt * operator(grid, t, u, i, x, y, z)
    });
}
