//! The `tmesim` command line: run, render, check, bench, info and params.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use tmesim::gpu::context;
use tmesim::model::fields::FIELDS;
use tmesim::model::grid::Grid;
use tmesim::output::guard::Existing;
use tmesim::output::layout;
use tmesim::sim::run::RunReport;
use tmesim::sim::select::BackendChoice;
use tmesim::sim::{compare, launch};
use tmesim::therapy::treatment::parse_arm;

#[derive(Parser)]
#[command(
    name = "tmesim",
    version,
    about = "Tumour microenvironment reaction-diffusion simulator (PD-1 immunotherapy)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// CPU threads for the CPU backend, image drawing and compression
    /// (default: one per core, or RAYON_NUM_THREADS).
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write frames, time series and a manifest.
    ///
    /// Exit status: 0 complete, 1 failed (the manifest says why), 130
    /// interrupted by Ctrl-C or SIGTERM after a checkpoint (continue with
    /// --resume).
    Run {
        /// Scenario file (TOML), e.g. configs/baseline.toml.
        #[arg(required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Resistance phenotype (configs/phenotypes), e.g. mdsc_rich.
        #[arg(long)]
        phenotype: Option<String>,
        /// Override any config key, e.g. --set time.end_days=10 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Treatment arm replacing the scenario's, e.g. anti_pd1+anti_lag3
        /// (`control` for none).
        #[arg(long, value_name = "A+B")]
        arm: Option<String>,
        /// Continue the interrupted or failed run in RUN_DIR from its newest
        /// valid checkpoint, with the scenario it was started with.
        #[arg(
            long,
            value_name = "RUN_DIR",
            conflicts_with_all = ["config", "phenotype", "set", "arm", "out", "force"]
        )]
        resume: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Run a scenario once per treatment arm and compare the arms.
    Compare {
        #[command(flatten)]
        scenario: Scenario,
        /// Arms separated by `;`, each a `+`-joined list of therapies, e.g.
        /// "anti_pd1; anti_pd1+anti_ctla4" (`control` for no treatment).
        #[arg(long, value_name = "ARMS")]
        arms: String,
        /// Continue the comparison in --out: finished arms are kept, an
        /// interrupted arm resumes from its checkpoint, the rest run.
        #[arg(long, conflicts_with = "force", requires = "out")]
        resume: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Run a virtual trial: every patient of a cohort file on every arm,
    /// then response rates, progression-free survival, the mechanism map
    /// and a report (docs/cohorts.md). A rerun with the same --out skips
    /// the results already there. `tmesim cohort merge` joins shards.
    ///
    /// Exit status: 0 complete, 1 failed, 130 interrupted (finished
    /// results are kept; the same command continues).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Cohort {
        #[command(subcommand)]
        action: Option<CohortAction>,
        /// Cohort file, e.g. configs/cohorts/seed_trials.toml.
        #[arg(required = true)]
        cohort: Option<PathBuf>,
        /// Override a cohort key (cohort.patients=20) or, for every patient,
        /// a scenario key (time.end_days=30); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Run only shard K of N (patients i with i mod N = K-1), for
        /// `tmesim cohort merge` to join.
        #[arg(long, value_name = "K/N")]
        shard: Option<tmesim::cohort::runner::Shard>,
        /// Patient-arms per GPU batch, run in one set of dispatches
        /// (default 64; the CPU runs one patient-arm per thread).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        batch: Option<u32>,
        #[command(flatten)]
        target: Target,
    },
    /// Say whether a run folder's run is complete, interrupted, failed,
    /// running (alive) or dead (its process ended without a word); unknown
    /// when the folder's lock cannot be probed.
    Status {
        /// The run folder (it holds manifest.json).
        run_dir: PathBuf,
    },
    /// Redraw frames (any field at every save), montage, composite,
    /// time-lapses, timeseries.png and report.html of a finished run from
    /// its fields.ome.zarr (or .npy fields) and manifest.json.
    Render {
        /// The run folder (it holds manifest.json).
        run_dir: PathBuf,
        /// Only these fields (and/or "montage", "composite"), comma separated.
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        /// Write GIF time-lapses (time-lapses already in animations/ are
        /// always rewritten).
        #[arg(long)]
        gif: bool,
        /// Write animated PNG time-lapses.
        #[arg(long)]
        apng: bool,
        /// Time-lapse frame rate of every time-lapse written (default: the
        /// run's output.fps).
        #[arg(long)]
        fps: Option<f32>,
        /// Time-lapses of every N-th save only (the last is always kept).
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u16).range(1..))]
        every: u16,
        /// Time-lapse frames resized by this factor, in (0, 1], e.g. 0.5 for
        /// a lighter file to share.
        #[arg(long, value_name = "F", default_value_t = 1.0)]
        scale: f32,
    },
    /// Validate a scenario and print the resolved config.
    Check {
        #[command(flatten)]
        scenario: Scenario,
        /// Treatment arm replacing the scenario's, e.g. anti_pd1+anti_lag3
        /// (`control` for none).
        #[arg(long, value_name = "A+B")]
        arm: Option<String>,
    },
    /// Time the steps of a scenario, stage by stage, against the machine's
    /// copy bandwidth; optionally several patients at once and each
    /// solver's time to 1% error (docs/benchmarks.md, "tmesim bench").
    Bench {
        /// Scenario file (TOML).
        #[arg(default_value = "configs/baseline.toml")]
        config: PathBuf,
        /// Where the kernels run: cpu, gpu (any adapter, software ones
        /// included) or auto.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendChoice,
        /// Grid size replacing the scenario's, e.g. 256x256x1; the domain
        /// keeps its width (dx = width / NX).
        #[arg(long, value_name = "NXxNYxNZ", value_parser = tmesim::bench::parse_grid)]
        grid: Option<tmesim::bench::GridSize>,
        /// Steps timed (after a few untimed warm-up steps).
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u64).range(1..))]
        steps: u64,
        /// Molecule solver replacing the scenario's.
        #[arg(long, value_enum)]
        solver: Option<tmesim::bench::SolverChoice>,
        /// Time the full step: transport, motility, reactions (the default).
        #[arg(long, conflicts_with = "diffusion_only")]
        full: bool,
        /// Time molecule transport alone (reactions off, transport ops only).
        #[arg(long)]
        diffusion_only: bool,
        /// Also time B patients of the scenario at once (patient-steps/s).
        #[arg(long, value_name = "B", value_parser = clap::value_parser!(u32).range(1..))]
        patients: Option<u32>,
        /// Also time each solver to 1% error on two exact solutions.
        #[arg(long)]
        accuracy: bool,
        /// Time step in minutes replacing the scenario's, e.g. 0.01.
        #[arg(long, value_name = "MIN", value_parser = tmesim::bench::parse_dt)]
        dt: Option<f64>,
        /// Override any config key, e.g. --set solver.splitting="lie" (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List GPU adapters, their limits, and what `--backend auto` picks.
    Info,
    /// Print the parameter registry (name, default, range, unit, source).
    Params {
        /// As a markdown table (the one in docs/model.md).
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Subcommand)]
enum CohortAction {
    /// Join the folders of a cohort's shards into one cohort folder, the
    /// same byte for byte as a run in one process.
    Merge {
        /// The shard folders (each written by `tmesim cohort --shard K/N`).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged cohort folder.
        #[arg(long)]
        out: PathBuf,
        /// Replace what an earlier merge wrote in --out.
        #[arg(long)]
        force: bool,
    },
}

