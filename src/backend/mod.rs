//! The interface both backends implement: state goes in, macro steps run
//! with one parameter set per step, state comes out only when asked. Every
//! call can fail (a lost GPU device, an exhausted GPU memory), and says so
//! as an error rather than a panic, so the run loop can keep what it has.

use crate::model::fields::FIELDS;
use crate::model::grid::Grid;
use crate::model::params::ModelParams;
use crate::model::state::State;
use anyhow::Result;

pub mod batch;
pub mod plan;

/// Values below this are out of range for every field (volume fractions
/// and concentrations are non-negative; the transport and reactions keep
/// them so up to round-off far smaller than this).
pub const VALUE_FLOOR: f32 = -1e-4;

/// Most steps encoded per GPU submission (and per parameter upload).
pub const MAX_BATCH: u64 = 256;

pub trait Backend {
    /// "cpu" or "gpu".
    fn kind(&self) -> &'static str;
    /// Adapter or processor description for the manifest.
    fn device_name(&self) -> String;
    /// Bytes this backend holds for a run (GPU: every device buffer; CPU:
    /// the state and the scratch arrays).
    fn memory_bytes(&self) -> u64;
    /// Replace the backend's state.
    fn upload(&mut self, state: &State) -> Result<()>;
    /// Run one macro step per entry of `params` (parameters at each step's
    /// start), without reading anything back.
    fn run_steps(&mut self, params: &[ModelParams]) -> Result<()>;
    /// Read the whole state back.
    fn download(&mut self) -> Result<State>;
    /// Look for non-finite or out-of-range values where the state lives
    /// (a reduction on the GPU), reading back only the result.
    fn find_bad_value(&mut self) -> Result<Option<BadValue>>;
    /// Run one step per entry of `params` as `run_steps` does, timing each
    /// stage inside the steps with device timestamps: the time per stage,
    /// summed over the steps. `None` where the backend has no such clock
    /// (the CPU, an adapter without timestamp queries).
    fn profile_stages(
        &mut self,
        params: &[ModelParams],
    ) -> Result<Option<Vec<(plan::Phase, std::time::Duration)>>> {
        let _ = params;
        Ok(None)
    }
}

/// Where a state went bad: the first flagged voxel of the first flagged
/// field, and how many voxels are flagged in that field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadValue {
    pub field: usize,
    pub voxel: usize,
    pub count: u64,
}

impl BadValue {
    pub fn describe(&self, grid: &Grid) -> String {
        let (x, y, z) = grid.coords(self.voxel);
        format!(
            "field `{}` has {} voxel(s) that are not finite or below {VALUE_FLOOR}, first at voxel (x={x}, y={y}, z={z})",
            FIELDS[self.field].name, self.count
        )
    }
}

/// Whether a value is a valid field value (the GPU's check_values.wgsl
/// applies the same test).
pub fn value_ok(v: f32) -> bool {
    v.is_finite() && v >= VALUE_FLOOR
}

/// The CPU twin of shaders/check_values.wgsl.
pub fn scan_values(fields: &[Vec<f32>]) -> Option<BadValue> {
    fields.iter().enumerate().find_map(|(f, data)| {
        let first = data.iter().position(|&v| !value_ok(v))?;
        let count = data[first..].iter().filter(|&&v| !value_ok(v)).count() as u64;
        Some(BadValue {
            field: f,
            voxel: first,
            count,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_nan_infinity_and_negative_values() {
        let mut fields = vec![vec![0.0f32; 8]; 3];
        assert_eq!(scan_values(&fields), None);
        fields[1][5] = -1e-7; // round-off: accepted
        assert_eq!(scan_values(&fields), None);
        fields[2][6] = f32::NAN;
        fields[2][7] = f32::INFINITY;
        fields[1][3] = -0.01;
        let bad = scan_values(&fields).unwrap();
        assert_eq!((bad.field, bad.voxel, bad.count), (1, 3, 1));
        fields[1][3] = 0.0;
        let bad = scan_values(&fields).unwrap();
        assert_eq!((bad.field, bad.voxel, bad.count), (2, 6, 2));
    }
}
