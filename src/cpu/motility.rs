//! CPU twin of shaders/motility.wgsl: one explicit sub-step of random
//! motility and chemotaxis with volume exclusion, for one cell field.
//!
//! A cell hops from voxel i to neighbour j at rate
//!   w_ij = (M + chi * max(0, s_j - s_i)) / dx^2,
//! with s = ifng / (ifng + K) the chemotactic signal, times the free space
//! 1 - rho_j / rho_max at the target. The sub-step is chosen so that
//! dt * sum_j w_ij <= 0.9, which keeps every field non-negative and the cell
//! sum within rho_max (docs/model.md, "Cell transport").

use super::{map_voxels, neighbor};
use crate::model::grid::{Grid, TransportUniform};

/// Chemotactic signal (mirrors `chemo_signal` in motility.wgsl).
#[inline]
pub fn chemo_signal(ifng: f32, k: f32) -> f32 {
    let x = ifng.max(0.0);
    x / (x + k)
}

pub struct MotilityInputs<'a> {
    pub crowding_limit: f32,
    pub chemo_k: f32,
    pub c: &'a [f32],
    pub rho: &'a [f32],
    pub ifng: &'a [f32],
}

pub fn motility(grid: &Grid, t: &TransportUniform, m: &MotilityInputs, out: &mut [f32]) {
    let inv_dx2 = 1.0 / (grid.dx_um * grid.dx_um);
    let free = |rho: f32| (1.0 - rho / m.crowding_limit).max(0.0);
    let axes = grid.active_axes();
    map_voxels(out, |i| {
        let ci = m.c[i];
        let si = chemo_signal(m.ifng[i], m.chemo_k);
        let free_i = free(m.rho[i]);
        let mut flux = 0.0f32;
        for &axis in &axes {
            for dir in [-1, 1] {
                match neighbor(grid, i, axis, dir) {
                    Some(j) => {
                        let sj = chemo_signal(m.ifng[j], m.chemo_k);
                        let w_ij = t.diffusivity + t.chemotaxis * (sj - si).max(0.0);
                        let w_ji = t.diffusivity + t.chemotaxis * (si - sj).max(0.0);
                        flux += w_ji * m.c[j] * free_i - w_ij * ci * free(m.rho[j]);
                    }
                    None if t.dirichlet == 1 => {
                        let w = t.diffusivity;
                        flux += w * t.bc_value * free_i - w * ci * free(t.ghost_crowding);
                    }
                    None => {}
                }
            }
        }
        ci + t.dt * flux * inv_dx2
    });
}
