//! Warnings about a valid config that is probably not what its author
//! meant: a step far finer than the one the convergence study chose (a
//! long run for no accuracy it needs), or an initial piece smaller than a
//! voxel (a length given in mm where the config wants um). Each names its
//! key; `run` and `check` print them before any work starts.

use super::resolve::{InitialPiece, RunSpec};
use super::schema::{Initial, TimeConfig};
use crate::model::fields::FIELDS;

/// A step this many times finer than the default is worth a word on cost.
const FINE_STEP_FACTOR: f64 = 4.0;

/// One line per probable slip, each naming its key.
pub fn advisories(spec: &RunSpec) -> Vec<String> {
    let mut notes = Vec::new();
    let default_dt = TimeConfig::default().dt_min;
    let dt = spec.dt_min as f64;
    if dt * FINE_STEP_FACTOR <= default_dt {
        notes.push(format!(
            "time.dt_min = {dt} min gives {} steps, {:.0}x the steps of the default {default_dt} min, \
             which already converges every field within 2% (docs/verification.md); expect about \
             {:.0}x its run time",
            spec.steps,
            default_dt / dt,
            default_dt / dt
        ));
    }
    let dx = spec.grid.dx_um as f64;
    for (f, setup) in spec.fields.iter().enumerate() {
        for (k, piece) in setup.initial.iter().enumerate() {
            let InitialPiece::Spec(piece) = piece else {
                continue;
            };
            let (key, length) = match piece {
                Initial::Disk { radius_um, .. } => ("radius_um", *radius_um),
                Initial::Spots { radius_um, .. } => ("radius_um", *radius_um),
                Initial::Gaussian { sigma_um, .. } => ("sigma_um", *sigma_um),
                Initial::Uniform { .. } | Initial::Npy { .. } => continue,
            };
            if length < dx / 2.0 {
                notes.push(format!(
                    "fields.{}.initial[{k}].{key} = {length} um is under half a voxel (grid.dx_um = {dx}): \
                     the piece fills at most the voxels whose centres it covers; lengths are in micrometres",
                    FIELDS[f].name
                ));
            }
        }
    }
    notes
}
