//! `tmesim cohort`: every patient of the cohort (or of one shard) on every
//! arm. On the CPU, patients run side by side, one per worker thread, each
//! single-threaded: a cohort grid is too small to split, and one thread per
//! patient makes every result independent of how many threads ran it. A
//! result is kept as soon as its arm finishes, so a rerun skips it.

use super::patient::{grid_overrides, run_arm, run_spec};
use super::records::{self, Record};
use super::sample;
use super::spec::CohortSpec;
use crate::backend::Backend;
use crate::config::initial::initial_state;
use crate::model::params::MIN_PER_DAY;
use crate::output::run_dir::{self, Existing};
use crate::output::{atomic, layout};
use crate::sim::checkpoint::fingerprint;
use crate::sim::scenario::ArmSpec;
use crate::sim::select::{make_backend, BackendChoice};
use anyhow::{bail, Context, Result};
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
    /// Replace what an earlier cohort wrote in `out`.
    pub force: bool,
    pub progress: bool,
    /// Raised by Ctrl-C: finish nothing more, keep what is finished.
    pub stop: &'a AtomicBool,
}

/// How a cohort run ended.
pub struct Finished {
    /// Patient-arms run now, and kept from before.
    pub ran: usize,
    pub kept: usize,
    /// Every patient-arm of the shard has its result.
    pub complete: bool,
}

/// What every patient shares: the cohort, its scenario's grid overrides,
/// the run folder and the end of follow-up.
pub struct Plan<'a> {
    pub spec: &'a CohortSpec,
    pub grid: Vec<String>,
    pub end_day: f64,
}

impl<'a> Plan<'a> {
    pub fn new(spec: &'a CohortSpec) -> Result<Self> {
        let base = crate::sim::scenario::load(&spec.scenario, &spec.cohort.set)
            .with_context(|| format!("{}: the scenario with `cohort.set`", spec.file.display()))?;
        Ok(Plan {
            spec,
            grid: grid_overrides(spec, &base),
            end_day: base.spec.steps as f64 * base.spec.dt_min as f64 / MIN_PER_DAY as f64,
        })
    }

    fn run_spec(&self, patient: &sample::Patient, arm: usize) -> Result<ArmSpec> {
        run_spec(self.spec, &self.grid, patient, &self.spec.arms[arm])
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
    let (probe, note) = make_backend(opts.backend, &specs[0])?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    let on_gpu = probe.kind() == "gpu";
    drop(probe);
    let _lock = prepare(opts.out, spec, opts.force)?;
    write_description(opts.out, spec, &plan, opts.shard, false)?;

    let jobs: Vec<u32> = (0..spec.cohort.patients)
        .filter(|&i| opts.shard.holds(i))
        .collect();
    let total = jobs.len() * spec.arms.len();
    let kept = count_kept(opts.out, spec, &jobs);
    let bar = progress_bar(opts.progress, total as u64, kept as u64);
    let workers = if on_gpu {
        1
    } else {
        rayon::current_num_threads().min(jobs.len()).max(1)
    };
    let backend = if on_gpu {
        BackendChoice::Gpu
    } else {
        BackendChoice::Cpu
    };
    let work = Work {
        plan: &plan,
        out: opts.out,
        backend,
        stop: opts.stop,
        bar: &bar,
        ran: AtomicUsize::new(0),
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
    let complete = count_kept(opts.out, spec, &jobs) == total;
    if complete && opts.shard == Shard::WHOLE {
        super::aggregate(opts.out, spec, plan.end_day)?;
        write_description(opts.out, spec, &plan, opts.shard, true)?;
    }
    Ok(Finished {
        ran,
        kept,
        complete,
    })
}

/// The results of `jobs` already in `out` (whatever their scenario).
fn count_kept(out: &Path, spec: &CohortSpec, jobs: &[u32]) -> usize {
    jobs.iter()
        .flat_map(|&i| {
            spec.arm_labels
                .iter()
                .map(move |a| records::path(out, i, a))
        })
        .filter(|p| p.is_file())
        .count()
}

fn progress_bar(show: bool, total: u64, done: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} patient-arms  {msg}  elapsed {elapsed}  ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_position(done);
    bar.reset_eta();
    bar.enable_steady_tick(std::time::Duration::from_millis(500));
    bar
}

/// Lock the folder; refuse one that holds a single run; clear it with
/// `force`. Results of this cohort already there are kept and skipped.
fn prepare(out: &Path, spec: &CohortSpec, force: bool) -> Result<run_dir::RunDir> {
    if !force && out.join(layout::MANIFEST).is_file() {
        bail!(
            "{} holds a run (manifest.json), not a cohort; choose another --out or use --force",
            out.display()
        );
    }
    let inputs: Vec<PathBuf> = vec![spec.file.clone(), spec.scenario.clone()];
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Continue
    };
    run_dir::prepare(out, &inputs, existing)
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
        "cohort_grid": plan.grid,
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

/// What the workers share.
struct Work<'a> {
    plan: &'a Plan<'a>,
    out: &'a Path,
    backend: BackendChoice,
    stop: &'a AtomicBool,
    bar: &'a indicatif::ProgressBar,
    ran: AtomicUsize,
    failure: Mutex<Option<anyhow::Error>>,
}

impl Work<'_> {
    /// Take patients off the list until it is empty, a run fails or the
    /// user interrupts; every patient runs single-threaded.
    fn worker(&self, jobs: &[u32], next: &AtomicUsize) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool");
        pool.install(|| loop {
            let j = next.fetch_add(1, Ordering::SeqCst);
            if j >= jobs.len() || self.stop.load(Ordering::SeqCst) || self.failed() {
                return;
            }
            if let Err(e) = self.patient(jobs[j]) {
                if !self.stop.load(Ordering::SeqCst) {
                    self.failure.lock().expect("lock").get_or_insert(e);
                }
                return;
            }
        });
    }

    fn failed(&self) -> bool {
        self.failure.lock().expect("lock").is_some()
    }

    /// Every arm of one patient without a result yet, from one initial state.
    fn patient(&self, index: u32) -> Result<()> {
        let spec = self.plan.spec;
        let p = sample::patient(spec, index);
        let mut initial = None;
        for (a, label) in spec.arm_labels.iter().enumerate() {
            let rs = self.plan.run_spec(&p, a)?;
            let fp = fingerprint(&rs);
            if let Some(old) = records::read(self.out, spec, index, label)? {
                if old.fingerprint == fp {
                    continue;
                }
                bail!(
                    "{} holds a result of patient {index} on {label} from another scenario, cohort or \
                     tmesim version; use --force to replace the folder's results, or another --out",
                    self.out.display()
                );
            }
            if initial.is_none() {
                initial = Some(initial_state(&rs.spec)?);
            }
            let init = initial.as_ref().expect("set above");
            let mut backend: Box<dyn Backend> = make_backend(self.backend, &rs)?.0;
            let response = run_arm(&rs, init, backend.as_mut(), self.stop)
                .with_context(|| format!("patient {index} ({}) on {label}", p.phenotype))?;
            let record = Record::new(spec, &p, label, &response, self.plan.end_day, fp);
            records::write(self.out, spec, &record)?;
            self.ran.fetch_add(1, Ordering::SeqCst);
            self.bar.inc(1);
        }
        Ok(())
    }
}
