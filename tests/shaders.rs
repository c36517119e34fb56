//! Every WGSL stage parses and validates with naga, without a device, and
//! the shared structs have the layout of their Rust twins.

use std::mem::{offset_of, size_of};
// wgpu's own naga, so the tests build no second copy of it.
use tmesim::gpu::backend::ExponentialPassUniform;
use tmesim::gpu::shaders::{source, Stage};
use tmesim::model::grid::{GridUniform, TransportUniform};
use tmesim::model::params::{ModelParams, PARAM_SPECS};
use tmesim::model::state::Systemic;
use wgpu::naga;

fn module(stage: Stage) -> naga::Module {
    let src = source(stage);
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}.wgsl: {}", stage.name(), e.emit_to_string(&src)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{}.wgsl does not validate: {e:?}", stage.name()));
    module
}

/// (member name, offset) of a WGSL struct, and its size.
fn layout(module: &naga::Module, name: &str) -> (Vec<(String, u32)>, u32) {
    let ty = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no struct {name}"))
        .1;
    match &ty.inner {
        naga::TypeInner::Struct { members, span } => (
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect(),
            *span,
        ),
        other => panic!("{name} is not a struct: {other:?}"),
    }
}

#[test]
fn every_stage_parses_and_validates() {
    for &stage in Stage::ALL {
        module(stage);
    }
}

#[test]
fn shared_structs_match_rust_layouts() {
    let m = module(Stage::Motility);
    let (grid, size) = layout(&m, "Grid");
    assert_eq!(size as usize, size_of::<GridUniform>());
    let expect = [
        ("nx", offset_of!(GridUniform, nx)),
        ("ny", offset_of!(GridUniform, ny)),
        ("nz", offset_of!(GridUniform, nz)),
        ("n", offset_of!(GridUniform, n)),
        ("dx_um", offset_of!(GridUniform, dx_um)),
        ("dt_min", offset_of!(GridUniform, dt_min)),
        ("inv_dx2", offset_of!(GridUniform, inv_dx2)),
        ("row_threads", offset_of!(GridUniform, row_threads)),
        ("active_mask", offset_of!(GridUniform, active_mask)),
        ("source_mask", offset_of!(GridUniform, source_mask)),
    ];
    for (name, off) in expect {
        assert!(
            grid.contains(&(name.to_string(), off as u32)),
            "Grid.{name} not at offset {off}: {grid:?}"
        );
    }

    let (tr, size) = layout(&m, "Transport");
    assert_eq!(size as usize, size_of::<TransportUniform>());
    let expect = [
        ("diffusion", offset_of!(TransportUniform, diffusion)),
        ("decay", offset_of!(TransportUniform, decay)),
        ("chemotaxis", offset_of!(TransportUniform, chemotaxis)),
        ("dt", offset_of!(TransportUniform, dt)),
        ("bc_value", offset_of!(TransportUniform, bc_value)),
        (
            "ghost_crowding",
            offset_of!(TransportUniform, ghost_crowding),
        ),
        ("dirichlet", offset_of!(TransportUniform, dirichlet)),
    ];
    for (name, off) in expect {
        assert!(
            tr.contains(&(name.to_string(), off as u32)),
            "Transport.{name} not at offset {off}: {tr:?}"
        );
    }

    let e = module(Stage::DiffuseExponential);
    let (pass, size) = layout(&e, "ExponentialPass");
    assert_eq!(size as usize, size_of::<ExponentialPassUniform>());
    let expect = [
        ("len", offset_of!(ExponentialPassUniform, len)),
        ("stride", offset_of!(ExponentialPassUniform, stride)),
        ("last", offset_of!(ExponentialPassUniform, last)),
        (
            "offset_mask",
            offset_of!(ExponentialPassUniform, offset_mask),
        ),
        ("molecules", offset_of!(ExponentialPassUniform, molecules)),
        ("band", offset_of!(ExponentialPassUniform, band)),
        ("base", offset_of!(ExponentialPassUniform, base)),
    ];
    for (name, off) in expect {
        assert!(
            pass.contains(&(name.to_string(), off as u32)),
            "ExponentialPass.{name} not at offset {off}: {pass:?}"
        );
    }

    let (sys, size) = layout(&m, "Systemic");
    assert_eq!(size as usize, size_of::<Systemic>());
    assert!(sys.contains(&("priming".into(), offset_of!(Systemic, priming) as u32)));

    // Params is generated from the registry; check it all the same.
    let (params, size) = layout(&m, "Params");
    assert_eq!(size as usize, size_of::<ModelParams>());
    for (k, spec) in PARAM_SPECS.iter().enumerate() {
        assert_eq!(
            params[k],
            (spec.name.to_string(), 4 * k as u32),
            "Params member {k}"
        );
    }
}

/// The dispatch counts assume each stage's workgroup size (`Stage::
/// workgroup_size`, from the constants the preamble also declares): every
/// entry point must declare exactly that.
#[test]
fn every_stage_declares_the_workgroup_size_its_dispatch_assumes() {
    for &stage in Stage::ALL {
        let m = module(stage);
        assert!(
            !m.entry_points.is_empty(),
            "{} has no entry point",
            stage.name()
        );
        for ep in &m.entry_points {
            assert_eq!(
                ep.workgroup_size,
                [stage.workgroup_size(), 1, 1],
                "{}.wgsl: {}",
                stage.name(),
                ep.name
            );
        }
    }
}

/// The reaction kernel's `Voxel` is generated from the field registry on
/// both sides: the same members in the same order (every field by its
/// name, then the derived ones), and each member reads its own field.
#[test]
fn the_reaction_voxel_is_the_field_registry_on_both_backends() {
    use tmesim::cpu::react::read_voxel;
    use tmesim::gpu::shaders::VOXEL_DERIVED;
    use tmesim::model::fields::{FIELDS, FIELD_COUNT};
    let expected: Vec<String> = FIELDS
        .iter()
        .map(|f| f.name)
        .chain(VOXEL_DERIVED)
        .map(String::from)
        .collect();
    let (wgsl, _) = layout(&module(Stage::React), "Voxel");
    let wgsl: Vec<String> = wgsl.into_iter().map(|(name, _)| name).collect();
    assert_eq!(wgsl, expected, "react.wgsl's Voxel");
    // The CPU struct as Debug prints it: "Voxel { ifng: 1.0, il10: 2.0, .. }".
    let mut v = [0.0f32; FIELD_COUNT];
    for (f, x) in v.iter_mut().enumerate() {
        *x = (f + 1) as f32;
    }
    let p = ModelParams {
        pi3k_inhibition: 0.0,
        ..ModelParams::default()
    };
    let printed = format!("{:?}", read_voxel(&v, &p));
    let body = printed
        .trim_start_matches("Voxel {")
        .trim_end_matches('}')
        .trim();
    let members: Vec<(String, f32)> = body
        .split(", ")
        .map(|m| {
            let (name, value) = m.split_once(": ").unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect();
    let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, expected, "cpu::react::Voxel");
    for (f, (name, value)) in members.iter().take(FIELD_COUNT).enumerate() {
        assert_eq!(*value, (f + 1) as f32, "member {name} reads field {f}");
    }
}

/// A stage's bindings are written down once, in the stage table of
/// src/gpu/shaders.rs: the WGSL files declare none by hand.
#[test]
fn no_shader_file_declares_a_binding() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("@binding("),
            "{} declares a binding; list it in the stage table (src/gpu/shaders.rs)",
            path.display()
        );
    }
}
