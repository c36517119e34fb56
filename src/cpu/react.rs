//! CPU twin of shaders/react.wgsl: every pointwise mechanism, eight voxels
//! at a time. Equations and sources: docs/model.md, "Reaction terms".
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
//!
//! Every piece is written once over `T: Real` (cpu::lanes): `f32` for one
//! voxel, `Lanes` for eight, which the stage runs (vector instructions,
//! the same bits as one voxel at a time). A parameter (a plain f32) stands
//! right of the kernel value it scales, and the grouping of every product
//! and sum is the one the scalar formula had, so both give the same bits.

use super::for_each_lanes_emitting;
use super::lanes::{Lanes, Real, LANES};
use crate::backend::plan::MAX_SOURCES;
use crate::model::fields::{cell_sum, for_each_field, idx, FIELD_COUNT, SOURCES_IN_TRANSPORT};
use crate::model::grid::Grid;
use crate::model::params::{ModelParams, RtShape, MIN_PER_DAY};
use crate::model::state::Systemic;
use multiversion::multiversion;

/// x^n / (x^n + k^n) for x >= 0; 0 at x <= 0 (mirrors `hill` in common.wgsl).
#[inline(always)]
pub fn hill<T: Real>(x: T, k: f32, n: f32) -> T {
    let zero = T::splat(0.0);
    let rising = T::splat(1.0) / ((T::splat(k) / x).powf(n) + 1.0);
    x.if_le(zero, zero, rising)
}

/// Saturating x / (x + k) for x >= 0 (mirrors `sat` in common.wgsl).
#[inline(always)]
pub fn sat<T: Real>(x: T, k: f32) -> T {
    let x = x.max(T::splat(0.0));
    x / (x + k)
}

/// Exact relaxation of `s` toward `target` by the factor `decay` =
/// exp(-dt / tau) of the step (see `Decays`).
#[inline(always)]
fn relax<T: Real>(s: T, target: T, decay: f32) -> T {
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
/// react.wgsl). One exponential serves both terms.
#[inline(always)]
fn step_linear<T: Real>(u: T, gain: T, loss: T, dt: f32) -> T {
    let z = loss * dt;
    let decay = (T::splat(0.0) - z).exp();
    u * decay + gain * dt * phi1(z, decay)
}

/// (1 - e^-z) / z for z >= 0, given `decay` = e^-z, from its series below
/// 0.01 where the subtraction would cancel (the first term left out,
/// z^4/120, is under 1e-10).
#[inline(always)]
fn phi1<T: Real>(z: T, decay: T) -> T {
    let one = T::splat(1.0);
    let series = one - z * (T::splat(0.5) - z * (T::splat(1.0 / 6.0) - z / 24.0));
    let exact = (one - decay) / z;
    z.if_lt(T::splat(0.01), series, exact)
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
    for_each_lanes_emitting(fields, sources, slots, |first, count, v, emitted| {
        react_lanes(
            v,
            p,
            sys,
            &step,
            radiation_lanes(grid, p, first, count),
            source_mask,
            emitted,
        )
    });
}

/// `react_voxel` over `LANES` voxels, compiled for the widest vector
/// instructions the CPU has: every piece of the kernel is inlined into it.
/// Rust never fuses a multiply and an add on its own, so every target
/// gives the same bits.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn react_lanes(
    v: &mut [Lanes; FIELD_COUNT],
    p: &ModelParams,
    sys: &Systemic,
    step: &Step,
    in_rt_field: Lanes,
    source_mask: u32,
    emitted: &mut [Lanes; MAX_SOURCES],
) {
    react_voxel(v, p, sys, step, in_rt_field, source_mask, emitted)
}

/// `production` over `LANES` voxels, compiled as `react_lanes` is.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn production_lanes(
    v: &[Lanes; FIELD_COUNT],
    p: &ModelParams,
    in_rt_field: Lanes,
) -> [Lanes; SOURCES_IN_TRANSPORT.len()] {
    production(v, p, in_rt_field)
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
            let base = c * super::CHUNK;
            let len = super::CHUNK.min(n - base);
            for j in (0..len).step_by(LANES) {
                let count = LANES.min(len - j);
                let v = super::gather_lanes(fields, base + j, count);
                let rates = production_lanes(&v, p, radiation_lanes(grid, p, base + j, count));
                for (part, &w) in parts.iter_mut().zip(&which) {
                    part[j..j + count].copy_from_slice(&rates[w].0[..count]);
                }
            }
        });
}

