//! Sobol sensitivity indices from the outputs of a Saltelli design
//! (design.rs): the first-order index S_i (Saltelli et al., Comput. Phys.
//! Commun. 181:259, 2010, table 2, estimator (b)) and the total index
//! ST_i (Jansen, Comput. Phys. Commun. 117:35, 1999), with bootstrap
//! intervals over the base samples. The estimators of SALib's
//! `sobol.analyze`; its variance divides by 2n, this one by 2n - 1, and
//! its intervals are normal approximations where these are percentiles of
//! the bootstrap (resamples without variance are left out).

use crate::model::rng::SplitMix64;

/// Bootstrap resamples behind each interval.
pub const BOOTSTRAP: usize = 1000;

/// One axis's indices for one output, each with its 95% bootstrap interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Indices {
    pub first: f64,
    pub first_ci: (f64, f64),
    pub total: f64,
    pub total_ci: (f64, f64),
}

/// Indices of each of `axes` axes, from `y`: the output at every row of
/// the Saltelli design, in its order (blocks of A_j, B_j, AB_j^1..AB_j^k).
/// `None` when the output does not vary over A and B (or is not finite),
/// where the indices are undefined.
pub fn indices(y: &[f64], axes: usize, seed: u64) -> Option<Vec<Indices>> {
    let block = axes + 2;
    assert_eq!(y.len() % block, 0, "a Saltelli design's outputs");
    let base = y.len() / block;
    if base < 2 || y.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // Centred on the mean over A and B: S_i's estimator is unbiased for any
    // shift, but a large mean against a small spread multiplies its noise
    // (SALib standardises for the same reason).
    let mean = (0..base)
        .map(|j| y[j * block] + y[j * block + 1])
        .sum::<f64>()
        / (2 * base) as f64;
    let y: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let y = y.as_slice();
    let all: Vec<usize> = (0..base).collect();
    let point = estimate(y, axes, &all)?;
    let mut rng = SplitMix64(seed ^ 0x5eed_b007);
    let mut boot: Vec<Vec<Indices>> = Vec::with_capacity(BOOTSTRAP);
    for _ in 0..BOOTSTRAP {
        let pick: Vec<usize> = (0..base)
            .map(|_| (rng.next_u64() % base as u64) as usize)
            .collect();
        if let Some(e) = estimate(y, axes, &pick) {
            boot.push(e);
        }
    }
    // The 2.5% and 97.5% quantiles of one index of axis i over the resamples.
    let interval = |i: usize, first: bool| {
        let mut v: Vec<f64> = boot
            .iter()
            .map(|b| if first { b[i].first } else { b[i].total })
            .collect();
        v.sort_by(f64::total_cmp);
        (quantile(&v, 0.025), quantile(&v, 0.975))
    };
    Some(
        point
            .into_iter()
            .enumerate()
            .map(|(i, p)| Indices {
                first_ci: interval(i, true),
                total_ci: interval(i, false),
                ..p
            })
            .collect(),
    )
}

/// The indices from the base samples `pick` (with repeats in a bootstrap).
fn estimate(y: &[f64], axes: usize, pick: &[usize]) -> Option<Vec<Indices>> {
    let block = axes + 2;
    let n = pick.len() as f64;
    let a = |j: usize| y[j * block];
    let b = |j: usize| y[j * block + 1];
    let ab = |j: usize, i: usize| y[j * block + 2 + i];
    // The output's variance over A and B together.
    let mean = pick.iter().map(|&j| a(j) + b(j)).sum::<f64>() / (2.0 * n);
    let var = pick
        .iter()
        .map(|&j| (a(j) - mean).powi(2) + (b(j) - mean).powi(2))
        .sum::<f64>()
        / (2.0 * n - 1.0);
    if var <= 0.0 || !var.is_finite() {
        return None;
    }
    Some(
        (0..axes)
            .map(|i| {
                let first = pick.iter().map(|&j| b(j) * (ab(j, i) - a(j))).sum::<f64>() / n / var;
                let total =
                    pick.iter().map(|&j| (a(j) - ab(j, i)).powi(2)).sum::<f64>() / (2.0 * n) / var;
                Indices {
                    first,
                    first_ci: (first, first),
                    total,
                    total_ci: (total, total),
                }
            })
            .collect(),
    )
}

/// Linear-interpolated quantile of sorted `v`.
pub(super) fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let x = q * (v.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::super::design::Design;
    use super::*;
    use std::f64::consts::PI;

    /// The Ishigami function (Ishigami & Homma 1990), a = 7, b = 0.1, on
    /// [-pi, pi]^3, whose indices are known exactly.
    fn ishigami(x: &[f64]) -> f64 {
        let x: Vec<f64> = x.iter().map(|u| -PI + 2.0 * PI * u).collect();
        x[0].sin() + 7.0 * x[1].sin().powi(2) + 0.1 * x[2].powi(4) * x[0].sin()
    }

    fn exact() -> ([f64; 3], [f64; 3]) {
        let (a, b) = (7.0f64, 0.1f64);
        let v1 = 0.5 * (1.0 + b * PI.powi(4) / 5.0).powi(2);
        let v2 = a * a / 8.0;
        let v13 = b * b * PI.powi(8) * (1.0 / 18.0 - 1.0 / 50.0);
        let v = v1 + v2 + v13;
        ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
    }

    #[test]
    fn ishigami_indices_match_the_exact_ones() {
        let design = Design::Saltelli { base: 4096 };
        let y: Vec<f64> = design
            .unit_points(3, 3)
            .iter()
            .map(|x| ishigami(x))
            .collect();
        let got = indices(&y, 3, 1).expect("the output varies");
        let (s1, st) = exact();
        for i in 0..3 {
            let g = &got[i];
            assert!(
                (g.first - s1[i]).abs() < 0.03,
                "S{} = {} vs {}",
                i + 1,
                g.first,
                s1[i]
            );
            assert!(
                (g.total - st[i]).abs() < 0.03,
                "ST{} = {} vs {}",
                i + 1,
                g.total,
                st[i]
            );
            // The intervals hold the exact value (with a little slack for
            // the 5% they may miss by chance, at this seed they do not).
            assert!(
                g.first_ci.0 - 0.01 <= s1[i] && s1[i] <= g.first_ci.1 + 0.01,
                "{g:?}"
            );
            assert!(
                g.total_ci.0 - 0.01 <= st[i] && st[i] <= g.total_ci.1 + 0.01,
                "{g:?}"
            );
            assert!(g.first_ci.0 < g.first_ci.1);
        }
    }

    #[test]
    fn an_output_that_does_not_vary_has_no_indices() {
        let y = vec![2.0; 5 * 16];
        assert!(indices(&y, 3, 0).is_none());
        let mut y: Vec<f64> = (0..80).map(|i| i as f64).collect();
        y[3] = f64::NAN;
        assert!(indices(&y, 3, 0).is_none());
    }
}
