//! `tmesim bench`: every line of its report is there and holds a sensible
//! number, stage shares add up, `--diffusion-only` times transport alone,
//! and a malformed `--grid` is refused with a message, not a panic.

mod common;
use common::*;
use std::path::PathBuf;
use tmesim::backend::plan::Phase;
use tmesim::bench::{load, Options};
use tmesim::sim::select::BackendChoice;

/// The report's `key: value` lines, in order.
fn report_lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn value<'a>(lines: &'a [(String, String)], key: &str) -> &'a str {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no `{key}:` line in the report"))
}

/// The first number in `text` (digits, `.`, `e` exponents).
fn first_number(text: &str) -> f64 {
    let start = text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or_else(|| panic!("no number in `{text}`"));
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("`{}` in `{text}`: {e}", &rest[..end]))
}

fn positive(lines: &[(String, String)], key: &str) -> f64 {
    let x = first_number(value(lines, key));
    assert!(x.is_finite() && x > 0.0, "{key}: {x}");
    x
}

/// Run `tmesim bench ARGS`, require exit 0, return the report's lines.
fn bench(args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["bench"];
    all.extend(args);
    let o = tmesim(&all);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "bench {args:?} failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    report_lines(&stdout)
}

/// Every line of a report of one backend; returns the stage names.
fn check_report(lines: &[(String, String)], kind: &str) -> Vec<String> {
    assert_eq!(value(lines, "config"), "configs/baseline.toml");
    assert!(value(lines, "grid").starts_with("32 x 32 x 1 voxels"));
    assert!(value(lines, "fields carried").starts_with("19 "));
    assert!(value(lines, "fields advanced").starts_with("16 per step"));
    assert!(value(lines, "plan").contains("splitting"));
    positive(lines, "ops per step");
    assert_eq!(value(lines, "backend"), kind);
    assert!(!value(lines, "device").is_empty());
    positive(lines, "threads");
    assert_eq!(first_number(value(lines, "steps")), 2.0);
    assert!(value(lines, "start").contains("full steps"));
    for key in [
        "wall time",
        "cpu time",
        "sync",
        "throughput",
        "bytes per step",
        "bandwidth",
        "copy bandwidth",
        "bandwidth vs copy",
        "stage sum",
    ] {
        positive(lines, key);
    }
    assert!(value(lines, "throughput").contains("voxel-field updates/s"));
    assert!(value(lines, "copy bandwidth").contains("read + write"));
    let stages: Vec<&(String, String)> = lines
        .iter()
        .filter(|(k, _)| k.starts_with("stage ") && k != "stage sum" && k != "stage timing")
        .collect();
    let share_sum: f64 = stages
        .iter()
        .map(|(k, v)| {
            let (ms, rest) = v.split_once(", ").unwrap();
            assert!(first_number(ms) > 0.0, "{k}: {v}");
            let share = first_number(rest);
            assert!(rest.contains("% of the stage sum"), "{k}: {v}");
            share
        })
        .sum();
    assert!(
        (share_sum - 100.0).abs() < 0.5,
        "stage shares sum to {share_sum}"
    );
    stages.iter().map(|(k, _)| k.clone()).collect()
}

