//! RECIST 1.1 on scans of target lesions (Eisenhauer et al., "New response
//! evaluation criteria in solid tumours: revised RECIST guideline (version
//! 1.1)", Eur J Cancer 45:228-247, 2009): the response at each scan and the
//! best overall response with confirmation, as a trial reads them.
//!
//! - Target lesions are measurable: a longest diameter of at least 10 mm at
//!   baseline (`MEASURABLE_MM`); RECIST takes at most five (two per organ).
//! - At each scan, on the sum of the target diameters:
//!   - CR: every target lesion gone;
//!   - PR: the sum 30% or more below the baseline sum;
//!   - PD: the sum 20% or more above the smallest sum so far (the nadir,
//!     baseline included) and at least 5 mm above it, or a new lesion;
//!   - SD: neither.
//! - The best overall response: a CR or PR counts once a later scan, at
//!   least `confirm_days` on (4 weeks), shows it again with no PD between;
//!   SD counts when a non-PD scan falls at least `min_sd_days` after the
//!   start (the protocol's minimum, often 6-8 weeks); else PD where a scan
//!   showed progression, and NE (not evaluable) otherwise.
//! - Progression-free survival ends at the first scan that shows PD
//!   (censored at the last scan when none does).
//! - Follow-up ends at the first PD: the patient leaves the study, as in a
//!   trial, so later scans (and any shrinkage they show) are not read.
//!
//! The module reads scans only; the lesions' diameters come from the model
//! (docs/model.md says how a simulated region stands for a lesion).

use std::fmt;

/// The smallest longest diameter of a measurable target lesion, mm.
pub const MEASURABLE_MM: f64 = 10.0;
/// PR: the sum at least this far below baseline (-30%).
pub const PR_CHANGE: f64 = -0.30;
/// PD: the sum at least this far above the nadir (+20%) ...
pub const PD_RISE: f64 = 0.20;
/// ... and at least this many mm above it.
pub const PD_ABSOLUTE_MM: f64 = 5.0;
/// Confirmation of a CR or PR: a repeat scan at least this many days on.
pub const CONFIRM_DAYS: f64 = 28.0;

/// The response at one scan, or the best overall response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Response {
    Cr,
    Pr,
    Sd,
    Pd,
    /// Not evaluable: no scan after baseline decides.
    Ne,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Cr => "CR",
            Response::Pr => "PR",
            Response::Sd => "SD",
            Response::Pd => "PD",
            Response::Ne => "NE",
        }
    }

    /// CR or PR: an objective response.
    pub fn is_objective(self) -> bool {
        matches!(self, Response::Cr | Response::Pr)
    }
}

/// One scan: its day from the start of treatment, the longest diameter of
/// each target lesion (mm, 0 when gone) and whether a new lesion appeared.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub day: f64,
    pub diameters_mm: Vec<f64>,
    pub new_lesion: bool,
}

impl Scan {
    pub fn sum_mm(&self) -> f64 {
        self.diameters_mm.iter().sum()
    }
}

/// The protocol's choices RECIST leaves open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Protocol {
    /// Days between a response and the scan that confirms it.
    pub confirm_days: f64,
    /// The earliest day a non-PD scan makes the best response SD.
    pub min_sd_days: f64,
    /// A target lesion below this diameter counts as gone, mm (CT's limit
    /// of detection; RECIST records such a lesion as 0, or 5 mm when faint).
    pub gone_below_mm: f64,
}

impl Default for Protocol {
    /// Confirmation at 4 weeks (RECIST 1.1), SD from 6 weeks, lesions under
    /// 1 mm gone (an assumed limit for simulated lesions).
    fn default() -> Self {
        Protocol {
            confirm_days: CONFIRM_DAYS,
            min_sd_days: 42.0,
            gone_below_mm: 1.0,
        }
    }
}

