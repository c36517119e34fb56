//! The published figures of a trial beside the model's: trial.csv and the
//! panels of trial.png.

use super::charts::FigureRow;
use super::tables::ArmStats;
use super::trial::{Figure, Measure, DAYS_PER_MONTH};

/// The model's value with its 95% interval; `None` for what the model
/// does not read (overall survival) or has not reached (a median
/// beyond follow-up).
pub fn model(measure: Measure, a: &ArmStats) -> Option<(f64, Option<f64>, Option<f64>)> {
    let pct = |p: super::stats::Proportion| {
        (
            100.0 * p.estimate,
            Some(100.0 * p.low),
            Some(100.0 * p.high),
        )
    };
    let months = |d: Option<f64>| d.map(|d| d / DAYS_PER_MONTH);
    match measure {
        Measure::OrrPct => Some(pct(a.orr)),
        Measure::DcrPct => Some(pct(a.dcr)),
        Measure::MedianPfsMonths => a.median_pfs.estimate.map(|m| {
            (
                m / DAYS_PER_MONTH,
                months(a.median_pfs.low),
                months(a.median_pfs.high),
            )
        }),
        Measure::MedianOsMonths | Measure::OsRatePct => None,
    }
}

/// The panels of trial.png: per measure the model reads, in `Measure`'s
/// order, one row per published figure with the model's value beside it.
pub fn chart_panels(
    figures: &[Figure],
    stats: &[ArmStats],
    label_of: impl Fn(&str) -> String,
) -> Vec<(String, Vec<FigureRow>)> {
    let title = |m: Measure| match m {
        Measure::OrrPct => "Objective response rate (%)",
        Measure::DcrPct => "Disease control rate (%)",
        Measure::MedianPfsMonths => "Median progression-free survival (months)",
        Measure::MedianOsMonths | Measure::OsRatePct => "",
    };
    Measure::ALL
        .iter()
        .filter(|m| !title(**m).is_empty())
        .filter_map(|&m| {
            let rows: Vec<_> = figures
                .iter()
                .filter(|f| f.measure == m)
                .map(|f| {
                    let label = label_of(&f.arm);
                    let model = stats
                        .iter()
                        .find(|a| a.arm == label)
                        .and_then(|a| model(m, a));
                    FigureRow {
                        label: format!("{label} (trial n = {})", f.patients),
                        published: (f.value, f.low, f.high),
                        model,
                    }
                })
                .collect();
            (!rows.is_empty()).then(|| (title(m).to_string(), rows))
        })
        .collect()
}

/// trial.csv: each published figure beside the model's.
pub fn table(figures: &[Figure], stats: &[ArmStats], label_of: impl Fn(&str) -> String) -> String {
    let mut s = String::from(
        "arm,measure,published,published_low,published_high,published_patients,model,model_low,model_high,source\n",
    );
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    for f in figures {
        let label = label_of(&f.arm);
        let model = stats
            .iter()
            .find(|a| a.arm == label)
            .and_then(|a| model(f.measure, a));
        let (m, lo, hi) = match model {
            Some((m, lo, hi)) => (Some(m), lo, hi),
            None => (None, None, None),
        };
        s += &format!(
            "{label},{},{},{},{},{},{},{},{},\"{}\"\n",
            f.measure.as_str(),
            f.value,
            opt(f.low),
            opt(f.high),
            f.patients,
            opt(m),
            opt(lo),
            opt(hi),
            f.source.replace('"', "'"),
        );
    }
    s
}
