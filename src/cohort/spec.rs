//! Cohort files (`configs/cohorts/<name>.toml`): the scenario a virtual
//! trial builds on, how many patients, the arms, the phenotype mix and the
//! distributions of patient parameters. Loaded with `--set` overrides and
//! checked whole before anything runs, with errors that name the file and
//! the key.

use super::dist::{check_mass, Dist, Parameter};
use super::lesion::{self, Readout};
use super::trial::{self, Figure, Trial};
use crate::config::error::{At, ConfigError};
use crate::config::load::parse_with_overrides;
use crate::model::params::ModelParams;
use crate::therapy::treatment::{arm_label, parse_arm};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most patients one cohort may hold.
pub const MAX_PATIENTS: u32 = 100_000;
/// Voxel size of the cohort grid when the file gives none, um. Chosen by
/// the grid study in docs/validation.md.
pub const DEFAULT_GRID_DX_UM: f64 = 30.0;

/// A cohort file: everything lives under `[cohort]`, so `--set
/// cohort.patients=20` reads as it does in the file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CohortFile {
    pub cohort: Cohort,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cohort {
    /// The scenario every patient builds on, relative to the cohort file.
    pub scenario: PathBuf,
    pub patients: u32,
    /// Seed of every patient's draws (patient i gets the same parameters
    /// whatever the cohort's size or sharding).
    pub seed: u64,
    /// Treatment arms, each a `+`-joined therapy list (`control` for none).
    pub arms: Vec<String>,
    /// The arm ORR gains are measured against (default: the first arm).
    #[serde(default)]
    pub reference: Option<String>,
    /// Voxel size of the patients' grid; the domain stays the scenario's.
    #[serde(default)]
    pub grid_dx_um: Option<f64>,
    /// Run every patient on the scenario's own grid instead.
    #[serde(default)]
    pub full_grid: bool,
    /// Scenario overrides applied to every patient, as `--set` takes them.
    #[serde(default)]
    pub set: Vec<String>,
    /// Weights of the phenotypes (configs/phenotypes) patients are drawn
    /// from; `none` is the scenario without a phenotype.
    pub phenotypes: BTreeMap<String, f64>,
    /// Patient parameters drawn per patient (`lesion.count` and
    /// `lesion.sum_mm` draw the target lesions, src/cohort/lesion.rs).
    #[serde(default, rename = "parameter")]
    pub parameters: Vec<Parameter>,
    /// Follow-up, scan schedule and RECIST protocol.
    #[serde(default)]
    pub readout: Readout,
    /// The published trial the cohort stands for, and its figures.
    #[serde(default)]
    pub trial: Option<Trial>,
    #[serde(default, rename = "figure")]
    pub figures: Vec<Figure>,
}

/// A checked cohort: the file's values plus what follows from them.
#[derive(Clone, Debug)]
pub struct CohortSpec {
    /// The cohort file as given.
    pub file: PathBuf,
    pub cohort: Cohort,
    /// The scenario file, resolved against the cohort file's folder.
    pub scenario: PathBuf,
    /// Every arm's therapies, in the file's order.
    pub arms: Vec<Vec<String>>,
    /// Labels of the arms (`anti_pd1+anti_lag3`), one per arm.
    pub arm_labels: Vec<String>,
    /// Index into `arms` of the reference arm.
    pub reference: usize,
    /// Phenotype names and their normalised weights, in name order.
    pub phenotypes: Vec<(String, f64)>,
    /// Per parameter, the truncation bounds in force.
    pub bounds: Vec<(f64, f64)>,
}

/// Load a cohort file with `--set` overrides (keys under `cohort.`).
pub fn load(path: &Path, overrides: &[String]) -> Result<CohortSpec, ConfigError> {
    let text = with_extended(path, 0)?;
    let parsed: CohortFile = parse_with_overrides(&text, path, overrides)?;
    check(parsed.cohort, path)
}

/// Longest chain of `cohort.extends`.
const MAX_EXTENDS: usize = 8;

