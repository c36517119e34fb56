//! The exact step of the discrete diffusion-decay equation on a box.
//!
//! With uniform coefficients, du/dt = D L u - lambda u + D g v (L the
//! cell-centred 5- or 7-point Laplacian; g the Dirichlet faces of each voxel,
//! ghost value 2v - u) has the exact solution over one step
//!
//! ```text
//! u(t + dt) = e^{-lambda dt} (E_x (x) E_y (x) E_z) u(t) + c,   E_a = exp(dt D L_a / dx^2)
//! ```
//!
//! because the axis operators commute. Each E_a is a small dense matrix
//! (line length squared), applied to every grid line along its axis, and c
//! is the exact response to the Dirichlet source over one step (zero for
//! no-flux boundaries or v = 0). Both are computed here once per run in f64.
//!
//! Positivity: L_a has non-negative off-diagonals, so E_a is entrywise
//! non-negative. It is computed by scaling and squaring from a Taylor series
//! of non-negative terms, so the computed entries are non-negative too (no
//! cancellation anywhere), and a product of non-negative numbers never
//! rounds below zero. c is a time integral of non-negative terms; its f64
//! evaluation through the sine basis is exact to round-off, which is
//! checked (`offset_noise`) and only then set to zero where it is negative.

use std::f64::consts::PI;

/// The 1D operator's matrix h^2 L_a on a line of `n` cells, dense row-major:
/// 1 off the diagonal, -2 on it; an end cell has -1 (no-flux) or -3
/// (Dirichlet: the ghost 2v - u puts the value on the face).
#[cfg(test)]
fn laplacian_1d(n: usize, dirichlet: bool) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    if n < 2 {
        return m;
    }
    let end = if dirichlet { -3.0 } else { -1.0 };
    for i in 0..n {
        m[i * n + i] = if i == 0 || i + 1 == n { end } else { -2.0 };
        if i > 0 {
            m[i * n + i - 1] = 1.0;
        }
        if i + 1 < n {
            m[i * n + i + 1] = 1.0;
        }
    }
    m
}

/// Dense product of two n x n row-major matrices of non-negative entries,
/// rows in parallel.
#[cfg(test)]
fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    use rayon::prelude::*;
    let mut out = vec![0.0; n * n];
    out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (o, &bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *o += aik * bkj;
            }
        }
    });
    out
}

/// `a` times the tridiagonal matrix `t` (both n x n, row-major): O(n^2).
#[cfg(test)]
fn times_tridiagonal(a: &[f64], t: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            // Ascending k, as a dense product would sum.
            let mut v = 0.0;
            if j > 0 {
                v += a[i * n + j - 1] * t[(j - 1) * n + j];
            }
            v += a[i * n + j] * t[j * n + j];
            if j + 1 < n {
                v += a[i * n + j + 1] * t[(j + 1) * n + j];
            }
            out[i * n + j] = v;
        }
    }
    out
}

/// exp(r L) for the line operator of [`laplacian_1d`] (r = dt D / dx^2),
/// times `scale`, row-major. Every entry is >= 0. The dense reference
/// the tests hold the banded and spectral propagators to.
#[cfg(test)]
pub fn axis_propagator(n: usize, r: f64, dirichlet: bool, scale: f64) -> Vec<f64> {
    assert!(r >= 0.0 && scale >= 0.0);
    let mut a = laplacian_1d(n, dirichlet);
    // Scale so that the infinity norm (at most 4r) is at most 1/2.
    let mut squarings = 0;
    let mut rs = r;
    while 4.0 * rs > 0.5 {
        rs *= 0.5;
        squarings += 1;
    }
    a.iter_mut().for_each(|x| *x *= rs);
    // exp(A) = e^{-s} exp(A + s I), with A + s I >= 0 entrywise: a Taylor
    // series of non-negative terms, truncated where the next term is below
    // f64 resolution (norm of A + s I <= 1, so 20 terms reach 1/20!).
    let shift = (0..n).map(|i| -a[i * n + i]).fold(0.0f64, f64::max);
    for i in 0..n {
        a[i * n + i] += shift;
    }
    let mut sum = vec![0.0; n * n];
    let mut term = vec![0.0; n * n];
    for i in 0..n {
        sum[i * n + i] = 1.0;
        term[i * n + i] = 1.0;
    }
    for j in 1..=20 {
        term = times_tridiagonal(&term, &a, n);
        term.iter_mut().for_each(|x| *x /= j as f64);
        sum.iter_mut().zip(&term).for_each(|(s, t)| *s += t);
    }
    let e_shift = (-shift).exp();
    sum.iter_mut().for_each(|x| *x *= e_shift);
    for _ in 0..squarings {
        sum = matmul(&sum, &sum, n);
    }
    sum.iter_mut().for_each(|x| *x *= scale);
    sum
}

