//! `tmesim sweep` and `tmesim sensitivity`: one row per design point with
//! the axes' exact values, outputs that move the way the model says, a
//! rerun that keeps finished points, Sobol indices and Morris effects that
//! are exactly zero for a key the simulation never reads, bad axes refused before anything
//! runs, a folder guard that never deletes a user's file, and the GPU
//! batch agreeing with the CPU. (The estimators themselves are tested
//! against the Ishigami function's exact indices in
//! src/cohort/sweep/sobol.rs, and against exact slopes in morris.rs.)

mod common;

use common::tmesim;
use std::path::Path;

/// A small, short scenario: 21 x 21 voxels of 100 um, 3 days at a 15-min
/// step (these tests are about the sweep machinery; tests/convergence.rs
/// judges the shipped step).
const SMALL: &[&str] = &[
    "configs/baseline.toml",
    "--set",
    "grid.nx=21",
    "--set",
    "grid.ny=21",
    "--set",
    "grid.dx_um=100",
    "--set",
    "time.dt_min=15",
    "--set",
    "time.end_days=3",
    "--quiet",
];

fn run(command: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![command];
    args.extend(SMALL);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    tmesim(&args)
}

fn ok(o: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "tmesim failed: {stderr}");
    stderr
}

/// A CSV as a header and rows of cells.
fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (head, rows)
}

fn column(head: &[String], rows: &[Vec<String>], name: &str) -> Vec<f64> {
    let c = head.iter().position(|h| h == name).unwrap_or_else(|| {
        panic!("no column {name} in {head:?}");
    });
    rows.iter().map(|r| r[c].parse().unwrap()).collect()
}

#[test]
fn a_grid_sweep_has_one_row_per_point_and_a_rerun_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let axes = [
        "--vary",
        "params.kill_rate_per_day=0.5:4",
        "--vary",
        "fields.vessel.initial[0].count=40:80",
        "--design",
        "grid",
        "--points",
        "2",
        "--backend",
        "cpu",
    ];
    ok(&run("sweep", &out, &axes));
    let (head, rows) = table(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 4, "2 levels x 2 axes");
    // The grid's corners, exactly; the vessel count as a whole number.
    let kill = column(&head, &rows, "params.kill_rate_per_day");
    assert_eq!(kill, [0.5, 0.5, 4.0, 4.0]);
    let c = head
        .iter()
        .position(|h| h == "fields.vessel.initial[0].count")
        .unwrap();
    let vessels: Vec<&str> = rows.iter().map(|r| r[c].as_str()).collect();
    assert_eq!(vessels, ["40", "80", "40", "80"]);
    // A faster kill leaves a smaller tumour, whatever the vessels.
    let d = column(&head, &rows, "final_diameter_um");
    assert!(d[2] < d[0] && d[3] < d[1], "diameters {d:?}");
    assert!(head.iter().any(|h| h == "adenosine_tumor_mean"));
    // A rerun runs nothing and writes the same table.
    let before = std::fs::read(out.join("sweep.csv")).unwrap();
    let again = ok(&run("sweep", &out, &axes));
    assert!(again.contains("0 point(s) run now, 4 kept"), "{again}");
    assert_eq!(std::fs::read(out.join("sweep.csv")).unwrap(), before);
}

#[test]
fn sensitivity_gives_no_index_to_a_key_the_simulation_never_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sobol");
    ok(&run(
        "sensitivity",
        &out,
        &[
            "--vary",
            "params.kill_rate_per_day=0.5:4",
            // The frame rate of time-lapses: no simulated value reads it.
            "--vary",
            "output.fps=2:30",
            "--base-samples",
            "16",
            "--backend",
            "cpu",
        ],
    ));
    let (_, points) = table(&out.join("sweep.csv"));
    assert_eq!(points.len(), 16 * (2 + 2));
    let (head, rows) = table(&out.join("sobol.csv"));
    let get = |output: &str, key: &str, col: &str| -> f64 {
        let row = rows
            .iter()
            .find(|r| r[0] == output && r[1] == key)
            .unwrap_or_else(|| panic!("no row {output} {key}"));
        let c = head.iter().position(|h| h == col).unwrap();
        row[c].parse().unwrap()
    };
    let out_name = "final_diameter_um";
    // The frame rate changes no output, so swapping it changes nothing.
    assert_eq!(get(out_name, "output.fps", "first_order"), 0.0);
    assert_eq!(get(out_name, "output.fps", "total"), 0.0);
    // The kill rate is then all of the variance: both indices near 1.
    let st = get(out_name, "params.kill_rate_per_day", "total");
    let s1 = get(out_name, "params.kill_rate_per_day", "first_order");
    assert!(
        (st - 1.0).abs() < 0.3 && (s1 - 1.0).abs() < 0.3,
        "S1 {s1}, ST {st}"
    );
    let (lo, hi) = (
        get(out_name, "params.kill_rate_per_day", "total_lo"),
        get(out_name, "params.kill_rate_per_day", "total_hi"),
    );
    assert!(
        lo <= st && st <= hi && lo < hi,
        "interval {lo}..{hi} around {st}"
    );
}

