//! How a field is transported: its boundary condition and the solver
//! choices of a run. Plain kinds, read from the config and acted on by the
//! transport plan.

use serde::{Deserialize, Serialize};

/// The condition on a transported field at the edge of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Boundary {
    NoFlux,
    Dirichlet(f32),
}

impl Boundary {
    /// The fixed value outside the grid (zero for no flux: nothing enters).
    pub fn ghost_value(self) -> f32 {
        match self {
            Boundary::Dirichlet(v) => v,
            Boundary::NoFlux => 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DiffusionSolver {
    /// The exact step of the discrete diffusion-decay equation (dense
    /// axis propagators, model::exponential): accurate and non-negative at
    /// any dt, exact discrete steady state.
    #[default]
    Exponential,
    /// Forward Euler with sub-steps under the stability limit (reference).
    Explicit,
}

/// How a macro step combines transport and reactions.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Splitting {
    /// Symmetric: half a step of transport, the reactions, the other
    /// half (second order in dt).
    #[default]
    Strang,
    /// Sequential: transport over the whole step, then the reactions
    /// (first order in dt).
    Lie,
}
