//! The images of one saved time: a frame per field, the montage and the
//! composite. Shared by the run writer and `tmesim render`.

use super::colormap::Scale;
use super::frames::{self, FieldView, FULL, PANEL};
use super::layout;
use crate::model::fields::{FieldKind, FIELDS};
use crate::model::grid::Grid;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::path::Path;

/// Montage panels per row; 3D panels hold two maps each, so fewer.
fn montage_columns(grid: &Grid) -> usize {
    if grid.nz > 1 {
        3
    } else {
        4
    }
}

/// What to draw besides the per-field frames.
#[derive(Clone, Debug)]
pub struct ImageSettings {
    /// Fields drawn as frames of their own.
    pub frame_fields: Vec<usize>,
    /// The fixed colour scale of every field, by field index.
    pub scales: Vec<Scale>,
    pub slice_z: usize,
    /// Field indices of the montage panels; empty for no montage.
    pub montage: Vec<usize>,
    /// Field indices shown red, green, blue; empty for no composite.
    pub composite: Vec<usize>,
}

impl ImageSettings {
    /// Montage of every molecule and cell among `fields`.
    pub fn montage_of(fields: &[usize]) -> Vec<usize> {
        fields
            .iter()
            .copied()
            .filter(|&f| matches!(FIELDS[f].kind, FieldKind::Molecule | FieldKind::Cell))
            .collect()
    }
}

/// Write the frames of save `index`. `data[f]` holds field f where known.
pub fn write_images(
    out: &Path,
    grid: &Grid,
    settings: &ImageSettings,
    data: &[Option<&[f32]>],
    index: usize,
    time_days: f64,
) -> Result<()> {
    let mut jobs: Vec<Job> = settings
        .frame_fields
        .iter()
        .map(|&f| Job::Field(f))
        .collect();
    if !settings.montage.is_empty() {
        jobs.push(Job::Montage);
    }
    if settings.composite.len() == 3 {
        jobs.push(Job::Composite);
    }
    let saved = SavedTime {
        grid,
        settings,
        data,
        time_days,
    };
    // Frames are independent, so they draw in parallel.
    jobs.par_iter().try_for_each(|job| -> Result<()> {
        let (img, name) = saved.draw(job)?;
        let path = out.join(layout::frame(name, index));
        frames::save_png(&img, &path).with_context(|| format!("cannot write {}", path.display()))
    })
}

/// One image of a saved time.
enum Job {
    Field(usize),
    Montage,
    Composite,
}

/// The fields of one saved time, as the images draw them.
struct SavedTime<'a> {
    grid: &'a Grid,
    settings: &'a ImageSettings,
    data: &'a [Option<&'a [f32]>],
    time_days: f64,
}

impl SavedTime<'_> {
    fn view(&self, f: usize) -> Result<FieldView<'_>> {
        Ok(FieldView {
            spec: &FIELDS[f],
            data: self.data[f].with_context(|| format!("no data for field {}", FIELDS[f].name))?,
            scale: self.settings.scales[f],
        })
    }

    /// The image of `job` and the name its file takes.
    fn draw(&self, job: &Job) -> Result<(image::RgbImage, &'static str)> {
        let (grid, z, t) = (self.grid, self.settings.slice_z, self.time_days);
        Ok(match job {
            Job::Field(f) => (
                frames::render_field(grid, z, &self.view(*f)?, Some(t), &FULL),
                FIELDS[*f].name,
            ),
            Job::Montage => {
                let panels = self
                    .settings
                    .montage
                    .iter()
                    .map(|&f| Ok(frames::render_field(grid, z, &self.view(f)?, None, &PANEL)))
                    .collect::<Result<Vec<_>>>()?;
                let title = "molecules and cells, each on its fixed scale";
                (
                    frames::render_montage(title, &panels, montage_columns(grid), t),
                    layout::MONTAGE,
                )
            }
            Job::Composite => {
                let c = &self.settings.composite;
                let views = [self.view(c[0])?, self.view(c[1])?, self.view(c[2])?];
                (
                    frames::render_composite(grid, z, &views, Some(t), &FULL),
                    layout::COMPOSITE,
                )
            }
        })
    }
}