/// `in_radiation_field` of the `count` voxels from `first` (the lanes past
/// `count` repeat the last, as `gather_lanes` fills them).
fn radiation_lanes(grid: &Grid, p: &ModelParams, first: usize, count: usize) -> Lanes {
    if p.rt_shape == RtShape::Whole.code() {
        return Lanes::splat(1.0);
    }
    Lanes(std::array::from_fn(|l| {
        in_radiation_field(grid, p, first + l.min(count - 1))
    }))
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
        /// The values of one voxel (or of `LANES` voxels) as the kernel
        /// reads them (`Voxel` in react.wgsl): every field, with `pi3k` the
        /// effective activity, then the crowding `rho` (the cell sum), the
        /// free space and the antigen signal. Derived members come after
        /// the fields, in the order of `gpu::shaders::VOXEL_DERIVED`
        /// (tests/twins.rs).
        #[derive(Clone, Copy, Debug)]
        pub struct Voxel<T = f32> {
            $(pub $name: T,)*
            pub rho: T,
            pub free: T,
            pub antigen: T,
        }

        /// Every field of one voxel as stored; the derived members zero.
        fn read_fields<T: Real>(v: &[T; FIELD_COUNT]) -> Voxel<T> {
            Voxel {
                $($name: v[idx::$index],)*
                rho: T::splat(0.0),
                free: T::splat(0.0),
                antigen: T::splat(0.0),
            }
        }

        impl<T: Real> Voxel<T> {
            /// Field f's member, if f is a field of the registry.
            fn field_mut(&mut self, f: usize) -> Option<&mut T> {
                match f {
                    $(idx::$index => Some(&mut self.$name),)*
                    _ => None,
                }
            }

            fn field(&self, f: usize) -> T {
                match f {
                    $(idx::$index => self.$name,)*
                    _ => T::splat(0.0),
                }
            }
        }
    };
}
for_each_field!(voxel);

/// Read one voxel. Transport and reactions keep every molecule >= 0: read
/// as is.
#[inline(always)]
pub fn read_voxel<T: Real>(v: &[T; FIELD_COUNT], p: &ModelParams) -> Voxel<T> {
    let mut x = read_fields(v);
    // A PI3K inhibitor lowers the effective pathway activity (7).
    x.pi3k = x.pi3k * (1.0 - p.pi3k_inhibition);
    x.rho = cell_sum(v);
    x.free = (T::splat(1.0) - x.rho / p.crowding_limit).max(T::splat(0.0));
    x.antigen = sat(x.tumor, p.antigen_k);
    x
}

/// How well the local T cells work.
#[derive(Clone, Copy, Debug)]
pub struct TCell<T = f32> {
    pub pd1_signal: T,
    /// PD-1, Treg, ARG1 and adenosine suppression together.
    pub t_function: T,
    pub f_lag3: T,
    pub f_kyn: T,
    pub activation: T,
}

/// T-cell function: PD-1 (2, 9, 10), Tregs (1), ARG1 (2), adenosine (11);
/// LAG-3 (6) and kynurenine (12) limits; IFN-gamma activation (4).
#[inline(always)]
pub fn t_cell_function<T: Real>(v: &Voxel<T>, p: &ModelParams) -> TCell<T> {
    let one = T::splat(1.0);
    let ligand = v.pdl1 * v.tumor + v.tam * p.tam_pdl1;
    let engagement = sat(ligand, p.pdl1_engagement_k);
    let pd1_signal = v.pd1
        * (p.pd1_signal_gain * p.lck_pd1_phosphorylation)
        * (1.0 - p.pd1_occupancy)
        * engagement;
    let f_pd1 = one / (pd1_signal + 1.0);
    let f_treg = one / (v.treg / p.treg_suppression_k + 1.0);
    let f_arg1 = one / (v.tam / p.arg1_k + 1.0);
    let f_ado = one
        - sat(v.adenosine * (1.0 - p.a2a_occupancy), p.adenosine_ec50_nm)
            * p.adenosine_suppression_max;
    TCell {
        pd1_signal,
        t_function: f_pd1 * f_treg * f_arg1 * f_ado,
        // LAG-3 limits proliferation and cytokines; kynurenine proliferation.
        f_lag3: one / (v.lag3 * p.lag3_inhibition * (1.0 - p.lag3_occupancy) + 1.0),
        f_kyn: one / (v.kynurenine / p.kyn_prolif_ic50_nm + 1.0),
        activation: sat(v.ifng, p.ifng_activation_ec50_nm) * p.ifng_activation_gain + 1.0,
    }
}

