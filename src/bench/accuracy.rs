//! Time to 1% error (`tmesim bench --accuracy`): for each molecule solver
//! and a ladder of step sizes, the wall time to reach a relative L2 error
//! of 1% on two problems with exact solutions (the cases of
//! tests/solver_verification.rs and docs/verification.md):
//! - steady-square: a 64 x 64 square with Dirichlet edges at 1, from 0,
//!   against the exact discrete steady state (both solvers converge to
//!   it); the number of steps is the first that comes within 1%;
//! - point-source: a one-voxel pulse on a 65 x 65 no-flux square after
//!   120 min, against the exact semi-discrete solution (cosine basis).
//!
//! Diffusion only, IFN-gamma alone with D = 100 um^2/min, decay 0.01/min,
//! dx = 10 um; the other molecules and the cells are switched off.

use crate::backend::Backend;
use crate::config::initial::initial_state;
use crate::config::load::parse_config;
use crate::model::exponential::dirichlet_offset;
use crate::model::fields::{fields_of, idx, FieldKind, FIELDS};
use crate::model::state::State;
use crate::sim::scenario::{resolve, ArmSpec};
use crate::sim::select::{make_backend, BackendChoice};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// The error to reach (relative L2).
pub const TARGET_ERROR: f64 = 0.01;
/// Step sizes tried, in minutes; each divides [`PULSE_END_MIN`].
pub const LADDER_MIN: [f64; 6] = [0.125, 0.5, 2.0, 8.0, 20.0, 60.0];
const DIFFUSION: f64 = 100.0;
const DECAY: f64 = 0.01;
const DX_UM: f64 = 10.0;
/// The steady state is about 300 min away; give up well past it.
const STEADY_CAP_MIN: f64 = 3000.0;
const PULSE_END_MIN: f64 = 120.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    SteadySquare,
    PointSource,
}

impl Case {
    pub const ALL: [Case; 2] = [Case::SteadySquare, Case::PointSource];

    pub fn name(self) -> &'static str {
        match self {
            Case::SteadySquare => "steady-square",
            Case::PointSource => "point-source",
        }
    }

    pub fn describe(self) -> String {
        match self {
            Case::SteadySquare => format!(
                "{n} x {n} voxels, Dirichlet edges at 1, from 0 to within 1% of the exact discrete steady state",
                n = self.side()
            ),
            Case::PointSource => format!(
                "{n} x {n} voxels, no-flux, a one-voxel pulse at the centre against the exact semi-discrete solution after {PULSE_END_MIN} min",
                n = self.side()
            ),
        }
    }

    fn side(self) -> usize {
        match self {
            Case::SteadySquare => 64,
            Case::PointSource => 65,
        }
    }
}

pub const SOLVERS: [&str; 2] = ["exponential", "explicit"];

/// One (case, solver, dt) of the ladder.
pub struct Attempt {
    pub case: Case,
    pub solver: &'static str,
    pub dt_min: f64,
    /// Steps to the target, or None when the cap came first.
    pub steps: Option<u64>,
    /// Error after `steps` (or at the cap).
    pub error: f64,
    /// Wall time of those steps (None when not reached).
    pub wall: Option<Duration>,
}

/// The scenario of `case` with `solver` at `dt`, running `minutes`.
fn scenario(case: Case, solver: &str, dt: f64, minutes: f64) -> Result<ArmSpec> {
    let n = case.side();
    let boundary = match case {
        Case::SteadySquare => "{ dirichlet = 1.0 }",
        Case::PointSource => "\"no_flux\"",
    };
    let mut toml = format!(
        "[grid]\nnx = {n}\nny = {n}\nnz = 1\ndx_um = {DX_UM:?}\n\
         [time]\ndt_min = {dt:?}\nend_days = {:?}\nsave_every_min = {dt:?}\n\
         [model]\nreactions = false\n[solver]\ndiffusion = \"{solver}\"\n\
         [fields.ifng]\ndiffusion_um2_per_min = {DIFFUSION:?}\ndecay_per_min = {DECAY:?}\nboundary = {boundary}\n",
        minutes / 1440.0
    );
    toml += &others_still(idx::IFNG);
    let path = Path::new("bench-accuracy.toml");
    let config = parse_config(&toml, path, &[])?;
    Ok(resolve(config, path)?)
}

