//! CPU twin of shaders/react.wgsl: every pointwise mechanism, one voxel at a
//! time. Equations and sources: docs/model.md, "Reaction terms".
//!
//! Each quantity is written as a production P >= 0 and a per-unit loss
//! rate L >= 0. With both frozen, du/dt = P - L u has the exact solution
//! `step_linear`, non-negative for any dt. The stage is the explicit
//! midpoint rule in that exponential form: the rates at the start take
//! every field half a step on, and the rates there advance the start over
//! the whole step: second order, where the former one-stage semi-implicit
//! update (u + dt P)/(1 + dt L) was first order and left a uniform tissue's
//! CD8 and Treg totals 4-6% off at dt = 15 min (docs/verification.md,
//! "Every field"). Cell gains are scaled down
//! together where they would exceed the free space, so the cell sum never
//! passes the crowding limit. States relax exactly toward bounded targets.
//!
//! The kernel is cut into the same pieces, with the same names and
//! arguments, as react.wgsl (where the parameters `p` are a global
//! uniform): `read_voxel`, `t_cell_function`, `tumor_deaths`,
//! `cell_rates`, `crowding_scale`, `molecule_rates` and `state_targets`,
//! so the twins can be compared piece by piece.

use super::for_each_voxel_emitting;
use crate::backend::plan::MAX_SOURCES;
use crate::model::fields::{cell_sum, for_each_field, idx, FIELD_COUNT, SOURCES_IN_TRANSPORT};
use crate::model::grid::Grid;
use crate::model::params::{ModelParams, RtShape, MIN_PER_DAY};
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

/// Exact relaxation of `s` toward `target` by the factor `decay` =
/// exp(-dt / tau) of the step (see `Decays`).
#[inline]
fn relax(s: f32, target: f32, decay: f32) -> f32 {
    target + (s - target) * decay
}

/// The relaxation factors exp(-dt / tau) of the four states (PD-L1, PD-1,
/// LAG-3, exhaustion): the same in every voxel, so computed once per stage
/// length rather than per voxel (the same expression, so the same bits).
#[derive(Clone, Copy)]
struct Decays([f32; 4]);

/// The step of the reaction stage and the decays of its two stage
/// lengths (half and whole), shared by every voxel.
struct Step {
    dt: f32,
    half: Decays,
    whole: Decays,
}

impl Decays {
    fn new(p: &ModelParams, dt: f32) -> Self {
        let taus = [
            p.pdl1_tau_hours * 60.0,
            p.pd1_tau_hours * 60.0,
            p.lag3_tau_hours * 60.0,
            p.exhaustion_tau_days * MIN_PER_DAY,
        ];
        Decays(taus.map(|tau| (-dt / tau).exp()))
    }
}

/// u(dt) of du/dt = gain - loss u with both frozen: exact, and
/// non-negative for u, gain, loss >= 0 (mirrors `step_linear` in
/// react.wgsl).
#[inline]
fn step_linear(u: f32, gain: f32, loss: f32, dt: f32) -> f32 {
    let z = loss * dt;
    u * (-z).exp() + dt * gain * phi1(z)
}

/// (1 - e^-z) / z for z >= 0, from its series below 0.01 where the
/// subtraction would cancel (the first term left out, z^4/120, is under
/// 1e-10).
#[inline]
fn phi1(z: f32) -> f32 {
    if z < 0.01 {
        1.0 - z * (0.5 - z * (1.0 / 6.0 - z / 24.0))
    } else {
        (1.0 - (-z).exp()) / z
    }
}

/// Run the reaction stage over every voxel.
pub fn react(
    grid: &Grid,
    fields: &mut [Vec<f32>],
    p: &ModelParams,
    sys: &Systemic,
    dt: f32,
    source_mask: u32,
    sources: &mut [f32],
) {
    let slots = source_mask.count_ones() as usize;
    let step = Step {
        dt,
        half: Decays::new(p, 0.5 * dt),
        whole: Decays::new(p, dt),
    };
    for_each_voxel_emitting(fields, sources, slots, |i, v, emitted| {
        react_voxel(
            v,
            p,
            sys,
            &step,
            in_radiation_field(grid, p, i),
            source_mask,
            emitted,
        )
    });
}

