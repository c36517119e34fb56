//! `tmesim cohort merge`: join the folders of a cohort's shards into one
//! cohort folder, equal byte for byte to the folder a single process writes.
//! Every record is checked first (whole, of this cohort, computed by this
//! build for this scenario: its `run_fingerprint`), then the output folder
//! passes the folder guard, which refuses a shard (or a folder holding or
//! inside one) as the output.

use super::records;
use super::runner::{write_description, Plan, Shard};
use super::{sample, spec};
use crate::output::guard::{self, Existing, Kind};
use crate::output::{atomic, layout};
use crate::sim::checkpoint::fingerprint;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Merge the shard folders `dirs` into `out`.
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<()> {
    let Some(first) = dirs.first() else {
        bail!("give the shard folders to merge, e.g. tmesim cohort merge runs/shard-* --out runs/cohort");
    };
    // Refuse the output's place before reading anything: `--out /`, a
    // shard, a folder holding one.
    guard::refuse_place(out, dirs, false, &guard::Places::of_process())?;
    // No shard may be written while it is merged.
    let _reading = dirs
        .iter()
        .map(|d| guard::lock_for_reading(d))
        .collect::<Result<Vec<_>>>()?;
    let toml_of = |d: &Path| {
        let p = d.join(layout::COHORT_TOML);
        std::fs::read_to_string(&p)
            .with_context(|| format!("cannot read {} (not a cohort folder?)", p.display()))
    };
    let text = toml_of(first)?;
    for d in &dirs[1..] {
        if toml_of(d)? != text {
            bail!(
                "{} and {} hold different cohorts (their cohort.toml differ); merge shards of one cohort only",
                first.display(),
                d.display()
            );
        }
    }
    let cohort_file = first.join(layout::COHORT_TOML);
    let spec = spec::load(&cohort_file, &[])?;
    let plan = Plan::new(&spec)?;
    let records = checked_records(dirs, &spec, &plan)?;

    let existing = if force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let mut inputs: Vec<PathBuf> = dirs.to_vec();
    inputs.push(spec.scenario.clone());
    let _lock = guard::prepare(out, Kind::Cohort, &inputs, existing)?;
    // The record of the folder first, so an interrupted merge is one
    // `--force` clears.
    write_description(out, &spec, &plan, Shard::WHOLE, false)?;
    for (rel, bytes) in &records {
        let dest = out.join(rel);
        std::fs::create_dir_all(dest.parent().expect("records have a folder"))?;
        atomic::write(&dest, bytes).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    super::aggregate(out, &spec, plan.end_day)?;
    write_description(out, &spec, &plan, Shard::WHOLE, true)
}

/// Every record of the cohort from the shards, as bytes under its path in
/// a cohort folder. Each must read back whole, be the same in every shard
/// that holds it, and carry the fingerprint this build computes for that
/// patient on that arm (same scenario, same code); every patient-arm must
/// be found.
fn checked_records(
    dirs: &[PathBuf],
    spec: &spec::CohortSpec,
    plan: &Plan,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for i in 0..spec.cohort.patients {
        let patient = sample::patient(spec, i);
        for (a, arm) in spec.arm_labels.iter().enumerate() {
            let mut found: Option<(Vec<u8>, &Path)> = None;
            for d in dirs {
                let path = records::path(d, i, arm);
                let Some(record) = records::read(d, spec, i, arm)? else {
                    continue;
                };
                let expected = fingerprint(&plan.run_spec(&patient, a)?);
                if record.fingerprint != expected {
                    bail!(
                        "{} was computed by another tmesim build or scenario (run_fingerprint {}; \
                         this build computes {expected} for the cohort of {}); run that shard \
                         again with this tmesim (its `tmesim cohort ... --shard K/N --force`)",
                        path.display(),
                        record.fingerprint,
                        d.join(layout::COHORT_TOML).display()
                    );
                }
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                match &found {
                    Some((held, from)) if *held != bytes => bail!(
                        "{} differs between {} and {}: the shards ran different scenarios or versions",
                        path.strip_prefix(d).unwrap_or(&path).display(),
                        from.display(),
                        d.display()
                    ),
                    Some(_) => {}
                    None => found = Some((bytes, d)),
                }
            }
            match found {
                Some((bytes, _)) => out.push((records::path(Path::new(""), i, arm), bytes)),
                None => missing.push(format!("patient {i} on {arm}")),
            }
        }
    }
    if !missing.is_empty() {
        let shown: Vec<_> = missing.iter().take(5).cloned().collect();
        bail!(
            "in the shards given, the cohort lacks {} result(s): {}{}; merge every shard of the cohort, each complete",
            missing.len(),
            shown.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        );
    }
    Ok(out)
}