/// Config tables that stop every molecule but `molecule` and every cell
/// field from moving or decaying, so a case measures one molecule's
/// transport alone (also used by tests/solver_verification.rs).
pub fn others_still(molecule: usize) -> String {
    let mut toml = String::new();
    for m in fields_of(FieldKind::Molecule).filter(|&m| m != molecule) {
        toml += &format!(
            "[fields.{}]\ndiffusion_um2_per_min = 0.0\ndecay_per_min = 0.0\n",
            FIELDS[m].name
        );
    }
    for c in fields_of(FieldKind::Cell) {
        toml += &format!("[fields.{}]\ndiffusion_um2_per_min = 0.0\n", FIELDS[c].name);
        if FIELDS[c].chemotaxis_um2_per_min > 0.0 {
            toml += "chemotaxis_um2_per_min = 0.0\n";
        }
    }
    toml
}

/// The case's start: IFN-gamma 0 everywhere, or 1 in the centre voxel.
fn start(case: Case, arm: &ArmSpec) -> Result<State> {
    let mut state = initial_state(&arm.spec)?;
    let u = &mut state.fields[idx::IFNG];
    u.iter_mut().for_each(|v| *v = 0.0);
    if case == Case::PointSource {
        let c = case.side() / 2;
        u[arm.spec.grid.index(c, c, 0)] = 1.0;
    }
    Ok(state)
}

/// The exact discrete steady state: the Dirichlet offset of one step so
/// long that every mode has decayed (e^z underflows to 0), which is
/// (lambda - D L)^-1 of the boundary source.
fn steady_square_exact(n: usize) -> Vec<f64> {
    let forever = 1e6;
    let r = forever * DIFFUSION / (DX_UM * DX_UM);
    dirichlet_offset([n, n, 1], &[0, 1], r, DECAY * forever, 1.0)
}

/// exp(r h^2 L) of a no-flux line of `n` cells from its cosine (DCT-II)
/// eigenbasis v_k(i) = c_k cos(pi k (i + 1/2) / n), mu_k = -4 sin^2(pi k
/// / 2n): independent of the solver's scaling and squaring.
fn no_flux_line(n: usize, r: f64) -> Vec<f64> {
    use std::f64::consts::PI;
    let v = |i: usize, k: usize| {
        let c = if k == 0 { 1.0 } else { 2.0 } / n as f64;
        c.sqrt() * (PI * k as f64 * (i as f64 + 0.5) / n as f64).cos()
    };
    let decay: Vec<f64> = (0..n)
        .map(|k| (-4.0 * r * (PI * k as f64 / (2.0 * n as f64)).sin().powi(2)).exp())
        .collect();
    let mut e = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            e[i * n + j] = (0..n).map(|k| v(i, k) * v(j, k) * decay[k]).sum();
        }
    }
    e
}

/// The exact semi-discrete solution of the centre pulse at `t` minutes.
fn point_source_exact(n: usize, t: f64) -> Vec<f64> {
    let line = no_flux_line(n, DIFFUSION * t / (DX_UM * DX_UM));
    let c = n / 2;
    let fade = (-DECAY * t).exp();
    (0..n * n)
        .map(|i| line[(i % n) * n + c] * line[(i / n) * n + c] * fade)
        .collect()
}

