//! Virtual trials: a cohort of virtual patients drawn from a phenotype mix
//! and parameter distributions, every patient run on every arm, and what a
//! trial reports (response rates, progression-free survival, the mechanism
//! x therapy map). docs/cohorts.md describes the files.

pub(crate) mod charts;
pub(crate) mod dist;
pub mod lesion;
pub mod merge;
pub mod patient;
pub(crate) mod records;
pub(crate) mod report;
pub mod runner;
pub mod sample;
pub mod spec;
pub(crate) mod stats;
pub mod sweep;
pub(crate) mod tables;
pub mod trial;
pub mod trial_report;

use crate::output::layout;
use anyhow::Result;
use std::path::Path;

/// Write a whole cohort's tables, figures and report from its records.
pub fn aggregate(out: &Path, spec: &spec::CohortSpec, end_day: f64) -> Result<()> {
    let records = records::read_all(out, spec)?;
    let stats = tables::arm_stats(spec, &records);
    let map = tables::mechanism_map(spec.reference_label(), &spec.arm_labels, &records);
    tables::write(out, spec, &records, &stats, &map)?;
    let label_of =
        |a: &str| crate::therapy::treatment::arm_label(&crate::therapy::treatment::parse_arm(a));
    let mut published_pfs = Vec::new();
    if !spec.cohort.figures.is_empty() {
        let text = trial_report::table(&spec.cohort.figures, &stats, label_of);
        let p = out.join(layout::TRIAL_CSV);
        crate::output::atomic::write(&p, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
        let panels = trial_report::chart_panels(&spec.cohort.figures, &stats, label_of);
        // Only overall survival published: nothing the model reads to draw.
        if !panels.is_empty() {
            charts::trial(&out.join(layout::TRIAL_PNG), &panels)?;
        }
        published_pfs = spec
            .cohort
            .figures
            .iter()
            .filter(|f| f.measure == trial::Measure::MedianPfsMonths)
            .filter_map(|f| {
                let k = spec
                    .arm_labels
                    .iter()
                    .position(|a| *a == label_of(&f.arm))?;
                Some((k, f.value * trial::DAYS_PER_MONTH))
            })
            .collect();
    }
    charts::pfs(
        &out.join(layout::PFS_PNG),
        &spec.arm_labels,
        &records,
        end_day,
        &published_pfs,
    )?;
    charts::waterfall(&out.join(layout::WATERFALL_PNG), &spec.arm_labels, &records)?;
    charts::mechanism_map(
        &out.join(layout::MECHANISM_PNG),
        &spec.arm_labels,
        &map,
        spec.reference_label(),
    )?;
    report::write(out, spec, &stats, end_day)
}
