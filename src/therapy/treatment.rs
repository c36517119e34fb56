//! A treatment arm resolved against a run: each drug's concentration on
//! the step grid, its exposure, and the parameters of every step.

use super::effects::{apply, resolve_effect, ParamEffect};
use super::library::{find, Kind};
use super::pk::{concentration_table, Rates};
use super::radiation::RadiationPlan;
use super::schema::{Pk, Response, ResponseModel, Route, Schedule, TherapyConfig};
use crate::config::error::{At, ConfigError};
use crate::config::load::{parse_toml, parse_value};
use crate::model::grid::Grid;
use crate::model::params::{ModelParams, ParamId, MIN_PER_DAY};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A drug of the arm, tabulated on the run's steps.
#[derive(Clone, Debug)]
pub struct DrugPlan {
    pub name: String,
    pub agent: String,
    pub file: PathBuf,
    /// Plasma concentration (mg/L) at the start of each step, 0..=steps.
    pub concentration: Vec<f64>,
    pub response: Response,
    pub effects: Vec<ParamEffect>,
    pub terminal_half_life_days: f64,
}

impl DrugPlan {
    /// Plasma concentration at the start of `step` (the last tabulated
    /// value past the end of the run).
    pub fn concentration_at(&self, step: u64) -> f64 {
        self.concentration[(step as usize).min(self.concentration.len() - 1)]
    }

    pub fn exposure(&self, step: u64) -> f64 {
        exposure(&self.response, self.concentration_at(step))
    }
}

/// Exposure in [0, 1] (times Emax) at plasma concentration `c`, mg/L.
pub fn exposure(r: &Response, c: f64) -> f64 {
    match r.model {
        ResponseModel::Occupancy => c / (c + r.ec50_mg_per_l),
        ResponseModel::Emax => {
            let x = c.max(0.0).powf(r.hill);
            r.emax * x / (x + r.ec50_mg_per_l.powf(r.hill))
        }
    }
}

#[derive(Clone, Debug)]
pub struct RadiationCourse {
    pub name: String,
    pub file: PathBuf,
    pub plan: RadiationPlan,
}

/// The therapies of one arm.
#[derive(Clone, Debug, Default)]
pub struct Treatment {
    /// Therapy names in arm order.
    pub arm: Vec<String>,
    pub drugs: Vec<DrugPlan>,
    pub radiation: Vec<RadiationCourse>,
    dt_days: f64,
}

/// Most drugs of one arm acting on one parameter: the range check visits
/// every corner of their exposure box, 2^n parameter sets.
const MAX_DRUGS_PER_PARAM: usize = 16;

/// The largest exposure a drug reaches.
fn max_exposure(d: &DrugPlan) -> f64 {
    match d.response.model {
        ResponseModel::Occupancy => 1.0,
        ResponseModel::Emax => d.response.emax,
    }
}

/// What the treatment needs to know about the run.
pub struct RunFrame<'a> {
    pub scenario: &'a Path,
    pub grid: &'a Grid,
    pub dt_min: f64,
    pub steps: u64,
}

impl Treatment {
    /// Resolve `arm` (names of inline `[therapy.NAME]` tables or therapy
    /// files) for a run; `base` are the run's parameters without therapy.
    pub fn resolve(
        arm: &[String],
        inline: &BTreeMap<String, toml::Value>,
        base: &ModelParams,
        run: &RunFrame,
    ) -> Result<Self, ConfigError> {
        let dir = run.scenario.parent().unwrap_or(Path::new("."));
        let mut t = Treatment {
            arm: arm.to_vec(),
            dt_days: run.dt_min / MIN_PER_DAY as f64,
            ..Self::default()
        };
        for (k, name) in arm.iter().enumerate() {
            if arm[..k].contains(name) {
                return Err(
                    At::file(run.scenario).invalid("arm", format!("`{name}` is listed twice"))
                );
            }
            let (file, therapy) = match inline.get(name) {
                Some(table) => {
                    let file =
                        PathBuf::from(format!("{} [therapy.{name}]", run.scenario.display()));
                    let th: TherapyConfig = parse_value(table, &file)?;
                    (file, th)
                }
                None => {
                    let (path, text) =
                        find(Kind::Therapy, name, dir, run.scenario, &format!("arm[{k}]"))?;
                    let th: TherapyConfig = parse_toml(&text, &path)?;
                    (path, th)
                }
            };
            t.add(name, file, &therapy, run)?;
        }
        t.check_ranges(base)?;
        Ok(t)
    }

