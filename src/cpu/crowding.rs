//! CPU twin of shaders/crowding.wgsl: total cell volume fraction per voxel.

use super::map_voxels;
use crate::model::fields::{fields_of, FieldKind};

pub fn crowding(fields: &[Vec<f32>], rho: &mut [f32]) {
    let cells: Vec<&Vec<f32>> = fields_of(FieldKind::Cell).map(|c| &fields[c]).collect();
    map_voxels(rho, |i| cells.iter().map(|c| c[i]).sum());
}