/// Scans that RECIST cannot read.
#[derive(Clone, Debug, PartialEq)]
pub enum ScanError {
    NoScans,
    NoTargetLesion,
    /// Lesion `lesion` measures `mm` at baseline, under `MEASURABLE_MM`.
    NotMeasurable {
        lesion: usize,
        mm: f64,
    },
    /// Scan `scan` measures `found` lesions where baseline had `expected`.
    LesionCount {
        scan: usize,
        expected: usize,
        found: usize,
    },
    /// Scan `scan` is not later than the one before it.
    OutOfOrder {
        scan: usize,
    },
    /// A diameter that is negative or not finite.
    BadDiameter {
        scan: usize,
        lesion: usize,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            ScanError::NoScans => write!(f, "no scans: RECIST needs a baseline scan"),
            ScanError::NoTargetLesion => write!(f, "the baseline scan has no target lesion"),
            ScanError::NotMeasurable { lesion, mm } => write!(
                f,
                "target lesion {lesion} measures {mm} mm at baseline; RECIST 1.1 measures lesions of {MEASURABLE_MM} mm or more"
            ),
            ScanError::LesionCount { scan, expected, found } => write!(
                f,
                "scan {scan} measures {found} target lesions; the baseline has {expected}"
            ),
            ScanError::OutOfOrder { scan } => {
                write!(f, "scan {scan} is not later than the scan before it")
            }
            ScanError::BadDiameter { scan, lesion } => write!(
                f,
                "scan {scan}, lesion {lesion}: a diameter must be finite and at least 0 mm"
            ),
        }
    }
}

impl std::error::Error for ScanError {}

/// What RECIST reads from a patient's scans.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The response at each scan after baseline, in order, up to and
    /// including the first PD (follow-up ends there).
    pub responses: Vec<Response>,
    /// The best overall response, confirmation applied.
    pub best: Response,
    /// The day of the first scan that shows PD; `None` when none does.
    pub progression_day: Option<f64>,
    /// The day of the last scan read (where PFS is censored without PD).
    pub last_day: f64,
    /// The smallest sum's change from baseline up to the first PD, percent
    /// (the waterfall's bar), and the day of that scan.
    pub best_change_pct: f64,
    pub best_change_day: f64,
}

/// Read `scans` (the first is the baseline) under `protocol`.
pub fn evaluate(scans: &[Scan], protocol: &Protocol) -> Result<Evaluation, ScanError> {
    check(scans)?;
    let baseline = scans[0].sum_mm();
    let mut nadir = baseline;
    let mut responses = Vec::with_capacity(scans.len() - 1);
    let mut best_change = (0.0, scans[0].day);
    for scan in &scans[1..] {
        let sum = scan.sum_mm();
        let gone = scan
            .diameters_mm
            .iter()
            .all(|&d| d < protocol.gone_below_mm);
        let change = sum / baseline - 1.0;
        let response = if scan.new_lesion
            || (sum >= (1.0 + PD_RISE) * nadir && sum - nadir >= PD_ABSOLUTE_MM)
        {
            Response::Pd
        } else if gone {
            Response::Cr
        } else if change <= PR_CHANGE {
            Response::Pr
        } else {
            Response::Sd
        };
        if change < best_change.0 || responses.is_empty() {
            best_change = (change, scan.day);
        }
        nadir = nadir.min(sum);
        responses.push(response);
        if response == Response::Pd {
            break;
        }
    }
    let days: Vec<f64> = scans[1..=responses.len()].iter().map(|s| s.day).collect();
    let first_pd = responses.iter().position(|&r| r == Response::Pd);
    Ok(Evaluation {
        best: best_overall(&responses, &days, scans[0].day, first_pd, protocol),
        progression_day: first_pd.map(|i| days[i]),
        last_day: days.last().copied().unwrap_or(scans[0].day),
        best_change_pct: 100.0 * best_change.0,
        best_change_day: best_change.1,
        responses,
    })
}

/// RECIST 1.1's best overall response when confirmation is required:
/// only scans before the first PD count.
fn best_overall(
    responses: &[Response],
    days: &[f64],
    start: f64,
    first_pd: Option<usize>,
    protocol: &Protocol,
) -> Response {
    let before_pd = first_pd.unwrap_or(responses.len());
    // A response at scan i confirmed by a later scan j, at least
    // confirm_days on: CR when both are CR, else PR (CR then PR is not a
    // confirmed CR; PR then CR is a PR).
    let mut best: Option<Response> = None;
    for i in 0..before_pd {
        if !responses[i].is_objective() {
            continue;
        }
        let confirmed = (i + 1..before_pd)
            .filter(|&j| days[j] - days[i] >= protocol.confirm_days)
            .find(|&j| responses[j].is_objective());
        if let Some(j) = confirmed {
            let r = if responses[i] == Response::Cr && responses[j] == Response::Cr {
                Response::Cr
            } else {
                Response::Pr
            };
            best = Some(best.map_or(r, |b| b.min(r)));
        }
    }
    if let Some(b) = best {
        return b;
    }
    let stable = (0..before_pd).any(|i| days[i] - start >= protocol.min_sd_days);
    if stable {
        Response::Sd
    } else if first_pd.is_some() {
        Response::Pd
    } else {
        Response::Ne
    }
}

