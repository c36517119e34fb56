//! `tmesim bench`: how fast a step runs, how many bytes it must move and
//! how close that comes to the machine's copy bandwidth, stage by stage;
//! with `--patients B`, the throughput of B patients at once; with
//! `--accuracy`, each solver's time to 1% error on two exact solutions.
//! It prints one fact per line; docs/benchmarks.md says what each means.

pub mod accuracy;
pub(crate) mod copy;
pub(crate) mod flops;
pub(crate) mod patients;
pub(crate) mod timing;

use crate::backend::plan::Phase;
use crate::backend::Backend;
use crate::config::initial::initial_state;
use crate::config::load::load_config;
use crate::model::fields::{FieldKind, FIELDS};
use crate::sim::scenario::{self, ArmSpec};
use crate::sim::select::{make_backend, BackendChoice};
use anyhow::Result;
use copy::CopyRate;
use std::path::PathBuf;
use timing::{StageTiming, Timing, WARMUP_STEPS};

/// A grid size from `--grid NXxNYxNZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridSize {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
}

/// Parse `--grid`: three whole numbers of at least 1 joined by `x`.
pub fn parse_grid(text: &str) -> Result<GridSize, String> {
    let refuse = || {
        format!(
            "`{text}` is not a grid size: expected NXxNYxNZ, three whole numbers of at least 1 joined by `x`, e.g. 256x256x1"
        )
    };
    let dims: Vec<usize> = text
        .trim()
        .split(['x', 'X'])
        .map(|p| p.trim().parse::<usize>().ok().filter(|&v| v >= 1))
        .collect::<Option<_>>()
        .ok_or_else(refuse)?;
    match dims[..] {
        [nx, ny, nz] => Ok(GridSize { nx, ny, nz }),
        _ => Err(refuse()),
    }
}

/// Parse `--dt`: a positive number of minutes.
pub fn parse_dt(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(dt) if dt.is_finite() && dt > 0.0 => Ok(dt),
        _ => Err(format!(
            "`{text}` is not a step size: expected a positive number of minutes, e.g. 0.01"
        )),
    }
}

/// The molecule solver of `--solver`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SolverChoice {
    Exponential,
    Explicit,
}

impl SolverChoice {
    fn config_value(self) -> &'static str {
        match self {
            SolverChoice::Exponential => "exponential",
            SolverChoice::Explicit => "explicit",
        }
    }
}

/// What `tmesim bench` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub config: PathBuf,
    pub backend: BackendChoice,
    pub grid: Option<GridSize>,
    pub steps: u64,
    pub solver: Option<SolverChoice>,
    /// Molecule transport alone (reactions off, only transport ops).
    pub diffusion_only: bool,
    pub patients: Option<u32>,
    pub accuracy: bool,
    pub dt_min: Option<f64>,
    /// `--set KEY=VALUE` overrides, applied before the options above.
    pub set: Vec<String>,
}

fn toml_float(x: f64) -> String {
    toml::Value::Float(x).to_string()
}

/// The options as config overrides. `--grid` keeps the scenario's domain
/// width and changes the voxel size (dx = width / NX), so initial
/// conditions placed in um stay inside; a `--set grid.dx_um=...` after it
/// wins. The other options come after the user's `--set` and win.
fn overrides(opts: &Options) -> Result<Vec<String>> {
    let mut set = Vec::new();
    if let Some(g) = opts.grid {
        let base = load_config(&opts.config, &opts.set)?.grid;
        let width = base.nx as f64 * base.dx_um;
        set.push(format!("grid.dx_um={}", toml_float(width / g.nx as f64)));
    }
    set.extend(opts.set.iter().cloned());
    if let Some(g) = opts.grid {
        set.push(format!("grid.nx={}", g.nx));
        set.push(format!("grid.ny={}", g.ny));
        set.push(format!("grid.nz={}", g.nz));
    }
    if let Some(dt) = opts.dt_min {
        set.push(format!("time.dt_min={}", toml_float(dt)));
    }
    if let Some(s) = opts.solver {
        set.push(format!("solver.diffusion=\"{}\"", s.config_value()));
    }
    if opts.diffusion_only {
        // With one operator there is nothing to split: one transport over
        // the whole step (Strang would make two exact half steps, whose
        // product is the same whole step at twice the cost).
        set.push("model.reactions=false".to_string());
        set.push("solver.splitting=\"lie\"".to_string());
    }
    Ok(set)
}

