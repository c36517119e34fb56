//! CPU twin of shaders/diffuse_residual.wgsl: r = dt (D lap(u) - lambda u),
//! the right-hand side of the delta-form ADI step. Dirichlet faces use the
//! ghost value 2v - u_i, which puts v on the face.

use super::{map_voxels, neighbor};
use crate::model::grid::{Grid, TransportUniform};

/// D lap(u) - lambda u at voxel `i` (shared with the explicit solver).
pub fn operator(grid: &Grid, axes: &[usize], t: &TransportUniform, u: &[f32], i: usize) -> f32 {
    let inv_dx2 = 1.0 / (grid.dx_um * grid.dx_um);
    let ui = u[i];
    let mut lap = 0.0f32;
    for &axis in axes {
        for dir in [-1, 1] {
            lap += match neighbor(grid, i, axis, dir) {
                Some(j) => u[j] - ui,
                None if t.dirichlet == 1 => 2.0 * (t.bc_value - ui),
                None => 0.0,
            };
        }
    }
    t.diffusivity * lap * inv_dx2 - t.decay * ui
}

pub fn diffuse_residual(grid: &Grid, t: &TransportUniform, u: &[f32], r: &mut [f32]) {
    let axes = grid.active_axes();
    map_voxels(r, |i| t.dt * operator(grid, &axes, t, u, i));
}