/// The tumour's loss rate and what its dying releases.
#[derive(Clone, Copy, Debug)]
pub struct TumorDeaths<T = f32> {
    /// Loss rate of tumour cells, 1/min.
    pub tumor_death: T,
    /// Tumour dying per day (antigen and ATP source).
    pub dying_per_day: T,
    /// Immunogenic (therapy) deaths per day.
    pub icd_per_day: T,
}

/// Killing (saturating in both populations; exhaustion blunts it) and
/// therapy deaths: radiation inside its field (`rt`, 1/day in the field),
/// chemotherapy of cycling cells. Both therapies are immunogenic.
#[inline(always)]
pub fn tumor_deaths<T: Real>(v: &Voxel<T>, t: &TCell<T>, rt: T, p: &ModelParams) -> TumorDeaths<T> {
    let day = 1.0 / MIN_PER_DAY;
    let kill_per_tumor = t.activation
        * (p.kill_rate_per_day * day)
        * t.t_function
        * (T::splat(1.0) - v.exhaustion * p.exhaustion_kill_reduction)
        * v.cd8
        / (v.tumor + v.cd8 + p.kill_saturation);
    let icd_rate = rt * p.rt_death_tumor_per_day + v.free * (p.chemo_kill_per_day * day);
    let tumor_death =
        kill_per_tumor + (p.tumor_death_per_day + p.sink_tumor_per_day) * day + icd_rate;
    TumorDeaths {
        tumor_death,
        dying_per_day: tumor_death * v.tumor * MIN_PER_DAY,
        icd_per_day: icd_rate * v.tumor * MIN_PER_DAY,
    }
}

/// Production P (scaled by free space) and loss rate L of each cell field,
/// per minute (the tumour's loss is `TumorDeaths::tumor_death`).
#[derive(Clone, Copy, Debug)]
pub struct CellRates<T = f32> {
    pub tumor_p: T,
    pub cd8_entry: T,
    pub cd8_prolif: T,
    pub cd8_l: T,
    pub treg_p: T,
    pub treg_l: T,
    pub mdsc_p: T,
    pub mdsc_l: T,
    pub tam_p: T,
    pub tam_l: T,
    pub dc_p: T,
    pub dc_l: T,
    pub vessel_p: T,
    pub vessel_l: T,
}

