//! VTK XML ImageData (.vti) per saved time, every saved field as named
//! cell data (one VTK cell per voxel, units in the array names), and a .pvd
//! collection that lets ParaView open the whole run as a time series.
//!
//! The arrays are appended raw little-endian float32, each preceded by its
//! byte count as UInt64 (header_type="UInt64"), in the order listed.

use crate::model::grid::Grid;
use std::io::Write;
use std::path::Path;

/// A VTK array name with the unit: "ifng [nM]".
pub fn array_name(field: &str, unit: &str) -> String {
    format!("{field} [{unit}]")
}

/// Escape the characters XML (and HTML) text and attributes cannot hold.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Write one state; `arrays` are (name, values in x-fastest order).
pub fn write_vti(
    path: &Path,
    grid: &Grid,
    time_days: f64,
    arrays: &[(String, &[f32])],
) -> std::io::Result<()> {
    let mut f = super::atomic::AtomicFile::create(path)?;
    let (nx, ny, nz) = (grid.nx, grid.ny, grid.nz);
    let dx = grid.dx_um;
    writeln!(f, r#"<?xml version="1.0"?>"#)?;
    writeln!(
        f,
        r#"<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">"#
    )?;
    // Extents count points: voxels are cells between them, origin at the
    // corner of the first voxel, spacing the voxel edge in um.
    writeln!(
        f,
        r#"  <ImageData WholeExtent="0 {nx} 0 {ny} 0 {nz}" Origin="0 0 0" Spacing="{dx} {dx} {dx}">"#
    )?;
    writeln!(
        f,
        r#"    <FieldData><DataArray type="Float64" Name="TimeValue" NumberOfTuples="1" format="ascii">{time_days}</DataArray></FieldData>"#
    )?;
    writeln!(f, r#"    <Piece Extent="0 {nx} 0 {ny} 0 {nz}">"#)?;
    writeln!(f, r#"      <PointData/>"#)?;
    let first = arrays.first().map(|a| xml_escape(&a.0)).unwrap_or_default();
    writeln!(f, r#"      <CellData Scalars="{first}">"#)?;
    let mut offset = 0u64;
    for (name, data) in arrays {
        writeln!(
            f,
            r#"        <DataArray type="Float32" Name="{}" NumberOfComponents="1" format="appended" offset="{offset}"/>"#,
            xml_escape(name)
        )?;
        offset += 8 + 4 * data.len() as u64;
    }
    writeln!(f, r#"      </CellData>"#)?;
    writeln!(f, r#"    </Piece>"#)?;
    writeln!(f, r#"  </ImageData>"#)?;
    write!(f, r#"  <AppendedData encoding="raw">"#)?;
    f.write_all(b"_")?;
    for (_, data) in arrays {
        f.write_all(&(4 * data.len() as u64).to_le_bytes())?;
        for v in data.iter() {
            f.write_all(&v.to_le_bytes())?;
        }
    }
    writeln!(f)?;
    writeln!(f, r#"  </AppendedData>"#)?;
    writeln!(f, r#"</VTKFile>"#)?;
    f.commit()
}

/// The collection: one entry per saved time, `files` relative to the .pvd.
pub fn write_pvd(path: &Path, entries: &[(f64, String)]) -> std::io::Result<()> {
    let mut f = super::atomic::AtomicFile::create(path)?;
    writeln!(f, r#"<?xml version="1.0"?>"#)?;
    writeln!(
        f,
        r#"<VTKFile type="Collection" version="1.0" byte_order="LittleEndian">"#
    )?;
    writeln!(f, r#"  <Collection>"#)?;
    for (t, file) in entries {
        writeln!(
            f,
            r#"    <DataSet timestep="{t}" group="" part="0" file="{}"/>"#,
            xml_escape(file)
        )?;
    }
    writeln!(f, r#"  </Collection>"#)?;
    writeln!(f, r#"</VTKFile>"#)?;
    f.commit()
}
