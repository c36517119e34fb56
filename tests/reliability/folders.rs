//! Run folders: the scenario file is never written, a used folder is
//! refused, two runs never share one, signals checkpoint, and comparisons
//! write their report and resume.

use super::*;

#[test]
fn compare_with_a_relative_or_default_out_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let compare = |extra: &[&str]| {
        let mut args = vec![
            "compare",
            BASELINE,
            "--arms",
            "control",
            "--backend",
            "cpu",
            "--quiet",
            "--set",
            "time.end_days=1",
            "--set",
            common::CLI_TEST_DT,
        ];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_tmesim"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = compare(&["--out", "cmp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "report.html",
        "summary.csv",
        "tumor_burden.png",
        "control/report.html",
    ] {
        assert!(dir.path().join("cmp").join(f).is_file(), "missing cmp/{f}");
    }
    let o = compare(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let made: Vec<_> = std::fs::read_dir(dir.path().join("outputs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(made.len(), 1);
    assert!(made[0].path().join("report.html").is_file());
}

#[test]
fn a_run_never_writes_over_its_scenario_file() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let config = proj.join("config.toml");
    let text = std::fs::read_to_string(BASELINE).unwrap();
    std::fs::write(&config, &text).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec![
            "run",
            config.to_str().unwrap(),
            "--out",
            proj.to_str().unwrap(),
            "--set",
            "time.end_days=1",
            "--backend",
            "cpu",
        ];
        args.extend(extra);
        let o = tmesim(&args);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("contains the input file"),
            "{}",
            stderr(&o)
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    }
}

#[test]
fn a_used_run_folder_is_refused_and_force_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert!(short_run(&out, "time.end_days=3", &[]).status.success());
    assert!(out.join("frames/tumor_0003.png").is_file());
    let o = short_run(&out, "time.end_days=1", &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(
        out.join("frames/tumor_0003.png").is_file(),
        "refusal removed nothing"
    );

    let o = short_run(&out, "time.end_days=1", &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("frames/tumor_0002.png").exists());
    assert!(!out.join("frames/tumor_0003.png").exists());
    assert!(out.join("frames/tumor_0001.png").is_file());
    assert_eq!(manifest(&out)["saved"].as_array().unwrap().len(), 2);
    let rows = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert_eq!(rows.lines().count(), 3);
}

#[test]
fn a_second_concurrent_run_into_one_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut first = start_long_run(&out, &[]);
    let o = short_run(&out, "time.end_days=1", &["--force"]);
    let _ = first.kill();
    let _ = first.wait();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another tmesim run"), "{}", stderr(&o));
    // The first run's files are intact: one header and whole rows.
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(csv.lines().count() >= 2 && csv.ends_with('\n'));
}

