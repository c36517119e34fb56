//! Treatment-arm comparison: the same scenario (and phenotype) run once per
//! arm from the same initial state, then RECIST-style metrics per arm, a
//! summary table and a burden plot.

use crate::output::plot::{line_chart, Guide, Series};
use crate::output::timeseries::Summary;
use std::io::Write;
use std::path::Path;

/// Best overall response in the sense of RECIST 1.1 (model-brief): a fall
/// of 30% or more in equivalent diameter from baseline is a response;
/// a rise of 20% over the nadir is progression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recist {
    /// Complete response: less tumour than one voxel's worth.
    Cr,
    Pr,
    Sd,
    Pd,
}

impl Recist {
    pub fn as_str(self) -> &'static str {
        match self {
            Recist::Cr => "CR",
            Recist::Pr => "PR",
            Recist::Sd => "SD",
            Recist::Pd => "PD",
        }
    }
}

/// Partial response threshold: change from baseline.
pub const RESPONSE_CHANGE: f64 = -0.30;
/// Progression threshold: rise over the nadir.
pub const PROGRESSION_RISE: f64 = 0.20;

/// The response of one tumour-diameter series, RECIST-style.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub baseline_diameter_um: f64,
    pub final_diameter_um: f64,
    /// Smallest change of the diameter from baseline over the saves after
    /// day 0 (the nadir), percent; positive when the tumour only grew.
    pub best_change_pct: f64,
    /// When the best change was reached, days.
    pub best_day: f64,
    pub recist: Recist,
    /// First saved time at which the diameter is 20% over its nadir.
    pub time_to_progression_days: Option<f64>,
}

/// Response of diameters `d` saved at `times` (the first is the baseline).
/// `cr_diameter_um` is the equivalent diameter of one voxel full of
/// tumour: below it the tumour counts as gone, provided it was there at
/// baseline (a tumour that starts under one voxel cannot disappear, so a
/// run seeded that small is judged by its change alone, never CR).
pub fn response(times: &[f64], d: &[f64], cr_diameter_um: f64) -> Response {
    let d0 = d[0];
    let can_disappear = d0 >= cr_diameter_um;
    let mut nadir = d0;
    let mut best: Option<(f64, f64)> = None;
    let mut response = None;
    let mut progression = None;
    for (&t, &dk) in times.iter().zip(d).skip(1) {
        let change = (dk - d0) / d0;
        if best.is_none_or(|(b, _)| change < b) {
            best = Some((change, t));
        }
        if progression.is_none() {
            if can_disappear && dk < cr_diameter_um {
                response = Some(Recist::Cr);
            } else if change <= RESPONSE_CHANGE && response.is_none() {
                response = Some(Recist::Pr);
            }
            if dk >= (1.0 + PROGRESSION_RISE) * nadir {
                progression = Some(t);
            }
        }
        nadir = nadir.min(dk);
    }
    let recist = match (response, progression) {
        (Some(r), _) => r,
        (None, Some(_)) => Recist::Pd,
        (None, None) => Recist::Sd,
    };
    let (best, best_day) = best.unwrap_or((0.0, times[0]));
    Response {
        baseline_diameter_um: d0,
        final_diameter_um: *d.last().expect("at least one saved time"),
        best_change_pct: 100.0 * best,
        best_day,
        recist,
        time_to_progression_days: progression,
    }
}

/// Per-arm outcome, computed from the saved time series.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmMetrics {
    pub baseline_diameter_um: f64,
    pub final_diameter_um: f64,
    /// Smallest change of the equivalent diameter from baseline, percent.
    pub best_change_pct: f64,
    pub recist: Recist,
    /// First saved time at which the diameter is 20% over its nadir.
    pub time_to_progression_days: Option<f64>,
    /// In-tumour mean CD8 over in-tumour mean Treg at the end.
    pub cd8_treg_ratio: f64,
    pub ifng_tumor_mean_nm: f64,
    pub il10_tumor_mean_nm: f64,
}

/// Metrics of one arm. `cr_diameter_um` is the equivalent diameter of one
/// voxel full of tumour: below it the tumour counts as gone.
pub fn metrics(summaries: &[Summary], cr_diameter_um: f64) -> ArmMetrics {
    use crate::model::fields::idx;
    let last = summaries.last().expect("at least one saved time");
    let times: Vec<f64> = summaries.iter().map(|s| s.time_days).collect();
    let d: Vec<f64> = summaries.iter().map(|s| s.equivalent_diameter_um).collect();
    let r = response(&times, &d, cr_diameter_um);
    let ratio = last.tumor_means[idx::CD8] / last.tumor_means[idx::TREG];
    ArmMetrics {
        baseline_diameter_um: r.baseline_diameter_um,
        final_diameter_um: r.final_diameter_um,
        best_change_pct: r.best_change_pct,
        recist: r.recist,
        time_to_progression_days: r.time_to_progression_days,
        cd8_treg_ratio: ratio,
        ifng_tumor_mean_nm: last.tumor_means[idx::IFNG],
        il10_tumor_mean_nm: last.tumor_means[idx::IL10],
    }
}

/// Column names of summary.csv.
pub const SUMMARY_COLUMNS: &[&str] = &[
    "arm",
    "baseline_diameter_um",
    "final_diameter_um",
    "best_change_pct",
    "recist",
    "time_to_progression_days",
    "cd8_treg_ratio",
    "ifng_tumor_mean_nm",
    "il10_tumor_mean_nm",
];

