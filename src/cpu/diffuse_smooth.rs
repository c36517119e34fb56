//! CPU twin of shaders/diffuse_smooth.wgsl and diffuse_apply.wgsl: one
//! damped-Jacobi sweep on the backward-Euler system after the ADI step,
//! which damps grid-scale modes the delta-form ADI leaves almost undamped
//! at large dt, without changing the steady state or the total.

use super::diffuse_residual::operator;
use super::map_voxels_xyz;
use crate::model::grid::{Grid, TransportUniform};

/// `r` holds the ADI increment on entry, the correction on exit.
pub fn diffuse_smooth(grid: &Grid, t: &TransportUniform, u: &[f32], r: &mut [f32]) {
    let increment = r.to_vec();
    map_voxels_xyz(grid, r, |i, x, y, z| {
        t.k * (t.dt * operator(grid, t, u, i, x, y, z) - increment[i])
    });
}

pub fn diffuse_apply(u: &mut [f32], r: &[f32]) {
    u.iter_mut().zip(r).for_each(|(u, r)| *u += r);
}