#[test]
fn report_has_every_line_with_sensible_numbers() {
    let lines = bench(&[
        "--backend",
        "cpu",
        "--grid",
        "32x32x1",
        "--steps",
        "2",
        "--patients",
        "2",
    ]);
    let stages = check_report(&lines, "cpu");
    assert_eq!(
        stages,
        [
            "stage systemic",
            "stage transport",
            "stage motility",
            "stage reactions"
        ]
    );
    let patients = value(&lines, "patients");
    assert!(patients.starts_with("2 (in parallel"), "{patients}");
    assert!(patients.contains("patient-steps/s"), "{patients}");
    // The throughput line: patient-days per second is patient-steps per
    // second times the step in days (the baseline's 7.5 min).
    let days = lines
        .iter()
        .find(|(k, v)| k == "patients" && v.contains("patient-days per core-second"))
        .map(|(_, v)| v.as_str())
        .expect("a patient-days line");
    let steps_per_s: f64 = patients
        .split(": ")
        .last()
        .map(first_number)
        .expect("patient-steps/s");
    let days_per_s = first_number(days);
    let expected = steps_per_s * 7.5 / 1440.0;
    assert!(
        (days_per_s / expected - 1.0).abs() < 0.02,
        "{days} against {patients}"
    );
    let per_core = first_number(days.split("; ").nth(1).expect("per core-second"));
    assert!(per_core > 0.0 && per_core.is_finite(), "{days}");
    // The arithmetic: each stage's operations add up to the step's, the
    // intensity is operations over bytes, and a bound is named.
    let ops = positive(&lines, "operations per step");
    let flops: f64 = lines
        .iter()
        .filter(|(k, _)| k.starts_with("flops "))
        .map(|(_, v)| first_number(v))
        .sum();
    assert!(
        (flops / ops - 1.0).abs() < 0.01,
        "stages {flops} MFLOP, step {ops}"
    );
    let bytes = positive(&lines, "bytes per step");
    let intensity = positive(&lines, "arithmetic intensity");
    assert!(
        (intensity / (ops / bytes) - 1.0).abs() < 0.01,
        "{intensity}"
    );
    positive(&lines, "arithmetic rate");
    assert!(value(&lines, "peak").contains("multiply-add"));
    positive(&lines, "peak");
    assert!(!value(&lines, "bound").is_empty());
    assert!(value(&lines, "patients").contains("patient-steps/s"));
}

#[test]
fn diffusion_only_times_transport_alone() {
    let opts = Options {
        config: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/baseline.toml"
        )),
        backend: BackendChoice::Cpu,
        grid: Some(tmesim::bench::parse_grid("24x20x1").unwrap()),
        steps: 2,
        solver: None,
        diffusion_only: true,
        patients: None,
        accuracy: false,
        dt_min: Some(0.5),
        set: Vec::new(),
    };
    let arm = load(&opts).unwrap();
    assert!(!arm.plan.ops.is_empty());
    assert!(arm.plan.ops.iter().all(|op| op.phase() == Phase::Transport));
    assert!(!arm.spec.reactions);
    assert_eq!((arm.spec.grid.nx, arm.spec.grid.ny), (24, 20));
    assert_eq!(arm.spec.dt_min, 0.5);
    // The explicit solver too: its sub-steps are the only ops.
    let explicit = load(&Options {
        solver: Some(tmesim::bench::SolverChoice::Explicit),
        ..opts
    })
    .unwrap();
    assert!(explicit
        .plan
        .ops
        .iter()
        .all(|op| matches!(op, tmesim::backend::plan::Op::ExplicitSubstep { .. })));

    let lines = bench(&[
        "--backend",
        "cpu",
        "--diffusion-only",
        "--grid",
        "24x20x1",
        "--steps",
        "2",
    ]);
    assert!(value(&lines, "fields advanced").starts_with("5 per step"));
    let stages: Vec<&str> = lines
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("stage ") && *k != "stage sum" && *k != "stage timing")
        .collect();
    assert_eq!(stages, ["stage transport"]);
    assert!(value(&lines, "stage transport").contains("100.0% of the stage sum"));
}

