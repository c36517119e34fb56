//! Where a sweep puts its points, in the unit cube of its axes: a full
//! grid, a Latin hypercube, or Saltelli's design for Sobol indices (two
//! quasi-random base matrices A and B and, per axis, A with that axis's
//! column taken from B).

use crate::model::rng::SplitMix64;
use anyhow::{bail, Result};

/// Most points one sweep may hold.
pub const MAX_POINTS: usize = 1_000_000;
/// The Sobol sequence (sobol_burley) holds 2^16 points in 256 dimensions.
pub const MAX_SALTELLI_BASE: usize = 1 << 16;
pub const MAX_SALTELLI_AXES: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Design {
    /// Every combination of `levels` evenly spaced values per axis, ends
    /// included (the first axis varies slowest).
    Grid { levels: usize },
    /// `points` points, each axis cut into `points` equal strata and each
    /// stratum used once, at a random place inside it.
    Lhs { points: usize },
    /// `base` x (axes + 2) points: rows A_j, B_j, then A_j with axis i
    /// from B_j for each i (Saltelli et al. 2010), A and B from an
    /// Owen-scrambled Sobol sequence.
    Saltelli { base: usize },
    /// `trajectories` x (axes + 1) points: Morris's one-at-a-time
    /// trajectories on a grid of `MORRIS_LEVELS` levels, each moving one
    /// axis at a time by `MORRIS_STEP`, in a random order (Morris,
    /// Technometrics 33:161, 1991).
    Morris { trajectories: usize },
}

/// Levels of the Morris grid, and the step: p / (2 (p - 1)) in the unit
/// cube, so that every level can move by it, up or down (Saltelli et al.,
/// Global Sensitivity Analysis: The Primer, 2008, ch. 3).
pub const MORRIS_LEVELS: usize = 4;
pub const MORRIS_STEP: f64 = MORRIS_LEVELS as f64 / (2.0 * (MORRIS_LEVELS as f64 - 1.0));

impl Design {
    /// How many points the design has over `axes` axes.
    pub fn len(&self, axes: usize) -> usize {
        match *self {
            Design::Grid { levels } => levels.saturating_pow(axes as u32),
            Design::Lhs { points } => points,
            Design::Saltelli { base } => base.saturating_mul(axes + 2),
            Design::Morris { trajectories } => trajectories.saturating_mul(axes + 1),
        }
    }

    /// Refuse a design that cannot be built; errors name the flag.
    pub fn check(&self, axes: usize) -> Result<()> {
        match *self {
            Design::Grid { levels } if levels < 2 => {
                bail!("--points {levels}: a grid needs at least 2 levels per axis")
            }
            Design::Lhs { points } if points < 2 => {
                bail!("--points {points}: a Latin hypercube needs at least 2 points")
            }
            Design::Saltelli { base } if !(2..=MAX_SALTELLI_BASE).contains(&base) => {
                bail!("--base-samples {base}: give 2 to {MAX_SALTELLI_BASE} (a power of two suits the Sobol sequence best)")
            }
            Design::Morris { trajectories } if trajectories < 2 => {
                bail!("--trajectories {trajectories}: give at least 2 (about 10 rank the keys)")
            }
            Design::Saltelli { .. } if axes > MAX_SALTELLI_AXES => {
                bail!("{axes} --vary axes: Sobol indices take at most {MAX_SALTELLI_AXES}")
            }
            _ => {}
        }
        let n = self.len(axes);
        if n > MAX_POINTS {
            bail!("the design has {n} points; at most {MAX_POINTS} (fewer points, samples, trajectories or axes)");
        }
        Ok(())
    }

    /// The design's points in the unit cube, one row of `axes` per point.
    /// The same design and seed give the same points on every machine.
    pub fn unit_points(&self, axes: usize, seed: u64) -> Vec<Vec<f64>> {
        match *self {
            Design::Grid { levels } => grid(levels, axes),
            Design::Lhs { points } => latin_hypercube(points, axes, seed),
            Design::Saltelli { base } => saltelli(base, axes, seed),
            Design::Morris { trajectories } => morris(trajectories, axes, seed),
        }
    }
}

fn grid(levels: usize, axes: usize) -> Vec<Vec<f64>> {
    let n = levels.pow(axes as u32);
    (0..n)
        .map(|mut i| {
            let mut row = vec![0.0; axes];
            for d in (0..axes).rev() {
                row[d] = (i % levels) as f64 / (levels - 1) as f64;
                i /= levels;
            }
            row
        })
        .collect()
}

