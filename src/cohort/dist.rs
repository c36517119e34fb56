//! The distributions of drawn patient parameters: log-normal, normal and
//! uniform, truncated to bounds by drawing again, and the probability a
//! range holds (to refuse one a distribution almost never reaches).

use crate::model::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// One drawn patient parameter: a scenario key and its distribution,
/// truncated to the registry range (for `params.*`) and to `min`/`max`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// A scenario key as `--set` takes it, e.g. `params.tumor_growth_per_day`
    /// or `fields.vessel.initial[0].count`.
    pub key: String,
    pub dist: Dist,
    /// Log-normal: the median and the standard deviation of the log.
    #[serde(default)]
    pub median: Option<f64>,
    #[serde(default)]
    pub sigma: Option<f64>,
    /// Normal: mean and standard deviation.
    #[serde(default)]
    pub mean: Option<f64>,
    #[serde(default)]
    pub sd: Option<f64>,
    /// Bounds: the range of `uniform`, a truncation for the others.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Round each draw to a whole number (counts, seeds).
    #[serde(default)]
    pub integer: bool,
    /// What the parameter stands for, for the reader of the file.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    Lognormal,
    Normal,
    Uniform,
}

/// Most draws tried for a truncated distribution before giving up; a
/// range the distribution almost never reaches is refused at load
/// ([`check_mass`]), so this is never reached in practice.
const MAX_TRIES: u32 = 100_000;
/// The least probability a truncation range may hold.
const MIN_MASS: f64 = 1e-4;

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - rng.unit(); // in (0, 1]: the log is finite
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

fn draw_once(p: &Parameter, (lo, hi): (f64, f64), rng: &mut SplitMix64) -> f64 {
    match p.dist {
        Dist::Lognormal => {
            let (m, s) = (p.median.unwrap_or(1.0), p.sigma.unwrap_or(0.0));
            (m.ln() + s * standard_normal(rng)).exp()
        }
        Dist::Normal => p.mean.unwrap_or(0.0) + p.sd.unwrap_or(0.0) * standard_normal(rng),
        Dist::Uniform => lo + (hi - lo) * rng.unit(),
    }
}

/// A draw of `p` inside `bounds`: the distribution truncated there, by
/// drawing again until a value falls inside.
pub fn draw(p: &Parameter, bounds: (f64, f64), rng: &mut SplitMix64) -> f64 {
    let (lo, hi) = if p.integer {
        (bounds.0.ceil(), bounds.1.floor())
    } else {
        bounds
    };
    for _ in 0..MAX_TRIES {
        let mut v = draw_once(p, bounds, rng);
        if p.integer {
            v = v.round();
        }
        if (lo..=hi).contains(&v) {
            return v;
        }
    }
    // Unreachable for ranges that pass check_mass; stay inside them anyway.
    draw_once(p, bounds, rng).clamp(lo, hi)
}

/// Standard normal cumulative distribution.
fn phi(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// The probability the untruncated distribution puts inside `bounds`.
pub fn mass(p: &Parameter, (lo, hi): (f64, f64)) -> f64 {
    let (mu, s, t): (f64, f64, fn(f64) -> f64) = match p.dist {
        Dist::Uniform => {
            let (a, b) = (p.min.unwrap_or(lo), p.max.unwrap_or(hi));
            let overlap = (hi.min(b) - lo.max(a)).max(0.0);
            return if b > a {
                overlap / (b - a)
            } else {
                f64::from(u8::from((lo..=hi).contains(&a)))
            };
        }
        Dist::Lognormal => (
            p.median.unwrap_or(1.0).ln(),
            p.sigma.unwrap_or(0.0),
            |x: f64| if x > 0.0 { x.ln() } else { f64::NEG_INFINITY },
        ),
        Dist::Normal => (p.mean.unwrap_or(0.0), p.sd.unwrap_or(0.0), |x: f64| x),
    };
    let (a, b) = (t(lo), t(hi));
    if s == 0.0 {
        return if (a..=b).contains(&mu) { 1.0 } else { 0.0 };
    }
    phi((b - mu) / s) - phi((a - mu) / s)
}

/// Refuse a truncation range the distribution (almost) never reaches.
pub fn check_mass(p: &Parameter, bounds: (f64, f64)) -> Result<(), String> {
    let m = mass(p, bounds);
    if m < MIN_MASS {
        return Err(format!(
            "the distribution puts {m:.2e} of its probability inside the bounds [{}, {}] \
             (the registry range and min/max); move its centre or widen the bounds",
            bounds.0, bounds.1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(dist: Dist) -> Parameter {
        Parameter {
            key: "params.x".into(),
            dist,
            median: Some(2.0),
            sigma: Some(0.5),
            mean: Some(1.0),
            sd: Some(2.0),
            min: Some(0.0),
            max: Some(4.0),
            integer: false,
            note: None,
        }
    }

    #[test]
    fn normal_draws_have_the_right_moments() {
        let mut rng = SplitMix64(42);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
        let below = xs.iter().filter(|&&x| x < -1.0).count() as f64 / n as f64;
        assert!((below - phi(-1.0)).abs() < 0.005, "{below}");
    }

    #[test]
    fn truncated_draws_stay_inside_and_follow_the_distribution() {
        for dist in [Dist::Lognormal, Dist::Normal, Dist::Uniform] {
            let p = param(dist);
            let bounds = (0.5, 3.0);
            let mut rng = SplitMix64(3);
            let n = 50_000;
            let xs: Vec<f64> = (0..n).map(|_| draw(&p, bounds, &mut rng)).collect();
            assert!(xs.iter().all(|x| (0.5..=3.0).contains(x)), "{dist:?}");
            // P(X < 1.5 | inside) from the CDF against the sample.
            let expect = mass(&p, (0.5, 1.5)) / mass(&p, bounds);
            let got = xs.iter().filter(|&&x| x < 1.5).count() as f64 / n as f64;
            assert!((got - expect).abs() < 0.01, "{dist:?}: {got} vs {expect}");
        }
    }

    #[test]
    fn lognormal_median_is_the_median() {
        let mut p = param(Dist::Lognormal);
        p.min = None;
        p.max = None;
        let mut rng = SplitMix64(5);
        let mut xs: Vec<f64> = (0..20_001)
            .map(|_| draw(&p, (0.0, f64::INFINITY), &mut rng))
            .collect();
        xs.sort_by(f64::total_cmp);
        assert!((xs[10_000] - 2.0).abs() < 0.05, "{}", xs[10_000]);
    }

    #[test]
    fn integer_draws_are_whole_and_inside() {
        let mut p = param(Dist::Uniform);
        p.integer = true;
        let mut rng = SplitMix64(9);
        let xs: Vec<f64> = (0..1000).map(|_| draw(&p, (0.5, 3.5), &mut rng)).collect();
        assert!(xs
            .iter()
            .all(|x| x.fract() == 0.0 && (1.0..=3.0).contains(x)));
        assert!(xs.contains(&1.0) && xs.contains(&3.0));
    }

    #[test]
    fn an_unreachable_range_is_refused() {
        let mut p = param(Dist::Normal);
        p.mean = Some(100.0);
        p.sd = Some(1.0);
        assert!(check_mass(&p, (0.0, 4.0)).is_err());
        assert!(check_mass(&p, (0.0, 100.0)).is_ok());
    }
}