/// The scenario benchmarked. Its run is cut to the steps timed, so the
/// therapy tables (one entry per step) stay small at any dt.
pub fn load(opts: &Options) -> Result<ArmSpec> {
    let mut set = overrides(opts)?;
    let dt = load_config(&opts.config, &set)?.time.dt_min;
    let minutes = dt * (WARMUP_STEPS + opts.steps) as f64;
    set.push(format!("time.end_days={}", toml_float(minutes / 1440.0)));
    set.push(format!("time.save_every_min={}", toml_float(dt)));
    let mut arm = scenario::load(&opts.config, &set)?;
    if opts.diffusion_only {
        arm.plan = arm.plan.only(Phase::Transport);
    }
    Ok(arm)
}

/// Settling before timing: the full scenario (exact transport, reactions
/// on) for this many steps of this many minutes, on the CPU. Timed from
/// the bare initial state, molecule fields are still 0, and zeros run
/// faster than the small (partly subnormal) values of a running
/// simulation: the CPU transport of the baseline takes about half the time.
pub const SETTLE_STEPS: u64 = 4;
pub const SETTLE_DT_MIN: f64 = 15.0;

/// The state every timing starts from: the initial state after the
/// settling steps, on the benchmark's grid.
pub fn start_state(opts: &Options) -> Result<crate::model::state::State> {
    let full = Options {
        dt_min: Some(SETTLE_DT_MIN),
        solver: Some(SolverChoice::Exponential),
        diffusion_only: false,
        ..opts.clone()
    };
    let mut set = overrides(&full)?;
    set.extend([
        "model.reactions=true".to_string(),
        format!(
            "time.end_days={}",
            toml_float(SETTLE_STEPS as f64 * SETTLE_DT_MIN / 1440.0)
        ),
        format!("time.save_every_min={}", toml_float(SETTLE_DT_MIN)),
    ]);
    let arm = scenario::load(&opts.config, &set)?;
    let mut cpu = crate::sim::select::cpu_backend(&arm);
    cpu.upload(&initial_state(&arm.spec)?)?;
    cpu.run_steps(&timing::step_params(&arm, 0, SETTLE_STEPS))?;
    let mut state = cpu.download()?;
    // The benchmark's own steps (and therapy schedule) count from 0.
    state.step = 0;
    Ok(state)
}

/// Run the benchmark and print its report on stdout.
pub fn run(opts: &Options) -> Result<()> {
    let arm = load(opts)?;
    anyhow::ensure!(
        !arm.plan.ops.is_empty(),
        "the step of {} has no operation to time (nothing is transported or reacted)",
        opts.config.display()
    );
    let state = start_state(opts)?;
    let (mut backend, note) = make_backend(opts.backend, &arm)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    // Every later backend is of the kind the first one turned out to be.
    let choice = match backend.kind() {
        "gpu" => BackendChoice::Gpu,
        _ => BackendChoice::Cpu,
    };
    print_setup(opts, &arm, backend.as_ref());
    let full = timing::time_steps(backend.as_mut(), &arm, &state, opts.steps)?;
    // The same number of steps again, each stage timed inside the step by
    // the device's clock where it has one.
    let first = state.step + WARMUP_STEPS + opts.steps;
    let inside = backend.profile_stages(&timing::step_params(&arm, first, opts.steps))?;
    drop(backend);
    let copy = match choice {
        BackendChoice::Gpu => copy::gpu_copy(copy::COPY_BYTES, copy::COPY_REPEATS)?,
        _ => copy::cpu_copy(copy::COPY_BYTES, copy::COPY_REPEATS),
    };
    print_step(&arm, &full, &copy);
    let kernels = flops::Kernels::count(&arm.spec.grid).map_err(anyhow::Error::msg)?;
    let peak = match choice {
        BackendChoice::Gpu => None,
        _ => Some(flops::cpu_peak(copy::COPY_REPEATS)),
    };
    let rate = print_roofline(&arm, &kernels, full.wall_per_step_s(), &copy, &peak);
    let stages = timing::time_stages(choice, &arm, &state, opts.steps)?;
    print_stages(&stages, &full, &copy);
    print_stage_flops(&arm, &kernels, &stages, &peak);
    match inside {
        Some(inside) => print_inside(&arm, &inside, opts.steps, &copy),
        None if choice == BackendChoice::Gpu => {
            println!("timestamps: not supported by this adapter (stages timed alone above)")
        }
        None => {}
    }
    if let Some(count) = opts.patients {
        let p = patients::time_patients(choice, &arm, &state, count, opts.steps)?;
        println!(
            "patients: {} ({}), {} steps each in {:.3} s: {:.1} patient-steps/s",
            p.patients,
            p.how,
            p.steps,
            p.wall.as_secs_f64(),
            p.patient_steps_per_s()
        );
        println!(
            "patients: {} patient-days/s; {} patient-days per core-second ({:.3} s of CPU time)",
            three_digits(p.patient_days_per_s()),
            three_digits(p.patient_days_per_core_s()),
            p.cpu.as_secs_f64()
        );
        if let Some((peak, _)) = &peak {
            let achieved = rate * p.patient_steps_per_s();
            println!(
                "patients: {} GFLOP/s, {}% of the measured peak",
                three_digits(achieved / 1e9),
                three_digits(percent(achieved, *peak))
            );
        }
        println!(
            "patients: {:.2} MB per patient{}",
            p.memory_bytes as f64 / p.patients as f64 / 1e6,
            match p.fit {
                Some(n) => format!(
                    "; at most {n} patients per batch on this adapter (bindings, dispatch size)"
                ),
                None => String::new(),
            }
        );
    }
    if opts.accuracy {
        print_accuracy(choice, &accuracy::run(choice)?);
    }
    Ok(())
}

