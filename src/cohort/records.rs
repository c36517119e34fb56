//! The outcome of one patient on one arm, kept as one small CSV file in
//! `records/` as soon as the arm finishes. Records are the cohort's unit of
//! resumption and of merging: every table, plot and report is computed
//! from them, so a cohort run in one process, in shards, or resumed after
//! a crash writes the same bytes.

use super::lesion::{Course, Reading, Track};
use super::sample::{format_value, Patient};
use super::spec::CohortSpec;
use crate::output::arms::Response as RegionResponse;
use crate::output::recist::Response;
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
    /// The simulated region's own tumour: its equivalent diameter at
    /// baseline, its best change (percent) and the day of it.
    pub region_baseline_um: f64,
    pub region_best_change_pct: f64,
    pub region_best_day: f64,
    /// The last day the region ran: the end of follow-up, or the save at
    /// which its reading settled (`lesion::settled`).
    pub region_end_day: f64,
    /// The target lesions at baseline: how many, and the sum of their
    /// longest diameters (mm).
    pub lesions: u32,
    pub baseline_sum_mm: f64,
    /// RECIST 1.1's best overall response, confirmation applied.
    pub recist: Response,
    /// The smallest sum's change from baseline at a scan, percent, and
    /// that scan's day.
    pub best_change_pct: f64,
    pub best_day: f64,
    /// The first scan that showed PD, if one did.
    pub progression_day: Option<f64>,
    /// Progression-free survival: the progression day, or the last scan
    /// when censored.
    pub pfs_days: f64,
    pub censored: bool,
    /// The sum of diameters at each scan (baseline first), mm.
    pub scan_sums_mm: Vec<f64>,
    /// On arms with radiotherapy, the irradiated lesion read alone (the
    /// target lesions above are then the unirradiated ones): its best
    /// overall response and best change, percent.
    pub infield: Option<(Response, f64)>,
    /// The resolved scenario's fingerprint (src/sim/checkpoint.rs): a
    /// record counts only for the very scenario it was run with.
    pub fingerprint: String,
    /// The fingerprint of the simulated region alone (the model's code,
    /// not the readout's: `checkpoint::region_fingerprint`), and the
    /// region the targets follow at every save it ran (the record file's
    /// second part), with, on arms with radiotherapy, the irradiated one:
    /// what `--regions` reads again.
    pub region_fingerprint: String,
    pub track: Track,
    pub infield_track: Option<Track>,
}

/// Columns before the drawn parameters and after them.
const LEAD: &[&str] = &["patient", "phenotype"];
const TAIL: &[&str] = &[
    "arm",
    "region_baseline_um",
    "region_best_change_pct",
    "region_best_day",
    "region_end_day",
    "lesions",
    "baseline_sum_mm",
    "recist",
    "responder",
    "best_change_pct",
    "best_day",
    "progression_day",
    "pfs_days",
    "censored",
    "scan_sums_mm",
    "infield_recist",
    "infield_best_change_pct",
];
const FINGERPRINT: &str = "run_fingerprint";
/// Between the values of a list cell (the CSV's cells are split on commas).
const LIST_SEP: char = ';';

