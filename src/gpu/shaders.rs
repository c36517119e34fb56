//! WGSL sources of every stage: the generated preamble (the `Params`
//! struct, the shared constants, and the per-field bindings, all from the
//! registries) followed by shaders/common.wgsl and the stage's own file.

use crate::backend::plan::{MAX_MOLECULES, MAX_SOURCES};
use crate::model::fields::{fields_of, FieldKind, FIELDS};
use crate::model::grid::{REDUCE_WG, WORKGROUP_SIZE};
use crate::model::params::{wgsl_struct, RtShape, MIN_PER_DAY};

/// The one list of compute stages: variant, name (shared with the WGSL
/// file in shaders/ and the CPU twin in src/cpu/), its workgroup size (the
/// dispatch assumes it; tests/shaders.rs checks the shader declares it),
/// and whether the stage uses the explicit stencil of shaders/stencil.wgsl.
macro_rules! stages {
    ($($variant:ident => $name:literal, workgroup: $wg:expr, stencil: $stencil:literal;)*) => {
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

            /// Threads per workgroup.
            pub fn workgroup_size(self) -> u32 {
                match self {
                    $(Stage::$variant => $wg,)*
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
    React => "react", workgroup: WORKGROUP_SIZE, stencil: false;
    Crowding => "crowding", workgroup: WORKGROUP_SIZE, stencil: false;
    Motility => "motility", workgroup: WORKGROUP_SIZE, stencil: false;
    DiffuseExplicit => "diffuse_explicit", workgroup: WORKGROUP_SIZE, stencil: true;
    DiffuseExponential => "diffuse_exponential", workgroup: WORKGROUP_SIZE, stencil: false;
    ReduceDc => "reduce_dc", workgroup: REDUCE_WG, stencil: false;
    Systemic => "systemic", workgroup: REDUCE_WG, stencil: false;
    CheckValues => "check_values", workgroup: WORKGROUP_SIZE, stencil: false;
    Produce => "produce", workgroup: WORKGROUP_SIZE, stencil: false;
    SourcePass => "source_pass", workgroup: WORKGROUP_SIZE, stencil: false;
    SourceAdd => "source_add", workgroup: WORKGROUP_SIZE, stencil: false;
}

impl Stage {
    /// The entry point: `produce` is a second entry of the reaction
    /// module (it calls the same pieces), every other stage's is `main`.
    pub fn entry(self) -> &'static str {
        match self {
            Stage::Produce => "produce",
            _ => "main",
        }
    }
}

/// First binding of the generated per-field storage buffers in react.wgsl.
pub const REACT_FIELD_BINDING: u32 = 3;
/// Binding of the source buffer in react.wgsl and produce.wgsl (after the
/// fields).
pub const REACT_SOURCES_BINDING: u32 =
    REACT_FIELD_BINDING + crate::model::fields::FIELD_COUNT as u32;
/// First binding of the generated slot fields in source_add.wgsl.
pub const SOURCE_ADD_FIELD_BINDING: u32 = 2;
/// First binding of the generated per-field buffers in check_values.wgsl.
pub const CHECK_FIELD_BINDING: u32 = 2;
/// First binding of the generated cell-field buffers (then ifng) in crowding.wgsl.
pub const CROWDING_CELL_BINDING: u32 = 4;
/// First binding of the generated molecule slots (source, destination and
/// Dirichlet offset per slot) in diffuse_exponential.wgsl.
pub const EXPONENTIAL_SLOT_BINDING: u32 = 3;

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const STENCIL: &str = include_str!("../../shaders/stencil.wgsl");

/// Bindings and accessors of the exponential pass's molecule slots: WGSL
/// cannot index a list of buffers, so slot m's line sum and store are
/// chosen by a switch that is uniform across each workgroup.
fn exponential_slots() -> String {
    let mut s = String::new();
    for m in 0..MAX_MOLECULES {
        let b = EXPONENTIAL_SLOT_BINDING as usize + 3 * m;
        s.push_str(&format!(
            "@group(0) @binding({b}) var<storage, read> src{m}: array<f32>;\n\
             @group(0) @binding({}) var<storage, read_write> dst{m}: array<f32>;\n\
             @group(0) @binding({}) var<storage, read> off{m}: array<f32>;\n\
             fn line_dot{m}(first: u32, start: u32, lo: u32, hi: u32) -> f32 {{\n    \
                 var acc = 0.0;\n    \
                 for (var k = lo; k < hi; k++) {{\n        \
                     acc += matrices[first + k - lo] * src{m}[start + k * pass_.stride];\n    \
                 }}\n    \
                 return acc;\n}}\n",
            b + 1,
            b + 2
        ));
    }
    let cases = |f: &dyn Fn(usize) -> String| -> String {
        (0..MAX_MOLECULES)
            .map(|m| format!("        case {m}u: {{ {} }}\n", f(m)))
            .collect()
    };
    s.push_str(&format!(
        "fn line_dot(m: u32, first: u32, start: u32, lo: u32, hi: u32) -> f32 {{\n    switch m {{\n{}        default: {{ return 0.0; }}\n    }}\n}}\n",
        cases(&|m| format!("return line_dot{m}(first, start, lo, hi);"))
    ));
    s.push_str(&format!(
        "fn offset(m: u32, i: u32) -> f32 {{\n    switch m {{\n{}        default: {{ return 0.0; }}\n    }}\n}}\n",
        cases(&|m| format!("return off{m}[i];"))
    ));
    s.push_str(&format!(
        "fn store(m: u32, i: u32, v: f32) {{\n    switch m {{\n{}        default: {{ }}\n    }}\n}}\n",
        cases(&|m| format!("dst{m}[i] = v;"))
    ));
    s
}

/// The constants every stage shares, from the Rust side's one definition.
fn constants() -> String {
    let mut s = String::from("// Generated by src/gpu/shaders.rs: do not edit in a shader.\n");
    s.push_str(&format!("const WG: u32 = {WORKGROUP_SIZE}u;\n"));
    s.push_str(&format!("const REDUCE_WG: u32 = {REDUCE_WG}u;\n"));
    s.push_str(&format!("const MAX_MOLECULES: u32 = {MAX_MOLECULES}u;\n"));
    s.push_str(&format!("const MAX_SOURCES: u32 = {MAX_SOURCES}u;\n"));
    for (i, f) in FIELDS.iter().enumerate() {
        s.push_str(&format!("const F_{}: u32 = {i}u;\n", f.name.to_uppercase()));
    }
    s.push_str(&format!(
        "const MIN_NORMAL: f32 = {:e};\n",
        f32::MIN_POSITIVE
    ));
    s.push_str(&format!("const MIN_PER_DAY: f32 = {MIN_PER_DAY:?};\n"));
    s.push_str(&format!(
        "const VALUE_FLOOR: f32 = {:?};\n",
        crate::backend::VALUE_FLOOR
    ));
    for shape in RtShape::ALL {
        s.push_str(&format!(
            "const {}: f32 = {:?};\n",
            shape.wgsl_name(),
            shape.code()
        ));
    }
    s
}

/// `cell_sum(i)`: the crowding of voxel i, the cell fields summed in
/// registry order (as cpu::crowding and cpu::react sum them).
fn cell_sum() -> String {
    let sum: Vec<String> = fields_of(FieldKind::Cell)
        .map(|c| format!("{}[i]", FIELDS[c].name))
        .collect();
    format!(
        "fn cell_sum(i: u32) -> f32 {{\n    return {};\n}}\n",
        sum.join(" + ")
    )
}

/// Full WGSL source of a stage.
pub fn source(stage: Stage) -> String {
    let mut s = wgsl_struct();
    s.push_str(&constants());
    match stage {
        Stage::React | Stage::Produce => {
            for (i, f) in FIELDS.iter().enumerate() {
                s.push_str(&format!(
                    "@group(0) @binding({}) var<storage, read_write> {}: array<f32>;\n",
                    REACT_FIELD_BINDING as usize + i,
                    f.name
                ));
            }
            s.push_str(&format!(
                "@group(0) @binding({REACT_SOURCES_BINDING}) var<storage, read_write> sources: array<f32>;\n"
            ));
            s.push_str(&cell_sum());
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
            s.push_str(&cell_sum());
        }
        Stage::CheckValues => {
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
    match stage {
        // One module, two entry points: `main` calls `emit_sources`.
        Stage::React | Stage::Produce => {
            s.push_str(Stage::React.file());
            s.push_str(Stage::Produce.file());
        }
        _ => s.push_str(stage.file()),
    }
    match stage {
        Stage::DiffuseExponential => s.push_str(&exponential_slots()),
        Stage::SourceAdd => s.push_str(&source_add_slots()),
        _ => {}
    }
    s
}

/// The slot fields of source_add.wgsl and `add`, which adds to slot s's
/// field (held at >= 0; a NaN stays NaN for the value check).
fn source_add_slots() -> String {
    let mut s = String::new();
    let mut cases = String::new();
    for k in 0..MAX_SOURCES {
        s.push_str(&format!(
            "@group(0) @binding({}) var<storage, read_write> field{k}: array<f32>;\n",
            SOURCE_ADD_FIELD_BINDING as usize + k
        ));
        cases.push_str(&format!(
            "        case {k}u: {{ let v = field{k}[i] + s; field{k}[i] = select(v, 0.0, v < 0.0); }}\n"
        ));
    }
    s.push_str(&format!(
        "fn add(slot: u32, i: u32, s: f32) {{\n    switch slot {{\n{cases}        default: {{ }}\n    }}\n}}\n"
    ));
    s
}
