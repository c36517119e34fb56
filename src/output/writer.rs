//! Everything a run writes, in one place: the run loop calls `on_save` at
//! each saved time and `finish` at the end (layout: docs/outputs.md).

use super::colormap::{ColorMap, Scale};
use super::images::{write_images, ImageSettings};
use super::manifest::{
    FieldInfo, GridInfo, LayoutInfo, Manifest, OutputInfo, SavedTime, Segment, FIELD_FRAMES_EVERY,
    FIELD_FRAMES_FINAL,
};
use super::timeseries::{summarize, Summary, TimeseriesWriter};
use super::{animate, atomic, layout, npy, report, tsplot, vtk, zarr};
use crate::config::resolve::{OutputSpec, RunSpec};
use crate::model::fields::{FIELDS, FIELD_COUNT};
use crate::model::params::ParamId;
use crate::model::state::State;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What ran the simulation, for the manifest.
pub struct RunInfo {
    pub backend: String,
    pub adapter: String,
    pub transport: String,
    /// The run's fingerprint (sim::checkpoint::fingerprint), for the manifest.
    pub config_hash: String,
}

pub struct RunWriter<'a> {
    spec: &'a RunSpec,
    out: PathBuf,
    ts: TimeseriesWriter,
    manifest: Manifest,
    images: ImageSettings,
    start: Instant,
    last_manifest: Instant,
    pub summaries: Vec<Summary>,
    zarr: Option<zarr::ZarrWriter>,
    /// The fields of the latest save, for the final per-field frames.
    last_fields: Option<(Vec<Vec<f32>>, f64)>,
}

/// The fixed colour scale of every field.
pub fn scales(spec: &RunSpec) -> Vec<Scale> {
    spec.fields
        .iter()
        .map(|f| Scale::from_display_max(f.display_max))
        .collect()
}

/// The image settings a spec asks for.
pub fn image_settings(spec: &RunSpec) -> ImageSettings {
    let o = &spec.output;
    ImageSettings {
        frame_fields: o.fields.clone(),
        scales: scales(spec),
        slice_z: o.slice_z,
        montage: if o.montage {
            ImageSettings::montage_of(&o.fields)
        } else {
            Vec::new()
        },
        composite: o.composite.clone(),
    }
}

/// The saves a resumed run made before its checkpoint: their times, their
/// summaries, the values of the extra columns at each, and the wall time
/// spent.
#[derive(Clone, Copy, Default)]
pub struct Earlier<'b> {
    pub saved: &'b [SavedTime],
    pub summaries: &'b [Summary],
    pub extra_values: &'b [Vec<f64>],
    pub wall_time_s: f64,
    /// The step of the checkpoint the run continues from (0: a new run).
    pub step: u64,
}

impl<'a> RunWriter<'a> {
    /// Create the folders, the time series (with `extra_columns`, e.g. the
    /// drugs') and config.toml in `out`, a folder already prepared by
    /// `guard::prepare`. The start time is the wall-clock origin.
    pub fn new(
        spec: &'a RunSpec,
        out: &Path,
        info: RunInfo,
        extra_columns: &[String],
    ) -> Result<Self> {
        Self::continuing(spec, out, info, extra_columns, &Earlier::default())
    }