/// A scenario and what changes it, shared by run, compare and check.
#[derive(clap::Args)]
struct Scenario {
    /// Scenario file (TOML), e.g. configs/baseline.toml.
    config: PathBuf,
    /// Resistance phenotype (configs/phenotypes), e.g. mdsc_rich.
    #[arg(long)]
    phenotype: Option<String>,
    /// Override any config key, e.g. --set time.end_days=10 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// Where and how a run goes, shared by run and compare.
#[derive(clap::Args)]
struct Target {
    /// Output folder (default: a new folder under outputs/). A folder that
    /// already holds files is refused unless --force.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace what an earlier run wrote in --out (files tmesim did not
    /// write are never removed).
    #[arg(long)]
    force: bool,
    /// Where the kernels run: auto (a hardware GPU if one exists, else the
    /// CPU), cpu, or gpu (any adapter, software ones included).
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl Target {
    fn launch(&self) -> launch::Launch {
        launch::Launch {
            backend: self.backend,
            progress: !self.quiet,
        }
    }
}

impl Scenario {
    /// Resolve the scenario for one arm. A bad value given on the command
    /// line names its flag before the file it was applied to.
    fn load(&self, arm: Option<&[String]>) -> Result<tmesim::sim::scenario::ArmSpec> {
        tmesim::sim::scenario::load(&self.config, &self.overrides(arm))
            .map_err(|e| self.blame(e.into(), arm))
    }