/// The cell fields' production and loss; `priming` is the systemic level.
#[inline(always)]
pub fn cell_rates<T: Real>(
    v: &Voxel<T>,
    t: &TCell<T>,
    d: &TumorDeaths<T>,
    rt: T,
    priming: f32,
    p: &ModelParams,
) -> CellRates<T> {
    let day = 1.0 / MIN_PER_DAY;
    let one = T::splat(1.0);
    let free = v.free;
    let tumor_p = (v.pi3k * p.pi3k_proliferation_gain + 1.0)
        * (p.tumor_growth_per_day * day)
        * v.tumor
        * free;

    // Entry through vessels: VEGF disorders vessels (13), Wnt excludes (8).
    let vessel_quality = one / (v.vegf / p.vegf_vessel_disorder_k_nm + 1.0);
    let supply = p.cd8_basal_supply + priming;
    let cd8_entry = v.vessel
        * (p.cd8_entry_per_day * day)
        * vessel_quality
        * supply
        * (one - v.wnt * p.wnt_exclusion)
        * free;
    let cd8_prolif = v.antigen
        * (p.cd8_prolif_per_day * day)
        * t.activation
        * t.t_function
        * t.f_lag3
        * t.f_kyn
        * v.cd8
        * free;
    let kyn_conversion =
        sat(v.kynurenine, p.kyn_treg_ec50_nm) * (p.kyn_treg_induction_per_day * day);
    let ros = sat(v.mdsc, p.mdsc_ros_k) * (p.mdsc_ros_kill_per_day * day);
    let cd8_l = v.exhaustion * (p.cd8_exhaustion_death_per_day * day)
        + (p.cd8_death_per_day + p.sink_cd8_per_day) * day
        + ros
        + kyn_conversion
        + rt * p.rt_death_cd8_per_day;

    // MDSC recruitment: VEGF (13) and adenosine through A2B (11).
    let a2b = sat(v.adenosine * (1.0 - p.a2a_occupancy), p.adenosine_ec50_nm) * p.ado_mdsc_gain;
    CellRates {
        tumor_p,
        cd8_entry,
        cd8_prolif,
        cd8_l,
        treg_p: v.vessel * (p.treg_entry_per_day * day) * vessel_quality * free
            + kyn_conversion * v.cd8,
        treg_l: rt * p.rt_death_treg_per_day + (p.treg_death_per_day + p.sink_treg_per_day) * day,
        mdsc_p: v.vessel
            * (p.mdsc_entry_per_day * day)
            * (sat(v.vegf, p.vegf_mdsc_ec50_nm) * p.mdsc_vegf_gain + 1.0 + a2b)
            * free,
        mdsc_l: rt * p.rt_death_mdsc_per_day + (p.mdsc_death_per_day + p.sink_mdsc_per_day) * day,
        tam_p: v.vessel
            * (p.tam_entry_per_day * day)
            * (sat(v.il10, p.il10_tam_ec50_nm) * p.tam_il10_gain + 1.0)
            * free,
        tam_l: rt * p.rt_death_tam_per_day + (p.tam_death_per_day + p.sink_tam_per_day) * day,
        dc_p: dc_maturation(v, d, p),
        dc_l: rt * p.rt_death_dc_per_day + (p.dc_death_per_day + p.sink_dc_per_day) * day,
        vessel_p: sat(v.vegf, p.vegf_angio_ec50_nm)
            * (p.angiogenesis_per_day * day)
            * v.vessel
            * free,
        vessel_l: (v.rho / p.crowding_limit).min(one) * (p.vessel_regression_per_day * day)
            + p.sink_vessel_per_day * day
            + rt * p.rt_death_vessel_per_day,
    }
}

/// DC maturation from antigen (live and dying tumour), inhibited by IL-10
/// (5), VEGF (13) and tumour PI3K (7); probiotics scale it systemically,
/// and immunogenic death (calreticulin, ATP, HMGB1) is an adjuvant.
#[inline(always)]
pub fn dc_maturation<T: Real>(v: &Voxel<T>, d: &TumorDeaths<T>, p: &ModelParams) -> T {
    let day = 1.0 / MIN_PER_DAY;
    let dc_antigen = sat(
        v.tumor + d.dying_per_day * p.dc_death_antigen_gain,
        p.antigen_k,
    );
    let dc_inhibition = (v.il10 / p.il10_dc_ic50_nm + 1.0)
        * (v.vegf / p.vegf_dc_ic50_nm + 1.0)
        * (v.pi3k * p.pi3k_dc_inhibition * v.antigen + 1.0);
    let icd_adjuvant = sat(d.icd_per_day, p.icd_k_per_day) * p.icd_dc_gain + 1.0;
    dc_antigen
        * (p.dc_maturation_per_day * day * p.dc_precursor)
        * icd_adjuvant
        * p.dc_systemic_boost
        / dc_inhibition
        * v.free
}

/// The factor all cell gains of a step of `dt` are scaled by together, so
/// the cell sum stays within the crowding limit.
#[inline(always)]
pub fn crowding_scale<T: Real>(c: &CellRates<T>, rho: T, dt: f32, p: &ModelParams) -> T {
    let gain = (c.tumor_p
        + c.cd8_entry
        + c.cd8_prolif
        + c.treg_p
        + c.mdsc_p
        + c.tam_p
        + c.dc_p
        + c.vessel_p)
        * dt;
    let room = (T::splat(p.crowding_limit) - rho).max(T::splat(0.0));
    // Scaled where gain > room.
    room.if_lt(gain, room / gain, T::splat(1.0))
}

