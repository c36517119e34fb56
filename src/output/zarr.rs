//! fields.ome.zarr: every saved field at every saved time in one chunked,
//! zlib-compressed store that napari, xarray, zarr-python and Fiji read.
//!
//! Layout (Zarr v2, OME-NGFF 0.4; docs/outputs.md):
//! - `.zgroup`, `.zattrs`: `multiscales` (axes t, c, z, y, x with units and
//!   a `scale` transform: save interval in days, 1, dx, dx, dx in µm),
//!   `omero` (one channel per field, labelled with its name, window = the
//!   frames' colour scale) and `tmesim` (units, kinds, exact save times).
//! - `0/.zarray`: float32, shape (t, c, z, y, x), byte-shuffled then
//!   zlib-compressed (lossless). A chunk holds one save: as many fields as
//!   fit in 4 MB, or, for large grids, one field split along z. Chunk keys
//!   are `/`-separated, as NGFF 0.4 requires.
//! - `0/.zattrs`: `_ARRAY_DIMENSIONS` so `xarray.open_zarr` names the axes.
//!
//! The time axis grows by one at each save and the metadata is rewritten
//! (write then rename), so an interrupted run leaves a valid store.
//!
//! Written directly (serde_json and flate2, both already dependencies)
//! rather than with the zarrs crate: zarrs 0.23 needs Rust 1.91 (tmesim
//! builds on 1.89) and centres on Zarr v3, while OME-NGFF 0.4 is Zarr v2,
//! the version every reader of docs/outputs.md opens ("Why Zarr v2").
//! tests/outputs.rs has zarr-python read the store back.

use crate::model::fields::FIELDS;
use crate::model::grid::Grid;
use anyhow::{bail, Context, Result};
use flate2::write::ZlibEncoder;
use rayon::prelude::*;
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The one multiscale level's array inside the store.
pub const ARRAY: &str = "0";
/// Axis names, slowest first.
pub const AXES: [&str; 5] = ["t", "c", "z", "y", "x"];
/// zlib level: fast, and fields with large zero regions shrink 5-20x.
const ZLIB_LEVEL: u32 = 5;
/// Most bytes of one chunk before the z axis is split.
const MAX_CHUNK_BYTES: usize = 4 << 20;

/// One field as the store describes it.
#[derive(Clone, Debug)]
pub struct Channel {
    /// Index in the field registry.
    pub field: usize,
    /// The frames' colour scale, used as the viewer's contrast window.
    pub display_min: f32,
    pub display_max: f32,
}

/// Appends one time point per save.
pub struct ZarrWriter {
    root: PathBuf,
    grid: Grid,
    channels: Vec<Channel>,
    chunks: Chunks,
    save_interval_days: f64,
    times_days: Vec<f64>,
    /// Mantissa bits kept (`bit_round`); None: lossless.
    keep_bits: Option<u32>,
}

/// Channels and z planes per chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Chunks {
    c: usize,
    z: usize,
}

impl Chunks {
    fn for_grid(grid: &Grid, channels: usize) -> Self {
        let plane = grid.nx * grid.ny * 4;
        let field = plane * grid.nz;
        if field >= MAX_CHUNK_BYTES {
            Chunks {
                c: 1,
                z: (MAX_CHUNK_BYTES / plane.max(1)).clamp(1, grid.nz),
            }
        } else {
            Chunks {
                c: (MAX_CHUNK_BYTES / field.max(1)).clamp(1, channels.max(1)),
                z: grid.nz,
            }
        }
    }

    /// As the store's .zarray records them.
    fn read(root: &Path) -> Result<Self> {
        let path = root.join(ARRAY).join(".zarray");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let z: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let at = |k: usize| {
            z["chunks"][k]
                .as_u64()
                .with_context(|| format!("{}: no chunks[{k}]", path.display()))
        };
        Ok(Chunks {
            c: at(1)? as usize,
            z: at(2)? as usize,
        })
    }
}

