//! WGSL sources of every stage: the generated preamble (the `Params`
//! struct, the shared constants, and the per-field bindings, all from the
//! registries) followed by shaders/common.wgsl and the stage's own file.

use crate::backend::plan::{MAX_MOLECULES, MAX_SOURCES};
use crate::model::fields::{fields_of, idx, FieldKind, FIELDS, SOURCES_IN_TRANSPORT};
use crate::model::grid::{REDUCE_WG, WORKGROUP_SIZE};
use crate::model::params::{wgsl_struct, RtShape, MIN_PER_DAY};

/// What one binding holds, as its bind group layout entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Read,
    ReadWrite,
    Uniform,
    /// The per-step ring of per-patient `Params`, at a dynamic offset.
    Params,
}

/// One entry of a stage's binding list. Each is one binding, or a run of
/// them (one per registry item); the generated preamble declares them all
/// in WGSL, in this order from binding 0, and resources.rs builds the
/// layout from the same list, so the two cannot disagree.
#[derive(Clone, Copy, Debug)]
pub enum Bind {
    /// A storage buffer: its WGSL name and type, read or read-write.
    Storage(&'static str, &'static str, Slot),
    /// A uniform buffer: its WGSL name and type.
    Uniform(&'static str, &'static str),
    /// `params` (one set per patient) and `p`, the thread's patient's set,
    /// which `patient_voxel` loads.
    Params,
    /// One `array<f32>` per field of a kind (every field for `None`), named
    /// as the field.
    Fields(Option<FieldKind>, Slot),
    /// One field's buffer, named as the field.
    Field(usize, Slot),
    /// Per molecule slot of the exponential pass: `src{m}`, `dst{m}`, `off{m}`.
    MoleculeSlots,
    /// Per source slot of source_add: `field{k}`.
    SourceSlots,
}

const F32S: &str = "array<f32>";

const fn read(name: &'static str) -> Bind {
    Bind::Storage(name, F32S, Slot::Read)
}

const fn read_write(name: &'static str) -> Bind {
    Bind::Storage(name, F32S, Slot::ReadWrite)
}

const GRID: Bind = Bind::Uniform("grid", "Grid");

/// The reaction module's bindings: `main` (react) and `produce` share them.
const REACT: &[Bind] = &[
    Bind::Storage("sys", "array<Systemic>", Slot::Read),
    GRID,
    Bind::Params,
    Bind::Fields(None, Slot::ReadWrite),
    read_write("sources"),
];

