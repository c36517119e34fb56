//! One axis of a sweep: a scenario key and the range it spans, as the
//! command line gives it (`--vary params.kill_rate_per_day=0.5:2`, or
//! `...=0.1:10:log` for a log-uniform axis).

use super::super::sample::format_value;
use anyhow::{bail, Result};

/// A scenario key swept over `[lo, hi]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub lo: f64,
    pub hi: f64,
    /// Spaced evenly in the logarithm.
    pub log: bool,
    /// The key takes whole numbers (a vessel count, a seed): values are
    /// rounded. Set by `Sweep::new` from what the scenario accepts.
    pub integer: bool,
}

impl Axis {
    /// Parse `KEY=LO:HI` or `KEY=LO:HI:log`; errors name the flag.
    pub fn parse(flag: &str, text: &str) -> Result<Axis> {
        let usage = || {
            format!(
                "{flag} {text}: give KEY=LO:HI or KEY=LO:HI:log, e.g. \
                 {flag} params.kill_rate_per_day=0.5:2"
            )
        };
        let Some((key, range)) = text.split_once('=') else {
            bail!("{}", usage());
        };
        let key = key.trim();
        let parts: Vec<&str> = range.split(':').map(str::trim).collect();
        let log = match parts.get(2) {
            None => false,
            Some(&"log") => true,
            Some(&"lin") => false,
            Some(other) => bail!("{flag} {key}: scale `{other}` is neither `lin` nor `log`"),
        };
        if key.is_empty() || !(2..=3).contains(&parts.len()) {
            bail!("{}", usage());
        }
        let number = |s: &str| -> Result<f64> {
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => bail!("{flag} {key}: `{s}` is not a finite number ({})", usage()),
            }
        };
        let (lo, hi) = (number(parts[0])?, number(parts[1])?);
        if lo >= hi {
            bail!("{flag} {key}={lo}:{hi}: the low end must be below the high end");
        }
        if log && lo <= 0.0 {
            bail!("{flag} {key}={lo}:{hi}:log: a log axis needs a positive low end");
        }
        Ok(Axis {
            key: key.to_string(),
            lo,
            hi,
            log,
            integer: false,
        })
    }

    /// The value at `u` in [0, 1] along the axis.
    pub fn at(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        // (1 - u) lo + u hi: no overflow of hi - lo on the widest ranges.
        let v = if self.log {
            ((1.0 - u) * self.lo.ln() + u * self.hi.ln()).exp()
        } else {
            (1.0 - u) * self.lo + u * self.hi
        };
        if self.integer {
            v.round()
        } else {
            // exp(ln) may step a hair past an end.
            v.clamp(self.lo, self.hi)
        }
    }

    /// Where `value` lies along the axis, in [0, 1] (the inverse of `at`
    /// but for a count's rounding).
    pub fn unit_of(&self, value: f64) -> f64 {
        if self.log {
            (value.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            value / (self.hi - self.lo) - self.lo / (self.hi - self.lo)
        }
    }

    /// The `--set` form of the key at `value` (rounded for a count).
    pub fn set(&self, value: f64) -> String {
        let v = if self.integer { value.round() } else { value };
        format!("{}={}", self.key, format_value(v, self.integer))
    }
}

/// Parse every `--vary`; a key given twice is refused.
pub fn parse_all(flag: &str, texts: &[String]) -> Result<Vec<Axis>> {
    if texts.is_empty() {
        bail!("give at least one {flag} KEY=LO:HI, e.g. {flag} params.kill_rate_per_day=0.5:2");
    }
    let axes = texts
        .iter()
        .map(|t| Axis::parse(flag, t))
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.key == a.key) {
            bail!("{flag} {}: the key is given twice", a.key);
        }
    }
    Ok(axes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_linear_log_and_integer_axes() {
        let a = Axis::parse("--vary", "params.x=0.5:2").unwrap();
        assert_eq!((a.lo, a.hi, a.log, a.integer), (0.5, 2.0, false, false));
        assert_eq!(a.at(0.5), 1.25);
        let l = Axis::parse("--vary", "params.y=0.1:10:log").unwrap();
        assert!((l.at(0.5) - 1.0).abs() < 1e-12);
        assert!((l.unit_of(1.0) - 0.5).abs() < 1e-12 && (a.unit_of(1.25) - 0.5).abs() < 1e-12);
        let wide = Axis::parse("--vary", "params.z=-1e308:1e308").unwrap();
        assert_eq!(wide.at(0.0), -1e308);
        assert!(wide.at(0.5).is_finite());
        let mut n = Axis::parse("--vary", "fields.vessel.initial[0].count=20:80").unwrap();
        assert!(!n.integer);
        n.integer = true;
        assert_eq!(n.set(n.at(0.51)), "fields.vessel.initial[0].count=51");
        assert_eq!(a.set(1.0), "params.x=1.0");
    }

    #[test]
    fn bad_axes_are_refused_with_the_flag_and_key() {
        for (text, says) in [
            ("params.x", "KEY=LO:HI"),
            ("params.x=2:1", "below the high end"),
            ("params.x=0:1:log", "positive low end"),
            ("params.x=a:1", "not a finite number"),
            ("params.x=0:1:cubic", "neither"),
        ] {
            let e = Axis::parse("--vary", text).unwrap_err().to_string();
            assert!(e.contains("--vary") && e.contains(says), "{text}: {e}");
        }
        let twice = ["params.x=0:1".to_string(), "params.x=1:2".to_string()];
        let e = parse_all("--vary", &twice).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
