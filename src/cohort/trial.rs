//! The published trial a cohort stands for (`[cohort.trial]`) and its
//! figures (`[[cohort.figure]]`), each with its source, and their checks;
//! `trial_report` sets them beside the model's.

use crate::config::error::{At, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Days per month (365.25 / 12), for medians published in months.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// The trial a cohort stands for.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    pub name: String,
    /// Disease, stage and line of therapy, as published.
    pub indication: String,
    /// The arms as the trial gave them (drugs, doses, schedules).
    #[serde(default)]
    pub arms_as_published: Vec<String>,
    /// The primary publication.
    pub source: String,
}

/// One published figure of one arm.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// The cohort arm it belongs to (as in `cohort.arms`).
    pub arm: String,
    pub measure: Measure,
    pub value: f64,
    /// Its published 95% interval, where given.
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
    /// Patients in the published arm.
    pub patients: u32,
    /// Where the figure was read: the publication and, where the figure
    /// was read in a secondary source, that source too.
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// What a figure measures.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Objective response rate, percent (confirmed CR or PR). On an arm
    /// with radiotherapy, of the unirradiated lesions.
    OrrPct,
    /// Disease control rate, percent.
    DcrPct,
    /// Median progression-free survival, months.
    MedianPfsMonths,
    /// Median overall survival, months: recorded, not modelled.
    MedianOsMonths,
    /// Overall survival at a landmark (`note` says when), percent:
    /// recorded, not modelled.
    OsRatePct,
}

impl Measure {
    pub const ALL: [Measure; 5] = [
        Measure::OrrPct,
        Measure::DcrPct,
        Measure::MedianPfsMonths,
        Measure::MedianOsMonths,
        Measure::OsRatePct,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::OrrPct => "orr_pct",
            Measure::DcrPct => "dcr_pct",
            Measure::MedianPfsMonths => "median_pfs_months",
            Measure::MedianOsMonths => "median_os_months",
            Measure::OsRatePct => "os_rate_pct",
        }
    }

    fn range(self) -> (f64, f64) {
        match self {
            Measure::OrrPct | Measure::DcrPct | Measure::OsRatePct => (0.0, 100.0),
            Measure::MedianPfsMonths | Measure::MedianOsMonths => (0.0, 240.0),
        }
    }
}

/// Check the figures of a cohort file against its arms (`labels`, with
/// `label_of` turning a figure's arm into a label).
pub fn check(
    figures: &[Figure],
    labels: &[String],
    label_of: impl Fn(&str) -> String,
    file: &Path,
) -> Result<(), ConfigError> {
    for (i, f) in figures.iter().enumerate() {
        let at = |k: &str| format!("cohort.figure[{i}].{k}");
        if f.source.trim().is_empty() {
            return Err(At::file(file).invalid(
                at("source"),
                "is empty: every clinical figure names the publication it was read in",
            ));
        }
        if !labels.contains(&label_of(&f.arm)) {
            return Err(At::file(file).invalid(
                at("arm"),
                format!(
                    "`{}` is not one of the cohort's arms ({})",
                    f.arm,
                    labels.join(", ")
                ),
            ));
        }
        let (min, max) = f.measure.range();
        for (key, v) in [("value", Some(f.value)), ("low", f.low), ("high", f.high)] {
            if let Some(v) = v {
                if !(v.is_finite() && (min..=max).contains(&v)) {
                    return Err(ConfigError::OutOfRange {
                        file: file.to_path_buf(),
                        key: at(key),
                        value: v,
                        min,
                        max,
                    });
                }
            }
        }
        if f.patients == 0 {
            return Err(At::file(file).invalid(at("patients"), "must be 1 or more"));
        }
    }
    Ok(())
}
