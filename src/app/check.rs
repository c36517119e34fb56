//! `tmesim check`: a scenario validated and printed as resolved.

use super::cli::Scenario;
use super::{check_arm, cli_arm, warn_slips};
use crate::model::fields::FIELDS;
use anyhow::{Context, Result};

/// Whether `path` is a cohort file (its top level is `[cohort]`).
fn is_cohort_file(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("cohort"))
}

/// `tmesim check CONFIG`: the resolved scenario printed, or its errors
/// with their file, key and flag.
pub fn check(scenario: &Scenario, arm: Option<&str>) -> Result<()> {
    let config = &scenario.config;
    if is_cohort_file(config) {
        return super::cohort::check_cohort(config, &scenario.set);
    }
    let arm = cli_arm(arm)?;
    check_arm("--arm", arm.as_deref(), config)?;
    let arm_spec = scenario.load(arm.as_deref())?;
    let spec = &arm_spec.spec;
    crate::config::initial::initial_state(spec)
        .map_err(|e| scenario.blame(e.into(), arm.as_deref()))?;
    warn_slips(spec);
    // Printed at once, and a reader that stops early (`tmesim check ... |
    // head -1`) is not an error (as in `params`).
    use std::fmt::Write as _;
    let mut out = String::new();
    macro_rules! text {
        ($($arg:tt)*) => {{
            let _ = writeln!(out, $($arg)*);
        }};
    }
    text!(
        "{}",
        toml::to_string_pretty(&spec.config).context("cannot print the config")?
    );
    text!("# resolved");
    text!(
        "# grid: {} x {} x {} voxels of {} um ({} voxels)",
        spec.grid.nx,
        spec.grid.ny,
        spec.grid.nz,
        spec.grid.dx_um,
        spec.grid.len()
    );
    text!(
        "# time: {} steps of {} min, saving every {} steps",
        spec.steps,
        spec.dt_min,
        spec.save_every_steps
    );
    text!("# transport: {}", arm_spec.plan.describe());
    for (f, setup) in FIELDS.iter().zip(&spec.fields) {
        text!(
            "# field {:<11} {:<8} D={} um2/min decay={} /min chemotaxis={} boundary={:?}",
            f.name,
            f.kind.as_str(),
            setup.diffusion,
            setup.decay,
            setup.chemotaxis,
            setup.boundary
        );
    }
    for spec_p in crate::model::params::PARAM_SPECS {
        let v = spec.params.get(spec_p.name).unwrap();
        let mark = if v != spec_p.default { "  (set)" } else { "" };
        text!("# param {} = {} {}{}", spec_p.name, v, spec_p.unit, mark);
    }
    for d in &arm_spec.treatment.drugs {
        text!(
            "# drug {} ({}) from {}: terminal half-life {:.2} d, peak {:.3} mg/L",
            d.name,
            d.agent,
            d.file.display(),
            d.terminal_half_life_days,
            d.concentration.iter().cloned().fold(0.0, f64::max)
        );
    }
    for r in &arm_spec.treatment.radiation {
        text!(
            "# radiotherapy {} from {}: {} x {} Gy on days {:?}; surviving fraction per fraction {:?}",
            r.name,
            r.file.display(),
            r.plan.fraction_days.len(),
            r.plan.dose_gy,
            r.plan.fraction_days,
            r.plan.survival
        );
    }
    text!("# ok: {} is valid", config.display());
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}
