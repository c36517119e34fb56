//! Virtual trials: patients drawn as the cohort file says, the same patient
//! however the cohort is split, one initial state per patient, shards that
//! merge into the very bytes of a single run, reruns that skip what is
//! finished, clear errors, and the report in a browser.

mod common;

use common::tmesim;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tmesim::cohort::sample::patient;
use tmesim::cohort::spec::{load, CohortSpec};

const SEED_TRIALS: &str = "configs/cohorts/seed_trials.toml";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn seed_trials(overrides: &[&str]) -> CohortSpec {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    load(&repo(SEED_TRIALS), &o).unwrap()
}

/// A quick cohort: three patients, two arms, two days on a 25 x 25 grid,
/// at a 15-min step (these tests are about the cohort machinery; the
/// shipped step is judged by tests/convergence.rs).
const QUICK: &[&str] = &[
    "--set",
    "time.dt_min=15",
    "--set",
    "cohort.patients=3",
    "--set",
    "cohort.arms=[\"anti_pd1\", \"anti_pd1+anti_lag3\"]",
    "--set",
    "cohort.grid_dx_um=100.0",
    "--set",
    "time.end_days=2",
    // A scan every day, confirmation and SD after a day: RECIST reads
    // the two days (the default schedule scans every 8 weeks).
    "--set",
    "cohort.readout.scan_every_weeks=0.14285714285714285",
    "--set",
    "cohort.readout.confirm_weeks=0.14285714285714285",
    "--set",
    "cohort.readout.min_sd_weeks=0.1",
];

fn cohort(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "cohort",
        SEED_TRIALS,
        "--backend",
        "cpu",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(QUICK);
    args.extend(extra);
    tmesim(&args)
}

fn ok(o: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "tmesim failed: {stderr}");
    stderr
}

/// Every file under `dir` (but the lock) with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.file_name().unwrap() != ".tmesim.lock" {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same_folders(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the folders hold different files"
    );
    for (k, v) in &fa {
        assert!(
            *v == fb[k],
            "{} differs between {} and {}",
            k.display(),
            a.display(),
            b.display()
        );
    }
}

#[test]
fn drawn_patients_follow_the_cohort_file() {
    let spec = seed_trials(&["cohort.patients=4000"]);
    let n = spec.cohort.patients;
    let patients: Vec<_> = (0..n).map(|i| patient(&spec, i)).collect();
    let col = |key: &str| {
        let k = spec
            .cohort
            .parameters
            .iter()
            .position(|p| p.key == key)
            .unwrap();
        patients.iter().map(|p| p.values[k]).collect::<Vec<f64>>()
    };
    // Log-normal growth: median 0.1, sigma of the log 0.2.
    let logs: Vec<f64> = col("params.tumor_growth_per_day")
        .iter()
        .map(|x| x.ln())
        .collect();
    let mean = logs.iter().sum::<f64>() / n as f64;
    let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    assert!((mean.exp() - 0.1).abs() < 0.002, "median {}", mean.exp());
    assert!((sd - 0.2).abs() < 0.01, "sigma {sd}");
    // Uniform integers inside their bounds, reaching both ends.
    let counts = col("fields.vessel.initial[0].count");
    assert!(counts
        .iter()
        .all(|c| c.fract() == 0.0 && (45.0..=95.0).contains(c)));
    assert!(counts.contains(&45.0) && counts.contains(&95.0));
    // Normal, truncated to the registry range [0, 1].
    assert!(col("params.wnt_exclusion")
        .iter()
        .all(|x| (0.0..=1.0).contains(x)));
    // Independent draws: growth and vessel count uncorrelated.
    let g = col("params.tumor_growth_per_day");
    let (mg, mc) = (
        g.iter().sum::<f64>() / n as f64,
        counts.iter().sum::<f64>() / n as f64,
    );
    let cov: f64 = g
        .iter()
        .zip(&counts)
        .map(|(a, b)| (a - mg) * (b - mc))
        .sum::<f64>();
    let var = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let r = cov / (var(&g, mg) * var(&counts, mc)).sqrt();
    assert!(r.abs() < 0.05, "correlation {r}");
    // Phenotypes in proportion to their weights.
    for (name, w) in &spec.phenotypes {
        let share = patients.iter().filter(|p| &p.phenotype == name).count() as f64 / n as f64;
        assert!((share - w).abs() < 0.02, "{name}: {share} vs weight {w}");
    }
}

#[test]
fn a_patient_is_the_same_however_the_cohort_is_sized_or_extended() {
    let big = seed_trials(&[]);
    let small = seed_trials(&["cohort.patients=10", "cohort.arms=[\"anti_pd1\"]"]);
    for i in 0..10 {
        assert_eq!(patient(&big, i), patient(&small, i));
    }
    assert_ne!(patient(&big, 0), patient(&big, 1));
    let reseeded = seed_trials(&["cohort.seed=7"]);
    assert_ne!(patient(&big, 0).values, patient(&reseeded, 0).values);
    // Dropping a parameter leaves every other parameter's draws as they were.
    let mut fewer = big.clone();
    fewer.cohort.parameters.remove(0);
    fewer.bounds.remove(0);
    assert_eq!(patient(&big, 3).values[1..], patient(&fewer, 3).values[..]);
}

#[test]
fn every_arm_of_a_patient_starts_from_the_same_state() {
    use tmesim::cohort::patient::{grid_overrides, run_spec};
    use tmesim::config::initial::initial_state;
    let spec = seed_trials(&[]);
    let base = tmesim::sim::scenario::load(&spec.scenario, &[]).unwrap();
    let grid = grid_overrides(&spec, &base);
    for i in [0, 5] {
        let p = patient(&spec, i);
        let states: Vec<_> = spec
            .arms
            .iter()
            .map(|arm| initial_state(&run_spec(&spec, &grid, &p, arm).unwrap().spec).unwrap())
            .collect();
        assert_eq!(
            states[0].grid.nx, 83,
            "the cohort grid of 30 um: 125 x 20 / 30 rounded"
        );
        for s in &states[1..] {
            assert_eq!(s.fields, states[0].fields);
        }
        // And the patient's draws reached the scenario.
        let rs = run_spec(&spec, &grid, &p, &spec.arms[0]).unwrap();
        let k = spec
            .cohort
            .parameters
            .iter()
            .position(|q| q.key == "params.pdl1_max_fold")
            .unwrap();
        assert_eq!(
            rs.spec.params.get("pdl1_max_fold").unwrap(),
            p.values[k] as f32
        );
    }
}

