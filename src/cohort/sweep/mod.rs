//! `tmesim sweep` and `tmesim sensitivity`: one scenario run at every
//! point of a design over scenario keys (`--vary KEY=LO:HI`), each point
//! in memory as a cohort runs a patient-arm (`patient::run_arms`: one
//! point per thread on the CPU, batches on the GPU), one table of what
//! each point gave, and for a Saltelli design the Sobol indices of every
//! output, for a Morris design its elementary effects. A point's result is kept in `points/` as soon as it finishes,
//! so a rerun of the same command continues (docs/cohorts.md, "Sweeps and
//! sensitivity").

pub mod axis;
pub mod design;
pub mod morris;
pub mod sobol;

pub use axis::Axis;
pub use design::Design;

use super::patient::{run_arms, same_batch, RegionRun};
use super::sample::format_value;
use crate::backend::batch::Batch;
use crate::config::initial::initial_state;
use crate::model::fields::FIELDS;
use crate::output::guard::{self, Existing, Kind};
use crate::output::{atomic, layout};
use crate::sim::checkpoint::fingerprint;
use crate::sim::scenario::ArmSpec;
use crate::sim::select::{make_batch, BackendChoice};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Points per GPU batch unless `--batch` says otherwise.
pub const DEFAULT_GPU_BATCH: usize = 64;

/// A sweep: the scenario, the overrides every point shares (phenotype,
/// `--set`, arm), the axes and where the design puts its points.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub scenario: PathBuf,
    pub base: Vec<String>,
    pub axes: Vec<Axis>,
    pub design: Design,
    pub seed: u64,
}

/// What each point reports about the tumour, before each field's tumour
/// mean at the end (`<field>_tumor_mean`, as in timeseries.csv).
const RESPONSE: &[&str] = &[
    "final_diameter_um",
    "best_change_pct",
    "best_day",
    "log10_nadir_ratio",
    "log10_final_ratio",
    "priming",
];

/// The smallest burden ratio the `log10_*_ratio` outputs report.
pub const LOG_RATIO_FLOOR: f64 = 1e-12;

/// The output columns of sweep.csv, in order.
pub fn output_names() -> Vec<String> {
    let mut names: Vec<String> = RESPONSE.iter().map(|s| s.to_string()).collect();
    names.extend(FIELDS.iter().map(|f| format!("{}_tumor_mean", f.name)));
    names
}

/// A point's outputs from its run (in `output_names` order).
fn outputs(run: &RegionRun) -> Vec<f64> {
    let burden = &run.track.course.burden;
    let b0 = burden[0];
    // The smallest burden after baseline (the baseline's own when nothing
    // was saved after it).
    let nadir = match &burden[1..] {
        [] => b0,
        later => later.iter().copied().fold(f64::INFINITY, f64::min),
    };
    // A tumour that vanished entirely has no logarithm: floor it at 1e-12
    // of its baseline (far below one cell of a clinical lesion, and no
    // outlier of -308 to swamp a variance).
    let log_ratio = |b: f64| (b / b0).max(LOG_RATIO_FLOOR).log10();
    let r = &run.region;
    let mut v = vec![
        r.final_diameter_um,
        r.best_change_pct,
        r.best_day,
        log_ratio(nadir),
        log_ratio(*burden.last().expect("a save")),
        run.last.priming,
    ];
    v.extend(&run.last.tumor_means);
    v
}

impl Sweep {
    /// Every point's axis values, in the design's order.
    pub fn values(&self) -> Vec<Vec<f64>> {
        self.design
            .unit_points(self.axes.len(), self.seed)
            .iter()
            .map(|u| self.axes.iter().zip(u).map(|(a, &x)| a.at(x)).collect())
            .collect()
    }

    fn overrides(&self, values: &[f64]) -> Vec<String> {
        let mut all = self.base.clone();
        all.extend(self.axes.iter().zip(values).map(|(a, &v)| a.set(v)));
        all
    }

    /// The scenario at one point.
    pub fn spec(&self, point: usize, values: &[f64]) -> Result<ArmSpec> {
        crate::sim::scenario::load(&self.scenario, &self.overrides(values)).with_context(|| {
            format!(
                "{}: point {point} ({}) is not a valid scenario",
                self.scenario.display(),
                self.describe(values)
            )
        })
    }

