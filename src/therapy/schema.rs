//! The TOML schema of therapy and phenotype files. Every table rejects
//! unknown keys; values are checked in `treatment.rs` and `phenotype.rs`.

use crate::config::schema::FieldConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One therapy: a drug (schedule + pk + response + effects) or a
/// radiotherapy course (radiation).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TherapyConfig {
    /// The agent, e.g. "pembrolizumab".
    pub agent: String,
    /// The mechanism in a sentence.
    pub description: String,
    pub schedule: Option<Schedule>,
    pub pk: Option<Pk>,
    pub response: Option<Response>,
    /// Parameter changes, each scaled by the exposure-response.
    pub effect: Vec<Effect>,
    pub radiation: Option<Radiation>,
    /// References for the values in this file.
    pub sources: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Intravenous: a bolus, or a zero-order infusion over `infusion_min`.
    #[default]
    Iv,
    /// Oral: a dose into a gut depot absorbed at first order.
    Oral,
}

/// `dose_mg` is required: a missing dose must not become a 0 mg dose.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub start_day: f64,
    /// Dose per administration, mg (probiotics: the dose unit of the file).
    pub dose_mg: f64,
    #[serde(default = "default_interval_days")]
    pub interval_days: f64,
    /// Number of doses (or cycles); 0 doses on schedule until the end.
    #[serde(default)]
    pub doses: i64,
    #[serde(default)]
    pub route: Route,
    /// Infusion duration (iv); 0 gives a bolus.
    #[serde(default)]
    pub infusion_min: f64,
}

fn default_interval_days() -> f64 {
    21.0
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            start_day: 0.0,
            dose_mg: 0.0,
            interval_days: 21.0,
            doses: 0,
            route: Route::Iv,
            infusion_min: 0.0,
        }
    }
}

/// Linear one- or two-compartment pharmacokinetics. Elimination is given
/// either as `clearance_l_per_day` or as `half_life_days` (one compartment).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pk {
    pub compartments: u32,
    pub clearance_l_per_day: Option<f64>,
    pub half_life_days: Option<f64>,
    pub central_volume_l: f64,
    pub peripheral_volume_l: f64,
    pub intercompartmental_l_per_day: f64,
    /// First-order absorption from the gut (oral route).
    pub absorption_per_day: f64,
    /// Fraction of an oral dose reaching the circulation.
    pub bioavailability: f64,
    pub source: String,
}

impl Default for Pk {
    fn default() -> Self {
        Self {
            compartments: 1,
            clearance_l_per_day: None,
            half_life_days: None,
            central_volume_l: 1.0,
            peripheral_volume_l: 0.0,
            intercompartmental_l_per_day: 0.0,
            absorption_per_day: 0.0,
            bioavailability: 1.0,
            source: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResponseModel {
    /// Receptor occupancy C / (C + EC50).
    #[default]
    Occupancy,
    /// Emax * C^h / (C^h + EC50^h).
    Emax,
}

/// Exposure-response: plasma concentration to an exposure in [0, 1] that
/// scales every effect of the therapy.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Response {
    pub model: ResponseModel,
    pub ec50_mg_per_l: f64,
    pub emax: f64,
    pub hill: f64,
    pub source: String,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            model: ResponseModel::Occupancy,
            ec50_mg_per_l: 1.0,
            emax: 1.0,
            hill: 1.0,
            source: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EffectOp {
    /// Independent blockade of a fraction parameter:
    /// p <- 1 - (1 - p)(1 - value * E).
    Occupy,
    /// p <- p * (1 + (value - 1) * E): `value` is the factor at full exposure.
    Scale,
    /// p <- p + value * E.
    Add,
    /// Extra first-order removal of a field: sink_<field>_per_day += value * E.
    Sink,
    /// Phenotypes only: p <- value.
    Set,
}

impl EffectOp {
    pub fn as_str(self) -> &'static str {
        match self {
            EffectOp::Occupy => "occupy",
            EffectOp::Scale => "scale",
            EffectOp::Add => "add",
            EffectOp::Sink => "sink",
            EffectOp::Set => "set",
        }
    }
}

/// One parameter change. `param` names a registry parameter; a sink names
/// a `field` instead.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    pub op: EffectOp,
    pub value: f64,
    /// Why, in a few words (shown in docs/therapies.md).
    #[serde(default)]
    pub note: String,
}

/// A radiotherapy course: fractions of `dose_gy` on `fraction_days`, inside
/// `field`, with linear-quadratic survival per cell field. `dose_gy`,
/// `fraction_days` and `field` are required, so a course cannot silently
/// miss its target.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Radiation {
    pub dose_gy: f64,
    pub fraction_days: Vec<f64>,
    /// Cells lethally hit by a fraction die over this time (mitotic
    /// catastrophe, apoptosis), so their antigen and ATP release spread
    /// over it.
    #[serde(default = "default_death_window_days")]
    pub death_window_days: f64,
    /// The window of particular cell fields, where it differs from
    /// `death_window_days` (lymphocytes die in interphase, within hours).
    #[serde(default)]
    pub death_window_days_by_cell: BTreeMap<String, f64>,
    pub field: RadiationField,
    /// LQ alpha per cell field (1/Gy); cell fields not listed are spared.
    #[serde(default)]
    pub alpha_per_gy: BTreeMap<String, f64>,
    /// LQ beta per cell field (1/Gy^2).
    #[serde(default)]
    pub beta_per_gy2: BTreeMap<String, f64>,
    #[serde(default)]
    pub source: String,
}

fn default_death_window_days() -> f64 {
    1.0
}

impl Default for Radiation {
    fn default() -> Self {
        Self {
            dose_gy: 0.0,
            fraction_days: Vec::new(),
            death_window_days: 1.0,
            death_window_days_by_cell: BTreeMap::new(),
            field: RadiationField::Whole,
            alpha_per_gy: BTreeMap::new(),
            beta_per_gy2: BTreeMap::new(),
            source: String::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "shape", rename_all = "snake_case", deny_unknown_fields)]
pub enum RadiationField {
    Whole,
    /// A disk in 2D, a ball in 3D.
    Disk {
        center_um: Vec<f64>,
        radius_um: f64,
    },
    Box {
        center_um: Vec<f64>,
        half_width_um: Vec<f64>,
    },
}

/// A resistance phenotype: parameter changes and field maps (initial
/// conditions, e.g. a PI3K-active clone in part of the tumour).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhenotypeConfig {
    pub description: String,
    /// Another phenotype applied first (e.g. the responsive reference), so
    /// a resistant phenotype differs from it by one mechanism.
    pub extends: Option<String>,
    /// Changes with op set, scale or add (no exposure: applied in full).
    pub change: Vec<Effect>,
    /// Field settings merged over the scenario's (typically `initial`).
    pub fields: BTreeMap<String, FieldConfig>,
    pub sources: Vec<String>,
}
