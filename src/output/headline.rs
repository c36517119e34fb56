//! The headline of a run: baseline and final tumour diameter, the best
//! change (nadir after day 0), the RECIST-style category, and a short
//! reading of the immune cells and cytokines in the tumour. The one place
//! both the end-of-run line (`tmesim run`) and report.html take it from;
//! both read it from timeseries.csv.

use super::arms::{response, Recist, Response};
use super::timeseries::equivalent_diameter_um;
use super::tsplot::Table;
use crate::model::grid::Grid;
use anyhow::{Context, Result};

/// The outcome of a run, from its time series.
pub struct Headline {
    pub final_day: f64,
    pub response: Response,
}

impl Headline {
    /// From a run's timeseries.csv on `grid`.
    pub fn from_table(table: &Table, grid: &Grid) -> Result<Self> {
        let t = table
            .column("time_days")
            .context("timeseries.csv has no time_days column")?;
        let d = table
            .column("equivalent_diameter_um")
            .context("timeseries.csv has no equivalent_diameter_um column")?;
        anyhow::ensure!(!t.is_empty(), "timeseries.csv has no rows");
        // Less tumour than one full voxel counts as a complete response.
        let cr = equivalent_diameter_um(grid, grid.voxel_measure());
        Ok(Self {
            final_day: *t.last().unwrap(),
            response: response(&t, &d, cr),
        })
    }

    /// One sentence: "Day 60: tumour equivalent diameter 593 µm, baseline
    /// 503 µm (+17.9%); best change +1.2% (day 1); RECIST-style: SD".
    pub fn sentence(&self) -> String {
        let r = &self.response;
        let change = |d: f64| 100.0 * (d - r.baseline_diameter_um) / r.baseline_diameter_um;
        let category = match r.recist {
            Recist::Cr => "CR (complete response: less than one voxel of tumour)",
            Recist::Pr => "PR (partial response: diameter fell 30% or more)",
            Recist::Sd => "SD (stable disease: neither response nor progression)",
            Recist::Pd => "PD (progressive disease: 20% over the nadir)",
        };
        let progression = r
            .time_to_progression_days
            .map(|t| format!(", progression at day {t:.0}"))
            .unwrap_or_default();
        format!(
            "day {:.0}: tumour equivalent diameter {:.0} µm, baseline {:.0} µm ({:+.1}%); \
             best change {:+.1}% (day {:.0}); RECIST-style {}{}",
            self.final_day,
            r.final_diameter_um,
            r.baseline_diameter_um,
            change(r.final_diameter_um),
            r.best_change_pct,
            r.best_day,
            category,
            progression
        )
    }
}

/// Cells whose in-tumour means the reading reports, with their names.
const CELLS: [(&str, &str); 5] = [
    ("cd8", "CD8 T cells"),
    ("treg", "Tregs"),
    ("mdsc", "MDSCs"),
    ("tam", "M2 macrophages"),
    ("dc", "dendritic cells"),
];
const CYTOKINES: [(&str, &str); 3] = [("ifng", "IFN-gamma"), ("il10", "IL-10"), ("vegf", "VEGF")];

/// One paragraph: which cells entered or left the tumour, and whether each
/// cytokine sits in the tumour or around it (in-tumour mean against the
/// whole-section mean at the end). `voxels` and `voxel_measure` turn the
/// `<field>_total` columns into section means.
pub fn reading(table: &Table, grid: &Grid) -> String {
    let last = |c: &str| table.column(c).and_then(|v| v.last().copied());
    let first = |c: &str| table.column(c).and_then(|v| v.first().copied());
    let mut cells_up = Vec::new();
    let mut cells_down = Vec::new();
    for (f, name) in CELLS {
        let col = format!("{f}_tumor_mean");
        let (Some(a), Some(b)) = (first(&col), last(&col)) else {
            continue;
        };
        if !(a.is_finite() && b.is_finite()) {
            continue;
        }
        let text = format!("{name} {} → {}", fmt(a), fmt(b));
        if b > 1.2 * a {
            cells_up.push(text);
        } else if b < a / 1.2 {
            cells_down.push(text);
        }
    }
    let area = grid.len() as f64 * grid.voxel_measure();
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for (f, name) in CYTOKINES {
        let (Some(tm), Some(total)) = (
            last(&format!("{f}_tumor_mean")),
            last(&format!("{f}_total")),
        ) else {
            continue;
        };
        let section = total / area;
        if !(tm.is_finite() && section > 0.0) {
            continue;
        }
        let text = format!(
            "{name} {} nM in the tumour vs {} nM section mean",
            fmt(tm),
            fmt(section)
        );
        if tm >= section {
            inside.push(text);
        } else {
            outside.push(text);
        }
    }
    let list = |v: &[String]| v.join(", ");
    let mut s = String::from("In-tumour means (volume fraction), day 0 → end. ");
    match (cells_up.is_empty(), cells_down.is_empty()) {
        (true, true) => s.push_str("No immune population changed by more than 20%. "),
        _ => {
            if !cells_up.is_empty() {
                s.push_str(&format!("Entered the tumour: {}. ", list(&cells_up)));
            }
            if !cells_down.is_empty() {
                s.push_str(&format!("Left or declined: {}. ", list(&cells_down)));
            }
        }
    }
    if !inside.is_empty() {
        s.push_str(&format!("Concentrated in the tumour: {}. ", list(&inside)));
    }
    if !outside.is_empty() {
        s.push_str(&format!("Higher around it than in it: {}.", list(&outside)));
    }
    s.trim_end().to_string()
}

/// Three significant digits, without float noise.
fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e-3 && v.abs() < 1e4 {
        let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(d: &[f64], cd8: &[f64]) -> Table {
        Table {
            header: [
                "time_days",
                "equivalent_diameter_um",
                "cd8_tumor_mean",
                "ifng_tumor_mean",
                "ifng_total",
            ]
            .map(String::from)
            .to_vec(),
            rows: d
                .iter()
                .zip(cd8)
                .enumerate()
                .map(|(k, (&d, &c))| vec![k as f64, d, c, 0.04, 0.01 * 100.0 * 400.0])
                .collect(),
        }
    }

    const GRID: Grid = Grid {
        nx: 10,
        ny: 10,
        nz: 1,
        dx_um: 20.0,
    };

    #[test]
    fn sentence_has_change_best_and_category() {
        let h =
            Headline::from_table(&table(&[500.0, 520.0, 590.0], &[0.0, 0.0, 0.0]), &GRID).unwrap();
        let s = h.sentence();
        assert!(s.contains("590 µm") && s.contains("baseline 500 µm"), "{s}");
        assert!(
            s.contains("(+18.0%)") && s.contains("best change +4.0% (day 1)"),
            "{s}"
        );
        assert!(s.contains("RECIST-style SD"), "{s}");
    }

    #[test]
    fn reading_names_cells_that_entered_and_where_cytokines_sit() {
        let r = reading(&table(&[500.0, 500.0], &[0.001, 0.01]), &GRID);
        assert!(
            r.contains("Entered the tumour: CD8 T cells 0.00100 → 0.0100"),
            "{r}"
        );
        // 0.04 nM inside against 0.01 nM over the section.
        assert!(
            r.contains("Concentrated in the tumour: IFN-gamma 0.0400 nM"),
            "{r}"
        );
    }
}
