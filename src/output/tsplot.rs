//! timeseries.png, plotted from timeseries.csv (so `tmesim render` redraws
//! it from the file alone): tumour burden (axis from zero) and per cent
//! change of its diameter, CD8/Treg ratios, one panel per molecule and per
//! immune cell type in the tumour (each with its own axis and unit), and
//! drug occupancy where the run has drugs.

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

/// Molecules and cell types with a panel each: column prefix and title.
const MOLECULES: [(&str, &str); 5] = [
    ("ifng", "IFN-gamma"),
    ("il10", "IL-10"),
    ("vegf", "VEGF"),
    ("adenosine", "Adenosine"),
    ("kynurenine", "Kynurenine"),
];
const CELLS: [(&str, &str); 5] = [
    ("cd8", "CD8 T cells"),
    ("treg", "Tregs"),
    ("mdsc", "MDSCs"),
    ("tam", "M2 macrophages"),
    ("dc", "Dendritic cells"),
];

/// Write timeseries.png from timeseries.csv; `three_d` picks mm^3 over mm^2.
pub fn write(csv: &Path, png: &Path, three_d: bool) -> Result<()> {
    let table = Table::read(csv)?;
    let cols = Columns::new(&table)?;
    let mut panels = burden_panels(&cols, three_d);
    // One panel per molecule and per cell type, each on its own axis: their
    // scales differ by orders of magnitude.
    for (f, title) in MOLECULES.iter().chain(&CELLS) {
        let unit = crate::model::fields::field_index(f)
            .map(|i| crate::model::fields::FIELDS[i].unit)
            .unwrap_or("");
        panels.push(panel(
            &format!("{title}, mean in tumour"),
            unit,
            vec![cols.series(f, table.column(&format!("{f}_tumor_mean")))],
        ));
    }
    // Therapy columns come from src/therapy/treatment.rs (`<name>_exposure`).
    let exposure: Vec<Option<Series>> = table
        .header
        .iter()
        .filter_map(|h| h.strip_suffix("_exposure"))
        .map(|drug| cols.series(drug, table.column(&format!("{drug}_exposure"))))
        .collect();
    if !exposure.is_empty() {
        panels.push(panel(
            "Drug exposure (occupancy or Emax effect)",
            "fraction of maximal effect",
            exposure,
        ));
    }
    // A panel whose every value is missing or zero says nothing.
    panels.retain(|p| {
        p.series
            .iter()
            .any(|s| s.points.iter().any(|(_, y)| y.is_finite() && *y != 0.0))
    });
    panel_grid(png, &panels, 3)
}

/// A time-series table with its time column, for building series.
struct Columns<'a> {
    table: &'a Table,
    t: Vec<f64>,
}

impl<'a> Columns<'a> {
    fn new(table: &'a Table) -> Result<Self> {
        let t = table
            .column("time_days")
            .context("timeseries.csv has no time_days")?;
        Ok(Self { table, t })
    }

    fn series(&self, label: &str, values: Option<Vec<f64>>) -> Option<Series> {
        values.map(|v| Series {
            label: label.to_string(),
            points: self.t.iter().copied().zip(v).collect(),
        })
    }

    /// Column `a` over column `b` (NaN where `b` is 0).
    fn ratio(&self, a: &str, b: &str) -> Option<Vec<f64>> {
        let (a, b) = (self.table.column(a)?, self.table.column(b)?);
        Some(
            a.iter()
                .zip(&b)
                .map(|(x, y)| if *y > 0.0 { x / y } else { f64::NAN })
                .collect(),
        )
    }
}

fn panel(title: &str, y: &str, s: Vec<Option<Series>>) -> Panel {
    Panel {
        title: title.into(),
        x_label: DAYS.into(),
        y_label: y.into(),
        series: s.into_iter().flatten().collect(),
        guides: Vec::new(),
    }
}

/// Tumour burden, diameter change from day 0 and the CD8 : Treg ratio.
fn burden_panels(cols: &Columns, three_d: bool) -> Vec<Panel> {
    let table = cols.table;
    let d = table.column("equivalent_diameter_um");
    let change = d.map(|d| {
        let d0 = d.first().copied().unwrap_or(f64::NAN);
        d.iter().map(|v| 100.0 * (v - d0) / d0).collect()
    });
    vec![
        panel(
            "Tumour burden",
            if three_d {
                "volume (mm³)"
            } else {
                "area (mm²)"
            },
            vec![cols.series("tumour", table.column("tumor_burden"))],
        ),
        Panel {
            guides: super::arms::recist_guides(),
            ..panel(
                "Equivalent diameter, change from day 0",
                "change (%)",
                vec![cols.series("diameter", change)],
            )
        },
        panel(
            "CD8 / Treg ratio",
            "ratio (CD8 : Treg)",
            vec![
                cols.series("whole section", cols.ratio("cd8_total", "treg_total")),
                cols.series("in tumour", cols.ratio("cd8_tumor_mean", "treg_tumor_mean")),
            ],
        ),
    ]
}