/// The band of exp(r L) on a line of `n` cells: the entries at least
/// `cutoff` times the largest, all within `half` of the diagonal. Built
/// from the eigenbasis, entry by entry, so a long line never holds its
/// dense n x n propagator: O(n) memory per row and O(n^2 half) work, where
/// scaling and squaring ([`axis_propagator`]) needs n^2 memory and n^3 work
/// per squaring (a 2048-voxel line took minutes). Each entry is a sum of
/// n terms with absolute error about n 1e-16 of the largest, far below the
/// cutoff, so every entry kept is positive and the dropped ones are the
/// same as the dense route's (tested against it).
pub struct PropagatorBand {
    pub half: usize,
    n: usize,
    /// Eigenvectors, row i holding v_k(i) for every k.
    v: Vec<f64>,
    /// Row j holding e^{r mu_k} v_k(j) for every k.
    w: Vec<f64>,
    floor: f64,
}

impl PropagatorBand {
    pub fn new(n: usize, r: f64, dirichlet: bool, cutoff: f64) -> Self {
        let (v, mu) = line_basis(n, dirichlet);
        let mut w = v.clone();
        for row in w.chunks_mut(n) {
            row.iter_mut()
                .zip(&mu)
                .for_each(|(x, m)| *x *= (r * m).exp());
        }
        let mut band = PropagatorBand {
            half: 0,
            n,
            v,
            w,
            floor: 0.0,
        };
        // E is symmetric positive definite: its largest entry is diagonal.
        let largest = (0..n).map(|i| band.exact(i, i)).fold(0.0, f64::max);
        band.floor = largest * cutoff;
        // The farthest reach is from an end row (no-flux: its mirror image
        // adds) or the middle one (Dirichlet: the images subtract).
        band.half = [0, n / 2, n - 1]
            .into_iter()
            .flat_map(|i| {
                let b = &band;
                (0..n)
                    .filter(move |&j| b.exact(i, j) >= b.floor)
                    .map(move |j| i.abs_diff(j))
            })
            .max()
            .unwrap_or(0);
        band
    }

    fn exact(&self, i: usize, j: usize) -> f64 {
        let n = self.n;
        self.v[i * n..(i + 1) * n]
            .iter()
            .zip(&self.w[j * n..(j + 1) * n])
            .map(|(a, b)| a * b)
            .sum()
    }

    /// Entry (i, j): 0 below the cutoff or outside the band.
    pub fn entry(&self, i: usize, j: usize) -> f64 {
        if i.abs_diff(j) > self.half {
            return 0.0;
        }
        let e = self.exact(i, j);
        if e < self.floor {
            0.0
        } else {
            e
        }
    }
}