    fn add(
        &mut self,
        name: &str,
        file: PathBuf,
        th: &TherapyConfig,
        run: &RunFrame,
    ) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| At::file(&file).invalid(key, message);
        if let Some(r) = &th.radiation {
            if th.schedule.is_some()
                || th.pk.is_some()
                || th.response.is_some()
                || !th.effect.is_empty()
            {
                return Err(invalid(
                    "radiation",
                    "a radiotherapy file holds only [radiation]: its effects are the LQ kill and what follows from it",
                ));
            }
            if !self.radiation.is_empty() {
                return Err(invalid(
                    "radiation",
                    "an arm can hold one radiotherapy course",
                ));
            }
            let plan = RadiationPlan::resolve(r, &file, run.grid, run.dt_min, run.steps)?;
            self.radiation.push(RadiationCourse {
                name: name.into(),
                file,
                plan,
            });
            return Ok(());
        }
        let (Some(schedule), Some(pk), Some(response)) = (&th.schedule, &th.pk, &th.response)
        else {
            return Err(invalid(
                "schedule/pk/response",
                "a drug needs [schedule], [pk] and [response] (or the file is a [radiation] course)",
            ));
        };
        if th.effect.is_empty() {
            return Err(invalid("effect", "a drug needs at least one [[effect]]"));
        }
        check_schedule(schedule, &file)?;
        check_pk(pk, schedule, &file)?;
        check_response(response, &file)?;
        let effects = th
            .effect
            .iter()
            .enumerate()
            .map(|(k, e)| resolve_effect(e, &file, &format!("effect[{k}]"), false))
            .collect::<Result<Vec<_>, _>>()?;
        self.drugs.push(DrugPlan {
            name: name.into(),
            agent: th.agent.clone(),
            concentration: concentration_table(pk, schedule, self.dt_days, run.steps),
            response: response.clone(),
            effects,
            terminal_half_life_days: Rates::new(pk).terminal_half_life_days(),
            file,
        });
        Ok(())
    }

    /// Every parameter must stay within its registry range at any exposure.
    /// Effects are affine in each drug's exposure, and a parameter depends
    /// only on the drugs acting on it, so checking every corner of their
    /// exposure box (each drug off or at its maximum) suffices.
    fn check_ranges(&self, base: &ModelParams) -> Result<(), ConfigError> {
        for id in ParamId::all() {
            let acting: Vec<&DrugPlan> = self
                .drugs
                .iter()
                .filter(|d| d.effects.iter().any(|e| e.param == id))
                .collect();
            let culprits = || -> Vec<String> {
                acting
                    .iter()
                    .map(|d| d.file.display().to_string())
                    .collect()
            };
            if acting.len() > MAX_DRUGS_PER_PARAM {
                return Err(At::file(&acting[0].file).invalid(
                    format!("effects on `{}`", id.name()),
                    format!(
                        "{} drugs of the arm act on it ({}); at most {MAX_DRUGS_PER_PARAM} can be checked against its range",
                        acting.len(),
                        culprits().join(" + ")
                    ),
                ));
            }
            for corner in 0..(1u32 << acting.len()) {
                let mut p = *base;
                apply(
                    &mut p,
                    acting.iter().enumerate().flat_map(|(k, d)| {
                        let e = if corner & (1 << k) != 0 {
                            max_exposure(d)
                        } else {
                            0.0
                        };
                        d.effects
                            .iter()
                            .filter(move |x| x.param == id)
                            .map(move |x| (x, e))
                    }),
                );
                let (v, spec) = (p[id], id.spec());
                if !(v >= spec.min && v <= spec.max) {
                    let culprits = culprits();
                    return Err(ConfigError::OutOfRange {
                        file: culprits.first().map(PathBuf::from).unwrap_or_default(),
                        key: format!(
                            "effects on `{}` (with {} at full exposure)",
                            spec.name,
                            culprits.join(" + ")
                        ),
                        value: format!("{v}").parse().unwrap_or(v as f64),
                        min: spec.range_f64().0,
                        max: spec.range_f64().1,
                    });
                }
            }
        }
        Ok(())
    }

    /// Parameters of step `step`: `base` with every therapy applied.
    pub fn params_at(&self, base: &ModelParams, step: u64) -> ModelParams {
        let mut p = *base;
        apply(
            &mut p,
            self.drugs.iter().flat_map(|d| {
                let e = d.exposure(step);
                d.effects.iter().map(move |x| (x, e))
            }),
        );
        for rt in &self.radiation {
            rt.plan.apply(&mut p, step);
        }
        p
    }

    /// Extra time-series columns.
    pub fn columns(&self) -> Vec<String> {
        let mut cols = Vec::new();
        for d in &self.drugs {
            cols.push(format!("{}_conc_mg_per_l", d.name));
            cols.push(format!("{}_exposure", d.name));
        }
        for r in &self.radiation {
            cols.push(format!("{}_cumulative_dose_gy", r.name));
        }
        cols
    }

    /// Values of [`Self::columns`] at step `step`.
    pub fn values(&self, step: u64) -> Vec<f64> {
        let mut v = Vec::new();
        for d in &self.drugs {
            v.push(d.concentration_at(step));
            v.push(d.exposure(step));
        }
        for r in &self.radiation {
            v.push(r.plan.cumulative_dose_gy(step as f64 * self.dt_days));
        }
        v
    }

    /// The arm as written on the command line (`a+b`), or "control".
    pub fn label(&self) -> String {
        arm_label(&self.arm)
    }
}