fn ms(seconds: f64) -> String {
    format!("{} ms", three_digits(seconds * 1e3))
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

/// `x` with three significant digits (and no exponent), so small rates
/// never print as 0.00.
fn three_digits(x: f64) -> String {
    let decimals = if x > 0.0 && x.is_finite() {
        (2 - x.log10().floor() as i32).clamp(0, 12) as usize
    } else {
        2
    };
    format!("{x:.decimals$}")
}

/// Bytes per `seconds`, in GB/s (1e9 bytes).
fn gb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds.max(1e-12) / 1e9
}

fn print_setup(opts: &Options, arm: &ArmSpec, backend: &dyn Backend) {
    let g = arm.spec.grid;
    let kinds = [
        FieldKind::Molecule,
        FieldKind::Cell,
        FieldKind::State,
        FieldKind::Map,
    ];
    let by_kind: Vec<String> = kinds
        .iter()
        .map(|&k| {
            let n = FIELDS.iter().filter(|f| f.kind == k).count();
            format!("{n} {}", k.as_str())
        })
        .collect();
    let advanced: Vec<&str> = arm
        .plan
        .fields_advanced()
        .iter()
        .map(|&f| FIELDS[f].name)
        .collect();
    println!("config: {}", opts.config.display());
    println!(
        "grid: {} x {} x {} voxels of {} um ({} voxels)",
        g.nx,
        g.ny,
        g.nz,
        g.dx_um,
        g.len()
    );
    println!("fields carried: {} ({})", FIELDS.len(), by_kind.join(", "));
    println!(
        "fields advanced: {} per step ({})",
        advanced.len(),
        advanced.join(", ")
    );
    let workload = if opts.diffusion_only {
        "diffusion only: the transport ops of a step without reactions"
    } else {
        "full step"
    };
    println!("workload: {workload}");
    let timed = if opts.diffusion_only {
        " (only its transport ops run)"
    } else {
        ""
    };
    println!("plan: {}{timed}", arm.plan.describe());
    println!("ops per step: {}", arm.plan.ops.len());
    println!("backend: {}", backend.kind());
    println!("device: {}", backend.device_name());
    println!("threads: {}", rayon::current_num_threads());
    let memory = backend.memory_bytes();
    println!(
        "memory: {:.1} MB, {:.0} bytes/voxel (the backend's state, scratch and propagator buffers)",
        memory as f64 / 1e6,
        memory as f64 / arm.spec.grid.len() as f64
    );
    println!(
        "steps: {} timed after {WARMUP_STEPS} warm-up steps, dt {} min",
        opts.steps, arm.spec.dt_min
    );
    println!(
        "start: the initial state after {SETTLE_STEPS} full steps of {SETTLE_DT_MIN} min (exact transport, reactions on, CPU), so fields hold running values"
    );
}

