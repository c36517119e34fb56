//! From the simulated region to the lesions a trial measures
//! (docs/model.md, "From the region to the lesion").
//!
//! The region (a few mm of tissue) stands for every part of a patient's
//! target lesions: each lesion holds as many tumour cells, relative to its
//! baseline, as the region does, so its volume follows the region's tumour
//! burden and its longest diameter the cube root of that. A lesion whose
//! cells fall below one is extinct and stays gone (the continuum region
//! would regrow from any fraction). Scans on the trial's schedule then read
//! the diameters, and `output::recist` reads the scans.

use crate::model::grid::Grid;
use crate::output::arms::{response, Response as RegionResponse};
use crate::output::recist::{self, Evaluation, Protocol, Scan};
use crate::output::timeseries::equivalent_diameter_um;
use serde::{Deserialize, Serialize};

/// Days per week.
const WEEK: f64 = 7.0;

/// How a cohort reads its patients: follow-up, the scan schedule and the
/// protocol choices RECIST 1.1 leaves open (`[cohort.readout]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Readout {
    /// Follow-up from the start of treatment, weeks (sets the scenario's
    /// `time.end_days` unless a `--set` or `cohort.set` gives it).
    pub weeks: f64,
    /// Weeks between tumour assessments.
    pub scan_every_weeks: f64,
    /// The first assessment, weeks (default: `scan_every_weeks`).
    pub first_scan_weeks: Option<f64>,
    /// A response counts once a scan at least this many weeks on repeats it.
    pub confirm_weeks: f64,
    /// The earliest week a non-progressing scan makes the best response SD.
    pub min_sd_weeks: f64,
    /// Tumour cells per mm^3 of lesion (for extinction).
    pub cells_per_mm3: f64,
    /// A lesion under this longest diameter counts as gone, mm.
    pub gone_below_mm: f64,
    /// Run every region to the end of follow-up even once its reading is
    /// settled (`settled`). Slower; only the region's own columns change.
    pub run_to_end: bool,
}

impl Default for Readout {
    fn default() -> Self {
        Readout {
            weeks: DEFAULT_WEEKS,
            scan_every_weeks: 8.0,
            first_scan_weeks: None,
            confirm_weeks: recist::CONFIRM_DAYS / WEEK,
            min_sd_weeks: 6.0,
            cells_per_mm3: 1e5,
            gone_below_mm: 2.0,
            run_to_end: false,
        }
    }
}

/// The default follow-up: 24 weeks.
pub const DEFAULT_WEEKS: f64 = 24.0;

/// The allowed range of each readout key, checked at load.
pub const RANGES: &[(&str, f64, f64)] = &[
    ("weeks", 0.01, 520.0),
    ("scan_every_weeks", 0.01, 52.0),
    ("first_scan_weeks", 0.01, 52.0),
    ("confirm_weeks", 0.0, 52.0),
    ("min_sd_weeks", 0.0, 52.0),
    ("cells_per_mm3", 1e3, 1e7),
    ("gone_below_mm", 0.0, 9.99),
];

impl Readout {
    /// Each key's value, in `RANGES` order.
    pub fn values(&self) -> [Option<f64>; 7] {
        [
            Some(self.weeks),
            Some(self.scan_every_weeks),
            self.first_scan_weeks,
            Some(self.confirm_weeks),
            Some(self.min_sd_weeks),
            Some(self.cells_per_mm3),
            Some(self.gone_below_mm),
        ]
    }

    pub fn end_day(&self) -> f64 {
        self.weeks * WEEK
    }

    pub fn protocol(&self) -> Protocol {
        Protocol {
            confirm_days: self.confirm_weeks * WEEK,
            min_sd_days: self.min_sd_weeks * WEEK,
            gone_below_mm: self.gone_below_mm,
        }
    }

    /// The day of scan `k` (0: the baseline).
    pub fn scan_day(&self, k: usize) -> f64 {
        if k == 0 {
            return 0.0;
        }
        let first = self.first_scan_weeks.unwrap_or(self.scan_every_weeks) * WEEK;
        first + (k - 1) as f64 * self.scan_every_weeks * WEEK
    }

    /// Scan days after baseline up to `end_day` (inclusive, to round-off).
    pub fn scan_days(&self, end_day: f64) -> Vec<f64> {
        (1..)
            .map(|k| self.scan_day(k))
            .take_while(|&d| d <= end_day + 1e-6)
            .collect()
    }
}

