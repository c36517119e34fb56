//! `tmesim render`: redraw frames, montage, composite and time-lapses of a
//! finished run from its saved fields (fields.ome.zarr, else the .npy
//! files) and manifest.json, without rerunning the simulation.

use super::colormap::Scale;
use super::images::{write_images, ImageSettings};
use super::manifest::{Manifest, FIELD_FRAMES_EVERY};
use super::{layout, writer, zarr};
use crate::config::npy;
use crate::model::fields::{field_index, FIELDS, FIELD_COUNT};
use crate::model::grid::Grid;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// What to redraw.
pub struct RenderOptions {
    /// Field names (and "montage", "composite") to draw; empty for all.
    pub only: Vec<String>,
    pub gif: bool,
    pub apng: bool,
    /// Overrides the run's frame rate.
    pub fps: Option<f32>,
    /// Time-lapses of every n-th save, frames resized (1 and 1.0: as drawn).
    pub thin: super::animate::Thin,
}

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(layout::MANIFEST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a tmesim manifest", path.display()))
}

/// Redraw the run in `dir`; returns the number of saved times drawn.
pub fn render_run(dir: &Path, opts: &RenderOptions) -> Result<usize> {
    let mut m = read_manifest(dir)?;
    let grid = Grid {
        nx: m.grid.nx,
        ny: m.grid.ny,
        nz: m.grid.nz,
        dx_um: m.grid.dx_um,
    };
    // The arrays come from the OME-Zarr store, else the .npy files.
    // Without either the frames on disk stay; time-lapses and the report
    // are still rebuilt from them.
    let store = m
        .layout
        .zarr
        .as_ref()
        .map(|z| dir.join(z))
        .filter(|p| p.is_dir());
    let channels = match &store {
        Some(root) => zarr::channel_names(root)?,
        None => Vec::new(),
    };
    let have_arrays = store.is_some() || m.layout.npy.is_some();
    if !have_arrays && m.layout.frame.is_none() {
        bail!(
            "{} has neither fields.ome.zarr, .npy fields nor frames; rerun with --set output.zarr=true",
            dir.display()
        );
    }
    if !have_arrays {
        eprintln!(
            "note: no fields.ome.zarr or .npy fields in {}: frames are not redrawn",
            dir.display()
        );
    }
    let index_of = |name: &str| -> Result<usize> {
        field_index(name).with_context(|| format!("unknown field {name} in the manifest"))
    };
    // Scales as the run used them; registry defaults for the rest.
    let mut scales: Vec<Scale> = FIELDS
        .iter()
        .map(|f| Scale::from_display_max(f.display_max))
        .collect();
    let mut saved = [false; FIELD_COUNT];
    for f in &m.fields {
        let i = index_of(&f.name)?;
        scales[i] = Scale {
            min: f.display_min,
            max: f.display_max,
        };
        // Fields drawn from arrays, or whose frames exist already.
        saved[i] = if store.is_some() {
            channels.contains(&f.name)
        } else if have_arrays {
            f.npy.is_some()
        } else {
            f.png.is_some()
        };
    }
    for name in &opts.only {
        let known = name == layout::MONTAGE || name == layout::COMPOSITE;
        if !known && !field_index(name).is_some_and(|i| saved[i]) {
            bail!("{name} is not a saved field of this run (nor montage or composite)");
        }
    }
    let wanted = |name: &str| opts.only.is_empty() || opts.only.iter().any(|n| n == name);
    let frame_fields: Vec<usize> = (0..FIELD_COUNT)
        .filter(|&i| saved[i] && wanted(FIELDS[i].name))
        .collect();
    let names =
        |list: &[String]| -> Result<Vec<usize>> { list.iter().map(|n| index_of(n)).collect() };
    let settings = ImageSettings {
        frame_fields: frame_fields.clone(),
        scales: scales.clone(),
        slice_z: m.output.slice_z.min(grid.nz - 1),
        montage: if wanted(layout::MONTAGE) {
            names(&m.output.montage)?
                .into_iter()
                .filter(|&i| saved[i])
                .collect()
        } else {
            Vec::new()
        },
        // The composite needs the arrays of all three of its fields.
        composite: match names(&m.output.composite)? {
            c if wanted(layout::COMPOSITE) && c.len() == 3 && c.iter().all(|&i| saved[i]) => c,
            _ => Vec::new(),
        },
    };
    std::fs::create_dir_all(dir.join(layout::FRAMES_DIR))?;
    let needed: Vec<usize> = (0..FIELD_COUNT)
        .filter(|i| {
            frame_fields.contains(i)
                || settings.montage.contains(i)
                || settings.composite.contains(i)
        })
        .collect();
    for s in m.saved.iter().filter(|_| have_arrays) {
        let mut data: Vec<Option<Vec<f32>>> = vec![None; FIELD_COUNT];
        for &i in &needed {
            let values = match &store {
                Some(root) => {
                    let c = channels
                        .iter()
                        .position(|n| n == FIELDS[i].name)
                        .expect("saved fields are channels of the store");
                    zarr::read_field(root, &grid, s.index, c)?
                }
                None => {
                    let path = dir.join(layout::npy(FIELDS[i].name, s.index));
                    npy::read_field(&path, &grid)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
            };
            data[i] = Some(values);
        }
        let views: Vec<Option<&[f32]>> = data.iter().map(|d| d.as_deref()).collect();
        write_images(dir, &grid, &settings, &views, s.index, s.time_days)?;
    }
    // The manifest in memory says what exists now; the file keeps the run's record.
    m.layout.frame = Some(layout::pattern(layout::frame("{name}", 0)));
    m.output.montage = settings
        .montage
        .iter()
        .map(|&i| FIELDS[i].name.to_string())
        .collect();
    m.output.composite = settings
        .composite
        .iter()
        .map(|&i| FIELDS[i].name.to_string())
        .collect();
    for f in &mut m.fields {
        if field_index(&f.name).is_some_and(|i| frame_fields.contains(&i)) {
            f.png = Some(layout::pattern(layout::frame(&f.name, 0)));
        } else {
            f.png = None;
        }
    }
    if have_arrays {
        m.output.field_frames = FIELD_FRAMES_EVERY.into();
    }
    // The formats asked for, plus every format already in animations/:
    // those time-lapses would otherwise keep old frames or the old rate.
    let existing = |ext: &str| {
        std::fs::read_dir(dir.join(layout::ANIMATIONS_DIR)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == ext))
        })
    };
    m.output.gif = opts.gif || existing("gif");
    m.output.apng = opts.apng || existing("apng");
    if let Some(fps) = opts.fps {
        m.output.fps = fps;
    }
    writer::write_animations_thinned(dir, &m, opts.thin)?;
    writer::write_plots_and_report(dir, &m)?;
    Ok(m.saved.len())
}