fn print_step(arm: &ArmSpec, full: &Timing, copy: &CopyRate) {
    let wall = full.wall_per_step_s();
    let cpu = full.cpu_per_step_s();
    let voxels = arm.spec.grid.len();
    let fields = arm.plan.fields_advanced().len();
    let bytes = arm.plan.bytes_per_step(&arm.spec.grid);
    let bandwidth = gb_per_s(bytes, wall);
    let copy_gb_s = copy.time.gb_per_s();
    println!("wall time: {}/step", ms(wall));
    println!(
        "cpu time: {}/step ({:.2} cores busy)",
        ms(cpu),
        cpu / wall.max(1e-12)
    );
    println!(
        "sync: {} per download; the timed window ends with one (the GPU's sync point), {}% of it",
        ms(full.sync.as_secs_f64()),
        three_digits(percent(full.sync.as_secs_f64(), full.wall.as_secs_f64()))
    );
    println!(
        "throughput: {:.2e} voxel-field updates/s ({fields} fields x {voxels} voxels per step)",
        (fields * voxels) as f64 / wall.max(1e-12)
    );
    println!(
        "bytes per step: {} MB (compulsory reads and writes of the step's ops)",
        three_digits(bytes as f64 / 1e6)
    );
    println!("bandwidth: {} GB/s", three_digits(bandwidth));
    println!(
        "copy bandwidth: {} GB/s ({}; read + write bytes / time)",
        three_digits(copy_gb_s),
        copy.how
    );
    println!(
        "bandwidth vs copy: {}%",
        three_digits(percent(bandwidth, copy_gb_s))
    );
}

fn print_stages(stages: &[StageTiming], full: &Timing, copy: &CopyRate) {
    let sum: f64 = stages.iter().map(|s| s.timing.wall_per_step_s()).sum();
    let copy_gb_s = copy.time.gb_per_s();
    println!("stage timing: each stage alone on a backend of its own, same steps and warm-up");
    for s in stages {
        let wall = s.timing.wall_per_step_s();
        let bandwidth = gb_per_s(s.bytes_per_step, wall);
        println!(
            "stage {}: {}/step, {:.1}% of the stage sum, {} MB/step, {} GB/s ({}% of copy)",
            s.stage.name(),
            ms(wall),
            percent(wall, sum),
            three_digits(s.bytes_per_step as f64 / 1e6),
            three_digits(bandwidth),
            three_digits(percent(bandwidth, copy_gb_s))
        );
    }
    println!(
        "stage sum: {}/step (the full step: {}/step)",
        ms(sum),
        ms(full.wall_per_step_s())
    );
}

/// A step's operations against the peak this build reaches (on the CPU),
/// beside its bytes against the copy bandwidth, and the bound they name.
/// Returns the step's operations.
fn print_roofline(
    arm: &ArmSpec,
    kernels: &flops::Kernels,
    wall: f64,
    copy: &CopyRate,
    peak: &Option<(f64, String)>,
) -> f64 {
    let grid = &arm.spec.grid;
    let ops = kernels.step(&arm.plan, grid);
    let rate = ops / wall.max(1e-12);
    println!(
        "operations per step: {} MFLOP (f32 add, multiply, divide, exp, pow: the transport's from its plan, the kernels' counted from their WGSL)",
        three_digits(ops / 1e6)
    );
    println!("arithmetic rate: {} GFLOP/s", three_digits(rate / 1e9));
    let bytes = arm.plan.bytes_per_step(grid) as f64;
    println!(
        "arithmetic intensity: {} FLOP/byte",
        three_digits(ops / bytes.max(1.0))
    );
    let Some((peak, how)) = peak else {
        println!("peak: not measured on a GPU (the copy bandwidth above is the bound compared)");
        return ops;
    };
    let of_peak = percent(rate, *peak);
    let of_copy = percent(gb_per_s(bytes as u64, wall), copy.time.gb_per_s());
    println!(
        "peak: {} GFLOP/s ({how}); the step reaches {}% of it",
        three_digits(peak / 1e9),
        three_digits(of_peak)
    );
    let bound = if of_peak.max(of_copy) >= 50.0 {
        if of_peak >= of_copy {
            "arithmetic".to_string()
        } else {
            "memory bandwidth".to_string()
        }
    } else {
        format!(
            "neither: the step reaches {}% of the arithmetic peak and {}% of the copy bandwidth, so latency, branches and the scalar parts of its kernels limit it",
            three_digits(of_peak),
            three_digits(of_copy)
        )
    };
    println!("bound: {bound}");
    ops
}

