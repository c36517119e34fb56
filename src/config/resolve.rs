//! Validation: a parsed [`Config`] becomes a [`RunSpec`] with every value
//! checked against its allowed range, or a [`ConfigError`] naming the key.

use super::error::{At, ConfigError, Errors};
use super::schema::{
    Animation, Config, FieldConfig, GridConfig, Initial, OutputConfig, TimeConfig,
};
use crate::model::fields::{field_index, FieldKind, FieldSpec, FIELDS, FIELD_COUNT};
use crate::model::grid::Grid;
use crate::model::params::{ModelParams, ParamId, PARAM_SPECS};
use crate::model::solver::{Boundary, DiffusionSolver, Splitting};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest grid accepted (voxels): keeps every index within u32 and the
/// state of 19 fields plus scratch within about 24 GB.
pub const MAX_VOXELS: usize = 1 << 28;
/// Most macro steps in a run: the drug tables hold a value per step, and a
/// run of more steps would take years of compute.
pub const MAX_STEPS: u64 = 10_000_000;

/// One resolved piece of an initial condition (npy data already loaded).
#[derive(Clone, Debug)]
pub enum InitialPiece {
    Spec(Initial),
    Array(Vec<f32>),
}

#[derive(Clone, Debug)]
pub struct FieldSetup {
    pub diffusion: f32,
    pub decay: f32,
    pub chemotaxis: f32,
    pub boundary: Boundary,
    /// Summed pieces; empty means the registry default value.
    pub initial: Vec<InitialPiece>,
    pub display_max: f32,
}

#[derive(Clone, Debug)]
pub struct OutputSpec {
    pub png: bool,
    pub npy: bool,
    pub fields: Vec<usize>,
    pub montage: bool,
    /// Field indices shown red, green, blue; empty for no composite.
    pub composite: Vec<usize>,
    pub gif: bool,
    pub apng: bool,
    pub fps: f32,
    /// The z plane 3D frames show.
    pub slice_z: usize,
    pub vtk: bool,
    pub zarr: bool,
    /// Mantissa bits the store keeps (`output::zarr::bit_round`); None: all.
    pub zarr_keep_bits: Option<u32>,
    pub report: bool,
    /// Wall-clock time between checkpoints; zero: at every save.
    pub checkpoint_every: std::time::Duration,
}

/// Everything a run needs from its scenario, validated. The treatment
/// arm is resolved on top of it (`sim::scenario::ArmSpec`).
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The config as resolved (with overrides), for the manifest.
    pub config: Config,
    pub source: PathBuf,
    pub grid: Grid,
    pub dt_min: f32,
    pub steps: u64,
    pub save_every_steps: u64,
    pub reactions: bool,
    pub solver: DiffusionSolver,
    pub splitting: Splitting,
    pub params: ModelParams,
    pub fields: Vec<FieldSetup>,
    pub output: OutputSpec,
}

impl RunSpec {
    /// Whether the run's schedule saves the state at `step`.
    pub fn is_save_step(&self, step: u64) -> bool {
        step.is_multiple_of(self.save_every_steps) || step == self.steps
    }
}

/// Validate `config`, the scenario `original` read from `file` with its
/// phenotype merged in (relative paths resolve against the file's folder).
/// The treatment arm is resolved after this, by the therapy layer.
pub fn resolve(original: Config, config: &Config, file: &Path) -> Result<RunSpec, ConfigError> {
    let cx = At::file(file);
    // Every section is checked, and all their errors reported together;
    // the checks that need the grid or the fields run when those resolved.
    let mut errors = Errors::default();
    let grid = errors.keep(resolve_grid(&cx, &config.grid));
    if let Some(grid) = &grid {
        errors.keep(check_dense_axes(&cx, grid, config.solver.diffusion));
    }
    let time = errors.keep(resolve_time(&cx, &config.time));
    let params = errors.keep(resolve_params(&cx, &config.params));
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let fields = grid
        .as_ref()
        .and_then(|grid| errors.keep(resolve_fields(&cx, &config.fields, base_dir, grid)));
    if let (Some(fields), Some(params)) = (&fields, &params) {
        errors.keep(check_ghost_crowding(&cx, fields, params));
    }
    let output = grid
        .as_ref()
        .and_then(|grid| errors.keep(resolve_output(&cx, &config.output, grid)));
    errors.finish()?;
    let (Some(grid), Some(time), Some(params), Some(fields), Some(output)) =
        (grid, time, params, fields, output)
    else {
        unreachable!("a section that did not resolve left an error");
    };
    Ok(RunSpec {
        source: file.to_path_buf(),
        grid,
        dt_min: time.dt_min as f32,
        steps: time.steps,
        save_every_steps: time.save_every_steps,
        reactions: config.model.reactions,
        solver: config.solver.diffusion,
        splitting: config.solver.splitting,
        params,
        fields,
        output,
        config: original,
    })
}

