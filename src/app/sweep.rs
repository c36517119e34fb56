//! `tmesim sweep` and `tmesim sensitivity`: a design over scenario keys
//! run into a folder (`cohort::sweep`), and its table printed.

use super::cli::{Axes, DesignChoice, Scenario, Target};
use super::{check_arm, cli_arm, default_out_dir, Outcome};
use crate::cohort::sweep::{self, axis, Design, Sweep};
use crate::output::layout;
use crate::sim::launch;
use anyhow::Result;
use std::path::Path;

/// `tmesim sweep`.
pub fn sweep(
    scenario: &Scenario,
    arm: Option<&str>,
    axes: &Axes,
    design: DesignChoice,
    points: usize,
    target: &Target,
) -> Result<Outcome> {
    let design = match design {
        DesignChoice::Grid => Design::Grid { levels: points },
        DesignChoice::Lhs => Design::Lhs { points },
    };
    run(scenario, arm, axes, design, target, "sweep")
}

/// `tmesim sensitivity` on a Saltelli or Morris design.
pub fn sensitivity(
    scenario: &Scenario,
    arm: Option<&str>,
    axes: &Axes,
    design: Design,
    target: &Target,
) -> Result<Outcome> {
    run(scenario, arm, axes, design, target, "sensitivity")
}

fn run(
    scenario: &Scenario,
    arm: Option<&str>,
    axes: &Axes,
    design: Design,
    target: &Target,
    command: &str,
) -> Result<Outcome> {
    let arm = cli_arm(arm)?;
    check_arm("--arm", arm.as_deref(), &scenario.config)?;
    // The scenario without the axes first: a bad --set or --phenotype is
    // blamed on its flag.
    scenario.load(arm.as_deref())?;
    let sweep = Sweep::new(
        scenario.config.clone(),
        scenario.overrides(arm.as_deref()),
        axis::parse_all("--vary", &axes.vary)?,
        design,
        axes.seed,
    )?;
    let out = target.out.clone().unwrap_or_else(|| {
        let stem = scenario
            .config
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        default_out_dir(Path::new(&format!("{command}-{stem}")))
    });
    let interrupt = launch::interrupt_flag()?;
    let opts = sweep::Options {
        out: &out,
        backend: target.backend,
        batch: axes.batch.map(|b| b as usize),
        force: target.force,
        progress: !target.quiet,
        stop: &interrupt,
    };
    let f = sweep::run(&sweep, &opts)?;
    eprintln!("{} point(s) run now, {} kept from before", f.ran, f.kept);
    if !f.complete {
        eprintln!(
            "interrupted: the finished points are kept in {0}; the same command with --out {0} \
             continues",
            out.display()
        );
        return Ok(Outcome::Interrupted);
    }
    let table = match design {
        Design::Saltelli { .. } => layout::SOBOL_CSV,
        Design::Morris { .. } => layout::MORRIS_CSV,
        _ => layout::SWEEP_CSV,
    };
    println!("{}", std::fs::read_to_string(out.join(table))?.trim_end());
    eprintln!("{}: {}", command, out.join(layout::SWEEP_CSV).display());
    Ok(Outcome::Complete)
}
