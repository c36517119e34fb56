//! .npy field files: float32, shape (nz, ny, nx), C order, as numpy and
//! ParaView readers expect (read back by config::npy).

use crate::model::grid::Grid;
use npyz::WriterBuilder;
use std::path::Path;

/// Write one field.
pub fn write_field(path: &Path, grid: &Grid, data: &[f32]) -> std::io::Result<()> {
    super::atomic::write_with(path, |file| {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[grid.nz as u64, grid.ny as u64, grid.nx as u64])
            .writer(file)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })
}