/// The production rates of the source molecules `slots` (fields of
/// `SOURCES_IN_TRANSPORT`) at every voxel, into `out` (slot after slot,
/// each `grid.len()` long). Twin of `produce` in produce.wgsl.
pub fn produce(
    grid: &Grid,
    fields: &[Vec<f32>],
    p: &ModelParams,
    slots: &[usize],
    out: &mut [f32],
) {
    use rayon::prelude::*;
    let n = grid.len();
    let which: Vec<usize> = slots
        .iter()
        .map(|f| {
            SOURCES_IN_TRANSPORT
                .iter()
                .position(|s| s == f)
                .expect("a source molecule")
        })
        .collect();
    let mut chunks: Vec<Vec<&mut [f32]>> = (0..n.div_ceil(super::CHUNK))
        .map(|_| Vec::with_capacity(slots.len()))
        .collect();
    for slot in out.chunks_mut(n).take(slots.len()) {
        for (c, part) in slot.chunks_mut(super::CHUNK).enumerate() {
            chunks[c].push(part);
        }
    }
    chunks
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut parts)| {
            let mut v = [0f32; FIELD_COUNT];
            for j in 0..super::CHUNK.min(n - c * super::CHUNK) {
                let i = c * super::CHUNK + j;
                for (f, field) in fields.iter().enumerate() {
                    v[f] = field[i];
                }
                let rates = production(&v, p, in_radiation_field(grid, p, i));
                for (part, &w) in parts.iter_mut().zip(&which) {
                    part[j] = rates[w];
                }
            }
        });
}

