//! timeseries.png, plotted from timeseries.csv (so `tmesim render` redraws
//! it from the file alone): tumour burden, CD8/Treg ratios, mean cytokines
//! and metabolites in the tumour, immune cells in the tumour, and drug
//! occupancy where the run has drugs.

use super::plot::{panel_grid, Panel, Series};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The columns of timeseries.csv by header name.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines();
        let header: Vec<String> = match lines.next() {
            Some(h) => h.split(',').map(str::to_string).collect(),
            None => bail!("{} is empty", path.display()),
        };
        let rows = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.split(',')
                    .map(|v| v.trim().parse().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        Ok(Self { header, rows })
    }

    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let k = self.header.iter().position(|h| h == name)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.get(k).copied().unwrap_or(f64::NAN))
                .collect(),
        )
    }
}

const DAYS: &str = "time (days)";

/// Write timeseries.png from timeseries.csv; `three_d` picks mm^3 over mm^2.
pub fn write(csv: &Path, png: &Path, three_d: bool) -> Result<()> {
    let table = Table::read(csv)?;
    let t = table
        .column("time_days")
        .context("timeseries.csv has no time_days")?;
    let series = |label: &str, values: Option<Vec<f64>>| {
        values.map(|v| Series {
            label: label.to_string(),
            points: t.iter().copied().zip(v).collect(),
        })
    };
    let ratio = |a: &str, b: &str| -> Option<Vec<f64>> {
        let (a, b) = (table.column(a)?, table.column(b)?);
        Some(
            a.iter()
                .zip(&b)
                .map(|(x, y)| if *y > 0.0 { x / y } else { f64::NAN })
                .collect(),
        )
    };
    let tumor_mean = |f: &str| series(f, table.column(&format!("{f}_tumor_mean")));
    let panel = |title: &str, y: &str, s: Vec<Option<Series>>| Panel {
        title: title.into(),
        x_label: DAYS.into(),
        y_label: y.into(),
        series: s.into_iter().flatten().collect(),
    };
    let mut panels = vec![
        panel(
            "Tumour burden",
            if three_d {
                "volume (mm³)"
            } else {
                "area (mm²)"
            },
            vec![series("tumour", table.column("tumor_burden"))],
        ),
        panel(
            "CD8 / Treg ratio",
            "ratio (CD8 : Treg)",
            vec![
                series("whole section", ratio("cd8_total", "treg_total")),
                series("in tumour", ratio("cd8_tumor_mean", "treg_tumor_mean")),
            ],
        ),
        panel(
            "Cytokines, mean in tumour",
            "concentration (nM)",
            ["ifng", "il10", "vegf"].map(tumor_mean).to_vec(),
        ),
        panel(
            "Metabolites, mean in tumour",
            "concentration (nM)",
            ["adenosine", "kynurenine"].map(tumor_mean).to_vec(),
        ),
        panel(
            "Immune cells, mean in tumour",
            "volume fraction",
            ["cd8", "treg", "mdsc", "tam", "dc"]
                .map(tumor_mean)
                .to_vec(),
        ),
    ];
    // Therapy columns come from src/therapy/treatment.rs (`<name>_exposure`).
    let exposure: Vec<Option<Series>> = table
        .header
        .iter()
        .filter_map(|h| h.strip_suffix("_exposure"))
        .map(|drug| series(drug, table.column(&format!("{drug}_exposure"))))
        .collect();
    if !exposure.is_empty() {
        panels.push(panel(
            "Drug exposure (occupancy or Emax effect)",
            "fraction of maximal effect",
            exposure,
        ));
    }
    panels.retain(|p| !p.series.is_empty());
    panel_grid(png, &panels, 2)
}
