//! The folder guard: the one gate of every command that writes a folder
//! (run, run --resume, compare and each of its arms, cohort, cohort merge,
//! sweep, sensitivity, render). It makes sure tmesim never deletes, changes or writes through
//! what it did not write:
//!
//! - **Where**: `/`, the home folder, the working folder and its ancestors,
//!   and any folder that holds an input (or lies inside an input folder,
//!   as `cohort merge` reads its shards) are refused before anything is
//!   created.
//! - **Lock**: `.tmesim.lock` is held (an OS file lock) while a command
//!   writes; a lock that is not a regular file (a symlink, a folder, a
//!   fifo) is refused and never written through.
//! - **Record**: what tmesim wrote is what its own record of the folder
//!   lists: a run's manifest.json (its layout and field names), a cohort's
//!   cohort.json (its arms: `records/pNNNNNN/ARM.csv`), a sweep's
//!   sweep.json (`points/pNNNNNN.csv`, sweep.csv, sobol.csv, morris.csv) or a
//!   comparison's comparison.json (its arm folders, each a run folder). A record counts
//!   only when it parses as tmesim's; a file named like an output in a
//!   folder without a record is the user's.
//! - **Decide, then delete**: `--force` first lists every entry of the
//!   folder (never following a symlink, never entering a folder tmesim did
//!   not make); if any entry is not in the record it refuses, naming them,
//!   and deletes nothing. Only then does it remove the listed files (one by
//!   one) and the emptied folders of the layout.

use super::layout;
use super::manifest::Manifest;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// The lock file: held (an OS file lock) for as long as a command writes
/// the folder. The OS releases it when the process ends in any way, so a
/// folder whose manifest says "running" but whose lock is free belongs to
/// a run that died.
pub const LOCK: &str = ".tmesim.lock";

/// How to treat what a folder already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse a folder that holds anything.
    Refuse,
    /// Remove what an earlier tmesim command wrote first (`--force`);
    /// refuse, removing nothing, when anything else is there.
    Replace,
    /// Keep it: the command continues the one in the folder, which must be
    /// of the same kind (its record exists) unless the folder is empty.
    Continue,
}

/// What a command makes of the folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Run,
    Comparison,
    Cohort,
    Sweep,
}

impl Kind {
    fn record(self) -> &'static str {
        match self {
            Kind::Run => layout::MANIFEST,
            Kind::Comparison => layout::COMPARISON_JSON,
            Kind::Cohort => layout::COHORT_JSON,
            Kind::Sweep => layout::SWEEP_JSON,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Comparison => "comparison",
            Kind::Cohort => "cohort",
            Kind::Sweep => "sweep",
        }
    }
}

/// A locked folder; the lock is released when this is dropped.
pub struct Guarded {
    pub path: PathBuf,
    _lock: File,
}

/// Make `out` ready for a command of `kind`: refuse the places a command
/// must never write (see [`refuse_place`]), lock the folder, and treat
/// what it holds as `existing` says. `inputs` are the files (and, for a
/// merge, folders) the command reads.
pub fn prepare(out: &Path, kind: Kind, inputs: &[PathBuf], existing: Existing) -> Result<Guarded> {
    // A resume continues a run folder in place, so `--resume .` is fine.
    let allow_cwd = kind == Kind::Run && existing == Existing::Continue;
    refuse_place(out, inputs, allow_cwd, &Places::of_process())?;
    // Never through a symlink: not `--out LINK`, nor an arm folder of a
    // comparison that someone replaced by one.
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a symlink; tmesim never writes through one: give the folder it points to, \
             or another --out",
            out.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    let meta =
        std::fs::symlink_metadata(out).with_context(|| format!("cannot read {}", out.display()))?;
    if !meta.is_dir() && !std::fs::metadata(out).is_ok_and(|m| m.is_dir()) {
        bail!("{} is not a folder", out.display());
    }
    let lock_path = out.join(LOCK);
    let lock_was_there = std::fs::symlink_metadata(&lock_path).is_ok();
    let lock = lock(out)?;
    if let Err(e) = decide(out, kind, existing) {
        // A refused command leaves the folder as it found it.
        if !lock_was_there {
            let _ = std::fs::remove_file(&lock_path);
        }
        return Err(e);
    }
    Ok(Guarded {
        path: out.to_path_buf(),
        _lock: lock,
    })
}