/// Each stage's operations and rate, against the measured peak.
fn print_stage_flops(
    arm: &ArmSpec,
    kernels: &flops::Kernels,
    stages: &[StageTiming],
    peak: &Option<(f64, String)>,
) {
    for s in stages {
        let ops: f64 = arm
            .plan
            .ops
            .iter()
            .filter(|op| op.phase() == s.stage)
            .map(|op| kernels.op(op, &arm.plan, &arm.spec.grid))
            .sum();
        let rate = ops / s.timing.wall_per_step_s().max(1e-12);
        println!(
            "flops {}: {} MFLOP/step, {} GFLOP/s{}",
            s.stage.name(),
            three_digits(ops / 1e6),
            three_digits(rate / 1e9),
            match peak {
                Some((p, _)) => format!(" ({}% of peak)", three_digits(percent(rate, *p))),
                None => String::new(),
            }
        );
    }
}

/// Phase times measured inside the full step by the GPU's timestamps.
fn print_inside(
    arm: &ArmSpec,
    inside: &[(Phase, std::time::Duration)],
    steps: u64,
    copy: &CopyRate,
) {
    let total: f64 = inside.iter().map(|(_, d)| d.as_secs_f64()).sum();
    println!("timestamps: each stage inside the full step, by the GPU's clock ({steps} steps)");
    for &(stage, d) in inside {
        let wall = d.as_secs_f64() / steps.max(1) as f64;
        let bytes: u64 = arm
            .plan
            .ops
            .iter()
            .filter(|op| op.phase() == stage)
            .map(|op| op.bytes(&arm.plan, &arm.spec.grid))
            .sum();
        let bandwidth = gb_per_s(bytes, wall);
        println!(
            "timestamps {}: {}/step, {:.1}% of the timed passes, {} GB/s ({}% of copy)",
            stage.name(),
            ms(wall),
            percent(d.as_secs_f64(), total),
            three_digits(bandwidth),
            three_digits(percent(bandwidth, copy.time.gb_per_s()))
        );
    }
}

fn print_accuracy(choice: BackendChoice, all: &[accuracy::Attempt]) {
    println!(
        "accuracy: time to {}% relative L2 error, IFN-gamma alone (D 100 um^2/min, decay 0.01/min, dx 10 um), reactions off, backend {}",
        accuracy::TARGET_ERROR * 100.0,
        if choice == BackendChoice::Gpu { "gpu" } else { "cpu" }
    );
    for case in accuracy::Case::ALL {
        println!("accuracy {}: {}", case.name(), case.describe());
    }
    println!(
        "{:<14} {:<12} {:>7} {:>7} {:>9} {:>10}",
        "case", "solver", "dt_min", "steps", "error", "wall_ms"
    );
    for a in all {
        let steps = a.steps.map_or("-".to_string(), |s| s.to_string());
        let wall = a.wall.map_or("not reached".to_string(), |w| {
            format!("{:.3}", w.as_secs_f64() * 1e3)
        });
        println!(
            "{:<14} {:<12} {:>7} {:>7} {:>9.2e} {:>10}",
            a.case.name(),
            a.solver,
            a.dt_min,
            steps,
            a.error,
            wall
        );
    }
    for case in accuracy::Case::ALL {
        for solver in accuracy::SOLVERS {
            match accuracy::fastest(all, case, solver) {
                Some(a) => println!(
                    "fastest {} {solver}: dt {} min, {} steps, {}",
                    case.name(),
                    a.dt_min,
                    a.steps.unwrap_or(0),
                    ms(a.wall.unwrap_or_default().as_secs_f64())
                ),
                None => println!(
                    "fastest {} {solver}: no step size of the ladder reached the target",
                    case.name()
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_sizes_parse_or_name_the_allowed_form() {
        assert_eq!(
            parse_grid("256x256x1"),
            Ok(GridSize {
                nx: 256,
                ny: 256,
                nz: 1
            })
        );
        assert_eq!(parse_grid(" 4X3x2 ").map(|g| g.ny), Ok(3));
        for bad in ["0x5x1", "abc", "", "4x4", "4x4x4x4", "4.5x4x1", "x4x4"] {
            let e = parse_grid(bad).unwrap_err();
            assert!(
                e.contains("NXxNYxNZ") && e.contains("at least 1"),
                "{bad}: {e}"
            );
        }
        assert!(parse_dt("0.01").is_ok());
        assert!(parse_dt("0").is_err() && parse_dt("inf").is_err());
    }

    #[test]
    fn small_numbers_keep_three_digits() {
        assert_eq!(three_digits(41.3456), "41.3");
        assert_eq!(three_digits(0.00172), "0.00172");
        assert_eq!(three_digits(1234.5), "1234");
        assert_eq!(three_digits(0.0), "0.00");
    }
}
