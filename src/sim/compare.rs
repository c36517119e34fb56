//! A comparison of treatment arms on one scenario (`tmesim compare`): each
//! arm runs into its own folder of the comparison's folder, then one
//! summary table, burden plot and report page join them. With `resume`,
//! arms that finished before are kept and an arm that started continues
//! from its checkpoint.

use super::launch::{input_files, interrupt_flag, run_into, Launch};
use super::scenario::ArmSpec;
use crate::output::arms;
use crate::output::guard::{self, Existing, Kind};
use crate::output::layout;
use crate::output::manifest::Manifest;
use crate::output::timeseries::{equivalent_diameter_um, read_summaries, Summary};
use crate::therapy::treatment::{arm_label, parse_arm};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One arm's label and the summaries of its saved states.
pub type ArmResult = (String, Vec<Summary>);

/// How a comparison ended.
#[derive(Debug)]
pub struct Compared {
    /// The arms that finished, in order (fewer than asked after an
    /// interrupt).
    pub results: Vec<ArmResult>,
    pub arms: usize,
}

impl Compared {
    pub fn complete(&self) -> bool {
        self.results.len() == self.arms
    }
}

/// The arms of `--arms`: `;`-separated, each a `+`-joined therapy list.
/// Two arms that are the same treatment would share one folder: refused.
pub fn parse_arms(text: &str) -> Result<Vec<Vec<String>>> {
    let arms: Vec<Vec<String>> = text
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(parse_arm)
        .collect();
    if arms.is_empty() {
        anyhow::bail!("--arms lists no arm; e.g. --arms \"anti_pd1; anti_pd1+anti_lag3\"");
    }
    let labels: Vec<String> = arms.iter().map(|a| arm_label(a)).collect();
    for (i, l) in labels.iter().enumerate() {
        if labels[..i].contains(l) {
            anyhow::bail!(
                "--arms lists the arm `{l}` twice; each arm runs once, in a folder of its own"
            );
        }
    }
    Ok(arms)
}

/// Run every arm of `specs` (resolved from `scenario`) into `out`, then
/// write the comparison's summary.csv, burden plot and report.
/// `existing` is `Continue` to resume, `Replace` to start again, `Refuse`
/// for a folder that must not hold files yet.
pub fn compare(
    scenario: &Path,
    specs: &[ArmSpec],
    out: &Path,
    existing: Existing,
    launch: Launch,
) -> Result<Compared> {
    anyhow::ensure!(!specs.is_empty(), "a comparison needs at least one arm");
    let inputs: Vec<PathBuf> = specs.iter().flat_map(input_files).collect();
    let _lock = guard::prepare(out, Kind::Comparison, &inputs, existing)?;
    // The record of what this comparison writes, before any arm runs.
    let labels: Vec<String> = specs.iter().map(|s| s.treatment.label()).collect();
    guard::write_comparison(out, &labels)?;
    let resume = existing == Existing::Continue;
    let results = run_arms(specs, out, resume, launch)?;
    write_outputs(scenario, specs, &results, out)?;
    Ok(Compared {
        results,
        arms: specs.len(),
    })
}

/// Run each arm into its folder of `out` (keeping, with `resume`, the arms
/// that finished before); stops at an interrupt. Returns the summaries of
/// the arms that finished, labelled.
fn run_arms(specs: &[ArmSpec], out: &Path, resume: bool, launch: Launch) -> Result<Vec<ArmResult>> {
    let interrupt = interrupt_flag()?;
    let mut results = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        let label = spec.treatment.label();
        let arm_dir = out.join(&label);
        eprintln!("arm {}/{}: {label}", k + 1, specs.len());
        if resume {
            if let Some(summaries) = finished_arm(&arm_dir, spec)? {
                eprintln!("  already complete in {}; kept", arm_dir.display());
                results.push((label, summaries));
                continue;
            }
        }
        // An arm that started before continues; any other starts afresh.
        let continues = resume && arm_dir.join(layout::MANIFEST).is_file();
        let existing = if continues {
            Existing::Continue
        } else {
            Existing::Replace
        };
        let report = run_into(spec, &arm_dir, launch, &interrupt, existing, continues)?;
        if !report.completed {
            eprintln!(
                "interrupted: the summary covers the arms finished so far; continue with the same command and --resume"
            );
            break;
        }
        results.push((label, report.summaries));
    }
    Ok(results)
}

/// The summaries of an arm that finished in `dir` with this scenario.
fn finished_arm(dir: &Path, spec: &ArmSpec) -> Result<Option<Vec<Summary>>> {
    let Ok(m) = Manifest::read(dir) else {
        return Ok(None);
    };
    if m.status != "complete" {
        return Ok(None);
    }
    if m.config_hash != super::checkpoint::fingerprint(spec) {
        anyhow::bail!(
            "{} holds a complete run of another scenario; use --force instead of --resume to run the comparison again",
            dir.display()
        );
    }
    read_summaries(&dir.join(layout::TIMESERIES_CSV)).map(Some)
}

/// The comparison's summary table, burden plot and report page.
fn write_outputs(
    scenario: &Path,
    specs: &[ArmSpec],
    results: &[ArmResult],
    out: &Path,
) -> Result<()> {
    // Less tumour than one full voxel counts as a complete response.
    let grid = &specs[0].spec.grid;
    let cr = equivalent_diameter_um(grid, grid.voxel_measure());
    let metrics: Vec<_> = results
        .iter()
        .map(|(label, s)| (label.clone(), arms::metrics(s, cr)))
        .collect();
    let summary_csv = out.join(layout::SUMMARY_CSV);
    arms::write_summary(&summary_csv, &metrics)
        .with_context(|| format!("cannot write {}", summary_csv.display()))?;
    let title = match &specs[0].spec.config.phenotype {
        Some(p) => format!(
            "Tumour burden by arm: {}, phenotype {p}",
            scenario.display()
        ),
        None => format!("Tumour burden by arm: {}", scenario.display()),
    };
    arms::plot_burden(&out.join(layout::BURDEN_PNG), results, &title)?;
    let links: Vec<(String, PathBuf)> = results
        .iter()
        .map(|(label, _)| (label.clone(), PathBuf::from(label)))
        .collect();
    crate::output::report::write_compare_report(
        out,
        &links,
        &[PathBuf::from(layout::BURDEN_PNG)],
        Path::new(layout::SUMMARY_CSV),
    )
}
