//! Fast sinks with sources, on every backend: a molecule whose decay is
//! fast against the step must come out at its converged value. The source
//! is adenosine made by immobile tumour cells (nothing else moves, grows or
//! dies), so its production P is constant in time and known at every voxel;
//! the exact answers are computed here from the cosine eigenbasis of the
//! grid's no-flux Laplacian:
//! - a uniform source reaches P / lambda (dt 15 and 60 min);
//! - a one-voxel source and a cluster match the exact discrete steady
//!   state (lambda - D L) A = P;
//! - a source switched on, then off (a burst), matches the exact time
//!   course of du/dt = D L u - lambda u + P.

mod common;
use common::*;
use std::f64::consts::PI;
use tmesim::bench::accuracy::others_still;
use tmesim::cpu::react::production;
use tmesim::model::fields::{idx, FIELD_COUNT, SOURCES_IN_TRANSPORT};
use tmesim::model::state::State;
use tmesim::sim::scenario::ArmSpec;

const DX_UM: f64 = 20.0;

/// Reactions on, every field but adenosine still; the tumour neither grows
/// nor dies, and nothing enters (no vessels), so adenosine's production is
/// fixed by the tumour map.
fn scenario(n: usize, dt_min: f64, days: f64) -> ArmSpec {
    spec(&format!(
        "[grid]\nnx = {n}\nny = {n}\ndx_um = {DX_UM}\n[time]\ndt_min = {dt_min}\nend_days = {days}\nsave_every_min = {}\n\
         [params]\ntumor_growth_per_day = 0.0\ntumor_death_per_day = 0.0\n{}",
        dt_min * 4.0,
        others_still(idx::ADENOSINE)
    ))
}

/// A state holding only tumour, `tumor[i]` at voxel i.
fn with_tumour(spec: &ArmSpec, tumor: &[f32]) -> State {
    let mut s = initial(spec);
    for f in s.fields.iter_mut() {
        f.iter_mut().for_each(|v| *v = 0.0);
    }
    s.fields[idx::TUMOR].copy_from_slice(tumor);
    s
}

/// Adenosine's production (nM/min) at every voxel of `state`.
fn adenosine_production(spec: &ArmSpec, state: &State) -> Vec<f64> {
    let p = spec.treatment.params_at(&spec.spec.params, state.step);
    let slot = SOURCES_IN_TRANSPORT
        .iter()
        .position(|&f| f == idx::ADENOSINE)
        .unwrap();
    (0..state.grid.len())
        .map(|i| {
            let mut v = [0f32; FIELD_COUNT];
            for (f, field) in state.fields.iter().enumerate() {
                v[f] = field[i];
            }
            production(&v, &p, 0.0)[slot] as f64
        })
        .collect()
}

/// The no-flux line's eigenbasis: v_k(i) = c_k cos(pi k (i + 1/2) / n),
/// mu_k = -4 sin^2(pi k / 2n) (eigenvalues of h^2 L).
fn cosine_basis(n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let v = (0..n)
        .map(|k| {
            let c = (if k == 0 { 1.0f64 } else { 2.0 } / n as f64).sqrt();
            (0..n)
                .map(|i| c * (PI * k as f64 * (i as f64 + 0.5) / n as f64).cos())
                .collect()
        })
        .collect();
    let mu = (0..n)
        .map(|k| -4.0 * (PI * k as f64 / (2.0 * n as f64)).sin().powi(2))
        .collect();
    (v, mu)
}

/// The exact solution at time t of du/dt = (D/dx^2) L u - lambda u + P on
/// an n x n no-flux grid from u0 (t = infinity: the steady state).
fn exact(n: usize, d: f64, lambda: f64, u0: &[f64], p: &[f64], t: f64) -> Vec<f64> {
    let (v, mu) = cosine_basis(n);
    let forward = |f: &[f64]| -> Vec<f64> {
        let mut hat = vec![0.0; n * n];
        for (ky, vy) in v.iter().enumerate() {
            for (kx, vx) in v.iter().enumerate() {
                let mut s = 0.0;
                for y in 0..n {
                    for x in 0..n {
                        s += vx[x] * vy[y] * f[y * n + x];
                    }
                }
                hat[ky * n + kx] = s;
            }
        }
        hat
    };
    let (u_hat, p_hat) = (forward(u0), forward(p));
    let mut out = vec![0.0; n * n];
    for ky in 0..n {
        for kx in 0..n {
            let rate = lambda - d * (mu[kx] + mu[ky]) / (DX_UM * DX_UM);
            let e = (-rate * t).exp();
            let a = u_hat[ky * n + kx] * e + p_hat[ky * n + kx] * (1.0 - e) / rate;
            for y in 0..n {
                for x in 0..n {
                    out[y * n + x] += a * v[kx][x] * v[ky][y];
                }
            }
        }
    }
    out
}

/// Largest error relative to the largest exact value.
fn relative_error(u: &[f32], exact: &[f64]) -> f64 {
    let scale = exact.iter().cloned().fold(0.0, f64::max);
    u.iter()
        .zip(exact)
        .map(|(&a, &e)| (a as f64 - e).abs())
        .fold(0.0, f64::max)
        / scale
}