/// 1 inside the radiation field (`rt_shape`: whole domain, disk or ball,
/// box), else 0. Mirrors `in_radiation_field` in react.wgsl.
pub fn in_radiation_field(grid: &Grid, p: &ModelParams, i: usize) -> f32 {
    if p.rt_shape == RtShape::Whole.code() {
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
    let inside = if p.rt_shape == RtShape::Disk.code() {
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

/// Generates `Voxel`, one member per field of the registry by its name
/// (the WGSL twin is generated from the same table by gpu::shaders), then
/// the derived quantities, and `read_fields`, which fills the first part.
macro_rules! voxel {
    ($($index:ident $name:ident,)*) => {
        /// The values of one voxel as the kernel reads them (`Voxel` in
        /// react.wgsl): every field, with `pi3k` the effective activity,
        /// then the crowding `rho` (the cell sum), the free space and the
        /// antigen signal. Derived members come after the fields, in the
        /// order of `gpu::shaders::VOXEL_DERIVED` (tests/twins.rs).
        #[derive(Clone, Copy, Debug)]
        pub struct Voxel {
            $(pub $name: f32,)*
            pub rho: f32,
            pub free: f32,
            pub antigen: f32,
        }

        /// Every field of one voxel as stored; the derived members zero.
        fn read_fields(v: &[f32; FIELD_COUNT]) -> Voxel {
            Voxel {
                $($name: v[idx::$index],)*
                rho: 0.0,
                free: 0.0,
                antigen: 0.0,
            }
        }

        impl Voxel {
            /// Field f's member, if f is a field of the registry.
            fn field_mut(&mut self, f: usize) -> Option<&mut f32> {
                match f {
                    $(idx::$index => Some(&mut self.$name),)*
                    _ => None,
                }
            }

            fn field(&self, f: usize) -> f32 {
                match f {
                    $(idx::$index => self.$name,)*
                    _ => 0.0,
                }
            }
        }
    };
}
for_each_field!(voxel);

/// Read one voxel. Transport and reactions keep every molecule >= 0: read
/// as is.
pub fn read_voxel(v: &[f32; FIELD_COUNT], p: &ModelParams) -> Voxel {
    let mut x = read_fields(v);
    // A PI3K inhibitor lowers the effective pathway activity (7).
    x.pi3k *= 1.0 - p.pi3k_inhibition;
    x.rho = cell_sum(v);
    x.free = (1.0 - x.rho / p.crowding_limit).max(0.0);
    x.antigen = sat(x.tumor, p.antigen_k);
    x
}

/// How well the local T cells work.
#[derive(Clone, Copy, Debug)]
pub struct TCell {
    pub pd1_signal: f32,
    /// PD-1, Treg, ARG1 and adenosine suppression together.
    pub t_function: f32,
    pub f_lag3: f32,
    pub f_kyn: f32,
    pub activation: f32,
}

/// T-cell function: PD-1 (2, 9, 10), Tregs (1), ARG1 (2), adenosine (11);
/// LAG-3 (6) and kynurenine (12) limits; IFN-gamma activation (4).
pub fn t_cell_function(v: &Voxel, p: &ModelParams) -> TCell {
    let ligand = v.pdl1 * v.tumor + p.tam_pdl1 * v.tam;
    let engagement = sat(ligand, p.pdl1_engagement_k);
    let pd1_signal = p.pd1_signal_gain
        * p.lck_pd1_phosphorylation
        * v.pd1
        * (1.0 - p.pd1_occupancy)
        * engagement;
    let f_pd1 = 1.0 / (1.0 + pd1_signal);
    let f_treg = 1.0 / (1.0 + v.treg / p.treg_suppression_k);
    let f_arg1 = 1.0 / (1.0 + v.tam / p.arg1_k);
    let f_ado = 1.0
        - p.adenosine_suppression_max
            * sat(v.adenosine * (1.0 - p.a2a_occupancy), p.adenosine_ec50_nm);
    TCell {
        pd1_signal,
        t_function: f_pd1 * f_treg * f_arg1 * f_ado,
        // LAG-3 limits proliferation and cytokines; kynurenine proliferation.
        f_lag3: 1.0 / (1.0 + p.lag3_inhibition * v.lag3 * (1.0 - p.lag3_occupancy)),
        f_kyn: 1.0 / (1.0 + v.kynurenine / p.kyn_prolif_ic50_nm),
        activation: 1.0 + p.ifng_activation_gain * sat(v.ifng, p.ifng_activation_ec50_nm),
    }
}

/// The tumour's loss rate and what its dying releases.
#[derive(Clone, Copy, Debug)]
pub struct TumorDeaths {
    /// Loss rate of tumour cells, 1/min.
    pub tumor_death: f32,
    /// Tumour dying per day (antigen and ATP source).
    pub dying_per_day: f32,
    /// Immunogenic (therapy) deaths per day.
    pub icd_per_day: f32,
}

/// Killing (saturating in both populations; exhaustion blunts it) and
/// therapy deaths: radiation inside its field (`rt`, 1/day in the field),
/// chemotherapy of cycling cells. Both therapies are immunogenic.
pub fn tumor_deaths(v: &Voxel, t: &TCell, rt: f32, p: &ModelParams) -> TumorDeaths {
    let day = 1.0 / MIN_PER_DAY;
    let kill_per_tumor = p.kill_rate_per_day
        * day
        * t.activation
        * t.t_function
        * (1.0 - p.exhaustion_kill_reduction * v.exhaustion)
        * v.cd8
        / (v.tumor + v.cd8 + p.kill_saturation);
    let icd_rate = p.rt_death_tumor_per_day * rt + p.chemo_kill_per_day * day * v.free;
    let tumor_death =
        (p.tumor_death_per_day + p.sink_tumor_per_day) * day + kill_per_tumor + icd_rate;
    TumorDeaths {
        tumor_death,
        dying_per_day: tumor_death * v.tumor * MIN_PER_DAY,
        icd_per_day: icd_rate * v.tumor * MIN_PER_DAY,
    }
}

/// Production P (scaled by free space) and loss rate L of each cell field,
/// per minute (the tumour's loss is `TumorDeaths::tumor_death`).
#[derive(Clone, Copy, Debug)]
pub struct CellRates {
    pub tumor_p: f32,
    pub cd8_entry: f32,
    pub cd8_prolif: f32,
    pub cd8_l: f32,
    pub treg_p: f32,
    pub treg_l: f32,
    pub mdsc_p: f32,
    pub mdsc_l: f32,
    pub tam_p: f32,
    pub tam_l: f32,
    pub dc_p: f32,
    pub dc_l: f32,
    pub vessel_p: f32,
    pub vessel_l: f32,
}

/// The cell fields' production and loss; `priming` is the systemic level.
pub fn cell_rates(
    v: &Voxel,
    t: &TCell,
    d: &TumorDeaths,
    rt: f32,
    priming: f32,
    p: &ModelParams,
) -> CellRates {
    let day = 1.0 / MIN_PER_DAY;
    let free = v.free;
    let tumor_p =
        p.tumor_growth_per_day * day * (1.0 + p.pi3k_proliferation_gain * v.pi3k) * v.tumor * free;

    // Entry through vessels: VEGF disorders vessels (13), Wnt excludes (8).
    let vessel_quality = 1.0 / (1.0 + v.vegf / p.vegf_vessel_disorder_k_nm);
    let supply = p.cd8_basal_supply + priming;
    let cd8_entry = p.cd8_entry_per_day
        * day
        * v.vessel
        * vessel_quality
        * supply
        * (1.0 - p.wnt_exclusion * v.wnt)
        * free;
    let cd8_prolif = p.cd8_prolif_per_day
        * day
        * v.antigen
        * t.activation
        * t.t_function
        * t.f_lag3
        * t.f_kyn
        * v.cd8
        * free;
    let kyn_conversion = p.kyn_treg_induction_per_day * day * sat(v.kynurenine, p.kyn_treg_ec50_nm);
    let ros = p.mdsc_ros_kill_per_day * day * sat(v.mdsc, p.mdsc_ros_k);
    let cd8_l = (p.cd8_death_per_day + p.sink_cd8_per_day) * day
        + p.cd8_exhaustion_death_per_day * day * v.exhaustion
        + ros
        + kyn_conversion
        + p.rt_death_cd8_per_day * rt;

    // MDSC recruitment: VEGF (13) and adenosine through A2B (11).
    let a2b = p.ado_mdsc_gain * sat(v.adenosine * (1.0 - p.a2a_occupancy), p.adenosine_ec50_nm);
    CellRates {
        tumor_p,
        cd8_entry,
        cd8_prolif,
        cd8_l,
        treg_p: p.treg_entry_per_day * day * v.vessel * vessel_quality * free
            + kyn_conversion * v.cd8,
        treg_l: (p.treg_death_per_day + p.sink_treg_per_day) * day + p.rt_death_treg_per_day * rt,
        mdsc_p: p.mdsc_entry_per_day
            * day
            * v.vessel
            * (1.0 + p.mdsc_vegf_gain * sat(v.vegf, p.vegf_mdsc_ec50_nm) + a2b)
            * free,
        mdsc_l: (p.mdsc_death_per_day + p.sink_mdsc_per_day) * day + p.rt_death_mdsc_per_day * rt,
        tam_p: p.tam_entry_per_day
            * day
            * v.vessel
            * (1.0 + p.tam_il10_gain * sat(v.il10, p.il10_tam_ec50_nm))
            * free,
        tam_l: (p.tam_death_per_day + p.sink_tam_per_day) * day + p.rt_death_tam_per_day * rt,
        dc_p: dc_maturation(v, d, p),
        dc_l: (p.dc_death_per_day + p.sink_dc_per_day) * day + p.rt_death_dc_per_day * rt,
        vessel_p: p.angiogenesis_per_day
            * day
            * sat(v.vegf, p.vegf_angio_ec50_nm)
            * v.vessel
            * free,
        vessel_l: p.vessel_regression_per_day * day * (v.rho / p.crowding_limit).min(1.0)
            + p.sink_vessel_per_day * day
            + p.rt_death_vessel_per_day * rt,
    }
}

/// DC maturation from antigen (live and dying tumour), inhibited by IL-10
/// (5), VEGF (13) and tumour PI3K (7); probiotics scale it systemically,
/// and immunogenic death (calreticulin, ATP, HMGB1) is an adjuvant.
pub fn dc_maturation(v: &Voxel, d: &TumorDeaths, p: &ModelParams) -> f32 {
    let day = 1.0 / MIN_PER_DAY;
    let dc_antigen = sat(
        v.tumor + p.dc_death_antigen_gain * d.dying_per_day,
        p.antigen_k,
    );
    let dc_inhibition = (1.0 + v.il10 / p.il10_dc_ic50_nm)
        * (1.0 + v.vegf / p.vegf_dc_ic50_nm)
        * (1.0 + p.pi3k_dc_inhibition * v.pi3k * v.antigen);
    let icd_adjuvant = 1.0 + p.icd_dc_gain * sat(d.icd_per_day, p.icd_k_per_day);
    p.dc_maturation_per_day * day * p.dc_precursor * dc_antigen * icd_adjuvant * p.dc_systemic_boost
        / dc_inhibition
        * v.free
}

/// The factor all cell gains of a step of `dt` are scaled by together, so
/// the cell sum stays within the crowding limit.
pub fn crowding_scale(c: &CellRates, rho: f32, dt: f32, p: &ModelParams) -> f32 {
    let gain = dt
        * (c.tumor_p
            + c.cd8_entry
            + c.cd8_prolif
            + c.treg_p
            + c.mdsc_p
            + c.tam_p
            + c.dc_p
            + c.vessel_p);
    let room = (p.crowding_limit - rho).max(0.0);
    if gain > room {
        room / gain
    } else {
        1.0
    }
}

/// Production (nM/min) and loss rate (1/min) of the molecules. The
/// cellular production of every molecule (`*_p`) is what the transport may
/// integrate (`SOURCES_IN_TRANSPORT`); the cell-dependent losses (IFN-gamma
/// and VEGF uptake), adenosine's and kynurenine's exchange with plasma
/// through vessels (`*_plasma` in, `*_l` out) and the therapy sinks stay
/// here (the decay is in the transport).
#[derive(Clone, Copy, Debug)]
pub struct MoleculeRates {
    pub ifng_p: f32,
    pub ifng_l: f32,
    pub il10_p: f32,
    pub vegf_p: f32,
    pub vegf_l: f32,
    pub ado_p: f32,
    pub ado_plasma: f32,
    pub ado_l: f32,
    pub kyn_p: f32,
    pub kyn_plasma: f32,
    pub kyn_l: f32,
}

pub fn molecule_rates(v: &Voxel, t: &TCell, d: &TumorDeaths, p: &ModelParams) -> MoleculeRates {
    let day = 1.0 / MIN_PER_DAY;
    // ATP released by stressed and dying cells, turned into adenosine by
    // the CD39/CD73 on tumour cells, Tregs and MDSCs (saturable in ATP).
    let atp = p.atp_release_basal * v.tumor + p.atp_release_death * d.dying_per_day;
    let cd73 = p.cd73_tumor * v.tumor + p.cd73_treg * v.treg + p.cd73_mdsc * v.mdsc;
    // IDO1 in tumour cells (IFN-gamma-induced), MDSCs and DCs; TDO in
    // tumour cells, which IDO1 inhibitors do not touch.
    let ido_activity = v.mdsc * p.kyn_secretion_mdsc
        + v.dc * p.kyn_secretion_dc
        + v.tumor * v.ido * p.kyn_secretion_tumor * sat(v.ifng, p.ido_ifng_ec50_nm);
    MoleculeRates {
        ifng_p: p.ifng_secretion * v.cd8 * v.antigen * t.activation * t.t_function * t.f_lag3,
        ifng_l: p.ifng_uptake * (v.tumor + v.cd8) + p.sink_ifng_per_day * day,
        il10_p: p.il10_secretion_treg * v.treg + p.il10_secretion_tam * v.tam,
        vegf_p: p.vegf_secretion_tumor * v.tumor * (1.0 + p.pi3k_vegf_gain * v.pi3k)
            + p.vegf_secretion_mdsc * v.mdsc
            + p.vegf_secretion_tam * v.tam,
        vegf_l: p.vegf_vessel_uptake * v.vessel + p.sink_vegf_per_day * day,
        ado_p: p.adenosine_production * cd73 * sat(atp, p.atp_km),
        ado_plasma: p.ado_vessel_exchange * v.vessel * p.adenosine_plasma_nm,
        ado_l: p.ado_vessel_exchange * v.vessel + p.sink_adenosine_per_day * day,
        kyn_p: ido_activity * (1.0 - p.ido_inhibition) + p.kyn_secretion_tdo * v.tumor,
        kyn_plasma: p.kyn_vessel_exchange * v.vessel * p.kynurenine_plasma_nm,
        kyn_l: p.kyn_vessel_exchange * v.vessel + p.sink_kynurenine_per_day * day,
    }
}

/// The bounded levels the states relax toward.
#[derive(Clone, Copy, Debug)]
pub struct StateTargets {
    pub pdl1: f32,
    pub pd1: f32,
    pub lag3: f32,
    pub exhaustion: f32,
}

pub fn state_targets(v: &Voxel, t: &TCell, p: &ModelParams) -> StateTargets {
    let drive = p.exhaustion_antigen_gain
        * v.antigen
        * (1.0 + p.tim3_exhaustion_gain * v.lag3)
        * (1.0 + t.pd1_signal);
    StateTargets {
        pdl1: (1.0 + (p.pdl1_max_fold - 1.0) * hill(v.ifng, p.pdl1_ifng_ec50_nm, p.pdl1_hill))
            * (1.0 + p.pi3k_pdl1_gain * v.pi3k),
        pd1: p.pd1_base + p.pd1_chronic_gain * v.antigen,
        lag3: (p.lag3_base + p.lag3_antigen_gain * v.antigen).min(1.0),
        exhaustion: drive / (1.0 + drive),
    }
}

/// The production rates (nM/min) of the source molecules
/// (`SOURCES_IN_TRANSPORT`, in that order) in one voxel. Keep in step with
/// `produce` in produce.wgsl.
pub fn production(
    v: &[f32; FIELD_COUNT],
    p: &ModelParams,
    in_rt_field: f32,
) -> [f32; SOURCES_IN_TRANSPORT.len()] {
    let x = read_voxel(v, p);
    let t = t_cell_function(&x, p);
    let d = tumor_deaths(&x, &t, in_rt_field / MIN_PER_DAY, p);
    let m = molecule_rates(&x, &t, &d, p);
    SOURCES_IN_TRANSPORT.map(|f| m.production_of(f))
}

impl MoleculeRates {
    /// The production rate of molecule field `f` (0 for other fields).
    pub fn production_of(&self, f: usize) -> f32 {
        match f {
            idx::IFNG => self.ifng_p,
            idx::IL10 => self.il10_p,
            idx::VEGF => self.vegf_p,
            idx::ADENOSINE => self.ado_p,
            idx::KYNURENINE => self.kyn_p,
            _ => 0.0,
        }
    }
}

/// The rates of one voxel at one state: what `advance` needs.
struct StageRates {
    cells: CellRates,
    tumor_death: f32,
    molecules: MoleculeRates,
    targets: StateTargets,
}

fn stage_rates(x: &Voxel, p: &ModelParams, priming: f32, rt: f32) -> StageRates {
    let t = t_cell_function(x, p);
    let d = tumor_deaths(x, &t, rt, p);
    StageRates {
        cells: cell_rates(x, &t, &d, rt, priming, p),
        tumor_death: d.tumor_death,
        molecules: molecule_rates(x, &t, &d, p),
        targets: state_targets(x, &t, p),
    }
}

/// Every field but the constant maps, from the start `x` over `dt` with
/// the rates `r` frozen. Production the transport integrates (bit f of
/// `source_mask`) is left out.
fn advance(
    v: &mut [f32; FIELD_COUNT],
    x: &Voxel,
    r: &StageRates,
    dt: f32,
    decays: &Decays,
    source_mask: u32,
    p: &ModelParams,
) {
    let day = 1.0 / MIN_PER_DAY;
    let own = |f: usize, rate: f32| {
        if source_mask & (1 << f) != 0 {
            0.0
        } else {
            rate
        }
    };
    let m = &r.molecules;
    v[idx::IFNG] = step_linear(x.ifng, own(idx::IFNG, m.ifng_p), m.ifng_l, dt);
    v[idx::VEGF] = step_linear(x.vegf, own(idx::VEGF, m.vegf_p), m.vegf_l, dt);
    v[idx::IL10] = step_linear(
        x.il10,
        own(idx::IL10, m.il10_p),
        p.sink_il10_per_day * day,
        dt,
    );
    v[idx::ADENOSINE] = step_linear(
        x.adenosine,
        own(idx::ADENOSINE, m.ado_p) + m.ado_plasma,
        m.ado_l,
        dt,
    );
    v[idx::KYNURENINE] = step_linear(
        x.kynurenine,
        own(idx::KYNURENINE, m.kyn_p) + m.kyn_plasma,
        m.kyn_l,
        dt,
    );

    let c = &r.cells;
    let scale = crowding_scale(c, x.rho, dt, p);
    let cell = |u: f32, prod: f32, loss: f32| step_linear(u, scale * prod, loss, dt);
    v[idx::TUMOR] = cell(x.tumor, c.tumor_p, r.tumor_death);
    v[idx::CD8] = cell(x.cd8, c.cd8_entry + c.cd8_prolif, c.cd8_l);
    v[idx::TREG] = cell(x.treg, c.treg_p, c.treg_l);
    v[idx::MDSC] = cell(x.mdsc, c.mdsc_p, c.mdsc_l);
    v[idx::TAM] = cell(x.tam, c.tam_p, c.tam_l);
    v[idx::DC] = cell(x.dc, c.dc_p, c.dc_l);
    v[idx::VESSEL] = cell(x.vessel, c.vessel_p, c.vessel_l);

    let s = &r.targets;
    let [pdl1, pd1, lag3, exhaustion] = decays.0;
    v[idx::PDL1] = relax(x.pdl1, s.pdl1, pdl1);
    v[idx::PD1] = relax(x.pd1, s.pd1, pd1);
    v[idx::LAG3] = relax(x.lag3, s.lag3, lag3);
    v[idx::EXHAUSTION] = relax(x.exhaustion, s.exhaustion, exhaustion);
}

/// The state the midpoint rates are read at: half a step on, except the
/// molecules whose production the transport integrates (bit f of
/// `source_mask`), read as the transport left them. Inside this stage such
/// a molecule only feels its losses (VEGF's uptake at a vessel, IFN-gamma's
/// by T cells), while diffusion, far faster than those at the voxel scale,
/// holds it near the transported value; reading its half-stage depletion
/// made the cell rates first order in dt (VEGF-driven MDSC recruitment at
/// vessels: the day-60 MDSC tumour mean 2.4% low at dt 7.5 against 1.875;
/// docs/verification.md, "The midpoint reads the transported molecules").
/// Keep in step with react.wgsl.
pub fn midpoint_voxel(half: &Voxel, start: &Voxel, source_mask: u32) -> Voxel {
    let mut v = *half;
    for f in SOURCES_IN_TRANSPORT {
        if source_mask & (1 << f) != 0 {
            if let Some(m) = v.field_mut(f) {
                *m = start.field(f);
            }
        }
    }
    v
}

/// All reaction terms of one voxel, in place; `in_rt_field` is 1 inside the
/// radiation field; bit f of `source_mask` is set when the transport adds
/// field f's production (`SourcePlan::mask`), which is then written to
/// `emitted` (at the state the stage starts from) for the transport after
/// this stage instead of being added. Keep in step with `main` of
/// react.wgsl.
fn react_voxel(
    v: &mut [f32; FIELD_COUNT],
    p: &ModelParams,
    sys: &Systemic,
    step: &Step,
    in_rt_field: f32,
    source_mask: u32,
    emitted: &mut [f32; MAX_SOURCES],
) {
    let rt = in_rt_field / MIN_PER_DAY;
    let x = read_voxel(v, p);
    let start = stage_rates(&x, p, sys.priming, rt);
    // Explicit midpoint: half a step on with the start's rates, then the
    // whole step from the start with the rates found there.
    let dt = step.dt;
    advance(v, &x, &start, 0.5 * dt, &step.half, source_mask, p);
    let half = midpoint_voxel(&read_voxel(v, p), &x, source_mask);
    let mid = stage_rates(&half, p, sys.priming, rt);
    advance(v, &x, &mid, dt, &step.whole, source_mask, p);
    let mut slot = 0;
    for f in SOURCES_IN_TRANSPORT {
        if source_mask & (1 << f) != 0 {
            emitted[slot] = start.molecules.production_of(f);
            slot += 1;
        }
    }
}
