//! The box radiation field and a Dirichlet boundary on a cell field, on
//! every backend: the box kills inside it only, and cells enter through a
//! Dirichlet edge.

mod common;
use common::*;
use tmesim::model::fields::idx;
use tmesim::model::params::RtShape;

/// A 30 x 30 section of 20 um voxels with a uniform tumour and nothing else,
/// so radiation is the only thing that changes it.
const TUMOUR_SHEET: &str = r#"
[grid]
nx = 30
ny = 30
dx_um = 20.0
[time]
dt_min = 15.0
end_days = 1.0
save_every_min = 1440.0
[output]
png = false
[fields.tumor]
initial = { kind = "uniform", value = 0.3 }
"#;

#[test]
fn a_box_radiation_field_kills_inside_the_box_only() {
    let spec = spec_with(
        TUMOUR_SHEET,
        &[
            "arm=[\"rt_box\"]",
            "therapy.rt_box.radiation.dose_gy=8.0",
            "therapy.rt_box.radiation.fraction_days=[0.1]",
            "therapy.rt_box.radiation.death_window_days=0.25",
            "therapy.rt_box.radiation.field={ shape = \"box\", center_um = [300.0, 300.0], half_width_um = [100.0, 60.0] }",
            "therapy.rt_box.radiation.alpha_per_gy={ tumor = 0.3 }",
        ],
    );
    let p = spec.treatment.params_at(&spec.spec.params, 0);
    assert_eq!(
        p.rt_shape,
        RtShape::Box.code(),
        "the course sets the box shape"
    );
    let grid = spec.spec.grid;
    // Voxel centres well inside the box, and well outside it.
    let offset = |i: usize| {
        let c = grid.center_um(i);
        ((c[0] - 300.0).abs(), (c[1] - 300.0).abs())
    };
    let inside = |i: usize| {
        let (x, y) = offset(i);
        x < 90.0 && y < 50.0
    };
    let outside = |i: usize| {
        let (x, y) = offset(i);
        x > 110.0 || y > 70.0
    };
    for mut b in backends(&spec) {
        let end = run_to_end(b.as_mut(), &spec);
        let tumour = &end.fields[idx::TUMOR];
        let mean = |pick: &dyn Fn(usize) -> bool| {
            let v: Vec<f64> = (0..grid.len())
                .filter(|&i| pick(i))
                .map(|i| tumour[i] as f64)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (kept_in, kept_out) = (mean(&inside) / 0.3, mean(&outside) / 0.3);
        eprintln!(
            "{}: tumour kept inside {kept_in:.4}, outside {kept_out:.4}",
            b.kind()
        );
        // Linear-quadratic survival of 8 Gy at alpha 0.3: exp(-2.4) = 0.09.
        assert!(kept_in < 0.2, "{}: the box kills ({kept_in})", b.kind());
        assert!(
            kept_out > 0.9,
            "{}: outside is spared ({kept_out})",
            b.kind()
        );
    }
}

#[test]
fn cells_enter_through_a_dirichlet_boundary() {
    // No reactions: motility alone, from an empty section with CD8 T cells
    // held at 0.05 outside every edge.
    let spec = spec_with(
        TUMOUR_SHEET,
        &[
            "model.reactions=false",
            "fields.tumor.initial={ kind = \"uniform\", value = 0.0 }",
            "fields.cd8.boundary={ dirichlet = 0.05 }",
        ],
    );
    let grid = spec.spec.grid;
    let (edge, centre) = (grid.nx / 2, grid.nx / 2 + grid.nx * (grid.ny / 2));
    for mut b in backends(&spec) {
        let end = run_to_end(b.as_mut(), &spec);
        let cd8 = &end.fields[idx::CD8];
        eprintln!(
            "{}: cd8 at the edge {}, in the centre {}",
            b.kind(),
            cd8[edge],
            cd8[centre]
        );
        assert!(cd8[edge] > 1e-3, "{}: cells entered at the edge", b.kind());
        assert!(
            cd8[edge] <= 0.05 * (1.0 + 1e-5),
            "{}: at most the edge value",
            b.kind()
        );
        assert!(cd8[centre] < cd8[edge], "{}: they spread inward", b.kind());
        assert!(cd8.iter().all(|&v| v >= 0.0), "{}: non-negative", b.kind());
    }
}
