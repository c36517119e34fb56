//! Reading a .npy field: an initial condition given as an array, or a
//! field a run saved (output::npy writes them).

use crate::model::grid::Grid;
use std::path::Path;

/// Read a field for an initial condition: float32 or float64, shape
/// (nz, ny, nx) or (ny, nx) for a 2D grid, C order.
pub fn read_field(path: &Path, grid: &Grid) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| format!("not a valid .npy file: {e}"))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let ok = shape == [grid.nz, grid.ny, grid.nx] || (grid.nz == 1 && shape == [grid.ny, grid.nx]);
    if !ok {
        return Err(format!(
            "shape {shape:?} does not match the grid; expected [{}, {}, {}] (nz, ny, nx){}",
            grid.nz,
            grid.ny,
            grid.nx,
            if grid.nz == 1 {
                format!(" or [{}, {}]", grid.ny, grid.nx)
            } else {
                String::new()
            }
        ));
    }
    if npy.order() != npyz::Order::C {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let data: Vec<f32> = match descr.as_str() {
        "<f4" => npy.into_vec::<f32>().map_err(|e| e.to_string())?,
        "<f8" => npy
            .into_vec::<f64>()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        other => {
            return Err(format!(
                "dtype {other} is not supported; use float32 or float64"
            ))
        }
    };
    if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
        return Err(format!("contains a non-finite value ({bad})"));
    }
    Ok(data)
}
