//! The `tmesim` command line: run, render, check, info and params.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tmesim::config::load_run_spec;
use tmesim::config::resolve::RunSpec;
use tmesim::gpu::context;
use tmesim::model::fields::FIELDS;
use tmesim::model::init::initial_state;
use tmesim::output::layout;
use tmesim::output::timeseries::equivalent_diameter_um;
use tmesim::sim::arms;
use tmesim::sim::plan::TransportPlan;
use tmesim::sim::run::{run, RunOptions, RunReport};
use tmesim::sim::select::{make_backend, BackendChoice};
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
    Run {
        #[command(flatten)]
        scenario: Scenario,
        /// Treatment arm replacing the scenario's, e.g. anti_pd1+anti_lag3
        /// (`control` for none).
        #[arg(long, value_name = "A+B")]
        arm: Option<String>,
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
        #[command(flatten)]
        target: Target,
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
    /// List GPU adapters, their limits, and what `--backend auto` picks.
    Info,
    /// Print the parameter registry (name, default, range, unit, source).
    Params {
        /// As a markdown table (the one in docs/model.md).
        #[arg(long)]
        markdown: bool,
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
    /// Output folder (default: a new folder under outputs/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the kernels run: auto (a hardware GPU if one exists, else the
    /// CPU), cpu, or gpu (any adapter, software ones included).
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl Scenario {
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
            scenario,
            arm,
            target,
        } => cmd_run(&scenario, arm.as_deref(), &target),
        Command::Compare {
            scenario,
            arms,
            target,
        } => cmd_compare(&scenario, &arms, &target),
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
        ),
        Command::Check { scenario, arm } => cmd_check(&scenario, arm.as_deref()),
        Command::Info => cmd_info(),
        Command::Params { markdown } => {
            cmd_params(markdown);
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
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

fn cmd_run(scenario: &Scenario, arm: Option<&str>, target: &Target) -> Result<()> {
    let arm = arm.map(parse_arm);
    check_arm("--arm", arm.as_deref(), &scenario.config)?;
    let spec = load_run_spec(&scenario.config, &scenario.overrides(arm.as_deref()))?;
    let out = target
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&scenario.config));
    let interrupt = interrupt_flag()?;
    let report = run_one(&spec, &out, target, &interrupt)?;
    report.summaries.last().context("no state saved")?;
    let table = tmesim::output::tsplot::Table::read(&out.join(layout::TIMESERIES_CSV))?;
    let headline = tmesim::output::headline::Headline::from_table(&table, &spec.grid)?;
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
    if !report.completed {
        std::process::exit(130);
    }
    Ok(())
}

/// Run one resolved scenario into `out` on the chosen backend.
fn run_one(
    spec: &RunSpec,
    out: &Path,
    target: &Target,
    interrupt: &AtomicBool,
) -> Result<RunReport> {
    let state = initial_state(spec)?;
    let (mut backend, notice) = make_backend(target.backend, spec)?;
    if let Some(notice) = notice {
        eprintln!("note: {notice}");
    }
    eprintln!(
        "tmesim: {} | arm {}{} on {} | grid {}x{}x{} at {} um | {} steps of {} min | output {}",
        spec.source.display(),
        spec.treatment.label(),
        spec.config
            .phenotype
            .as_ref()
            .map(|p| format!(" | phenotype {p}"))
            .unwrap_or_default(),
        backend.device_name(),
        spec.grid.nx,
        spec.grid.ny,
        spec.grid.nz,
        spec.grid.dx_um,
        spec.steps,
        spec.dt_min,
        out.display()
    );
    run(
        spec,
        state,
        backend.as_mut(),
        &RunOptions {
            out_dir: out,
            progress: !target.quiet,
            interrupt: Some(interrupt),
        },
    )
}

/// A flag set by Ctrl-C: the first finishes the current batch, saves and
/// stops cleanly; the second exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: saving the current state and stopping (Ctrl-C again to abort)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(interrupt)
}