/// `a+b` for an arm, "control" for none.
pub fn arm_label(arm: &[String]) -> String {
    if arm.is_empty() {
        "control".into()
    } else {
        arm.join("+")
    }
}

fn check_schedule(s: &Schedule, file: &Path) -> Result<(), ConfigError> {
    let at = At::file(file);
    at.range("schedule.start_day", s.start_day, 0.0, 1e5)?;
    at.range("schedule.dose_mg", s.dose_mg, 0.0, 1e7)?;
    at.range("schedule.interval_days", s.interval_days, 1e-3, 1e5)?;
    at.range("schedule.doses", s.doses as f64, 0.0, 1e6)?;
    at.range(
        "schedule.infusion_min",
        s.infusion_min,
        0.0,
        1440.0 * s.interval_days,
    )?;
    if s.route == Route::Oral && s.infusion_min > 0.0 {
        return Err(at.invalid("schedule.infusion_min", "an oral dose has no infusion time"));
    }
    Ok(())
}

fn check_pk(pk: &Pk, s: &Schedule, file: &Path) -> Result<(), ConfigError> {
    let at = At::file(file);
    let invalid = |key: &str, message: &str| at.invalid(key, message);
    at.range("pk.compartments", pk.compartments as f64, 1.0, 2.0)?;
    at.range("pk.central_volume_l", pk.central_volume_l, 1e-3, 1e6)?;
    match (pk.clearance_l_per_day, pk.half_life_days) {
        (Some(cl), None) => {
            at.range("pk.clearance_l_per_day", cl, 1e-6, 1e7)?;
        }
        (None, Some(t)) if pk.compartments == 1 => {
            at.range("pk.half_life_days", t, 1e-4, 1e5)?;
        }
        (None, Some(_)) => {
            return Err(invalid(
                "pk.half_life_days",
                "a two-compartment model takes clearance_l_per_day (its half-life follows)",
            ))
        }
        _ => {
            return Err(invalid(
                "pk.clearance_l_per_day",
                "give exactly one of clearance_l_per_day and half_life_days",
            ))
        }
    }
    if pk.compartments == 1 {
        for (key, v) in [
            ("pk.peripheral_volume_l", pk.peripheral_volume_l),
            (
                "pk.intercompartmental_l_per_day",
                pk.intercompartmental_l_per_day,
            ),
        ] {
            if v != 0.0 {
                return Err(invalid(
                    key,
                    "is a two-compartment key, but pk.compartments is 1 (the default); \
                     set compartments = 2, or remove it",
                ));
            }
        }
    }
    if pk.compartments == 2 {
        at.range("pk.peripheral_volume_l", pk.peripheral_volume_l, 1e-3, 1e6)?;
        at.range(
            "pk.intercompartmental_l_per_day",
            pk.intercompartmental_l_per_day,
            1e-6,
            1e7,
        )?;
    }
    if s.route == Route::Oral {
        at.range("pk.absorption_per_day", pk.absorption_per_day, 1e-3, 1e4)?;
        at.range("pk.bioavailability", pk.bioavailability, 1e-3, 1.0)?;
    }
    Ok(())
}