#[test]
fn a_morris_screen_ranks_the_key_that_acts_above_one_that_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("morris");
    ok(&run(
        "sensitivity",
        &out,
        &[
            "--method",
            "morris",
            "--trajectories",
            "4",
            "--vary",
            "params.kill_rate_per_day=0.5:4",
            "--vary",
            "output.fps=2:30",
            "--backend",
            "cpu",
        ],
    ));
    let (_, points) = table(&out.join("sweep.csv"));
    assert_eq!(points.len(), 4 * (2 + 1));
    let (head, rows) = table(&out.join("morris.csv"));
    let get = |key: &str, col: &str| -> f64 {
        let row = rows
            .iter()
            .find(|r| r[0] == "final_diameter_um" && r[1] == key)
            .unwrap();
        row[head.iter().position(|h| h == col).unwrap()]
            .parse()
            .unwrap()
    };
    assert_eq!(get("output.fps", "mu_star"), 0.0);
    assert_eq!(get("output.fps", "sigma"), 0.0);
    // A faster kill shrinks the tumour: a negative effect, the same sign
    // on every trajectory.
    let (mu_star, mu) = (
        get("params.kill_rate_per_day", "mu_star"),
        get("params.kill_rate_per_day", "mu"),
    );
    assert!(
        mu_star > 0.0 && mu < 0.0 && (mu + mu_star).abs() < 1e-9 * mu_star,
        "mu* {mu_star}, mu {mu}"
    );
}

#[test]
fn bad_axes_are_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    for (vary, says) in [
        ("params.kill_rate_per_dya=0.5:2", "unknown key"),
        (
            "params.kill_rate_per_day=0.5:2000",
            "outside the allowed range",
        ),
        ("params.kill_rate_per_day=2:1", "below the high end"),
        ("params.kill_rate_per_day=0:1:log", "positive low end"),
        // A decimal key whose low end is out of range stays decimal (its
        // rounded low end, 0, would be in range): the end is refused.
        (
            "params.kill_rate_per_day=-0.4:2",
            "outside the allowed range",
        ),
    ] {
        let o = run("sweep", &out, &["--vary", vary]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{vary} was accepted");
        assert!(e.contains("--vary") && e.contains(says), "{vary}: {e}");
        assert!(!out.exists(), "{vary}: the folder was created");
    }
    let o = run("sweep", &out, &[]);
    assert!(!o.status.success(), "a sweep without --vary was accepted");
    let o = run(
        "sweep",
        &out,
        &[
            "--set",
            "params.kill_rate_per_day=1.0",
            "--vary",
            "params.kill_rate_per_day=0.5:2",
        ],
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("also given by --set"), "{e}");
    let o = run(
        "sensitivity",
        &out,
        &[
            "--vary",
            "params.kill_rate_per_day=0.5:2",
            "--base-samples",
            "1",
        ],
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--base-samples 1"), "{e}");
    let o = run(
        "sensitivity",
        &out,
        &[
            "--vary",
            "params.kill_rate_per_day=0.5:2",
            "--method",
            "morris",
            "--trajectories",
            "1",
        ],
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--trajectories 1"), "{e}");
    assert!(!out.exists());
}

#[test]
fn force_never_removes_a_file_the_sweep_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let axes = [
        "--vary",
        "params.kill_rate_per_day=0.5:4",
        "--points",
        "2",
        "--backend",
        "cpu",
    ];
    ok(&run("sweep", &out, &axes));
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::write(out.join("points").join("mine.csv"), "mine").unwrap();
    let mut forced = axes.to_vec();
    forced.push("--force");
    let o = run("sweep", &out, &forced);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("notes.txt"), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(
        out.join("points").join("p000000.csv").exists(),
        "nothing was removed"
    );
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    std::fs::remove_file(out.join("points").join("mine.csv")).unwrap();
    // A symlink where tmesim writes its table is never followed: the file
    // it points to (the user's, outside) stays, and nothing is removed.
    let theirs = tmp.path().join("theirs.csv");
    std::fs::write(&theirs, "mine").unwrap();
    std::fs::remove_file(out.join("sweep.csv")).unwrap();
    std::os::unix::fs::symlink(&theirs, out.join("sweep.csv")).unwrap();
    let o = run("sweep", &out, &forced);
    assert!(
        !o.status.success(),
        "a folder with a symlinked sweep.csv was cleared"
    );
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "mine");
    assert!(
        out.join("points").join("p000000.csv").exists(),
        "nothing was removed"
    );
    std::fs::remove_file(out.join("sweep.csv")).unwrap();
    ok(&run("sweep", &out, &forced));
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "mine");
}