/// The text of a cohort file; where it names `cohort.extends` (another
/// cohort file, relative to it), that file's keys with this file's over
/// them: tables merge key by key, `[[cohort.parameter]]` entries by their
/// `key` (a trial file redraws one parameter, such as its own lesion
/// burden, and keeps the rest), any other value (other arrays included)
/// replaces the extended one. Paths inside both files are read relative
/// to this one, so keep them in one folder.
fn with_extended(path: &Path, depth: usize) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        file: path.to_path_buf(),
        error,
    })?;
    let mut value: toml::Value = match toml::from_str(&text) {
        Ok(v) => v,
        // The typed parse reports it with its line.
        Err(_) => return Ok(text),
    };
    let Some(parent) = value
        .get_mut("cohort")
        .and_then(toml::Value::as_table_mut)
        .and_then(|c| c.remove("extends"))
    else {
        return Ok(text);
    };
    let Some(name) = parent.as_str() else {
        return Err(At::file(path).invalid("cohort.extends", "must be a file name (a string)"));
    };
    if depth >= MAX_EXTENDS {
        return Err(At::file(path).invalid(
            "cohort.extends",
            format!("more than {MAX_EXTENDS} files extend each other (a loop?)"),
        ));
    }
    let parent_path = path.parent().unwrap_or(Path::new(".")).join(name);
    let parent_text = with_extended(&parent_path, depth + 1)?;
    let mut merged: toml::Value = toml::from_str(&parent_text).map_err(|e| {
        At::file(path).invalid("cohort.extends", format!("{}: {e}", parent_path.display()))
    })?;
    merge(&mut merged, value);
    Ok(toml::to_string(&merged).expect("a TOML value prints"))
}

/// `over`'s keys over `base`'s: tables merge, the cohort's parameter
/// draws merge by key, other values replace.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(toml::Value::Array(draws)) if k == "parameter" && v.is_array() => {
                        merge_draws(draws, v);
                    }
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// `[[cohort.parameter]]` of an extending file over the extended one's: an
/// entry with the `key` of an existing one replaces it in place (so every
/// other draw keeps its position and its values), a new key is appended.
fn merge_draws(base: &mut Vec<toml::Value>, over: toml::Value) {
    let key = |v: &toml::Value| {
        v.get("key")
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
    };
    for entry in over.as_array().into_iter().flatten() {
        let same = key(entry).and_then(|k| base.iter().position(|b| key(b).as_ref() == Some(&k)));
        match same {
            Some(at) => base[at] = entry.clone(),
            None => base.push(entry.clone()),
        }
    }
}

fn check(cohort: Cohort, file: &Path) -> Result<CohortSpec, ConfigError> {
    if !(1..=MAX_PATIENTS).contains(&cohort.patients) {
        return Err(ConfigError::OutOfRange {
            file: file.to_path_buf(),
            key: "cohort.patients".into(),
            value: cohort.patients as f64,
            min: 1.0,
            max: MAX_PATIENTS as f64,
        });
    }
    if let Some(dx) = cohort.grid_dx_um {
        if !(dx.is_finite() && (1.0..=1000.0).contains(&dx)) {
            return Err(ConfigError::OutOfRange {
                file: file.to_path_buf(),
                key: "cohort.grid_dx_um".into(),
                value: dx,
                min: 1.0,
                max: 1000.0,
            });
        }
    }
    let (arms, arm_labels) = check_arms(&cohort, file)?;
    if !cohort.figures.is_empty() && cohort.trial.is_none() {
        return Err(At::file(file).invalid(
            "cohort.trial",
            "is missing: figures belong to a trial; give its name, indication and source",
        ));
    }
    if let Some(t) = &cohort.trial {
        if t.source.trim().is_empty() {
            return Err(At::file(file).invalid(
                "cohort.trial.source",
                "is empty: name the trial's primary publication",
            ));
        }
    }
    trial::check(
        &cohort.figures,
        &arm_labels,
        |a| arm_label(&parse_arm(a)),
        file,
    )?;
    let reference = match &cohort.reference {
        None => 0,
        Some(r) => {
            let label = arm_label(&parse_arm(r));
            arm_labels.iter().position(|l| *l == label).ok_or_else(|| {
                At::file(file).invalid(
                    "cohort.reference",
                    format!("`{r}` is not one of the arms ({})", arm_labels.join(", ")),
                )
            })?
        }
    };
    let scenario = file
        .parent()
        .unwrap_or(Path::new("."))
        .join(&cohort.scenario);
    let scenario_dir = scenario.parent().unwrap_or(Path::new("."));
    let phenotypes = check_phenotypes(&cohort, file, scenario_dir)?;
    let bounds = cohort
        .parameters
        .iter()
        .enumerate()
        .map(|(i, p)| check_parameter(p, &format!("cohort.parameter[{i}]"), file))
        .collect::<Result<Vec<_>, _>>()?;
    check_readout(&cohort.readout, file)?;
    check_lesions(&cohort.parameters, &bounds, file)?;
    for (i, p) in cohort.parameters.iter().enumerate() {
        if cohort.parameters[..i].iter().any(|q| q.key == p.key) {
            return Err(At::file(file).invalid(
                format!("cohort.parameter[{i}].key"),
                format!("`{}` is drawn twice; give each key one distribution", p.key),
            ));
        }
    }
    Ok(CohortSpec {
        file: file.to_path_buf(),
        scenario,
        arms,
        arm_labels,
        reference,
        phenotypes,
        bounds,
        cohort,
    })
}