    fn describe(&self, values: &[f64]) -> String {
        self.axes
            .iter()
            .zip(values)
            .map(|(a, &v)| a.set(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A checked sweep: the design can be built, each key takes whole
    /// numbers or not (as the scenario accepts), and the scenario is valid
    /// at each axis's ends with the other axes at their lows. An unknown
    /// key, or a range outside the parameter registry's, is named with
    /// its `--vary` before any run.
    pub fn new(
        scenario: PathBuf,
        base: Vec<String>,
        axes: Vec<Axis>,
        design: Design,
        seed: u64,
    ) -> Result<Sweep> {
        design.check(axes.len())?;
        let mut sweep = Sweep {
            scenario,
            base,
            axes,
            design,
            seed,
        };
        for a in &sweep.axes {
            let set_too = sweep
                .base
                .iter()
                .any(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == a.key));
            if set_too {
                bail!(
                    "--vary {}: the key is also given by --set; drop one of the two",
                    a.key
                );
            }
        }
        // A key that refuses a float at both ends and the middle but takes
        // an integer is a count (tried alone, the other keys as the
        // scenario has them).
        for a in sweep.axes.iter_mut() {
            let load = |set: String| {
                let mut all = sweep.base.clone();
                all.push(set);
                crate::sim::scenario::load(&sweep.scenario, &all).is_ok()
            };
            let mut whole = a.clone();
            whole.integer = true;
            let float_somewhere = [0.0, 0.5, 1.0].iter().any(|&u| load(a.set(a.at(u))));
            a.integer = !float_somewhere && load(whole.set(a.lo));
        }
        let lows: Vec<f64> = sweep.axes.iter().map(|a| a.lo).collect();
        for i in 0..sweep.axes.len() {
            let a = &sweep.axes[i];
            for end in [a.lo, a.hi] {
                sweep.try_end(&lows, i, end).map_err(|e| {
                    anyhow::anyhow!(
                        "--vary {}={}:{}: at {} the scenario {} is invalid: {e}",
                        a.key,
                        format_value(a.lo, a.integer),
                        format_value(a.hi, a.integer),
                        format_value(end, a.integer),
                        sweep.scenario.display()
                    )
                })?;
            }
        }
        Ok(sweep)
    }

    /// Load the scenario with axis `i` at `end` and the others at `lows`.
    fn try_end(&self, lows: &[f64], i: usize, end: f64) -> Result<()> {
        let mut all = self.base.clone();
        for (j, a) in self.axes.iter().enumerate() {
            all.push(a.set(if j == i { end } else { lows[j] }));
        }
        crate::sim::scenario::load(&self.scenario, &all)?;
        Ok(())
    }

    /// The header of sweep.csv.
    fn header(&self) -> String {
        let mut cols = vec!["point".to_string()];
        cols.extend(self.axes.iter().map(|a| a.key.clone()));
        cols.extend(output_names());
        cols.join(",")
    }
}

pub struct Options<'a> {
    pub out: &'a Path,
    pub backend: BackendChoice,
    /// Points per GPU batch (`DEFAULT_GPU_BATCH` when not given).
    pub batch: Option<usize>,
    /// Replace what an earlier sweep wrote in `out`.
    pub force: bool,
    pub progress: bool,
    /// Raised by Ctrl-C: finish nothing more, keep what is finished.
    pub stop: &'a AtomicBool,
}

/// How a sweep ended.
pub struct Finished {
    pub ran: usize,
    pub kept: usize,
    pub complete: bool,
}

/// One point's kept result.
struct Row {
    values: Vec<String>,
    outputs: Vec<f64>,
    fingerprint: String,
}

fn point_path(out: &Path, point: usize) -> PathBuf {
    out.join(layout::POINTS_DIR)
        .join(format!("p{point:06}.csv"))
}

/// The point's kept result, if there is one; a damaged file is an error
/// naming it.
fn read_point(out: &Path, sweep: &Sweep, point: usize) -> Result<Option<Row>> {
    let p = point_path(out, point);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let damaged = || {
        anyhow::anyhow!(
            "{} is damaged (not a result of this sweep); delete it to run the point again",
            p.display()
        )
    };
    let mut lines = text.lines();
    if lines.next() != Some(format!("{},run_fingerprint", sweep.header()).as_str()) {
        bail!(
            "{} holds a result of another sweep (other --vary keys): {}; use --force to replace \
             the folder's results, or another --out",
            out.display(),
            p.display()
        );
    }
    let cells: Vec<&str> = lines.next().ok_or_else(damaged)?.split(',').collect();
    let k = sweep.axes.len();
    let n = output_names().len();
    if cells.len() != 2 + k + n || cells[0] != point.to_string() {
        return Err(damaged());
    }
    let outputs = cells[1 + k..1 + k + n]
        .iter()
        .map(|c| c.parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| damaged())?;
    Ok(Some(Row {
        values: cells[1..1 + k].iter().map(|s| s.to_string()).collect(),
        outputs,
        fingerprint: cells[1 + k + n].to_string(),
    }))
}

fn row_line(point: usize, row: &Row) -> String {
    let mut cells = vec![point.to_string()];
    cells.extend(row.values.iter().cloned());
    cells.extend(row.outputs.iter().map(|v| v.to_string()));
    cells.join(",")
}

/// A point without a result yet, resolved and ready to run.
struct Ready {
    point: usize,
    spec: ArmSpec,
    fingerprint: String,
}

/// Run the sweep into `opts.out`; when every point has its result, write
/// sweep.csv and, for a Saltelli or Morris design, sobol.csv or morris.csv.
pub fn run(sweep: &Sweep, opts: &Options) -> Result<Finished> {
    let values = sweep.values();
    // Every point resolves (and its fingerprint is known) before any run.
    let specs = values
        .iter()
        .enumerate()
        .map(|(i, v)| sweep.spec(i, v))
        .collect::<Result<Vec<_>>>()?;
    let (probe, note) = make_batch(opts.backend, &specs[0], 1)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    let on_gpu = probe.kind() == "gpu";
    drop(probe);
    let existing = if opts.force {
        Existing::Replace
    } else {
        Existing::Continue
    };
    let _lock = guard::prepare(
        opts.out,
        Kind::Sweep,
        std::slice::from_ref(&sweep.scenario),
        existing,
    )?;
    let mut ready = Vec::new();
    let mut kept = 0;
    for (point, spec) in specs.into_iter().enumerate() {
        let fp = fingerprint(&spec);
        match read_point(opts.out, sweep, point)? {
            Some(old) if old.fingerprint == fp => kept += 1,
            Some(_) => bail!(
                "{} holds a result of point {point} from another sweep, scenario or tmesim \
                 version ({}); use --force to replace the folder's results, or another --out",
                opts.out.display(),
                point_path(opts.out, point).display()
            ),
            None => ready.push(Ready {
                point,
                spec,
                fingerprint: fp,
            }),
        }
    }
    write_description(opts.out, sweep, values.len(), false)?;
    let bar =
        super::runner::progress_bar(opts.progress, "points", values.len() as u64, kept as u64);
    let (workers, backend, batch) = if on_gpu {
        (
            1,
            BackendChoice::Gpu,
            opts.batch.unwrap_or(DEFAULT_GPU_BATCH),
        )
    } else {
        let w = rayon::current_num_threads().min(ready.len()).max(1);
        (w, BackendChoice::Cpu, 1)
    };
    let work = Work {
        sweep,
        values: &values,
        out: opts.out,
        backend,
        batch,
        stop: opts.stop,
        bar: &bar,
        ran: AtomicUsize::new(0),
        failure: Mutex::new(None),
    };
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| work.worker(&ready, &next));
        }
    });
    bar.finish_and_clear();
    if let Some(e) = work.failure.into_inner().expect("no worker panicked") {
        return Err(e.context(format!(
            "sweep stopped; finished points are kept in {0}: the same command with --out {0} \
             continues",
            opts.out.display()
        )));
    }
    let ran = work.ran.into_inner();
    let complete = kept + ran == values.len();
    if complete {
        write_tables(opts.out, sweep, values.len())?;
        write_description(opts.out, sweep, values.len(), true)?;
    }
    Ok(Finished {
        ran,
        kept,
        complete,
    })
}

