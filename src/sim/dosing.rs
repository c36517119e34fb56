//! Built-in dosing: one-compartment pharmacokinetics with first-order
//! elimination, doses as instantaneous boluses, and receptor occupancy
//! C / (C + EC50) written into the parameter the drug names. Computed on
//! the host per step and uploaded with the parameters (no readback).

use crate::config::resolve::Drug;
use crate::model::params::ModelParams;

/// Plasma concentration (mg/L) of `drug` at `t_day`.
pub fn concentration(drug: &Drug, t_day: f64) -> f64 {
    let d = &drug.config;
    if t_day < d.start_day || d.dose_mg <= 0.0 {
        return 0.0;
    }
    let k = std::f64::consts::LN_2 / d.half_life_days;
    let given = ((t_day - d.start_day) / d.interval_days + 1e-9).floor() as i64 + 1;
    let doses = if d.doses > 0 {
        given.min(d.doses)
    } else {
        given
    };
    (0..doses)
        .map(|j| {
            let since = t_day - (d.start_day + j as f64 * d.interval_days);
            d.dose_mg / d.volume_l * (-k * since).exp()
        })
        .sum()
}

pub fn occupancy(drug: &Drug, t_day: f64) -> f64 {
    let c = concentration(drug, t_day);
    c / (c + drug.config.ec50_mg_per_l)
}

/// Parameters at `t_day`: the configured values with each drug's occupancy
/// combined in (independent blockade: 1 - prod(1 - occupancy)).
pub fn params_at(base: &ModelParams, drugs: &[Drug], t_day: f64) -> ModelParams {
    let mut p = *base;
    for drug in drugs {
        let occ = occupancy(drug, t_day) as f32;
        let slot = p
            .get_mut(&drug.config.occupancy_param)
            .expect("validated parameter name");
        *slot = 1.0 - (1.0 - *slot) * (1.0 - occ);
    }
    p
}

/// Column names and values for the time series.
pub fn columns(drugs: &[Drug]) -> Vec<String> {
    drugs
        .iter()
        .flat_map(|d| {
            [
                format!("{}_conc_mg_per_l", d.name),
                format!("{}_occupancy", d.name),
            ]
        })
        .collect()
}

pub fn values(drugs: &[Drug], t_day: f64) -> Vec<f64> {
    drugs
        .iter()
        .flat_map(|d| [concentration(d, t_day), occupancy(d, t_day)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::DrugConfig;

    fn pembro() -> Drug {
        Drug {
            name: "anti_pd1".into(),
            config: DrugConfig::default(),
        }
    }

    #[test]
    fn bolus_then_half_life_decay() {
        let d = pembro();
        let c0 = concentration(&d, 0.0);
        assert!((c0 - 200.0 / 6.0).abs() < 1e-9);
        let c_half = concentration(&d, 22.0 - 1e-6);
        // Day 21 brings the second dose; just before day 21 one half-life
        // has not passed yet, and after day 22 two doses overlap.
        assert!(concentration(&d, 20.999) > c0 / 2.0);
        assert!(c_half > c0 / 2.0, "second dose adds on top");
        assert_eq!(concentration(&d, -1.0), 0.0);
    }

    #[test]
    fn limited_doses_stop() {
        let mut d = pembro();
        d.config.doses = 1;
        let k = std::f64::consts::LN_2 / 22.0;
        let c = concentration(&d, 30.0);
        assert!((c - 200.0 / 6.0 * (-k * 30.0).exp()).abs() < 1e-9);
    }

    #[test]
    fn occupancy_reaches_the_named_parameter() {
        let d = pembro();
        let p = params_at(&ModelParams::default(), &[d], 1.0);
        assert!(p.pd1_occupancy > 0.95 && p.pd1_occupancy < 1.0);
        let p0 = params_at(&ModelParams::default(), &[], 1.0);
        assert_eq!(p0.pd1_occupancy, 0.0);
    }
}