fn resolve_grid(cx: &At, g: &GridConfig) -> Result<Grid, ConfigError> {
    let dims = [("grid.nx", g.nx), ("grid.ny", g.ny), ("grid.nz", g.nz)];
    for (key, n) in dims {
        cx.range(key, n as f64, 1.0, 65536.0)?;
    }
    // Under 1 um a voxel is far below a cell, where the densities of the
    // model mean nothing (and 0.02 is a length in mm).
    let dx = cx.range("grid.dx_um", g.dx_um, 1.0, 1e4)?;
    let grid = Grid {
        nx: g.nx as usize,
        ny: g.ny as usize,
        nz: g.nz as usize,
        dx_um: dx as f32,
    };
    if grid.len() > MAX_VOXELS {
        return Err(cx.invalid(
            "grid",
            format!(
                "grid too large: {} x {} x {} = {} voxels exceeds the limit of {MAX_VOXELS}",
                grid.nx,
                grid.ny,
                grid.nz,
                grid.len()
            ),
        ));
    }
    Ok(grid)
}

/// Longest grid axis of the exponential solver. Its propagators are built
/// as bands from the start (model::exponential::PropagatorBand), but the
/// source transform keeps dense n x n eigenbasis matrices per axis (two in
/// f32, for the GPU's passes) and a Dirichlet offset is computed through
/// an n x n basis in f64: about 24 n^2 bytes (n = 65536 would need 100 GB).
/// Checked before anything is allocated.
pub const MAX_EXPONENTIAL_AXIS: usize = 4096;

fn check_dense_axes(cx: &At, grid: &Grid, solver: DiffusionSolver) -> Result<(), ConfigError> {
    if solver != DiffusionSolver::Exponential {
        return Ok(());
    }
    for (key, n) in [
        ("grid.nx", grid.nx),
        ("grid.ny", grid.ny),
        ("grid.nz", grid.nz),
    ] {
        if n > MAX_EXPONENTIAL_AXIS {
            let gb = 24.0 * (n as f64).powi(2) / 1e9;
            return Err(cx.invalid(
                key,
                format!(
                    "{n} voxels is too long an axis for solver.diffusion = \"exponential\", whose \
                     source transform keeps dense {n} x {n} basis matrices (about {gb:.0} GB); \
                     allowed range [1, {MAX_EXPONENTIAL_AXIS}] with this solver, or set \
                     solver.diffusion = \"explicit\" (up to 65536)"
                ),
            ));
        }
    }
    Ok(())
}

/// The step and the schedule of a run.
struct TimeSteps {
    dt_min: f64,
    steps: u64,
    save_every_steps: u64,
}