fn check_response(r: &Response, file: &Path) -> Result<(), ConfigError> {
    let at = At::file(file);
    at.range("response.ec50_mg_per_l", r.ec50_mg_per_l, 1e-9, 1e6)?;
    if r.model == ResponseModel::Emax {
        at.range("response.emax", r.emax, 0.0, 1.0)?;
        at.range("response.hill", r.hill, 0.1, 10.0)?;
    }
    Ok(())
}

/// An arm as written on the command line: `a+b`; `control` or `none` for
/// no treatment.
pub fn parse_arm(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() || text == "control" || text == "none" {
        return Vec::new();
    }
    text.split('+').map(|t| t.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::therapy::schema::EffectOp;

    /// A drug at full exposure adding `value` to `param`.
    fn drug(k: usize, param: &str, value: f64) -> DrugPlan {
        DrugPlan {
            name: format!("d{k}"),
            agent: String::new(),
            file: PathBuf::from(format!("d{k}.toml")),
            concentration: vec![1.0],
            response: Response::default(),
            effects: vec![ParamEffect {
                param: ParamId::of(param).unwrap(),
                op: EffectOp::Add,
                value,
            }],
            terminal_half_life_days: 1.0,
        }
    }

    fn treatment(drugs: Vec<DrugPlan>) -> Treatment {
        Treatment {
            drugs,
            ..Treatment::default()
        }
    }

    #[test]
    fn ranges_are_checked_for_every_drug_of_a_long_arm() {
        // Thirteen harmless drugs, then one that pushes the kill rate past
        // its maximum of 50/day: the last drug must still be checked.
        let mut drugs: Vec<_> = (0..13)
            .map(|k| drug(k, "tumor_death_per_day", 0.01))
            .collect();
        drugs.push(drug(13, "kill_rate_per_day", 100.0));
        let e = treatment(drugs)
            .check_ranges(&ModelParams::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kill_rate_per_day") && e.contains("d13.toml"),
            "{e}"
        );
    }

    #[test]
    fn many_drugs_on_one_parameter_are_refused_rather_than_unchecked() {
        let drugs = (0..=MAX_DRUGS_PER_PARAM)
            .map(|k| drug(k, "kill_rate_per_day", 0.01))
            .collect();
        let e = treatment(drugs)
            .check_ranges(&ModelParams::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 16"), "{e}");
    }
}
