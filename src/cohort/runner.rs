//! `tmesim cohort`: every patient of the cohort (or of one shard) on every
//! arm. On the CPU, patient-arms run side by side, one per worker thread,
//! each single-threaded: a cohort grid is too small to split, and one thread
//! per patient makes every result independent of how many threads ran it.
//! On the GPU, one worker runs batches of patient-arms, each batch in one
//! set of dispatches (backend::batch). A result is kept as soon as its
//! batch finishes, so a rerun skips it.

use super::lesion;
use super::lesion::Track;
use super::patient::{grid_overrides, run_spec, run_trial_arms, same_batch};
use super::records::{self, Record};
use super::sample;
use super::spec::CohortSpec;
use crate::backend::batch::Batch;
use crate::config::initial::initial_state;
use crate::model::params::MIN_PER_DAY;
use crate::model::state::State;
use crate::output::arms::Response as RegionResponse;
use crate::output::guard::{self, Existing, Kind};
use crate::output::{atomic, layout};
use crate::sim::checkpoint::{fingerprint, region_fingerprint};
use crate::sim::scenario::ArmSpec;
use crate::sim::select::{make_batch, BackendChoice};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Shard K of N (1-based): the patients i with i mod N = K - 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };

    pub fn holds(&self, patient: u32) -> bool {
        patient % self.n == self.k - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

pub struct Options<'a> {
    pub out: &'a Path,
    pub backend: BackendChoice,
    pub shard: Shard,
    /// Patient-arms per GPU batch (`DEFAULT_GPU_BATCH` when not given; the
    /// CPU runs one at a time per worker).
    pub batch: Option<usize>,
    /// Replace what an earlier cohort wrote in `out`.
    pub force: bool,
    /// Other cohort folders whose regions to read again where they are
    /// this cohort's (same patient, arm, scenario and build; `Work::reread`).
    pub regions: &'a [PathBuf],
    pub progress: bool,
    /// Raised by Ctrl-C: finish nothing more, keep what is finished.
    pub stop: &'a AtomicBool,
}

/// Patient-arms per batch on the GPU unless `--batch` says otherwise: at
/// the 30 um cohort grid, about 70 MB of GPU memory and 4.4e5 voxels per
/// dispatch, enough to fill a large GPU (docs/cohorts.md).
pub const DEFAULT_GPU_BATCH: usize = 64;

/// How a cohort run ended.
pub struct Finished {
    /// Patient-arms run now, read again from `Options::regions`, and kept
    /// from before.
    pub ran: usize,
    pub reread: usize,
    pub kept: usize,
    /// Every patient-arm of the shard has its result.
    pub complete: bool,
}

/// What every patient shares: the cohort, the overrides that put its
/// scenario on the readout's follow-up and the cohort grid, and the end
/// of follow-up.
pub struct Plan<'a> {
    pub spec: &'a CohortSpec,
    pub overrides: Vec<String>,
    pub end_day: f64,
}

impl<'a> Plan<'a> {
    pub fn new(spec: &'a CohortSpec) -> Result<Self> {
        // The readout's follow-up first, so that `cohort.set` and `--set`
        // may still shorten it.
        let horizon = format!("time.end_days={}", spec.cohort.readout.end_day());
        let mut first = vec![horizon.clone()];
        first.extend(spec.cohort.set.iter().cloned());
        let base = crate::sim::scenario::load(&spec.scenario, &first)
            .with_context(|| format!("{}: the scenario with `cohort.set`", spec.file.display()))?;
        let mut overrides = vec![horizon];
        overrides.extend(grid_overrides(spec, &base));
        Ok(Plan {
            spec,
            overrides,
            end_day: base.spec.steps as f64 * base.spec.dt_min as f64 / MIN_PER_DAY as f64,
        })
    }

    pub(crate) fn run_spec(&self, patient: &sample::Patient, arm: usize) -> Result<ArmSpec> {
        run_spec(self.spec, &self.overrides, patient, &self.spec.arms[arm])
    }
}

