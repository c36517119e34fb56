//! The scenario step: a scenario file becomes everything one run needs.
//! The phenotype is merged into the config first, the config is then
//! validated, and the treatment arm is resolved last, on the parameters the
//! phenotype set.

use crate::backend::plan::TransportPlan;
use crate::config::error::ConfigError;
use crate::config::load::load_config;
use crate::config::resolve::RunSpec;
use crate::config::schema::Config;
use crate::therapy::phenotype;
use crate::therapy::treatment::{RunFrame, Treatment};
use std::path::Path;

/// A validated scenario with its treatment arm and its transport plan.
#[derive(Clone, Debug)]
pub struct ArmSpec {
    pub spec: RunSpec,
    /// The treatment arm, tabulated on the steps of this run.
    pub treatment: Treatment,
    /// The run's schedule, computed once here and shared by the backend
    /// and the manifest.
    pub plan: TransportPlan,
}

/// Read, override and resolve a scenario in one call.
pub fn load(path: &Path, overrides: &[String]) -> Result<ArmSpec, ConfigError> {
    let config = load_config(path, overrides)?;
    resolve(config, path)
}

/// Phenotype, then validation, then treatment, for a config read from
/// `file` (relative paths resolve against its folder).
pub fn resolve(original: Config, file: &Path) -> Result<ArmSpec, ConfigError> {
    let mut config = original.clone();
    let origins = match &original.phenotype {
        Some(name) => phenotype::apply(&mut config, name, file)?,
        None => Vec::new(),
    };
    // A value the phenotype set is its file's fault, not the scenario's.
    let blame = |e: ConfigError| e.blame(&origins);
    let spec = crate::config::resolve::resolve(original, &config, file).map_err(blame)?;
    // The phenotype is in `spec.params` already.
    let treatment = Treatment::resolve(
        &config.arm,
        &config.therapy,
        &spec.params,
        &RunFrame {
            scenario: file,
            grid: &spec.grid,
            dt_min: config.time.dt_min,
            steps: spec.steps,
        },
    )
    .map_err(blame)?;
    let plan = TransportPlan::new(&spec);
    Ok(ArmSpec {
        spec,
        treatment,
        plan,
    })
}