    /// `e`, led by the flag that set the key it is about, if one did.
    fn blame(&self, e: anyhow::Error, arm: Option<&[String]>) -> anyhow::Error {
        use tmesim::config::error::ConfigError;
        let flag_of = |c: &ConfigError| c.key().and_then(|key| self.flag_of(key, arm));
        match e.downcast_ref::<ConfigError>() {
            Some(ConfigError::Several(all)) if all.iter().any(|c| flag_of(c).is_some()) => {
                anyhow::anyhow!(tmesim::config::error::several(all, flag_of))
            }
            Some(c) => match flag_of(c) {
                Some(flag) => e.context(flag),
                None => e,
            },
            None => e,
        }
    }

    /// The flag that set `key` (or a table above it), if one did.
    fn flag_of(&self, key: &str, arm: Option<&[String]>) -> Option<String> {
        // The flag set this key, a table above it, or a key inside it.
        let under = |k: &str| {
            key == k
                || key.starts_with(&format!("{k}."))
                || key.starts_with(&format!("{k}["))
                || k.starts_with(&format!("{key}."))
        };
        if under("phenotype") {
            if let Some(p) = &self.phenotype {
                return Some(format!("--phenotype {p}"));
            }
        }
        if under("arm") {
            if let Some(arm) = arm {
                return Some(format!("--arm {}", arm.join("+")));
            }
        }
        self.set
            .iter()
            .rev()
            .find(|s| s.split_once('=').is_some_and(|(k, _)| under(k.trim())))
            .map(|s| format!("--set {s}"))
    }