fn check_arms(
    cohort: &Cohort,
    file: &Path,
) -> Result<(Vec<Vec<String>>, Vec<String>), ConfigError> {
    if cohort.arms.is_empty() {
        return Err(At::file(file).invalid(
            "cohort.arms",
            "lists no arm; e.g. arms = [\"anti_pd1\", \"anti_pd1+anti_lag3\"]",
        ));
    }
    let mut arms = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for (i, text) in cohort.arms.iter().enumerate() {
        let key = format!("cohort.arms[{i}]");
        if text.trim().is_empty() {
            return Err(At::file(file).invalid(key, "is empty; write `control` for no treatment"));
        }
        let arm = parse_arm(text);
        crate::therapy::library::check_arm(&key, &arm, file)
            .map_err(|message| At::file(file).invalid(key.clone(), message))?;
        let label = arm_label(&arm);
        if labels.contains(&label) {
            return Err(At::file(file).invalid(key, format!("the arm `{label}` is listed twice")));
        }
        labels.push(label);
        arms.push(arm);
    }
    Ok((arms, labels))
}

fn check_phenotypes(
    cohort: &Cohort,
    file: &Path,
    scenario_dir: &Path,
) -> Result<Vec<(String, f64)>, ConfigError> {
    use crate::therapy::library::{find, Kind};
    for (name, &w) in &cohort.phenotypes {
        let key = format!("cohort.phenotypes.{name}");
        if name != "none" {
            find(Kind::Phenotype, name, scenario_dir, file, &key)?;
        }
        if !(w.is_finite() && w >= 0.0) {
            return Err(At::file(file).invalid(key, format!("weight {w} must be 0 or more")));
        }
    }
    let total: f64 = cohort.phenotypes.values().sum();
    if total <= 0.0 {
        return Err(At::file(file).invalid(
            "cohort.phenotypes",
            "needs at least one phenotype with a positive weight, e.g. responsive = 1.0",
        ));
    }
    Ok(cohort
        .phenotypes
        .iter()
        .map(|(n, w)| (n.clone(), w / total))
        .collect())
}

fn check_readout(r: &Readout, file: &Path) -> Result<(), ConfigError> {
    for (&(key, min, max), value) in lesion::RANGES.iter().zip(r.values()) {
        match value {
            Some(v) if !(v.is_finite() && (min..=max).contains(&v)) => {
                return Err(ConfigError::OutOfRange {
                    file: file.to_path_buf(),
                    key: format!("cohort.readout.{key}"),
                    value: v,
                    min,
                    max,
                })
            }
            _ => {}
        }
    }
    if r.scan_days(r.end_day()).is_empty() {
        let key = if r.first_scan_weeks.is_some() {
            "first_scan_weeks"
        } else {
            "scan_every_weeks"
        };
        return Err(At::file(file).invalid(
            format!("cohort.readout.{key}"),
            format!(
                "no scan falls within the follow-up of {} weeks (`cohort.readout.weeks`): \
                 RECIST needs a scan after baseline",
                r.weeks
            ),
        ));
    }
    Ok(())
}

/// The lesion draws: at most five target lesions, each measurable (10 mm
/// or more) however the count and the sum fall.
fn check_lesions(
    parameters: &[Parameter],
    bounds: &[(f64, f64)],
    file: &Path,
) -> Result<(), ConfigError> {
    use crate::output::recist::MEASURABLE_MM;
    let find = |key: &str| parameters.iter().position(|p| p.key == key);
    let known = [lesion::COUNT_KEY, lesion::SUM_KEY];
    if let Some(i) = parameters
        .iter()
        .position(|p| p.key.starts_with("lesion.") && !known.contains(&p.key.as_str()))
    {
        return Err(ConfigError::UnknownValue {
            file: file.to_path_buf(),
            location: String::new(),
            key: format!("cohort.parameter[{i}].key"),
            value: parameters[i].key.clone(),
            reason: "is no lesion draw".into(),
            suggestion: crate::config::error::closest(&parameters[i].key, known.iter().copied()),
            valid: known.iter().map(|k| k.to_string()).collect(),
        });
    }
    let count = find(lesion::COUNT_KEY);
    let (_, most) = match count {
        Some(i) => {
            let (lo, hi) = bounds[i];
            if !parameters[i].integer || lo < 1.0 || hi > lesion::MAX_TARGETS {
                return Err(At::file(file).invalid(
                    format!("cohort.parameter[{i}]"),
                    format!(
                        "`{}` draws the number of target lesions: give `integer = true` and \
                         bounds within [1, {}] (RECIST 1.1 takes at most five)",
                        lesion::COUNT_KEY,
                        lesion::MAX_TARGETS
                    ),
                ));
            }
            (lo, hi.floor())
        }
        None => (1.0, lesion::DEFAULT_LESIONS.count as f64),
    };
    if let Some(i) = find(lesion::SUM_KEY) {
        let (lo, _) = bounds[i];
        if lo < MEASURABLE_MM * most {
            return Err(At::file(file).invalid(
                format!("cohort.parameter[{i}].min"),
                format!(
                    "`{}` must stay at {} mm or more: RECIST 1.1 measures lesions of \
                     {MEASURABLE_MM} mm or more, and a patient may have {most} target lesions \
                     of equal size (the bound in force is {lo})",
                    lesion::SUM_KEY,
                    MEASURABLE_MM * most
                ),
            ));
        }
    } else if count.is_some() && lesion::DEFAULT_LESIONS.sum_mm < MEASURABLE_MM * most {
        return Err(At::file(file).invalid(
            format!("cohort.parameter[{}]", count.unwrap_or(0)),
            format!(
                "draws up to {most} target lesions; give `{}` a distribution of 10 mm per \
                 lesion or more",
                lesion::SUM_KEY
            ),
        ));
    }
    Ok(())
}

