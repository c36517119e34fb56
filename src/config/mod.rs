//! Scenario configs: the TOML schema, loading with `--set` overrides, and
//! validation into a [`resolve::RunSpec`].

pub mod error;
pub mod load;
pub mod resolve;
pub mod schema;

use std::path::Path;

/// Read, override and validate a scenario in one call.
pub fn load_run_spec(
    path: &Path,
    overrides: &[String],
) -> Result<resolve::RunSpec, error::ConfigError> {
    let config = load::load_config(path, overrides)?;
    resolve::resolve(config, path)
}
