//! The outcome of one patient on one arm, kept as one small CSV file in
//! `records/` as soon as the arm finishes. Records are the cohort's unit of
//! resumption and of merging: every table, plot and report is computed
//! from them, so a cohort run in one process, in shards, or resumed after
//! a crash writes the same bytes.

use super::sample::{format_value, Patient};
use super::spec::CohortSpec;
use crate::output::arms::{Recist, Response};
use crate::output::{atomic, layout};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One patient on one arm.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub patient: u32,
    pub phenotype: String,
    /// The drawn parameter values as written.
    pub values: Vec<String>,
    pub arm: String,
    pub baseline_diameter_um: f64,
    pub final_diameter_um: f64,
    pub best_change_pct: f64,
    pub best_day: f64,
    pub recist: Recist,
    /// Day of progression (20% over the nadir), if it came.
    pub progression_day: Option<f64>,
    /// Progression-free survival: the progression day, or the end of
    /// follow-up when censored.
    pub pfs_days: f64,
    pub censored: bool,
    /// The resolved scenario's fingerprint (src/sim/checkpoint.rs): a
    /// record counts only for the very scenario it was run with.
    pub fingerprint: String,
}

/// Columns before the drawn parameters and after them.
const LEAD: &[&str] = &["patient", "phenotype"];
const TAIL: &[&str] = &[
    "arm",
    "baseline_diameter_um",
    "final_diameter_um",
    "best_change_pct",
    "best_day",
    "recist",
    "responder",
    "progression_day",
    "pfs_days",
    "censored",
];
const FINGERPRINT: &str = "run_fingerprint";

impl Record {
    pub fn new(
        spec: &CohortSpec,
        patient: &Patient,
        arm: &str,
        r: &Response,
        end_day: f64,
        fingerprint: String,
    ) -> Self {
        Record {
            patient: patient.index,
            phenotype: patient.phenotype.clone(),
            values: spec
                .cohort
                .parameters
                .iter()
                .zip(&patient.values)
                .map(|(p, &v)| format_value(v, p.integer))
                .collect(),
            arm: arm.to_string(),
            baseline_diameter_um: r.baseline_diameter_um,
            final_diameter_um: r.final_diameter_um,
            best_change_pct: r.best_change_pct,
            best_day: r.best_day,
            recist: r.recist,
            progression_day: r.time_to_progression_days,
            pfs_days: r.time_to_progression_days.unwrap_or(end_day),
            censored: r.time_to_progression_days.is_none(),
            fingerprint,
        }
    }

    pub fn responder(&self) -> bool {
        matches!(self.recist, Recist::Cr | Recist::Pr)
    }

    /// Stable disease or better.
    pub fn disease_control(&self) -> bool {
        self.recist != Recist::Pd
    }

    /// The row of patients.csv (without the fingerprint).
    pub fn row(&self) -> String {
        let mut cells = vec![self.patient.to_string(), self.phenotype.clone()];
        cells.extend(self.values.iter().cloned());
        cells.extend([
            self.arm.clone(),
            self.baseline_diameter_um.to_string(),
            self.final_diameter_um.to_string(),
            self.best_change_pct.to_string(),
            self.best_day.to_string(),
            self.recist.as_str().to_string(),
            u8::from(self.responder()).to_string(),
            self.progression_day
                .map(|d| d.to_string())
                .unwrap_or_default(),
            self.pfs_days.to_string(),
            u8::from(self.censored).to_string(),
        ]);
        cells.join(",")
    }
}

/// The header of patients.csv for a cohort's parameters.
pub fn header(spec: &CohortSpec) -> String {
    let mut cols: Vec<&str> = LEAD.to_vec();
    cols.extend(spec.cohort.parameters.iter().map(|p| p.key.as_str()));
    cols.extend(TAIL);
    cols.join(",")
}

/// Where the record of `patient` on `arm` lives under `out`.
pub fn path(out: &Path, patient: u32, arm: &str) -> PathBuf {
    out.join(layout::RECORDS_DIR)
        .join(format!("p{patient:06}"))
        .join(format!("{arm}.csv"))
}

/// Write a record atomically: it exists whole or not at all.
pub fn write(out: &Path, spec: &CohortSpec, r: &Record) -> Result<()> {
    let p = path(out, r.patient, &r.arm);
    std::fs::create_dir_all(p.parent().expect("records have a folder"))
        .with_context(|| format!("cannot create {}", p.display()))?;
    let text = format!(
        "{},{FINGERPRINT}\n{},{}\n",
        header(spec),
        r.row(),
        r.fingerprint
    );
    atomic::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
}

/// Read a record; `None` when the file does not exist.
pub fn read(out: &Path, spec: &CohortSpec, patient: u32, arm: &str) -> Result<Option<Record>> {
    let p = path(out, patient, arm);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    parse(&text, spec)
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is damaged or not a result of this cohort ({e}); remove that file and run the \
                 command that wrote it again: it runs only the missing results",
                p.display()
            )
        })
        .map(Some)
}

fn parse(text: &str, spec: &CohortSpec) -> Result<Record> {
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    if head != format!("{},{FINGERPRINT}", header(spec)) {
        bail!("its columns differ from the cohort's (another cohort file?)");
    }
    let cells: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let np = spec.cohort.parameters.len();
    if cells.len() != LEAD.len() + np + TAIL.len() + 1 {
        bail!("its row has {} cells", cells.len());
    }
    let num = |i: usize| -> Result<f64> {
        cells[i]
            .parse()
            .with_context(|| format!("cell {} = `{}` is not a number", i + 1, cells[i]))
    };
    let t = LEAD.len() + np;
    let recist = match cells[t + 5] {
        "CR" => Recist::Cr,
        "PR" => Recist::Pr,
        "SD" => Recist::Sd,
        "PD" => Recist::Pd,
        other => bail!("`{other}` is not a RECIST category"),
    };
    Ok(Record {
        patient: cells[0].parse().context("patient index")?,
        phenotype: cells[1].to_string(),
        values: cells[2..t].iter().map(|s| s.to_string()).collect(),
        arm: cells[t].to_string(),
        baseline_diameter_um: num(t + 1)?,
        final_diameter_um: num(t + 2)?,
        best_change_pct: num(t + 3)?,
        best_day: num(t + 4)?,
        recist,
        progression_day: if cells[t + 7].is_empty() {
            None
        } else {
            Some(num(t + 7)?)
        },
        pfs_days: num(t + 8)?,
        censored: cells[t + 9] == "1",
        fingerprint: cells[t + 10].to_string(),
    })
}

/// Every record of patients `0..n` on every arm, in patient then arm
/// order; an error lists what is missing.
pub fn read_all(out: &Path, spec: &CohortSpec) -> Result<Vec<Record>> {
    let mut all = Vec::new();
    let mut missing = Vec::new();
    for i in 0..spec.cohort.patients {
        for arm in &spec.arm_labels {
            match read(out, spec, i, arm)? {
                Some(r) => all.push(r),
                None => missing.push(format!("patient {i} on {arm}")),
            }
        }
    }
    if !missing.is_empty() {
        let shown: Vec<_> = missing.iter().take(5).cloned().collect();
        bail!(
            "{} lacks {} result(s): {}{}",
            out.display(),
            missing.len(),
            shown.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        );
    }
    Ok(all)
}