fn check(scans: &[Scan]) -> Result<(), ScanError> {
    let first = scans.first().ok_or(ScanError::NoScans)?;
    if first.diameters_mm.is_empty() {
        return Err(ScanError::NoTargetLesion);
    }
    for (s, scan) in scans.iter().enumerate() {
        if scan.diameters_mm.len() != first.diameters_mm.len() {
            return Err(ScanError::LesionCount {
                scan: s,
                expected: first.diameters_mm.len(),
                found: scan.diameters_mm.len(),
            });
        }
        if s > 0 && scan.day <= scans[s - 1].day {
            return Err(ScanError::OutOfOrder { scan: s });
        }
        if let Some(lesion) = scan
            .diameters_mm
            .iter()
            .position(|d| !d.is_finite() || *d < 0.0)
        {
            return Err(ScanError::BadDiameter { scan: s, lesion });
        }
    }
    if let Some((lesion, &mm)) = first
        .diameters_mm
        .iter()
        .enumerate()
        .find(|(_, &d)| d < MEASURABLE_MM)
    {
        return Err(ScanError::NotMeasurable { lesion, mm });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One target lesion scanned every 8 weeks (day 0 the baseline).
    fn every_8_weeks(sums: &[f64]) -> Vec<Scan> {
        sums.iter()
            .enumerate()
            .map(|(k, &d)| Scan {
                day: 56.0 * k as f64,
                diameters_mm: vec![d],
                new_lesion: false,
            })
            .collect()
    }

    fn read(sums: &[f64]) -> Evaluation {
        evaluate(&every_8_weeks(sums), &Protocol::default()).unwrap()
    }

    #[test]
    fn a_confirmed_partial_response_stays_pr_while_the_sum_drifts_up() {
        // The EORTC RECIST FAQ's example, 100, 70, 70, 80, 80, 80: PR
        // overall, since a confirmed PR stays the best response while PD is
        // not met (80 is 14% over the nadir of 70). The FAQ's table carries
        // PR on at each scan; the time-point response here is the strict
        // one, SD at 80 (-20% from baseline).
        let e = read(&[100.0, 70.0, 70.0, 80.0, 80.0, 80.0]);
        assert_eq!(e.responses[0], Response::Pr);
        assert_eq!(e.responses[2], Response::Sd, "80 is -20% from baseline");
        assert_eq!(e.best, Response::Pr);
        assert_eq!(e.progression_day, None);
        assert!((e.best_change_pct + 30.0).abs() < 1e-9);
    }

    #[test]
    fn progression_needs_both_twenty_percent_and_five_millimetres() {
        // 20 mm -> 24 mm is +20% but only +4 mm: SD, not PD.
        let small = read(&[20.0, 20.0, 24.0]);
        assert_eq!(small.responses, [Response::Sd, Response::Sd]);
        // 40 -> 48 is +20% and +8 mm: PD, at the second scan.
        let large = read(&[40.0, 40.0, 48.0]);
        assert_eq!(large.responses, [Response::Sd, Response::Pd]);
        assert_eq!(large.progression_day, Some(112.0));
        // Over the nadir, not the baseline: 50 -> 30 -> 36 (+20%, +6 mm).
        let rebound = read(&[50.0, 30.0, 36.0]);
        assert_eq!(rebound.responses, [Response::Pr, Response::Pd]);
        // An unconfirmed PR followed by PD: SD (the 8-week scan is past the
        // SD minimum), not PR.
        assert_eq!(rebound.best, Response::Sd);
    }

    #[test]
    fn a_response_counts_only_when_a_scan_four_weeks_on_confirms_it() {
        let protocol = Protocol::default();
        let scans = |days: [f64; 3]| -> Vec<Scan> {
            days.iter()
                .zip([30.0, 15.0, 15.0])
                .map(|(&day, d)| Scan {
                    day,
                    diameters_mm: vec![d],
                    new_lesion: false,
                })
                .collect()
        };
        let late = evaluate(&scans([0.0, 56.0, 84.0]), &protocol).unwrap();
        assert_eq!(late.best, Response::Pr, "confirmed 28 days on");
        let early = evaluate(&scans([0.0, 56.0, 70.0]), &protocol).unwrap();
        assert_eq!(early.best, Response::Sd, "14 days on does not confirm");
    }

    #[test]
    fn complete_response_is_every_target_gone_twice() {
        let e = read(&[30.0, 0.5, 0.0]);
        assert_eq!(e.responses, [Response::Cr, Response::Cr]);
        assert_eq!(e.best, Response::Cr);
        // Gone, then back: a lesion reappearing after a CR is PD (9 mm over
        // a nadir of 0), and the unconfirmed CR leaves SD.
        let back = read(&[30.0, 0.0, 9.0]);
        assert_eq!(back.responses, [Response::Cr, Response::Pd]);
        assert_eq!(back.best, Response::Sd);
        // Two lesions, one gone: PR at most.
        let scans = vec![
            Scan {
                day: 0.0,
                diameters_mm: vec![20.0, 20.0],
                new_lesion: false,
            },
            Scan {
                day: 56.0,
                diameters_mm: vec![0.0, 10.0],
                new_lesion: false,
            },
            Scan {
                day: 112.0,
                diameters_mm: vec![0.0, 10.0],
                new_lesion: false,
            },
        ];
        assert_eq!(
            evaluate(&scans, &Protocol::default()).unwrap().best,
            Response::Pr
        );
    }

    #[test]
    fn follow_up_ends_at_the_first_progression() {
        // PD at 8 weeks, then shrinkage (a late response, or pseudo-
        // progression): the patient left the study at PD, so the later
        // scans count neither for the best change nor for the response.
        let e = read(&[40.0, 50.0, 20.0, 10.0]);
        assert_eq!(e.responses, [Response::Pd]);
        assert_eq!(e.best, Response::Pd);
        assert_eq!(e.progression_day, Some(56.0));
        assert_eq!(e.last_day, 56.0);
        assert!((e.best_change_pct - 25.0).abs() < 1e-9);
        // Without PD every scan is read.
        let sd = read(&[40.0, 44.0, 20.0, 10.0]);
        assert_eq!(sd.responses.len(), 3);
        assert_eq!(sd.last_day, 168.0);
    }

    #[test]
    fn a_new_lesion_is_progression_whatever_the_targets_do() {
        let mut scans = every_8_weeks(&[30.0, 10.0, 10.0]);
        scans[1].new_lesion = true;
        let e = evaluate(&scans, &Protocol::default()).unwrap();
        assert_eq!(e.responses[0], Response::Pd);
        assert_eq!(e.progression_day, Some(56.0));
        assert_eq!(
            e.best,
            Response::Pd,
            "PD at the first scan, before 6 weeks of SD"
        );
    }

    #[test]
    fn scans_recist_cannot_read_are_refused_with_the_reason() {
        let p = Protocol::default();
        assert_eq!(evaluate(&[], &p), Err(ScanError::NoScans));
        let small = every_8_weeks(&[8.0, 8.0]);
        let e = evaluate(&small, &p).unwrap_err();
        assert_eq!(e, ScanError::NotMeasurable { lesion: 0, mm: 8.0 });
        assert!(e.to_string().contains("10 mm or more"), "{e}");
        let mut backwards = every_8_weeks(&[20.0, 20.0]);
        backwards[1].day = 0.0;
        assert_eq!(
            evaluate(&backwards, &p),
            Err(ScanError::OutOfOrder { scan: 1 })
        );
        let mut nan = every_8_weeks(&[20.0, 20.0]);
        nan[1].diameters_mm[0] = f64::NAN;
        assert_eq!(
            evaluate(&nan, &p),
            Err(ScanError::BadDiameter { scan: 1, lesion: 0 })
        );
        let mut fewer = every_8_weeks(&[20.0, 20.0]);
        fewer[1].diameters_mm.clear();
        assert!(matches!(
            evaluate(&fewer, &p),
            Err(ScanError::LesionCount { .. })
        ));
    }

    #[test]
    fn no_scan_after_baseline_is_not_evaluable() {
        assert_eq!(read(&[20.0]).best, Response::Ne);
        // One SD scan before the SD minimum: not evaluable either.
        let scans = vec![
            Scan {
                day: 0.0,
                diameters_mm: vec![20.0],
                new_lesion: false,
            },
            Scan {
                day: 21.0,
                diameters_mm: vec![20.0],
                new_lesion: false,
            },
        ];
        assert_eq!(
            evaluate(&scans, &Protocol::default()).unwrap().best,
            Response::Ne
        );
    }
}