/// numcodecs' Shuffle filter: byte j of element i goes to j * n + i.
fn shuffle(bytes: &[u8]) -> Vec<u8> {
    let n = bytes.len() / 4;
    let mut out = vec![0u8; bytes.len()];
    for (i, e) in bytes.chunks_exact(4).enumerate() {
        for (j, &b) in e.iter().enumerate() {
            out[j * n + i] = b;
        }
    }
    out
}

fn unshuffle(bytes: &[u8]) -> Vec<u8> {
    let n = bytes.len() / 4;
    let mut out = vec![0u8; bytes.len()];
    for (i, e) in out.chunks_exact_mut(4).enumerate() {
        for (j, b) in e.iter_mut().enumerate() {
            *b = bytes[j * n + i];
        }
    }
    out
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    super::atomic::write(path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn refuse_symlink(root: &Path) -> Result<()> {
    if std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a symlink; tmesim never writes through one",
            root.display()
        );
    }
    Ok(())
}

/// Remove the store's own files: the chunks of time points `from_t` and
/// later (chunk files named `0`, and their temporaries, in folders named
/// by digits) and, from 0, its metadata; then the folders this empties.
/// Anything else in the store (never a symlink's target) stays.
fn remove_own(root: &Path, from_t: usize) -> Result<()> {
    fn chunk_tree(dir: &Path) -> Result<()> {
        for e in std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok())
        {
            let (Ok(t), Some(name)) = (e.file_type(), e.file_name().to_str().map(String::from))
            else {
                continue;
            };
            let chunk = name == "0" || super::guard::temporary_of(&name) == Some("0");
            if t.is_dir() && name.bytes().all(|b| b.is_ascii_digit()) {
                chunk_tree(&e.path())?;
            } else if t.is_file() && chunk {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
            }
        }
        let _ = std::fs::remove_dir(dir);
        Ok(())
    }
    let array = root.join(ARRAY);
    if let Ok(entries) = std::fs::read_dir(&array) {
        for e in entries.filter_map(|e| e.ok()) {
            let t = e.file_name().to_str().and_then(|n| n.parse::<usize>().ok());
            if e.file_type().is_ok_and(|t| t.is_dir()) && t.is_some_and(|t| t >= from_t) {
                chunk_tree(&e.path())?;
            }
        }
    }
    if from_t == 0 {
        for f in [
            root.join(".zgroup"),
            root.join(".zattrs"),
            array.join(".zarray"),
            array.join(".zattrs"),
        ] {
            if std::fs::symlink_metadata(&f).is_ok_and(|m| m.is_file()) {
                std::fs::remove_file(&f)
                    .with_context(|| format!("cannot remove {}", f.display()))?;
            }
        }
    }
    Ok(())
}

impl ZarrWriter {
    /// Create an empty store (no time points yet) at `root`.
    pub fn create(
        root: &Path,
        grid: Grid,
        channels: Vec<Channel>,
        save_interval_days: f64,
        keep_bits: Option<u32>,
    ) -> Result<Self> {
        refuse_symlink(root)?;
        if root.exists() {
            remove_own(root, 0)?;
        }
        std::fs::create_dir_all(root.join(ARRAY))
            .with_context(|| format!("cannot create {}", root.display()))?;
        write_json(&root.join(".zgroup"), &json!({ "zarr_format": 2 }))?;
        write_json(
            &root.join(ARRAY).join(".zattrs"),
            &json!({ "_ARRAY_DIMENSIONS": AXES }),
        )?;
        Self::open(
            root,
            grid,
            channels,
            save_interval_days,
            Vec::new(),
            keep_bits,
        )
    }

