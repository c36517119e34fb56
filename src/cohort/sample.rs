//! Drawing virtual patients. Every draw comes from its own stream, seeded
//! by the cohort seed, the patient's index and the name of what is drawn,
//! so patient i gets the same phenotype and parameters however the cohort
//! is sized, split or ordered, and adding a parameter leaves the others'
//! draws as they were.

use super::spec::{CohortSpec, Dist, Parameter};
use crate::model::rng::SplitMix64;
use std::f64::consts::PI;

/// Most draws tried for a truncated distribution before giving up; a
/// range the distribution almost never reaches is refused at load
/// ([`check_mass`]), so this is never reached in practice.
const MAX_TRIES: u32 = 100_000;
/// The least probability a truncation range may hold.
const MIN_MASS: f64 = 1e-4;

/// One virtual patient.
#[derive(Clone, Debug, PartialEq)]
pub struct Patient {
    pub index: u32,
    pub phenotype: String,
    /// One value per cohort parameter, in the file's order.
    pub values: Vec<f64>,
}

/// The stream of one thing drawn for one patient.
fn stream(seed: u64, patient: u32, what: &str) -> SplitMix64 {
    // FNV-1a of the name, then mixed with the seed and index.
    let name = what.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut mix =
        SplitMix64(seed ^ name.rotate_left(17) ^ (patient as u64).wrapping_mul(0x9e37_79b9));
    SplitMix64(mix.next() ^ name)
}

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

/// Patient `index` of the cohort.
pub fn patient(spec: &CohortSpec, index: u32) -> Patient {
    let seed = spec.cohort.seed;
    let mut rng = stream(seed, index, "phenotype");
    let u = rng.unit();
    let mut acc = 0.0;
    let positive: Vec<&(String, f64)> = spec.phenotypes.iter().filter(|(_, w)| *w > 0.0).collect();
    let mut phenotype = positive.last().expect("a positive weight").0.clone();
    for (name, w) in &positive {
        acc += w;
        if u < acc {
            phenotype = name.clone();
            break;
        }
    }
    let values = spec
        .cohort
        .parameters
        .iter()
        .zip(&spec.bounds)
        .map(|(p, &b)| draw(p, b, &mut stream(seed, index, &p.key)))
        .collect();
    Patient {
        index,
        phenotype,
        values,
    }
}

impl Patient {
    /// The scenario overrides (`--set` form) that make this patient.
    pub fn overrides(&self, spec: &CohortSpec) -> Vec<String> {
        let mut out = Vec::new();
        if self.phenotype != "none" {
            out.push(format!(
                "phenotype={}",
                toml::Value::String(self.phenotype.clone())
            ));
        }
        for (p, &v) in spec.cohort.parameters.iter().zip(&self.values) {
            out.push(format!("{}={}", p.key, format_value(v, p.integer)));
        }
        out
    }
}

/// A drawn value as written in overrides and tables: whole numbers as
/// integers, others in the shortest form that reads back exactly.
pub fn format_value(v: f64, integer: bool) -> String {
    if integer {
        format!("{}", v as i64)
    } else {
        let s = format!("{v}");
        // TOML needs a decimal point or exponent for a float.
        if s.contains(['.', 'e', 'E']) || !v.is_finite() {
            s
        } else {
            format!("{s}.0")
        }
    }
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
    fn streams_depend_on_seed_patient_and_name_only() {
        let a = stream(1, 7, "params.x").next();
        assert_eq!(a, stream(1, 7, "params.x").next());
        assert_ne!(a, stream(2, 7, "params.x").next());
        assert_ne!(a, stream(1, 8, "params.x").next());
        assert_ne!(a, stream(1, 7, "params.y").next());
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

    #[test]
    fn values_print_as_toml_reads_them() {
        assert_eq!(format_value(3.0, true), "3");
        assert_eq!(format_value(3.0, false), "3.0");
        assert_eq!(format_value(0.1, false), "0.1");
        assert_eq!(format_value(1e-7, false), "0.0000001");
    }
}
