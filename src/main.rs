//! The `tmesim` command line: run, render, check, info and params.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tmesim::config::load_run_spec;
use tmesim::gpu::context;
use tmesim::model::fields::FIELDS;
use tmesim::model::init::initial_state;
use tmesim::sim::plan::TransportPlan;
use tmesim::sim::run::{run, RunOptions};
use tmesim::sim::select::{make_backend, BackendChoice};

#[derive(Parser)]
#[command(
    name = "tmesim",
    version,
    about = "Tumour microenvironment reaction-diffusion simulator (PD-1 immunotherapy)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write frames, time series and a manifest.
    Run {
        /// Scenario file (TOML), e.g. configs/baseline.toml.
        config: PathBuf,
        /// Output folder (default: a new folder under outputs/).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendChoice,
        /// Override any config key, e.g. --set time.end_days=10 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Redraw frames, montage, composite, time-lapses, timeseries.png and
    /// report.html of a finished run from its .npy fields and manifest.json.
    Render {
        /// The run folder (it holds manifest.json).
        run_dir: PathBuf,
        /// Only these fields (and/or "montage", "composite"), comma separated.
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        /// Write GIF time-lapses.
        #[arg(long)]
        gif: bool,
        /// Write animated PNG time-lapses.
        #[arg(long)]
        apng: bool,
        /// Time-lapse frame rate (default: the run's output.fps).
        #[arg(long)]
        fps: Option<f32>,
    },
    /// Validate a scenario and print the resolved config.
    Check {
        config: PathBuf,
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

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            out,
            backend,
            set,
            quiet,
        } => cmd_run(&config, out, backend, &set, quiet),
        Command::Render {
            run_dir,
            fields,
            gif,
            apng,
            fps,
        } => cmd_render(&run_dir, fields, gif, apng, fps),
        Command::Check { config, set } => cmd_check(&config, &set),
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

fn default_out_dir(config: &Path) -> PathBuf {
    let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("outputs").join(format!("{stem}-{stamp}"))
}

fn cmd_run(
    config: &Path,
    out: Option<PathBuf>,
    choice: BackendChoice,
    set: &[String],
    quiet: bool,
) -> Result<()> {
    let spec = load_run_spec(config, set)?;
    let state = initial_state(&spec)?;
    let out = out.unwrap_or_else(|| default_out_dir(config));
    let (mut backend, notice) = make_backend(choice, &spec)?;
    if let Some(notice) = notice {
        eprintln!("note: {notice}");
    }
    eprintln!(
        "tmesim: {} on {} | grid {}x{}x{} at {} um | {} steps of {} min | output {}",
        config.display(),
        backend.device_name(),
        spec.grid.nx,
        spec.grid.ny,
        spec.grid.nz,
        spec.grid.dx_um,
        spec.steps,
        spec.dt_min,
        out.display()
    );
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        // First Ctrl-C: finish the current batch, save, and stop cleanly.
        // Second: exit at once.
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: saving the current state and stopping (Ctrl-C again to abort)");
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let report = run(
        &spec,
        state,
        backend.as_mut(),
        &RunOptions {
            out_dir: &out,
            progress: !quiet,
            interrupt: Some(&interrupt),
        },
    )?;
    let last = report.summaries.last().context("no state saved")?;
    let first = &report.summaries[0];
    eprintln!(
        "{} after {} steps in {:.1} s: day {:.1}, tumour equivalent diameter {:.0} um (start {:.0} um), outputs in {}",
        if report.completed { "done" } else { "interrupted" },
        report.steps_done,
        report.wall_time_s,
        last.time_days,
        last.equivalent_diameter_um,
        first.equivalent_diameter_um,
        out.display()
    );
    if !report.completed {
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
) -> Result<()> {
    if let Some(f) = fps {
        anyhow::ensure!(f > 0.0 && f <= 100.0, "--fps must be in (0, 100], got {f}");
    }
    let opts = tmesim::output::render::RenderOptions {
        only,
        gif,
        apng,
        fps,
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

fn cmd_check(config: &Path, set: &[String]) -> Result<()> {
    let spec = load_run_spec(config, set)?;
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