/// A patient's target lesions at baseline: `count` lesions (RECIST takes
/// at most five) sharing the sum of their longest diameters equally.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lesions {
    pub count: u32,
    pub sum_mm: f64,
}

/// The cohort parameter keys that draw the lesions instead of a scenario
/// value.
pub const COUNT_KEY: &str = "lesion.count";
pub const SUM_KEY: &str = "lesion.sum_mm";
/// Most target lesions RECIST 1.1 takes.
pub const MAX_TARGETS: f64 = 5.0;
/// The lesions of a patient whose cohort draws none: one lesion of
/// 102 mm, the median baseline sum of target diameters in KEYNOTE-001's
/// melanoma patients (Joseph et al., Clin Cancer Res 2018); trial configs
/// draw them from that distribution.
pub const DEFAULT_LESIONS: Lesions = Lesions {
    count: 1,
    sum_mm: 102.0,
};

impl Lesions {
    pub fn each_mm(&self) -> f64 {
        self.sum_mm / self.count as f64
    }
}

/// The region's tumour burden over time (any unit: only ratios count).
#[derive(Clone, Debug, PartialEq)]
pub struct Course {
    pub days: Vec<f64>,
    pub burden: Vec<f64>,
}

impl Course {
    /// Burden over baseline at `day`, log-linear between saves.
    fn ratio_at(&self, day: f64) -> f64 {
        let b0 = self.burden[0];
        let k = self.days.partition_point(|&d| d < day);
        let r = |i: usize| self.burden[i] / b0;
        if k == 0 {
            return r(0);
        }
        if k >= self.days.len() {
            return r(self.days.len() - 1);
        }
        let (t0, t1) = (self.days[k - 1], self.days[k]);
        let w = (day - t0) / (t1 - t0);
        let (a, b) = (r(k - 1), r(k));
        if a > 0.0 && b > 0.0 {
            (a.ln() * (1.0 - w) + b.ln() * w).exp()
        } else {
            a * (1.0 - w) + b * w
        }
    }

    /// The smallest burden ratio at any save up to `day`.
    fn min_ratio_until(&self, day: f64) -> f64 {
        let b0 = self.burden[0];
        self.days
            .iter()
            .zip(&self.burden)
            .take_while(|(&d, _)| d <= day + 1e-9)
            .map(|(_, &b)| b / b0)
            .fold(f64::INFINITY, f64::min)
    }
}

/// A region at every save: its tumour burden (the lesions' course) and
/// its equivalent diameter. Records keep it, so a later cohort can read
/// the same region again (`runner`'s `--regions`).
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub course: Course,
    pub diameter_um: Vec<f64>,
}

impl Track {
    /// The region's own response (its diameter) over the saves kept.
    pub fn response(&self, grid: &Grid) -> RegionResponse {
        let cr = equivalent_diameter_um(grid, grid.voxel_measure());
        response(&self.course.days, &self.diameter_um, cr)
    }

    /// The saves up to the first after baseline at which `settled` holds
    /// (all of them when it never does): what `run_arms` keeps of a run
    /// stopped there.
    pub fn until_settled(&self, settled: impl Fn(&Course) -> bool) -> Track {
        let n = (2..=self.course.days.len())
            .find(|&n| settled(&self.first(n).course))
            .unwrap_or(self.course.days.len());
        self.first(n)
    }

    fn first(&self, n: usize) -> Track {
        Track {
            course: Course {
                days: self.course.days[..n].to_vec(),
                burden: self.course.burden[..n].to_vec(),
            },
            diameter_um: self.diameter_um[..n].to_vec(),
        }
    }
}

/// Whether a lesion `d0_mm` across at baseline that follows the region's
/// `course` has fallen below one cell by `day` (it then stays gone).
fn extinct(course: &Course, d0_mm: f64, day: f64, cells_per_mm3: f64) -> bool {
    let cells0 = cells_per_mm3 * std::f64::consts::PI / 6.0 * d0_mm.powi(3);
    cells0 * course.min_ratio_until(day) < 1.0
}

/// The longest diameter at `day` of a lesion `d0_mm` across at baseline
/// that follows the region's `course`; 0 once extinct.
pub fn diameter_mm(course: &Course, d0_mm: f64, day: f64, cells_per_mm3: f64) -> f64 {
    if extinct(course, d0_mm, day, cells_per_mm3) {
        return 0.0;
    }
    d0_mm * course.ratio_at(day).max(0.0).cbrt()
}

