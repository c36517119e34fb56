//! WGSL sources of every stage: the generated parts (the `Params` struct
//! and the per-field bindings, both from the registries) followed by
//! shaders/common.wgsl and the stage's own file.

use crate::backend::plan::MAX_MOLECULES;
use crate::model::fields::{fields_of, FieldKind, FIELDS};
use crate::model::params::wgsl_struct;

/// The one list of compute stages: variant, name (shared with the WGSL
/// file in shaders/ and the CPU twin in src/cpu/), and whether the stage
/// uses the explicit stencil of shaders/stencil.wgsl.
macro_rules! stages {
    ($($variant:ident => $name:literal, stencil: $stencil:literal;)*) => {
        /// Every compute stage.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Stage {
            $($variant,)*
        }

        impl Stage {
            pub const ALL: &'static [Stage] = &[$(Stage::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Stage::$variant => $name,)*
                }
            }

            fn file(self) -> &'static str {
                match self {
                    $(Stage::$variant => include_str!(concat!("../../shaders/", $name, ".wgsl")),)*
                }
            }

            fn uses_stencil(self) -> bool {
                match self {
                    $(Stage::$variant => $stencil,)*
                }
            }
        }
    };
}

stages! {
    React => "react", stencil: false;
    Crowding => "crowding", stencil: false;
    Motility => "motility", stencil: false;
    DiffuseExplicit => "diffuse_explicit", stencil: true;
    DiffuseExponential => "diffuse_exponential", stencil: false;
    ReduceDc => "reduce_dc", stencil: false;
    Systemic => "systemic", stencil: false;
    CheckValues => "check_values", stencil: false;
}

/// First binding of the generated per-field storage buffers in react.wgsl.
pub const REACT_FIELD_BINDING: u32 = 3;
/// First binding of the generated per-field buffers in check_values.wgsl.
pub const CHECK_FIELD_BINDING: u32 = 2;
/// First binding of the generated cell-field buffers (then ifng) in crowding.wgsl.
pub const CROWDING_CELL_BINDING: u32 = 4;
/// First binding of the generated molecule slots (source, destination per
/// slot) in diffuse_exponential.wgsl.
pub const EXPONENTIAL_SLOT_BINDING: u32 = 4;

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const STENCIL: &str = include_str!("../../shaders/stencil.wgsl");

/// Bindings and accessors of the exponential pass's molecule slots: WGSL
/// cannot index a list of buffers, so slot m's line sum and store are
/// chosen by a switch that is uniform across each workgroup.
fn exponential_slots() -> String {
    let mut s = String::new();
    for m in 0..MAX_MOLECULES {
        let b = EXPONENTIAL_SLOT_BINDING as usize + 2 * m;
        s.push_str(&format!(
            "@group(0) @binding({b}) var<storage, read> src{m}: array<f32>;\n\
             @group(0) @binding({}) var<storage, read_write> dst{m}: array<f32>;\n\
             fn line_dot{m}(row: u32, start: u32) -> f32 {{\n    \
                 var acc = 0.0;\n    \
                 for (var k = 0u; k < pass_.len; k++) {{\n        \
                     acc += matrices[row + k] * src{m}[start + k * pass_.stride];\n    \
                 }}\n    \
                 return acc;\n}}\n",
            b + 1
        ));
    }
    let cases = |f: &dyn Fn(usize) -> String| -> String {
        (0..MAX_MOLECULES)
            .map(|m| format!("        case {m}u: {{ {} }}\n", f(m)))
            .collect()
    };
    s.push_str(&format!(
        "fn line_dot(m: u32, row: u32, start: u32) -> f32 {{\n    switch m {{\n{}        default: {{ return 0.0; }}\n    }}\n}}\n",
        cases(&|m| format!("return line_dot{m}(row, start);"))
    ));
    s.push_str(&format!(
        "fn store(m: u32, i: u32, v: f32) {{\n    switch m {{\n{}        default: {{ }}\n    }}\n}}\n",
        cases(&|m| format!("dst{m}[i] = v;"))
    ));
    s
}

/// Full WGSL source of a stage.
pub fn source(stage: Stage) -> String {
    let mut s = wgsl_struct();
    match stage {
        Stage::React => {
            for (i, f) in FIELDS.iter().enumerate() {
                s.push_str(&format!(
                    "@group(0) @binding({}) var<storage, read_write> {}: array<f32>;\n",
                    REACT_FIELD_BINDING as usize + i,
                    f.name
                ));
            }
        }
        Stage::Crowding => {
            let cells: Vec<usize> = fields_of(FieldKind::Cell).collect();
            for (k, &c) in cells.iter().enumerate() {
                s.push_str(&format!(
                    "@group(0) @binding({}) var<storage, read> {}: array<f32>;\n",
                    CROWDING_CELL_BINDING as usize + k,
                    FIELDS[c].name
                ));
            }
            s.push_str(&format!(
                "@group(0) @binding({}) var<storage, read> ifng: array<f32>;\n",
                CROWDING_CELL_BINDING as usize + cells.len()
            ));
            let sum: Vec<String> = cells
                .iter()
                .map(|&c| format!("{}[i]", FIELDS[c].name))
                .collect();
            s.push_str(&format!(
                "fn cell_sum(i: u32) -> f32 {{\n    return {};\n}}\n",
                sum.join(" + ")
            ));
        }
        Stage::CheckValues => {
            s.push_str(&format!(
                "const VALUE_FLOOR: f32 = {:?};\n",
                crate::backend::VALUE_FLOOR
            ));
            let mut body = String::new();
            for (i, f) in FIELDS.iter().enumerate() {
                s.push_str(&format!(
                    "@group(0) @binding({}) var<storage, read> {}: array<f32>;\n",
                    CHECK_FIELD_BINDING as usize + i,
                    f.name
                ));
                body.push_str(&format!("    flag({i}u, i, {}[i]);\n", f.name));
            }
            s.push_str(&format!("fn check_voxel(i: u32) {{\n{body}}}\n"));
        }
        _ => {}
    }
    s.push_str(COMMON);
    if stage.uses_stencil() {
        s.push_str(STENCIL);
    }
    s.push_str(stage.file());
    if stage == Stage::DiffuseExponential {
        s.push_str(&exponential_slots());
    }
    s
}
