//! Therapies and resistance phenotypes as data.
//!
//! A therapy file (configs/therapies/NAME.toml) holds a drug's schedule,
//! pharmacokinetics, exposure-response and its effects on registry
//! parameters, or a radiotherapy course. A treatment arm is a list of
//! therapies; [`treatment::Treatment`] turns an arm into the parameters of
//! every step, computed on the host and uploaded with the step parameters,
//! so combinations need no special cases in the kernels. A phenotype file
//! (configs/phenotypes/NAME.toml) is a named set of parameter changes and
//! field maps applied to a scenario before it is resolved.

pub(crate) mod effects;
pub mod library;
pub(crate) mod phenotype;
pub(crate) mod pk;
pub(crate) mod radiation;
pub(crate) mod schema;
pub mod treatment;