/// Orthonormal eigenvectors (columns, row-major n x n) and eigenvalues of
/// the Dirichlet line operator h^2 L: the half-shifted sine basis (DST-II),
/// v_k(i) = c_k sin(pi (k+1) (i + 1/2) / n), mu_k = -4 sin^2(pi (k+1) / 2n).
fn dirichlet_basis(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    let mut mu = vec![0.0; n];
    for k in 0..n {
        let theta = PI * (k + 1) as f64 / n as f64;
        let c = if k + 1 == n {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        for i in 0..n {
            v[i * n + k] = c * (theta * (i as f64 + 0.5)).sin();
        }
        mu[k] = -4.0 * (theta / 2.0).sin().powi(2);
    }
    (v, mu)
}

/// Orthonormal eigenvectors (columns, row-major n x n) and eigenvalues of
/// the no-flux line operator h^2 L: the cosine basis (DCT-II),
/// v_k(i) = c_k cos(pi k (i + 1/2) / n), mu_k = -4 sin^2(pi k / 2n).
fn noflux_basis(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    let mut mu = vec![0.0; n];
    for k in 0..n {
        let c = if k == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        for i in 0..n {
            v[i * n + k] = c * (PI * k as f64 * (i as f64 + 0.5) / n as f64).cos();
        }
        mu[k] = -4.0 * (PI * k as f64 / (2.0 * n as f64)).sin().powi(2);
    }
    (v, mu)
}

/// The eigenbasis of a line's operator h^2 L: eigenvectors as the columns
/// of a row-major n x n matrix V (L = V diag(mu) V^T), and eigenvalues mu.
/// A line of one voxel has no faces: V = [1], mu = [0].
pub fn line_basis(n: usize, dirichlet: bool) -> (Vec<f64>, Vec<f64>) {
    if dirichlet && n > 1 {
        dirichlet_basis(n)
    } else {
        noflux_basis(n)
    }
}

/// phi1(z) = (e^z - 1) / z, the exact integral of e^{z s} over s in [0, 1]
/// (1 at z = 0). For z <= 0 it lies in (0, 1].
pub fn phi1(z: f64) -> f64 {
    if z.abs() < 1e-12 {
        1.0
    } else {
        z.exp_m1() / z
    }
}

/// Multiply `data` (shape `dims`, x fastest) along `axis` by the n x n
/// row-major matrix `m` (or its transpose).
pub fn apply_along(
    dims: [usize; 3],
    axis: usize,
    m: &[f64],
    transpose: bool,
    data: &[f64],
) -> Vec<f64> {
    let n = dims[axis];
    let inner: usize = dims[..axis].iter().product();
    let outer: usize = dims[axis + 1..].iter().product();
    let mut out = vec![0.0; data.len()];
    for o in 0..outer {
        for j in 0..n {
            let dst = (o * n + j) * inner;
            for k in 0..n {
                let e = if transpose {
                    m[k * n + j]
                } else {
                    m[j * n + k]
                };
                let src = (o * n + k) * inner;
                for q in 0..inner {
                    out[dst + q] += e * data[src + q];
                }
            }
        }
    }
    out
}

/// The Dirichlet offset c of one step: the exact solution at t = dt of
/// du/dt = (D L - lambda) u + D g v from u = 0, on a grid of `dims` cells
/// with the given active axes. `r` = dt D / dx^2, `decay_dt` = lambda dt.
pub fn dirichlet_offset(
    dims: [usize; 3],
    axes: &[usize],
    r: f64,
    decay_dt: f64,
    value: f64,
) -> Vec<f64> {
    let len: usize = dims.iter().product();
    if value == 0.0 || axes.is_empty() || r == 0.0 {
        // No boundary exchange (and z = 0 would divide by zero below).
        return vec![0.0; len];
    }
    // Source per step: 2 r v for each Dirichlet face of a voxel.
    let mut g = vec![0.0; len];
    for (i, gi) in g.iter_mut().enumerate() {
        let pos = [
            i % dims[0],
            (i / dims[0]) % dims[1],
            i / (dims[0] * dims[1]),
        ];
        for &a in axes {
            let faces = (pos[a] == 0) as u32 + (pos[a] + 1 == dims[a]) as u32;
            *gi += 2.0 * r * value * faces as f64;
        }
    }
    // Into the sine basis, scale each mode by the integral over the step,
    // back. In mode k the step's rate is z = r sum_a mu_a - lambda dt < 0,
    // and the source's integral is (e^z - 1) / z.
    let bases: Vec<(usize, Vec<f64>, Vec<f64>)> = axes
        .iter()
        .map(|&a| {
            let (v, mu) = dirichlet_basis(dims[a]);
            (a, v, mu)
        })
        .collect();
    let mut hat = g;
    for (a, v, _) in &bases {
        hat = apply_along(dims, *a, v, true, &hat);
    }
    for (i, h) in hat.iter_mut().enumerate() {
        let pos = [
            i % dims[0],
            (i / dims[0]) % dims[1],
            i / (dims[0] * dims[1]),
        ];
        let z: f64 = bases.iter().map(|(a, _, mu)| r * mu[pos[*a]]).sum::<f64>() - decay_dt;
        *h *= phi1(z);
    }
    let mut c = hat;
    for (a, v, _) in &bases {
        c = apply_along(dims, *a, v, false, &c);
    }
    let noise = offset_noise(value);
    for x in c.iter_mut() {
        assert!(
            *x > -noise,
            "Dirichlet offset {x} below round-off level {noise}"
        );
        *x = x.max(0.0);
    }
    c
}

/// Largest round-off of a computed offset entry whose exact value is >= 0.
fn offset_noise(value: f64) -> f64 {
    1e-9 * value.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// exp(r L) by its eigen-decomposition, for no-flux (cosine basis) or
    /// Dirichlet (sine basis): an independent reference.
    fn reference(n: usize, r: f64, dirichlet: bool) -> Vec<f64> {
        let (v, mu) = line_basis(n, dirichlet);
        let mut e = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                e[i * n + j] = (0..n)
                    .map(|k| v[i * n + k] * (r * mu[k]).exp() * v[j * n + k])
                    .sum();
            }
        }
        e
    }

    #[test]
    fn propagator_matches_eigen_decomposition_and_is_non_negative() {
        for &(n, r, dirichlet) in &[
            (7, 0.3, false),
            (33, 22.5, false),
            (33, 22.5, true),
            (64, 900.0, true),
        ] {
            let e = axis_propagator(n, r, dirichlet, 1.0);
            let exact = reference(n, r, dirichlet);
            let err = e
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                err < 1e-12,
                "n {n} r {r} dirichlet {dirichlet}: max error {err:e}"
            );
            assert!(e.iter().all(|&x| x >= 0.0));
            if !dirichlet {
                for i in 0..n {
                    let row: f64 = e[i * n..(i + 1) * n].iter().sum();
                    assert!((row - 1.0).abs() < 1e-12, "no-flux row sum {row}");
                }
            }
        }
    }

    #[test]
    fn the_band_equals_the_dense_propagator_above_the_cutoff() {
        let cutoff = 1.0 / (1u64 << 40) as f64;
        for &(n, r, dirichlet) in &[
            (9, 0.2, false),
            (64, 3.0, false),
            (64, 3.0, true),
            (125, 337.5, false),
            (200, 40.0, true),
        ] {
            let dense = axis_propagator(n, r, dirichlet, 1.0);
            let largest = dense.iter().cloned().fold(0.0, f64::max);
            let band = PropagatorBand::new(n, r, dirichlet, cutoff);
            for i in 0..n {
                for j in 0..n {
                    let (d, b) = (dense[i * n + j], band.entry(i, j));
                    assert!(b >= 0.0);
                    if d >= 2.0 * cutoff * largest {
                        assert!(
                            (d - b).abs() <= 1e-12 * largest,
                            "n {n} r {r} {dirichlet}: ({i}, {j}) {d:e} vs {b:e}"
                        );
                    } else if b > 0.0 {
                        assert!(d >= 0.5 * cutoff * largest, "kept {b:e}, dense {d:e}");
                    }
                }
            }
        }
    }

    #[test]
    fn dirichlet_offset_reaches_the_boundary_value_and_solves_the_step() {
        // Without decay, a long step from u = 0 ends at the boundary value.
        let c = dirichlet_offset([9, 6, 1], &[0, 1], 500.0, 0.0, 2.0);
        assert!(c.iter().all(|&x| (x - 2.0).abs() < 1e-9), "{c:?}");
        // A short step: c equals many small exact steps from u = 0.
        let dims = [8, 5, 1];
        let (r, ld, v) = (0.4, 0.05, 1.5);
        let one = dirichlet_offset(dims, &[0, 1], r, ld, v);
        let m = 64;
        let small = dirichlet_offset(dims, &[0, 1], r / m as f64, ld / m as f64, v);
        let ex = axis_propagator(8, r / m as f64, true, (-ld / m as f64).exp());
        let ey = axis_propagator(5, r / m as f64, true, 1.0);
        let mut u = vec![0.0; 40];
        for _ in 0..m {
            u = apply_along(dims, 1, &ey, false, &apply_along(dims, 0, &ex, false, &u));
            u.iter_mut().zip(&small).for_each(|(a, b)| *a += b);
        }
        let err = u
            .iter()
            .zip(&one)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "offset vs composed small steps: {err:e}");
        assert!(one.iter().all(|&x| x >= 0.0));
    }
}