#[test]
fn shards_merge_into_the_bytes_of_a_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    let stderr = ok(&cohort(&single, &[]));
    assert!(
        stderr.contains("6 patient-arm result(s) run now"),
        "{stderr}"
    );
    for name in [
        "patients.csv",
        "arms.csv",
        "pfs.png",
        "waterfall.png",
        "mechanism_map.csv",
        "mechanism_map.png",
        "report.html",
    ] {
        assert!(single.join(name).is_file(), "{name} missing");
    }
    let shards: Vec<PathBuf> = (1..=2)
        .map(|k| tmp.path().join(format!("shard{k}")))
        .collect();
    for (k, dir) in shards.iter().enumerate() {
        let shard = format!("{}/2", k + 1);
        ok(&cohort(dir, &["--shard", &shard]));
        assert!(
            !dir.join("arms.csv").exists(),
            "a shard writes no cohort tables"
        );
    }
    // Shard 1 of 2 holds patients 0 and 2, shard 2 patient 1.
    assert!(shards[0].join("records/p000002").is_dir());
    assert!(
        shards[1].join("records/p000001").is_dir() && !shards[1].join("records/p000000").exists()
    );
    let merged = tmp.path().join("merged");
    let mut args = vec!["cohort", "merge"];
    args.extend(shards.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    ok(&tmesim(&args));
    assert_same_folders(&single, &merged);
    // A missing shard is named, not silently dropped.
    let partial = tmp.path().join("partial");
    let o = tmesim(&[
        "cohort",
        "merge",
        shards[0].to_str().unwrap(),
        "--out",
        partial.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("lacks 2 result(s): patient 1 on anti_pd1"),
        "{stderr}"
    );
}

#[test]
fn a_rerun_runs_only_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    ok(&cohort(&out, &[]));
    let before = files(&out);
    // A crash that lost one result: only that one runs again.
    std::fs::remove_file(out.join("records/p000001/anti_pd1+anti_lag3.csv")).unwrap();
    let stderr = ok(&cohort(&out, &[]));
    assert!(
        stderr.contains("1 patient-arm result(s) run now, 5 kept"),
        "{stderr}"
    );
    assert_same_folders_map(&before, &files(&out));
    // A bigger cohort in the same folder runs only the new patient.
    let stderr = ok(&cohort(&out, &["--set", "cohort.patients=4"]));
    assert!(
        stderr.contains("2 patient-arm result(s) run now, 6 kept"),
        "{stderr}"
    );
    // Results of another scenario are refused, not mixed in.
    let o = cohort(&out, &["--set", "params.kill_rate_per_day=2.0"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("from another scenario"),
        "{stderr}"
    );
    ok(&cohort(
        &out,
        &["--set", "params.kill_rate_per_day=2.0", "--force"],
    ));
}

fn assert_same_folders_map(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in a {
        assert!(*v == b[k], "{} changed", k.display());
    }
}

#[test]
fn bad_cohorts_get_errors_that_name_the_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "cohort.phenotypes.mdsc_rihc=1.0"], "mdsc_rich"),
        (
            &["--set", "cohort.patients=0"],
            "`cohort.patients` = 0 is outside the allowed range [1, 100000]",
        ),
        (
            &["--set", "cohort.arms=[\"anti_pd1\", \"anti_pd2\"]"],
            "cohort.arms[1]",
        ),
        (
            &["--set", "cohort.reference=\"anti_lag3\""],
            "`cohort.reference`: `anti_lag3` is not one of the arms",
        ),
        (
            &["--set", "cohort.parameter[0].sigma=-1.0"],
            "`cohort.parameter[0].sigma`: -1 must be 0 or more",
        ),
        (
            &[
                "--set",
                "cohort.parameter[0].key=\"params.tumour_growth_per_day\"",
            ],
            "did you mean `params.tumor_growth_per_day`",
        ),
        (
            &["--set", "cohort.parameter[0].median=40.0"],
            "inside the bounds",
        ),
        (
            &["--set", "cohort.parameter[0].dist=\"gamma\""],
            "\"gamma\" is not a valid value",
        ),
        (&["--set", "cohort.patience=3"], "unknown key `patience`"),
        (
            &["--set", "cohort.parameter[13].min=5.0"],
            "`cohort.parameter[13].min`: `lesion.sum_mm` must stay at 10 mm or more: RECIST 1.1",
        ),
        (
            &["--set", "cohort.parameter[13].key=\"lesion.size_mm\""],
            "is no lesion draw (did you mean `lesion.sum_mm`?)",
        ),
        (
            &["--set", "cohort.parameter[13].key=\"lesion.count\""],
            "`lesion.count` draws the number of target lesions: give `integer = true`",
        ),
        (
            &["--set", "cohort.readout.first_scan_weeks=30.0"],
            "`cohort.readout.first_scan_weeks`: no scan falls within the follow-up of 24 weeks",
        ),
        (
            &["--set", "cohort.readout.scan_every_weeks=0.0"],
            "`cohort.readout.scan_every_weeks` = 0 is outside the allowed range",
        ),
        (
            &["--set", "cohort.figure=[{arm = \"anti_pd1\", measure = \"orr_pct\", value = 40.0, patients = 10, source = \"x\"}]"],
            "`cohort.trial`: is missing",
        ),
        (&["--shard", "3/2"], "`3/2` is not K/N"),
        (&["--set", "grid.dx_um=-5.0"], "grid.dx_um"),
    ];
    for (args, expect) in cases {
        let o = cohort(&out, args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(
            stderr.contains(expect),
            "{args:?}: expected `{expect}` in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        if !args.contains(&"--shard") {
            assert!(
                stderr.contains("seed_trials.toml"),
                "{args:?}: the file is not named: {stderr}"
            );
        }
    }
}

