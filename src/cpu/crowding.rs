//! CPU twin of shaders/crowding.wgsl: the free space 1 - rho / rho_max per
//! voxel (rho the sum of all cell fractions) and the chemotactic signal
//! s = ifng / (ifng + K), both read by the motility stage.

use crate::model::fields::{fields_of, idx, FieldKind};
use rayon::prelude::*;

/// Voxels per rayon task.
const CHUNK: usize = 4096;

pub fn crowding(
    fields: &[Vec<f32>],
    crowding_limit: f32,
    chemo_k: f32,
    free: &mut [f32],
    signal: &mut [f32],
) {
    let cells: Vec<&Vec<f32>> = fields_of(FieldKind::Cell).map(|c| &fields[c]).collect();
    // Whole slices, one field at a time (vectorised): the same sum in
    // registry order as the shader's `cell_sum`.
    free.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, out)| {
            let range = chunk * CHUNK..chunk * CHUNK + out.len();
            out.fill(0.0);
            for c in &cells {
                out.iter_mut()
                    .zip(&c[range.clone()])
                    .for_each(|(o, &x)| *o += x);
            }
            out.iter_mut()
                .for_each(|o| *o = (1.0 - *o / crowding_limit).max(0.0));
        });
    let ifng = &fields[idx::IFNG];
    signal
        .par_chunks_mut(CHUNK)
        .zip(ifng.par_chunks(CHUNK))
        .for_each(|(out, x)| {
            out.iter_mut()
                .zip(x)
                .for_each(|(o, &x)| *o = x / (x + chemo_k));
        });
}