/// sweep.csv, and sobol.csv or morris.csv for a Saltelli or Morris design.
fn write_tables(out: &Path, sweep: &Sweep, points: usize) -> Result<()> {
    let mut rows = Vec::with_capacity(points);
    for point in 0..points {
        rows.push(
            read_point(out, sweep, point)?.with_context(|| {
                format!("point {point}'s result vanished from {}", out.display())
            })?,
        );
    }
    let mut csv = sweep.header() + "\n";
    for (point, row) in rows.iter().enumerate() {
        csv += &row_line(point, row);
        csv.push('\n');
    }
    let p = out.join(layout::SWEEP_CSV);
    atomic::write(&p, csv).with_context(|| format!("cannot write {}", p.display()))?;
    let analysis = match sweep.design {
        Design::Saltelli { .. } => Some((layout::SOBOL_CSV, sobol_table(sweep, &rows))),
        Design::Morris { .. } => Some((layout::MORRIS_CSV, morris_table(sweep, &rows))),
        _ => None,
    };
    if let Some((name, text)) = analysis {
        let p = out.join(name);
        atomic::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// Every output's first-order and total Sobol index per axis, each with
/// its 95% bootstrap interval; an output that did not vary has empty cells.
fn sobol_table(sweep: &Sweep, rows: &[Row]) -> String {
    let mut csv = "output,key,first_order,first_order_lo,first_order_hi,total,total_lo,total_hi\n"
        .to_string();
    for (o, name) in output_names().iter().enumerate() {
        let y: Vec<f64> = rows.iter().map(|r| r.outputs[o]).collect();
        let found = sobol::indices(&y, sweep.axes.len(), sweep.seed);
        for (i, axis) in sweep.axes.iter().enumerate() {
            let cells = match &found {
                Some(ix) => {
                    let x = &ix[i];
                    [
                        x.first,
                        x.first_ci.0,
                        x.first_ci.1,
                        x.total,
                        x.total_ci.0,
                        x.total_ci.1,
                    ]
                    .map(|v| format!("{v:.4}"))
                    .join(",")
                }
                None => ",,,,,".to_string(),
            };
            csv += &format!("{name},{},{cells}\n", axis.key);
        }
    }
    csv
}

/// Every output's Morris effects per axis: mu* with its 95% bootstrap
/// interval, mu and sigma; empty cells where the output is not finite.
fn morris_table(sweep: &Sweep, rows: &[Row]) -> String {
    let mut csv = "output,key,mu_star,mu_star_lo,mu_star_hi,mu,sigma\n".to_string();
    let units = sweep.design.unit_points(sweep.axes.len(), sweep.seed);
    // Where each point lies on its axes after a count's rounding: the
    // step an effect is divided by is the one taken.
    let taken: Vec<Vec<f64>> = sweep
        .values()
        .iter()
        .map(|v| {
            sweep
                .axes
                .iter()
                .zip(v)
                .map(|(a, &x)| a.unit_of(x))
                .collect()
        })
        .collect();
    for (o, name) in output_names().iter().enumerate() {
        let y: Vec<f64> = rows.iter().map(|r| r.outputs[o]).collect();
        let found = morris::effects(&units, &taken, &y, sweep.axes.len(), sweep.seed);
        for (i, axis) in sweep.axes.iter().enumerate() {
            let cells = match &found {
                Some(e) => {
                    let x = &e[i];
                    [x.mu_star, x.mu_star_ci.0, x.mu_star_ci.1, x.mu, x.sigma]
                        .map(|v| format!("{v:.6e}"))
                        .join(",")
                }
                None => ",,,,".to_string(),
            };
            csv += &format!("{name},{},{cells}\n", axis.key);
        }
    }
    csv
}

/// sweep.json: what was swept, for a reader and for the folder guard.
fn write_description(out: &Path, sweep: &Sweep, points: usize, complete: bool) -> Result<()> {
    let scenario = std::fs::canonicalize(&sweep.scenario).unwrap_or(sweep.scenario.clone());
    let axes: Vec<_> = sweep
        .axes
        .iter()
        .map(|a| {
            serde_json::json!({
                "key": a.key, "lo": a.lo, "hi": a.hi,
                "scale": if a.log { "log" } else { "lin" }, "integer": a.integer,
            })
        })
        .collect();
    let json = serde_json::json!({
        "tmesim_version": env!("CARGO_PKG_VERSION"),
        "scenario": scenario,
        "overrides": sweep.base,
        "axes": axes,
        "design": sweep.design,
        "seed": sweep.seed,
        "points": points,
        "outputs": output_names(),
        "complete": complete,
    });
    let p = out.join(layout::SWEEP_JSON);
    atomic::write(
        &p,
        serde_json::to_string_pretty(&json).expect("json") + "\n",
    )
    .with_context(|| format!("cannot write {}", p.display()))
}

/// What the workers share.
struct Work<'a> {
    sweep: &'a Sweep,
    values: &'a [Vec<f64>],
    out: &'a Path,
    backend: BackendChoice,
    batch: usize,
    stop: &'a AtomicBool,
    bar: &'a indicatif::ProgressBar,
    ran: AtomicUsize,
    failure: Mutex<Option<anyhow::Error>>,
}

impl Work<'_> {
    /// Take `batch` points at a time until none is left, a run fails or
    /// the user interrupts; on the CPU each point runs single-threaded.
    fn worker(&self, ready: &[Ready], next: &AtomicUsize) {
        let pool = crate::cpu::fp::pool(1).build().expect("a one-thread pool");
        pool.install(|| {
            let mut held: Option<(ArmSpec, Box<dyn Batch>)> = None;
            loop {
                let start = next.fetch_add(self.batch, Ordering::SeqCst);
                let failed = self.failure.lock().expect("lock").is_some();
                if start >= ready.len() || self.stop.load(Ordering::SeqCst) || failed {
                    return;
                }
                let chunk = &ready[start..(start + self.batch).min(ready.len())];
                if let Err(e) = self.chunk(chunk, &mut held) {
                    if !self.stop.load(Ordering::SeqCst) {
                        self.failure.lock().expect("lock").get_or_insert(e);
                    }
                    return;
                }
            }
        });
    }

    /// Run the points of `chunk` in groups that share a plan, keeping each
    /// result as its group finishes.
    fn chunk(&self, chunk: &[Ready], held: &mut Option<(ArmSpec, Box<dyn Batch>)>) -> Result<()> {
        let mut rest = chunk;
        while let Some(first) = rest.first() {
            let len = rest
                .iter()
                .take_while(|r| same_batch(&r.spec, &first.spec))
                .count();
            let (group, later) = rest.split_at(len);
            let fits = |h: &(ArmSpec, Box<dyn Batch>)| {
                same_batch(&h.0, &group[0].spec) && h.1.capacity() >= group.len()
            };
            if !held.as_ref().is_some_and(fits) {
                *held = None; // free the old batch's memory first
                let backend = make_batch(self.backend, &group[0].spec, self.batch)?.0;
                *held = Some((group[0].spec.clone(), backend));
            }
            let backend = &mut held.as_mut().expect("set above").1;
            let states = group
                .iter()
                .map(|r| initial_state(&r.spec.spec))
                .collect::<Result<Vec<_>, _>>()?;
            let arms: Vec<&ArmSpec> = group.iter().map(|r| &r.spec).collect();
            let names: Vec<String> = group
                .iter()
                .map(|r| {
                    let v = &self.values[r.point];
                    format!("point {} ({})", r.point, self.sweep.describe(v))
                })
                .collect();
            let none = vec![None; group.len()];
            let state_refs: Vec<_> = states.iter().collect();
            let runs = run_arms(
                &arms,
                &state_refs,
                &names,
                &none,
                // A sweep reads the region at the end of follow-up.
                &|_, _| false,
                backend.as_mut(),
                self.stop,
            )?;
            for (r, run) in group.iter().zip(&runs) {
                let row = Row {
                    values: self
                        .sweep
                        .axes
                        .iter()
                        .zip(&self.values[r.point])
                        .map(|(a, &v)| format_value(v, a.integer))
                        .collect(),
                    outputs: outputs(run),
                    fingerprint: r.fingerprint.clone(),
                };
                let text = format!(
                    "{},run_fingerprint\n{},{}\n",
                    self.sweep.header(),
                    row_line(r.point, &row),
                    row.fingerprint
                );
                let p = point_path(self.out, r.point);
                std::fs::create_dir_all(p.parent().expect("points/"))
                    .with_context(|| format!("cannot create {}", p.display()))?;
                atomic::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
                self.ran.fetch_add(1, Ordering::SeqCst);
                self.bar.inc(1);
            }
            rest = later;
        }
        Ok(())
    }
}