/// Production (nM/min) and loss rate (1/min) of the molecules. The
/// cellular production of every molecule (`*_p`) is what the transport may
/// integrate (`SOURCES_IN_TRANSPORT`); the cell-dependent losses (IFN-gamma
/// and VEGF uptake), adenosine's and kynurenine's exchange with plasma
/// through vessels (`*_plasma` in, `*_l` out) and the therapy sinks stay
/// here (the decay is in the transport).
#[derive(Clone, Copy, Debug)]
pub struct MoleculeRates<T = f32> {
    pub ifng_p: T,
    pub ifng_l: T,
    pub il10_p: T,
    pub vegf_p: T,
    pub vegf_l: T,
    pub ado_p: T,
    pub ado_plasma: T,
    pub ado_l: T,
    pub kyn_p: T,
    pub kyn_plasma: T,
    pub kyn_l: T,
}

#[inline(always)]
pub fn molecule_rates<T: Real>(
    v: &Voxel<T>,
    t: &TCell<T>,
    d: &TumorDeaths<T>,
    p: &ModelParams,
) -> MoleculeRates<T> {
    let day = 1.0 / MIN_PER_DAY;
    // ATP released by stressed and dying cells, turned into adenosine by
    // the CD39/CD73 on tumour cells, Tregs and MDSCs (saturable in ATP).
    let atp = v.tumor * p.atp_release_basal + d.dying_per_day * p.atp_release_death;
    let cd73 = v.tumor * p.cd73_tumor + v.treg * p.cd73_treg + v.mdsc * p.cd73_mdsc;
    // IDO1 in tumour cells (IFN-gamma-induced), MDSCs and DCs; TDO in
    // tumour cells, which IDO1 inhibitors do not touch.
    let ido_activity = v.mdsc * p.kyn_secretion_mdsc
        + v.dc * p.kyn_secretion_dc
        + v.tumor * v.ido * p.kyn_secretion_tumor * sat(v.ifng, p.ido_ifng_ec50_nm);
    MoleculeRates {
        ifng_p: v.cd8 * p.ifng_secretion * v.antigen * t.activation * t.t_function * t.f_lag3,
        ifng_l: (v.tumor + v.cd8) * p.ifng_uptake + p.sink_ifng_per_day * day,
        il10_p: v.treg * p.il10_secretion_treg + v.tam * p.il10_secretion_tam,
        vegf_p: v.tumor * p.vegf_secretion_tumor * (v.pi3k * p.pi3k_vegf_gain + 1.0)
            + v.mdsc * p.vegf_secretion_mdsc
            + v.tam * p.vegf_secretion_tam,
        vegf_l: v.vessel * p.vegf_vessel_uptake + p.sink_vegf_per_day * day,
        ado_p: cd73 * p.adenosine_production * sat(atp, p.atp_km),
        ado_plasma: v.vessel * p.ado_vessel_exchange * p.adenosine_plasma_nm,
        ado_l: v.vessel * p.ado_vessel_exchange + p.sink_adenosine_per_day * day,
        kyn_p: ido_activity * (1.0 - p.ido_inhibition) + v.tumor * p.kyn_secretion_tdo,
        kyn_plasma: v.vessel * p.kyn_vessel_exchange * p.kynurenine_plasma_nm,
        kyn_l: v.vessel * p.kyn_vessel_exchange + p.sink_kynurenine_per_day * day,
    }
}

/// The bounded levels the states relax toward.
#[derive(Clone, Copy, Debug)]
pub struct StateTargets<T = f32> {
    pub pdl1: T,
    pub pd1: T,
    pub lag3: T,
    pub exhaustion: T,
}

#[inline(always)]
pub fn state_targets<T: Real>(v: &Voxel<T>, t: &TCell<T>, p: &ModelParams) -> StateTargets<T> {
    let drive = v.antigen
        * p.exhaustion_antigen_gain
        * (v.lag3 * p.tim3_exhaustion_gain + 1.0)
        * (t.pd1_signal + 1.0);
    StateTargets {
        pdl1: (hill(v.ifng, p.pdl1_ifng_ec50_nm, p.pdl1_hill) * (p.pdl1_max_fold - 1.0) + 1.0)
            * (v.pi3k * p.pi3k_pdl1_gain + 1.0),
        pd1: v.antigen * p.pd1_chronic_gain + p.pd1_base,
        lag3: (v.antigen * p.lag3_antigen_gain + p.lag3_base).min(T::splat(1.0)),
        exhaustion: drive / (drive + 1.0),
    }
}

