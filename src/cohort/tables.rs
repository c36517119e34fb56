//! The trial's tables from its records: patients.csv (one row per patient
//! and arm), arms.csv (response rates and progression-free survival per
//! arm) and mechanism_map.csv (ORR gain over the reference arm, per
//! phenotype and arm).

use super::records::{header, Record};
use super::spec::CohortSpec;
use super::stats::{
    kaplan_meier, km_median, log_rank, paired_pfs, sign_test, wilson, Followup, Median, Proportion,
};
use crate::output::{atomic, layout};
use anyhow::{Context, Result};
use std::path::Path;

/// What arms.csv says of one arm.
#[derive(Clone, Debug)]
pub struct ArmStats {
    pub arm: String,
    pub patients: usize,
    /// Counts of CR, PR, SD, PD and NE (best overall response).
    pub counts: [usize; 5],
    pub orr: Proportion,
    pub dcr: Proportion,
    pub median_pfs: Median,
    /// ORR minus the reference arm's, percentage points.
    pub orr_gain_pts: f64,
    /// Log-rank p-value of PFS against the reference arm (None for it),
    /// as a trial of separate patients would test it.
    pub logrank_p: Option<f64>,
    /// Paired tests against the reference arm, each patient against
    /// itself: McNemar's exact test of the responses, and the sign test
    /// of which arm progressed first (`stats::paired_pfs`).
    pub orr_paired_p: Option<f64>,
    pub pfs_paired_p: Option<f64>,
    /// On an arm with radiotherapy, the response rate of the irradiated
    /// lesion alone (the ORR above reads the unirradiated lesions).
    pub infield_orr: Option<Proportion>,
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
    let on_reference = of_arm(records, spec.reference_label());
    let reference = followups(&on_reference);
    let ref_orr = rate(&on_reference, Record::responder).estimate;
    spec.arm_labels
        .iter()
        .map(|arm| {
            let rs = of_arm(records, arm);
            let mut counts = [0; 5];
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
                orr_paired_p: (arm != spec.reference_label())
                    .then(|| paired_responses(&rs, &on_reference)),
                pfs_paired_p: (arm != spec.reference_label())
                    .then(|| paired_progression(&rs, &on_reference)),
                infield_orr: rs.iter().all(|r| r.infield.is_some()).then(|| {
                    let yes = rs
                        .iter()
                        .filter(|r| r.infield.is_some_and(|(b, _)| b.is_objective()))
                        .count();
                    wilson(yes, rs.len())
                }),
            }
        })
        .collect()
}

/// The pairs of one patient's records on two arms.
fn pairs<'a>(a: &[&'a Record], b: &[&'a Record]) -> Vec<(&'a Record, &'a Record)> {
    a.iter()
        .filter_map(|x| Some((*x, *b.iter().find(|y| y.patient == x.patient)?)))
        .collect()
}

/// McNemar's exact p-value of the responses on `a` against `b`.
fn paired_responses(a: &[&Record], b: &[&Record]) -> f64 {
    let p = pairs(a, b);
    let only_a = p
        .iter()
        .filter(|(x, y)| x.responder() && !y.responder())
        .count();
    let only_b = p
        .iter()
        .filter(|(x, y)| !x.responder() && y.responder())
        .count();
    sign_test(only_a, only_b)
}

/// The paired PFS test of `a` against `b` (`stats::paired_pfs`).
fn paired_progression(a: &[&Record], b: &[&Record]) -> f64 {
    let f = |r: &Record| Followup {
        time: r.pfs_days,
        event: !r.censored,
    };
    let p: Vec<(Followup, Followup)> = pairs(a, b).iter().map(|(x, y)| (f(x), f(y))).collect();
    paired_pfs(&p)
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
    "ne",
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
    "orr_paired_p_vs_reference",
    "pfs_paired_p_vs_reference",
    "infield_orr_pct",
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
            a.counts[4].to_string(),
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
            a.orr_paired_p.map(p_value).unwrap_or_default(),
            a.pfs_paired_p.map(p_value).unwrap_or_default(),
            a.infield_orr.map(|p| pct(p.estimate)).unwrap_or_default(),
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

/// The time course of the response: per arm and scan, the patients still
/// followed (follow-up ends at progression), the quartiles of their sum's
/// change from baseline, and the share of all the arm's patients in
/// response (CR or PR at that scan, unconfirmed) and progressed by then.
fn course_csv(spec: &CohortSpec, records: &[Record]) -> String {
    let mut s = String::from(
        "arm,scan,patients,change_q25_pct,change_median_pct,change_q75_pct,in_response_pct,progressed_pct\n",
    );
    for arm in &spec.arm_labels {
        let rs = of_arm(records, arm);
        let scans = rs.iter().map(|r| r.scan_sums_mm.len()).max().unwrap_or(0);
        for k in 1..scans {
            let followed: Vec<&Record> = rs
                .iter()
                .copied()
                .filter(|r| r.scan_sums_mm.len() > k)
                .collect();
            let mut change: Vec<f64> = followed
                .iter()
                .map(|r| 100.0 * (r.scan_sums_mm[k] / r.scan_sums_mm[0] - 1.0))
                .collect();
            change.sort_by(f64::total_cmp);
            let q = |f: f64| {
                let at = ((change.len().max(1) - 1) as f64 * f).round() as usize;
                change.get(at).map_or(String::new(), |c| format!("{c:.1}"))
            };
            let share = |yes: &dyn Fn(&Record) -> bool| {
                100.0 * rs.iter().filter(|r| yes(r)).count() as f64 / rs.len() as f64
            };
            let day = spec.cohort.readout.scan_day(k);
            s += &format!(
                "{arm},{day},{},{},{},{},{:.1},{:.1}\n",
                followed.len(),
                q(0.25),
                q(0.5),
                q(0.75),
                share(&|r| r
                    .scan_sums_mm
                    .get(k)
                    .is_some_and(|&x| x <= 0.7 * r.scan_sums_mm[0])),
                share(&|r| r.progression_day.is_some_and(|d| d <= day + 1e-9)),
            );
        }
    }
    s
}

/// Write patients.csv, arms.csv, response_course.csv and
/// mechanism_map.csv into `out`.
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
        (layout::COURSE_CSV, course_csv(spec, records)),
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
    use crate::output::recist::Response;

    fn record(patient: u32, phenotype: &str, arm: &str, best: f64) -> Record {
        Record {
            patient,
            phenotype: phenotype.into(),
            values: vec![],
            arm: arm.into(),
            region_baseline_um: 500.0,
            region_best_change_pct: best,
            region_best_day: 60.0,
            region_end_day: 168.0,
            lesions: 1,
            baseline_sum_mm: 50.0,
            recist: if best <= -30.0 {
                Response::Pr
            } else {
                Response::Sd
            },
            best_change_pct: best,
            best_day: 56.0,
            progression_day: None,
            pfs_days: 168.0,
            censored: true,
            scan_sums_mm: vec![50.0, 50.0 * (1.0 + best / 100.0)],
            infield: None,
            fingerprint: String::new(),
            region_fingerprint: String::new(),
            track: crate::cohort::lesion::Track {
                course: crate::cohort::lesion::Course {
                    days: vec![0.0, 168.0],
                    burden: vec![1.0, 1.0 + best / 100.0],
                },
                diameter_um: vec![500.0, 500.0],
            },
            infield_track: None,
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
