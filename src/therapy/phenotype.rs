//! Applying a resistance phenotype to a scenario: its parameter changes
//! (set, scale, add; relative to the scenario's value or the registry
//! default) and its field settings (maps such as a PI3K-active clone),
//! merged before the scenario is validated, so every range check applies
//! to the result.

use super::effects::{apply as apply_effects, resolve_effect};
use super::library::{find, Kind};
use super::schema::PhenotypeConfig;
use crate::config::error::{At, ConfigError};
use crate::config::load::parse_toml;
use crate::config::schema::{Config, FieldConfig};
use crate::model::fields::{field_index, FIELDS};
use crate::model::params::ModelParams;
use std::path::{Path, PathBuf};

/// Which file set each key a phenotype changed: (key prefix, file).
pub type Origins = Vec<(String, PathBuf)>;

/// Load phenotype `name` (named by `scenario`) and apply it to `config`.
/// Returns the keys it set, with the file that set each, so a value out of
/// range is reported against the phenotype file.
pub fn apply(config: &mut Config, name: &str, scenario: &Path) -> Result<Origins, ConfigError> {
    let mut origins = Vec::new();
    apply_chain(
        config,
        name,
        scenario,
        scenario,
        "phenotype",
        0,
        &mut origins,
    )?;
    Ok(origins)
}

/// Longest chain of `extends`.
const MAX_DEPTH: usize = 8;

fn apply_chain(
    config: &mut Config,
    name: &str,
    scenario: &Path,
    referrer: &Path,
    key: &str,
    depth: usize,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let dir = scenario.parent().unwrap_or(Path::new("."));
    let (path, text) = find(Kind::Phenotype, name, dir, referrer, key)?;
    if depth >= MAX_DEPTH {
        return Err(At::file(&path).invalid(
            "extends",
            format!("more than {MAX_DEPTH} phenotypes extend each other (a cycle?)"),
        ));
    }
    let phenotype: PhenotypeConfig = parse_toml(&text, &path)?;
    if let Some(base) = &phenotype.extends {
        apply_chain(config, base, scenario, &path, "extends", depth + 1, origins)?;
    }
    // Later files (the extending one) win, so they go first.
    for param in phenotype.change.iter().filter_map(|c| c.param.as_ref()) {
        origins.insert(0, (format!("params.{param}"), path.clone()));
    }
    for name in phenotype.fields.keys() {
        origins.insert(0, (format!("fields.{name}"), path.clone()));
    }
    apply_config(config, &phenotype, &path)
}

pub fn apply_config(
    config: &mut Config,
    phenotype: &PhenotypeConfig,
    path: &Path,
) -> Result<(), ConfigError> {
    for (k, change) in phenotype.change.iter().enumerate() {
        let effect = resolve_effect(change, path, &format!("change[{k}]"), true)?;
        let mut p = ModelParams::default();
        let name = effect.param.name();
        if let Some(&v) = config.params.get(name) {
            p[effect.param] = v as f32;
        }
        apply_effects(&mut p, [(&effect, 1.0)]);
        config
            .params
            .insert(name.to_string(), p[effect.param] as f64);
    }
    for (name, overlay) in &phenotype.fields {
        if field_index(name).is_none() {
            return Err(ConfigError::UnknownKey {
                file: path.into(),
                location: String::new(),
                key: format!("fields.{name}"),
                suggestion: crate::config::error::closest(name, FIELDS.iter().map(|f| f.name)),
                valid: FIELDS.iter().map(|f| f.name.to_string()).collect(),
            });
        }
        let target = config.fields.entry(name.clone()).or_default();
        merge(target, overlay);
    }
    Ok(())
}

fn merge(target: &mut FieldConfig, overlay: &FieldConfig) {
    let FieldConfig {
        diffusion_um2_per_min,
        decay_per_min,
        chemotaxis_um2_per_min,
        boundary,
        initial,
        display_max,
    } = overlay.clone();
    target.diffusion_um2_per_min = diffusion_um2_per_min.or(target.diffusion_um2_per_min);
    target.decay_per_min = decay_per_min.or(target.decay_per_min);
    target.chemotaxis_um2_per_min = chemotaxis_um2_per_min.or(target.chemotaxis_um2_per_min);
    target.boundary = boundary.or(target.boundary.take());
    target.initial = initial.or(target.initial.take());
    target.display_max = display_max.or(target.display_max);
}