fn resolve_time(cx: &At, t: &TimeConfig) -> Result<TimeSteps, ConfigError> {
    let dt = cx.range("time.dt_min", t.dt_min, 1e-6, 1e4)?;
    let end_min = cx.range("time.end_days", t.end_days, 0.0, 1e5)? * 1440.0;
    let save = cx.range("time.save_every_min", t.save_every_min, 1e-6, 1e8)?;
    let steps = (end_min / dt - 1e-9).ceil().max(0.0);
    if steps > MAX_STEPS as f64 {
        return Err(cx.invalid(
            "time.dt_min",
            format!(
                "time.end_days / time.dt_min makes {steps:.3e} steps, more than the limit of {MAX_STEPS}; use a larger dt_min or a shorter run"
            ),
        ));
    }
    let save_ratio = save / dt;
    if (save_ratio - save_ratio.round()).abs() > 1e-6 * save_ratio.max(1.0)
        || save_ratio.round() < 1.0
    {
        return Err(cx.invalid(
            "time.save_every_min",
            format!("{save} is not a whole multiple of time.dt_min = {dt}"),
        ));
    }
    Ok(TimeSteps {
        dt_min: dt,
        steps: steps as u64,
        save_every_steps: save_ratio.round() as u64,
    })
}

fn resolve_params(cx: &At, given: &BTreeMap<String, f64>) -> Result<ModelParams, ConfigError> {
    let mut params = ModelParams::default();
    let mut errors = Errors::default();
    for (name, &value) in given {
        let Some(id) = ParamId::of(name) else {
            errors.keep::<()>(Err(cx.unknown_key(
                "params",
                name,
                PARAM_SPECS.iter().map(|s| s.name),
            )));
            continue;
        };
        let spec = id.spec();
        // Compared in f32, the precision of the registry and the kernels,
        // so a range end written in the config is accepted as given.
        let v = value as f32;
        if !(v.is_finite() && v >= spec.min && v <= spec.max) {
            errors.keep::<()>(Err(ConfigError::OutOfRange {
                file: cx.file.into(),
                key: format!("params.{name}"),
                value,
                min: spec.range_f64().0,
                max: spec.range_f64().1,
            }));
        }
        params[id] = v;
    }
    errors.finish()?;
    Ok(params)
}

fn resolve_fields(
    cx: &At,
    given: &BTreeMap<String, FieldConfig>,
    base_dir: &Path,
    grid: &Grid,
) -> Result<Vec<FieldSetup>, ConfigError> {
    let names = || FIELDS.iter().map(|f| f.name);
    for name in given.keys() {
        if field_index(name).is_none() {
            return Err(cx.unknown_key("fields", name, names()));
        }
    }
    FIELDS
        .iter()
        .map(|spec| {
            let fc = given.get(spec.name).cloned().unwrap_or_default();
            resolve_field(cx, spec, &fc, base_dir, grid)
        })
        .collect()
}

/// One field's settings: each must apply to this kind of field when given
/// and lie in its range; otherwise the registry default.
fn resolve_field(
    cx: &At,
    spec: &FieldSpec,
    fc: &FieldConfig,
    base_dir: &Path,
    grid: &Grid,
) -> Result<FieldSetup, ConfigError> {
    let key = |k: &str| format!("fields.{}.{k}", spec.name);
    let transported = matches!(spec.kind, FieldKind::Molecule | FieldKind::Cell);
    let only = |k: &str, ok: bool, what: &str| -> Result<(), ConfigError> {
        if ok {
            return Ok(());
        }
        Err(cx.invalid(
            key(k),
            format!(
                "applies to {what} only; `{}` is a {}",
                spec.name,
                spec.kind.as_str()
            ),
        ))
    };
    let setting = |name: &str, given: Option<f64>, default: f32, applies: bool, what: &str| {
        if given.is_some() {
            only(name, applies, what)?;
        }
        Ok(given.unwrap_or(default as f64))
    };
    let is_molecule = spec.kind == FieldKind::Molecule;
    let is_cell = spec.kind == FieldKind::Cell;
    let diffusion = setting(
        "diffusion_um2_per_min",
        fc.diffusion_um2_per_min,
        spec.diffusion_um2_per_min,
        transported,
        "molecule and cell fields",
    )
    .and_then(|v| cx.range(&key("diffusion_um2_per_min"), v, 0.0, 1e7))?;
    let decay = setting(
        "decay_per_min",
        fc.decay_per_min,
        spec.decay_per_min,
        is_molecule,
        "molecule fields (cell death rates are params)",
    )
    .and_then(|v| cx.range(&key("decay_per_min"), v, 0.0, 1e4))?;
    let chemotaxis = setting(
        "chemotaxis_um2_per_min",
        fc.chemotaxis_um2_per_min,
        spec.chemotaxis_um2_per_min,
        is_cell,
        "cell fields",
    )
    .and_then(|v| cx.range(&key("chemotaxis_um2_per_min"), v, 0.0, 1e7))?;
    let display_max = setting("display_max", fc.display_max, spec.display_max, true, "")
        .and_then(|v| cx.range(&key("display_max"), v, 1e-30, 1e30))?;
    let boundary = match &fc.boundary {
        None => Boundary::NoFlux,
        Some(v) => {
            only("boundary", transported, "molecule and cell fields")?;
            parse_boundary(cx, &key("boundary"), v)?
        }
    };
    let initial = match &fc.initial {
        None => Vec::new(),
        Some(v) => parse_initial(cx, &key("initial"), v, base_dir, grid)?,
    };
    Ok(FieldSetup {
        diffusion: diffusion as f32,
        decay: decay as f32,
        chemotaxis: chemotaxis as f32,
        boundary,
        initial,
        display_max: display_max as f32,
    })
}