/// Whether the reading of `lesions` that follow `course` (saved up to its
/// last day) is settled, so that running the region on cannot change it:
/// a scan by that day showed progression (the patient leaves the study,
/// `recist::evaluate`), or every lesion is extinct (it stays gone, and the
/// model seeds no new lesions). `read` gives the same reading of such a
/// course as of the course run to the end of follow-up.
pub fn settled(course: &Course, lesions: Lesions, readout: &Readout) -> bool {
    let now = *course.days.last().expect("the baseline save");
    if extinct(course, lesions.each_mm(), now, readout.cells_per_mm3) {
        return true;
    }
    !readout.scan_days(now).is_empty()
        && read(course, lesions, readout, now).is_ok_and(|r| r.evaluation.progression_day.is_some())
}

/// What the trial reads of one patient's lesions on one arm.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The days of the scans read, baseline (day 0) first; follow-up ends
    /// at the first PD.
    pub days: Vec<f64>,
    /// The sum of the target diameters at each scan read, mm.
    pub sums_mm: Vec<f64>,
    pub evaluation: Evaluation,
}

/// Scan `lesions` that follow `course` on the readout's schedule up to
/// `end_day`, and read the scans by RECIST 1.1.
pub fn read(
    course: &Course,
    lesions: Lesions,
    readout: &Readout,
    end_day: f64,
) -> Result<Reading, recist::ScanError> {
    let mut days = vec![0.0];
    days.extend(readout.scan_days(end_day));
    let each = lesions.each_mm();
    let scans: Vec<Scan> = days
        .iter()
        .map(|&day| Scan {
            day,
            diameters_mm: vec![
                diameter_mm(course, each, day, readout.cells_per_mm3);
                lesions.count as usize
            ],
            // The model seeds no new lesions (docs/model.md).
            new_lesion: false,
        })
        .collect();
    let evaluation = recist::evaluate(&scans, &readout.protocol())?;
    let read = 1 + evaluation.responses.len();
    days.truncate(read);
    Ok(Reading {
        sums_mm: scans[..read].iter().map(Scan::sum_mm).collect(),
        days,
        evaluation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::recist::Response;

    /// A course of burden ratios saved daily.
    fn daily(ratio: impl Fn(f64) -> f64, days: usize) -> Course {
        let d: Vec<f64> = (0..=days).map(|k| k as f64).collect();
        Course {
            burden: d.iter().map(|&t| 2.0 * ratio(t)).collect(),
            days: d,
        }
    }

    #[test]
    fn a_lesion_follows_the_cube_root_of_the_regions_burden() {
        let c = daily(|t| (-0.02 * t).exp(), 168);
        let d = diameter_mm(&c, 20.0, 56.0, 1e5);
        assert!((d - 20.0 * (-0.02f64 * 56.0 / 3.0).exp()).abs() < 1e-9);
        // Between saves: log-linear, so an exponential course is exact.
        let half = diameter_mm(&c, 20.0, 56.5, 1e5);
        assert!((half - 20.0 * (-0.02f64 * 56.5 / 3.0).exp()).abs() < 1e-9);
    }

    #[test]
    fn a_burden_ratio_of_a_third_is_a_partial_response() {
        // -30% in diameter is 0.343 of the volume: RECIST's PR by volume.
        let pr = daily(|t| if t < 1.0 { 1.0 } else { 0.34 }, 168);
        let r = read(&pr, DEFAULT_LESIONS, &Readout::default(), 168.0).unwrap();
        assert_eq!(r.days, [0.0, 56.0, 112.0, 168.0]);
        assert_eq!(r.evaluation.best, Response::Pr);
        let sd = daily(|t| if t < 1.0 { 1.0 } else { 0.35 }, 168);
        let r = read(&sd, DEFAULT_LESIONS, &Readout::default(), 168.0).unwrap();
        assert_eq!(r.evaluation.best, Response::Sd);
    }

    #[test]
    fn an_extinct_lesion_stays_gone_though_the_region_regrows() {
        // Down to 1e-12 of baseline at day 30 (fewer than one cell of a
        // 30 mm lesion), then back to baseline: CR throughout, no PD.
        let c = daily(
            |t| {
                if t <= 30.0 {
                    10f64.powf(-12.0 * t / 30.0)
                } else {
                    10f64.powf(-12.0 + 12.0 * ((t - 30.0) / 100.0).min(1.0))
                }
            },
            168,
        );
        let r = read(&c, DEFAULT_LESIONS, &Readout::default(), 168.0).unwrap();
        assert_eq!(r.evaluation.best, Response::Cr);
        assert_eq!(r.evaluation.progression_day, None);
        assert_eq!(r.sums_mm[1..], [0.0, 0.0, 0.0]);
        // The same dip to 1e-6 leaves cells: the lesion regrows to PD.
        let shallow = daily(
            |t| {
                if t <= 30.0 {
                    10f64.powf(-6.0 * t / 30.0)
                } else {
                    10f64.powf(-6.0 + 6.5 * ((t - 30.0) / 100.0).min(1.0))
                }
            },
            168,
        );
        let r = read(&shallow, DEFAULT_LESIONS, &Readout::default(), 168.0).unwrap();
        assert_eq!(r.evaluation.responses.last(), Some(&Response::Pd));
    }

    /// `course` cut after its save at `day`.
    fn until(course: &Course, day: f64) -> Course {
        let n = course.days.partition_point(|&d| d <= day);
        Course {
            days: course.days[..n].to_vec(),
            burden: course.burden[..n].to_vec(),
        }
    }

    #[test]
    fn a_reading_settles_at_progression_and_at_extinction_and_no_later_save_changes_it() {
        let readout = Readout::default();
        // Doubling every 20 days: +20% in the sum by the 8-week scan, PD.
        // The course shrinks afterwards, which follow-up no longer sees.
        let pd = daily(
            |t| {
                if t <= 60.0 {
                    2f64.powf(t / 20.0)
                } else {
                    8.0 * (-(t - 60.0) / 10.0).exp()
                }
            },
            168,
        );
        let full = read(&pd, DEFAULT_LESIONS, &readout, 168.0).unwrap();
        assert_eq!(full.evaluation.progression_day, Some(56.0));
        assert_eq!(full.days, [0.0, 56.0], "follow-up ends at PD");
        assert!(!settled(&until(&pd, 55.0), DEFAULT_LESIONS, &readout));
        let cut = until(&pd, 56.0);
        assert!(settled(&cut, DEFAULT_LESIONS, &readout));
        assert_eq!(read(&cut, DEFAULT_LESIONS, &readout, 168.0).unwrap(), full);
        // Extinct by day 30 (1e-12 of a 102 mm lesion is under one cell),
        // then regrowing: settled at extinction, CR either way.
        let gone = daily(
            |t| 10f64.powf(-12.0 * t.min(30.0) / 30.0 + (t - 30.0).max(0.0) / 20.0),
            168,
        );
        let full = read(&gone, DEFAULT_LESIONS, &readout, 168.0).unwrap();
        assert_eq!(full.evaluation.best, Response::Cr);
        let first = (0..=168)
            .find(|&d| settled(&until(&gone, d as f64), DEFAULT_LESIONS, &readout))
            .unwrap();
        assert!((25..=30).contains(&first), "settled on day {first}");
        let cut = until(&gone, first as f64);
        assert_eq!(read(&cut, DEFAULT_LESIONS, &readout, 168.0).unwrap(), full);
        // A shrinking lesion that still has cells is not settled.
        let pr = daily(|t| (-0.02 * t).exp(), 168);
        assert!(!settled(&pr, DEFAULT_LESIONS, &readout));
    }

    #[test]
    fn growth_of_a_small_lesion_needs_five_millimetres_for_progression() {
        // One 10 mm lesion growing 1.8x in volume: +21.6% but +2.2 mm: SD.
        let c = daily(|t| 1.0 + 0.8 * t / 168.0, 168);
        let small = Lesions {
            count: 1,
            sum_mm: 10.0,
        };
        let r = read(&c, small, &Readout::default(), 168.0).unwrap();
        assert_eq!(r.evaluation.progression_day, None);
        // Three such lesions: the sum grows 6.5 mm: PD.
        let three = Lesions {
            count: 3,
            sum_mm: 30.0,
        };
        let r = read(&c, three, &Readout::default(), 168.0).unwrap();
        assert_eq!(r.evaluation.progression_day, Some(168.0));
    }

    #[test]
    fn scans_follow_the_schedule_within_the_follow_up() {
        let r = Readout {
            first_scan_weeks: Some(12.0),
            scan_every_weeks: 6.0,
            ..Readout::default()
        };
        assert_eq!(r.scan_days(168.0), [84.0, 126.0, 168.0]);
        assert!(r.scan_days(60.0).is_empty());
    }
}
