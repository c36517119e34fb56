//! `tmesim cohort merge`: join the folders of a cohort's shards into one
//! cohort folder, equal byte for byte to the folder a single process writes.

use super::runner::{write_description, Plan, Shard};
use super::spec;
use crate::output::run_dir::{self, Existing};
use crate::output::{atomic, layout};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Merge the shard folders `dirs` into `out`.
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<()> {
    let Some(first) = dirs.first() else {
        bail!("give the shard folders to merge, e.g. tmesim cohort merge runs/shard-* --out runs/cohort");
    };
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
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let _lock = run_dir::prepare(out, &[], existing)?;
    let mut records: BTreeMap<PathBuf, (Vec<u8>, &Path)> = BTreeMap::new();
    for d in dirs {
        for (rel, bytes) in read_records(d)? {
            match records.get(&rel) {
                Some((held, from)) if *held != bytes => bail!(
                    "{} differs between {} and {}: the shards ran different scenarios or versions",
                    rel.display(),
                    from.display(),
                    d.display()
                ),
                _ => {
                    records.insert(rel, (bytes, d));
                }
            }
        }
    }
    for (rel, (bytes, _)) in &records {
        let dest = out.join(rel);
        std::fs::create_dir_all(dest.parent().expect("records have a folder"))?;
        atomic::write(&dest, bytes).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    let plan = Plan::new(&spec)?;
    write_description(out, &spec, &plan, Shard::WHOLE, false)?;
    super::aggregate(out, &spec, plan.end_day)?;
    write_description(out, &spec, &plan, Shard::WHOLE, true)
}

/// Every record file of a cohort folder: its path under the folder and bytes.
fn read_records(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let root = dir.join(layout::RECORDS_DIR);
    let mut out = Vec::new();
    let Ok(patients) = std::fs::read_dir(&root) else {
        return Ok(out);
    };
    for p in patients {
        let p = p?.path();
        for f in std::fs::read_dir(&p).with_context(|| format!("cannot read {}", p.display()))? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e == "csv") {
                let rel = f.strip_prefix(dir).expect("under dir").to_path_buf();
                out.push((
                    rel,
                    std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?,
                ));
            }
        }
    }
    Ok(out)
}
