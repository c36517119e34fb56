//! Drawing virtual patients. Every draw comes from its own stream, seeded
//! by the cohort seed, the patient's index and the name of what is drawn,
//! so patient i gets the same phenotype and parameters however the cohort
//! is sized, split or ordered, and adding a parameter leaves the others'
//! draws as they were.

use super::dist::draw;
use super::lesion::{self, Lesions, DEFAULT_LESIONS};
use super::spec::CohortSpec;
use crate::model::rng::SplitMix64;

/// Cohort parameter keys under this prefix draw the lesions, not a
/// scenario value.
const LESION_PREFIX: &str = "lesion.";

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
    SplitMix64(mix.next_u64() ^ name)
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
            if !p.key.starts_with(LESION_PREFIX) {
                out.push(format!("{}={}", p.key, format_value(v, p.integer)));
            }
        }
        out
    }

    /// The patient's target lesions at baseline.
    pub fn lesions(&self, spec: &CohortSpec) -> Lesions {
        let value = |key: &str| {
            spec.cohort
                .parameters
                .iter()
                .position(|p| p.key == key)
                .map(|i| self.values[i])
        };
        Lesions {
            count: value(lesion::COUNT_KEY).map_or(DEFAULT_LESIONS.count, |c| c as u32),
            sum_mm: value(lesion::SUM_KEY).unwrap_or(DEFAULT_LESIONS.sum_mm),
        }
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

    #[test]
    fn streams_depend_on_seed_patient_and_name_only() {
        let a = stream(1, 7, "params.x").next_u64();
        assert_eq!(a, stream(1, 7, "params.x").next_u64());
        assert_ne!(a, stream(2, 7, "params.x").next_u64());
        assert_ne!(a, stream(1, 8, "params.x").next_u64());
        assert_ne!(a, stream(1, 7, "params.y").next_u64());
    }

    #[test]
    fn values_print_as_toml_reads_them() {
        assert_eq!(format_value(3.0, true), "3");
        assert_eq!(format_value(3.0, false), "3.0");
        assert_eq!(format_value(0.1, false), "0.1");
        assert_eq!(format_value(1e-7, false), "0.0000001");
    }
}
