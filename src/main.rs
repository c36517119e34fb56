//! The `tmesim` command line: the arguments (`tmesim::app::cli`) parsed,
//! and one call per command into the library (`tmesim::app`).

use clap::Parser;
use tmesim::app::cli::{Cli, CohortAction, Command, MethodChoice, Scenario};
use tmesim::app::{self, Outcome};
use tmesim::cohort::sweep::Design;
use tmesim::output::animate::Thin;
use tmesim::sim::launch::EXIT_INTERRUPTED;

fn main() {
    // Before any thread or driver starts (src/gpu/runtime_dir.rs).
    tmesim::gpu::runtime_dir::ensure();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    // Subnormals flushed on this thread and every pool thread (src/cpu/fp.rs).
    tmesim::cpu::fp::flush_subnormals();
    let threads = cli.threads.map_or(0, |n| n as usize);
    if let Err(e) = tmesim::cpu::fp::pool(threads).build_global() {
        eprintln!("error: --threads {threads}: {e}");
        std::process::exit(2);
    }
    let done = |r: anyhow::Result<()>| r.map(|()| Outcome::Complete);
    let result = match cli.command {
        Command::Run {
            resume: Some(dir),
            target,
            ..
        } => app::resume(&dir, &target),
        Command::Run {
            config,
            phenotype,
            set,
            arm,
            resume: None,
            target,
        } => app::run(
            &Scenario {
                config: config.expect("clap requires a config or --resume"),
                phenotype,
                set,
            },
            arm.as_deref(),
            &target,
        ),
        Command::Compare {
            scenario,
            arms,
            resume,
            target,
        } => app::compare(&scenario, &arms, resume, &target),
        Command::Cohort {
            action: Some(CohortAction::Merge { dirs, out, force }),
            ..
        } => app::merge(&dirs, &out, force),
        Command::Cohort {
            action: None,
            cohort,
            set,
            shard,
            batch,
            regions,
            target,
        } => app::cohort(
            &cohort.expect("clap requires a cohort file"),
            &set,
            shard.unwrap_or(tmesim::cohort::runner::Shard::WHOLE),
            batch.map(|b| b as usize),
            &regions,
            &target,
        ),
        Command::Sweep {
            scenario,
            arm,
            axes,
            design,
            points,
            target,
        } => app::sweep(&scenario, arm.as_deref(), &axes, design, points, &target),
        Command::Sensitivity {
            scenario,
            arm,
            axes,
            method,
            base_samples,
            trajectories,
            target,
        } => {
            let design = match method {
                MethodChoice::Sobol => Design::Saltelli { base: base_samples },
                MethodChoice::Morris => Design::Morris { trajectories },
            };
            app::sensitivity(&scenario, arm.as_deref(), &axes, design, &target)
        }
        Command::Status { run_dir } => app::status(&run_dir),
        Command::Render {
            run_dir,
            fields,
            gif,
            apng,
            fps,
            every,
            scale,
        } => done(app::render(
            &run_dir,
            fields,
            gif,
            apng,
            fps,
            Thin {
                every: every as usize,
                scale,
            },
        )),
        Command::Check { scenario, arm } => done(app::check(&scenario, arm.as_deref())),
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
        } => done(tmesim::bench::run(&tmesim::bench::Options {
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
        })),
        Command::Info => done(app::info()),
        Command::Params { markdown } => done(app::params(markdown)),
    };
    match result {
        Ok(Outcome::Complete) => {}
        Ok(Outcome::Interrupted) => std::process::exit(EXIT_INTERRUPTED),
        Err(e) => {
            eprintln!("error: {}", tmesim::output::atomic::describe(&e));
            std::process::exit(1);
        }
    }
}
