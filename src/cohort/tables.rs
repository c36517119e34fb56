//! The trial's tables from its records: patients.csv (one row per patient
//! and arm), arms.csv (response rates and progression-free survival per
//! arm) and mechanism_map.csv (ORR gain over the reference arm, per
//! phenotype and arm).

use super::records::{header, Record};
use super::spec::CohortSpec;
use super::stats::{kaplan_meier, km_median, log_rank, wilson, Followup, Median, Proportion};
use crate::output::{atomic, layout};
use anyhow::{Context, Result};
use std::path::Path;

/// What arms.csv says of one arm.
#[derive(Clone, Debug)]
pub struct ArmStats {
    pub arm: String,
    pub patients: usize,
    /// Counts of CR, PR, SD and PD.
    pub counts: [usize; 4],
    pub orr: Proportion,
    pub dcr: Proportion,
    pub median_pfs: Median,
    /// ORR minus the reference arm's, percentage points.
    pub orr_gain_pts: f64,
    /// Log-rank p-value of PFS against the reference arm (None for it).
    pub logrank_p: Option<f64>,
}

/// The records of one arm.
pub fn of_arm<'a>(records: &'a [Record], arm: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.arm == arm).collect()
}

pub fn followups(records: &[&Record]) -> Vec<Followup> {
    records
        .iter()
        .map(|r| Followup {
            time: r.pfs_days,
            event: !r.censored,
        })
        .collect()
}

/// Per-arm statistics, in the cohort's arm order.
pub fn arm_stats(spec: &CohortSpec, records: &[Record]) -> Vec<ArmStats> {
    let reference = followups(&of_arm(records, spec.reference_label()));
    let ref_orr = rate(&of_arm(records, spec.reference_label()), Record::responder).estimate;
    spec.arm_labels
        .iter()
        .map(|arm| {
            let rs = of_arm(records, arm);
            let mut counts = [0; 4];
            for r in &rs {
                counts[r.recist as usize] += 1;
            }
            let orr = rate(&rs, Record::responder);
            let f = followups(&rs);
            ArmStats {
                arm: arm.clone(),
                patients: rs.len(),
                counts,
                orr,
                dcr: rate(&rs, Record::disease_control),
                median_pfs: km_median(&kaplan_meier(&f)),
                orr_gain_pts: 100.0 * (orr.estimate - ref_orr),
                logrank_p: (arm != spec.reference_label()).then(|| log_rank(&f, &reference).1),
            }
        })
        .collect()
}

