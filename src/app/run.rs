//! `tmesim run`, `run --resume`, `status` and `compare`: runs launched
//! into folders (`sim::launch`, `sim::compare`) and the lines they end with.

use super::cli::{Scenario, Target};
use super::{check_arm, cli_arm, default_out_dir, warn_slips, Outcome};
use crate::model::grid::Grid;
use crate::output::guard::Existing;
use crate::output::layout;
use crate::sim::run::RunReport;
use crate::sim::{compare as comparison, launch};
use anyhow::{Context, Result};
use std::path::Path;

/// `tmesim run CONFIG`: the scenario (with `--arm`, `--phenotype`,
/// `--set`) run into its folder, a bad value blamed on its flag.
pub fn run(scenario: &Scenario, arm: Option<&str>, target: &Target) -> Result<Outcome> {
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
pub fn resume(dir: &Path, target: &Target) -> Result<Outcome> {
    let manifest = crate::output::manifest::Manifest::read(dir)?;
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
    let table = crate::output::tsplot::Table::read(&out.join(layout::TIMESERIES_CSV))?;
    let headline = crate::output::headline::Headline::from_table(&table, grid)?;
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
pub fn status(dir: &Path) -> Result<Outcome> {
    for line in launch::status(dir)? {
        println!("{line}");
    }
    Ok(Outcome::Complete)
}

/// `tmesim compare CONFIG --arms "A; B"`: every arm resolved first (a typo
/// in the last fails at once), then run into one folder each.
pub fn compare(scenario: &Scenario, arms: &str, resume: bool, target: &Target) -> Result<Outcome> {
    let arms = comparison::parse_arms(arms)?;
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
    let done = comparison::compare(&scenario.config, &specs, &out, existing, target.launch())?;
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
