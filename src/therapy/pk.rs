//! Linear pharmacokinetics: gut depot (oral), central and peripheral
//! compartments, integrated with classical RK4 on sub-steps of at most one
//! minute, and tabulated at the start of every simulation step. The table
//! is recomputed identically on every run, so a resumed run sees the same
//! concentrations as an uninterrupted one.

use super::schema::{Pk, Route, Schedule};

/// Longest RK4 sub-step, days (one minute).
const MAX_SUBSTEP_DAYS: f64 = 1.0 / 1440.0;

/// Rate constants (1/day) of a validated [`Pk`].
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    /// Elimination from the central compartment, CL / V1.
    pub k10: f64,
    /// Central to peripheral, Q / V1.
    pub k12: f64,
    /// Peripheral to central, Q / V2.
    pub k21: f64,
    pub ka: f64,
    pub v1: f64,
    pub bioavailability: f64,
}

impl Rates {
    pub fn new(pk: &Pk) -> Self {
        let v1 = pk.central_volume_l;
        let cl = match (pk.clearance_l_per_day, pk.half_life_days) {
            (Some(cl), _) => cl,
            (None, Some(t_half)) => std::f64::consts::LN_2 * v1 / t_half,
            (None, None) => 0.0,
        };
        let two = pk.compartments == 2;
        Self {
            k10: cl / v1,
            k12: if two {
                pk.intercompartmental_l_per_day / v1
            } else {
                0.0
            },
            k21: if two {
                pk.intercompartmental_l_per_day / pk.peripheral_volume_l
            } else {
                0.0
            },
            ka: pk.absorption_per_day,
            v1,
            bioavailability: pk.bioavailability,
        }
    }

    /// Terminal half-life, days: the slower eigenvalue of the disposition.
    pub fn terminal_half_life_days(&self) -> f64 {
        let (a, b, c) = (self.k10, self.k12, self.k21);
        let sum = a + b + c;
        let slow = 0.5 * (sum - (sum * sum - 4.0 * a * c).max(0.0).sqrt());
        let slow = if b == 0.0 { a } else { slow };
        std::f64::consts::LN_2 / slow
    }
}

/// Administration times (days) of `schedule` before `end_day`.
pub fn dose_days(schedule: &Schedule, end_day: f64) -> Vec<f64> {
    let mut days = Vec::new();
    let mut j = 0i64;
    loop {
        let t = schedule.start_day + j as f64 * schedule.interval_days;
        if t > end_day || (schedule.doses > 0 && j >= schedule.doses) {
            return days;
        }
        days.push(t);
        j += 1;
    }
}