/// The one list of compute stages: variant, name (shared with the WGSL
/// file in shaders/ and the CPU twin in src/cpu/), its workgroup size (the
/// dispatch assumes it; tests/shaders.rs checks the shader declares it),
/// whether the stage uses the explicit stencil of shaders/stencil.wgsl, and
/// its bindings in order (the only place they are written down).
macro_rules! stages {
    ($($variant:ident => $name:literal, workgroup: $wg:expr, stencil: $stencil:literal,
       bindings: $bindings:expr;)*) => {
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

            /// The stage's bindings, in binding order.
            pub fn bindings(self) -> &'static [Bind] {
                match self {
                    $(Stage::$variant => {
                        const BINDINGS: &[Bind] = $bindings;
                        BINDINGS
                    })*
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
    React => "react", workgroup: WORKGROUP_SIZE, stencil: false, bindings: REACT;
    Crowding => "crowding", workgroup: WORKGROUP_SIZE, stencil: false, bindings: &[
        read_write("free"), read_write("signal"), GRID, Bind::Params,
        Bind::Fields(Some(FieldKind::Cell), Slot::Read), Bind::Field(idx::IFNG, Slot::Read),
    ];
    Motility => "motility", workgroup: WORKGROUP_SIZE, stencil: false, bindings: &[
        read("c"), read_write("c_out"), read("free"), read("signal"), GRID,
        Bind::Uniform("tr", "Transport"), Bind::Params,
    ];
    DiffuseExplicit => "diffuse_explicit", workgroup: WORKGROUP_SIZE, stencil: true, bindings: &[
        read("u"), read_write("u_out"), GRID, Bind::Uniform("tr", "Transport"),
    ];
    DiffuseExponential => "diffuse_exponential", workgroup: WORKGROUP_SIZE, stencil: false, bindings: &[
        GRID, Bind::Storage("pass_", "ExponentialPass", Slot::Read), read("matrices"),
        Bind::MoleculeSlots,
    ];
    ReduceDc => "reduce_dc", workgroup: REDUCE_WG, stencil: false, bindings: &[
        read("dc"), read_write("partials"), GRID,
    ];
    Systemic => "systemic", workgroup: REDUCE_WG, stencil: false, bindings: &[
        read("partials"), Bind::Storage("sys", "array<Systemic>", Slot::ReadWrite), GRID,
        Bind::Params,
    ];
    CheckValues => "check_values", workgroup: WORKGROUP_SIZE, stencil: false, bindings: &[
        GRID, Bind::Storage("flags", "array<atomic<u32>>", Slot::ReadWrite),
        Bind::Fields(None, Slot::Read),
    ];
    Produce => "produce", workgroup: WORKGROUP_SIZE, stencil: false, bindings: REACT;
    SourcePass => "source_pass", workgroup: WORKGROUP_SIZE, stencil: false, bindings: &[
        GRID, Bind::Storage("pass_", "SourcePass", Slot::Read), read("matrices"), read("phi"),
        read("src"), read_write("dst"),
    ];
    SourceAdd => "source_add", workgroup: WORKGROUP_SIZE, stencil: false, bindings: &[
        GRID, read("sources"), Bind::SourceSlots,
    ];
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

    /// Every binding of the stage in order: its WGSL name, slot and type.
    pub fn slots(self) -> Vec<(String, Slot, &'static str)> {
        let mut all = Vec::new();
        for &bind in self.bindings() {
            match bind {
                Bind::Storage(name, ty, slot) => all.push((name.to_string(), slot, ty)),
                Bind::Uniform(name, ty) => all.push((name.to_string(), Slot::Uniform, ty)),
                Bind::Params => all.push(("params".into(), Slot::Params, "array<Params>")),
                Bind::Fields(kind, slot) => all.extend(
                    FIELDS
                        .iter()
                        .filter(|f| kind.is_none_or(|k| f.kind == k))
                        .map(|f| (f.name.to_string(), slot, F32S)),
                ),
                Bind::Field(f, slot) => all.push((FIELDS[f].name.to_string(), slot, F32S)),
                Bind::MoleculeSlots => {
                    for m in 0..MAX_MOLECULES {
                        all.push((format!("src{m}"), Slot::Read, F32S));
                        all.push((format!("dst{m}"), Slot::ReadWrite, F32S));
                        all.push((format!("off{m}"), Slot::Read, F32S));
                    }
                }
                Bind::SourceSlots => all
                    .extend((0..MAX_SOURCES).map(|k| (format!("field{k}"), Slot::ReadWrite, F32S))),
            }
        }
        all
    }
}

/// The WGSL declaration of every binding of `stage`; with `params`, the
/// thread's patient's set `p` and `patient_voxel`, which loads it.
fn declarations(stage: Stage) -> String {
    let mut s = String::new();
    for (i, (name, slot, ty)) in stage.slots().into_iter().enumerate() {
        let space = match slot {
            Slot::Read | Slot::Params => "storage, read",
            Slot::ReadWrite => "storage, read_write",
            Slot::Uniform => "uniform",
        };
        s.push_str(&format!(
            "@group(0) @binding({i}) var<{space}> {name}: {ty};\n"
        ));
        if slot == Slot::Params {
            s.push_str(
                "// The parameters of the thread's patient, for this step.\n\
                 var<private> p: Params;\n\
                 // The thread's voxel in the batch (batch_voxel), with `p` set to its\n\
                 // patient's parameters; NO_VOXEL past the grid.\n\
                 fn patient_voxel(gid: vec3<u32>) -> u32 {\n    \
                     let i = batch_voxel(gid);\n    \
                     if i != NO_VOXEL {\n        p = params[gid.z];\n    }\n    \
                     return i;\n}\n",
            );
        }
    }
    s
}

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const STENCIL: &str = include_str!("../../shaders/stencil.wgsl");

/// Accessors of the exponential pass's molecule slots: WGSL
/// cannot index a list of buffers, so slot m's line sum and store are
/// chosen by a switch that is uniform across each workgroup.
fn exponential_slots() -> String {
    let mut s = String::new();
    for m in 0..MAX_MOLECULES {
        s.push_str(&format!(
            "fn line_dot{m}(first: u32, start: u32, lo: u32, hi: u32) -> f32 {{\n    \
                 var acc = 0.0;\n    \
                 for (var k = lo; k < hi; k++) {{\n        \
                     acc += matrices[first + k - lo] * src{m}[start + k * pass_.stride];\n    \
                 }}\n    \
                 return acc;\n}}\n"
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

/// The derived members of the reaction kernel's `Voxel`, after one member
/// per field; `cpu::react::Voxel` has the same (tests/twins.rs).
pub const VOXEL_DERIVED: [&str; 3] = ["rho", "free", "antigen"];

/// The reaction kernel's `Voxel`, `read_fields(i)` (every field as
/// stored, derived members zero) and `midpoint_voxel`, from the field
/// registry (the CPU twin's come from the same table, cpu::react).
fn voxel() -> String {
    let members: Vec<String> = FIELDS
        .iter()
        .map(|f| f.name)
        .chain(VOXEL_DERIVED)
        .map(|m| format!("    {m}: f32,\n"))
        .collect();
    let reads: String = FIELDS
        .iter()
        .map(|f| format!("    v.{0} = {0}[i];\n", f.name))
        .collect();
    let picks: String = SOURCES_IN_TRANSPORT
        .iter()
        .map(|&f| {
            let name = FIELDS[f].name;
            format!(
                "    v.{name} = transported(F_{}, half.{name}, start.{name});\n",
                name.to_uppercase()
            )
        })
        .collect();
    format!(
        "struct Voxel {{\n{}}}\n\
         fn read_fields(i: u32) -> Voxel {{\n    var v: Voxel;\n{reads}    return v;\n}}\n\
         // The state the midpoint rates are read at: half a step on, except the\n\
         // molecules whose production the transport integrates, read as the\n\
         // transport left them (midpoint_voxel in src/cpu/react.rs says why).\n\
         fn transported(f: u32, half: f32, start: f32) -> f32 {{\n    \
             return select(half, start, (grid.source_mask & (1u << f)) != 0u);\n}}\n\
         fn midpoint_voxel(half: Voxel, start: Voxel) -> Voxel {{\n    var v = half;\n{picks}    return v;\n}}\n",
        members.concat()
    )
}

/// Full WGSL source of a stage.
pub fn source(stage: Stage) -> String {
    let mut s = wgsl_struct();
    s.push_str(&constants());
    s.push_str(&declarations(stage));
    match stage {
        Stage::React | Stage::Produce => {
            s.push_str(&cell_sum());
            s.push_str(&voxel());
        }
        Stage::Crowding => s.push_str(&cell_sum()),
        Stage::CheckValues => {
            let body: String = FIELDS
                .iter()
                .enumerate()
                .map(|(i, f)| format!("    flag({i}u, i, {}[i]);\n", f.name))
                .collect();
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
        Stage::SourceAdd => s.push_str(&source_add_cases()),
        _ => {}
    }
    s
}

/// `add(slot, i, s)` of source_add.wgsl, which adds to slot s's field
/// (held at >= 0; a NaN stays NaN for the value check).
fn source_add_cases() -> String {
    let cases: String = (0..MAX_SOURCES)
        .map(|k| {
            format!(
                "        case {k}u: {{ let v = field{k}[i] + s; field{k}[i] = select(v, 0.0, v < 0.0); }}\n"
            )
        })
        .collect();
    format!(
        "fn add(slot: u32, i: u32, s: f32) {{\n    switch slot {{\n{cases}        default: {{ }}\n    }}\n}}\n"
    )
}