/// The cell values held outside Dirichlet boundaries crowd the edge voxels
/// too: together they must fit under the crowding limit.
fn check_ghost_crowding(
    cx: &At,
    fields: &[FieldSetup],
    params: &ModelParams,
) -> Result<(), ConfigError> {
    let ghost: f32 = FIELDS
        .iter()
        .zip(fields)
        .filter(|(s, _)| s.kind == FieldKind::Cell)
        .map(|(_, f)| f.boundary.ghost_value())
        .sum();
    if ghost > params.crowding_limit {
        return Err(cx.invalid(
            "fields.<cell>.boundary",
            format!("Dirichlet values of the cell fields sum to {ghost}, above params.crowding_limit = {}", params.crowding_limit),
        ));
    }
    Ok(())
}

/// Field names of `key` as indices.
fn field_list(cx: &At, key: &str, names: &[String]) -> Result<Vec<usize>, ConfigError> {
    names
        .iter()
        .map(|name| {
            field_index(name)
                .ok_or_else(|| cx.unknown_value(key, name, FIELDS.iter().map(|f| f.name)))
        })
        .collect()
}

fn resolve_output(cx: &At, o: &OutputConfig, grid: &Grid) -> Result<OutputSpec, ConfigError> {
    let mut fields = field_list(cx, "output.fields", &o.fields)?;
    if fields.is_empty() {
        fields = (0..FIELD_COUNT).collect();
    }
    let composite = field_list(cx, "output.composite", &o.composite)?;
    if !composite.is_empty() && composite.len() != 3 {
        return Err(cx.invalid(
            "output.composite",
            format!(
                "expected three fields (red, green, blue) or none, found {}",
                composite.len()
            ),
        ));
    }
    let fps = cx.range("output.fps", o.fps, 0.1, 100.0)?;
    let checkpoint_min = cx.range(
        "output.checkpoint_every_min",
        o.checkpoint_every_min,
        0.0,
        1e6,
    )?;
    let slice_z = match o.slice_z {
        None => grid.nz / 2,
        Some(z) => cx.range("output.slice_z", z as f64, 0.0, grid.nz as f64 - 1.0)? as usize,
    };
    let zarr_keep_bits = match o.zarr_keep_bits {
        Some(k) => Some(cx.range("output.zarr_keep_bits", k as f64, 1.0, 23.0)? as u32),
        None => None,
    };
    Ok(OutputSpec {
        png: o.png,
        npy: o.npy,
        fields,
        montage: o.montage,
        composite,
        gif: o.animations.contains(&Animation::Gif),
        apng: o.animations.contains(&Animation::Apng),
        fps: fps as f32,
        slice_z,
        vtk: o.vtk,
        zarr: o.zarr,
        zarr_keep_bits,
        report: o.report,
        checkpoint_every: std::time::Duration::from_secs_f64(checkpoint_min * 60.0),
    })
}

