//! Initial conditions: the config's pieces summed into field arrays, and
//! checked against each field's bounds.

use super::error::{At, ConfigError};
use super::resolve::{InitialPiece, RunSpec};
use super::schema::Initial;
use crate::model::fields::{fields_of, FieldKind, Upper, FIELDS};
use crate::model::grid::Grid;
use crate::model::rng::SplitMix64;
use crate::model::state::State;

/// Build the state at time zero.
pub fn initial_state(spec: &RunSpec) -> Result<State, ConfigError> {
    let grid = spec.grid;
    let mut state = State::zeros(grid);
    for (f, setup) in spec.fields.iter().enumerate() {
        let field = &mut state.fields[f];
        if setup.initial.is_empty() {
            field.fill(FIELDS[f].initial);
        }
        for (k, piece) in setup.initial.iter().enumerate() {
            match piece {
                InitialPiece::Array(a) => field.iter_mut().zip(a).for_each(|(v, a)| *v += a),
                InitialPiece::Spec(s) => {
                    let before: f64 = field.iter().map(|&v| v as f64).sum();
                    add_piece(field, s, &grid);
                    let after: f64 = field.iter().map(|&v| v as f64).sum();
                    if places_something(s) && after == before {
                        return Err(At::file(&spec.source).invalid(
                            format!("fields.{}.initial[{k}]", FIELDS[f].name),
                            format!(
                                "this piece lies outside the grid ({} x {} x {} um from the origin) and places nothing; \
                                 move its center_um inside or enlarge the grid",
                                grid.nx as f32 * grid.dx_um,
                                grid.ny as f32 * grid.dx_um,
                                grid.nz as f32 * grid.dx_um
                            ),
                        ));
                    }
                }
            }
        }
        check_bounds(spec, f, field)?;
    }
    let limit = spec.params.crowding_limit;
    let cells: Vec<usize> = fields_of(FieldKind::Cell).collect();
    for i in 0..grid.len() {
        let rho: f32 = cells.iter().map(|&c| state.fields[c][i]).sum();
        if rho > limit * (1.0 + 1e-6) {
            let (x, y, z) = grid.coords(i);
            return Err(At::file(&spec.source).invalid(
                "fields.<cell>.initial",
                format!(
                    "cell fractions sum to {rho} at voxel (x={x}, y={y}, z={z}), above params.crowding_limit = {limit}"
                ),
            ));
        }
    }
    Ok(state)
}

/// Whether a piece adds a non-zero value around its centre, so that adding
/// nothing means the centre is off the grid. (Spots are a scatter that
/// keeps the larger of overlapping values, so they are not checked.)
fn places_something(piece: &Initial) -> bool {
    match piece {
        Initial::Gaussian { peak, .. } => *peak != 0.0,
        Initial::Disk { value, .. } => *value != 0.0,
        Initial::Uniform { .. } | Initial::Spots { .. } | Initial::Npy { .. } => false,
    }
}

fn check_bounds(spec: &RunSpec, f: usize, field: &[f32]) -> Result<(), ConfigError> {
    let upper = match FIELDS[f].upper {
        Upper::One => 1.0,
        Upper::CrowdingLimit => spec.params.crowding_limit,
        Upper::Unbounded => f32::INFINITY,
    };
    if let Some((i, &v)) = field
        .iter()
        .enumerate()
        .find(|(_, &v)| !(v >= 0.0 && v <= upper * (1.0 + 1e-6)))
    {
        let (x, y, z) = spec.grid.coords(i);
        return Err(At::file(&spec.source).invalid(
            format!("fields.{}.initial", FIELDS[f].name),
            format!("value {v} at voxel (x={x}, y={y}, z={z}) is outside [0, {upper}]"),
        ));
    }
    Ok(())
}

/// Squared distance from voxel `i` to `center`, over the active axes only
/// (a 2D grid ignores z).
fn dist2(grid: &Grid, i: usize, center: &[f64]) -> f64 {
    let c = grid.center_um(i);
    grid.active_axes()
        .into_iter()
        .map(|a| {
            let d = c[a] as f64 - center.get(a).copied().unwrap_or(c[a] as f64);
            d * d
        })
        .sum()
}

fn add_piece(field: &mut [f32], piece: &Initial, grid: &Grid) {
    match piece {
        Initial::Uniform { value } => field.iter_mut().for_each(|v| *v += *value as f32),
        Initial::Gaussian {
            center_um,
            sigma_um,
            peak,
        } => {
            for (i, v) in field.iter_mut().enumerate() {
                let r2 = dist2(grid, i, center_um);
                *v += (peak * (-r2 / (2.0 * sigma_um * sigma_um)).exp()) as f32;
            }
        }
        Initial::Disk {
            center_um,
            radius_um,
            value,
        } => {
            for (i, v) in field.iter_mut().enumerate() {
                if dist2(grid, i, center_um) <= radius_um * radius_um {
                    *v += *value as f32;
                }
            }
        }
        Initial::Spots {
            count,
            radius_um,
            value,
            seed,
            center_um,
            min_distance_um,
            max_distance_um,
        } => {
            let mut rng = SplitMix64(*seed ^ 0x9e37_79b9_7f4a_7c15);
            let extent: Vec<f64> = grid
                .dims()
                .iter()
                .map(|&n| n as f64 * grid.dx_um as f64)
                .collect();
            let lo = min_distance_um.unwrap_or(0.0);
            let hi = max_distance_um.unwrap_or(f64::INFINITY);
            let mut placed = 0;
            // Rejection sampling with a bound on tries, so an impossible
            // annulus places fewer spots instead of looping forever.
            for _ in 0..(*count as u64 * 1000).max(1000) {
                if placed == *count {
                    break;
                }
                let p: Vec<f64> = extent.iter().map(|&e| rng.unit() * e).collect();
                if let Some(c) = center_um {
                    let d2: f64 = grid
                        .active_axes()
                        .into_iter()
                        .map(|a| (p[a] - c.get(a).copied().unwrap_or(p[a])).powi(2))
                        .sum();
                    if d2 < lo * lo || d2 > hi * hi {
                        continue;
                    }
                }
                placed += 1;
                for (i, v) in field.iter_mut().enumerate() {
                    if dist2(grid, i, &p) <= radius_um * radius_um {
                        *v = v.max(*value as f32);
                    }
                }
            }
        }
        Initial::Npy { .. } => unreachable!("npy pieces are loaded during validation"),
    }
}