/// Run the cohort (or its shard) into `opts.out`, then, for a whole
/// cohort, write its tables, figures and report.
pub fn run(spec: &CohortSpec, opts: &Options) -> Result<Finished> {
    let plan = Plan::new(spec)?;
    // Every arm of the first patient resolves: a typo fails before any run.
    let first = sample::patient(spec, 0);
    let specs = (0..spec.arms.len())
        .map(|a| plan.run_spec(&first, a))
        .collect::<Result<Vec<_>>>()?;
    let (probe, note) = make_batch(opts.backend, &specs[0], 1)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    let on_gpu = probe.kind() == "gpu";
    drop(probe);
    if let Some(b) = opts.batch {
        anyhow::ensure!(b >= 1, "--batch must be at least 1");
    }
    for dir in opts.regions {
        anyhow::ensure!(
            dir.join(layout::COHORT_JSON).is_file(),
            "--regions {}: not a cohort folder (it has no {}); give the --out of an earlier \
             `tmesim cohort`",
            dir.display(),
            layout::COHORT_JSON
        );
    }
    let _lock = prepare(opts.out, spec, opts.force)?;
    let patients: Vec<u32> = (0..spec.cohort.patients)
        .filter(|&i| opts.shard.holds(i))
        .collect();
    let jobs: Vec<Job> = patients
        .iter()
        .flat_map(|&patient| (0..spec.arms.len()).map(move |arm| Job { patient, arm }))
        .collect();
    // Every result already there must be of this very cohort and scenario:
    // checked before anything is written, so a refused rerun changes nothing.
    let backend_now = if on_gpu {
        BackendChoice::Gpu
    } else {
        BackendChoice::Cpu
    };
    check_kept(&plan, opts.out, &jobs, backend_now)?;
    write_description(opts.out, spec, &plan, opts.shard, false)?;
    let total = jobs.len();
    let kept = count_kept(opts.out, spec, &patients);
    let bar = progress_bar(opts.progress, "patient-arms", total as u64, kept as u64);
    let (workers, backend, batch) = if on_gpu {
        let batch = opts.batch.unwrap_or(DEFAULT_GPU_BATCH);
        (1, BackendChoice::Gpu, batch)
    } else {
        let workers = rayon::current_num_threads().min(jobs.len()).max(1);
        (workers, BackendChoice::Cpu, 1)
    };
    let work = Work {
        plan: &plan,
        out: opts.out,
        backend,
        batch,
        stop: opts.stop,
        bar: &bar,
        regions: opts.regions,
        ran: AtomicUsize::new(0),
        reread: AtomicUsize::new(0),
        failure: Mutex::new(None),
    };
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| work.worker(&jobs, &next));
        }
    });
    bar.finish_and_clear();
    if let Some(e) = work
        .failure
        .into_inner()
        .expect("no worker panicked holding it")
    {
        return Err(e.context(format!(
            "cohort stopped; finished results are kept in {}: the same command continues",
            opts.out.display()
        )));
    }
    let ran = work.ran.into_inner();
    let reread = work.reread.into_inner();
    let complete = count_kept(opts.out, spec, &patients) == total;
    if complete && opts.shard == Shard::WHOLE {
        super::aggregate(opts.out, spec, plan.end_day)?;
        write_description(opts.out, spec, &plan, opts.shard, true)?;
    }
    Ok(Finished {
        ran,
        reread,
        kept,
        complete,
    })
}

/// The results of `patients` already in `out` (whatever their scenario).
fn count_kept(out: &Path, spec: &CohortSpec, patients: &[u32]) -> usize {
    patients
        .iter()
        .flat_map(|&i| {
            spec.arm_labels
                .iter()
                .map(move |a| records::path(out, i, a))
        })
        .filter(|p| p.is_file())
        .count()
}

/// A progress bar over `total` results of `unit` (patient-arms, points),
/// `done` of them kept from before; hidden unless `show`.
pub(crate) fn progress_bar(
    show: bool,
    unit: &str,
    total: u64,
    done: u64,
) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit}  {{msg}}  elapsed {{elapsed}}  ETA {{eta}}"
        ))
        .expect("valid template"),
    );
    bar.set_position(done);
    bar.reset_eta();
    bar.enable_steady_tick(std::time::Duration::from_millis(500));
    bar
}

/// Lock the folder (output::guard); refuse one that holds anything but an
/// earlier run of a cohort; clear it with `force`. Results of this cohort
/// already there are kept and skipped.
fn prepare(out: &Path, spec: &CohortSpec, force: bool) -> Result<guard::Guarded> {
    let inputs: Vec<PathBuf> = vec![spec.file.clone(), spec.scenario.clone()];
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Continue
    };
    guard::prepare(out, Kind::Cohort, &inputs, existing)
}

