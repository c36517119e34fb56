//! Morris's elementary effects from the outputs of a Morris design
//! (design.rs): per axis, mu* (the mean absolute effect, Campolongo et
//! al., Environ. Model. Softw. 22:1509, 2007) with a 95% bootstrap
//! interval over trajectories, mu (the signed mean) and sigma (their
//! spread: interaction or nonlinearity). A screen: a key with a small mu*
//! can be fixed before a Sobol analysis. Effects are per unit of the
//! axis's range (its whole range is 1), so keys of different units rank
//! together.

use super::sobol::BOOTSTRAP;
use crate::model::rng::SplitMix64;

#[derive(Clone, Debug, PartialEq)]
pub struct Effects {
    pub mu_star: f64,
    pub mu_star_ci: (f64, f64),
    pub mu: f64,
    pub sigma: f64,
}

/// Each axis's effects, from the design's points in the unit cube
/// (`units`, which say which axis each step moves), where the points
/// really lay after a count's rounding (`taken`, the step's length) and
/// the output `y` at each; `None` when an output is not finite. A step
/// that rounding made empty has no effect.
pub fn effects(
    units: &[Vec<f64>],
    taken: &[Vec<f64>],
    y: &[f64],
    axes: usize,
    seed: u64,
) -> Option<Vec<Effects>> {
    assert_eq!(units.len(), y.len());
    assert_eq!(taken.len(), y.len());
    let block = axes + 1;
    assert_eq!(y.len() % block, 0, "a Morris design's outputs");
    if y.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // ee[t][i]: trajectory t's elementary effect of axis i.
    let ee: Vec<Vec<f64>> = (0..y.len() / block)
        .map(|t| {
            let mut row = vec![0.0; axes];
            for s in t * block..(t + 1) * block - 1 {
                let (a, b) = (&units[s], &units[s + 1]);
                let i = (0..axes)
                    .find(|&d| a[d] != b[d])
                    .expect("a Morris step moves one axis");
                let step = taken[s + 1][i] - taken[s][i];
                row[i] = if step == 0.0 {
                    0.0
                } else {
                    (y[s + 1] - y[s]) / step
                };
            }
            row
        })
        .collect();
    let r = ee.len();
    let mu_star = |pick: &[usize], i: usize| {
        pick.iter().map(|&t| ee[t][i].abs()).sum::<f64>() / pick.len() as f64
    };
    let all: Vec<usize> = (0..r).collect();
    let mut rng = SplitMix64(seed ^ 0x6d75_5f73_7461);
    let resamples: Vec<Vec<usize>> = (0..BOOTSTRAP)
        .map(|_| {
            (0..r)
                .map(|_| (rng.next_u64() % r as u64) as usize)
                .collect()
        })
        .collect();
    Some(
        (0..axes)
            .map(|i| {
                let mu = ee.iter().map(|e| e[i]).sum::<f64>() / r as f64;
                let var = ee.iter().map(|e| (e[i] - mu).powi(2)).sum::<f64>() / (r - 1) as f64;
                let mut boot: Vec<f64> = resamples.iter().map(|p| mu_star(p, i)).collect();
                boot.sort_by(f64::total_cmp);
                Effects {
                    mu_star: mu_star(&all, i),
                    mu_star_ci: (
                        super::sobol::quantile(&boot, 0.025),
                        super::sobol::quantile(&boot, 0.975),
                    ),
                    mu,
                    sigma: var.sqrt(),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::design::Design;
    use super::*;

    #[test]
    fn a_linear_output_has_its_slopes_as_effects_and_no_spread() {
        let units = Design::Morris { trajectories: 8 }.unit_points(3, 5);
        let y: Vec<f64> = units.iter().map(|x| 5.0 * x[0] - 1.0 * x[1]).collect();
        let e = effects(&units, &units, &y, 3, 0).unwrap();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(e[0].mu_star, 5.0) && near(e[0].mu, 5.0) && near(e[0].sigma, 0.0));
        assert!(near(e[1].mu_star, 1.0) && near(e[1].mu, -1.0) && near(e[1].sigma, 0.0));
        assert!(near(e[2].mu_star, 0.0) && near(e[2].sigma, 0.0));
        assert!(near(e[0].mu_star_ci.0, 5.0) && near(e[0].mu_star_ci.1, 5.0));
    }

    #[test]
    fn a_count_is_divided_by_the_step_its_rounding_took() {
        // A count over 0:1: the design's levels 0, 1/3, 2/3, 1 round to
        // 0, 0, 1, 1, so every step moves it by a whole range, not by 2/3.
        let units = Design::Morris { trajectories: 6 }.unit_points(1, 3);
        let taken: Vec<Vec<f64>> = units.iter().map(|x| vec![x[0].round()]).collect();
        let y: Vec<f64> = taken.iter().map(|x| x[0]).collect();
        let e = effects(&units, &taken, &y, 1, 0).unwrap();
        assert!((e[0].mu_star - 1.0).abs() < 1e-12, "{e:?}");
    }

    #[test]
    fn an_interaction_shows_as_spread() {
        let units = Design::Morris { trajectories: 20 }.unit_points(2, 1);
        let y: Vec<f64> = units.iter().map(|x| x[0] * x[1]).collect();
        let e = effects(&units, &units, &y, 2, 0).unwrap();
        // d(x0 x1)/dx0 = x1, over x1 in {0, 1/3, 2/3, 1}: spread, mean 1/2 on average.
        assert!(e[0].sigma > 0.1 && e[1].sigma > 0.1, "{e:?}");
        assert!(e[0].mu_star > 0.2 && e[0].mu_star < 0.8, "{e:?}");
        assert!(e[0].mu_star_ci.0 <= e[0].mu_star && e[0].mu_star <= e[0].mu_star_ci.1);
    }
}