impl Record {
    pub fn new(
        spec: &CohortSpec,
        patient: &Patient,
        arm: &str,
        (region, track): (&RegionResponse, &Track),
        reading: &Reading,
        infield: Option<(&Reading, &Track)>,
        [fingerprint, region_fingerprint]: [String; 2],
    ) -> Self {
        let e = &reading.evaluation;
        let lesions = patient.lesions(spec);
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
            region_baseline_um: region.baseline_diameter_um,
            region_best_change_pct: region.best_change_pct,
            region_best_day: region.best_day,
            region_end_day: *track.course.days.last().expect("the baseline save"),
            lesions: lesions.count,
            baseline_sum_mm: lesions.sum_mm,
            recist: e.best,
            best_change_pct: e.best_change_pct,
            best_day: e.best_change_day,
            progression_day: e.progression_day,
            pfs_days: e.progression_day.unwrap_or(e.last_day),
            censored: e.progression_day.is_none(),
            scan_sums_mm: reading.sums_mm.clone(),
            infield: infield.map(|(r, _)| (r.evaluation.best, r.evaluation.best_change_pct)),
            fingerprint,
            region_fingerprint,
            track: track.clone(),
            infield_track: infield.map(|(_, t)| t.clone()),
        }
    }

    pub fn responder(&self) -> bool {
        self.recist.is_objective()
    }

    /// Stable disease or better.
    pub fn disease_control(&self) -> bool {
        matches!(self.recist, Response::Cr | Response::Pr | Response::Sd)
    }

    /// The row of patients.csv (without the fingerprint).
    pub fn row(&self) -> String {
        let mut cells = vec![self.patient.to_string(), self.phenotype.clone()];
        cells.extend(self.values.iter().cloned());
        let sums: Vec<String> = self.scan_sums_mm.iter().map(f64::to_string).collect();
        cells.extend([
            self.arm.clone(),
            self.region_baseline_um.to_string(),
            self.region_best_change_pct.to_string(),
            self.region_best_day.to_string(),
            self.region_end_day.to_string(),
            self.lesions.to_string(),
            self.baseline_sum_mm.to_string(),
            self.recist.as_str().to_string(),
            u8::from(self.responder()).to_string(),
            self.best_change_pct.to_string(),
            self.best_day.to_string(),
            self.progression_day
                .map(|d| d.to_string())
                .unwrap_or_default(),
            self.pfs_days.to_string(),
            u8::from(self.censored).to_string(),
            sums.join(&LIST_SEP.to_string()),
            self.infield
                .map(|(r, _)| r.as_str().to_string())
                .unwrap_or_default(),
            self.infield.map(|(_, c)| c.to_string()).unwrap_or_default(),
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

/// The first line of a record file's second part names the region's
/// fingerprint; the header of the tracks follows.
const REGION: &str = "region_fingerprint";
const TRACK_HEADER: &str = "day,burden,diameter_um,infield_burden,infield_diameter_um";

/// Write a record atomically: it exists whole or not at all. Its second
/// part is the tracks, one row per save (`TRACK_HEADER`; the targets'
/// cells are empty after the save their region stopped at).
pub fn write(out: &Path, spec: &CohortSpec, r: &Record) -> Result<()> {
    let p = path(out, r.patient, &r.arm);
    std::fs::create_dir_all(p.parent().expect("records have a folder"))
        .with_context(|| format!("cannot create {}", p.display()))?;
    let mut text = format!(
        "{},{FINGERPRINT}\n{},{}\n{REGION},{}\n{TRACK_HEADER}\n",
        header(spec),
        r.row(),
        r.fingerprint,
        r.region_fingerprint
    );
    let longest = r.infield_track.as_ref().unwrap_or(&r.track);
    for (k, day) in longest.course.days.iter().enumerate() {
        let cells = |t: Option<&Track>| match t.filter(|t| k < t.course.days.len()) {
            Some(t) => format!("{},{}", t.course.burden[k], t.diameter_um[k]),
            None => ",".to_string(),
        };
        text += &format!(
            "{day},{},{}\n",
            cells(Some(&r.track)),
            cells(r.infield_track.as_ref())
        );
    }
    atomic::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
}

/// A record file's second part: the region's fingerprint, the targets'
/// region and, on arms with radiotherapy, the irradiated one.
fn parse_tracks<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<(String, Track, Option<Track>)> {
    let mut lines = lines;
    let region = match lines.next().and_then(|l| l.split_once(',')) {
        Some((REGION, fp)) if !fp.is_empty() => fp.to_string(),
        _ => bail!("its region fingerprint is missing"),
    };
    if lines.next() != Some(TRACK_HEADER) {
        bail!("its tracks (the region at every save) are missing");
    }
    let empty = || Track {
        course: Course {
            days: Vec::new(),
            burden: Vec::new(),
        },
        diameter_um: Vec::new(),
    };
    let (mut targets, mut infield) = (empty(), empty());
    for (k, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != 5 {
            bail!("track row {} has {} cells", k + 1, cells.len());
        }
        let num = |i: usize| -> Result<f64> {
            cells[i]
                .parse()
                .with_context(|| format!("track row {}: `{}` is not a number", k + 1, cells[i]))
        };
        let day = num(0)?;
        for (t, at) in [(&mut targets, 1), (&mut infield, 3)] {
            if !cells[at].is_empty() {
                t.course.days.push(day);
                t.course.burden.push(num(at)?);
                t.diameter_um.push(num(at + 1)?);
            }
        }
    }
    if targets.course.days.is_empty() {
        bail!("its track has no save");
    }
    let infield = (!infield.course.days.is_empty()).then_some(infield);
    Ok((region, targets, infield))
}

/// The region fingerprint and tracks of the record of `patient` on `arm`
/// under `out`, whatever cohort or build wrote it; `None` when there is
/// none.
pub fn read_tracks(
    out: &Path,
    patient: u32,
    arm: &str,
) -> Result<Option<(String, Track, Option<Track>)>> {
    let p = path(out, patient, arm);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    parse_tracks(text.lines().skip(2))
        .with_context(|| format!("{}", p.display()))
        .map(Some)
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
    let category = |cell: &str| match cell {
        "CR" => Ok(Response::Cr),
        "PR" => Ok(Response::Pr),
        "SD" => Ok(Response::Sd),
        "PD" => Ok(Response::Pd),
        "NE" => Ok(Response::Ne),
        other => Err(anyhow::anyhow!("`{other}` is not a RECIST category")),
    };
    let recist = category(cells[t + 7])?;
    let infield = if cells[t + 15].is_empty() {
        None
    } else {
        Some((category(cells[t + 15])?, num(t + 16)?))
    };
    let (region_fingerprint, track, infield_track) = parse_tracks(lines)?;
    let sums = if cells[t + 14].is_empty() {
        Vec::new()
    } else {
        cells[t + 14]
            .split(LIST_SEP)
            .map(|v| v.parse().with_context(|| format!("scan sum `{v}`")))
            .collect::<Result<_>>()?
    };
    Ok(Record {
        patient: cells[0].parse().context("patient index")?,
        phenotype: cells[1].to_string(),
        values: cells[2..t].iter().map(|s| s.to_string()).collect(),
        arm: cells[t].to_string(),
        region_baseline_um: num(t + 1)?,
        region_best_change_pct: num(t + 2)?,
        region_best_day: num(t + 3)?,
        region_end_day: num(t + 4)?,
        lesions: cells[t + 5].parse().context("lesion count")?,
        baseline_sum_mm: num(t + 6)?,
        recist,
        best_change_pct: num(t + 9)?,
        best_day: num(t + 10)?,
        progression_day: if cells[t + 11].is_empty() {
            None
        } else {
            Some(num(t + 11)?)
        },
        pfs_days: num(t + 12)?,
        censored: cells[t + 13] == "1",
        scan_sums_mm: sums,
        infield,
        fingerprint: cells[t + 17].to_string(),
        region_fingerprint,
        track,
        infield_track,
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