/// Plasma (central) concentration, mg/L, at `t = s * dt_days` for every
/// `s` in `0..=steps`. A bolus given at a step's start time is included
/// in that step's value.
pub fn concentration_table(pk: &Pk, schedule: &Schedule, dt_days: f64, steps: u64) -> Vec<f64> {
    let r = Rates::new(pk);
    let end = steps as f64 * dt_days;
    let doses = dose_days(schedule, end);
    let sub = (dt_days / MAX_SUBSTEP_DAYS).ceil().max(1.0) as u64;
    let h = dt_days / sub as f64;
    let infusion_days = schedule.infusion_min / 1440.0;
    let infused = schedule.route == Route::Iv && infusion_days > 0.0;
    // Amounts (mg): gut depot, central, peripheral.
    let mut x = [0f64; 3];
    let mut next_dose = 0;
    let mut table = Vec::with_capacity(steps as usize + 1);
    let input_rate = |t: f64| -> f64 {
        if !infused {
            return 0.0;
        }
        doses
            .iter()
            .filter(|&&d| t >= d && t < d + infusion_days)
            .count() as f64
            * schedule.dose_mg
            / infusion_days
    };
    for k in 0..=steps * sub {
        let t = k as f64 * h;
        // Boluses due by now (within half a sub-step, so no dose is lost
        // to round-off in t).
        while next_dose < doses.len() && doses[next_dose] <= t + 0.5 * h {
            if !infused {
                match schedule.route {
                    Route::Oral => x[0] += r.bioavailability * schedule.dose_mg,
                    Route::Iv => x[1] += schedule.dose_mg,
                }
            }
            next_dose += 1;
        }
        if k % sub == 0 {
            table.push(x[1] / r.v1);
        }
        if k == steps * sub {
            break;
        }
        // The infusion rate is held at its sub-step midpoint value.
        let rate = input_rate(t + 0.5 * h);
        let f = |x: [f64; 3]| -> [f64; 3] {
            let absorbed = r.ka * x[0];
            [
                -absorbed,
                absorbed + rate - (r.k10 + r.k12) * x[1] + r.k21 * x[2],
                r.k12 * x[1] - r.k21 * x[2],
            ]
        };
        let add =
            |a: [f64; 3], b: [f64; 3], s: f64| [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]];
        let k1 = f(x);
        let k2 = f(add(x, k1, 0.5 * h));
        let k3 = f(add(x, k2, 0.5 * h));
        let k4 = f(add(x, k3, h));
        for i in 0..3 {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_comp(t_half: f64, v: f64) -> Pk {
        Pk {
            half_life_days: Some(t_half),
            central_volume_l: v,
            ..Pk::default()
        }
    }

    #[test]
    fn iv_bolus_decays_exponentially() {
        let pk = one_comp(22.0, 6.0);
        let schedule = Schedule {
            dose_mg: 200.0,
            doses: 1,
            ..Schedule::default()
        };
        let dt = 15.0 / 1440.0;
        let c = concentration_table(&pk, &schedule, dt, 5760);
        assert!((c[0] - 200.0 / 6.0).abs() < 1e-12);
        for s in [96usize, 2000, 5760] {
            let t = s as f64 * dt;
            let exact = 200.0 / 6.0 * (-std::f64::consts::LN_2 / 22.0 * t).exp();
            assert!(
                (c[s] - exact).abs() < 1e-9 * exact,
                "day {t}: {} vs {exact}",
                c[s]
            );
        }
    }

    #[test]
    fn two_compartment_exposure_is_dose_over_clearance() {
        // Pembrolizumab-like disposition; AUC(0, inf) = dose / CL.
        let pk = Pk {
            compartments: 2,
            clearance_l_per_day: Some(0.22),
            central_volume_l: 3.48,
            peripheral_volume_l: 4.06,
            intercompartmental_l_per_day: 0.795,
            ..Pk::default()
        };
        let schedule = Schedule {
            dose_mg: 200.0,
            doses: 1,
            infusion_min: 30.0,
            ..Schedule::default()
        };
        let dt = 0.05;
        let steps = 8000; // 400 days: past 18 terminal half-lives
        let c = concentration_table(&pk, &schedule, dt, steps);
        assert_eq!(c[0], 0.0, "an infusion starts from zero");
        let auc: f64 = c.windows(2).map(|w| 0.5 * (w[0] + w[1]) * dt).sum();
        assert!((auc - 200.0 / 0.22).abs() < 2e-3 * auc, "AUC {auc}");
        let t_half = Rates::new(&pk).terminal_half_life_days();
        assert!(
            t_half > 15.0 && t_half < 30.0,
            "terminal half-life {t_half}"
        );
    }

    #[test]
    fn oral_absorption_delays_the_peak() {
        let pk = Pk {
            half_life_days: Some(0.35),
            central_volume_l: 100.0,
            absorption_per_day: 20.0,
            bioavailability: 0.6,
            ..Pk::default()
        };
        let schedule = Schedule {
            dose_mg: 300.0,
            interval_days: 1.0,
            route: Route::Oral,
            ..Schedule::default()
        };
        let dt = 10.0 / 1440.0;
        let c = concentration_table(&pk, &schedule, dt, 144);
        assert_eq!(c[0], 0.0);
        let peak = (0..c.len()).max_by(|&a, &b| c[a].total_cmp(&c[b])).unwrap();
        let t_peak = peak as f64 * dt * 24.0;
        assert!(t_peak > 1.0 && t_peak < 6.0, "t_max {t_peak} h");
        // Second dose on day 1 raises the trough.
        assert!(c[144] > 0.0);
    }

    #[test]
    fn dose_count_and_schedule() {
        let s = Schedule {
            start_day: 2.0,
            interval_days: 7.0,
            doses: 3,
            ..Schedule::default()
        };
        assert_eq!(dose_days(&s, 100.0), vec![2.0, 9.0, 16.0]);
        let until_end = Schedule { doses: 0, ..s };
        assert_eq!(dose_days(&until_end, 20.0), vec![2.0, 9.0, 16.0]);
    }
}