    /// The `--set` overrides with the phenotype and arm (if given) added.
    fn overrides(&self, arm: Option<&[String]>) -> Vec<String> {
        let mut all = self.set.clone();
        if let Some(p) = &self.phenotype {
            all.push(format!("phenotype={}", toml::Value::String(p.clone())));
        }
        if let Some(arm) = arm {
            let list = arm.iter().map(|t| toml::Value::String(t.clone())).collect();
            all.push(format!("arm={}", toml::Value::Array(list)));
        }
        all
    }
}

fn main() {
    // Before any thread or driver starts (src/gpu/runtime_dir.rs).
    tmesim::gpu::runtime_dir::ensure();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global();
        if let Err(e) = pool {
            eprintln!("error: --threads {n}: {e}");
            std::process::exit(2);
        }
    }
    let result = match cli.command {
        Command::Run {
            config,
            phenotype,
            set,
            arm,
            resume,
            target,
        } => match (resume, config) {
            (Some(dir), _) => cmd_resume(&dir, &target),
            (None, Some(config)) => cmd_run(
                &Scenario {
                    config,
                    phenotype,
                    set,
                },
                arm.as_deref(),
                &target,
            ),
            (None, None) => unreachable!("clap requires a config or --resume"),
        },
        Command::Compare {
            scenario,
            arms,
            resume,
            target,
        } => cmd_compare(&scenario, &arms, resume, &target),
        Command::Cohort {
            action: Some(CohortAction::Merge { dirs, out, force }),
            ..
        } => tmesim::cohort::merge::merge(&dirs, &out, force).map(|()| {
            eprintln!(
                "merged {} folder(s): {}",
                dirs.len(),
                out.join("report.html").display()
            );
            Outcome::Complete
        }),
        Command::Cohort {
            action: None,
            cohort,
            set,
            shard,
            batch,
            target,
        } => cmd_cohort(
            &cohort.expect("clap requires a cohort file"),
            &set,
            shard.unwrap_or(tmesim::cohort::runner::Shard::WHOLE),
            batch.map(|b| b as usize),
            &target,
        ),
        Command::Status { run_dir } => cmd_status(&run_dir),
        Command::Render {
            run_dir,
            fields,
            gif,
            apng,
            fps,
            every,
            scale,
        } => cmd_render(
            &run_dir,
            fields,
            gif,
            apng,
            fps,
            tmesim::output::animate::Thin {
                every: every as usize,
                scale,
            },
        )
        .map(|()| Outcome::Complete),
        Command::Check { scenario, arm } => {
            cmd_check(&scenario, arm.as_deref()).map(|()| Outcome::Complete)
        }
        Command::Bench {
            config,
            backend,
            grid,
            steps,
            solver,
            full: _,
            diffusion_only,
            patients,
            accuracy,
            dt,
            set,
        } => tmesim::bench::run(&tmesim::bench::Options {
            config,
            backend,
            grid,
            steps,
            solver,
            diffusion_only,
            patients,
            accuracy,
            dt_min: dt,
            set,
        })
        .map(|()| Outcome::Complete),
        Command::Info => cmd_info().map(|()| Outcome::Complete),
        Command::Params { markdown } => {
            cmd_params(markdown);
            Ok(Outcome::Complete)
        }
    };
    match result {
        Ok(Outcome::Complete) => {}
        Ok(Outcome::Interrupted) => std::process::exit(launch::EXIT_INTERRUPTED),
        Err(e) => {
            eprintln!("error: {}", tmesim::output::atomic::describe(&e));
            std::process::exit(1);
        }
    }
}

/// How a command ended, when it did not fail.
enum Outcome {
    Complete,
    Interrupted,
}

/// Therapy names given on the command line, checked before the scenario
/// loads (src/therapy/library.rs).
fn check_arm(option: &str, arm: Option<&[String]>, scenario: &Path) -> Result<()> {
    match arm {
        Some(arm) => {
            tmesim::therapy::library::check_arm(option, arm, scenario).map_err(anyhow::Error::msg)
        }
        None => Ok(()),
    }
}

fn default_out_dir(config: &Path) -> PathBuf {
    let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("outputs").join(format!("{stem}-{stamp}"))
}

/// The therapies of `--arm`; an empty `--arm` is refused (it would
/// silently mean no treatment).
fn cli_arm(arm: Option<&str>) -> Result<Option<Vec<String>>> {
    match arm {
        Some(a) if a.trim().is_empty() => {
            anyhow::bail!(
                "--arm is empty; give therapies such as anti_pd1+anti_lag3, or `control` for none"
            )
        }
        Some(a) => Ok(Some(parse_arm(a))),
        None => Ok(None),
    }
}

/// Print the probable unit slips of a valid config (config::advice).
fn warn_slips(spec: &tmesim::config::resolve::RunSpec) {
    for note in tmesim::config::advice::advisories(spec) {
        eprintln!("warning: {}: {note}", spec.source.display());
    }
}

fn cmd_run(scenario: &Scenario, arm: Option<&str>, target: &Target) -> Result<Outcome> {
    let arm = cli_arm(arm)?;
    check_arm("--arm", arm.as_deref(), &scenario.config)?;
    let arm_spec = scenario.load(arm.as_deref())?;
    warn_slips(&arm_spec.spec);
    let out = target
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&scenario.config));
    let existing = if target.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let interrupt = launch::interrupt_flag()?;
    let report = launch::run_into(
        &arm_spec,
        &out,
        target.launch(),
        &interrupt,
        existing,
        false,
    )
    .map_err(|e| scenario.blame(e, arm.as_deref()))?;
    end_of_run(&report, &out, &arm_spec.spec.grid)
}

