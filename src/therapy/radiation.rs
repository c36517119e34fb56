//! Radiotherapy: linear-quadratic survival per cell field inside a field
//! (whole domain, disk/ball or box), delivered as a death rate over a short
//! window after each fraction.
//!
//! A fraction of dose D leaves S = exp(-alpha D - beta D^2) of a cell
//! population. Lethally hit cells die over `death_window_days`, so the
//! kernels see an extra death rate r in that window, chosen so that the
//! exact exponential steps of the reaction kernel, exp(-dt r), multiply to
//! exactly S over the window's n steps: r = -ln(S) / (n dt). Their
//! death feeds the same antigen, ATP and immunogenic-death terms as any
//! other tumour death, which is how radiation raises DC maturation,
//! systemic priming (abscopal) and adenosine.

use super::schema::{Radiation, RadiationField};
use crate::config::error::{At, ConfigError};
use crate::model::fields::{FieldKind, FIELDS};
use crate::model::grid::Grid;
use crate::model::params::{ModelParams, ParamId, RtShape, MIN_PER_DAY};
use std::path::Path;

/// A radiotherapy course resolved on the step grid.
#[derive(Clone, Debug)]
pub struct RadiationPlan {
    pub dose_gy: f64,
    pub fraction_days: Vec<f64>,
    /// Surviving fraction of one fraction, per cell field name.
    pub survival: Vec<(&'static str, f64)>,
    /// The radiotherapy death-rate parameter of each `survival` entry,
    /// looked up once here rather than on every step.
    death_params: Vec<ParamId>,
    /// Per `survival` entry, (first step, number of steps) of each
    /// fraction's death window.
    windows: Vec<Vec<(u64, u64)>>,
    geometry: Geometry,
    dt_min: f64,
}

/// Where the dose goes, in um.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Geometry {
    Whole,
    /// A disk (2D) or ball (3D).
    Disk {
        center: [f32; 3],
        radius: f32,
    },
    Box {
        center: [f32; 3],
        half_width: [f32; 3],
    },
}

impl Geometry {
    /// Write the geometry into the `rt_*` parameters the kernels read.
    fn write(self, p: &mut ModelParams) {
        let (shape, center, radius, half) = match self {
            Geometry::Whole => (RtShape::Whole, [0.0; 3], 0.0, [0.0; 3]),
            Geometry::Disk { center, radius } => (RtShape::Disk, center, radius, [0.0; 3]),
            Geometry::Box { center, half_width } => (RtShape::Box, center, 0.0, half_width),
        };
        p.rt_shape = shape.code();
        [p.rt_center_x_um, p.rt_center_y_um, p.rt_center_z_um] = center;
        p.rt_radius_um = radius;
        [p.rt_half_x_um, p.rt_half_y_um, p.rt_half_z_um] = half;
    }
}