#[test]
fn sigterm_checkpoints_and_exits_130_and_resume_finishes_the_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // On a 64 x 64 grid: long enough to stop between saves, and a quarter
    // of the baseline's cost.
    let set = [
        "--set",
        "output.checkpoint_every_min=0",
        "--set",
        "output.npy=true",
        "--set",
        "output.vtk=false",
        "--set",
        "grid.nx=64",
        "--set",
        "grid.ny=64",
        "--set",
        "grid.dx_um=40",
    ];
    let whole = dir.path().join("whole");
    let o = short_run(&whole, "time.end_days=12", &set);
    assert!(o.status.success(), "{}", stderr(&o));

    let parts = dir.path().join("parts");
    let mut args = vec!["--set", "time.end_days=12"];
    args.extend(set);
    let mut child = start_long_run(&parts, &args[..]);
    // Let it make at least two saves, then stop it.
    let start = Instant::now();
    while manifest(&parts)["saved"].as_array().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let m = manifest(&parts);
    assert_eq!(m["status"], "interrupted");
    assert!(
        m["steps_done"].as_u64().unwrap() < 1152,
        "stopped before the end"
    );
    assert!(!checkpoint::list(&parts).unwrap().is_empty());

    let o = tmesim(&["status", parts.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("interrupted"));
    let o = tmesim(&[
        "run",
        "--resume",
        parts.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    assert_eq!(manifest(&parts)["status"], "complete");
    assert_same_results(&whole, &parts);
}

#[test]
fn a_double_interrupt_or_a_kill_never_leaves_a_run_that_looks_alive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("twice");
    let mut child = start_long_run(&out, &[]);
    signal(&child, "-INT");
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let status = manifest(&out)["status"].as_str().unwrap().to_string();
    assert!(status == "failed" || status == "interrupted", "{status}");

    let out = dir.path().join("killed");
    let mut child = start_long_run(&out, &[]);
    signal(&child, "-KILL");
    let _ = child.wait();
    assert_eq!(manifest(&out)["status"], "running");
    let o = tmesim(&["status", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.starts_with("dead:") && said.contains("--resume"),
        "{said}"
    );
}

#[test]
fn compare_resume_keeps_finished_arms_and_completes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "compare",
            BASELINE,
            "--arms",
            "control; anti_pd1",
            "--backend",
            "cpu",
            "--quiet",
            "--set",
            "time.end_days=2",
            "--set",
            common::CLI_TEST_DT,
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        tmesim(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    // Pretend the second arm died mid-run.
    let arm2 = out.join("anti_pd1");
    let mut m = manifest(&arm2);
    m["status"] = "running".into();
    std::fs::write(arm2.join("manifest.json"), m.to_string()).unwrap();
    let before = std::fs::metadata(out.join("control/timeseries.csv"))
        .unwrap()
        .modified()
        .unwrap();

    let o = run(&[]);
    assert!(
        !o.status.success(),
        "a used folder needs --resume or --force"
    );
    let o = run(&["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));
    let after = std::fs::metadata(out.join("control/timeseries.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "the finished arm was not run again");
    assert_eq!(manifest(&arm2)["status"], "complete");
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
}

/// `sim::compare::compare` as a library call: each arm in its folder, one
/// summary row per arm, and a second call with `Existing::Continue` keeps
/// the finished arms without running them again.
#[test]
fn a_comparison_runs_each_arm_into_its_folder_and_resume_keeps_them() {
    use tmesim::sim::compare::{compare, parse_arms};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let arms = parse_arms("control; anti_pd1").unwrap();
    let specs: Vec<ArmSpec> = arms
        .iter()
        .map(|arm| {
            let list: Vec<String> = arm.iter().map(|t| format!("\"{t}\"")).collect();
            let arm_set = format!("arm=[{}]", list.join(","));
            let mut o: Vec<&str> = SHORT_GPU.to_vec();
            o.extend(["time.end_days=1", "output.npy=false", "output.png=false"]);
            o.push(&arm_set);
            baseline_spec(&o)
        })
        .collect();
    let quiet = Launch {
        backend: BackendChoice::Cpu,
        progress: false,
    };
    let done = compare(Path::new(BASELINE), &specs, &out, Existing::Refuse, quiet).unwrap();
    assert!(done.complete());
    let labels: Vec<&str> = done.results.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["control", "anti_pd1"]);
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 3, "{summary}");
    assert!(out.join("tumor_burden.png").is_file());
    let series = out.join("anti_pd1/timeseries.csv");
    let before = std::fs::metadata(&series).unwrap().modified().unwrap();
    // A used folder is refused without resume or force.
    assert!(compare(Path::new(BASELINE), &specs, &out, Existing::Refuse, quiet).is_err());
    let again = compare(Path::new(BASELINE), &specs, &out, Existing::Continue, quiet).unwrap();
    assert!(again.complete());
    assert_eq!(again.results[1].1.len(), done.results[1].1.len());
    let after = std::fs::metadata(&series).unwrap().modified().unwrap();
    assert_eq!(before, after, "a finished arm is kept, not run again");
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
}
