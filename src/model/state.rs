//! Simulation state: one f32 buffer per field plus the systemic ODE state.
//! This is everything a step reads and writes, so saving these buffers and
//! the step counter restores a run exactly.

use super::fields::FIELD_COUNT;
use super::grid::Grid;
use bytemuck::{Pod, Zeroable};

/// Well-mixed state beside the grid (WGSL `Systemic`, keep in sync with
/// shaders/common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Systemic {
    /// Lymph-node priming level in [0, 1]; scales effector supply.
    pub priming: f32,
    pub _pad: [f32; 3],
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub grid: Grid,
    /// `fields[f][voxel]`, in registry order.
    pub fields: Vec<Vec<f32>>,
    pub systemic: Systemic,
    /// Completed macro steps.
    pub step: u64,
}

impl State {
    pub fn zeros(grid: Grid) -> Self {
        Self {
            grid,
            fields: vec![vec![0.0; grid.len()]; FIELD_COUNT],
            systemic: Systemic::default(),
            step: 0,
        }
    }
}