/// Refuse, continue, or clear the folder (locked by the caller).
fn decide(out: &Path, kind: Kind, existing: Existing) -> Result<()> {
    let survey = survey(out)?;
    if !survey.entries.is_empty() {
        match existing {
            Existing::Refuse => bail!(
                "{} already holds {} (an earlier run's outputs?); use --force to replace what \
                 tmesim wrote there, --resume to continue an interrupted run, or choose another --out",
                out.display(),
                list(&survey.entries)
            ),
            Existing::Continue => {
                if !survey.linked.is_empty() {
                    bail!(
                        "{} holds {}, a symlink where tmesim writes its own output; tmesim never \
                         writes through one: remove it (or replace it by what it points to)",
                        out.display(),
                        list(&survey.linked)
                    );
                }
                if !survey.records.has(kind) {
                    if kind == Kind::Cohort && survey.records.run.is_some() {
                        bail!(
                            "{} holds a run (manifest.json), not a cohort; choose another --out or use --force",
                            out.display()
                        );
                    }
                    bail!(
                        "{} holds {} and is not an earlier {} of tmesim (it has no {}); choose \
                         another --out, or use --force to replace what tmesim wrote there",
                        out.display(),
                        list(&survey.entries),
                        kind.noun(),
                        kind.record()
                    );
                }
            }
            Existing::Replace => {
                if !survey.foreign.is_empty() {
                    bail!(
                        "--force: {} holds {}, which tmesim did not write (its record of the \
                         folder does not list them); nothing was removed: move them away or \
                         choose another --out",
                        out.display(),
                        list(&survey.foreign)
                    );
                }
                survey.remove()?;
            }
        }
    }
    Ok(())
}

/// Lock an existing run folder for `render`, which rewrites its images:
/// refused while a run writes it.
pub fn lock_existing(dir: &Path) -> Result<Guarded> {
    let lock = lock(dir)?;
    Ok(Guarded {
        path: dir.to_path_buf(),
        _lock: lock,
    })
}

/// A shared lock on a folder a command reads (a shard being merged):
/// refused while a command writes it. A folder without a lock file (none
/// was ever written there) or one that cannot take one (read-only) has no
/// writer to wait for.
pub struct ReadLock {
    _lock: Option<File>,
}

pub fn lock_for_reading(dir: &Path) -> Result<ReadLock> {
    let path = dir.join(LOCK);
    refuse_odd_lock(&path)?;
    let file = match open_lock(&path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ReadLock { _lock: None });
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(ReadLock { _lock: Some(file) }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "a tmesim command ({}) is writing {}; wait for it to finish",
            std::fs::read_to_string(&path).unwrap_or_default().trim(),
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Whether a live command holds a folder's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// A process holds it now.
    Held,
    /// Nobody holds it (or there is none).
    Free,
    /// It could not be checked (the lock is not a regular file, or the
    /// OS refused to lock it).
    Unknown,
}

/// Whether a command holds the folder's lock now, without taking it for
/// longer than the probe. The lock is opened read-only (a shared lock
/// works on a read-only file), so a read-only folder is probed too.
pub fn lock_state(dir: &Path) -> LockState {
    let path = dir.join(LOCK);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LockState::Free,
        Err(_) => return LockState::Unknown,
        Ok(m) if !m.is_file() => return LockState::Unknown,
        Ok(_) => {}
    }
    let Ok(f) = open_lock(&path, false) else {
        return LockState::Unknown;
    };
    match f.try_lock_shared() {
        Ok(()) => LockState::Free,
        Err(std::fs::TryLockError::WouldBlock) => LockState::Held,
        Err(std::fs::TryLockError::Error(_)) => LockState::Unknown,
    }
}

/// Open the lock file without following a symlink and without blocking
/// on a fifo.
fn open_lock(path: &Path, write: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = File::options()
        .read(true)
        .write(write)
        .create(write)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

fn refuse_odd_lock(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => bail!(
            "{} is not a regular file (a {}); tmesim never writes through it: remove it if it \
             is yours to remove, or choose another folder",
            path.display(),
            describe_type(&m.file_type())
        ),
        _ => Ok(()),
    }
}