#[test]
fn a_sweep_on_the_gpu_agrees_with_the_cpu() {
    let probe = tmesim::sim::scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/baseline.toml"),
        &["grid.nx=8".into(), "grid.ny=8".into()],
    )
    .unwrap();
    if common::gpu(&probe).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let axes = |backend| {
        vec![
            "--vary",
            "params.kill_rate_per_day=0.5:4",
            "--vary",
            "params.cd8_entry_per_day=1:10:log",
            "--points",
            "5",
            "--batch",
            "3",
            "--backend",
            backend,
        ]
    };
    let (cpu, gpu) = (tmp.path().join("cpu"), tmp.path().join("gpu"));
    ok(&run("sweep", &cpu, &axes("cpu")));
    // Batches of 3 points: one full batch, then 2 in the same GPU backend.
    ok(&run("sweep", &gpu, &axes("gpu")));
    let (ha, a) = table(&cpu.join("sweep.csv"));
    let (hb, b) = table(&gpu.join("sweep.csv"));
    assert_eq!(ha, hb);
    assert_eq!(a.len(), 5);
    assert_eq!(b.len(), 5, "the GPU sweep wrote every point");
    // Each point against its own CPU twin, to within 2% of how much the
    // output varies over the points: a batch that mixed up its points'
    // parameters (each point given the first's) fails this.
    for name in ["final_diameter_um", "log10_final_ratio", "ifng_tumor_mean"] {
        let (x, y) = (column(&ha, &a, name), column(&hb, &b, name));
        let spread =
            x.iter().copied().fold(f64::MIN, f64::max) - x.iter().copied().fold(f64::MAX, f64::min);
        assert!(spread > 0.0, "{name} does not vary over the points");
        for (p, (u, v)) in x.iter().zip(&y).enumerate() {
            assert!(
                (u - v).abs() <= 0.02 * spread,
                "point {p} {name}: CPU {u}, GPU {v} (spread over the points {spread})"
            );
        }
    }
}

/// Whether the Python tests may skip (no python3 or no scikit-learn).
fn python_required() -> bool {
    common::required("TMESIM_REQUIRE_PYTHON")
}

fn history_match(args: &[&str]) -> Option<std::process::Output> {
    let mut all = vec!["scripts/history_match.py"];
    all.extend(args);
    let o = std::process::Command::new("python3")
        .args(&all)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match o {
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            if stderr.contains("ModuleNotFoundError") && !python_required() {
                eprintln!("skipped: {stderr} (pip install scikit-learn; TMESIM_REQUIRE_PYTHON=1 makes this an error)");
                return None;
            }
            Some(o)
        }
        Err(e) if !python_required() => {
            eprintln!("skipped: no python3 ({e})");
            None
        }
        Err(e) => panic!("python3 is required (CI / TMESIM_REQUIRE_PYTHON): {e}"),
    }
}

#[test]
fn history_matching_on_a_sweep_keeps_the_value_that_made_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    ok(&run(
        "sweep",
        &out,
        &[
            "--vary",
            "params.kill_rate_per_day=0.5:4",
            "--points",
            "12",
            "--backend",
            "cpu",
        ],
    ));
    let (head, rows) = table(&out.join("sweep.csv"));
    let kill = column(&head, &rows, "params.kill_rate_per_day");
    let d = column(&head, &rows, "final_diameter_um");
    // The point nearest the middle of the range makes the target.
    let p = (0..kill.len())
        .min_by(|&a, &b| (kill[a] - 2.25).abs().total_cmp(&(kill[b] - 2.25).abs()))
        .unwrap();
    let targets = tmp.path().join("targets.toml");
    std::fs::write(
        &targets,
        format!(
            "[[target]]\noutput = \"final_diameter_um\"\nvalue = {}\nobs_sd = 0.1\n\
             discrepancy_sd = 0.1\nsource = \"point {p} of this sweep\"\n",
            d[p]
        ),
    )
    .unwrap();
    let Some(o) = history_match(&[
        out.to_str().unwrap(),
        targets.to_str().unwrap(),
        "--samples",
        "20000",
    ]) else {
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("history_match/summary.json")).unwrap(),
    )
    .unwrap();
    let range = &summary["keys"]["params.kill_rate_per_day"];
    let (lo, hi) = (range["lo"].as_f64().unwrap(), range["hi"].as_f64().unwrap());
    assert!(
        lo <= kill[p] && kill[p] <= hi,
        "{lo}..{hi} lacks {}",
        kill[p]
    );
    assert!(
        lo > 1.0 && hi < 3.5,
        "{lo}..{hi}: the ends of 0.5..4 are not ruled out"
    );
    assert!(
        summary["targets"][0]["loo_rmse_over_spread"]
            .as_f64()
            .unwrap()
            < 0.1
    );
    // A training figure without a source is refused, naming file and target.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[target]]\noutput = \"final_diameter_um\"\nvalue = 1.0\nobs_sd = 0.1\n\
         discrepancy_sd = 0.1\nsource = \"\"\n",
    )
    .unwrap();
    let o = history_match(&[out.to_str().unwrap(), bad.to_str().unwrap()]).unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("bad.toml: target[0].source"),
        "{e}"
    );
}