    /// A store that already holds the saves at `times_days` (a resumed
    /// run): time points after them are removed, later appends follow them.
    /// Without saves, or without a store on disk, this is `create`.
    pub fn continuing(
        root: &Path,
        grid: Grid,
        channels: Vec<Channel>,
        save_interval_days: f64,
        times_days: Vec<f64>,
        keep_bits: Option<u32>,
    ) -> Result<Self> {
        refuse_symlink(root)?;
        if times_days.is_empty() || !root.join(ARRAY).join(".zarray").is_file() {
            return Self::create(root, grid, channels, save_interval_days, keep_bits);
        }
        remove_own(root, times_days.len())?;
        Self::open(
            root,
            grid,
            channels,
            save_interval_days,
            times_days,
            keep_bits,
        )
    }

    /// The writer of a store whose folders exist and which holds the saves
    /// at `times_days`; writes its metadata.
    fn open(
        root: &Path,
        grid: Grid,
        channels: Vec<Channel>,
        save_interval_days: f64,
        times_days: Vec<f64>,
        keep_bits: Option<u32>,
    ) -> Result<Self> {
        let w = Self {
            root: root.to_path_buf(),
            grid,
            chunks: Chunks::for_grid(&grid, channels.len()),
            channels,
            save_interval_days,
            times_days,
            keep_bits,
        };
        w.write_metadata()?;
        Ok(w)
    }

    /// Append the fields of one save; `fields[f]` is registry field f.
    pub fn append(&mut self, time_days: f64, fields: &[Vec<f32>]) -> Result<()> {
        let t = self.times_days.len();
        let g = self.grid;
        let plane = g.nx * g.ny;
        let Chunks { c: cc, z: cz } = self.chunks;
        let jobs: Vec<(usize, usize)> = (0..self.channels.len().div_ceil(cc))
            .flat_map(|j| (0..g.nz.div_ceil(cz)).map(move |k| (j, k)))
            .collect();
        jobs.par_iter().try_for_each(|&(j, k)| -> Result<()> {
            // Zarr v2 chunks are always full: the last ones are padded with zeros.
            let mut chunk = vec![0f32; cc * cz * plane];
            for (slot, ch) in self.channels.iter().skip(j * cc).take(cc).enumerate() {
                let data = &fields[ch.field];
                let z0 = k * cz;
                let z1 = (z0 + cz).min(g.nz);
                let at = slot * cz * plane;
                chunk[at..at + (z1 - z0) * plane].copy_from_slice(&data[z0 * plane..z1 * plane]);
            }
            if let Some(keep) = self.keep_bits {
                chunk.iter_mut().for_each(|v| *v = bit_round(*v, keep));
            }
            let dir = self.root.join(ARRAY).join(format!("{t}/{j}/{k}/0"));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join("0");
            let mut enc = ZlibEncoder::new(Vec::new(), flate2::Compression::new(ZLIB_LEVEL));
            enc.write_all(&shuffle(bytemuck::cast_slice(&chunk)))?;
            super::atomic::write(&path, enc.finish()?)
                .with_context(|| format!("cannot write {}", path.display()))
        })?;
        self.times_days.push(time_days);
        self.write_metadata()
    }

