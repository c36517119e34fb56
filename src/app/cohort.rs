//! `tmesim cohort` and `tmesim cohort merge`: a virtual trial in a folder
//! (`cohort::runner`), and the shards of one joined.

use super::cli::Target;
use super::{default_out_dir, Outcome};
use crate::output::layout;
use crate::sim::launch;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// `tmesim cohort COHORT`: `--set cohort.*` changes the cohort file,
/// any other key the scenario of every patient.
/// A cohort file with `--set` overrides: keys under `cohort.` change the
/// file, any other key goes to every patient's scenario.
pub fn load_cohort(path: &Path, set: &[String]) -> Result<crate::cohort::spec::CohortSpec> {
    let (own, scenario): (Vec<String>, Vec<String>) = set
        .iter()
        .cloned()
        .partition(|s| s.trim_start().starts_with("cohort."));
    let mut cohort = crate::cohort::spec::load(path, &own)?;
    cohort.cohort.set.extend(scenario);
    Ok(cohort)
}

/// `tmesim check COHORT`: the cohort file checked whole, every arm of its
/// first patient resolved, and a summary printed.
pub fn check_cohort(path: &Path, set: &[String]) -> Result<()> {
    let cohort = load_cohort(path, set)?;
    let plan = crate::cohort::runner::Plan::new(&cohort)?;
    let first = crate::cohort::sample::patient(&cohort, 0);
    for arm in 0..cohort.arms.len() {
        plan.run_spec(&first, arm)?;
    }
    let c = &cohort.cohort;
    if let Some(t) = &c.trial {
        println!("# trial: {} ({})", t.name, t.indication);
        println!("# source: {}", t.source);
    }
    println!(
        "# {} patients x {} arm(s): {}",
        c.patients,
        cohort.arm_labels.len(),
        cohort.arm_labels.join(", ")
    );
    let r = &c.readout;
    println!(
        "# follow-up {} days; scans at days {:?}",
        plan.end_day,
        r.scan_days(plan.end_day)
    );
    for f in &c.figures {
        println!(
            "# figure {} {} = {} (n = {}): {}",
            f.arm,
            f.measure.as_str(),
            f.value,
            f.patients,
            f.source
        );
    }
    println!("# ok: {} is valid", path.display());
    Ok(())
}

pub fn cohort(
    path: &Path,
    set: &[String],
    shard: crate::cohort::runner::Shard,
    batch: Option<usize>,
    regions: &[PathBuf],
    target: &Target,
) -> Result<Outcome> {
    use crate::cohort::runner;
    let cohort = load_cohort(path, set)?;
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
        regions,
        progress: !target.quiet,
        stop: &interrupt,
    };
    let f = runner::run(&cohort, &opts)?;
    if regions.is_empty() {
        eprintln!(
            "{} patient-arm result(s) run now, {} kept from before",
            f.ran, f.kept
        );
    } else {
        let dirs: Vec<String> = regions.iter().map(|d| d.display().to_string()).collect();
        eprintln!(
            "{} patient-arm result(s) run now, {} read from the regions of {}, {} kept from before",
            f.ran,
            f.reread,
            dirs.join(", "),
            f.kept
        );
    }
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

/// `tmesim cohort merge DIR... --out DIR`.
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<Outcome> {
    crate::cohort::merge::merge(dirs, out, force)?;
    eprintln!(
        "merged {} folder(s): {}",
        dirs.len(),
        out.join(layout::REPORT).display()
    );
    Ok(Outcome::Complete)
}