    /// A writer that continues a run whose first saves (`earlier`) are
    /// already in `out`: the time series is rewritten with exactly those
    /// rows, and the files of any later save (made after the checkpoint the
    /// run resumes from) are removed.
    pub fn continuing(
        spec: &'a RunSpec,
        out: &Path,
        info: RunInfo,
        extra_columns: &[String],
        earlier: &Earlier,
    ) -> Result<Self> {
        let Earlier {
            saved,
            summaries,
            extra_values,
            wall_time_s: wall_time_before_s,
            step: resumed_at,
        } = *earlier;
        let o = &spec.output;
        for (on, dir) in [
            (o.png, layout::FRAMES_DIR),
            (o.npy, layout::FIELDS_DIR),
            (o.vtk, layout::VTK_DIR),
            (o.png && (o.gif || o.apng), layout::ANIMATIONS_DIR),
        ] {
            if on {
                let path = out.join(dir);
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
            }
        }
        remove_saves_from(out, saved.len())?;
        let csv = out.join(layout::TIMESERIES_CSV);
        let mut ts = TimeseriesWriter::create(&csv, extra_columns)
            .with_context(|| format!("cannot write {}", csv.display()))?;
        for (summary, extra) in summaries.iter().zip(extra_values) {
            ts.write(summary, extra)
                .with_context(|| format!("cannot write {}", csv.display()))?;
        }
        let config = out.join(layout::CONFIG);
        atomic::write(&config, toml::to_string_pretty(&spec.config)?)
            .with_context(|| format!("cannot write {}", config.display()))?;
        let images = image_settings(spec);
        let mut manifest = manifest(spec, info, &images);
        manifest.saved = saved.to_vec();
        manifest.steps_done = saved.last().map_or(0, |s| s.step);
        if resumed_at > 0 {
            manifest.segments = resumed_segments(out, &manifest, resumed_at);
        }
        let zarr = if o.zarr {
            let channels = o
                .fields
                .iter()
                .map(|&f| zarr::Channel {
                    field: f,
                    display_min: images.scales[f].min,
                    display_max: images.scales[f].max,
                })
                .collect();
            let interval_days = spec.save_every_steps as f64 * spec.dt_min as f64 / 1440.0;
            let times: Vec<f64> = saved.iter().map(|s| s.time_days).collect();
            Some(zarr::ZarrWriter::continuing(
                &out.join(layout::ZARR),
                spec.grid,
                channels,
                interval_days,
                times,
                spec.output.zarr_keep_bits,
            )?)
        } else {
            None
        };
        Ok(Self {
            spec,
            out: out.to_path_buf(),
            ts,
            manifest,
            images,
            start: Instant::now() - Duration::from_secs_f64(wall_time_before_s),
            last_manifest: Instant::now(),
            summaries: summaries.to_vec(),
            zarr,
            last_fields: None,
        })
    }

    /// The saves written so far.
    pub fn saved(&self) -> &[SavedTime] {
        &self.manifest.saved
    }

    /// Record a checkpoint in the manifest.
    pub fn on_checkpoint(&mut self, path: &Path) -> Result<()> {
        let rel = path.strip_prefix(&self.out).unwrap_or(path);
        self.manifest.checkpoint = Some(rel.to_string_lossy().into_owned());
        self.write_manifest()
    }

    /// Rewrite the manifest if it is older than `every`, so its heartbeat
    /// shows the run is alive.
    pub fn heartbeat(&mut self, every: Duration) -> Result<()> {
        if self.last_manifest.elapsed() >= every {
            self.write_manifest()?;
        }
        Ok(())
    }

    /// Mark the run failed with `error` in the manifest (best effort: the
    /// error may be that the disk is full).
    pub fn fail(mut self, error: &anyhow::Error) {
        self.manifest.status = "failed".into();
        self.manifest.error = Some(atomic::describe(error));
        let _ = self.write_manifest();
    }

