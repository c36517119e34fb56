//! Checkpoints: everything the next step needs (every field, the systemic
//! state, the step; the drug exposures are functions of the step) and the
//! run's progress (the saves made so far and their summaries), so that
//! `tmesim run --resume` continues to exactly what an uninterrupted run
//! produces.
//!
//! File layout (little-endian), format version 1:
//!
//! ```text
//! "TMESIMCK"                 8 bytes, magic
//! format version             u32
//! header length              u64, then the header as JSON (`Header`)
//! state length               u64, then the systemic state (4 x f32)
//!                            and every field in registry order (f32)
//! CRC-32 of all the above    u32
//! ```

use super::scenario::ArmSpec;
use crate::config::resolve::RunSpec;
use crate::model::fields::{FIELDS, FIELD_COUNT};
use crate::model::state::{State, Systemic};
use crate::output::atomic;
use crate::output::layout;
use crate::output::manifest::SavedTime;
use crate::output::timeseries::Summary;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"TMESIMCK";
pub const FORMAT_VERSION: u32 = 1;
/// Checkpoints kept in a run folder: the newest and the one before, so a
/// checkpoint damaged while being replaced still leaves a good one.
pub const KEPT: usize = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub tmesim_version: String,
    /// nx, ny, nz.
    pub grid: [usize; 3],
    pub dx_um: f32,
    pub fields: Vec<String>,
    /// Fingerprint of the resolved scenario (see `fingerprint`).
    pub config_hash: String,
    /// The scenario as resolved, to say which keys differ on a mismatch.
    pub config_toml: String,
    pub step: u64,
    /// The saves on the run's schedule up to `step`, with their summaries
    /// (as f64 bit patterns, so a resumed run reports them exactly).
    pub saved: Vec<SavedTime>,
    pub summaries: Vec<Vec<u64>>,
    /// Wall time of the run up to this checkpoint, s.
    pub wall_time_s: f64,
}

/// A checkpoint read back: its file, header and state.
pub struct Checkpoint {
    pub path: PathBuf,
    pub header: Header,
    pub state: State,
}

impl Checkpoint {
    pub fn summaries(&self) -> Vec<Summary> {
        self.header
            .summaries
            .iter()
            .map(|bits| summary_from_bits(bits))
            .collect()
    }
}

/// A fingerprint of everything that shapes a run's results: the code that
/// computes it (a hash of src/ and shaders/ taken at build time, build.rs),
/// the resolved spec (config, parameters, initial pieces) and the drug
/// tables, FNV-1a over their debug form. Equal fingerprints mean the same
/// run by the same build.
pub fn fingerprint(arm: &ArmSpec) -> String {
    fingerprint_with(env!("TMESIM_SOURCE_HASH"), arm)
}

/// The fingerprint of a simulated region alone: the same, but with the
/// hash of only the code that computes a region (`REGION_CODE` in
/// build.rs, and Cargo.lock), so that a cohort of a later build with the
/// same model may read the region again (`tmesim cohort --regions`), and
/// the backend that ran it (`cpu` or `gpu`: their values differ by
/// round-off).
pub fn region_fingerprint(arm: &ArmSpec, backend: &str) -> String {
    fingerprint_with(&format!("{}{backend}", env!("TMESIM_REGION_HASH")), arm)
}