/// The production rates (nM/min) of the source molecules
/// (`SOURCES_IN_TRANSPORT`, in that order) in one voxel (or `LANES`).
/// Keep in step with `produce` in produce.wgsl.
#[inline(always)]
pub fn production<T: Real>(
    v: &[T; FIELD_COUNT],
    p: &ModelParams,
    in_rt_field: T,
) -> [T; SOURCES_IN_TRANSPORT.len()] {
    let x = read_voxel(v, p);
    let t = t_cell_function(&x, p);
    let d = tumor_deaths(&x, &t, in_rt_field / MIN_PER_DAY, p);
    let m = molecule_rates(&x, &t, &d, p);
    SOURCES_IN_TRANSPORT.map(|f| m.production_of(f))
}

impl<T: Real> MoleculeRates<T> {
    /// The production rate of molecule field `f` (0 for other fields).
    pub fn production_of(&self, f: usize) -> T {
        match f {
            idx::IFNG => self.ifng_p,
            idx::IL10 => self.il10_p,
            idx::VEGF => self.vegf_p,
            idx::ADENOSINE => self.ado_p,
            idx::KYNURENINE => self.kyn_p,
            _ => T::splat(0.0),
        }
    }
}

/// The rates of one voxel at one state: what `advance` needs.
struct StageRates<T> {
    cells: CellRates<T>,
    tumor_death: T,
    molecules: MoleculeRates<T>,
    targets: StateTargets<T>,
}