fn cmd_compare(scenario: &Scenario, arms: &str, target: &Target) -> Result<()> {
    let arms: Vec<Vec<String>> = arms
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(parse_arm)
        .collect();
    if arms.is_empty() {
        anyhow::bail!("--arms lists no arm; e.g. --arms \"anti_pd1; anti_pd1+anti_lag3\"");
    }
    for arm in &arms {
        check_arm("--arms", Some(arm), &scenario.config)?;
    }
    // Resolve every arm first, so a typo in the last arm fails at once.
    let specs = arms
        .iter()
        .map(|arm| load_run_spec(&scenario.config, &scenario.overrides(Some(arm))))
        .collect::<Result<Vec<_>, _>>()?;
    let out = target.out.clone().unwrap_or_else(|| {
        let stem = scenario
            .config
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        default_out_dir(Path::new(&format!("compare-{stem}")))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let interrupt = interrupt_flag()?;
    let mut results = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        let label = spec.treatment.label();
        eprintln!("arm {}/{}: {label}", k + 1, specs.len());
        let report = run_one(spec, &out.join(&label), target, &interrupt)?;
        if !report.completed {
            eprintln!("interrupted: the summary covers the arms finished so far");
            break;
        }
        results.push((label, report.summaries));
    }
    // Less tumour than one full voxel counts as a complete response.
    let grid = &specs[0].grid;
    let cr = equivalent_diameter_um(grid, grid.voxel_measure());
    let metrics: Vec<_> = results
        .iter()
        .map(|(label, s)| (label.clone(), arms::metrics(s, cr)))
        .collect();
    arms::write_summary(&out.join("summary.csv"), &metrics)?;
    let title = match &specs[0].config.phenotype {
        Some(p) => format!(
            "Tumour burden by arm: {}, phenotype {p}",
            scenario.config.display()
        ),
        None => format!("Tumour burden by arm: {}", scenario.config.display()),
    };
    arms::plot_burden(&out.join("tumor_burden.png"), &results, &title)?;
    let links: Vec<(String, PathBuf)> = results
        .iter()
        .map(|(label, _)| (label.clone(), PathBuf::from(label)))
        .collect();
    tmesim::output::report::write_compare_report(
        &out,
        &links,
        &[PathBuf::from("tumor_burden.png")],
        &out.join("summary.csv"),
    )?;
    println!(
        "{}",
        std::fs::read_to_string(out.join("summary.csv"))?.trim_end()
    );
    eprintln!(
        "compared {} arms: {} (summary.csv, tumor_burden.png, report.html and one folder per arm)",
        results.len(),
        out.display()
    );
    if results.len() < specs.len() {
        std::process::exit(130);
    }
    Ok(())
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
        anyhow::ensure!(f > 0.0 && f <= 100.0, "--fps must be in (0, 100], got {f}");
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
    let arm = arm.map(parse_arm);
    check_arm("--arm", arm.as_deref(), config)?;
    let spec = load_run_spec(config, &scenario.overrides(arm.as_deref()))?;
    initial_state(&spec)?;
    let plan = TransportPlan::new(&spec);
    println!(
        "{}",
        toml::to_string_pretty(&spec.config).context("cannot print the config")?
    );
    println!("# resolved");
    println!(
        "# grid: {} x {} x {} voxels of {} um ({} voxels)",
        spec.grid.nx,
        spec.grid.ny,
        spec.grid.nz,
        spec.grid.dx_um,
        spec.grid.len()
    );
    println!(
        "# time: {} steps of {} min, saving every {} steps",
        spec.steps, spec.dt_min, spec.save_every_steps
    );
    println!("# transport: {}", plan.describe());
    for (f, setup) in FIELDS.iter().zip(&spec.fields) {
        println!(
            "# field {:<11} {:<8} D={} um2/min decay={} /min chemotaxis={} boundary={:?}",
            f.name,
            f.kind.as_str(),
            setup.diffusivity,
            setup.decay,
            setup.chemotaxis,
            setup.boundary
        );
    }
    for spec_p in tmesim::model::params::PARAM_SPECS {
        let v = spec.params.get(spec_p.name).unwrap();
        let mark = if v != spec_p.default { "  (set)" } else { "" };
        println!("# param {} = {} {}{}", spec_p.name, v, spec_p.unit, mark);
    }
    for d in &spec.treatment.drugs {
        println!(
            "# drug {} ({}) from {}: terminal half-life {:.2} d, peak {:.3} mg/L",
            d.name,
            d.agent,
            d.file.display(),
            d.terminal_half_life_days,
            d.concentration.iter().cloned().fold(0.0, f64::max)
        );
    }
    for r in &spec.treatment.radiation {
        println!(
            "# radiotherapy {} from {}: {} x {} Gy on days {:?}; surviving fraction per fraction {:?}",
            r.name,
            r.file.display(),
            r.plan.fraction_days.len(),
            r.plan.dose_gy,
            r.plan.fraction_days,
            r.plan.survival
        );
    }
    println!("# ok: {} is valid", config.display());
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
    match context::select_adapter(&instance) {
        Ok(a)
            if context::is_software(&a.get_info())
                && std::env::var("WGPU_ADAPTER_NAME").is_err() =>
        {
            println!(
                "auto: CPU reference backend (only a software adapter: {})",
                a.get_info().name
            )
        }
        Ok(a) => println!("auto: {}", context::describe(&a.get_info())),
        Err(e) => println!("auto: CPU reference backend ({e})"),
    }
    println!("cpu: {} rayon threads", rayon::current_num_threads());
    Ok(())
}

fn cmd_params(markdown: bool) {
    let specs = tmesim::model::params::PARAM_SPECS;
    if markdown {
        println!("| parameter | default | allowed range | unit | meaning | source |");
        println!("|---|---|---|---|---|---|");
        for p in specs {
            println!(
                "| `{}` | {} | [{}, {}] | {} | {} | {} |",
                p.name, p.default, p.min, p.max, p.unit, p.description, p.source
            );
        }
    } else {
        for p in specs {
            println!(
                "{:<32} {:>10} [{}, {}] {}  -- {}",
                p.name, p.default, p.min, p.max, p.unit, p.description
            );
        }
    }
}