#[test]
fn malformed_grid_is_refused_with_the_allowed_form() {
    for bad in ["0x5x1", "abc", "32x32", "32x32x1x1", "-1x4x4", "4x4x"] {
        // `--grid=VALUE`: clap would read a separate `-1x4x4` as a flag.
        let o = tmesim(&["bench", &format!("--grid={bad}"), "--steps", "1"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--grid {bad}: {stderr}");
        assert!(
            stderr.contains("--grid") && stderr.contains("NXxNYxNZ"),
            "--grid {bad}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "--grid {bad}: {stderr}");
    }
    for bad in ["0", "-1", "nan", "x"] {
        let o = tmesim(&["bench", &format!("--dt={bad}")]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--dt {bad}: {stderr}");
        assert!(stderr.contains("--dt"), "--dt {bad}: {stderr}");
    }
}

#[test]
fn accuracy_table_covers_the_ladder() {
    let o = tmesim(&[
        "bench",
        "--backend",
        "cpu",
        "--grid",
        "16x16x1",
        "--steps",
        "1",
        "--diffusion-only",
        "--accuracy",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{stdout}");
    let rows = stdout
        .lines()
        .filter(|l| l.starts_with("steady-square ") || l.starts_with("point-source "))
        .count();
    assert_eq!(rows, 2 * 2 * tmesim::bench::accuracy::LADDER_MIN.len());
    // The exact step reaches 1% at the largest step size of both cases
    // (its error column; which dt is fastest depends on timing, so it is
    // not asserted).
    for case in ["steady-square", "point-source"] {
        let line = stdout
            .lines()
            .find(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() >= 5 && w[0] == case && w[1] == "exponential" && w[2] == "60"
            })
            .unwrap_or_else(|| panic!("no {case} exponential row at dt 60"));
        let error: f64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
        assert!(error < 0.01, "{line}");
        assert!(stdout.contains(&format!("fastest {case} exponential: dt")));
    }
}

#[test]
fn report_on_the_gpu() {
    // A tiny scenario only to ask whether a GPU backend can be made.
    let probe = spec("[grid]\nnx = 4\nny = 4\nnz = 1\n");
    if gpu(&probe).is_none() {
        return;
    }
    let lines = bench(&["--backend", "gpu", "--grid", "32x32x1", "--steps", "2"]);
    check_report(&lines, "gpu");
    assert!(value(&lines, "copy bandwidth").contains("buffer-to-buffer"));
}

#[test]
fn gpu_timestamps_time_each_stage_inside_steps_that_compute_the_same() {
    let arm = spec("[grid]\nnx = 24\nny = 20\nnz = 1\n[fields.tumor]\ninitial = { kind = \"disk\", center_um = [240.0, 200.0], radius_um = 100.0, value = 0.6 }\n");
    let (Some(mut timed), Some(mut plain)) = (gpu(&arm), gpu(&arm)) else {
        return;
    };
    let start = initial(&arm);
    let params: Vec<_> = (0..3)
        .map(|s| arm.treatment.params_at(&arm.spec.params, s))
        .collect();
    timed.upload(&start).unwrap();
    let Some(stages) = timed.profile_stages(&params).unwrap() else {
        // Lavapipe (CI) has them; an adapter without them skips, loudly.
        assert!(
            !common::required("TMESIM_REQUIRE_GPU"),
            "the GPU is required here (CI) and this adapter has no timestamp queries"
        );
        eprintln!("SKIPPED: this adapter has no timestamp queries");
        return;
    };
    for (stage, time) in &stages {
        let present = arm.plan.ops.iter().any(|op| op.phase() == *stage);
        assert_eq!(!time.is_zero(), present, "{}: {time:?}", stage.name());
    }
    // Profiled steps are ordinary steps: the same state, bit for bit.
    let profiled = timed.download().unwrap();
    plain.upload(&start).unwrap();
    plain.run_steps(&params).unwrap();
    let ran = plain.download().unwrap();
    assert_eq!(profiled.step, 3);
    assert_eq!(profiled.fields, ran.fields);
    // And the report prints them.
    let lines = bench(&["--backend", "gpu", "--grid", "32x32x1", "--steps", "2"]);
    positive(&lines, "timestamps transport");
    let shares: f64 = lines
        .iter()
        .filter(|(k, _)| k.starts_with("timestamps "))
        .map(|(_, v)| first_number(v.split_once(", ").unwrap().1))
        .sum();
    assert!(
        (shares - 100.0).abs() < 0.5,
        "timestamp shares sum to {shares}"
    );
}