fn fingerprint_with(code: &str, arm: &ArmSpec) -> String {
    let mut spec = arm.spec.clone();
    let mut treatment = arm.treatment.clone();
    // The paths the scenario and its therapy files were read from (relative
    // to where the run started, absolute on resume) do not change the run.
    spec.source = PathBuf::new();
    for d in &mut treatment.drugs {
        d.file = PathBuf::new();
    }
    for r in &mut treatment.radiation {
        r.file = PathBuf::new();
    }
    let text = format!("{code}{spec:?}{treatment:?}");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn summary_bits(s: &Summary) -> Vec<u64> {
    let mut v = vec![
        s.time_days.to_bits(),
        s.tumor_burden.to_bits(),
        s.equivalent_diameter_um.to_bits(),
        s.priming.to_bits(),
    ];
    v.extend(s.totals.iter().map(|x| x.to_bits()));
    v.extend(s.tumor_means.iter().map(|x| x.to_bits()));
    v
}

fn summary_from_bits(bits: &[u64]) -> Summary {
    let f = |i: usize| f64::from_bits(bits.get(i).copied().unwrap_or(0));
    let n = FIELD_COUNT;
    Summary {
        time_days: f(0),
        tumor_burden: f(1),
        equivalent_diameter_um: f(2),
        priming: f(3),
        totals: (0..n).map(|k| f(4 + k)).collect(),
        tumor_means: (0..n).map(|k| f(4 + n + k)).collect(),
    }
}

/// Write a checkpoint of `state` (of the run `spec`, whose `fingerprint`
/// the caller computed once) into `out/checkpoints/` atomically, then
/// delete all but the newest `KEPT`. Returns its path.
pub fn write(
    out: &Path,
    spec: &RunSpec,
    fingerprint: &str,
    state: &State,
    saved: &[SavedTime],
    summaries: &[Summary],
    wall_time_s: f64,
) -> Result<PathBuf> {
    let header = Header {
        tmesim_version: env!("CARGO_PKG_VERSION").into(),
        grid: [state.grid.nx, state.grid.ny, state.grid.nz],
        dx_um: state.grid.dx_um,
        fields: FIELDS.iter().map(|f| f.name.to_string()).collect(),
        config_hash: fingerprint.to_string(),
        config_toml: toml::to_string_pretty(&spec.config)?,
        step: state.step,
        saved: saved.to_vec(),
        summaries: summaries.iter().map(summary_bits).collect(),
        wall_time_s,
    };
    let bytes = encode(&header, state)?;
    std::fs::create_dir_all(out.join(layout::CHECKPOINTS_DIR))?;
    let path = out.join(layout::checkpoint(state.step));
    atomic::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    for old in list(out)?.into_iter().skip(KEPT) {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

fn encode(header: &Header, state: &State) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(header)?;
    let n = state.grid.len();
    let state_len = 16 + 4 * n * FIELD_COUNT;
    let mut b = Vec::with_capacity(8 + 4 + 8 + json.len() + 8 + state_len + 4);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&(json.len() as u64).to_le_bytes());
    b.extend_from_slice(&json);
    b.extend_from_slice(&(state_len as u64).to_le_bytes());
    b.extend_from_slice(bytemuck::bytes_of(&state.systemic));
    for f in &state.fields {
        for v in f {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    Ok(b)
}

/// Read and verify one checkpoint file (magic, version, checksum, sizes).
pub fn read(path: &Path) -> Result<Checkpoint> {
    let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    decode(&b).map(|(header, state)| Checkpoint {
        path: path.to_path_buf(),
        header,
        state,
    })
}

fn decode(b: &[u8]) -> Result<(Header, State)> {
    if b.len() < 8 + 4 + 8 + 8 + 4 || &b[..8] != MAGIC {
        bail!("not a tmesim checkpoint");
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
        bail!("checksum mismatch (the file is damaged or incomplete)");
    }
    let version = u32::from_le_bytes(b[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        bail!("checkpoint format version {version}; this tmesim reads version {FORMAT_VERSION}");
    }
    let mut at = 12;
    let mut take = |len: usize| -> Result<&[u8]> {
        let s = body.get(at..at + len).context("truncated checkpoint")?;
        at += len;
        Ok(s)
    };
    let json_len = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
    let header: Header =
        serde_json::from_slice(take(json_len)?).context("unreadable checkpoint header")?;
    let state_len = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
    let [nx, ny, nz] = header.grid;
    let n = nx * ny * nz;
    if state_len != 16 + 4 * n * header.fields.len() || header.fields.len() != FIELD_COUNT {
        bail!("state size does not match the header's grid and fields");
    }
    let data = take(state_len)?;
    let systemic: Systemic = bytemuck::pod_read_unaligned(&data[..16]);
    let fields = data[16..]
        .chunks_exact(4 * n)
        .map(bytemuck::pod_collect_to_vec)
        .collect();
    let grid = crate::model::grid::Grid {
        nx,
        ny,
        nz,
        dx_um: header.dx_um,
    };
    let step = header.step;
    Ok((
        header,
        State {
            grid,
            fields,
            systemic,
            step,
        },
    ))
}

/// The checkpoint files of a run folder, newest first.
pub fn list(out: &Path) -> Result<Vec<PathBuf>> {
    let dir = out.join(layout::CHECKPOINTS_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ckpt"))
        .collect();
    files.sort();
    files.reverse();
    Ok(files)
}

/// The newest checkpoint of `out` that reads back intact and belongs to
/// `spec`. Damaged checkpoints are skipped for older ones (each reported on
/// stderr); one from another scenario or version is an error saying what
/// differs. `None` when the folder has no usable checkpoint.
pub fn latest(out: &Path, arm: &ArmSpec) -> Result<Option<Checkpoint>> {
    for path in list(out)? {
        match read(&path) {
            Ok(c) => {
                check_compatible(&c.header, arm)
                    .with_context(|| format!("cannot resume from {}", path.display()))?;
                return Ok(Some(c));
            }
            Err(e) => eprintln!(
                "warning: skipping checkpoint {}: {e:#}; trying the one before",
                path.display()
            ),
        }
    }
    Ok(None)
}

/// Refuse a checkpoint made by another tmesim version or for another run.
pub fn check_compatible(h: &Header, arm: &ArmSpec) -> Result<()> {
    let spec = &arm.spec;
    let version = env!("CARGO_PKG_VERSION");
    if h.tmesim_version != version {
        bail!(
            "it was written by tmesim {}, and this is tmesim {version}",
            h.tmesim_version
        );
    }
    let g = &spec.grid;
    if h.grid != [g.nx, g.ny, g.nz] || h.dx_um != g.dx_um {
        bail!(
            "its grid is {:?} at {} um, the scenario's {:?} at {} um",
            h.grid,
            h.dx_um,
            [g.nx, g.ny, g.nz],
            g.dx_um
        );
    }
    let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    if h.fields != names {
        bail!("its fields are {:?}, this tmesim's {names:?}", h.fields);
    }
    if h.config_hash != fingerprint(arm) {
        let now = toml::to_string_pretty(&spec.config)?;
        let keys = differing_keys(&h.config_toml, &now);
        if keys.is_empty() {
            bail!(
                "the scenario's input files (therapies, phenotype or initial arrays) changed since it was written"
            );
        }
        bail!(
            "it belongs to another scenario; these keys differ: {}",
            keys.join("; ")
        );
    }
    if h.step > spec.steps {
        bail!(
            "it is at step {}, after the run's last step {}",
            h.step,
            spec.steps
        );
    }
    Ok(())
}

/// `key: old -> new` for each dotted key whose value differs.
fn differing_keys(old: &str, new: &str) -> Vec<String> {
    fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let parse = |s: &str| {
        let mut out = Vec::new();
        if let Ok(t) = toml::from_str::<toml::Table>(s) {
            flatten("", &toml::Value::Table(t), &mut out);
        }
        out
    };
    let (a, b) = (parse(old), parse(new));
    let get = |list: &[(String, String)], k: &str| {
        list.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "(unset)".into())
    };
    let mut keys: Vec<&String> = a.iter().chain(&b).map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| get(&a, k) != get(&b, k))
        .map(|k| format!("{k}: {} -> {}", get(&a, k), get(&b, k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let grid = crate::model::grid::Grid {
            nx: 3,
            ny: 2,
            nz: 1,
            dx_um: 10.0,
        };
        let mut s = State::zeros(grid);
        for (f, field) in s.fields.iter_mut().enumerate() {
            for (i, v) in field.iter_mut().enumerate() {
                *v = (f * 10 + i) as f32 * 0.1;
            }
        }
        s.systemic.priming = 0.25;
        s.step = 42;
        s
    }

    fn header(s: &State) -> Header {
        Header {
            tmesim_version: env!("CARGO_PKG_VERSION").into(),
            grid: [3, 2, 1],
            dx_um: 10.0,
            fields: FIELDS.iter().map(|f| f.name.to_string()).collect(),
            config_hash: "x".into(),
            config_toml: String::new(),
            step: s.step,
            saved: vec![],
            summaries: vec![],
            wall_time_s: 1.5,
        }
    }

    #[test]
    fn a_checkpoint_reads_back_exactly() {
        let s = state();
        let b = encode(&header(&s), &s).unwrap();
        let (h, back) = decode(&b).unwrap();
        assert_eq!(h, header(&s));
        assert_eq!(back, s);
    }

    #[test]
    fn any_damaged_byte_is_detected() {
        let s = state();
        let b = encode(&header(&s), &s).unwrap();
        for at in [0, 9, 30, b.len() / 2, b.len() - 5, b.len() - 1] {
            let mut bad = b.clone();
            bad[at] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at byte {at} not detected");
        }
        assert!(decode(&b[..b.len() - 100]).is_err());
    }

    #[test]
    fn the_fingerprint_ignores_where_the_files_were_read_from() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let arm = ["arm=[\"anti_pd1\", \"radiotherapy\"]".to_string()];
        // cargo runs tests in the package root, so the relative path resolves.
        let relative =
            super::super::scenario::load(Path::new("configs/baseline.toml"), &arm).unwrap();
        let absolute =
            super::super::scenario::load(&root.join("configs/baseline.toml"), &arm).unwrap();
        assert_eq!(fingerprint(&relative), fingerprint(&absolute));
        let other = super::super::scenario::load(
            &root.join("configs/baseline.toml"),
            &[arm[0].clone(), "params.kill_rate_per_day=2".into()],
        )
        .unwrap();
        assert_ne!(fingerprint(&other), fingerprint(&absolute));
    }

    #[test]
    fn differing_keys_name_key_and_values() {
        let d = differing_keys("[time]\nend_days = 10\n", "[time]\nend_days = 20\n");
        assert_eq!(d, vec!["time.end_days: 10 -> 20".to_string()]);
    }

    #[test]
    fn summaries_round_trip_bit_for_bit() {
        let s = Summary {
            time_days: 1.0 / 3.0,
            tumor_burden: 0.1,
            equivalent_diameter_um: 600.0,
            priming: 0.5,
            totals: vec![0.7; FIELD_COUNT],
            tumor_means: vec![f64::NAN; FIELD_COUNT],
        };
        let back = summary_from_bits(&summary_bits(&s));
        assert_eq!(summary_bits(&back), summary_bits(&s));
    }
}