/// `tmesim run --resume DIR`: the scenario from DIR's manifest, the state
/// from its newest valid checkpoint.
fn cmd_resume(dir: &Path, target: &Target) -> Result<Outcome> {
    let manifest = tmesim::output::manifest::Manifest::read(dir)?;
    if manifest.status == "complete" {
        eprintln!("{} is complete; nothing to resume", dir.display());
        return Ok(Outcome::Complete);
    }
    let arm_spec = launch::manifest_spec(dir, &manifest)?;
    let interrupt = launch::interrupt_flag()?;
    let report = launch::run_into(
        &arm_spec,
        dir,
        target.launch(),
        &interrupt,
        Existing::Continue,
        true,
    )?;
    end_of_run(&report, dir, &arm_spec.spec.grid)
}

/// The lines a run ends with (the headline and where the report is), and
/// the outcome they mean.
fn end_of_run(report: &RunReport, out: &Path, grid: &Grid) -> Result<Outcome> {
    report.summaries.last().context("no state saved")?;
    let table = tmesim::output::tsplot::Table::read(&out.join(layout::TIMESERIES_CSV))?;
    let headline = tmesim::output::headline::Headline::from_table(&table, grid)?;
    let report_html = out.join(layout::REPORT);
    eprintln!(
        "{} after {} steps in {:.1} s: {}\n{} {}",
        if report.completed {
            "done"
        } else {
            "interrupted"
        },
        report.steps_done,
        report.wall_time_s,
        headline.sentence(),
        if report_html.is_file() {
            "report:"
        } else {
            "outputs in"
        },
        if report_html.is_file() {
            report_html.display()
        } else {
            out.display()
        }
    );
    if report.completed {
        Ok(Outcome::Complete)
    } else {
        eprintln!(
            "checkpoint saved; continue with: tmesim run --resume {}",
            out.display()
        );
        Ok(Outcome::Interrupted)
    }
}

/// `tmesim status DIR`.
fn cmd_status(dir: &Path) -> Result<Outcome> {
    for line in launch::status(dir)? {
        println!("{line}");
    }
    Ok(Outcome::Complete)
}

fn cmd_compare(scenario: &Scenario, arms: &str, resume: bool, target: &Target) -> Result<Outcome> {
    let arms = compare::parse_arms(arms)?;
    for arm in &arms {
        check_arm("--arms", Some(arm), &scenario.config)?;
    }
    // Resolve every arm first, so a typo in the last arm fails at once.
    let specs = arms
        .iter()
        .map(|arm| scenario.load(Some(arm)))
        .collect::<Result<Vec<_>>>()?;
    if let Some(first) = specs.first() {
        warn_slips(&first.spec);
    }
    let out = target.out.clone().unwrap_or_else(|| {
        let stem = scenario
            .config
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        default_out_dir(Path::new(&format!("compare-{stem}")))
    });
    let existing = match (resume, target.force) {
        (true, _) => Existing::Continue,
        (false, true) => Existing::Replace,
        (false, false) => Existing::Refuse,
    };
    let done = compare::compare(&scenario.config, &specs, &out, existing, target.launch())?;
    let summary = std::fs::read_to_string(out.join(layout::SUMMARY_CSV))?;
    println!("{}", summary.trim_end());
    eprintln!(
        "compared {} arms: {} (summary.csv, tumor_burden.png, report.html and one folder per arm)",
        done.results.len(),
        out.display()
    );
    Ok(if done.complete() {
        Outcome::Complete
    } else {
        Outcome::Interrupted
    })
}