/// Write summary.csv: one row per arm; an empty cell is "not reached" or
/// "no tumour left to average over".
pub fn write_summary(path: &Path, arms: &[(String, ArmMetrics)]) -> std::io::Result<()> {
    let mut f = crate::output::atomic::AtomicFile::create(path)?;
    writeln!(f, "{}", SUMMARY_COLUMNS.join(","))?;
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            String::new()
        }
    };
    for (label, m) in arms {
        writeln!(
            f,
            "{},{},{},{},{},{},{},{},{}",
            label,
            num(m.baseline_diameter_um),
            num(m.final_diameter_um),
            num(m.best_change_pct),
            m.recist.as_str(),
            m.time_to_progression_days.map(num).unwrap_or_default(),
            num(m.cd8_treg_ratio),
            num(m.ifng_tumor_mean_nm),
            num(m.il10_tumor_mean_nm),
        )?;
    }
    f.commit()
}

/// tumor_burden.png: per cent change of every arm's equivalent diameter
/// from its baseline, over time (RECIST reads change, not size).
/// The RECIST-style thresholds of a diameter-change plot: -30% (partial
/// response) and +20% (progression), as on the cohort's waterfall.
pub fn recist_guides() -> Vec<Guide> {
    vec![
        Guide {
            y: 100.0 * RESPONSE_CHANGE,
            label: "-30% (response)".into(),
        },
        Guide {
            y: 100.0 * PROGRESSION_RISE,
            label: "+20% (progression)".into(),
        },
    ]
}

pub fn plot_burden(
    path: &Path,
    arms: &[(String, Vec<Summary>)],
    title: &str,
) -> anyhow::Result<()> {
    let series: Vec<Series> = arms
        .iter()
        .map(|(label, s)| Series {
            label: label.clone(),
            points: s
                .iter()
                .map(|p| {
                    let d0 = s[0].equivalent_diameter_um;
                    (p.time_days, 100.0 * (p.equivalent_diameter_um - d0) / d0)
                })
                .collect(),
        })
        .collect();
    line_chart(
        path,
        title,
        "time (days)",
        "equivalent diameter, change from day 0 (%)",
        &series,
        &recist_guides(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fields::FIELD_COUNT;

    fn series(diameters: &[f64]) -> Vec<Summary> {
        diameters
            .iter()
            .enumerate()
            .map(|(k, &d)| Summary {
                time_days: k as f64 * 7.0,
                tumor_burden: 0.0,
                equivalent_diameter_um: d,
                priming: 0.0,
                totals: vec![0.0; FIELD_COUNT],
                tumor_means: vec![1.0; FIELD_COUNT],
            })
            .collect()
    }

    #[test]
    fn recist_categories_follow_the_thresholds() {
        let pr = metrics(&series(&[500.0, 400.0, 340.0, 350.0]), 20.0);
        assert_eq!(pr.recist, Recist::Pr);
        assert!((pr.best_change_pct + 32.0).abs() < 1e-9);
        assert_eq!(pr.time_to_progression_days, None);
        let pd = metrics(&series(&[500.0, 450.0, 520.0, 541.0]), 20.0);
        // Nadir 450: 541 is 20.2% over it, so progression at day 21.
        assert_eq!(pd.recist, Recist::Pd);
        assert_eq!(pd.time_to_progression_days, Some(21.0));
        let sd = metrics(&series(&[500.0, 480.0, 560.0]), 20.0);
        assert_eq!(sd.recist, Recist::Sd);
        let cr = metrics(&series(&[500.0, 200.0, 10.0]), 20.0);
        assert_eq!(cr.recist, Recist::Cr);
        // A response after progression does not count.
        let late = metrics(&series(&[500.0, 620.0, 300.0]), 20.0);
        assert_eq!(late.recist, Recist::Pd);
    }

    #[test]
    fn a_tumour_seeded_under_one_voxel_that_grows_is_never_a_complete_response() {
        // `--set fields.tumor.initial.radius_um=0.3` seeds 19 um of tumour
        // on 20 um voxels (one voxel is 22.6 um): it grew 2.1% and was
        // called CR.
        let grew = metrics(&series(&[19.0, 19.2, 19.4]), 22.6);
        assert_eq!(grew.recist, Recist::Sd);
        assert!(grew.best_change_pct > 0.0);
        // Measurable at baseline, then gone: CR.
        let gone = metrics(&series(&[30.0, 25.0, 10.0]), 22.6);
        assert_eq!(gone.recist, Recist::Cr);
    }

    #[test]
    fn best_change_of_a_growing_tumour_is_its_smallest_growth() {
        // The nadir excludes day 0: a tumour that only grew has a positive
        // best change, not 0.
        let grew = metrics(&series(&[500.0, 510.0, 530.0, 560.0]), 20.0);
        assert!((grew.best_change_pct - 2.0).abs() < 1e-9, "{grew:?}");
        let r = response(&[0.0, 7.0, 14.0], &[500.0, 450.0, 470.0], 20.0);
        assert_eq!(r.best_day, 7.0);
        assert!((r.best_change_pct + 10.0).abs() < 1e-9);
    }
}
