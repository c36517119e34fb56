//! `tmesim render`: redraw frames, montage, composite and time-lapses of a
//! finished run from its saved fields (fields.ome.zarr, else the .npy
//! files) and manifest.json, without rerunning the simulation.

use super::colormap::Scale;
use super::images::{write_images, ImageSettings};
use super::manifest::{FieldInfo, Manifest, FIELD_FRAMES_EVERY};
use super::{layout, writer, zarr};
use crate::config::npy;
use crate::model::fields::{field_index, FIELDS, FIELD_COUNT};
use crate::model::grid::Grid;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

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

/// Redraw the run in `dir`; returns the number of saved times drawn.
pub fn render_run(dir: &Path, opts: &RenderOptions) -> Result<usize> {
    let mut m = Manifest::read(dir)?;
    // Render rewrites the folder's images: never while a run writes it.
    let _lock = super::guard::lock_existing(dir)?;
    let grid = Grid {
        nx: m.grid.nx,
        ny: m.grid.ny,
        nz: m.grid.nz,
        dx_um: m.grid.dx_um,
    };
    if let Some(z) = &m.layout.zarr {
        let store = dir.join(z);
        if !std::fs::symlink_metadata(&store).is_ok_and(|s| s.is_dir()) {
            bail!(
                "{} is missing (the manifest lists it): render redraws the frames from it; \
                 restore it, or run the scenario again",
                store.display()
            );
        }
    }
    let arrays = Arrays::open(dir, &m)?;
    if !arrays.exist() && !opts.only.is_empty() {
        bail!(
            "--fields redraws frames from the saved fields, and {} has none (neither \
             fields.ome.zarr nor .npy fields); rerun with --set output.zarr=true",
            dir.display()
        );
    }
    if !arrays.exist() && m.layout.frame.is_none() {
        bail!(
            "{} has neither fields.ome.zarr, .npy fields nor frames; rerun with --set output.zarr=true",
            dir.display()
        );
    }
    if !arrays.exist() {
        eprintln!(
            "note: no fields.ome.zarr or .npy fields in {}: frames are not redrawn",
            dir.display()
        );
    }
    let settings = settings(&m, opts, &grid, &arrays)?;
    if arrays.exist()
        && settings.frame_fields.is_empty()
        && settings.montage.is_empty()
        && settings.composite.is_empty()
    {
        bail!(
            "nothing to draw in {}: none of the fields asked for is saved there",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join(layout::FRAMES_DIR))?;
    if arrays.exist() {
        redraw(dir, &m, &grid, &settings, &arrays)?;
    }
    record_redrawn(&mut m, dir, &settings, arrays.exist(), opts);
    writer::write_animations_thinned(dir, &m, opts.thin)?;
    writer::write_plots_and_report(dir, &m)?;
    Ok(m.saved.len())
}

/// Where a run's saved arrays are: the OME-Zarr store, else the .npy files.
/// Without either the frames on disk stay; time-lapses and the report are
/// still rebuilt from them.
struct Arrays {
    store: Option<PathBuf>,
    channels: Vec<String>,
    npy: bool,
}

impl Arrays {
    fn open(dir: &Path, m: &Manifest) -> Result<Self> {
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
        Ok(Self {
            store,
            channels,
            npy: m.layout.npy.is_some(),
        })
    }

    fn exist(&self) -> bool {
        self.store.is_some() || self.npy
    }

    /// Whether field `f` of the manifest can be drawn: from the arrays, or
    /// from frames that exist already.
    fn has(&self, f: &FieldInfo) -> bool {
        if self.store.is_some() {
            self.channels.contains(&f.name)
        } else if self.npy {
            f.npy.is_some()
        } else {
            f.png.is_some()
        }
    }

    fn read(&self, dir: &Path, grid: &Grid, field: usize, save: usize) -> Result<Vec<f32>> {
        let name = FIELDS[field].name;
        match &self.store {
            Some(root) => {
                let c = self
                    .channels
                    .iter()
                    .position(|n| n == name)
                    .expect("saved fields are channels of the store");
                zarr::read_field(root, grid, save, c)
            }
            None => {
                let path = dir.join(layout::npy(name, save));
                npy::read_field(&path, grid).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
        }
    }
}

/// What to draw: the asked-for fields among those saved, with the scales
/// the run used (registry defaults for the rest).
fn settings(
    m: &Manifest,
    opts: &RenderOptions,
    grid: &Grid,
    arrays: &Arrays,
) -> Result<ImageSettings> {
    let index_of = |name: &str| -> Result<usize> {
        field_index(name).with_context(|| format!("unknown field {name} in the manifest"))
    };
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
        saved[i] = arrays.has(f);
    }
    for name in &opts.only {
        let known = name == layout::MONTAGE || name == layout::COMPOSITE;
        if !known && !field_index(name).is_some_and(|i| saved[i]) {
            bail!("{name} is not a saved field of this run (nor montage or composite)");
        }
    }
    let wanted = |name: &str| opts.only.is_empty() || opts.only.iter().any(|n| n == name);
    let names =
        |list: &[String]| -> Result<Vec<usize>> { list.iter().map(|n| index_of(n)).collect() };
    Ok(ImageSettings {
        frame_fields: (0..FIELD_COUNT)
            .filter(|&i| saved[i] && wanted(FIELDS[i].name))
            .collect(),
        scales,
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
    })
}

/// Draw every saved time again from the arrays.
fn redraw(
    dir: &Path,
    m: &Manifest,
    grid: &Grid,
    settings: &ImageSettings,
    arrays: &Arrays,
) -> Result<()> {
    let needed: Vec<usize> = (0..FIELD_COUNT)
        .filter(|i| {
            settings.frame_fields.contains(i)
                || settings.montage.contains(i)
                || settings.composite.contains(i)
        })
        .collect();
    for s in &m.saved {
        let mut data: Vec<Option<Vec<f32>>> = vec![None; FIELD_COUNT];
        for &i in &needed {
            data[i] = Some(arrays.read(dir, grid, i, s.index)?);
        }
        let views: Vec<Option<&[f32]>> = data.iter().map(|d| d.as_deref()).collect();
        write_images(dir, grid, settings, &views, s.index, s.time_days)?;
    }
    Ok(())
}

/// The manifest in memory says what exists now (the file keeps the run's
/// record), so the time-lapses and the report are built from it.
fn record_redrawn(
    m: &mut Manifest,
    dir: &Path,
    settings: &ImageSettings,
    from_arrays: bool,
    opts: &RenderOptions,
) {
    let names = |list: &[usize]| list.iter().map(|&i| FIELDS[i].name.to_string()).collect();
    // A sequence not redrawn keeps its time-lapse when its frames of every
    // save are on disk: `--fields cd8 --fps 4` rewrites the montage's too.
    let saves = m.saved.len();
    let on_disk = |name: &str| {
        super::animate::frame_paths(dir, name, saves)
            .iter()
            .all(|p| p.is_file())
    };
    m.layout.frame = Some(layout::pattern(layout::frame("{name}", 0)));
    if !settings.montage.is_empty() || !on_disk(layout::MONTAGE) {
        m.output.montage = names(&settings.montage);
    }
    if !settings.composite.is_empty() || !on_disk(layout::COMPOSITE) {
        m.output.composite = names(&settings.composite);
    }
    for f in &mut m.fields {
        let redrawn = field_index(&f.name).is_some_and(|i| settings.frame_fields.contains(&i));
        let kept = f.png.is_some() && on_disk(&f.name);
        f.png = (redrawn || kept).then(|| layout::pattern(layout::frame(&f.name, 0)));
    }
    if from_arrays {
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
}
