//! Numbers for the reaction kernel: one voxel (`f32`) or `LANES` voxels at
//! once (`Lanes`), behind one trait, so the kernel is written once.
//!
//! The reaction stage is scalar arithmetic (divisions, saturations,
//! exponentials) with no neighbours: each voxel is independent. Written
//! over `Lanes`, the compiler turns each operation into vector
//! instructions over `LANES` voxels. Every lane does exactly what the
//! scalar code does, in the same order, and `exp`/`powf` call the same
//! scalar functions lane by lane, so the vector kernel gives the scalar
//! kernel's bits (tests below; `cpu::react` tests compare whole stages).
//!
//! A branch becomes a `select` that computes both sides and keeps one per
//! lane: the kept side is computed as the branch computed it.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

/// Voxels per `Lanes`: two AVX registers, four SSE ones.
pub const LANES: usize = 8;

/// A real number as the reaction kernel uses it. Arithmetic with a plain
/// `f32` (a parameter) keeps the kernel value on the left; IEEE addition
/// and multiplication commute exactly, so `v * p` is `p * v` bit for bit.
pub trait Real:
    Copy
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Add<f32, Output = Self>
    + Sub<f32, Output = Self>
    + Mul<f32, Output = Self>
    + Div<f32, Output = Self>
{
    fn splat(x: f32) -> Self;
    fn exp(self) -> Self;
    fn powf(self, n: f32) -> Self;
    /// `f32::max` in every lane.
    fn max(self, other: Self) -> Self;
    /// `f32::min` in every lane.
    fn min(self, other: Self) -> Self;
    /// `if self <= bound { then } else { other }`, lane by lane.
    fn if_le(self, bound: Self, then: Self, other: Self) -> Self;
    /// `if self < bound { then } else { other }`, lane by lane.
    fn if_lt(self, bound: Self, then: Self, other: Self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f32::exp(self)
    }
    #[inline(always)]
    fn powf(self, n: f32) -> Self {
        f32::powf(self, n)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
    #[inline(always)]
    fn min(self, other: Self) -> Self {
        f32::min(self, other)
    }
    #[inline(always)]
    fn if_le(self, bound: Self, then: Self, other: Self) -> Self {
        if self <= bound {
            then
        } else {
            other
        }
    }
    #[inline(always)]
    fn if_lt(self, bound: Self, then: Self, other: Self) -> Self {
        if self < bound {
            then
        } else {
            other
        }
    }
}

/// `LANES` values, one per voxel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lanes(pub [f32; LANES]);

impl Lanes {
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        let mut out = self.0;
        for x in out.iter_mut() {
            *x = f(*x);
        }
        Lanes(out)
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut out = self.0;
        for (x, y) in out.iter_mut().zip(other.0) {
            *x = f(*x, y);
        }
        Lanes(out)
    }

    #[inline(always)]
    fn pick(self, bound: Self, then: Self, other: Self, keep: impl Fn(f32, f32) -> bool) -> Self {
        Lanes(std::array::from_fn(|l| {
            if keep(self.0[l], bound.0[l]) {
                then.0[l]
            } else {
                other.0[l]
            }
        }))
    }
}

macro_rules! lane_ops {
    ($($trait:ident $method:ident $op:tt,)*) => {$(
        impl $trait for Lanes {
            type Output = Lanes;
            #[inline(always)]
            fn $method(self, other: Lanes) -> Lanes {
                self.zip(other, |a, b| a $op b)
            }
        }
        impl $trait<f32> for Lanes {
            type Output = Lanes;
            #[inline(always)]
            fn $method(self, other: f32) -> Lanes {
                self.map(|a| a $op other)
            }
        }
    )*};
}
lane_ops! {
    Add add +,
    Sub sub -,
    Mul mul *,
    Div div /,
}

impl Real for Lanes {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Lanes([x; LANES])
    }
    #[inline(always)]
    fn exp(self) -> Self {
        self.map(f32::exp)
    }
    #[inline(always)]
    fn powf(self, n: f32) -> Self {
        self.map(|x| x.powf(n))
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        self.zip(other, f32::max)
    }
    #[inline(always)]
    fn min(self, other: Self) -> Self {
        self.zip(other, f32::min)
    }
    #[inline(always)]
    fn if_le(self, bound: Self, then: Self, other: Self) -> Self {
        self.pick(bound, then, other, |a, b| a <= b)
    }
    #[inline(always)]
    fn if_lt(self, bound: Self, then: Self, other: Self) -> Self {
        self.pick(bound, then, other, |a, b| a < b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Awkward values: zeros of both signs, tiny, huge, negative, NaN.
    const VALUES: [f32; LANES] = [0.0, -0.0, 1e-30, 3.5, -2.25, 1e30, f32::NAN, 0.01];

    /// The same bits, or both NaN (a NaN's payload and sign depend on
    /// whether the compiler folded the operation, not on the kernel).
    fn same_bits(a: Lanes, b: [f32; LANES]) -> bool {
        a.0.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn every_lane_is_the_scalar_operation() {
        let a = Lanes(VALUES);
        let mut rev = VALUES;
        rev.reverse();
        let b = Lanes(rev);
        let each = |f: &dyn Fn(f32, f32) -> f32| -> [f32; LANES] {
            std::array::from_fn(|l| f(VALUES[l], rev[l]))
        };
        assert!(same_bits(a + b, each(&|x, y| x + y)));
        assert!(same_bits(a - b, each(&|x, y| x - y)));
        assert!(same_bits(a * b, each(&|x, y| x * y)));
        assert!(same_bits(a / b, each(&|x, y| x / y)));
        assert!(same_bits(a / 3.0, each(&|x, _| x / 3.0)));
        assert!(same_bits(a.max(b), each(&|x, y| Real::max(x, y))));
        assert!(same_bits(a.min(b), each(&|x, y| Real::min(x, y))));
        assert!(same_bits(a.exp(), each(&|x, _| x.exp())));
        assert!(same_bits(a.powf(1.7), each(&|x, _| x.powf(1.7))));
        assert!(same_bits(
            a.if_le(b, a * 2.0, b),
            each(&|x, y| Real::if_le(x, y, x * 2.0, y))
        ));
        assert!(same_bits(
            a.if_lt(b, a * 2.0, b),
            each(&|x, y| Real::if_lt(x, y, x * 2.0, y))
        ));
    }

    #[test]
    fn a_select_keeps_the_side_its_condition_names() {
        let x = Lanes([-1.0, 0.0, 1.0, 2.0, -1.0, 0.0, 1.0, 2.0]);
        let picked = x.if_le(Lanes::splat(0.0), Lanes::splat(10.0), Lanes::splat(20.0));
        assert_eq!(picked.0, [10.0, 10.0, 20.0, 20.0, 10.0, 10.0, 20.0, 20.0]);
        let strict = x.if_lt(Lanes::splat(0.0), Lanes::splat(10.0), Lanes::splat(20.0));
        assert_eq!(strict.0, [10.0, 20.0, 20.0, 20.0, 10.0, 20.0, 20.0, 20.0]);
    }
}
