//! CPU twin of shaders/react.wgsl: every pointwise mechanism, one voxel at a
//! time. Equations and sources: docs/model.md, "Reaction terms".
//!
//! Integration is semi-implicit (Patankar): each quantity is written as
//! production P >= 0 and a per-unit loss rate L >= 0 evaluated at the old
//! state, then u' = (u + dt P) / (1 + dt L), which is non-negative for any
//! dt. Cell gains are scaled down together where they would exceed the free
//! space, so the cell sum never passes the crowding limit. States relax
//! exactly toward bounded targets.

use super::for_each_voxel;
use crate::model::fields::{idx, FIELD_COUNT};
use crate::model::grid::Grid;
use crate::model::params::{ModelParams, MIN_PER_DAY};
use crate::model::state::Systemic;

/// x^n / (x^n + k^n) for x >= 0; 0 at x <= 0 (mirrors `hill` in common.wgsl).
#[inline]
pub fn hill(x: f32, k: f32, n: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    1.0 / (1.0 + (k / x).powf(n))
}

/// Saturating x / (x + k) for x >= 0 (mirrors `sat` in common.wgsl).
#[inline]
pub fn sat(x: f32, k: f32) -> f32 {
    let x = x.max(0.0);
    x / (x + k)
}

/// Exact relaxation of `s` toward `target` over `dt` with time constant `tau`.
#[inline]
fn relax(s: f32, target: f32, dt: f32, tau: f32) -> f32 {
    target + (s - target) * (-dt / tau).exp()
}

/// Run the reaction stage over every voxel.
pub fn react(grid: &Grid, fields: &mut [Vec<f32>], p: &ModelParams, sys: &Systemic, dt: f32) {
    for_each_voxel(fields, |i, v| {
        react_voxel(v, p, sys, dt, in_radiation_field(grid, p, i))
    });
}

/// 1 inside the radiation field (`rt_shape`: 0 whole domain, 1 disk or
/// ball, 2 box), else 0. Mirrors `in_radiation_field` in react.wgsl.
pub fn in_radiation_field(grid: &Grid, p: &ModelParams, i: usize) -> f32 {
    if p.rt_shape < 0.5 {
        return 1.0;
    }
    let (x, y, z) = (
        i % grid.nx,
        (i / grid.nx) % grid.ny,
        i / (grid.nx * grid.ny),
    );
    let dx = (x as f32 + 0.5) * grid.dx_um - p.rt_center_x_um;
    let dy = (y as f32 + 0.5) * grid.dx_um - p.rt_center_y_um;
    let dz = if grid.nz > 1 {
        (z as f32 + 0.5) * grid.dx_um - p.rt_center_z_um
    } else {
        0.0
    };
    let inside = if p.rt_shape < 1.5 {
        dx * dx + dy * dy + dz * dz <= p.rt_radius_um * p.rt_radius_um
    } else {
        dx.abs() <= p.rt_half_x_um
            && dy.abs() <= p.rt_half_y_um
            && (grid.nz == 1 || dz.abs() <= p.rt_half_z_um)
    };
    if inside {
        1.0
    } else {
        0.0
    }
}

