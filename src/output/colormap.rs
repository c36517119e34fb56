//! Colour maps and the fixed colour scale of each field. Perceptually
//! uniform maps, one per kind of field, so a glance tells molecules from
//! cells; a diverging map where the scale runs below zero.

use crate::model::fields::{FieldKind, FieldSpec};

/// Entries of each lookup table.
pub const LUT_SIZE: usize = 256;

pub type Lut = [[u8; 3]; LUT_SIZE];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMap {
    Viridis,
    Magma,
    Cividis,
    /// Blue (negative), white (zero), red (positive).
    Diverging,
}

impl ColorMap {
    /// Molecules magma, cells viridis, states and maps cividis; diverging
    /// when the scale has a sign.
    pub fn for_field(spec: &FieldSpec, scale: &Scale) -> Self {
        if scale.min < 0.0 {
            return ColorMap::Diverging;
        }
        match spec.kind {
            FieldKind::Molecule => ColorMap::Magma,
            FieldKind::Cell => ColorMap::Viridis,
            FieldKind::State | FieldKind::Map => ColorMap::Cividis,
        }
    }

    /// The map sampled once, so a pixel costs a table lookup.
    pub fn lut(self) -> &'static Lut {
        use std::sync::OnceLock;
        static LUTS: [OnceLock<Lut>; 4] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let (slot, gradient) = match self {
            ColorMap::Viridis => (0, colorous::VIRIDIS),
            ColorMap::Magma => (1, colorous::MAGMA),
            ColorMap::Cividis => (2, colorous::CIVIDIS),
            // RED_BLUE runs red to blue; reversed below so negative is blue.
            ColorMap::Diverging => (3, colorous::RED_BLUE),
        };
        LUTS[slot].get_or_init(|| {
            std::array::from_fn(|k| {
                let k = if self == ColorMap::Diverging {
                    LUT_SIZE - 1 - k
                } else {
                    k
                };
                let c = gradient.eval_rational(k, LUT_SIZE);
                [c.r, c.g, c.b]
            })
        })
    }
}

/// A field's colour scale, fixed for a whole run so frames compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub min: f32,
    pub max: f32,
}

impl Scale {
    /// [0, display_max]; a negative display_max means a signed field shown
    /// on [-|max|, |max|].
    pub fn from_display_max(display_max: f32) -> Self {
        if display_max < 0.0 {
            Self {
                min: display_max,
                max: -display_max,
            }
        } else {
            Self {
                min: 0.0,
                max: display_max,
            }
        }
    }

    /// Position of `v` on the scale, clamped to [0, 1]; non-finite is 0.
    pub fn unit(&self, v: f32) -> f32 {
        if v.is_finite() && self.max > self.min {
            ((v - self.min) / (self.max - self.min)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Lookup-table index of `v`.
    pub fn index(&self, v: f32) -> usize {
        ((self.unit(v) * (LUT_SIZE - 1) as f32).round() as usize).min(LUT_SIZE - 1)
    }
}

/// Tick values for a colour bar or axis on [min, max]: steps of 1, 2 or 5
/// times a power of ten, about `target` of them, ends included when close.
pub fn nice_ticks(min: f32, max: f32, target: usize) -> Vec<f32> {
    let span = (max - min) as f64;
    if span.is_nan() || span <= 0.0 {
        return vec![min];
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= target as f64 + 0.5)
        .unwrap_or(10.0 * mag);
    let first = (min as f64 / step - 1e-5).ceil() as i64;
    // The tolerance absorbs f32 rounding: 0.03f32 / 0.01 = 2.99999993.
    let last = (max as f64 / step + 1e-5).floor() as i64;
    (first..=last).map(|k| (k as f64 * step) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(0.0, 0.05, 5),
            vec![0.0, 0.01, 0.02, 0.03, 0.04, 0.05]
        );
        assert_eq!(
            nice_ticks(0.0, 400.0, 5),
            vec![0.0, 100.0, 200.0, 300.0, 400.0]
        );
        assert_eq!(nice_ticks(0.0, 0.03, 5), vec![0.0, 0.01, 0.02, 0.03]);
        let t = nice_ticks(-2.0, 2.0, 4);
        assert_eq!(t, vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn diverging_is_blue_below_white_middle_red_above() {
        let lut = ColorMap::Diverging.lut();
        let (lo, mid, hi) = (lut[0], lut[LUT_SIZE / 2], lut[LUT_SIZE - 1]);
        assert!(lo[2] > lo[0] && hi[0] > hi[2]);
        assert!(mid.iter().all(|&c| c > 200));
    }

    #[test]
    fn scale_clamps() {
        let s = Scale::from_display_max(2.0);
        assert_eq!(s.index(-1.0), 0);
        assert_eq!(s.index(5.0), LUT_SIZE - 1);
        assert_eq!(s.index(f32::NAN), 0);
        let signed = Scale::from_display_max(-2.0);
        assert_eq!((signed.min, signed.max), (-2.0, 2.0));
    }
}