/// `tmesim cohort COHORT`: `--set cohort.*` changes the cohort file,
/// any other key the scenario of every patient.
fn cmd_cohort(
    path: &Path,
    set: &[String],
    shard: tmesim::cohort::runner::Shard,
    batch: Option<usize>,
    target: &Target,
) -> Result<Outcome> {
    use tmesim::cohort::{runner, spec};
    let (own, scenario): (Vec<String>, Vec<String>) = set
        .iter()
        .cloned()
        .partition(|s| s.trim_start().starts_with("cohort."));
    let mut cohort = spec::load(path, &own)?;
    cohort.cohort.set.extend(scenario);
    let out = target.out.clone().unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("cohort");
        default_out_dir(Path::new(&format!("cohort-{stem}")))
    });
    let interrupt = launch::interrupt_flag()?;
    let opts = runner::Options {
        out: &out,
        backend: target.backend,
        shard,
        batch,
        force: target.force,
        progress: !target.quiet,
        stop: &interrupt,
    };
    let f = runner::run(&cohort, &opts)?;
    eprintln!(
        "{} patient-arm result(s) run now, {} kept from before",
        f.ran, f.kept
    );
    if !f.complete {
        eprintln!(
            "interrupted: the finished results are kept; `tmesim cohort {} --out {}` (with the same --set) continues",
            path.display(),
            out.display()
        );
        return Ok(Outcome::Interrupted);
    }
    if shard != runner::Shard::WHOLE {
        eprintln!(
            "shard {}/{} complete in {}; join the shards with `tmesim cohort merge DIR... --out DIR`",
            shard.k,
            shard.n,
            out.display()
        );
        return Ok(Outcome::Complete);
    }
    let arms = out.join(layout::ARMS_CSV);
    println!("{}", std::fs::read_to_string(&arms)?.trim_end());
    eprintln!("report: {}", out.join(layout::REPORT).display());
    Ok(Outcome::Complete)
}