/// A trial's cohort file: its figures need a source, a known arm and a
/// value in range, each refused with the file and key named.
#[test]
fn bad_trial_figures_get_errors_that_name_the_file_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "cohort.figure[0].source=\"  \"",
            "`cohort.figure[0].source`: is empty: every clinical figure names the publication",
        ),
        (
            "cohort.figure[1].arm=\"anti_pd1+bevacizumab\"",
            "`cohort.figure[1].arm`: `anti_pd1+bevacizumab` is not one of the cohort's arms",
        ),
        ("cohort.figure[0].measure=\"orr\"", "orr_pct"),
        (
            "cohort.figure[0].value=120.0",
            "`cohort.figure[0].value` = 120 is outside the allowed range [0, 100]",
        ),
        (
            "cohort.trial.source=\"\"",
            "`cohort.trial.source`: is empty",
        ),
        ("cohort.extends=\"no_such.toml\"", "no_such.toml"),
    ];
    for (set, expect) in cases {
        let o = tmesim(&["check", "configs/cohorts/pembro_rt.toml", "--set", set]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{set} was accepted");
        assert!(
            stderr.contains(expect),
            "{set}: expected `{expect}` in: {stderr}"
        );
        assert!(
            stderr.contains("pembro_rt.toml"),
            "{set}: the file is not named: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Every trial file of configs/cohorts checks.
    for f in std::fs::read_dir(repo("configs/cohorts")).unwrap() {
        let p = f.unwrap().path();
        let o = tmesim(&["check", p.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// patients.csv as rows of (column, cell).
fn patient_rows(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("patients.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            head.iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

/// `tmesim cohort FILE` into `out` on `backend`, quiet, at a 15-min step,
/// with `extra` arguments after.
fn cohort_run(file: &str, out: &Path, backend: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "cohort",
        file,
        "--backend",
        backend,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "time.dt_min=15",
    ];
    args.extend(extra);
    tmesim(&args)
}

/// Six weeks on the 100 um grid, scans every two weeks: patient 1
/// (mdsc_rich) progresses at the 4-week scan.
const SIX_WEEKS: &[&str] = &[
    "--set",
    "cohort.grid_dx_um=100.0",
    "--set",
    "time.end_days=42",
    "--set",
    "cohort.readout.scan_every_weeks=2",
];

/// Rewrite the run fingerprint (the last cell of the second line) of every
/// record under the cohort folder `dir`, as a later build with the same
/// model would have written them: their region fingerprint stays.
fn as_another_build(dir: &Path) {
    for rel in files(&dir.join("records")).into_keys() {
        let path = dir.join("records").join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let cut = lines[1].rfind(',').unwrap();
        lines[1] = format!("{},0123456789abcdef", &lines[1][..cut]);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
}

/// A region stops once its reading is settled (here, at progression) and
/// every RECIST column is what the region run to the end of follow-up
/// gives.
#[test]
fn a_region_stops_at_progression_and_the_trial_reads_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, backend: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let two = [
            "--set",
            "cohort.patients=2",
            "--set",
            "cohort.arms=[\"anti_pd1\"]",
        ];
        ok(&cohort_run(
            SEED_TRIALS,
            &out,
            backend,
            &[&two, SIX_WEEKS, extra].concat(),
        ));
        patient_rows(&out)
    };
    let stopped = run("stopped", "cpu", &[]);
    let whole = run("whole", "cpu", &["--set", "cohort.readout.run_to_end=true"]);
    assert_eq!(stopped.len(), 2);
    for (s, w) in stopped.iter().zip(&whole) {
        for col in [
            "recist",
            "best_change_pct",
            "best_day",
            "progression_day",
            "pfs_days",
            "censored",
            "scan_sums_mm",
        ] {
            assert_eq!(s[col], w[col], "{col} of patient {}", s["patient"]);
        }
        assert_eq!(w["region_end_day"], "42");
    }
    // Patient 1 (mdsc_rich) progresses at the 4-week scan, where its
    // region stops; patient 0 runs on.
    assert_eq!(stopped[1]["progression_day"], "28");
    assert_eq!(stopped[1]["region_end_day"], "28");
    assert_eq!(stopped[1]["scan_sums_mm"].split(';').count(), 3);
    assert_eq!(stopped[0]["progression_day"], "");
    assert_eq!(stopped[0]["region_end_day"], "42");
    // On the GPU the two patients share one batch, which runs until both
    // have settled; each keeps only its own saves.
    let probe = tmesim::sim::scenario::load(
        &repo("configs/baseline.toml"),
        &["grid.nx=8".into(), "grid.ny=8".into()],
    )
    .unwrap();
    if common::gpu(&probe).is_none() {
        return;
    }
    let gpu = run("gpu", "gpu", &["--batch", "2"]);
    for (c, g) in stopped.iter().zip(&gpu) {
        for col in ["recist", "progression_day", "region_end_day"] {
            assert_eq!(
                c[col], g[col],
                "{col} of patient {} on the GPU",
                c["patient"]
            );
        }
        let (a, b): (f64, f64) = (
            c["best_change_pct"].parse().unwrap(),
            g["best_change_pct"].parse().unwrap(),
        );
        assert!(
            (a - b).abs() < 0.05,
            "best change {a} on the CPU, {b} on the GPU"
        );
    }
}

/// A rerun into the same folder with another readout (here the scan
/// schedule), or by a later build with the same model, reads its kept
/// regions again: nothing runs, and every file is a fresh run's.
#[test]
fn a_rerun_with_another_readout_reads_its_kept_regions_again() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, weeks: &str| {
        let out = tmp.path().join(name);
        let every = format!("cohort.readout.scan_every_weeks={weeks}");
        let extra = [
            "--set",
            "cohort.patients=2",
            "--set",
            "cohort.arms=[\"anti_pd1\"]",
            "--set",
            "cohort.readout.run_to_end=true",
        ];
        // The last --set of the schedule wins over SIX_WEEKS'.
        let o = cohort_run(
            SEED_TRIALS,
            &out,
            "cpu",
            &[SIX_WEEKS, &extra, &["--set", &every]].concat(),
        );
        (out, ok(&o))
    };
    let (kept, _) = run("kept", "2");
    let (_, said) = run("kept", "3");
    assert!(said.contains("0 patient-arm result(s) run now"), "{said}");
    let (fresh, _) = run("fresh", "3");
    assert_same_folders(&kept, &fresh);
    // As if a later build (same model, another readout code) had written
    // them: the rerun reads them again and writes this build's records.
    as_another_build(&kept);
    let (_, said) = run("kept", "3");
    assert!(said.contains("0 patient-arm result(s) run now"), "{said}");
    assert_same_folders(&kept, &fresh);
}

/// A trial that redraws only the lesions (RELATIVITY-047) reads the seed
/// trials' regions again and writes the very files of a trial run; a
/// folder of another scenario (grid) is not read.
#[test]
fn a_trial_reads_the_seed_trials_regions_again_and_writes_what_a_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    // SIX_WEEKS on the 100 um grid; a later --set of the grid wins.
    let run = |file: &str, name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let three = ["--set", "cohort.patients=3"];
        let said = ok(&cohort_run(
            file,
            &out,
            "cpu",
            &[&three, SIX_WEEKS, extra].concat(),
        ));
        (out, said)
    };
    let both = "cohort.arms=[\"anti_pd1\", \"anti_pd1+anti_lag3\"]";
    // The seed's regions run to the end: the trial cuts each where its own
    // reading settles, as its run would have.
    let whole = ["--set", both, "--set", "cohort.readout.run_to_end=true"];
    let (seed, _) = run(SEED_TRIALS, "seed", &whole);
    let trial = "configs/cohorts/relativity047.toml";
    let (direct, _) = run(trial, "direct", &[]);
    // As another build would have written them (another readout, the same
    // model): every record's run fingerprint differs, its region's not.
    as_another_build(&seed);
    let from_seed = ["--regions", seed.to_str().unwrap()];
    let (reread, said) = run(trial, "reread", &from_seed);
    assert!(
        said.contains("0 patient-arm result(s) run now, 6 read"),
        "{said}"
    );
    assert_same_folders(&direct, &reread);
    // The seed trials on another grid: another scenario, so every
    // patient-arm runs.
    let (other, _) = run(
        SEED_TRIALS,
        "other",
        &["--set", "cohort.grid_dx_um=125.0", "--set", both],
    );
    let from_other = ["--regions", other.to_str().unwrap()];
    let (_, said) = run(trial, "rerun", &from_other);
    assert!(
        said.contains("6 patient-arm result(s) run now, 0 read"),
        "{said}"
    );
    // A folder that is not a cohort's is refused before anything runs.
    let typo = tmp.path().join("seeed");
    let o = tmesim(&[
        "cohort",
        trial,
        "--regions",
        typo.to_str().unwrap(),
        "--out",
        tmp.path().join("typo").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--regions") && err.contains("seeed") && err.contains("not a cohort folder"),
        "{err}"
    );
    assert!(!tmp.path().join("typo").exists(), "nothing written");
}

/// scripts/fit_phenotype_mix.py anchors a trial's mix on its control
/// arm's published ORR, read from the trial file (through `extends`), and
/// refuses a pilot that lacks a phenotype of the mix or a figure without
/// a source.
#[test]
fn a_trial_is_anchored_on_its_control_arm_by_the_fit_script() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let others = ["cold", "hot_treg", "m2"];
    let mut mix =
        String::from("[cohort]\narms = [\"anti_pd1\"]\n[cohort.phenotypes]\nresponsive = 1\n");
    for p in others {
        mix += &format!("{p} = 1\n");
    }
    std::fs::write(dir.join("base.toml"), mix).unwrap();
    let trial = |source: &str| {
        format!(
            "[cohort]\nextends = \"base.toml\"\n[[cohort.figure]]\narm = \"anti_pd1\"\n\
             measure = \"orr_pct\"\nvalue = 40.0\nlow = 35.0\nhigh = 45.0\npatients = 300\n{source}"
        )
    };
    std::fs::write(dir.join("trial.toml"), trial("source = \"a trial\"\n")).unwrap();
    std::fs::write(dir.join("unsourced.toml"), trial("")).unwrap();
    // Pilot: responsive 3 of 4 respond, every other phenotype 1 of 4.
    let mut csv = String::from("patient,phenotype,arm,responder\n");
    let mut i = 0;
    for (p, yes) in [("responsive", 3)]
        .into_iter()
        .chain(others.map(|p| (p, 1)))
    {
        for k in 0..4 {
            csv += &format!("{i},{p},anti_pd1,{}\n", u8::from(k < yes));
            i += 1;
        }
    }
    let pilot = dir.join("patients.csv");
    std::fs::write(&pilot, &csv).unwrap();
    let fit_with = |file: &str, pilot: &Path, flags: &[&str]| {
        std::process::Command::new("python3")
            .args([
                "scripts/fit_phenotype_mix.py",
                pilot.to_str().unwrap(),
                "--trial",
            ])
            .arg(dir.join(file))
            .args(flags)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("python3 (CI installs it)")
    };
    let fit = |file: &str, pilot: &Path| fit_with(file, pilot, &[]);
    let stdout = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // The tilt (default): w_p ~ exp(lambda r_p) over the file's equal mix.
    // With the others alike, (0.75 x + 0.75) / (x + 3) = 0.40 for
    // x = exp(lambda / 2) = 9 / 7: lambda = 0.503 and the responsive share
    // x / (x + 3) = 0.3, the share method's mix.
    let text = stdout(&fit("trial.toml", &pilot));
    assert!(text.contains("lambda = 0.503"), "{text}");
    assert!(
        text.contains("responsive = 30.0") && text.contains("cold = 23.33"),
        "{text}"
    );
    let text = stdout(&fit_with("trial.toml", &pilot, &["--method", "share"]));
    // s * 0.75 + (1 - s) * 0.25 = 0.40: s = 0.3, the others 70 / 3 each.
    assert!(text.contains("s = 0.300"), "{text}");
    assert!(
        text.contains("responsive = 30.0") && text.contains("cold = 23.33"),
        "{text}"
    );
    assert!(
        text.contains("s = 0.200 to 0.400"),
        "the published interval: {text}"
    );
    // Resistant phenotypes that respond unlike each other: responsive and
    // hot_treg 4 of 4, m2 2 of 4, cold 0 of 4. No responsive share brings
    // the ORR below the others' mean, 50%; the tilt reaches 37.5% with
    // y = exp(lambda / 2) solving (2 y^2 + y / 2) / (2 y^2 + y + 1) = 0.375,
    // y = 0.5: cold 1 / 2, m2 y / 2 = 1/4, the other two y^2 / 2 = 1/8.
    std::fs::write(
        dir.join("uneven.toml"),
        trial("source = \"a trial\"\n").replace("value = 40.0", "value = 37.5"),
    )
    .unwrap();
    let mut uneven = String::from("patient,phenotype,arm,responder\n");
    for (i, (p, yes)) in [("responsive", 4), ("hot_treg", 4), ("m2", 2), ("cold", 0)]
        .into_iter()
        .flat_map(|(p, yes)| (0..4).map(move |k| (p, k < yes)))
        .enumerate()
    {
        uneven += &format!("{i},{p},anti_pd1,{}\n", u8::from(yes));
    }
    let uneven_pilot = dir.join("uneven.csv");
    std::fs::write(&uneven_pilot, uneven).unwrap();
    let text = stdout(&fit("uneven.toml", &uneven_pilot));
    assert!(
        text.contains("cold = 50.0")
            && text.contains("m2 = 25.0")
            && text.contains("responsive = 12.5")
            && text.contains("expected ORR 37.5%"),
        "{text}"
    );
    let text = stdout(&fit_with(
        "uneven.toml",
        &uneven_pilot,
        &["--method", "share"],
    ));
    assert!(text.contains("out of reach"), "{text}");
    let o = fit("unsourced.toml", &pilot);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no source"));
    let without_m2: String = csv
        .lines()
        .filter(|l| !l.contains(",m2,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let partial = dir.join("partial.csv");
    std::fs::write(&partial, without_m2).unwrap();
    let o = fit("trial.toml", &partial);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no patient of m2"));
}

/// A trial with radiotherapy: the trial's figures beside the model's in
/// trial.csv, the unirradiated lesions read as the arm's response and the
/// irradiated one apart, on the CPU.
#[test]
fn a_radiotherapy_trial_reads_both_lesions_and_sets_its_figures_beside_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rt");
    let mut args = vec![
        "cohort",
        "configs/cohorts/pembro_rt.toml",
        "--backend",
        "cpu",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    // QUICK's pairs but its arms: the trial's own arms run.
    for pair in QUICK.chunks(2) {
        if !pair[1].starts_with("cohort.arms") {
            args.extend(pair);
        }
    }
    args.extend([
        "--set",
        "time.end_days=10",
        "--set",
        "cohort.patients=2",
        "--set",
        "cohort.readout.first_scan_weeks=0.14285714285714285",
    ]);
    ok(&tmesim(&args));
    let patients = std::fs::read_to_string(out.join("patients.csv")).unwrap();
    let mut lines = patients.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let irradiated = r[col("arm")] == "anti_pd1+radiotherapy";
        assert_eq!(!r[col("infield_recist")].is_empty(), irradiated, "{r:?}");
        // Ten daily scans after baseline.
        assert_eq!(r[col("scan_sums_mm")].split(';').count(), 11, "{r:?}");
    }
    // The irradiated lesion shrinks more than the unirradiated ones: the
    // dose kills inside the field only.
    for r in rows
        .iter()
        .filter(|r| r[col("arm")] == "anti_pd1+radiotherapy")
    {
        let infield: f64 = r[col("infield_best_change_pct")].parse().unwrap();
        let targets: f64 = r[col("best_change_pct")].parse().unwrap();
        assert!(
            infield < targets - 5.0,
            "in-field {infield}%, targets {targets}%"
        );
    }
    let trial = std::fs::read_to_string(out.join("trial.csv")).unwrap();
    assert!(
        trial.contains("anti_pd1+radiotherapy,orr_pct,36,,,36,"),
        "{trial}"
    );
    assert_eq!(trial.lines().count(), 7, "{trial}");
    // trial.png: a panel for ORR and one for median PFS, two rows each
    // (overall survival is not modelled, so not drawn): 2 x 70 + 4 x 34 +
    // 40 pixels high.
    let png = image::open(out.join("trial.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1000, 2 * 70 + 4 * 34 + 40));
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("PEMBRO-RT") && report.contains("trial.csv"));
    assert!(
        report.contains("trial.png"),
        "the report shows the trial chart"
    );
}

#[test]
fn cohort_report_loads_in_a_headless_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    ok(&cohort(&out, &[]));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("ORR"), "{html}");
    let Some((result, stderr)) = common::browser::load_report(&out) else {
        return;
    };
    assert_eq!(result["images"].as_u64(), Some(3), "{result}");
    common::browser::assert_clean(&result, &stderr);
}

/// Whether snakemake is on PATH; where it is not, fails when CI or
/// TMESIM_REQUIRE_SNAKEMAKE requires it and says the test skipped.
fn snakemake_found() -> bool {
    let found = std::process::Command::new("snakemake")
        .arg("--version")
        .output();
    if found.as_ref().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        !common::required("TMESIM_REQUIRE_SNAKEMAKE"),
        "snakemake is required (CI or TMESIM_REQUIRE_SNAKEMAKE is set) but not found: pip install snakemake"
    );
    eprintln!(
        "skipped: no snakemake on PATH (set TMESIM_REQUIRE_SNAKEMAKE=1 to make this an error)"
    );
    false
}

#[test]
fn the_snakemake_workflow_writes_what_one_process_writes() {
    if !snakemake_found() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    ok(&cohort(&single, &["--set", "cohort.patients=4"]));
    let merged = tmp.path().join("merged");
    // The issue's interface, with the quick cohort's overrides in `set`.
    let sets: Vec<&str> = QUICK
        .iter()
        .copied()
        .filter(|a| *a != "--set" && !a.starts_with("cohort.patients"))
        .collect();
    let o = std::process::Command::new("snakemake")
        .current_dir(tmp.path())
        .args([
            "-s",
            repo("workflow/Snakefile").to_str().unwrap(),
            "--cores",
            "2",
            "--config",
        ])
        .arg(format!("cohort={}", repo(SEED_TRIALS).display()))
        .args(["patients=4", "shards=2"])
        .arg(format!("out={}", merged.display()))
        .arg(format!("tmesim={}", env!("CARGO_BIN_EXE_tmesim")))
        .arg(format!("set={}", sets.join(";")))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "snakemake failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        tmp.path().join("merged.shards/2/records/p000003").is_dir(),
        "shard 2 ran patients 1 and 3"
    );
    assert_same_folders(&single, &merged);
}

/// The small campaign of the workflow tests: 70 days on the 100 um grid,
/// scans every 2 weeks, so that responses appear and a mix can be fitted;
/// two phenotypes, so that six patients hold both.
const SMALL_CAMPAIGN: &[&str] = &[
    "time.dt_min=15",
    "cohort.grid_dx_um=100.0",
    "time.end_days=70",
    "cohort.readout.scan_every_weeks=2",
    "cohort.readout.confirm_weeks=2",
    "cohort.phenotypes={responsive=1.0, mdsc_rich=1.0}",
];

/// Snakemake on `workflow/<file>` in `dir` with `flags`, this build's
/// tmesim, the small campaign's settings and the further `config` words.
fn small_campaign(
    dir: &Path,
    file: &str,
    flags: &[&str],
    config: &[String],
) -> std::process::Output {
    std::process::Command::new("snakemake")
        .current_dir(dir)
        .args(flags)
        .arg("-s")
        .arg(repo(&format!("workflow/{file}")))
        .arg("--config")
        .arg(format!("tmesim={}", env!("CARGO_BIN_EXE_tmesim")))
        .arg(format!("set={}", SMALL_CAMPAIGN.join(";")))
        .args(config)
        .output()
        .unwrap()
}

/// workflow/validation.smk in small: the seed trials, two trial files read
/// from them (only KEYNOTE-061's paclitaxel-alone arm runs), each anchored
/// on its control arm by weighting its patients (nothing new runs), and
/// one table of every figure.
#[test]
fn the_validation_workflow_reads_the_seed_trials_and_anchors_each_trial() {
    if !snakemake_found() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("validation");
    let campaign = |out: &Path, extra: &[String]| {
        let mut config = vec![format!("out={}", out.display())];
        config.extend_from_slice(extra);
        small_campaign(tmp.path(), "validation.smk", &["--cores", "2"], &config)
    };
    let o = campaign(
        &out,
        &[
            "patients=6".into(),
            "trials=relativity047;keynote061".into(),
        ],
    );
    assert!(
        o.status.success(),
        "snakemake failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log = |name: &str| std::fs::read_to_string(out.join("logs").join(name)).unwrap();
    // Every region of RELATIVITY-047 is the seed trials' own.
    assert!(log("trial_relativity047.log").contains("0 patient-arm result(s) run now, 12 read"));
    // KEYNOTE-061's paclitaxel alone is not a seed arm: it runs.
    assert!(log("trial_keynote061.log").contains("6 patient-arm result(s) run now, 12 read"));
    let fit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("anchor/relativity047.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(fit["fitted"], true, "{fit}");
    assert_eq!(fit["reachable"], true, "{fit}");
    let lambda = fit["param"].as_f64().unwrap();
    let table = std::fs::read_to_string(out.join("validation.md")).unwrap();
    // One row per figure, then the fitted mixes: the file's, and the one
    // anchored trial's.
    let figures = table.lines().take_while(|l| !l.is_empty()).count();
    assert_eq!(figures, 2 + 12, "{table}");
    assert!(
        table.contains(&format!("tilt lambda {lambda:.3}")),
        "{table}"
    );
    assert!(
        table.contains("| relativity047 | file |")
            && table.contains("| relativity047 | anchored |"),
        "{table}"
    );
    // The anchored trial is read on weighted patients: its control arm's
    // ORR is the published figure it was anchored on.
    let csv = std::fs::read_to_string(out.join("validation.csv")).unwrap();
    let control = csv
        .lines()
        .find(|l| l.starts_with("relativity047,nivolumab,orr_pct,"))
        .or_else(|| {
            csv.lines()
                .find(|l| l.starts_with("relativity047,anti_pd1,orr_pct,"))
        })
        .unwrap_or_else(|| panic!("the control arm's ORR row: {csv}"));
    let cells: Vec<&str> = control.split(',').collect();
    let (published, model): (f64, f64) = (cells[3].parse().unwrap(), cells[7].parse().unwrap());
    assert!(
        (published - model).abs() < 0.01,
        "weighted control ORR {model} against the anchor {published}: {control}"
    );
    // A smaller campaign reads the first patients of this one's seed
    // trials (config seed=DIR): nothing runs.
    let small = tmp.path().join("small");
    let seed = format!("seed={}", out.join("seed").display());
    let o = campaign(
        &small,
        &["patients=4".into(), "trials=relativity047".into(), seed],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = std::fs::read_to_string(small.join("logs/trial_relativity047.log")).unwrap();
    assert!(
        log.contains("0 patient-arm result(s) run now, 8 read"),
        "{log}"
    );
    assert!(!small.join("seed").exists(), "no seed step of its own");
    let o = campaign(&small, &["seed=nowhere".into()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("seed=nowhere: not a cohort folder"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// scripts/validation_table.py: the model's 90% predictive interval at a
/// trial's size, on a synthetic cohort whose answer is known.
#[test]
fn the_validation_table_gives_predictive_intervals_at_the_trials_size() {
    let tmp = tempfile::tempdir().unwrap();
    let trial = tmp.path().join("trials/synthetic");
    std::fs::create_dir_all(&trial).unwrap();
    // 40 virtual patients on one arm: 12 responders (30%); progression on
    // day 10 k for patient k < 20, the rest censored at day 400, so the
    // Kaplan-Meier median is day 200 (6.57 months).
    let mut csv = String::from("patient,phenotype,arm,recist,responder,pfs_days,censored\n");
    for k in 0..40 {
        let (pfs, censored) = if k < 20 { (10 * (k + 1), 0) } else { (400, 1) };
        let (recist, yes) = if k % 10 < 3 { ("PR", 1) } else { ("SD", 0) };
        csv += &format!("{k},x,a,{recist},{yes},{pfs},{censored}\n");
        // Arm z: nobody progresses within 168 days of follow-up.
        csv += &format!("{k},x,z,SD,0,168,1\n");
    }
    std::fs::write(trial.join("patients.csv"), csv).unwrap();
    let head = "arm,measure,published,published_low,published_high,published_patients,model,model_low,model_high,source\n";
    std::fs::write(
        trial.join("trial.csv"),
        format!(
            "{head}a,orr_pct,32.6,,,300,30.0,17.9,45.8,\"s\"\na,orr_pct,50.0,,,300,30.0,17.9,45.8,\"s\"\n\
             a,median_pfs_months,6.5,,,300,6.57,,,\"s\"\na,median_os_months,20.0,,,300,,,,\"s\"\n\
             z,median_pfs_months,10.1,,,300,,,,\"s\"\nz,median_pfs_months,4.6,,,300,,,,\"s\"\n"
        ),
    )
    .unwrap();
    let o = std::process::Command::new("python3")
        .args(["scripts/validation_table.py"])
        .arg(tmp.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 (CI installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(tmp.path().join("validation.csv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let (lo, hi): (f64, f64) = (rows[0][11].parse().unwrap(), rows[0][12].parse().unwrap());
    // Beta(12.5, 28.5) then 300 patients: sd about 7.6 points, so the 90%
    // interval is about 30 +- 12.5.
    assert!(
        (15.0..20.5).contains(&lo) && (39.5..45.0).contains(&hi),
        "{lo}-{hi}"
    );
    assert_eq!(rows[0][13], "yes", "32.6% lies inside");
    assert_eq!(rows[1][13], "no", "50% lies outside");
    let (lo, hi): (f64, f64) = (rows[2][11].parse().unwrap(), rows[2][12].parse().unwrap());
    assert!(
        lo < 6.57 && 6.57 < hi,
        "the median's interval {lo}-{hi} holds the cohort's"
    );
    assert_eq!(rows[3][11], "", "overall survival is not modelled");
    // Not reached in 168 days: a published 10.1 months lies beyond the
    // follow-up, a published 4.6 months is a miss.
    assert_eq!(rows[4][13], "beyond follow-up");
    assert_eq!(rows[5][13], "no");
}

/// scripts/validation_table.py reads an anchored trial on patients
/// weighted to the fitted mix: ORR and the Kaplan-Meier median of a
/// synthetic cohort whose weighted figures are known.
#[test]
fn the_validation_table_weights_an_anchored_trial_to_its_fitted_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let trial = tmp.path().join("trials/synthetic");
    std::fs::create_dir_all(&trial).unwrap();
    std::fs::create_dir_all(tmp.path().join("anchor")).unwrap();
    // Four patients of each phenotype. Control arm c: hot 3 of 4 respond,
    // cold 1 of 4. Arm b: hot 4 of 4, cold 2 of 4. The hot never progress;
    // the cold progress on days 10, 20, 30 and 40.
    let mut csv = String::from("patient,phenotype,arm,recist,responder,pfs_days,censored\n");
    for k in 0..8 {
        let hot = k < 4;
        let (pfs, censored) = if hot { (400, 1) } else { (10 * (k - 3), 0) };
        for (arm, yes) in [("c", if hot { k < 3 } else { k == 4 }), ("b", hot || k < 6)] {
            let recist = if yes { "PR" } else { "PD" };
            let phenotype = if hot { "hot" } else { "cold" };
            csv += &format!(
                "{k},{phenotype},{arm},{recist},{},{pfs},{censored}\n",
                u8::from(yes)
            );
        }
    }
    std::fs::write(trial.join("patients.csv"), csv).unwrap();
    let head = "arm,measure,published,published_low,published_high,published_patients,model,model_low,model_high,source\n";
    std::fs::write(
        trial.join("trial.csv"),
        format!(
            "{head}c,orr_pct,40.0,,,300,50.0,21.5,78.5,\"s\"\nb,orr_pct,60.0,,,300,75.0,40.9,92.9,\"s\"\n\
             c,median_pfs_months,1.0,,,300,1.31,,,\"s\"\n"
        ),
    )
    .unwrap();
    // s * 0.75 + (1 - s) * 0.25 = 0.40: the hot share is 0.3.
    std::fs::write(
        tmp.path().join("anchor/synthetic.json"),
        r#"{"fitted": true, "method": "share", "arm": "c", "target_pct": 40.0, "param": 0.3,
            "reachable": true, "reference": "hot", "prior": {"hot": 0.5, "cold": 0.5},
            "mix": {"hot": 0.3, "cold": 0.7}}"#,
    )
    .unwrap();
    let table = |extra: &[&str]| {
        let o = std::process::Command::new("python3")
            .args(["scripts/validation_table.py", "--draws", "300"])
            .arg(tmp.path())
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("python3 (CI installs it)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(tmp.path().join("validation.csv")).unwrap();
        let mut lines = text.lines();
        let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
        lines
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                head.iter()
                    .cloned()
                    .zip(c.iter().map(|x| x.to_string()))
                    .collect::<std::collections::HashMap<_, _>>()
            })
            .collect::<Vec<_>>()
    };
    let rows = table(&[]);
    let value = |r: usize, k: &str| -> f64 { rows[r][k].parse().unwrap() };
    // Weighted: 0.3 * 0.75 + 0.7 * 0.25 = 40% on c; 0.3 * 1 + 0.7 * 0.5 =
    // 65% on b (75% as drawn).
    assert!((value(0, "model") - 40.0).abs() < 1e-9, "{:?}", rows[0]);
    assert!((value(1, "model") - 65.0).abs() < 1e-9, "{:?}", rows[1]);
    assert_eq!(rows[1]["model_as_drawn"], "75.0");
    // Hot patients weigh 0.6 each, cold 1.4: the Kaplan-Meier curve falls
    // to 0.825, 0.650, 0.475 on days 10, 20, 30 (unweighted it reaches
    // 0.5 on day 40).
    assert!(
        (value(2, "model") - 30.0 / 30.4375).abs() < 0.01,
        "{:?}",
        rows[2]
    );
    // Kish: 8^2 / (4 * 0.36 + 4 * 1.96) = 6.9 effective patients.
    assert_eq!(rows[0]["effective_patients"], "6.9");
    for (r, row) in rows.iter().enumerate() {
        let (lo, hi) = (value(r, "model_pi90_low"), value(r, "model_pi90_high"));
        assert!(
            lo <= value(r, "model") && value(r, "model") <= hi,
            "{row:?}"
        );
    }
    // The control arm's ORR is what the anchor fitted: not scored.
    assert_eq!(rows[0]["published_in_pi90"], "anchored");
    assert_eq!(rows[1]["published_in_pi90"], "yes");
    // Arm b's interval holds the sampling of the cohort and of the anchor.
    assert!(
        value(1, "model_high") - value(1, "model_low") > 10.0,
        "{:?}",
        rows[1]
    );
    // Unweighted, the same cohort reads as drawn.
    let rows = table(&["--no-anchors"]);
    assert_eq!(rows[1]["model"], "75.0");
    assert_eq!(rows[1]["anchor"], "");
}

/// A trial file with one arm's published ORR (value, size, source).
fn trial_file(dir: &Path, name: &str, figures: &[(&str, f64, u32)], source: &str) {
    let mut text = String::from("[cohort]\narms = [\"anti_pd1\"]\nreference = \"anti_pd1\"\n");
    for (arm, value, n) in figures {
        text += &format!(
            "[[cohort.figure]]\narm = \"{arm}\"\nmeasure = \"orr_pct\"\nvalue = {value}\n\
             patients = {n}\n{source}\n"
        );
    }
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

fn trial_calibration(args: &[&str]) -> std::process::Output {
    std::process::Command::new("python3")
        .arg("scripts/trial_calibration.py")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// scripts/trial_calibration.py's fit on figures whose truth is known: two
/// figures linear in log2 of one parameter, published at its value 2.
/// The posterior holds 2 and is narrower than the prior; the training
/// figure and the held-out figure made at 2 lie inside their 90%
/// predictive intervals; a held-out figure the model cannot reach does not.
#[test]
fn the_trial_fit_recovers_the_parameter_that_made_the_figures() {
    if !common::python_with(&["sklearn", "scipy"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let train = |x: f64| 30.0 + 10.0 * x.log2();
    let held = |x: f64| 50.0 - 8.0 * x.log2();
    trial_file(dir, "a", &[("anti_pd1", train(2.0), 300)], "source = \"a\"");
    trial_file(
        dir,
        "b",
        &[("anti_pd1", held(2.0), 300), ("anti_pd1+x", 95.0, 300)],
        "source = \"b\"",
    );
    let config = dir.join("cal.toml");
    std::fs::write(
        &config,
        format!(
            "[calibration]\ncohorts = \"{}\"\npatients = 40\npoints = 9\nseed = 2\nsamples = 4000\n\
             [[calibration.parameter]]\nkey = \"params.lag3_inhibition\"\nmin = 0.25\nmax = 8.0\nlog = true\n\
             [[calibration.figure]]\ntrial = \"a\"\narm = \"anti_pd1\"\nmeasure = \"orr_pct\"\nrole = \"training\"\n\
             [[calibration.figure]]\ntrial = \"b\"\narm = \"anti_pd1\"\nmeasure = \"orr_pct\"\nrole = \"heldout\"\n\
             [[calibration.figure]]\ntrial = \"b\"\narm = \"anti_pd1+x\"\nmeasure = \"orr_pct\"\nrole = \"heldout\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let o = trial_calibration(&["design", config.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The model's figures at the design's points, with a virtual cohort's
    // sampling error of about 2 points.
    let design = std::fs::read_to_string(out.join("design.csv")).unwrap();
    let mut figures =
        String::from("point,params.lag3_inhibition,trial,arm,measure,role,model,anchored\n");
    for (k, line) in design.lines().skip(1).enumerate() {
        let (point, x) = line.split_once(',').unwrap();
        let x: f64 = x.parse().unwrap();
        let noise = [1.5, -2.0, 0.5, -1.0, 2.0, -0.5, 1.0, -1.5, 0.0][k];
        for (trial, arm, role, v) in [
            ("a", "anti_pd1", "training", train(x)),
            ("b", "anti_pd1", "heldout", held(x)),
            ("b", "anti_pd1+x", "heldout", 20.0 + 2.0 * x.log2()),
        ] {
            figures += &format!(
                "{point},{x},{trial},{arm},orr_pct,{role},{:.2},yes\n",
                v + noise
            );
        }
    }
    std::fs::write(out.join("figures.csv"), figures).unwrap();
    let o = trial_calibration(&["fit", config.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    let p = &summary["parameters"]["params.lag3_inhibition"];
    let (lo, hi) = (
        p["posterior_90"][0].as_f64().unwrap(),
        p["posterior_90"][1].as_f64().unwrap(),
    );
    assert!(
        lo < 2.0 && 2.0 < hi,
        "posterior 90% {lo}-{hi} lacks 2: {summary}"
    );
    assert!(
        (hi / lo).log2() < 0.5 * (8.0f64 / 0.25).log2(),
        "posterior {lo}-{hi} no narrower than half the prior's span: {summary}"
    );
    let table = std::fs::read_to_string(out.join("calibration.csv")).unwrap();
    let inside: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(10).unwrap())
        .collect();
    assert_eq!(inside, ["yes", "yes", "no"], "{table}");
    assert_eq!(summary["heldout_inside"], 1);
}

/// workflow/calibration.smk in small: a design of four points over one
/// parameter, RELATIVITY-047's arms run once per point and the trial read
/// from them, and the fit's files; bad input refused before anything runs.
#[test]
fn the_calibration_workflow_runs_in_small_and_refuses_bad_input() {
    if !snakemake_found() || !common::python_with(&["sklearn", "scipy"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cohorts = repo("configs/cohorts");
    let write = |name: &str, parameter: &str, trial: &str| {
        let path = tmp.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[calibration]\ncohorts = \"{}\"\npatients = 6\npoints = 4\nseed = 3\nsamples = 2000\n\
                 accept = 0.1\n[[calibration.parameter]]\n{parameter}\n\
                 [[calibration.figure]]\ntrial = \"{trial}\"\narm = \"anti_pd1+anti_lag3\"\n\
                 measure = \"orr_pct\"\nrole = \"training\"\n",
                cohorts.display()
            ),
        )
        .unwrap();
        path
    };
    let good = write(
        "good.toml",
        // Up to 4: above it, on this small cohort, every phenotype responds
        // alike on the control arm and the mix cannot be anchored.
        "key = \"params.lag3_inhibition\"\nmin = 0.1\nmax = 4.0\nlog = true",
        "relativity047",
    );
    let out = tmp.path().join("out");
    let calibrate_with = |flags: &[&str], config: &Path| {
        let config = [
            format!("out={}", out.display()),
            format!("calibration={}", config.display()),
        ];
        small_campaign(tmp.path(), "calibration.smk", flags, &config)
    };
    let calibrate = |config: &Path| calibrate_with(&["--cores", "2"], config);
    // Bad input: each refused, naming the file or key, with nothing run.
    let unknown = write(
        "unknown.toml",
        "key = \"params.lag3_inhibitoin\"\nmin = 0.1\nmax = 2.0",
        "relativity047",
    );
    let wide = write(
        "wide.toml",
        "key = \"params.lag3_inhibition\"\nmin = 0.1\nmax = 500.0",
        "relativity047",
    );
    std::fs::create_dir_all(tmp.path().join("trials")).unwrap();
    trial_file(
        &tmp.path().join("trials"),
        "nosource",
        &[("anti_pd1+anti_lag3", 40.0, 100)],
        "",
    );
    let unsourced = tmp.path().join("unsourced.toml");
    std::fs::write(
        &unsourced,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace(
                &cohorts.display().to_string(),
                &tmp.path().join("trials").display().to_string(),
            )
            .replace("relativity047", "nosource"),
    )
    .unwrap();
    for (config, says) in [
        (&unknown, "params.lag3_inhibitoin"),
        (&wide, "outside the allowed range [0, 100]"),
        (&unsourced, "has no source"),
    ] {
        let o = calibrate(config);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(says),
            "{config:?}: {err}"
        );
        assert!(!out.exists(), "nothing ran for {config:?}");
    }
    let o = calibrate(&good);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = std::fs::read_to_string(out.join("logs/0/trial_relativity047.log")).unwrap();
    assert!(
        log.contains("0 patient-arm result(s) run now, 12 read"),
        "{log}"
    );
    let posterior = std::fs::read_to_string(out.join("posterior.csv")).unwrap();
    let draws: Vec<f64> = posterior
        .lines()
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        draws.len() >= 10 && draws.iter().all(|x| (0.1..=4.0).contains(x)),
        "{posterior}"
    );
    let table = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(
        table.contains(
            "| training | relativity047 | anti_pd1+anti_lag3 | orr_pct | 43.1, n = 355 |"
        ),
        "{table}"
    );
    // An edited calibration file makes the design again (and so every
    // point after it).
    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&good, text.replace("seed = 3", "seed = 4")).unwrap();
    let o = calibrate_with(&["-n"], &good);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && plan.contains("rule design"), "{plan}");
}

#[test]
fn a_cohort_on_the_gpu_agrees_with_the_cpu() {
    let probe = tmesim::sim::scenario::load(
        &repo("configs/baseline.toml"),
        &["grid.nx=8".into(), "grid.ny=8".into()],
    )
    .unwrap();
    if common::gpu(&probe).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let read = |dir: &Path| -> Vec<(String, f64)> {
        let text = std::fs::read_to_string(dir.join("patients.csv")).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
        lines
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (
                    c[col("recist")].to_string(),
                    c[col("best_change_pct")].parse().unwrap(),
                )
            })
            .collect()
    };
    let cpu = tmp.path().join("cpu");
    ok(&cohort(&cpu, &["--set", "time.end_days=4"]));
    let gpu = tmp.path().join("gpu");
    let mut args = vec![
        "cohort",
        SEED_TRIALS,
        "--backend",
        "gpu",
        "--quiet",
        "--out",
        gpu.to_str().unwrap(),
    ];
    args.extend(QUICK);
    // Batches of 4 patient-arms: one full batch, then the last 2 in the
    // same GPU backend.
    args.extend(["--set", "time.end_days=4", "--batch", "4"]);
    ok(&tmesim(&args));
    let (a, b) = (read(&cpu), read(&gpu));
    assert_eq!(a.len(), 6);
    assert_eq!(b.len(), a.len(), "the GPU cohort wrote every patient-arm");
    for ((ra, ca), (rb, cb)) in a.iter().zip(&b) {
        assert_eq!(ra, rb);
        assert!(
            (ca - cb).abs() < 0.05,
            "best change {ca} on the CPU, {cb} on the GPU"
        );
    }
}

/// A trial file that extends the seed trials and redraws one parameter
/// (RELATIVITY-047's own baseline tumour burden) keeps every other draw:
/// the same distributions in the same order, the same values per patient.
#[test]
fn a_trial_file_redraws_its_own_lesion_burden_and_keeps_every_other_draw() {
    let seed = seed_trials(&[]);
    let trial = load(&repo("configs/cohorts/relativity047.toml"), &[]).unwrap();
    let keys = |s: &CohortSpec| -> Vec<String> {
        s.cohort.parameters.iter().map(|p| p.key.clone()).collect()
    };
    assert_eq!(keys(&trial), keys(&seed), "the same draws, in place");
    let lesion = keys(&seed)
        .iter()
        .position(|k| k == "lesion.sum_mm")
        .unwrap();
    assert_eq!(trial.cohort.parameters[lesion].median, Some(56.7));
    assert_eq!(seed.cohort.parameters[lesion].median, Some(102.0));
    for i in 0..5 {
        let (a, b) = (patient(&seed, i), patient(&trial, i));
        assert_eq!(a.phenotype, b.phenotype);
        for (k, (x, y)) in a.values.iter().zip(&b.values).enumerate() {
            if k == lesion {
                assert!(
                    y < x,
                    "patient {i}: the trial's burden {y} below KEYNOTE-001's {x}"
                );
            } else {
                assert_eq!(x, y, "patient {i}, draw {k}");
            }
        }
    }
}