fn latin_hypercube(points: usize, axes: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rows = vec![vec![0.0; axes]; points];
    for d in 0..axes {
        let mut rng = SplitMix64(seed ^ (d as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut strata: Vec<usize> = (0..points).collect();
        // Fisher-Yates.
        for i in (1..points).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            strata.swap(i, j);
        }
        for (row, s) in rows.iter_mut().zip(strata) {
            row[d] = (s as f64 + rng.unit()) / points as f64;
        }
    }
    rows
}

fn saltelli(base: usize, axes: usize, seed: u64) -> Vec<Vec<f64>> {
    let scramble = (seed ^ (seed >> 32)) as u32;
    let sobol = |j: usize, dim: usize| sobol_burley::sample(j as u32, dim as u32, scramble) as f64;
    let mut rows = Vec::with_capacity(base * (axes + 2));
    for j in 0..base {
        let a: Vec<f64> = (0..axes).map(|d| sobol(j, d)).collect();
        let b: Vec<f64> = (0..axes).map(|d| sobol(j, axes + d)).collect();
        rows.push(a.clone());
        rows.push(b.clone());
        for i in 0..axes {
            let mut ab = a.clone();
            ab[i] = b[i];
            rows.push(ab);
        }
    }
    rows
}

fn morris(trajectories: usize, axes: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = SplitMix64(seed ^ 0x6d6f_7272_6973);
    let top = (MORRIS_LEVELS - 1) as f64;
    let mut rows = Vec::with_capacity(trajectories * (axes + 1));
    for _ in 0..trajectories {
        let mut x: Vec<f64> = (0..axes)
            .map(|_| (rng.next_u64() % MORRIS_LEVELS as u64) as f64 / top)
            .collect();
        let mut order: Vec<usize> = (0..axes).collect();
        for i in (1..axes).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        rows.push(x.clone());
        for i in order {
            // Up where the step stays inside, else down; with an even
            // number of levels one of the two always does.
            x[i] = if x[i] + MORRIS_STEP <= 1.0 + 1e-12 {
                x[i] + MORRIS_STEP
            } else {
                x[i] - MORRIS_STEP
            };
            rows.push(x.clone());
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_holds_every_combination_ends_included() {
        let p = Design::Grid { levels: 3 }.unit_points(2, 0);
        assert_eq!(p.len(), 9);
        assert_eq!(p[0], vec![0.0, 0.0]);
        assert_eq!(p[1], vec![0.0, 0.5]);
        assert_eq!(p[8], vec![1.0, 1.0]);
    }

    #[test]
    fn a_latin_hypercube_uses_each_stratum_of_each_axis_once() {
        let n = 50;
        let p = Design::Lhs { points: n }.unit_points(3, 7);
        for d in 0..3 {
            let mut strata: Vec<usize> = p.iter().map(|r| (r[d] * n as f64) as usize).collect();
            strata.sort();
            assert_eq!(strata, (0..n).collect::<Vec<_>>(), "axis {d}");
        }
        assert_eq!(p, Design::Lhs { points: n }.unit_points(3, 7));
        assert_ne!(p, Design::Lhs { points: n }.unit_points(3, 8));
    }

    #[test]
    fn morris_trajectories_move_one_axis_at_a_time_by_the_step() {
        let k = 4;
        let p = Design::Morris { trajectories: 6 }.unit_points(k, 2);
        assert_eq!(p.len(), 6 * (k + 1));
        for t in p.chunks(k + 1) {
            let mut moved = Vec::new();
            for w in t.windows(2) {
                let changed: Vec<usize> = (0..k).filter(|&d| w[0][d] != w[1][d]).collect();
                assert_eq!(changed.len(), 1, "{w:?}");
                let d = changed[0];
                assert!(((w[1][d] - w[0][d]).abs() - MORRIS_STEP).abs() < 1e-12);
                assert!((0.0..=1.0).contains(&w[1][d]));
                moved.push(d);
            }
            moved.sort();
            assert_eq!(moved, (0..k).collect::<Vec<_>>(), "each axis once");
        }
    }

    #[test]
    fn saltelli_rows_share_all_but_one_column_with_a() {
        let k = 3;
        let p = Design::Saltelli { base: 8 }.unit_points(k, 1);
        assert_eq!(p.len(), 8 * (k + 2));
        for block in p.chunks(k + 2) {
            let (a, b) = (&block[0], &block[1]);
            for i in 0..k {
                for d in 0..k {
                    let want = if d == i { b[d] } else { a[d] };
                    assert_eq!(block[2 + i][d], want);
                }
            }
        }
    }
}
