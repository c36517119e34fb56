//! The statistics a trial reports: response rates with Wilson score
//! intervals, Kaplan-Meier progression-free survival with its median and
//! a confidence interval for it, and the log-rank test between two arms.
//!
//! Standard textbook forms, written out here because they are short and
//! each is tested against published worked values (tests below):
//! - Wilson EB (1927) J Am Stat Assoc 22:209; Newcombe RG (1998) Stat Med
//!   17:857 (method 3).
//! - Kaplan EL, Meier P (1958) J Am Stat Assoc 53:457; Greenwood variance;
//!   median interval by the log-log transformed pointwise band
//!   (Brookmeyer R, Crowley J (1982) Biometrics 38:29; Klein & Moeschberger,
//!   Survival Analysis, 2nd ed., section 4.5).
//! - Log-rank: Mantel N (1966) Cancer Chemother Rep 50:163.

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95% Wilson score interval, all in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proportion {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// `successes` of `n` with the Wilson score interval.
pub fn wilson(successes: usize, n: usize) -> Proportion {
    if n == 0 {
        return Proportion {
            estimate: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Proportion {
        estimate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// One subject's follow-up: the time of the event (progression), or of
/// censoring when `event` is false.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Followup {
    pub time: f64,
    pub event: bool,
}

/// One step of a Kaplan-Meier curve: at `time`, `events` of `at_risk`
/// progressed and the survival fell to `survival`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KmStep {
    pub time: f64,
    pub at_risk: usize,
    pub events: usize,
    pub survival: f64,
    /// Greenwood's sum: variance of log S is this sum.
    pub greenwood: f64,
}

/// The Kaplan-Meier estimate: one step per distinct event time.
pub fn kaplan_meier(data: &[Followup]) -> Vec<KmStep> {
    let mut times: Vec<f64> = data.iter().filter(|f| f.event).map(|f| f.time).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let mut s = 1.0;
    let mut g = 0.0;
    times
        .into_iter()
        .map(|t| {
            let at_risk = data.iter().filter(|f| f.time >= t).count();
            let events = data.iter().filter(|f| f.event && f.time == t).count();
            let (n, d) = (at_risk as f64, events as f64);
            s *= 1.0 - d / n;
            if n > d {
                g += d / (n * (n - d));
            } else {
                g = f64::INFINITY;
            }
            KmStep {
                time: t,
                at_risk,
                events,
                survival: s,
                greenwood: g,
            }
        })
        .collect()
}

/// Subjects still at risk just before `t` (for the numbers-at-risk table).
pub fn at_risk(data: &[Followup], t: f64) -> usize {
    data.iter().filter(|f| f.time >= t).count()
}

/// A median time with its 95% interval; `None` where not reached.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Median {
    pub estimate: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// The median of a Kaplan-Meier curve (first time S <= 0.5) and the
/// interval of times whose log-log pointwise 95% band contains 0.5.
pub fn km_median(steps: &[KmStep]) -> Median {
    let band = |step: &KmStep| -> (f64, f64) {
        let s = step.survival;
        if s <= 0.0 || !step.greenwood.is_finite() {
            return (0.0, s.max(0.0));
        }
        if s >= 1.0 {
            return (1.0, 1.0);
        }
        // log(-log S) has standard error sqrt(greenwood) / |log S|.
        let se = step.greenwood.sqrt() / s.ln().abs();
        let lower = s.powf((Z95 * se).exp());
        let upper = s.powf((-Z95 * se).exp());
        (lower, upper)
    };
    let first = |f: &dyn Fn(&KmStep) -> bool| steps.iter().find(|s| f(s)).map(|s| s.time);
    Median {
        estimate: first(&|s| s.survival <= 0.5),
        // The interval holds the times whose band contains 0.5: it opens
        // when the lower curve reaches 0.5 and closes when the upper does.
        low: first(&|s| band(s).0 <= 0.5),
        high: first(&|s| band(s).1 <= 0.5),
    }
}

/// The log-rank test of two groups: the chi-square statistic (1 degree of
/// freedom) and its two-sided p-value.
pub fn log_rank(a: &[Followup], b: &[Followup]) -> (f64, f64) {
    let mut times: Vec<f64> = a
        .iter()
        .chain(b)
        .filter(|f| f.event)
        .map(|f| f.time)
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let (mut o_minus_e, mut var) = (0.0, 0.0);
    for t in times {
        let na = at_risk(a, t) as f64;
        let n = na + at_risk(b, t) as f64;
        let da = a.iter().filter(|f| f.event && f.time == t).count() as f64;
        let d = da + b.iter().filter(|f| f.event && f.time == t).count() as f64;
        o_minus_e += da - d * na / n;
        if n > 1.0 {
            var += d * (na / n) * (1.0 - na / n) * (n - d) / (n - 1.0);
        }
    }
    if var <= 0.0 {
        return (0.0, 1.0);
    }
    let chi2 = o_minus_e * o_minus_e / var;
    // Chi-square with one degree of freedom: P(X > chi2) = erfc(sqrt(chi2 / 2)).
    (chi2, libm::erfc((chi2 / 2.0).sqrt()))
}

/// The exact two-sided sign test of `a` against `b` discordant pairs
/// (McNemar's exact test when they are pairs of responses): twice the
/// binomial(a + b, 1/2) tail of the smaller count, at most 1.
pub fn sign_test(a: usize, b: usize) -> f64 {
    let n = a + b;
    if n == 0 {
        return 1.0;
    }
    // ln C(n, i) summed in logs so that large cohorts do not overflow.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let (mut ln_c, mut tail) = (0.0f64, 0.0);
    for i in 0..=a.min(b) {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// The paired test of progression-free survival on two arms, each patient
/// against itself (`pairs` of (arm A, arm B) follow-ups): a pair counts
/// for the arm that progressed later when the order is known (Gehan's
/// ordering: an event before the other's event or censoring), and the
/// sign test reads the counts. Pairs whose order is unknown (both
/// censored, or an event after the other's censoring) do not count.
pub fn paired_pfs(pairs: &[(Followup, Followup)]) -> f64 {
    let first =
        |x: &Followup, y: &Followup| x.event && (x.time < y.time || (!y.event && x.time <= y.time));
    let a_first = pairs.iter().filter(|(a, b)| first(a, b)).count();
    let b_first = pairs.iter().filter(|(a, b)| first(b, a)).count();
    sign_test(a_first, b_first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_newcombe_table() {
        // Newcombe (1998) Table I, method 3: 81/263 -> 0.2553 to 0.3662;
        // 15/148 -> 0.0624 to 0.1605; 0/20 -> 0 to 0.1611; 1/29 -> 0.0061 to 0.1718.
        for (k, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let p = wilson(k, n);
            assert!(
                close(p.low, lo, 6e-5) && close(p.high, hi, 6e-5),
                "{k}/{n}: {p:?}"
            );
        }
        assert!(wilson(0, 0).estimate.is_nan());
    }

    /// Freireich et al. (1963) 6-MP arm, the classic worked example
    /// (Kleinbaum & Klein, Survival Analysis; R survival::survfit gives the
    /// same): 21 patients, weeks, + = censored.
    fn six_mp() -> Vec<Followup> {
        let events = [6, 6, 6, 7, 10, 13, 16, 22, 23];
        let censored = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35];
        events
            .iter()
            .map(|&t| Followup {
                time: t as f64,
                event: true,
            })
            .chain(censored.iter().map(|&t| Followup {
                time: t as f64,
                event: false,
            }))
            .collect()
    }

    fn placebo() -> Vec<Followup> {
        [
            1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23,
        ]
        .iter()
        .map(|&t| Followup {
            time: t as f64,
            event: true,
        })
        .collect()
    }

    #[test]
    fn kaplan_meier_matches_the_6mp_example() {
        let km = kaplan_meier(&six_mp());
        let s: Vec<(f64, f64)> = km.iter().map(|k| (k.time, k.survival)).collect();
        let expect = [
            (6.0, 0.857),
            (7.0, 0.807),
            (10.0, 0.753),
            (13.0, 0.690),
            (16.0, 0.627),
            (22.0, 0.538),
            (23.0, 0.448),
        ];
        for ((t, s), (te, se)) in s.iter().zip(expect) {
            assert_eq!(*t, te);
            assert!(close(*s, se, 5e-4), "S({t}) = {s}, expected {se}");
        }
        assert_eq!(km[0].at_risk, 21);
        assert_eq!(km[0].events, 3);
        // Greenwood standard error at t = 6: 0.0764 (survfit).
        assert!(close(km[0].survival * km[0].greenwood.sqrt(), 0.0764, 5e-4));
        let m = km_median(&km);
        assert_eq!(m.estimate, Some(23.0));
        // survfit(conf.type = "log-log"): median 23, lower 13, upper not
        // reached (the log-log band at 13 weeks is 0.432-0.849).
        assert_eq!(m.low, Some(13.0));
        assert_eq!(m.high, None);
    }

    #[test]
    fn log_rank_matches_the_6mp_example() {
        // survdiff: Chisq = 16.8 on 1 degree of freedom, p = 4e-5.
        let (chi2, p) = log_rank(&six_mp(), &placebo());
        assert!(close(chi2, 16.79, 0.01), "{chi2}");
        assert!(p > 3e-5 && p < 5e-5, "{p}");
        let (chi2, p) = log_rank(&six_mp(), &six_mp());
        assert!(close(chi2, 0.0, 1e-12) && close(p, 1.0, 1e-12));
    }

    #[test]
    fn a_curve_without_events_never_reaches_its_median() {
        let data = vec![
            Followup {
                time: 60.0,
                event: false
            };
            5
        ];
        assert!(kaplan_meier(&data).is_empty());
        assert_eq!(km_median(&kaplan_meier(&data)).estimate, None);
        assert_eq!(log_rank(&data, &data), (0.0, 1.0));
    }

    #[test]
    fn the_sign_test_matches_the_binomial_tail() {
        // 10 pairs for one arm, 2 for the other: 2 (1 + 12 + 66) / 4096.
        assert!(close(sign_test(10, 2), 2.0 * 79.0 / 4096.0, 1e-12));
        assert!(close(sign_test(2, 10), sign_test(10, 2), 1e-15));
        assert_eq!(sign_test(0, 0), 1.0);
        assert_eq!(sign_test(5, 5), 1.0);
        // Large counts stay finite: 600 against 400 is far beyond chance.
        let p = sign_test(600, 400);
        assert!(p > 0.0 && p < 1e-9, "{p}");
    }

    #[test]
    fn paired_pfs_counts_only_pairs_whose_order_is_known() {
        let f = |time, event| Followup { time, event };
        let pairs = [
            (f(56.0, true), f(112.0, true)),    // A first
            (f(56.0, true), f(168.0, false)),   // A first: B censored later
            (f(168.0, false), f(112.0, true)),  // B first
            (f(168.0, false), f(168.0, false)), // unknown
            (f(112.0, true), f(56.0, false)),   // unknown: B censored earlier
            (f(56.0, true), f(56.0, true)),     // tie: unknown
        ];
        // 2 against 1.
        assert!(close(paired_pfs(&pairs), sign_test(2, 1), 1e-15));
        assert!(close(sign_test(2, 1), 1.0, 1e-15));
        let all_a: Vec<_> = (0..12).map(|_| (f(56.0, true), f(168.0, false))).collect();
        assert!(close(paired_pfs(&all_a), 2.0 / 4096.0, 1e-15));
    }
}