fn adenosine_transport(spec: &ArmSpec) -> (f64, f64) {
    let f = &spec.spec.fields[idx::ADENOSINE];
    (f.diffusion as f64, f.decay as f64)
}

/// Run `steps` steps on each backend from `state`; check the source stayed
/// what it was (nothing else changed the tumour), return each adenosine.
fn adenosine_after(spec: &ArmSpec, state: &State, steps: u64) -> Vec<(String, Vec<f32>)> {
    let p0 = adenosine_production(spec, state);
    backends(spec)
        .into_iter()
        .map(|mut b| {
            let s = advance(b.as_mut(), spec, state, steps);
            let p1 = adenosine_production(spec, &s);
            assert_eq!(p0, p1, "{}: the source changed during the run", b.kind());
            (b.kind().to_string(), s.fields[idx::ADENOSINE].clone())
        })
        .collect()
}

#[test]
fn a_uniform_source_with_fast_decay_reaches_p_over_lambda() {
    let n = 12;
    for dt in [15.0, 60.0] {
        let spec = scenario(n, dt, 1.0);
        let state = with_tumour(&spec, &vec![0.5; n * n]);
        let p = adenosine_production(&spec, &state)[0];
        let (_, lambda) = adenosine_transport(&spec);
        assert!(
            lambda * dt > 10.0,
            "a fast sink: lambda dt = {}",
            lambda * dt
        );
        for (kind, u) in adenosine_after(&spec, &state, 4) {
            for &a in &u {
                let err = (a as f64 - p / lambda).abs() / (p / lambda);
                assert!(
                    err < 1e-4,
                    "{kind} dt {dt}: adenosine {a} against P/lambda {} (relative error {err:e})",
                    p / lambda
                );
            }
        }
    }
}

#[test]
fn one_voxel_and_cluster_sources_match_the_exact_steady_state() {
    let n = 24;
    let spec = scenario(n, 15.0, 1.0);
    let (d, lambda) = adenosine_transport(&spec);
    let mut point = vec![0.0; n * n];
    point[n * (n / 2) + n / 2] = 1.0;
    let mut cluster = vec![0.0; n * n];
    for (x, y, t) in [
        (5, 6, 0.9),
        (6, 6, 0.7),
        (5, 7, 0.4),
        (17, 15, 0.8),
        (3, 20, 0.2),
    ] {
        cluster[y * n + x] = t;
    }
    for (name, tumour) in [("one voxel", point), ("cluster", cluster)] {
        let state = with_tumour(&spec, &tumour);
        let p = adenosine_production(&spec, &state);
        let steady = exact(n, d, lambda, &vec![0.0; n * n], &p, f64::INFINITY);
        for (kind, u) in adenosine_after(&spec, &state, 4) {
            let err = relative_error(&u, &steady);
            assert!(
                err < 1e-5,
                "{kind} {name}: relative error {err:e} against the exact steady state"
            );
            assert!(
                u.iter().all(|&a| a >= 0.0),
                "{kind} {name}: a negative value"
            );
        }
    }
}

#[test]
fn a_burst_switched_on_then_off_follows_the_exact_time_course() {
    let n = 16;
    // A slower sink than adenosine's, so the burst's decay is seen over
    // steps: lambda dt = 2 at dt 15 (still fast against the step).
    let spec = spec(&format!(
        "[grid]\nnx = {n}\nny = {n}\ndx_um = {DX_UM}\n[time]\ndt_min = 15\nend_days = 1\nsave_every_min = 60\n\
         [params]\ntumor_growth_per_day = 0.0\ntumor_death_per_day = 0.0\n{}\
         [fields.adenosine]\ndecay_per_min = 0.1333\n",
        others_still(idx::ADENOSINE)
    ));
    let (d, lambda) = adenosine_transport(&spec);
    let mut tumour = vec![0.0; n * n];
    for (x, y) in [(7, 7), (8, 7), (7, 8), (3, 12)] {
        tumour[y * n + x] = 0.8;
    }
    let on = with_tumour(&spec, &tumour);
    let p = adenosine_production(&spec, &on);
    let zero = vec![0.0; n * n];
    let (on_steps, off_steps) = (3u64, 2u64);
    let t_on = on_steps as f64 * 15.0;
    let at_switch = exact(n, d, lambda, &zero, &p, t_on);
    let at_end = exact(n, d, lambda, &at_switch, &zero, off_steps as f64 * 15.0);
    for mut b in backends(&spec) {
        let kind = b.kind();
        let s = advance(b.as_mut(), &spec, &on, on_steps);
        let err = relative_error(&s.fields[idx::ADENOSINE], &at_switch);
        assert!(
            err < 1e-5,
            "{kind}: on for {t_on} min, relative error {err:e}"
        );
        // The cells die at once: the source is off from here.
        let mut off = s.clone();
        off.fields[idx::TUMOR].iter_mut().for_each(|v| *v = 0.0);
        let s = advance(b.as_mut(), &spec, &off, off_steps);
        let err = relative_error(&s.fields[idx::ADENOSINE], &at_end);
        assert!(
            err < 1e-5,
            "{kind}: after the burst, relative error {err:e}"
        );
    }
}
