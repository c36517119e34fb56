//! CPU twin of shaders/systemic.wgsl (with its reduction,
//! shaders/reduce_dc.wgsl): lymph-node priming driven by the domain-mean
//! mature DC fraction, limited by CTLA-4.

use crate::model::grid::REDUCE_WG;
use crate::model::params::{ModelParams, MIN_PER_DAY};
use crate::model::state::Systemic;
use rayon::prelude::*;

/// Elements summed per partial (one GPU workgroup of reduce_dc.wgsl).
const REDUCE_CHUNK: usize = REDUCE_WG as usize;

/// Partial sums of `dc`, one per chunk of [`REDUCE_CHUNK`] voxels.
pub fn reduce_dc(dc: &[f32]) -> Vec<f32> {
    dc.par_chunks(REDUCE_CHUNK)
        .map(|c| c.iter().sum())
        .collect()
}

/// Update the systemic state from the partial sums.
pub fn systemic(partials: &[f32], n: usize, p: &ModelParams, sys: &mut Systemic, dt: f32) {
    let total: f32 = partials.iter().sum();
    let own = total / n as f32;
    // An unirradiated lesion drains to the same lymph nodes as the
    // patient's irradiated one: both lesions' DCs drive priming.
    let dc_mean = if p.partner_dc_mean >= 0.0 {
        0.5 * (own + p.partner_dc_mean)
    } else {
        own
    };
    let f_ctla4 = 1.0 / (1.0 + p.ctla4_priming_inhibition * (1.0 - p.ctla4_occupancy));
    let target = dc_mean / (dc_mean + p.dc_priming_k) * f_ctla4;
    let tau = p.priming_tau_days * MIN_PER_DAY;
    sys.priming = target + (sys.priming - target) * (-dt / tau).exp();
}