    fn write_metadata(&self) -> Result<()> {
        let g = &self.grid;
        let dx = g.dx_um as f64;
        let zarray = json!({
            "zarr_format": 2,
            "shape": [self.times_days.len(), self.channels.len(), g.nz, g.ny, g.nx],
            "chunks": [1, self.chunks.c, self.chunks.z, g.ny, g.nx],
            "dtype": "<f4",
            "compressor": { "id": "zlib", "level": ZLIB_LEVEL },
            "fill_value": 0.0,
            "order": "C",
            "filters": [{ "id": "shuffle", "elementsize": 4 }],
            "dimension_separator": "/",
        });
        write_json(&self.root.join(ARRAY).join(".zarray"), &zarray)?;
        let space = |name: &str| json!({ "name": name, "type": "space", "unit": "micrometer" });
        let channels: Vec<_> = self
            .channels
            .iter()
            .map(|c| {
                json!({
                    "label": FIELDS[c.field].name,
                    "color": "FFFFFF",
                    "active": true,
                    "window": {
                        "start": c.display_min, "end": c.display_max,
                        "min": c.display_min, "max": c.display_max,
                    },
                })
            })
            .collect();
        let fields: Vec<_> = self
            .channels
            .iter()
            .map(|c| {
                let f = &FIELDS[c.field];
                json!({
                    "name": f.name,
                    "unit": f.unit,
                    "kind": f.kind.as_str(),
                    "description": f.description,
                })
            })
            .collect();
        let attrs = json!({
            "multiscales": [{
                "version": "0.4",
                "name": "tmesim fields",
                "axes": [
                    { "name": "t", "type": "time", "unit": "day" },
                    { "name": "c", "type": "channel" },
                    space("z"), space("y"), space("x"),
                ],
                "datasets": [{
                    "path": ARRAY,
                    "coordinateTransformations": [{
                        "type": "scale",
                        "scale": [self.save_interval_days, 1.0, dx, dx, dx],
                    }],
                }],
            }],
            "omero": {
                "version": "0.4",
                "name": "tmesim fields",
                "channels": channels,
                "rdefs": { "model": "color" },
            },
            "tmesim": {
                "version": env!("CARGO_PKG_VERSION"),
                "axes": AXES,
                "fields": fields,
                "times_days": self.times_days,
                "dx_um": dx,
                "origin_um": [0.0, 0.0, 0.0],
                // Mantissa bits kept (null: lossless); relative error of
                // each value at most 2^-(keep_bits + 1).
                "keep_bits": self.keep_bits,
            },
        });
        write_json(&self.root.join(".zattrs"), &attrs)
    }
}

/// `v` rounded to `keep` mantissa bits, to nearest with ties to even (the
/// BitRound of numcodecs and xbitinfo): the relative error is at most
/// 2^-(keep + 1), zeros stay zero, and the dropped bits, now zero,
/// compress away. `keep` >= 23 leaves `v` as it is.
pub fn bit_round(v: f32, keep: u32) -> f32 {
    if keep >= 23 || !v.is_finite() {
        return v;
    }
    let drop = 23 - keep;
    let bits = v.to_bits();
    let half = (1u32 << (drop - 1)) - 1;
    let odd = (bits >> drop) & 1;
    f32::from_bits((bits + half + odd) & !((1u32 << drop) - 1))
}

/// The field names of a store, in channel order.
pub fn channel_names(root: &Path) -> Result<Vec<String>> {
    let path = root.join(".zattrs");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let attrs: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    attrs["tmesim"]["fields"]
        .as_array()
        .with_context(|| format!("{} has no tmesim.fields", path.display()))?
        .iter()
        .map(|f| {
            f["name"]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{}: a field without a name", path.display()))
        })
        .collect()
}