    /// Write everything of one saved state; `extra_values` fill the extra
    /// columns of the time series.
    pub fn on_save(&mut self, state: &State, time_days: f64, extra_values: &[f64]) -> Result<()> {
        let spec = self.spec;
        let o = &spec.output;
        let out = &self.out;
        let index = self.manifest.saved.len();
        if o.png {
            // Montage and composite at every save; single fields at the last
            // (`finish`), or at any save with `tmesim render`.
            let per_save = ImageSettings {
                frame_fields: Vec::new(),
                ..self.images.clone()
            };
            let data: Vec<Option<&[f32]>> = state.fields.iter().map(|f| Some(&f[..])).collect();
            write_images(out, &spec.grid, &per_save, &data, index, time_days)?;
            self.last_fields = Some((state.fields.clone(), time_days));
        }
        if let Some(z) = &mut self.zarr {
            z.append(time_days, &state.fields)?;
        }
        if o.npy {
            o.fields.par_iter().try_for_each(|&f| {
                let path = out.join(layout::npy(FIELDS[f].name, index));
                npy::write_field(&path, &spec.grid, &state.fields[f])
                    .with_context(|| format!("cannot write {}", path.display()))
            })?;
        }
        if o.vtk {
            let arrays: Vec<(String, &[f32])> = o
                .fields
                .iter()
                .map(|&f| {
                    (
                        vtk::array_name(FIELDS[f].name, FIELDS[f].unit),
                        &state.fields[f][..],
                    )
                })
                .collect();
            let path = out.join(layout::vti(index));
            vtk::write_vti(&path, &spec.grid, time_days, &arrays)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let summary = summarize(state, time_days);
        self.ts.write(&summary, extra_values)?;
        self.summaries.push(summary);
        self.manifest.saved.push(SavedTime {
            index,
            step: state.step,
            time_days,
        });
        self.manifest.steps_done = state.step;
        if o.vtk {
            write_pvd(out, &self.manifest)?;
        }
        self.write_manifest()
    }

    /// Time-lapses, the final manifest, timeseries.png and report.html.
    /// Returns the manifest as written and the summaries of every save.
    /// A completed run's checkpoints are removed (nothing is left to resume).
    pub fn finish(mut self, completed: bool) -> Result<(Manifest, Vec<Summary>)> {
        self.manifest.status = if completed { "complete" } else { "interrupted" }.into();
        let written = self.write_final_frames().and_then(|()| {
            write_animations(&self.out, &self.manifest)?;
            // One run time for the report, the manifest and the headline.
            self.manifest.wall_time_s = self.wall_time_s();
            if self.spec.output.report {
                write_plots_and_report(&self.out, &self.manifest)?;
            }
            Ok(())
        });
        if let Err(e) = written {
            self.fail(&e);
            return Err(e);
        }
        if completed {
            // Only the checkpoint files: anything else there is not ours.
            super::guard::remove_owned_files(&self.out, layout::CHECKPOINTS_DIR, |n| {
                super::guard::is_checkpoint_name(n)
                    || super::guard::temporary_of(n).is_some_and(super::guard::is_checkpoint_name)
            })?;
            self.manifest.checkpoint = None;
        }
        self.write_manifest_as_is()?;
        Ok((self.manifest, self.summaries))
    }

    /// Per-field frames of the last save (the montage and composite have a
    /// frame at every save).
    fn write_final_frames(&self) -> Result<()> {
        if let (Some((fields, time_days)), Some(last)) =
            (&self.last_fields, self.manifest.saved.last())
        {
            // A phenotype map that is zero everywhere gets no frame (the
            // report lists it as such).
            let frame_fields = self
                .images
                .frame_fields
                .iter()
                .copied()
                .filter(|&f| {
                    FIELDS[f].kind != crate::model::fields::FieldKind::Map
                        || fields[f].iter().any(|&v| v != 0.0)
                })
                .collect();
            let finals = ImageSettings {
                frame_fields,
                montage: Vec::new(),
                composite: Vec::new(),
                ..self.images.clone()
            };
            let data: Vec<Option<&[f32]>> = fields.iter().map(|f| Some(&f[..])).collect();
            write_images(
                &self.out,
                &self.spec.grid,
                &finals,
                &data,
                last.index,
                *time_days,
            )?;
        }
        Ok(())
    }

    pub fn wall_time_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn write_manifest(&mut self) -> Result<()> {
        self.manifest.wall_time_s = self.wall_time_s();
        self.write_manifest_as_is()
    }

    /// Write the manifest with the run time it holds.
    fn write_manifest_as_is(&mut self) -> Result<()> {
        let done = self.manifest.steps_done;
        if let Some(last) = self.manifest.segments.last_mut() {
            last.to_step = last.to_step.max(done);
        }
        self.manifest.heartbeat = Some(chrono::Local::now().to_rfc3339());
        self.last_manifest = Instant::now();
        write_manifest(&self.out, &self.manifest)
    }
}

/// The sequences a manifest describes: fields with frames, montage, composite.
pub fn sequence_names(m: &Manifest) -> Vec<String> {
    let every_save = m.output.field_frames == FIELD_FRAMES_EVERY;
    let mut names: Vec<String> = m
        .fields
        .iter()
        .filter(|f| every_save && f.png.is_some())
        .map(|f| f.name.clone())
        .collect();
    if !m.output.montage.is_empty() {
        names.push(layout::MONTAGE.into());
    }
    if m.output.composite.len() == 3 {
        names.push(layout::COMPOSITE.into());
    }
    names
}

/// GIF and APNG time-lapses of every sequence the manifest names, from
/// the frames on disk.
pub fn write_animations(out: &Path, m: &Manifest) -> Result<()> {
    write_animations_thinned(out, m, animate::Thin::default())
}

/// [`write_animations`] with frames dropped or resized (`tmesim render`).
pub fn write_animations_thinned(out: &Path, m: &Manifest, thin: animate::Thin) -> Result<()> {
    if m.layout.frame.is_none() || m.saved.is_empty() {
        return Ok(());
    }
    let formats: Vec<animate::Format> = [
        (m.output.gif, animate::Format::Gif),
        (m.output.apng, animate::Format::Apng),
    ]
    .into_iter()
    .filter_map(|(on, f)| on.then_some(f))
    .collect();
    if formats.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(out.join(layout::ANIMATIONS_DIR))?;
    let jobs: Vec<(String, animate::Format)> = sequence_names(m)
        .into_iter()
        .flat_map(|n| formats.iter().map(move |&f| (n.clone(), f)))
        .collect();
    jobs.par_iter().try_for_each(|(name, format)| {
        let frames = animate::frame_paths(out, name, m.saved.len());
        let dest = out.join(layout::animation(name, format.extension()));
        animate::write_thinned(&dest, &frames, m.output.fps, *format, thin)
    })
}

/// timeseries.png and report.html.
pub fn write_plots_and_report(out: &Path, m: &Manifest) -> Result<()> {
    tsplot::write(
        &out.join(layout::TIMESERIES_CSV),
        &out.join(layout::TIMESERIES_PNG),
        m.grid.nz > 1,
    )?;
    report::write_run_report(out, m)
}

pub fn write_pvd(out: &Path, m: &Manifest) -> Result<()> {
    let entries: Vec<(f64, String)> = m
        .saved
        .iter()
        .map(|s| (s.time_days, layout::vti(s.index)))
        .collect();
    let path = out.join(layout::PVD);
    vtk::write_pvd(&path, &entries).with_context(|| format!("cannot write {}", path.display()))
}

pub fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let path = out.join(layout::MANIFEST);
    atomic::write(&path, serde_json::to_string_pretty(manifest)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Remove the per-save files (frames, arrays, VTK) with a save index of
/// `first` or more: those of saves a resumed run makes again; and every
/// per-field frame, which a run draws only for its last save.
fn remove_saves_from(out: &Path, first: usize) -> Result<()> {
    let sequence = |name: &str| {
        [layout::MONTAGE, layout::COMPOSITE]
            .iter()
            .any(|s| name.starts_with(&format!("{s}_")))
    };
    for dir in [layout::FRAMES_DIR, layout::FIELDS_DIR, layout::VTK_DIR] {
        let Ok(entries) = std::fs::read_dir(out.join(dir)) else {
            continue;
        };
        let ext = match dir {
            layout::FRAMES_DIR => "png",
            layout::FIELDS_DIR => "npy",
            _ => "vti",
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only tmesim's per-save files (`{name}_{dddd}.{ext}`): a file
            // of the user's in frames/ stays.
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !is_file || !super::guard::is_per_save_name(&name, ext) {
                continue;
            }
            let field_frame = dir == layout::FRAMES_DIR && !sequence(&name);
            if field_frame || layout::save_index(&name).is_some_and(|i| i >= first) {
                let path = entry.path();
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// The segments of a resumed run: those of the run's earlier manifest up
/// to the checkpoint at `step` (the last of them reaching it), then this
/// one's from there. A manifest of a tmesim without segments counts as one
/// segment on its backend.
fn resumed_segments(out: &Path, now: &Manifest, step: u64) -> Vec<Segment> {
    let this = now.segments.last().cloned().map(|mut s| {
        s.from_step = step;
        s.to_step = step;
        s
    });
    let earlier: Vec<Segment> = match super::manifest::Manifest::read(out) {
        Ok(old) if !old.segments.is_empty() => old.segments,
        Ok(old) => vec![Segment {
            backend: old.backend,
            adapter: old.adapter,
            from_step: 0,
            to_step: step,
        }],
        Err(_) => Vec::new(),
    };
    let mut all: Vec<Segment> = earlier.into_iter().filter(|s| s.from_step < step).collect();
    if let Some(last) = all.last_mut() {
        last.to_step = step;
    }
    all.extend(this);
    all
}

fn manifest(spec: &RunSpec, info: RunInfo, images: &ImageSettings) -> Manifest {
    let scales = &images.scales;
    let o = &spec.output;
    let g = &spec.grid;
    let names = |fields: &[usize]| fields.iter().map(|&f| FIELDS[f].name.to_string()).collect();
    debug_assert_eq!(scales.len(), FIELD_COUNT);
    Manifest {
        tmesim_version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
        pid: Some(std::process::id()),
        heartbeat: None,
        error: None,
        checkpoint: None,
        config_file: spec.source.display().to_string(),
        config_hash: info.config_hash.clone(),
        config_file_absolute: spec
            .source
            .canonicalize()
            .ok()
            .map(|p| p.display().to_string()),
        segments: vec![Segment {
            backend: info.backend.clone(),
            adapter: info.adapter.clone(),
            from_step: 0,
            to_step: 0,
        }],
        backend: info.backend,
        adapter: info.adapter,
        grid: GridInfo {
            nx: g.nx,
            ny: g.ny,
            nz: g.nz,
            dx_um: g.dx_um,
            npy_shape: [g.nz, g.ny, g.nx],
            origin_um: [0.0; 3],
            spacing_um: [g.dx_um; 3],
        },
        dt_min: spec.dt_min,
        steps_done: 0,
        steps_total: spec.steps,
        transport: info.transport,
        wall_time_s: 0.0,
        saved: Vec::new(),
        fields: o
            .fields
            .iter()
            .map(|&f| field_info(o, f, &scales[f]))
            .collect(),
        output: OutputInfo {
            slice_z: o.slice_z,
            montage: names(&images.montage),
            composite: names(&images.composite),
            fps: o.fps,
            gif: o.png && o.gif,
            apng: o.png && o.apng,
            vtk: o.vtk,
            report: o.report,
            field_frames: FIELD_FRAMES_FINAL.into(),
        },
        layout: layout_info(o),
        params: ParamId::all()
            .map(|id| (id.name().to_string(), serde_json::json!(spec.params[id])))
            .collect(),
        config: spec.config.clone(),
    }
}

/// The manifest's record of one written field.
fn field_info(o: &OutputSpec, f: usize, scale: &Scale) -> FieldInfo {
    let s = &FIELDS[f];
    let pattern = |on: bool, path: String| on.then(|| layout::pattern(path));
    FieldInfo {
        name: s.name.into(),
        kind: s.kind.as_str().into(),
        unit: s.unit.into(),
        description: s.description.into(),
        display_min: scale.min,
        display_max: scale.max,
        colormap: format!("{:?}", ColorMap::for_field(s, scale)).to_lowercase(),
        vtk_array: vtk::array_name(s.name, s.unit),
        png: pattern(o.png, layout::frame(s.name, 0)),
        npy: pattern(o.npy, layout::npy(s.name, 0)),
    }
}

/// Where each kind of output is, as patterns over names and save indices.
fn layout_info(o: &OutputSpec) -> LayoutInfo {
    let pattern = |on: bool, path: String| on.then(|| layout::pattern(path));
    LayoutInfo {
        index_digits: layout::INDEX_DIGITS,
        config: layout::CONFIG.into(),
        timeseries_csv: layout::TIMESERIES_CSV.into(),
        timeseries_png: o.report.then(|| layout::TIMESERIES_PNG.into()),
        report: o.report.then(|| layout::REPORT.into()),
        frame: pattern(o.png, layout::frame("{name}", 0)),
        npy: pattern(o.npy, layout::npy("{name}", 0)),
        vti: pattern(o.vtk, layout::vti(0)),
        pvd: o.vtk.then(|| layout::PVD.into()),
        zarr: o.zarr.then(|| layout::ZARR.into()),
        animation_gif: (o.png && o.gif).then(|| layout::animation("{name}", "gif")),
        animation_apng: (o.png && o.apng).then(|| layout::animation("{name}", "apng")),
    }
}
