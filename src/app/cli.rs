//! The arguments of every `tmesim` command (clap): main.rs parses them
//! and hands each command's to its function in `app`.

use crate::sim::launch;
use crate::sim::select::BackendChoice;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "tmesim",
    version,
    about = "Tumour microenvironment reaction-diffusion simulator (PD-1 immunotherapy)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// CPU threads for the CPU backend, image drawing and compression
    /// (default: one per core, or RAYON_NUM_THREADS).
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

#[derive(Subcommand)]
pub enum Command {
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
        shard: Option<crate::cohort::runner::Shard>,
        /// Patient-arms per GPU batch, run in one set of dispatches
        /// (default 64; the CPU runs one patient-arm per thread).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        batch: Option<u32>,
        /// Read each patient-arm's region from this cohort folder instead
        /// of running it, where it holds the same patient on the same arm
        /// with the same region fingerprint (scenario, draws, model code,
        /// backend), for long enough: a
        /// trial that redraws only the lesions or the readout reads the
        /// seed trials' regions again. Repeatable: the first folder that
        /// holds the region serves.
        #[arg(long, value_name = "DIR")]
        regions: Vec<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Run a scenario at every point of a grid or Latin hypercube over
    /// scenario keys (--vary) and write one table, sweep.csv: each point's
    /// values, the tumour's response and every field's tumour mean at the
    /// end. A rerun with the same --out keeps the points already run.
    ///
    /// Exit status: 0 complete, 1 failed, 130 interrupted (finished
    /// points are kept; the same command continues).
    Sweep {
        #[command(flatten)]
        scenario: Scenario,
        /// Treatment arm replacing the scenario's, e.g. anti_pd1+anti_lag3.
        #[arg(long, value_name = "A+B")]
        arm: Option<String>,
        #[command(flatten)]
        axes: Axes,
        /// grid: every combination of --points levels per axis; lhs: a
        /// Latin hypercube of --points points.
        #[arg(long, value_enum, default_value = "lhs")]
        design: DesignChoice,
        /// Points of the Latin hypercube, or levels per axis of the grid.
        #[arg(long, value_name = "N", default_value_t = 16)]
        points: usize,
        #[command(flatten)]
        target: Target,
    },
    /// How every output of `tmesim sweep` depends on the --vary keys:
    /// Sobol indices (first-order and total, 95% bootstrap intervals) from
    /// a Saltelli design of N x (keys + 2) runs, into sobol.csv; or, with
    /// --method morris, a screen of R x (keys + 1) runs giving each key's
    /// elementary effects (mu*, mu, sigma) in morris.csv. A rerun with the
    /// same --out keeps the points run.
    Sensitivity {
        #[command(flatten)]
        scenario: Scenario,
        /// Treatment arm replacing the scenario's, e.g. anti_pd1+anti_lag3.
        #[arg(long, value_name = "A+B")]
        arm: Option<String>,
        #[command(flatten)]
        axes: Axes,
        /// sobol: variance-based indices; morris: a cheaper screen of many
        /// keys (Morris's elementary effects).
        #[arg(long, value_enum, default_value = "sobol")]
        method: MethodChoice,
        /// Sobol: base samples N of the design (a power of two suits the
        /// Sobol sequence best).
        #[arg(long, value_name = "N", default_value_t = 32)]
        base_samples: usize,
        /// Morris: trajectories R (about 10 rank the keys).
        #[arg(long, value_name = "R", default_value_t = 10)]
        trajectories: usize,
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
        #[arg(long, value_name = "NXxNYxNZ", value_parser = crate::bench::parse_grid)]
        grid: Option<crate::bench::GridSize>,
        /// Steps timed (after a few untimed warm-up steps).
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u64).range(1..))]
        steps: u64,
        /// Molecule solver replacing the scenario's.
        #[arg(long, value_enum)]
        solver: Option<crate::bench::SolverChoice>,
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
        #[arg(long, value_name = "MIN", value_parser = crate::bench::parse_dt)]
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
pub enum CohortAction {
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
pub struct Scenario {
    /// Scenario file (TOML), e.g. configs/baseline.toml.
    pub config: PathBuf,
    /// Resistance phenotype (configs/phenotypes), e.g. mdsc_rich.
    #[arg(long)]
    pub phenotype: Option<String>,
    /// Override any config key, e.g. --set time.end_days=10 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The axes of a sweep and how its points run.
#[derive(clap::Args)]
pub struct Axes {
    /// A scenario key and its range: KEY=LO:HI, or KEY=LO:HI:log for a
    /// log-uniform axis; a key that takes only whole numbers gets rounded
    /// values (repeatable).
    #[arg(long = "vary", value_name = "KEY=LO:HI[:log]", required = true)]
    pub vary: Vec<String>,
    /// Seed of the design's points (the Latin hypercube's, the Sobol
    /// scrambling, the Morris trajectories; a grid has none).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Points per GPU batch, run in one set of dispatches (default 64; the
    /// CPU runs one point per thread).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: Option<u32>,
}

/// The method of `tmesim sensitivity`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MethodChoice {
    Sobol,
    Morris,
}

/// Where a sweep puts its points.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DesignChoice {
    Grid,
    Lhs,
}

/// Where and how a run goes, shared by run and compare.
#[derive(clap::Args)]
pub struct Target {
    /// Output folder (default: a new folder under outputs/). A folder that
    /// already holds files is refused unless --force.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace what an earlier run wrote in --out (files tmesim did not
    /// write are never removed).
    #[arg(long)]
    pub force: bool,
    /// Where the kernels run: auto (a hardware GPU if one exists, else the
    /// CPU), cpu, or gpu (any adapter, software ones included).
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Target {
    pub fn launch(&self) -> launch::Launch {
        launch::Launch {
            backend: self.backend,
            progress: !self.quiet,
        }
    }
}