pub fn rate(records: &[&Record], yes: fn(&Record) -> bool) -> Proportion {
    wilson(records.iter().filter(|r| yes(r)).count(), records.len())
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn days(x: Option<f64>) -> String {
    x.map(|d| format!("{d:.1}")).unwrap_or_default()
}

/// A p-value as people read it: 4 decimals, or 2 significant digits below 1e-4.
pub fn p_value(p: f64) -> String {
    if p >= 1e-4 {
        format!("{p:.4}")
    } else {
        format!("{p:.1e}")
    }
}

pub const ARMS_COLUMNS: &[&str] = &[
    "arm",
    "patients",
    "cr",
    "pr",
    "sd",
    "pd",
    "orr_pct",
    "orr_low_pct",
    "orr_high_pct",
    "dcr_pct",
    "dcr_low_pct",
    "dcr_high_pct",
    "median_pfs_days",
    "median_pfs_low_days",
    "median_pfs_high_days",
    "orr_gain_pts",
    "logrank_p_vs_reference",
];

fn arms_csv(stats: &[ArmStats]) -> String {
    let mut s = ARMS_COLUMNS.join(",") + "\n";
    for a in stats {
        let cells = [
            a.arm.clone(),
            a.patients.to_string(),
            a.counts[0].to_string(),
            a.counts[1].to_string(),
            a.counts[2].to_string(),
            a.counts[3].to_string(),
            pct(a.orr.estimate),
            pct(a.orr.low),
            pct(a.orr.high),
            pct(a.dcr.estimate),
            pct(a.dcr.low),
            pct(a.dcr.high),
            days(a.median_pfs.estimate),
            days(a.median_pfs.low),
            days(a.median_pfs.high),
            format!("{:.1}", a.orr_gain_pts),
            a.logrank_p.map(p_value).unwrap_or_default(),
        ];
        s += &(cells.join(",") + "\n");
    }
    s
}

/// One cell of the mechanism map.
#[derive(Clone, Debug)]
pub struct MapCell {
    pub phenotype: String,
    pub arm: String,
    pub patients: usize,
    pub orr_pct: f64,
    pub reference_orr_pct: f64,
    /// Mean over the phenotype's patients of (best change on the arm -
    /// best change on the reference), each patient against itself: a
    /// continuous measure of where a drug acts, negative where the arm
    /// shrinks tumours deeper. NaN when no patient has both records.
    pub best_change_shift_pts: f64,
}

impl MapCell {
    pub fn gain_pts(&self) -> f64 {
        self.orr_pct - self.reference_orr_pct
    }
}

/// ORR per phenotype on every arm but the reference, with the reference's,
/// and the paired shift of the best change.
pub fn mechanism_map(reference: &str, arm_labels: &[String], records: &[Record]) -> Vec<MapCell> {
    let mut phenotypes: Vec<&str> = records.iter().map(|r| r.phenotype.as_str()).collect();
    phenotypes.sort();
    phenotypes.dedup();
    let of = |ph: &str, arm: &str| -> Vec<&Record> {
        records
            .iter()
            .filter(|r| r.phenotype == ph && r.arm == arm)
            .collect()
    };
    let mut cells = Vec::new();
    for ph in phenotypes {
        let on_reference = of(ph, reference);
        let reference_orr = 100.0 * rate(&on_reference, Record::responder).estimate;
        for arm in arm_labels.iter().filter(|a| *a != reference) {
            let rs = of(ph, arm);
            let shifts: Vec<f64> = rs
                .iter()
                .filter_map(|r| {
                    let base = on_reference.iter().find(|b| b.patient == r.patient)?;
                    Some(r.best_change_pct - base.best_change_pct)
                })
                .collect();
            cells.push(MapCell {
                phenotype: ph.to_string(),
                arm: arm.clone(),
                patients: rs.len(),
                orr_pct: 100.0 * rate(&rs, Record::responder).estimate,
                reference_orr_pct: reference_orr,
                best_change_shift_pts: shifts.iter().sum::<f64>() / shifts.len() as f64,
            });
        }
    }
    cells
}

fn mechanism_csv(cells: &[MapCell]) -> String {
    let mut s = String::from(
        "phenotype,arm,patients,orr_pct,reference_orr_pct,orr_gain_pts,best_change_shift_pts\n",
    );
    for c in cells {
        s += &format!(
            "{},{},{},{:.1},{:.1},{:.1},{:.2}\n",
            c.phenotype,
            c.arm,
            c.patients,
            c.orr_pct,
            c.reference_orr_pct,
            c.gain_pts(),
            c.best_change_shift_pts
        );
    }
    s
}

/// Write patients.csv, arms.csv and mechanism_map.csv into `out`.
pub fn write(
    out: &Path,
    spec: &CohortSpec,
    records: &[Record],
    stats: &[ArmStats],
    map: &[MapCell],
) -> Result<()> {
    let mut patients = header(spec) + "\n";
    for r in records {
        patients += &(r.row() + "\n");
    }
    for (name, text) in [
        (layout::PATIENTS_CSV, patients),
        (layout::ARMS_CSV, arms_csv(stats)),
        (layout::MECHANISM_CSV, mechanism_csv(map)),
    ] {
        let p = out.join(name);
        atomic::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::arms::Recist;

    fn record(patient: u32, phenotype: &str, arm: &str, best: f64) -> Record {
        Record {
            patient,
            phenotype: phenotype.into(),
            values: vec![],
            arm: arm.into(),
            baseline_diameter_um: 500.0,
            final_diameter_um: 500.0 * (1.0 + best / 100.0),
            best_change_pct: best,
            best_day: 60.0,
            recist: if best <= -30.0 {
                Recist::Pr
            } else {
                Recist::Sd
            },
            progression_day: None,
            pfs_days: 60.0,
            censored: true,
            fingerprint: String::new(),
        }
    }

    #[test]
    fn mechanism_map_shows_a_drug_that_acts_without_changing_a_category() {
        let arms = vec!["ref".to_string(), "ref+x".to_string()];
        let records = vec![
            record(0, "a", "ref", -10.0),
            record(0, "a", "ref+x", -20.0),
            record(1, "a", "ref", -25.0),
            record(1, "a", "ref+x", -29.0),
            record(2, "b", "ref", -40.0),
            record(2, "b", "ref+x", -40.0),
        ];
        let map = mechanism_map("ref", &arms, &records);
        assert_eq!(map.len(), 2);
        let a = &map[0];
        assert_eq!((a.phenotype.as_str(), a.arm.as_str()), ("a", "ref+x"));
        // No patient changes category, yet each shrinks deeper: -10, -4.
        assert_eq!(a.gain_pts(), 0.0);
        assert!((a.best_change_shift_pts + 7.0).abs() < 1e-12);
        assert_eq!(map[1].best_change_shift_pts, 0.0);
        assert!(mechanism_csv(&map).contains("a,ref+x,2,0.0,0.0,0.0,-7.00"));
    }
}
