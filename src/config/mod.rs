//! Scenario configs: the TOML schema, loading with `--set` overrides,
//! validation into a [`resolve::RunSpec`], and the initial state it
//! describes. Therapy tables stay TOML values here; the therapy layer
//! parses them (the scenario step, sim::scenario, joins the two).

pub mod advice;
pub mod error;
pub mod initial;
pub mod load;
pub(crate) mod npy;
pub mod resolve;
pub(crate) mod schema;