#[inline(always)]
fn stage_rates<T: Real>(x: &Voxel<T>, p: &ModelParams, priming: f32, rt: T) -> StageRates<T> {
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
#[inline(always)]
fn advance<T: Real>(
    v: &mut [T; FIELD_COUNT],
    x: &Voxel<T>,
    r: &StageRates<T>,
    dt: f32,
    decays: &Decays,
    source_mask: u32,
    p: &ModelParams,
) {
    let day = 1.0 / MIN_PER_DAY;
    let own = |f: usize, rate: T| {
        if source_mask & (1 << f) != 0 {
            T::splat(0.0)
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
        T::splat(p.sink_il10_per_day * day),
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
    let cell = |u: T, prod: T, loss: T| step_linear(u, scale * prod, loss, dt);
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
#[inline(always)]
pub fn midpoint_voxel<T: Real>(half: &Voxel<T>, start: &Voxel<T>, source_mask: u32) -> Voxel<T> {
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
#[inline(always)]
fn react_voxel<T: Real>(
    v: &mut [T; FIELD_COUNT],
    p: &ModelParams,
    sys: &Systemic,
    step: &Step,
    in_rt_field: T,
    source_mask: u32,
    emitted: &mut [T; MAX_SOURCES],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fields::{FieldKind, FIELDS};
    use crate::model::rng::SplitMix64;

    /// 13 x 7 voxels: eleven whole runs of lanes and a run of three.
    const GRID: Grid = Grid {
        nx: 13,
        ny: 7,
        nz: 1,
        dx_um: 40.0,
    };

    /// Fields that reach every branch: zeros, crowded voxels (the cell sum
    /// above the limit), molecules from 0 to thousands of nM, states and
    /// maps over their range [0, 1].
    fn awkward_fields(seed: u64) -> Vec<Vec<f32>> {
        let mut rng = SplitMix64(seed);
        (0..FIELD_COUNT)
            .map(|f| {
                let scale = match FIELDS[f].kind {
                    FieldKind::Cell => 0.4,
                    FieldKind::Molecule => 3000.0,
                    FieldKind::State | FieldKind::Map => 1.0,
                };
                (0..GRID.len())
                    .map(|_| {
                        let u = rng.unit() as f32;
                        if u < 0.15 {
                            0.0
                        } else {
                            scale * u * u * u
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The default parameters, and a set with every therapy on and a disk
    /// of radiation that covers part of the grid.
    fn parameter_sets() -> [ModelParams; 2] {
        let mut treated = ModelParams::default();
        for (name, value) in [
            ("rt_shape", RtShape::Disk.code()),
            ("rt_radius_um", 150.0),
            ("rt_center_x_um", 200.0),
            ("rt_center_y_um", 100.0),
            ("rt_death_tumor_per_day", 0.8),
            ("rt_death_cd8_per_day", 0.3),
            ("chemo_kill_per_day", 0.4),
            ("pi3k_inhibition", 0.5),
            ("a2a_occupancy", 0.6),
            ("pd1_occupancy", 0.9),
            ("lag3_occupancy", 0.7),
            ("ido_inhibition", 0.8),
        ] {
            *treated.get_mut(name).expect(name) = value;
        }
        [ModelParams::default(), treated]
    }

    /// The stage one voxel at a time (the kernel over `f32`).
    fn react_scalar(fields: &mut [Vec<f32>], p: &ModelParams, dt: f32, mask: u32) -> Vec<f32> {
        let sys = Systemic {
            priming: 0.3,
            ..Systemic::default()
        };
        let step = Step {
            dt,
            half: Decays::new(p, 0.5 * dt),
            whole: Decays::new(p, dt),
        };
        let n = GRID.len();
        let slots = mask.count_ones() as usize;
        let mut out = vec![0.0; slots * n];
        for i in 0..n {
            let mut v: [f32; FIELD_COUNT] = std::array::from_fn(|f| fields[f][i]);
            let mut e = [0.0; MAX_SOURCES];
            let rt = in_radiation_field(&GRID, p, i);
            react_voxel(&mut v, p, &sys, &step, rt, mask, &mut e);
            for (f, x) in v.iter().enumerate() {
                fields[f][i] = *x;
            }
            for s in 0..slots {
                out[s * n + i] = e[s];
            }
        }
        out
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn eight_voxels_at_once_give_the_bits_of_one_at_a_time() {
        let all_sources = SOURCES_IN_TRANSPORT.iter().fold(0u32, |m, &f| m | (1 << f));
        for (k, p) in parameter_sets().iter().enumerate() {
            for mask in [0, all_sources] {
                for dt in [7.5, 60.0] {
                    let start = awkward_fields(17 + k as u64);
                    let mut scalar = start.clone();
                    let emitted_scalar = react_scalar(&mut scalar, p, dt, mask);
                    let mut lanes = start.clone();
                    let slots = mask.count_ones() as usize;
                    let mut emitted = vec![0.0; slots * GRID.len()];
                    let sys = Systemic {
                        priming: 0.3,
                        ..Systemic::default()
                    };
                    react(&GRID, &mut lanes, p, &sys, dt, mask, &mut emitted);
                    for f in 0..FIELD_COUNT {
                        assert_eq!(
                            bits(&lanes[f]),
                            bits(&scalar[f]),
                            "field {f}, parameters {k}, mask {mask:#x}, dt {dt}"
                        );
                    }
                    assert_eq!(bits(&emitted), bits(&emitted_scalar));
                    // The stage did something (a test of nothing passes
                    // too), and kept every field non-negative.
                    assert!(lanes.iter().zip(&start).any(|(a, b)| a != b));
                    assert!(lanes.iter().flatten().all(|x| *x >= 0.0));
                }
            }
        }
    }

    #[test]
    fn production_of_eight_voxels_is_the_production_of_each() {
        for p in parameter_sets() {
            let fields = awkward_fields(5);
            let n = GRID.len();
            let slots = SOURCES_IN_TRANSPORT.to_vec();
            let mut out = vec![0.0; slots.len() * n];
            produce(&GRID, &fields, &p, &slots, &mut out);
            for i in 0..n {
                let v: [f32; FIELD_COUNT] = std::array::from_fn(|f| fields[f][i]);
                let one = production(&v, &p, in_radiation_field(&GRID, &p, i));
                for (s, rate) in one.iter().enumerate() {
                    assert_eq!(
                        out[s * n + i].to_bits(),
                        rate.to_bits(),
                        "voxel {i}, slot {s}"
                    );
                }
            }
        }
    }
}