/// Relative L2 error of `u` against `exact`.
pub fn relative_l2(u: &[f32], exact: &[f64]) -> f64 {
    let num: f64 = u
        .iter()
        .zip(exact)
        .map(|(&a, b)| (a as f64 - b).powi(2))
        .sum();
    let den: f64 = exact.iter().map(|b| b * b).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// `state` advanced by `steps` steps.
fn advance(backend: &mut dyn Backend, arm: &ArmSpec, state: &State, steps: u64) -> Result<State> {
    backend.upload(state)?;
    let params = super::timing::step_params(arm, state.step, steps);
    backend.run_steps(&params)?;
    backend.download()
}

/// The fewest steps whose error is within the target, at most `cap`, and
/// the error there (or at the cap). The error falls monotonically toward
/// the steady state, so: doubling, then bisection, reading back O(log)
/// states rather than every step's.
fn steps_to_target(
    backend: &mut dyn Backend,
    arm: &ArmSpec,
    start: &State,
    exact: &[f64],
    cap: u64,
) -> Result<(Option<u64>, f64)> {
    let error = |s: &State| relative_l2(&s.fields[idx::IFNG], exact);
    let (mut lo, mut lo_state) = (0, start.clone());
    let mut hi = 1.min(cap);
    let mut hi_error = loop {
        let s = advance(backend, arm, &lo_state, hi - lo)?;
        let e = error(&s);
        if e <= TARGET_ERROR {
            break e;
        }
        if hi >= cap {
            return Ok((None, e));
        }
        (lo, lo_state) = (hi, s);
        hi = (hi * 2).min(cap);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let s = advance(backend, arm, &lo_state, mid - lo)?;
        let e = error(&s);
        if e <= TARGET_ERROR {
            (hi, hi_error) = (mid, e);
        } else {
            (lo, lo_state) = (mid, s);
        }
    }
    Ok((Some(hi), hi_error))
}

/// Wall time of `steps` steps from `state` and the read-back ending them.
fn timed_run(
    backend: &mut dyn Backend,
    arm: &ArmSpec,
    state: &State,
    steps: u64,
) -> Result<(Duration, State)> {
    backend.upload(state)?;
    let params = super::timing::step_params(arm, state.step, steps);
    let start = Instant::now();
    backend.run_steps(&params)?;
    let end = backend.download()?;
    Ok((start.elapsed(), end))
}

fn attempt(choice: BackendChoice, case: Case, solver: &'static str, dt: f64) -> Result<Attempt> {
    let minutes = match case {
        Case::SteadySquare => STEADY_CAP_MIN,
        Case::PointSource => PULSE_END_MIN,
    };
    let arm = scenario(case, solver, dt, minutes)
        .with_context(|| format!("accuracy case {} at dt {dt}", case.name()))?;
    let state = start(case, &arm)?;
    let (mut backend, _) = make_backend(choice, &arm)?;
    let steps_total = (minutes / dt).round() as u64;
    let (exact, steps, error) = match case {
        Case::SteadySquare => {
            let exact = steady_square_exact(case.side());
            let (steps, error) =
                steps_to_target(backend.as_mut(), &arm, &state, &exact, steps_total)?;
            (exact, steps, error)
        }
        Case::PointSource => {
            let exact = point_source_exact(case.side(), PULSE_END_MIN);
            (exact, Some(steps_total), f64::NAN)
        }
    };
    let Some(steps) = steps else {
        return Ok(Attempt {
            case,
            solver,
            dt_min: dt,
            steps: None,
            error,
            wall: None,
        });
    };
    let (wall, end) = timed_run(backend.as_mut(), &arm, &state, steps)?;
    let error = relative_l2(&end.fields[idx::IFNG], &exact);
    let reached = error <= TARGET_ERROR;
    Ok(Attempt {
        case,
        solver,
        dt_min: dt,
        steps: reached.then_some(steps),
        error,
        wall: reached.then_some(wall),
    })
}

/// Every case, solver and step size of the ladder.
pub fn run(choice: BackendChoice) -> Result<Vec<Attempt>> {
    let mut all = Vec::new();
    for case in Case::ALL {
        for solver in SOLVERS {
            for dt in LADDER_MIN {
                all.push(attempt(choice, case, solver, dt)?);
            }
        }
    }
    Ok(all)
}

/// The attempt of `case` and `solver` that reached the target in the least
/// wall time.
pub fn fastest<'a>(all: &'a [Attempt], case: Case, solver: &str) -> Option<&'a Attempt> {
    all.iter()
        .filter(|a| a.case == case && a.solver == solver)
        .filter_map(|a| a.wall.map(|w| (w, a)))
        .min_by_key(|(w, _)| *w)
        .map(|(_, a)| a)
}
