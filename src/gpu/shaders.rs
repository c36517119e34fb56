//! WGSL sources of every stage: the generated parts (the `Params` struct
//! and the per-field bindings, both from the registries) followed by
//! shaders/common.wgsl and the stage's own file.

use crate::model::fields::{fields_of, FieldKind, FIELDS};
use crate::model::params::wgsl_struct;

/// Every compute stage, by the name shared with its WGSL file and CPU twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    React,
    Crowding,
    Motility,
    DiffuseResidual,
    DiffuseSweep,
    DiffuseExplicit,
    DiffuseSmooth,
    DiffuseApply,
    ReduceDc,
    Systemic,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::React,
        Stage::Crowding,
        Stage::Motility,
        Stage::DiffuseResidual,
        Stage::DiffuseSweep,
        Stage::DiffuseExplicit,
        Stage::DiffuseSmooth,
        Stage::DiffuseApply,
        Stage::ReduceDc,
        Stage::Systemic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::React => "react",
            Stage::Crowding => "crowding",
            Stage::Motility => "motility",
            Stage::DiffuseResidual => "diffuse_residual",
            Stage::DiffuseSweep => "diffuse_sweep",
            Stage::DiffuseExplicit => "diffuse_explicit",
            Stage::DiffuseSmooth => "diffuse_smooth",
            Stage::DiffuseApply => "diffuse_apply",
            Stage::ReduceDc => "reduce_dc",
            Stage::Systemic => "systemic",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Stage::React => include_str!("../../shaders/react.wgsl"),
            Stage::Crowding => include_str!("../../shaders/crowding.wgsl"),
            Stage::Motility => include_str!("../../shaders/motility.wgsl"),
            Stage::DiffuseResidual => include_str!("../../shaders/diffuse_residual.wgsl"),
            Stage::DiffuseSweep => include_str!("../../shaders/diffuse_sweep.wgsl"),
            Stage::DiffuseExplicit => include_str!("../../shaders/diffuse_explicit.wgsl"),
            Stage::DiffuseSmooth => include_str!("../../shaders/diffuse_smooth.wgsl"),
            Stage::DiffuseApply => include_str!("../../shaders/diffuse_apply.wgsl"),
            Stage::ReduceDc => include_str!("../../shaders/reduce_dc.wgsl"),
            Stage::Systemic => include_str!("../../shaders/systemic.wgsl"),
        }
    }
}

/// First binding of the generated per-field storage buffers in react.wgsl.
pub const REACT_FIELD_BINDING: u32 = 3;
/// First binding of the generated cell-field buffers (then ifng) in crowding.wgsl.
pub const CROWDING_CELL_BINDING: u32 = 4;

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const STENCIL: &str = include_str!("../../shaders/stencil.wgsl");

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
        _ => {}
    }
    s.push_str(COMMON);
    if matches!(
        stage,
        Stage::DiffuseResidual | Stage::DiffuseExplicit | Stage::DiffuseSmooth
    ) {
        s.push_str(STENCIL);
    }
    s.push_str(stage.file());
    s
}