/// Refuse a folder holding a result of another scenario, cohort or build
/// (its fingerprint differs), or a damaged one (naming the file).
fn check_kept(plan: &Plan, out: &Path, jobs: &[Job], backend: BackendChoice) -> Result<()> {
    let spec = plan.spec;
    for job in jobs {
        let label = &spec.arm_labels[job.arm];
        let Some(old) = records::read(out, spec, job.patient, label)? else {
            continue;
        };
        let patient = sample::patient(spec, job.patient);
        let rs = plan.run_spec(&patient, job.arm)?;
        // A later build with the same model reads the kept region again.
        let same_region = old.region_fingerprint == region_fingerprint(&rs, kind(backend));
        if old.fingerprint != fingerprint(&rs) && !same_region {
            bail!(
                "{} holds a result of patient {} on {label} from another scenario, cohort or \
                 tmesim version ({}); use --force to replace the folder's results, or another --out",
                out.display(),
                job.patient,
                records::path(out, job.patient, label).display()
            );
        }
    }
    Ok(())
}

/// cohort.toml (the cohort as run, its scenario as an absolute path) and
/// cohort.json (what a reader or `cohort merge` needs to know).
pub fn write_description(
    out: &Path,
    spec: &CohortSpec,
    plan: &Plan,
    shard: Shard,
    complete: bool,
) -> Result<()> {
    let mut cohort = spec.cohort.clone();
    cohort.scenario =
        std::fs::canonicalize(&spec.scenario).unwrap_or_else(|_| spec.scenario.clone());
    let text = toml::to_string(&super::spec::CohortFile { cohort }).context("cohort.toml")?;
    let json = serde_json::json!({
        "tmesim_version": env!("CARGO_PKG_VERSION"),
        "patients": spec.cohort.patients,
        "arms": spec.arm_labels,
        "reference": spec.reference_label(),
        "cohort_overrides": plan.overrides,
        "follow_up_days": plan.end_day,
        "shard": (shard != Shard::WHOLE).then(|| format!("{}/{}", shard.k, shard.n)),
        "complete": complete,
    });
    let json = serde_json::to_string_pretty(&json).expect("json") + "\n";
    for (name, text) in [(layout::COHORT_TOML, text), (layout::COHORT_JSON, json)] {
        let p = out.join(name);
        atomic::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// The name a region fingerprint gives the backend that ran it.
fn kind(backend: BackendChoice) -> &'static str {
    match backend {
        BackendChoice::Gpu => "gpu",
        _ => "cpu",
    }
}

/// One patient on one arm (an index into `CohortSpec::arms`).
#[derive(Clone, Copy, Debug)]
struct Job {
    patient: u32,
    arm: usize,
}

/// A patient-arm without a result yet, resolved and ready to run.
struct Ready {
    job: Job,
    patient: sample::Patient,
    spec: ArmSpec,
    fingerprint: String,
    region_fingerprint: String,
}

impl Ready {
    fn name(&self, spec: &CohortSpec) -> String {
        format!(
            "patient {} ({}) on {}",
            self.job.patient, self.patient.phenotype, spec.arm_labels[self.job.arm]
        )
    }
}

/// What the workers share.
struct Work<'a> {
    plan: &'a Plan<'a>,
    out: &'a Path,
    backend: BackendChoice,
    /// Patient-arms a worker takes (and runs in one batch) at a time.
    batch: usize,
    stop: &'a AtomicBool,
    bar: &'a indicatif::ProgressBar,
    regions: &'a [PathBuf],
    ran: AtomicUsize,
    reread: AtomicUsize,
    failure: Mutex<Option<anyhow::Error>>,
}

/// A worker's batch backend, kept while the plan it was built for serves.
struct Held {
    spec: ArmSpec,
    backend: Box<dyn Batch>,
}

