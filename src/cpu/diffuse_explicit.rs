//! CPU twin of shaders/diffuse_explicit.wgsl: one forward-Euler sub-step
//! u_out = u + dt_sub (D lap(u) - lambda u), for solver verification.

use super::diffuse_residual::operator;
use super::map_voxels;
use crate::model::grid::{Grid, TransportUniform};

pub fn diffuse_explicit(grid: &Grid, t: &TransportUniform, u: &[f32], out: &mut [f32]) {
    let axes = grid.active_axes();
    map_voxels(out, |i| u[i] + t.dt * operator(grid, &axes, t, u, i));
}