fn parse_boundary(cx: &At, key: &str, v: &toml::Value) -> Result<Boundary, ConfigError> {
    let bad = || {
        cx.invalid(
            key,
            format!("expected \"no_flux\" or {{ dirichlet = <value> }}, found {v}"),
        )
    };
    match v {
        toml::Value::String(s) if s == "no_flux" => Ok(Boundary::NoFlux),
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("dirichlet") => {
            let value = match &t["dirichlet"] {
                toml::Value::Float(f) => *f,
                toml::Value::Integer(i) => *i as f64,
                _ => return Err(bad()),
            };
            Ok(Boundary::Dirichlet(
                cx.range(&format!("{key}.dirichlet"), value, 0.0, 1e12)? as f32,
            ))
        }
        _ => Err(bad()),
    }
}

fn parse_initial(
    cx: &At,
    key: &str,
    v: &toml::Value,
    base_dir: &Path,
    grid: &Grid,
) -> Result<Vec<InitialPiece>, ConfigError> {
    let items: Vec<&toml::Value> = match v {
        toml::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut pieces = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let k = if items.len() > 1 {
            format!("{key}[{i}]")
        } else {
            key.to_string()
        };
        let piece: Initial = (*item)
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| cx.invalid(&k, e.message().to_string()))?;
        pieces.push(check_initial(cx, &k, piece, base_dir, grid)?);
    }
    Ok(pieces)
}

fn check_initial(
    cx: &At,
    key: &str,
    piece: Initial,
    base_dir: &Path,
    grid: &Grid,
) -> Result<InitialPiece, ConfigError> {
    let center = |c: &Vec<f64>| -> Result<(), ConfigError> {
        if c.len() < 2 || c.len() > 3 || c.iter().any(|v| !v.is_finite()) {
            Err(cx.invalid(
                format!("{key}.center_um"),
                "expected [x, y] or [x, y, z] in um",
            ))
        } else {
            Ok(())
        }
    };
    match &piece {
        Initial::Uniform { value } => {
            cx.range(&format!("{key}.value"), *value, 0.0, 1e12)?;
        }
        Initial::Gaussian {
            center_um,
            sigma_um,
            peak,
        } => {
            center(center_um)?;
            cx.range(&format!("{key}.sigma_um"), *sigma_um, 1e-6, 1e9)?;
            cx.range(&format!("{key}.peak"), *peak, 0.0, 1e12)?;
        }
        Initial::Disk {
            center_um,
            radius_um,
            value,
        } => {
            center(center_um)?;
            cx.range(&format!("{key}.radius_um"), *radius_um, 0.0, 1e9)?;
            cx.range(&format!("{key}.value"), *value, 0.0, 1e12)?;
        }
        Initial::Spots {
            count,
            radius_um,
            value,
            center_um,
            min_distance_um,
            max_distance_um,
            ..
        } => {
            cx.range(&format!("{key}.count"), *count as f64, 0.0, 1e7)?;
            cx.range(&format!("{key}.radius_um"), *radius_um, 0.0, 1e9)?;
            cx.range(&format!("{key}.value"), *value, 0.0, 1e12)?;
            if let Some(c) = center_um {
                center(c)?;
            }
            let lo = min_distance_um.unwrap_or(0.0);
            let hi = max_distance_um.unwrap_or(f64::INFINITY);
            if lo < 0.0 || lo >= hi {
                return Err(cx.invalid(key, "needs 0 <= min_distance_um < max_distance_um"));
            }
        }
        Initial::Npy { path } => {
            let full = base_dir.join(path);
            let data = super::npy::read_field(&full, grid).map_err(|e| {
                cx.invalid(format!("{key}.path"), format!("{}: {e}", full.display()))
            })?;
            return Ok(InitialPiece::Array(data));
        }
    }
    Ok(InitialPiece::Spec(piece))
}
