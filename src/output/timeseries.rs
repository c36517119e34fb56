//! timeseries.csv: one row per saved time, appended whole at each save so
//! an interrupted run keeps every row it reached.

use super::atomic;
use crate::model::fields::{idx, FIELDS};
use crate::model::grid::Grid;
use crate::model::state::State;
use std::io::Write;
use std::path::Path;

/// Tumour fraction above which a voxel counts as inside the tumour.
pub const TUMOR_THRESHOLD: f32 = 0.1;

/// Whole-domain summaries of one state.
#[derive(Clone, Debug)]
pub struct Summary {
    pub time_days: f64,
    /// Tumour volume (3D, mm^3) or area (2D, mm^2): sum of tumour fraction
    /// times voxel measure.
    pub tumor_burden: f64,
    /// Diameter of the circle (2D) or sphere (3D) of that burden, um.
    pub equivalent_diameter_um: f64,
    pub priming: f64,
    pub totals: Vec<f64>,
    pub tumor_means: Vec<f64>,
}

/// Diameter (um) of the circle (2D) or sphere (3D) whose area or volume is
/// `measure` (um^2 or um^3).
pub fn equivalent_diameter_um(grid: &Grid, measure: f64) -> f64 {
    if grid.spatial_dims() >= 3 {
        (6.0 * measure / std::f64::consts::PI).cbrt()
    } else {
        2.0 * (measure / std::f64::consts::PI).sqrt()
    }
}

pub fn summarize(state: &State, time_days: f64) -> Summary {
    let grid: &Grid = &state.grid;
    let measure = grid.voxel_measure();
    let tumor = &state.fields[idx::TUMOR];
    let inside: Vec<usize> = (0..grid.len())
        .filter(|&i| tumor[i] >= TUMOR_THRESHOLD)
        .collect();
    let totals: Vec<f64> = state
        .fields
        .iter()
        .map(|f| f.iter().map(|&v| v as f64).sum::<f64>() * measure)
        .collect();
    let tumor_means = state
        .fields
        .iter()
        .map(|f| {
            if inside.is_empty() {
                f64::NAN
            } else {
                inside.iter().map(|&i| f[i] as f64).sum::<f64>() / inside.len() as f64
            }
        })
        .collect();
    let burden_um = totals[idx::TUMOR];
    let equivalent_diameter_um = equivalent_diameter_um(grid, burden_um);
    let um_per_mm = 1e3f64.powi(grid.spatial_dims() as i32);
    Summary {
        time_days,
        tumor_burden: burden_um / um_per_mm,
        equivalent_diameter_um,
        priming: state.systemic.priming as f64,
        totals,
        tumor_means,
    }
}

/// timeseries.csv: the header is written atomically, then each save's row
/// is appended with one write and flushed, so the file holds whole rows
/// (a run killed inside that write is resumed from its checkpoint, which
/// rewrites the rows). Cells that have no value (a tumour mean when no
/// voxel is tumour) are empty.
pub struct TimeseriesWriter {
    file: std::fs::File,
}

impl TimeseriesWriter {
    /// Create the file with its header; `drug_columns` are extra columns.
    pub fn create(path: &Path, drug_columns: &[String]) -> std::io::Result<Self> {
        let mut header = vec![
            "time_days".to_string(),
            "tumor_burden".into(),
            "equivalent_diameter_um".into(),
            "priming".into(),
        ];
        header.extend(FIELDS.iter().map(|f| format!("{}_total", f.name)));
        header.extend(FIELDS.iter().map(|f| format!("{}_tumor_mean", f.name)));
        header.extend(drug_columns.iter().cloned());
        atomic::write(path, format!("{}\n", header.join(",")))?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Self { file })
    }

    pub fn write(&mut self, s: &Summary, drug_values: &[f64]) -> std::io::Result<()> {
        let mut row = vec![
            s.time_days,
            s.tumor_burden,
            s.equivalent_diameter_um,
            s.priming,
        ];
        row.extend(&s.totals);
        row.extend(&s.tumor_means);
        row.extend(drug_values);
        let cells: Vec<String> = row.iter().map(|&v| cell(v)).collect();
        let line = format!("{}\n", cells.join(","));
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

/// A value as written in the CSV: the shortest text that reads back as
/// the same f64 (`0.19851999661922454`, not `1.9851999661922454e-1`),
/// with an exponent only far from 1 (`2.5e-9`, `3e20`), or empty when it
/// does not exist (NaN).
fn cell(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// The summaries of a timeseries.csv, exactly as they were written.
pub fn read_summaries(path: &Path) -> anyhow::Result<Vec<Summary>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (t, b, d, p) = (
        col("time_days")?,
        col("tumor_burden")?,
        col("equivalent_diameter_um")?,
        col("priming")?,
    );
    let totals = FIELDS
        .iter()
        .map(|f| col(&format!("{}_total", f.name)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let means = FIELDS
        .iter()
        .map(|f| col(&format!("{}_tumor_mean", f.name)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    lines
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(row, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            let v = |k: usize| -> anyhow::Result<f64> {
                match cells.get(k).map(|c| c.trim()) {
                    Some("") => Ok(f64::NAN),
                    Some(c) => c
                        .parse()
                        .with_context(|| format!("{} row {}: `{c}`", path.display(), row + 1)),
                    None => anyhow::bail!("{} row {} is short", path.display(), row + 1),
                }
            };
            Ok(Summary {
                time_days: v(t)?,
                tumor_burden: v(b)?,
                equivalent_diameter_um: v(d)?,
                priming: v(p)?,
                totals: totals
                    .iter()
                    .map(|&k| v(k))
                    .collect::<anyhow::Result<_>>()?,
                tumor_means: means.iter().map(|&k| v(k)).collect::<anyhow::Result<_>>()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_the_shortest_text_that_reads_back_exactly() {
        assert_eq!(cell(0.19851999661922454), "0.19851999661922454");
        assert_eq!(cell(60.0), "60");
        assert_eq!(cell(0.0), "0");
        assert_eq!(cell(2.5e-9), "2.5e-9");
        assert_eq!(cell(-3e20), "-3e20");
        assert_eq!(cell(f64::NAN), "");
        for v in [
            0.1 + 0.2,
            1.0 / 3.0,
            1e-4,
            9.999e14,
            1e15,
            123.456e-7,
            -7.25,
        ] {
            assert_eq!(cell(v).parse::<f64>().unwrap(), v, "{v}");
        }
    }
}