impl RadiationPlan {
    pub fn resolve(
        r: &Radiation,
        file: &Path,
        grid: &Grid,
        dt_min: f64,
        steps: u64,
    ) -> Result<Self, ConfigError> {
        let cx = At::under(file, "radiation");
        cx.range("dose_gy", r.dose_gy, 0.0, 100.0)?;
        cx.range("death_window_days", r.death_window_days, 0.0, 30.0)?;
        let survival = survivals(&cx, r)?;
        for (name, &days) in &r.death_window_days_by_cell {
            let key = format!("death_window_days_by_cell.{name}");
            if !survival.iter().any(|(n, _)| n == name) {
                return Err(cx.invalid(
                    &key,
                    format!(
                        "{name} is not a cell field the course kills (those with an alpha or beta: {})",
                        survival.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            cx.range(&key, days, 0.0, 30.0)?;
        }
        let dt_days = dt_min / MIN_PER_DAY as f64;
        let windows = survival
            .iter()
            .map(|(name, _)| {
                let days = r.death_window_days_by_cell.get(*name).copied();
                death_windows(&cx, r, days.unwrap_or(r.death_window_days), dt_days, steps)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let death_params = survival
            .iter()
            .map(|(name, _)| {
                let field = FIELDS
                    .iter()
                    .find(|f| f.name == *name)
                    .expect("a cell field");
                field
                    .rt_death_param
                    .and_then(ParamId::of)
                    .expect("every cell field has an rt_death parameter")
            })
            .collect();
        Ok(Self {
            dose_gy: r.dose_gy,
            fraction_days: r.fraction_days.clone(),
            survival,
            death_params,
            windows,
            geometry: geometry(&cx, &r.field, grid)?,
            dt_min,
        })
    }

    /// Set the field geometry and, inside death windows, the death rates:
    /// where the windows of successive fractions overlap (cells still
    /// dying of one fraction when the next comes), their rates add, so the
    /// survivals multiply.
    pub fn apply(&self, p: &mut ModelParams, step: u64) {
        self.geometry.write(p);
        let steps_per_day = MIN_PER_DAY as f64 / self.dt_min;
        for ((&(_, s), &param), windows) in self
            .survival
            .iter()
            .zip(&self.death_params)
            .zip(&self.windows)
        {
            for &(first, n) in windows {
                if step >= first && step < first + n {
                    p[param] += (-s.ln() / n as f64 * steps_per_day) as f32;
                }
            }
        }
    }

    /// Dose delivered by `t_day` (Gy, cumulative, inside the field).
    pub fn cumulative_dose_gy(&self, t_day: f64) -> f64 {
        self.fraction_days.iter().filter(|&&d| d <= t_day).count() as f64 * self.dose_gy
    }
}

/// (first step, number of steps) of each fraction's death window of
/// `window_days` within the run's `steps`.
fn death_windows(
    cx: &At,
    r: &Radiation,
    window_days: f64,
    dt_days: f64,
    steps: u64,
) -> Result<Vec<(u64, u64)>, ConfigError> {
    if r.fraction_days.is_empty() {
        return Err(cx.invalid("fraction_days", "list at least one fraction day"));
    }
    let mut windows = Vec::new();
    for (k, &day) in r.fraction_days.iter().enumerate() {
        cx.range(&format!("fraction_days[{k}]"), day, 0.0, 1e5)?;
        if k > 0 && day < r.fraction_days[k - 1] {
            return Err(cx.invalid(
                "fraction_days",
                format!(
                    "list the fraction days in order ({} comes after {day})",
                    r.fraction_days[k - 1]
                ),
            ));
        }
        let first = (day / dt_days - 1e-9).ceil() as u64;
        let end = ((day + window_days) / dt_days - 1e-9).ceil() as u64;
        if first < steps {
            windows.push((first, end.max(first + 1) - first));
        }
    }
    Ok(windows)
}

/// The linear-quadratic surviving fraction of one fraction, per cell field
/// named in `alpha_per_gy` or `beta_per_gy2`.
fn survivals(cx: &At, r: &Radiation) -> Result<Vec<(&'static str, f64)>, ConfigError> {
    if !r
        .alpha_per_gy
        .values()
        .chain(r.beta_per_gy2.values())
        .any(|&v| v > 0.0)
    {
        return Err(cx.invalid(
            "alpha_per_gy",
            "no cell field has a positive alpha_per_gy or beta_per_gy2, so the course would \
             kill nothing; e.g. alpha_per_gy = { tumor = 0.3 }",
        ));
    }
    let cells = || FIELDS.iter().filter(|f| f.kind == FieldKind::Cell);
    let mut survival: Vec<(&'static str, f64)> = Vec::new();
    for (name, _) in r.alpha_per_gy.iter().chain(&r.beta_per_gy2) {
        let field = cells()
            .find(|f| f.name == name)
            .ok_or_else(|| ConfigError::UnknownKey {
                file: cx.file.into(),
                location: String::new(),
                key: format!("radiation.alpha_per_gy/beta_per_gy2.{name}"),
                suggestion: None,
                valid: cells().map(|f| f.name.to_string()).collect(),
            })?;
        if survival.iter().any(|(n, _)| *n == field.name) {
            continue;
        }
        let coefficient = |key: &str, table: &std::collections::BTreeMap<String, f64>| {
            let value = table.get(name.as_str()).copied().unwrap_or(0.0);
            cx.range(&format!("{key}.{name}"), value, 0.0, 10.0)
        };
        let alpha = coefficient("alpha_per_gy", &r.alpha_per_gy)?;
        let beta = coefficient("beta_per_gy2", &r.beta_per_gy2)?;
        let d = r.dose_gy;
        // At the ranges' ends the survival underflows; the smallest
        // positive one keeps the death rate finite.
        let s = (-alpha * d - beta * d * d).exp().max(f64::MIN_POSITIVE);
        survival.push((field.name, s));
    }
    Ok(survival)
}

/// The field's geometry, checked against the grid's dimensions.
fn geometry(cx: &At, field: &RadiationField, grid: &Grid) -> Result<Geometry, ConfigError> {
    let dims = grid.spatial_dims();
    let point = |key: &str, c: &[f64]| -> Result<[f32; 3], ConfigError> {
        if c.len() != dims && !(dims == 2 && c.len() == 3) {
            return Err(cx.invalid(
                key,
                format!("needs {dims} coordinates (um), got {}", c.len()),
            ));
        }
        for (k, &v) in c.iter().enumerate() {
            cx.range(&format!("{key}[{k}]"), v, -1e7, 1e7)?;
        }
        Ok([
            c[0] as f32,
            c[1] as f32,
            c.get(2).copied().unwrap_or(0.0) as f32,
        ])
    };
    Ok(match field {
        RadiationField::Whole => Geometry::Whole,
        RadiationField::Disk {
            center_um,
            radius_um,
        } => Geometry::Disk {
            center: point("field.center_um", center_um)?,
            radius: cx.range("field.radius_um", *radius_um, 0.0, 1e7)? as f32,
        },
        RadiationField::Box {
            center_um,
            half_width_um,
        } => {
            let center = point("field.center_um", center_um)?;
            let half_width = point("field.half_width_um", half_width_um)?;
            for (k, v) in half_width.iter().enumerate().take(dims) {
                cx.range(&format!("field.half_width_um[{k}]"), *v as f64, 0.0, 1e7)?;
            }
            Geometry::Box { center, half_width }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn window_rates_multiply_to_the_lq_survival() {
        let r = Radiation {
            dose_gy: 8.0,
            fraction_days: vec![3.0],
            death_window_days: 1.0,
            alpha_per_gy: BTreeMap::from([("tumor".to_string(), 0.3)]),
            beta_per_gy2: BTreeMap::from([("tumor".to_string(), 0.03)]),
            ..Radiation::default()
        };
        let grid = Grid {
            nx: 10,
            ny: 10,
            nz: 1,
            dx_um: 20.0,
        };
        let dt = 15.0;
        let plan = RadiationPlan::resolve(&r, Path::new("rt.toml"), &grid, dt, 1000).unwrap();
        let mut survival = 1.0f64;
        let mut active = 0;
        for s in 0..1000 {
            let mut p = ModelParams::default();
            plan.apply(&mut p, s);
            if p.rt_death_tumor_per_day > 0.0 {
                active += 1;
                survival *= (-dt * p.rt_death_tumor_per_day as f64 / 1440.0).exp();
            }
            assert_eq!(p.rt_death_cd8_per_day, 0.0, "unlisted cells are spared");
        }
        assert_eq!(active, 96, "one day of 15-minute steps");
        let lq = (-0.3f64 * 8.0 - 0.03 * 64.0).exp();
        assert!((survival - lq).abs() < 1e-5 * lq, "{survival} vs {lq}");
        assert_eq!(plan.cumulative_dose_gy(2.9), 0.0);
        assert_eq!(plan.cumulative_dose_gy(3.0), 8.0);
    }

    #[test]
    fn overlapping_windows_multiply_and_unknown_cells_are_errors() {
        let grid = Grid {
            nx: 10,
            ny: 10,
            nz: 1,
            dx_um: 20.0,
        };
        // Two fractions a day apart, each killing over three days.
        let close = Radiation {
            dose_gy: 8.0,
            fraction_days: vec![1.0, 2.0],
            death_window_days: 3.0,
            alpha_per_gy: BTreeMap::from([("tumor".to_string(), 0.3)]),
            ..Radiation::default()
        };
        let dt = 15.0;
        let plan = RadiationPlan::resolve(&close, Path::new("rt.toml"), &grid, dt, 1000).unwrap();
        let mut survival = 1.0f64;
        let mut rates = Vec::new();
        for s in 0..1000 {
            let mut p = ModelParams::default();
            plan.apply(&mut p, s);
            let r = p.rt_death_tumor_per_day as f64;
            survival *= (-dt * r / 1440.0).exp();
            rates.push(r);
        }
        let one = (-0.3f64 * 8.0).exp();
        assert!(
            (survival - one * one).abs() < 1e-5 * one * one,
            "{survival}"
        );
        // Days 2 and 3 hold both windows: twice the rate of day 1 alone.
        let (day1, day2) = (rates[96 + 10], rates[2 * 96 + 10]);
        assert!((day2 - 2.0 * day1).abs() < 1e-3 * day1, "{day1} {day2}");
        // The CD8s' own window: a day, inside the tumour's three.
        let by_cell = Radiation {
            alpha_per_gy: BTreeMap::from([("tumor".to_string(), 0.3), ("cd8".to_string(), 0.8)]),
            death_window_days_by_cell: BTreeMap::from([("cd8".to_string(), 1.0)]),
            ..close.clone()
        };
        let plan = RadiationPlan::resolve(&by_cell, Path::new("rt.toml"), &grid, dt, 1000).unwrap();
        let active = |s: u64| {
            let mut p = ModelParams::default();
            plan.apply(&mut p, s);
            (p.rt_death_tumor_per_day > 0.0, p.rt_death_cd8_per_day > 0.0)
        };
        assert_eq!(active(96 + 10), (true, true));
        assert_eq!(
            active(3 * 96 + 10),
            (true, false),
            "day 3: tumour cells still dying"
        );
        let stray = Radiation {
            death_window_days_by_cell: BTreeMap::from([("dc".to_string(), 1.0)]),
            ..close.clone()
        };
        let e = RadiationPlan::resolve(&stray, Path::new("rt.toml"), &grid, dt, 1000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("death_window_days_by_cell.dc"), "{e}");
        let unordered = Radiation {
            fraction_days: vec![2.0, 1.0],
            ..close.clone()
        };
        let e = RadiationPlan::resolve(&unordered, Path::new("rt.toml"), &grid, 15.0, 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rt.toml") && e.contains("fraction_days"), "{e}");
        let bad = Radiation {
            dose_gy: 2.0,
            fraction_days: vec![1.0],
            alpha_per_gy: BTreeMap::from([("tumour".to_string(), 0.3)]),
            ..Radiation::default()
        };
        let e = RadiationPlan::resolve(&bad, Path::new("rt.toml"), &grid, 15.0, 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tumour") && e.contains("tumor, cd8"), "{e}");
    }
}