/// Read channel `c` at time index `t` of a store written for `grid`.
pub fn read_field(root: &Path, grid: &Grid, t: usize, c: usize) -> Result<Vec<f32>> {
    let Chunks { c: cc, z: cz } = Chunks::read(root)?;
    let plane = grid.nx * grid.ny;
    let (j, slot) = (c / cc, c % cc);
    let mut out = Vec::with_capacity(grid.len());
    for k in 0..grid.nz.div_ceil(cz) {
        let path = root.join(ARRAY).join(format!("{t}/{j}/{k}/0/0"));
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&bytes[..])
            .read_to_end(&mut raw)
            .with_context(|| format!("{} is not a zlib chunk", path.display()))?;
        if raw.len() != cc * cz * plane * 4 {
            bail!(
                "{}: {} bytes, expected {} for the grid of the manifest",
                path.display(),
                raw.len(),
                cc * cz * plane * 4
            );
        }
        let raw = unshuffle(&raw);
        let at = slot * cz * plane * 4;
        let planes = (grid.nz - k * cz).min(cz);
        out.extend(
            raw[at..at + planes * plane * 4]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap())),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_reads_back_what_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("f.ome.zarr");
        let grid = Grid {
            nx: 3,
            ny: 2,
            nz: 2,
            dx_um: 10.0,
        };
        let channels = vec![
            Channel {
                field: 0,
                display_min: 0.0,
                display_max: 1.0,
            },
            Channel {
                field: 5,
                display_min: 0.0,
                display_max: 2.0,
            },
        ];
        let mut w = ZarrWriter::create(&root, grid, channels, 1.0, None).unwrap();
        let fields: Vec<Vec<f32>> = (0..FIELDS.len())
            .map(|f| (0..grid.len()).map(|i| (f * 100 + i) as f32).collect())
            .collect();
        w.append(0.0, &fields).unwrap();
        w.append(1.0, &fields).unwrap();
        assert_eq!(read_field(&root, &grid, 1, 1).unwrap(), fields[5]);
        assert_eq!(read_field(&root, &grid, 0, 0).unwrap(), fields[0]);
        assert_eq!(channel_names(&root).unwrap(), ["ifng", "tumor"]);
        let zarray: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("0/.zarray")).unwrap())
                .unwrap();
        assert_eq!(zarray["shape"], json!([2, 2, 2, 2, 3]));
        assert_eq!(zarray["chunks"], json!([1, 2, 2, 2, 3]));
        // Large fields: one per chunk, split along z.
        let big = Grid {
            nx: 512,
            ny: 512,
            nz: 8,
            dx_um: 10.0,
        };
        assert_eq!(Chunks::for_grid(&big, 19), Chunks { c: 1, z: 4 });
        let bytes: Vec<u8> = (0..64).collect();
        assert_eq!(unshuffle(&shuffle(&bytes)), bytes);
        assert_eq!(shuffle(&bytes)[..3], [0, 4, 8]);
    }

    #[test]
    fn bit_rounding_keeps_its_error_bound_and_shrinks_the_store() {
        let mut rng = crate::model::rng::SplitMix64(7);
        for keep in [1, 4, 10, 16, 22] {
            let bound = 2f64.powi(-(keep as i32 + 1));
            for _ in 0..10_000 {
                let v = ((rng.unit() * 1e3).powi(3) * 1e-6 + 1e-9) as f32;
                let r = bit_round(v, keep);
                assert!(
                    ((r as f64 - v as f64) / v as f64).abs() <= bound,
                    "{v} {keep} {r}"
                );
            }
        }
        assert_eq!(bit_round(0.0, 3), 0.0);
        assert_eq!(bit_round(1.234_567_8, 23), 1.234_567_8);
        // Ties go to the even neighbour: 1 + 2^-23 kept to 22 bits is 1.
        assert_eq!(bit_round(f32::from_bits(1.0f32.to_bits() + 1), 22), 1.0);
        // A store of smooth fields at 8 bits is smaller, and reads back
        // within the bound.
        let grid = Grid {
            nx: 64,
            ny: 64,
            nz: 1,
            dx_um: 10.0,
        };
        let channels = vec![Channel {
            field: 0,
            display_min: 0.0,
            display_max: 1.0,
        }];
        let fields: Vec<Vec<f32>> = (0..FIELDS.len())
            .map(|_| {
                (0..grid.len())
                    .map(|i| (i as f32 * 0.013).sin().abs() + 0.1)
                    .collect()
            })
            .collect();
        let size = |keep: Option<u32>| {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("f.ome.zarr");
            let mut w = ZarrWriter::create(&root, grid, channels.clone(), 1.0, keep).unwrap();
            w.append(0.0, &fields).unwrap();
            let back = read_field(&root, &grid, 0, 0).unwrap();
            let bound = keep.map_or(0.0, |k| 2f64.powi(-(k as i32 + 1)));
            for (a, b) in back.iter().zip(&fields[0]) {
                assert!(((a - b) as f64 / *b as f64).abs() <= bound);
            }
            std::fs::metadata(root.join("0/0/0/0/0/0")).unwrap().len()
        };
        let (exact, rounded) = (size(None), size(Some(8)));
        assert!(
            rounded * 2 < exact,
            "{rounded} bytes at 8 bits, {exact} lossless"
        );
    }
}