fn cmd_render(
    dir: &Path,
    only: Vec<String>,
    gif: bool,
    apng: bool,
    fps: Option<f32>,
    thin: tmesim::output::animate::Thin,
) -> Result<()> {
    if let Some(f) = fps {
        anyhow::ensure!(
            (0.1..=100.0).contains(&f),
            "--fps must be within [0.1, 100] (the range of output.fps), got {f}"
        );
    }
    anyhow::ensure!(
        thin.scale > 0.0 && thin.scale <= 1.0,
        "--scale must be in (0, 1], got {}",
        thin.scale
    );
    let opts = tmesim::output::render::RenderOptions {
        only,
        gif,
        apng,
        fps,
        thin,
    };
    let start = std::time::Instant::now();
    let n = tmesim::output::render::render_run(dir, &opts)?;
    eprintln!(
        "rendered {n} saved times of {} in {:.1} s",
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cmd_check(scenario: &Scenario, arm: Option<&str>) -> Result<()> {
    let config = &scenario.config;
    let arm = cli_arm(arm)?;
    check_arm("--arm", arm.as_deref(), config)?;
    let arm_spec = scenario.load(arm.as_deref())?;
    let spec = &arm_spec.spec;
    tmesim::config::initial::initial_state(spec)
        .map_err(|e| scenario.blame(e.into(), arm.as_deref()))?;
    warn_slips(spec);
    // Printed at once, and a reader that stops early (`tmesim check ... |
    // head -1`) is not an error (as in `params`).
    use std::fmt::Write as _;
    let mut out = String::new();
    macro_rules! text {
        ($($arg:tt)*) => {{
            let _ = writeln!(out, $($arg)*);
        }};
    }
    text!(
        "{}",
        toml::to_string_pretty(&spec.config).context("cannot print the config")?
    );
    text!("# resolved");
    text!(
        "# grid: {} x {} x {} voxels of {} um ({} voxels)",
        spec.grid.nx,
        spec.grid.ny,
        spec.grid.nz,
        spec.grid.dx_um,
        spec.grid.len()
    );
    text!(
        "# time: {} steps of {} min, saving every {} steps",
        spec.steps,
        spec.dt_min,
        spec.save_every_steps
    );
    text!("# transport: {}", arm_spec.plan.describe());
    for (f, setup) in FIELDS.iter().zip(&spec.fields) {
        text!(
            "# field {:<11} {:<8} D={} um2/min decay={} /min chemotaxis={} boundary={:?}",
            f.name,
            f.kind.as_str(),
            setup.diffusion,
            setup.decay,
            setup.chemotaxis,
            setup.boundary
        );
    }
    for spec_p in tmesim::model::params::PARAM_SPECS {
        let v = spec.params.get(spec_p.name).unwrap();
        let mark = if v != spec_p.default { "  (set)" } else { "" };
        text!("# param {} = {} {}{}", spec_p.name, v, spec_p.unit, mark);
    }
    for d in &arm_spec.treatment.drugs {
        text!(
            "# drug {} ({}) from {}: terminal half-life {:.2} d, peak {:.3} mg/L",
            d.name,
            d.agent,
            d.file.display(),
            d.terminal_half_life_days,
            d.concentration.iter().cloned().fold(0.0, f64::max)
        );
    }
    for r in &arm_spec.treatment.radiation {
        text!(
            "# radiotherapy {} from {}: {} x {} Gy on days {:?}; surviving fraction per fraction {:?}",
            r.name,
            r.file.display(),
            r.plan.fraction_days.len(),
            r.plan.dose_gy,
            r.plan.fraction_days,
            r.plan.survival
        );
    }
    text!("# ok: {} is valid", config.display());
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}

fn cmd_info() -> Result<()> {
    let instance = context::instance();
    let adapters = context::adapters(&instance);
    if adapters.is_empty() {
        println!("no GPU adapters found; `--backend auto` runs on the CPU reference backend");
    }
    for a in &adapters {
        let info = a.get_info();
        let l = a.limits();
        println!("{}", context::describe(&info));
        println!("  driver: {} {}", info.driver, info.driver_info);
        println!(
            "  storage buffers per stage: {}",
            l.max_storage_buffers_per_shader_stage
        );
        println!(
            "  max storage binding: {} bytes, max buffer: {} bytes",
            l.max_storage_buffer_binding_size, l.max_buffer_size
        );
        println!(
            "  max workgroup invocations: {}, workgroup memory: {} bytes",
            l.max_compute_invocations_per_workgroup, l.max_compute_workgroup_storage_size
        );
        let max_voxels = l.max_buffer_size.min(l.max_storage_buffer_binding_size) / 4;
        println!("  largest grid: {max_voxels} voxels");
    }
    use tmesim::sim::select::{auto_pick, AutoPick, CpuBecause};
    match auto_pick(&instance) {
        AutoPick::Cpu(CpuBecause::SoftwareOnly(name)) => {
            println!("auto: CPU reference backend (only a software adapter: {name})")
        }
        AutoPick::Adapter(a) => println!("auto: {}", context::describe(&a.get_info())),
        AutoPick::Cpu(CpuBecause::NoAdapter(e)) => println!("auto: CPU reference backend ({e})"),
    }
    println!("cpu: {} rayon threads", rayon::current_num_threads());
    Ok(())
}

fn cmd_params(markdown: bool) {
    use std::fmt::Write as _;
    let specs = tmesim::model::params::PARAM_SPECS;
    let mut text = String::new();
    if markdown {
        text.push_str("| parameter | default | allowed range | unit | meaning | source |\n");
        text.push_str("|---|---|---|---|---|---|\n");
        for p in specs {
            let _ = writeln!(
                text,
                "| `{}` | {} | [{}, {}] | {} | {} | {} |",
                p.name, p.default, p.min, p.max, p.unit, p.description, p.source
            );
        }
    } else {
        for p in specs {
            let _ = writeln!(
                text,
                "{:<32} {:>10} [{}, {}] {}  -- {} (source: {})",
                p.name, p.default, p.min, p.max, p.unit, p.description, p.source
            );
        }
    }
    // A reader that stops early (`tmesim params | head`) is not an error.
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