/// The bounds draws of `p` are truncated to, after checking its numbers.
fn check_parameter(p: &Parameter, at: &str, file: &Path) -> Result<(f64, f64), ConfigError> {
    let need = |v: Option<f64>, name: &str| {
        v.ok_or_else(|| {
            At::file(file).invalid(
                format!("{at}.{name}"),
                format!("a {:?} distribution needs `{name}`", p.dist).to_lowercase(),
            )
        })
    };
    let positive = |v: f64, name: &str| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(At::file(file).invalid(
                format!("{at}.{name}"),
                format!("{v} must be a positive number"),
            ))
        }
    };
    match p.dist {
        Dist::Lognormal => {
            positive(need(p.median, "median")?, "median")?;
            let s = need(p.sigma, "sigma")?;
            if !(s.is_finite() && s >= 0.0) {
                return Err(
                    At::file(file).invalid(format!("{at}.sigma"), format!("{s} must be 0 or more"))
                );
            }
        }
        Dist::Normal => {
            let m = need(p.mean, "mean")?;
            if !m.is_finite() {
                return Err(At::file(file).invalid(format!("{at}.mean"), "must be a finite number"));
            }
            let s = need(p.sd, "sd")?;
            if !(s.is_finite() && s >= 0.0) {
                return Err(
                    At::file(file).invalid(format!("{at}.sd"), format!("{s} must be 0 or more"))
                );
            }
        }
        Dist::Uniform => {
            need(p.min, "min")?;
            need(p.max, "max")?;
        }
    }
    let registry = p
        .key
        .strip_prefix("params.")
        .map(|name| {
            ModelParams::spec(name).ok_or_else(|| ConfigError::UnknownValue {
                file: file.to_path_buf(),
                location: String::new(),
                key: format!("{at}.key"),
                value: p.key.clone(),
                reason: "names no parameter of the registry (`tmesim params` lists them)".into(),
                suggestion: crate::config::error::closest(
                    name,
                    crate::model::params::PARAM_SPECS.iter().map(|s| s.name),
                )
                .map(|s| format!("params.{s}")),
                valid: Vec::new(),
            })
        })
        .transpose()?
        .map(|spec| spec.range_f64());
    let (mut lo, mut hi) = registry.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    if let Some(min) = p.min {
        lo = lo.max(min);
    }
    if let Some(max) = p.max {
        hi = hi.min(max);
    }
    if lo.is_nan() || hi.is_nan() || lo > hi {
        let range = registry
            .map(|(a, b)| format!("; the registry allows [{a}, {b}]"))
            .unwrap_or_default();
        return Err(At::file(file).invalid(
            format!("{at}.min"),
            format!("the bounds [{lo}, {hi}] hold no value{range}"),
        ));
    }
    if p.dist == Dist::Uniform && !(lo.is_finite() && hi.is_finite()) {
        return Err(At::file(file).invalid(
            format!("{at}.min"),
            "a uniform distribution needs finite bounds",
        ));
    }
    check_mass(p, (lo, hi)).map_err(|m| At::file(file).invalid(at, m))?;
    Ok((lo, hi))
}

impl CohortSpec {
    /// The voxel size patients run at, or None for the scenario's grid.
    pub fn grid_dx_um(&self) -> Option<f64> {
        if self.cohort.full_grid {
            None
        } else {
            Some(self.cohort.grid_dx_um.unwrap_or(DEFAULT_GRID_DX_UM))
        }
    }

    pub fn reference_label(&self) -> &str {
        &self.arm_labels[self.reference]
    }
}