fn lock(out: &Path) -> Result<File> {
    let path = out.join(LOCK);
    refuse_odd_lock(&path)?;
    let mut f =
        open_lock(&path, true).with_context(|| format!("cannot create {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let owner = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another tmesim run ({}) is writing to {}; wait for it or choose another --out",
                owner.trim(),
                out.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    f.set_len(0)?;
    write!(f, "pid {}", std::process::id())?;
    f.flush()?;
    Ok(f)
}

/// The places no command writes to, as this process sees them.
pub struct Places {
    pub home: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
}

impl Places {
    pub fn of_process() -> Self {
        Places {
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            cwd: std::env::current_dir().ok(),
        }
    }
}

/// Refuse `/`, the home folder, the working folder (unless `allow_cwd`)
/// and its ancestors, and a folder that holds one of `inputs` or lies
/// inside one of them.
pub fn refuse_place(
    out: &Path,
    inputs: &[PathBuf],
    allow_cwd: bool,
    places: &Places,
) -> Result<()> {
    let abs = absolute(out)?;
    let why = if abs.parent().is_none() {
        Some("the root folder".to_string())
    } else if places
        .home
        .as_deref()
        .and_then(|h| absolute(h).ok())
        .is_some_and(|h| h == abs)
    {
        Some("the home folder".to_string())
    } else if let Some(cwd) = places.cwd.as_deref().and_then(|c| absolute(c).ok()) {
        if cwd == abs && !allow_cwd {
            Some("the working folder".to_string())
        } else if cwd != abs && cwd.starts_with(&abs) {
            Some("a folder above the working folder".to_string())
        } else {
            None
        }
    } else {
        None
    };
    if let Some(why) = why {
        bail!(
            "{} is {why}; tmesim writes only to a folder of its own: choose an --out such as {}",
            out.display(),
            Path::new("outputs").join("run").display()
        );
    }
    for input in inputs {
        let Ok(input_abs) = absolute(input) else {
            continue;
        };
        if input_abs.starts_with(&abs) {
            bail!(
                "the output folder {} contains the input {} {}; a command writes only to its \
                 own folder, so choose an --out that holds no input (e.g. {})",
                out.display(),
                if input_abs.is_dir() { "folder" } else { "file" },
                input.display(),
                out.join("run").display()
            );
        }
        if abs.starts_with(&input_abs) {
            bail!(
                "the output folder {} is inside the input {}; choose an --out outside every input",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// `path` made absolute with every symlink of its existing part resolved
/// and `.`/`..` removed, whether or not it exists yet.
fn absolute(path: &Path) -> Result<PathBuf> {
    let base = if path.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().context("cannot read the working folder")?
    };
    let mut full = base;
    for c in path.components() {
        match c {
            Component::ParentDir => {
                full = full.canonicalize().unwrap_or(full);
                full.pop();
            }
            Component::CurDir => {}
            other => full.push(other.as_os_str()),
        }
    }
    // Resolve the longest existing prefix; keep the rest as written.
    let mut rest = Vec::new();
    let mut head = full.clone();
    loop {
        if let Ok(c) = head.canonicalize() {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return Ok(out);
        }
        match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                head = parent.to_path_buf();
            }
            _ => return Ok(full),
        }
    }
}

/// tmesim's records found in a folder.
#[derive(Default)]
struct Records {
    /// A run's manifest: the names its frames and arrays are made of.
    run: Option<Vec<String>>,
    /// A comparison: each arm folder and, when it holds a valid manifest,
    /// that run's names.
    comparison: Option<BTreeMap<String, Option<Vec<String>>>>,
    /// A cohort: its arm labels.
    cohort: Option<Vec<String>>,
    /// A sweep (its files are fixed by the layout).
    sweep: bool,
}

impl Records {
    fn read(dir: &Path) -> Records {
        let comparison =
            read_json::<ComparisonRecord>(&dir.join(layout::COMPARISON_JSON)).map(|c| {
                c.arms
                    .into_iter()
                    .filter(|a| is_plain_name(a))
                    .map(|a| {
                        let names = run_names(&dir.join(&a));
                        (a, names)
                    })
                    .collect()
            });
        let cohort = read_json::<CohortRecord>(&dir.join(layout::COHORT_JSON))
            .map(|c| c.arms.into_iter().filter(|a| is_plain_name(a)).collect());
        Records {
            run: run_names(dir),
            comparison,
            cohort,
            sweep: read_json::<SweepRecord>(&dir.join(layout::SWEEP_JSON)).is_some(),
        }
    }

    fn has(&self, kind: Kind) -> bool {
        match kind {
            Kind::Run => self.run.is_some(),
            Kind::Comparison => self.comparison.is_some(),
            Kind::Cohort => self.cohort.is_some(),
            Kind::Sweep => self.sweep,
        }
    }

    /// Whether the entry at `rel` (path components under the folder) is
    /// tmesim's by one of the records.
    fn owns(&self, rel: &[&str], dir: bool) -> bool {
        if let (false, Some((last, parent))) = (dir, rel.split_last()) {
            if let Some(base) = temporary_of(last) {
                let mut r: Vec<&str> = parent.to_vec();
                r.push(base);
                return self.owns(&r, false);
            }
        }
        self.run.as_ref().is_some_and(|n| run_owns(n, rel, dir))
            || self
                .comparison
                .as_ref()
                .is_some_and(|arms| comparison_owns(arms, rel, dir))
            || self
                .cohort
                .as_ref()
                .is_some_and(|arms| cohort_owns(arms, rel, dir))
            || (self.sweep && sweep_owns(rel, dir))
    }
}

/// comparison.json: the arm folders of a comparison.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ComparisonRecord {
    pub tmesim_version: String,
    pub arms: Vec<String>,
}

/// The part of cohort.json the guard reads.
#[derive(serde::Deserialize)]
struct CohortRecord {
    #[allow(dead_code)]
    tmesim_version: String,
    #[allow(dead_code)]
    patients: u64,
    arms: Vec<String>,
}

/// The part of sweep.json the guard reads.
#[derive(serde::Deserialize)]
struct SweepRecord {
    #[allow(dead_code)]
    tmesim_version: String,
    #[allow(dead_code)]
    points: u64,
}

/// Read a comparison's record (None when it has none).
pub fn read_comparison(dir: &Path) -> Option<ComparisonRecord> {
    read_json(&dir.join(layout::COMPARISON_JSON))
}

/// Write (or extend) a comparison's record: its arm folders, those listed
/// before kept, so `--force` later clears every arm tmesim made there.
pub fn write_comparison(dir: &Path, arms: &[String]) -> Result<()> {
    let mut all = read_comparison(dir).map(|c| c.arms).unwrap_or_default();
    for a in arms {
        if !all.contains(a) {
            all.push(a.clone());
        }
    }
    let record = ComparisonRecord {
        tmesim_version: env!("CARGO_PKG_VERSION").into(),
        arms: all,
    };
    let path = dir.join(layout::COMPARISON_JSON);
    super::atomic::write(&path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A regular file (not a symlink) that parses as `T`.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The names a run folder's frames and arrays are made of, from its
/// manifest: every field, the montage and the composite.
fn run_names(dir: &Path) -> Option<Vec<String>> {
    if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    let m: Manifest = read_json(&dir.join(layout::MANIFEST))?;
    let mut names: Vec<String> = m.fields.into_iter().map(|f| f.name).collect();
    names.push(layout::MONTAGE.into());
    names.push(layout::COMPOSITE.into());
    Some(names)
}

/// A single path component that stays inside the folder.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && name != LOCK
}

/// The name an atomic write's temporary file stands for
/// (`.NAME.tmp-PID` -> `NAME`, see output::atomic).
pub fn temporary_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let (base, pid) = rest.rsplit_once(".tmp-")?;
    (!base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `{name}_{dddd}.{ext}` with `name` one of `names`.
fn per_save(file: &str, names: &[String], ext: &str) -> bool {
    let Some(stem) = file.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) else {
        return false;
    };
    let Some((name, index)) = stem.rsplit_once('_') else {
        return false;
    };
    digits(index, layout::INDEX_DIGITS) && names.iter().any(|n| n == name)
}

const RUN_FILES: &[&str] = &[
    layout::MANIFEST,
    layout::CONFIG,
    layout::TIMESERIES_CSV,
    layout::TIMESERIES_PNG,
    layout::REPORT,
    layout::PVD,
];

const RUN_DIRS: &[&str] = &[
    layout::FRAMES_DIR,
    layout::FIELDS_DIR,
    layout::VTK_DIR,
    layout::ANIMATIONS_DIR,
    layout::CHECKPOINTS_DIR,
    layout::ZARR,
];

/// Whether `rel` is in a run folder's layout.
fn run_owns(names: &[String], rel: &[&str], dir: bool) -> bool {
    match (rel, dir) {
        ([f], false) => RUN_FILES.contains(f),
        ([d], true) => RUN_DIRS.contains(d),
        ([layout::FRAMES_DIR, f], false) => per_save(f, names, "png"),
        ([layout::FIELDS_DIR, f], false) => per_save(f, names, "npy"),
        ([layout::VTK_DIR, f], false) => per_save(f, &["state".to_string()], "vti"),
        ([layout::ANIMATIONS_DIR, f], false) => f.rsplit_once('.').is_some_and(|(n, ext)| {
            ["gif", "apng", "png"].contains(&ext) && names.iter().any(|x| x == n)
        }),
        ([layout::CHECKPOINTS_DIR, f], false) => f
            .strip_prefix("step_")
            .and_then(|s| s.strip_suffix(".ckpt"))
            .is_some_and(|s| digits(s, 10)),
        ([layout::ZARR, rest @ ..], dir) => zarr_owns(rest, dir),
        _ => false,
    }
}

/// The store's own names (output::zarr): `.zgroup`, `.zattrs`,
/// `0/.zarray`, `0/.zattrs` and chunks `0/T/C/Z/0/0`.
fn zarr_owns(rel: &[&str], dir: bool) -> bool {
    match (rel, dir) {
        ([".zgroup" | ".zattrs"], false) => true,
        (["0"], true) => true,
        (["0", ".zarray" | ".zattrs"], false) => true,
        (["0", t], true) | (["0", t, _], true) | (["0", t, _, _], true)
            if rel[1..].iter().all(|s| all_digits(s)) =>
        {
            all_digits(t)
        }
        (["0", t, c, z, "0"], true) => all_digits(t) && all_digits(c) && all_digits(z),
        (["0", t, c, z, "0", "0"], false) => all_digits(t) && all_digits(c) && all_digits(z),
        _ => false,
    }
}

fn comparison_owns(arms: &BTreeMap<String, Option<Vec<String>>>, rel: &[&str], dir: bool) -> bool {
    match (rel, dir) {
        (
            [layout::COMPARISON_JSON | layout::SUMMARY_CSV | layout::BURDEN_PNG | layout::REPORT],
            false,
        ) => true,
        ([arm], true) => arms.contains_key(*arm),
        ([arm, LOCK], false) => arms.contains_key(*arm),
        ([arm, rest @ ..], dir) => arms
            .get(*arm)
            .and_then(|n| n.as_deref())
            .is_some_and(|n| run_owns(n, rest, dir)),
        _ => false,
    }
}

const COHORT_FILES: &[&str] = &[
    layout::COHORT_TOML,
    layout::COHORT_JSON,
    layout::PATIENTS_CSV,
    layout::ARMS_CSV,
    layout::COURSE_CSV,
    layout::TRIAL_CSV,
    layout::TRIAL_PNG,
    layout::PFS_PNG,
    layout::WATERFALL_PNG,
    layout::MECHANISM_CSV,
    layout::MECHANISM_PNG,
    layout::REPORT,
];

fn cohort_owns(arms: &[String], rel: &[&str], dir: bool) -> bool {
    let patient = |p: &str| p.strip_prefix('p').is_some_and(|d| digits(d, 6));
    match (rel, dir) {
        ([f], false) => COHORT_FILES.contains(f),
        ([layout::RECORDS_DIR], true) => true,
        ([layout::RECORDS_DIR, p], true) => patient(p),
        ([layout::RECORDS_DIR, p, f], false) => {
            patient(p)
                && f.strip_suffix(".csv")
                    .is_some_and(|a| arms.iter().any(|x| x == a))
        }
        _ => false,
    }
}

const SWEEP_FILES: &[&str] = &[
    layout::SWEEP_JSON,
    layout::SWEEP_CSV,
    layout::SOBOL_CSV,
    layout::MORRIS_CSV,
];

fn sweep_owns(rel: &[&str], dir: bool) -> bool {
    let point = |f: &str| {
        f.strip_suffix(".csv")
            .and_then(|p| p.strip_prefix('p'))
            .is_some_and(|d| digits(d, 6))
    };
    match (rel, dir) {
        ([f], false) => SWEEP_FILES.contains(f),
        ([layout::POINTS_DIR], true) => true,
        ([layout::POINTS_DIR, f], false) => point(f),
        _ => false,
    }
}

/// What a folder holds, sorted out by tmesim's records of it.
struct Survey {
    records: Records,
    /// The top-level entries, but the lock.
    entries: Vec<String>,
    /// What the records list: files, then folders deepest first.
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    /// What they do not (relative paths, a symlink marked as such).
    foreign: Vec<String>,
    /// Symlinks with the name of one of tmesim's own files or folders.
    linked: Vec<String>,
}

fn survey(dir: &Path) -> Result<Survey> {
    let mut s = Survey {
        records: Records::read(dir),
        entries: Vec::new(),
        files: Vec::new(),
        dirs: Vec::new(),
        foreign: Vec::new(),
        linked: Vec::new(),
    };
    let mut rel = Vec::new();
    walk(dir, &mut rel, &mut s)?;
    s.entries.sort();
    s.foreign.sort();
    Ok(s)
}

fn describe_type(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "folder"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_file() {
        "file"
    } else {
        "device"
    }
}

fn walk(root: &Path, rel: &mut Vec<String>, s: &mut Survey) -> Result<()> {
    let here: PathBuf = rel.iter().fold(root.to_path_buf(), |p, c| p.join(c));
    let entries =
        std::fs::read_dir(&here).with_context(|| format!("cannot read {}", here.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", here.display()))?;
        // file_type() does not follow a symlink.
        let t = entry
            .file_type()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        let raw = entry.file_name();
        let shown = raw.to_string_lossy().into_owned();
        if rel.is_empty() && shown == LOCK && t.is_file() {
            continue;
        }
        if rel.is_empty() {
            s.entries.push(shown.clone());
        }
        let path: String = rel
            .iter()
            .map(String::as_str)
            .chain([shown.as_str()])
            .collect::<Vec<_>>()
            .join("/");
        let Some(name) = raw.to_str() else {
            s.foreign.push(path);
            continue;
        };
        rel.push(name.to_string());
        let parts: Vec<&str> = rel.iter().map(String::as_str).collect();
        if t.is_dir() && s.records.owns(&parts, true) {
            walk(root, rel, s)?;
            s.dirs.push(entry.path());
        } else if t.is_file() && s.records.owns(&parts, false) {
            s.files.push(entry.path());
        } else if t.is_file() || t.is_dir() {
            s.foreign.push(path);
        } else if t.is_symlink() && (s.records.owns(&parts, true) || s.records.owns(&parts, false))
        {
            // Where tmesim writes one of its own files or folders.
            s.linked.push(path.clone());
            s.foreign.push(format!("{path} (a symlink)"));
        } else {
            s.foreign.push(format!("{path} (a {})", describe_type(&t)));
        }
        rel.pop();
    }
    Ok(())
}

impl Survey {
    /// Remove what the records list: each file, then each emptied folder.
    fn remove(&self) -> Result<()> {
        for f in &self.files {
            std::fs::remove_file(f)
                .with_context(|| format!("--force: cannot remove {}", f.display()))?;
        }
        for d in &self.dirs {
            std::fs::remove_dir(d)
                .with_context(|| format!("--force: cannot remove {}", d.display()))?;
        }
        Ok(())
    }
}

fn list(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Remove the files a record lists in the folder `dir/sub` (one of the
/// run layout's folders, e.g. checkpoints), then the folder if it is
/// empty; anything else there stays.
pub fn remove_owned_files(dir: &Path, sub: &str, owned: impl Fn(&str) -> bool) -> Result<()> {
    let folder = dir.join(sub);
    if !std::fs::symlink_metadata(&folder).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    for entry in std::fs::read_dir(&folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|e| e.ok())
    {
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && entry.file_name().to_str().is_some_and(&owned) {
            let p = entry.path();
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    let _ = std::fs::remove_dir(&folder);
    Ok(())
}

/// A checkpoint's file name (`step_0000012345.ckpt`).
pub fn is_checkpoint_name(name: &str) -> bool {
    run_owns(&[], &[layout::CHECKPOINTS_DIR, name], false)
}

/// Whether `name` in frames/ (or fields/, vtk/) is a per-save file of the
/// run: `{name}_{dddd}.{ext}` with any name made of letters, digits and
/// `_` (a run's own record lists the names; this is for the files a
/// resumed run removes, which the manifest being rewritten may not list).
pub fn is_per_save_name(file: &str, ext: &str) -> bool {
    let Some(stem) = file.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) else {
        return false;
    };
    let Some((name, index)) = stem.rsplit_once('_') else {
        return false;
    };
    digits(index, layout::INDEX_DIGITS)
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(home: Option<&Path>, cwd: Option<&Path>) -> Places {
        Places {
            home: home.map(Path::to_path_buf),
            cwd: cwd.map(Path::to_path_buf),
        }
    }

    #[test]
    fn the_root_home_and_working_folders_and_their_ancestors_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let cwd = home.join("work");
        std::fs::create_dir_all(&cwd).unwrap();
        let p = places(Some(&home), Some(&cwd));
        let e = |out: &Path, allow: bool| {
            refuse_place(out, &[], allow, &p)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(e(Path::new("/"), false).contains("the root folder"));
        assert!(e(Path::new("/"), true).contains("the root folder"));
        assert!(e(&home, false).contains("the home folder"));
        assert!(e(&home.join("work/.."), false).contains("the home folder"));
        assert!(e(&cwd, false).contains("the working folder"));
        assert!(e(dir.path(), false).contains("above the working folder"));
        // A resume may continue the run folder it is in.
        assert_eq!(e(&cwd, true), "");
        assert_eq!(e(&cwd.join("run"), false), "");
        assert_eq!(e(&home.join("runs/a"), false), "");
    }

    #[test]
    fn a_folder_holding_or_inside_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("s1");
        std::fs::create_dir_all(&shard).unwrap();
        let p = places(None, None);
        let inputs = [shard.clone()];
        for out in [
            shard.clone(),
            dir.path().to_path_buf(),
            shard.join("merged"),
        ] {
            let e = refuse_place(&out, &inputs, false, &p)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("input"), "{e}");
        }
        refuse_place(&dir.path().join("merged"), &inputs, false, &p).unwrap();
    }

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let first = prepare(&out, Kind::Run, &[], Existing::Refuse).unwrap();
        assert_eq!(lock_state(&out), LockState::Held);
        let e = prepare(&out, Kind::Run, &[], Existing::Continue)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("another tmesim run"), "{e}");
        assert!(lock_for_reading(&out).is_err());
        drop(first);
        // A test thread that forks a child at this moment gives the child a
        // copy of the lock's descriptor until its exec closes it (the lock
        // belongs to the open file, which the copy keeps open): allow that
        // instant to pass, as a second command would by trying again.
        let freed = (0..100).any(|_| {
            let free = lock_state(&out) == LockState::Free;
            if !free {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            free
        });
        assert!(
            freed,
            "the lock is still held a second after its guard ended"
        );
        prepare(&out, Kind::Run, &[], Existing::Refuse).unwrap();
    }

    #[test]
    fn a_lock_that_is_not_a_regular_file_is_refused_and_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.txt");
        std::fs::write(&target, "mine").unwrap();
        let out = dir.path().join("run");
        std::fs::create_dir_all(&out).unwrap();
        std::os::unix::fs::symlink(&target, out.join(LOCK)).unwrap();
        for existing in [Existing::Refuse, Existing::Replace, Existing::Continue] {
            let e = prepare(&out, Kind::Run, &[], existing)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        assert!(lock_for_reading(&out).is_err());
        assert_eq!(lock_state(&out), LockState::Unknown);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");
        let fifo = dir.path().join("fifo");
        std::fs::create_dir_all(&fifo).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(fifo.join(LOCK))
            .status();
        if made.is_ok_and(|s| s.success()) {
            let e = prepare(&fifo, Kind::Run, &[], Existing::Refuse)
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains("not a regular file") && e.contains("fifo"),
                "{e}"
            );
        }
    }

    /// A minimal valid manifest with the field `tumor`.
    fn write_manifest(dir: &Path) {
        let grid = serde_json::json!({"nx": 4, "ny": 4, "nz": 1, "dx_um": 1.0,
            "npy_shape": [1, 4, 4], "origin_um": [0.0, 0.0, 0.0], "spacing_um": [1.0, 1.0, 1.0]});
        let field = serde_json::json!({"name": "tumor", "kind": "cell", "unit": "", "description": "",
            "display_min": 0.0, "display_max": 1.0, "colormap": "magma", "vtk_array": "tumor",
            "png": null, "npy": null});
        let output = serde_json::json!({"slice_z": 0, "montage": [], "composite": [], "fps": 8.0,
            "gif": true, "apng": false, "vtk": false, "report": true});
        let layout = serde_json::json!({"index_digits": 4, "config": "config.toml",
            "timeseries_csv": "timeseries.csv", "timeseries_png": null, "report": null,
            "frame": null, "npy": null, "vti": null, "pvd": null, "animation_gif": null,
            "animation_apng": null});
        let m = serde_json::json!({"tmesim_version": "0", "status": "complete",
            "config_file": "x.toml", "backend": "cpu", "adapter": "cpu", "grid": grid,
            "dt_min": 1.0, "steps_done": 1, "steps_total": 1, "transport": "", "wall_time_s": 0.0,
            "saved": [], "fields": [field], "output": output, "layout": layout, "params": {},
            "config": crate::config::schema::Config::default()});
        let _: Manifest = serde_json::from_value(m.clone()).expect("a valid manifest");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(layout::MANIFEST), m.to_string()).unwrap();
    }

    #[test]
    fn force_removes_only_what_the_record_lists_and_decides_before_deleting() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run");
        write_manifest(&d);
        for f in [
            "frames/tumor_0000.png",
            "frames/montage_0001.png",
            "fields.ome.zarr/0/.zarray",
            "fields.ome.zarr/0/3/0/0/0/0",
            "checkpoints/step_0000000480.ckpt",
            "checkpoints/.step_0000000960.ckpt.tmp-77",
            "animations/montage.gif",
            "timeseries.csv",
        ] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), "x").unwrap();
        }
        let e = prepare(&d, Kind::Run, &[], Existing::Refuse)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("frames") && e.contains("--force"), "{e}");
        // A user file among them: nothing at all is removed.
        std::fs::write(d.join("frames/photo.png"), "mine").unwrap();
        let e = prepare(&d, Kind::Run, &[], Existing::Replace)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("frames/photo.png") && e.contains("nothing was removed"),
            "{e}"
        );
        assert!(d.join("frames/tumor_0000.png").is_file());
        assert!(d.join(layout::MANIFEST).is_file());
        std::fs::remove_file(d.join("frames/photo.png")).unwrap();
        prepare(&d, Kind::Run, &[], Existing::Replace).unwrap();
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(LOCK)]);
    }

    #[test]
    fn output_names_without_a_record_are_the_users() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("u");
        for f in [
            "config.toml",
            "report.html",
            "frames/tumor_0000.png",
            "project/manifest.json",
            "manifest.json",
        ] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), "{}").unwrap();
        }
        let e = prepare(&d, Kind::Run, &[], Existing::Replace)
            .err()
            .unwrap()
            .to_string();
        for f in [
            "config.toml",
            "report.html",
            "frames",
            "project",
            "manifest.json",
        ] {
            assert!(e.contains(f), "{f}: {e}");
        }
        assert_eq!(
            std::fs::read_to_string(d.join("manifest.json")).unwrap(),
            "{}"
        );
        assert!(d.join("frames/tumor_0000.png").is_file());
    }

    #[test]
    fn a_symlink_is_never_followed_nor_removed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("precious");
        write_manifest(&elsewhere);
        std::fs::write(elsewhere.join("config.toml"), "mine").unwrap();
        let d = dir.path().join("run");
        write_manifest(&d);
        std::os::unix::fs::symlink(&elsewhere, d.join("webapp")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, d.join("frames")).unwrap();
        let e = prepare(&d, Kind::Run, &[], Existing::Replace)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("webapp (a symlink)") && e.contains("frames (a symlink)"),
            "{e}"
        );
        assert!(elsewhere.join("manifest.json").is_file());
        assert!(elsewhere.join("config.toml").is_file());
        assert!(d.join(layout::MANIFEST).is_file());
        // Nor is a folder that is itself a symlink (an arm replaced by one).
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        for existing in [Existing::Replace, Existing::Continue] {
            let e = prepare(&link, Kind::Run, &[], existing)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("is a symlink"), "{e}");
        }
        assert!(elsewhere.join("manifest.json").is_file());
        assert!(!elsewhere.join(LOCK).exists());
        // A run continued (--resume) never writes through a symlinked
        // folder of its layout.
        std::fs::remove_file(d.join("webapp")).unwrap();
        let e = prepare(&d, Kind::Run, &[], Existing::Continue)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("frames") && e.contains("never writes through"),
            "{e}"
        );
    }

    #[test]
    fn a_comparison_owns_only_the_arms_its_record_lists() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("cmp");
        std::fs::create_dir_all(&d).unwrap();
        write_comparison(&d, &["control".into()]).unwrap();
        write_manifest(&d.join("control"));
        std::fs::write(d.join("control").join(LOCK), "pid 1").unwrap();
        std::fs::write(d.join("summary.csv"), "x").unwrap();
        write_manifest(&d.join("mine"));
        let e = prepare(&d, Kind::Comparison, &[], Existing::Replace)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("mine") && !e.contains("control"), "{e}");
        std::fs::remove_dir_all(d.join("mine")).unwrap();
        prepare(&d, Kind::Comparison, &[], Existing::Replace).unwrap();
        assert!(!d.join("control").exists() && !d.join("summary.csv").exists());
    }

    #[test]
    fn continue_needs_a_record_of_the_same_kind() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("c");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("patients.csv"), "mine").unwrap();
        let e = prepare(&d, Kind::Cohort, &[], Existing::Continue)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not an earlier cohort"), "{e}");
        // Empty folders are fine.
        prepare(
            &dir.path().join("new"),
            Kind::Cohort,
            &[],
            Existing::Continue,
        )
        .unwrap();
    }

    #[test]
    fn temporaries_and_per_save_names() {
        assert_eq!(
            temporary_of(".manifest.json.tmp-123"),
            Some("manifest.json")
        );
        assert_eq!(temporary_of(".x.tmp-12a"), None);
        assert!(is_checkpoint_name("step_0000000480.ckpt"));
        assert!(!is_checkpoint_name("step_480.ckpt"));
        assert!(is_per_save_name("tumor_0003.png", "png"));
        assert!(!is_per_save_name("photo.png", "png"));
    }
}