impl Work<'_> {
    /// Take `batch` patient-arms at a time off the list until it is empty,
    /// a run fails or the user interrupts; on the CPU every patient runs
    /// single-threaded.
    fn worker(&self, jobs: &[Job], next: &AtomicUsize) {
        let pool = crate::cpu::fp::pool(1).build().expect("a one-thread pool");
        pool.install(|| {
            let mut held: Option<Held> = None;
            loop {
                let start = next.fetch_add(self.batch, Ordering::SeqCst);
                if start >= jobs.len() || self.stop.load(Ordering::SeqCst) || self.failed() {
                    return;
                }
                let chunk = &jobs[start..(start + self.batch).min(jobs.len())];
                if let Err(e) = self.chunk(chunk, &mut held) {
                    if !self.stop.load(Ordering::SeqCst) {
                        self.failure.lock().expect("lock").get_or_insert(e);
                    }
                    return;
                }
            }
        });
    }

    fn failed(&self) -> bool {
        self.failure.lock().expect("lock").is_some()
    }

    /// Resolve a patient-arm; `None` when its result is already kept.
    fn ready(&self, job: Job) -> Result<Option<Ready>> {
        let spec = self.plan.spec;
        let patient = sample::patient(spec, job.patient);
        let rs = self.plan.run_spec(&patient, job.arm)?;
        let fp = fingerprint(&rs);
        let region_fp = region_fingerprint(&rs, kind(self.backend));
        let label = &spec.arm_labels[job.arm];
        let kept = records::read(self.out, spec, job.patient, label)?;
        let ready = Ready {
            job,
            patient,
            spec: rs,
            fingerprint: fp,
            region_fingerprint: region_fp,
        };
        if let Some(old) = kept {
            // The readout (schedule, lesions) or the build may have changed
            // since it was kept: read its region again (same model), and run
            // it again where the kept track is too short for the readout.
            let infield = old.infield_track.as_ref();
            match self.replay(&ready, &old.region_fingerprint, &old.track, infield)? {
                Some(record) if record == old => return Ok(None),
                Some(record) => {
                    records::write(self.out, spec, &record)?;
                    self.reread.fetch_add(1, Ordering::SeqCst);
                    return Ok(None);
                }
                None if old.fingerprint == ready.fingerprint
                    || old.region_fingerprint == ready.region_fingerprint =>
                {
                    return Ok(Some(ready))
                }
                None => bail!(
                    "{} holds a result of patient {} on {label} from another scenario, cohort or \
                     tmesim version; use --force to replace the folder's results, or another --out",
                    self.out.display(),
                    job.patient
                ),
            }
        }
        if let Some(record) = self.reread(&ready)? {
            records::write(self.out, spec, &record)?;
            self.reread.fetch_add(1, Ordering::SeqCst);
            self.bar.inc(1);
            return Ok(None);
        }
        Ok(Some(ready))
    }

    /// Whether arm `r`'s targets region has settled on `course` (the
    /// region then stops; `lesion::settled`).
    fn settled(&self, r: &Ready, course: &lesion::Course) -> bool {
        let spec = self.plan.spec;
        let readout = &spec.cohort.readout;
        !readout.run_to_end && lesion::settled(course, r.patient.lesions(spec), readout)
    }

    /// The record of `r` read from the first folder of `Options::regions`
    /// that holds it: the same patient on the same arm there, with this
    /// very region fingerprint (scenario, draws and the code that computes
    /// a region, build.rs `REGION_CODE`), and a track long enough for this
    /// cohort's readout (to the end of follow-up, or to where the targets'
    /// reading settles; the irradiated region to the end). The record is
    /// then the one a run would give: the track is cut where a run would
    /// have stopped. `None` when there is no such region.
    fn reread(&self, r: &Ready) -> Result<Option<Record>> {
        for dir in self.regions {
            if let Some(record) = self.reread_from(dir, r)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    fn reread_from(&self, dir: &Path, r: &Ready) -> Result<Option<Record>> {
        let label = &self.plan.spec.arm_labels[r.job.arm];
        // A record of an older format (no track) or a damaged one holds no
        // region to read: that patient-arm runs.
        let Ok(Some((fp, track, infield))) = records::read_tracks(dir, r.job.patient, label) else {
            return Ok(None);
        };
        self.replay(r, &fp, &track, infield.as_ref())
    }

    /// The record of `r` from a kept region (its fingerprint `fp`, its
    /// track and, with radiotherapy, the irradiated one's), where they are
    /// `r`'s region and long enough; `None` otherwise.
    fn replay(
        &self,
        r: &Ready,
        fp: &str,
        track: &Track,
        infield: Option<&Track>,
    ) -> Result<Option<Record>> {
        let whole = |t: &Track| {
            t.course
                .days
                .last()
                .is_some_and(|&d| d >= self.plan.end_day - 1e-6)
        };
        let cut = track.until_settled(|c| self.settled(r, c));
        let irradiated = !r.spec.treatment.radiation.is_empty();
        let usable = fp == r.region_fingerprint
            && (whole(&cut) || self.settled(r, &cut.course))
            && (!irradiated || infield.is_some_and(whole));
        if !usable {
            return Ok(None);
        }
        let response = cut.response(&r.spec.spec.grid);
        self.record(r, (&response, &cut), infield.filter(|_| irradiated))
            .map(Some)
    }

    /// The record of `r` from its regions: the targets' and, on arms with
    /// radiotherapy, the irradiated one's.
    fn record(
        &self,
        r: &Ready,
        targets: (&RegionResponse, &Track),
        infield: Option<&Track>,
    ) -> Result<Record> {
        let spec = self.plan.spec;
        let lesions = r.patient.lesions(spec);
        let read = |track: &Track, lesions| {
            lesion::read(
                &track.course,
                lesions,
                &spec.cohort.readout,
                self.plan.end_day,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", r.name(spec)))
        };
        let infield = match infield {
            None => None,
            Some(t) => {
                let one = lesion::Lesions {
                    count: 1,
                    sum_mm: lesions.each_mm(),
                };
                Some((read(t, one)?, t))
            }
        };
        let reading = read(targets.1, lesions)?;
        Ok(Record::new(
            spec,
            &r.patient,
            &spec.arm_labels[r.job.arm],
            targets,
            &reading,
            infield.as_ref().map(|(reading, t)| (reading, *t)),
            [r.fingerprint.clone(), r.region_fingerprint.clone()],
        ))
    }

    /// Run the patient-arms of `chunk` without a result, in batches of
    /// those that share a plan (all of them, unless a patient's draws
    /// change the transport), and keep each result.
    fn chunk(&self, chunk: &[Job], held: &mut Option<Held>) -> Result<()> {
        let mut ready = Vec::new();
        for &job in chunk {
            ready.extend(self.ready(job)?);
        }
        let mut initials: HashMap<u32, State> = HashMap::new();
        for r in &ready {
            if let std::collections::hash_map::Entry::Vacant(e) = initials.entry(r.job.patient) {
                e.insert(initial_state(&r.spec.spec)?);
            }
        }
        let mut rest = ready.as_slice();
        while let Some(first) = rest.first() {
            let len = rest
                .iter()
                .take_while(|r| same_batch(&r.spec, &first.spec))
                .count();
            let (group, later) = rest.split_at(len);
            self.group(group, &initials, held)?;
            rest = later;
        }
        Ok(())
    }

    /// Run one batch of patient-arms that share a plan.
    fn group(
        &self,
        group: &[Ready],
        initials: &HashMap<u32, State>,
        held: &mut Option<Held>,
    ) -> Result<()> {
        let spec = self.plan.spec;
        let fits =
            |h: &Held| same_batch(&h.spec, &group[0].spec) && h.backend.capacity() >= group.len();
        if !held.as_ref().is_some_and(fits) {
            *held = None; // free the old batch's memory first
            let backend = make_batch(self.backend, &group[0].spec, self.batch)?.0;
            *held = Some(Held {
                spec: group[0].spec.clone(),
                backend,
            });
        }
        let backend = &mut held.as_mut().expect("set above").backend;
        let arms: Vec<&ArmSpec> = group.iter().map(|r| &r.spec).collect();
        let states: Vec<&State> = group.iter().map(|r| &initials[&r.job.patient]).collect();
        let names: Vec<String> = group.iter().map(|r| r.name(spec)).collect();
        let settled = |k: usize, course: &lesion::Course| self.settled(&group[k], course);
        let runs = run_trial_arms(
            &arms,
            &states,
            &names,
            &settled,
            backend.as_mut(),
            self.stop,
        )
        .with_context(|| match group {
            [one] => one.name(spec),
            _ => format!("a batch of {} patient-arms", group.len()),
        })?;
        for (r, (targets, irradiated)) in group.iter().zip(&runs) {
            let record = self.record(
                r,
                (&targets.region, &targets.track),
                irradiated.as_ref().map(|i| &i.track),
            )?;
            records::write(self.out, spec, &record)?;
            self.ran.fetch_add(1, Ordering::SeqCst);
            self.bar.inc(1);
        }
        Ok(())
    }
}
