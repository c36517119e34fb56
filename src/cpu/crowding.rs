//! CPU twin of shaders/crowding.wgsl: the free space 1 - rho / rho_max per
//! voxel (rho the sum of all cell fractions) and the chemotactic signal
//! s = ifng / (ifng + K), both read by the motility stage.

use super::map_voxels;
use crate::model::fields::{fields_of, idx, FieldKind};

pub fn crowding(
    fields: &[Vec<f32>],
    crowding_limit: f32,
    chemo_k: f32,
    free: &mut [f32],
    signal: &mut [f32],
) {
    let cells: Vec<&Vec<f32>> = fields_of(FieldKind::Cell).map(|c| &fields[c]).collect();
    map_voxels(free, |i| {
        let rho: f32 = cells.iter().map(|c| c[i]).sum();
        (1.0 - rho / crowding_limit).max(0.0)
    });
    let ifng = &fields[idx::IFNG];
    map_voxels(signal, |i| {
        let x = ifng[i];
        x / (x + chemo_k)
    });
}