/// All reaction terms of one voxel, in place; `in_rt_field` is 1 inside the
/// radiation field. Keep in step with react.wgsl.
pub fn react_voxel(
    v: &mut [f32; FIELD_COUNT],
    p: &ModelParams,
    sys: &Systemic,
    dt: f32,
    in_rt_field: f32,
) {
    let day = 1.0 / MIN_PER_DAY;
    // Transport and reactions keep every molecule >= 0: read as is.
    let ifng = v[idx::IFNG];
    let il10 = v[idx::IL10];
    let vegf = v[idx::VEGF];
    let ado = v[idx::ADENOSINE];
    let kyn = v[idx::KYNURENINE];
    let tumor = v[idx::TUMOR];
    let cd8 = v[idx::CD8];
    let treg = v[idx::TREG];
    let mdsc = v[idx::MDSC];
    let tam = v[idx::TAM];
    let dc = v[idx::DC];
    let vessel = v[idx::VESSEL];
    let pdl1 = v[idx::PDL1];
    let pd1 = v[idx::PD1];
    let lag3 = v[idx::LAG3];
    let exh = v[idx::EXHAUSTION];
    // A PI3K inhibitor lowers the effective pathway activity (7).
    let pi3k = v[idx::PI3K] * (1.0 - p.pi3k_inhibition);
    let wnt = v[idx::WNT];
    let ido = v[idx::IDO];

    let rho = tumor + cd8 + treg + mdsc + tam + dc + vessel;
    let free = (1.0 - rho / p.crowding_limit).max(0.0);
    let antigen = sat(tumor, p.antigen_k);

    // T-cell function: PD-1 (2, 9, 10), Tregs (1), ARG1 (2), adenosine (11).
    let ligand = pdl1 * tumor + p.tam_pdl1 * tam;
    let engagement = sat(ligand, p.pdl1_engagement_k);
    let pd1_signal =
        p.pd1_signal_gain * p.lck_pd1_phosphorylation * pd1 * (1.0 - p.pd1_occupancy) * engagement;
    let f_pd1 = 1.0 / (1.0 + pd1_signal);
    let f_treg = 1.0 / (1.0 + treg / p.treg_suppression_k);
    let f_arg1 = 1.0 / (1.0 + tam / p.arg1_k);
    let f_ado =
        1.0 - p.adenosine_suppression_max * sat(ado * (1.0 - p.a2a_occupancy), p.adenosine_ec50_nm);
    let t_function = f_pd1 * f_treg * f_arg1 * f_ado;
    // LAG-3 (6) limits proliferation and cytokines; kynurenine (12) proliferation.
    let f_lag3 = 1.0 / (1.0 + p.lag3_inhibition * lag3 * (1.0 - p.lag3_occupancy));
    let f_kyn = 1.0 / (1.0 + kyn / p.kyn_prolif_ic50_nm);
    // IFN-gamma promotes effector activation (4).
    let activation = 1.0 + p.ifng_activation_gain * sat(ifng, p.ifng_activation_ec50_nm);

    // Killing, saturating in both populations; exhaustion blunts it.
    let kill_per_tumor = p.kill_rate_per_day
        * day
        * activation
        * t_function
        * (1.0 - p.exhaustion_kill_reduction * exh)
        * cd8
        / (tumor + cd8 + p.kill_saturation);
    // Therapy deaths: radiation inside its field, chemotherapy of cycling
    // cells. Both are immunogenic (they add the DC adjuvant signal).
    let rt = in_rt_field * day;
    let icd_rate = p.rt_death_tumor_per_day * rt + p.chemo_kill_per_day * day * free;
    let tumor_death =
        (p.tumor_death_per_day + p.sink_tumor_per_day) * day + kill_per_tumor + icd_rate;
    let dying_per_day = tumor_death * tumor * MIN_PER_DAY;
    let icd_per_day = icd_rate * tumor * MIN_PER_DAY;

    // --- cells: production P (scaled by free space) and loss rate L ---------
    let tumor_p =
        p.tumor_growth_per_day * day * (1.0 + p.pi3k_proliferation_gain * pi3k) * tumor * free;

    // Entry through vessels: VEGF disorders vessels (13), Wnt excludes (8).
    let vessel_quality = 1.0 / (1.0 + vegf / p.vegf_vessel_disorder_k_nm);
    let supply = p.cd8_basal_supply + sys.priming;
    let cd8_entry = p.cd8_entry_per_day
        * day
        * vessel
        * vessel_quality
        * supply
        * (1.0 - p.wnt_exclusion * wnt)
        * free;
    let cd8_prolif = p.cd8_prolif_per_day
        * day
        * antigen
        * activation
        * t_function
        * f_lag3
        * f_kyn
        * cd8
        * free;
    let kyn_conversion = p.kyn_treg_induction_per_day * day * sat(kyn, p.kyn_treg_ec50_nm);
    let ros = p.mdsc_ros_kill_per_day * day * sat(mdsc, p.mdsc_ros_k);
    let cd8_l = (p.cd8_death_per_day + p.sink_cd8_per_day) * day
        + p.cd8_exhaustion_death_per_day * day * exh
        + ros
        + kyn_conversion
        + p.rt_death_cd8_per_day * rt;

    let treg_p = p.treg_entry_per_day * day * vessel * vessel_quality * free + kyn_conversion * cd8;
    let treg_l = (p.treg_death_per_day + p.sink_treg_per_day) * day + p.rt_death_treg_per_day * rt;

    // MDSC recruitment: VEGF (13) and adenosine through A2B (11).
    let a2b = p.ado_mdsc_gain * sat(ado * (1.0 - p.a2a_occupancy), p.adenosine_ec50_nm);
    let mdsc_p = p.mdsc_entry_per_day
        * day
        * vessel
        * (1.0 + p.mdsc_vegf_gain * sat(vegf, p.vegf_mdsc_ec50_nm) + a2b)
        * free;
    let mdsc_l = (p.mdsc_death_per_day + p.sink_mdsc_per_day) * day + p.rt_death_mdsc_per_day * rt;

    let tam_p = p.tam_entry_per_day
        * day
        * vessel
        * (1.0 + p.tam_il10_gain * sat(il10, p.il10_tam_ec50_nm))
        * free;
    let tam_l = (p.tam_death_per_day + p.sink_tam_per_day) * day + p.rt_death_tam_per_day * rt;

    // DC maturation from antigen (live and dying tumour), inhibited by IL-10
    // (5), VEGF (13) and tumour PI3K (7); probiotics scale it systemically.
    let dc_antigen = sat(tumor + p.dc_death_antigen_gain * dying_per_day, p.antigen_k);
    let dc_inhibition = (1.0 + il10 / p.il10_dc_ic50_nm)
        * (1.0 + vegf / p.vegf_dc_ic50_nm)
        * (1.0 + p.pi3k_dc_inhibition * pi3k * antigen);
    // Immunogenic death (calreticulin, ATP, HMGB1) is a maturation adjuvant.
    let icd_adjuvant = 1.0 + p.icd_dc_gain * sat(icd_per_day, p.icd_k_per_day);
    let dc_p = p.dc_maturation_per_day
        * day
        * p.dc_precursor
        * dc_antigen
        * icd_adjuvant
        * p.dc_systemic_boost
        / dc_inhibition
        * free;
    let dc_l = (p.dc_death_per_day + p.sink_dc_per_day) * day + p.rt_death_dc_per_day * rt;

    let vessel_p = p.angiogenesis_per_day * day * sat(vegf, p.vegf_angio_ec50_nm) * vessel * free;
    let vessel_l = p.vessel_regression_per_day * day * (rho / p.crowding_limit).min(1.0)
        + p.sink_vessel_per_day * day
        + p.rt_death_vessel_per_day * rt;

    // Scale all cell gains together so the cell sum stays within the limit.
    let gain = dt * (tumor_p + cd8_entry + cd8_prolif + treg_p + mdsc_p + tam_p + dc_p + vessel_p);
    let room = (p.crowding_limit - rho).max(0.0);
    let scale = if gain > room { room / gain } else { 1.0 };
    let step = |u: f32, prod: f32, loss: f32| (u + dt * scale * prod) / (1.0 + dt * loss);

    // --- molecules ------------------------------------------------------------
    let ifng_p = p.ifng_secretion * cd8 * antigen * activation * t_function * f_lag3;
    let ifng_l = p.ifng_uptake * (tumor + cd8) + p.sink_ifng_per_day * day;
    let il10_p = p.il10_secretion_treg * treg + p.il10_secretion_tam * tam;
    let vegf_p = p.vegf_secretion_tumor * tumor * (1.0 + p.pi3k_vegf_gain * pi3k)
        + p.vegf_secretion_mdsc * mdsc
        + p.vegf_secretion_tam * tam;
    let vegf_l = p.vegf_vessel_uptake * vessel + p.sink_vegf_per_day * day;
    let atp = p.atp_release_basal * tumor + p.atp_release_death * dying_per_day;
    let cd73 = p.cd73_tumor * tumor + p.cd73_treg * treg + p.cd73_mdsc * mdsc;
    let ado_p = p.adenosine_production * atp * sat(cd73, p.cd73_k);
    let ido_activity = mdsc * p.kyn_secretion_mdsc
        + tumor * ido * p.kyn_secretion_tumor * sat(ifng, p.ido_ifng_ec50_nm);
    let kyn_p = ido_activity * (1.0 - p.ido_inhibition);

    v[idx::IFNG] = (ifng + dt * ifng_p) / (1.0 + dt * ifng_l);
    v[idx::IL10] = (il10 + dt * il10_p) / (1.0 + dt * p.sink_il10_per_day * day);
    v[idx::VEGF] = (vegf + dt * vegf_p) / (1.0 + dt * vegf_l);
    v[idx::ADENOSINE] = (ado + dt * ado_p) / (1.0 + dt * p.sink_adenosine_per_day * day);
    v[idx::KYNURENINE] = (kyn + dt * kyn_p) / (1.0 + dt * p.sink_kynurenine_per_day * day);

    v[idx::TUMOR] = step(tumor, tumor_p, tumor_death);
    v[idx::CD8] = step(cd8, cd8_entry + cd8_prolif, cd8_l);
    v[idx::TREG] = step(treg, treg_p, treg_l);
    v[idx::MDSC] = step(mdsc, mdsc_p, mdsc_l);
    v[idx::TAM] = step(tam, tam_p, tam_l);
    v[idx::DC] = step(dc, dc_p, dc_l);
    v[idx::VESSEL] = step(vessel, vessel_p, vessel_l);

    // --- states: exact relaxation toward bounded targets ------------------------
    let pdl1_target = (1.0
        + (p.pdl1_max_fold - 1.0) * hill(ifng, p.pdl1_ifng_ec50_nm, p.pdl1_hill))
        * (1.0 + p.pi3k_pdl1_gain * pi3k);
    let pd1_target = p.pd1_base + p.pd1_chronic_gain * antigen;
    let lag3_target = (p.lag3_base + p.lag3_antigen_gain * antigen).min(1.0);
    let drive = p.exhaustion_antigen_gain
        * antigen
        * (1.0 + p.tim3_exhaustion_gain * lag3)
        * (1.0 + pd1_signal);
    let exh_target = drive / (1.0 + drive);
    v[idx::PDL1] = relax(pdl1, pdl1_target, dt, p.pdl1_tau_hours * 60.0);
    v[idx::PD1] = relax(pd1, pd1_target, dt, p.pd1_tau_hours * 60.0);
    v[idx::LAG3] = relax(lag3, lag3_target, dt, p.lag3_tau_hours * 60.0);
    v[idx::EXHAUSTION] = relax(exh, exh_target, dt, p.exhaustion_tau_days * MIN_PER_DAY);
}
