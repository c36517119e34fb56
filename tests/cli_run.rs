//! End to end through the command line: `tmesim run` on a shortened
//! baseline writes the manifest, the time series, frames and .npy arrays
//! that agree with each other.

mod common;

use common::{read_npy, run_short_baseline, tmesim};

#[test]
fn run_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_short_baseline(&out, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    // Two days at the tests' 15-min step (common::CLI_TEST_DT).
    assert!(stderr.contains("done after 192 steps"), "{stderr}");
    // The headline: final and baseline diameter, change, best change after
    // day 0, the category, and where the report is.
    assert!(
        stderr.contains("day 2: tumour equivalent diameter")
            && stderr.contains("baseline 503 µm")
            && stderr.contains("best change")
            && stderr.contains("(day 1)")
            && stderr.contains("RECIST-style"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("report: {}", out.join("report.html").display())),
        "{stderr}"
    );
    // Quiet: no alarming driver text when nothing failed.
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["backend"], "cpu");
    assert_eq!(
        manifest["grid"]["npy_shape"],
        serde_json::json!([1, 125, 125])
    );
    assert_eq!(manifest["saved"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["config"]["time"]["end_days"], 2.0);
    // Every registry parameter is recorded with its value.
    let kill = tmesim::model::params::PARAM_SPECS
        .iter()
        .find(|s| s.name == "kill_rate_per_day")
        .unwrap();
    assert_eq!(manifest["params"]["kill_rate_per_day"], kill.default as f64);

    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "time_days",
        "tumor_burden",
        "equivalent_diameter_um",
        "ifng_total",
        "cd8_tumor_mean",
        "anti_pd1_exposure",
        "anti_pd1_conc_mg_per_l",
    ] {
        assert!(header.contains(&col), "missing column {col}");
    }
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2][0], 2.0);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();

    // Montage and composite at every save, each field at the last one.
    for name in ["montage", "composite"] {
        for k in 0..3 {
            let png = out.join(format!("frames/{name}_{k:04}.png"));
            let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
            assert!(img.width() >= 400 && img.height() >= 400);
        }
    }
    for name in ["tumor", "cd8", "ifng", "vessel", "exhaustion"] {
        let png = out.join(format!("frames/{name}_0002.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(img.width() >= 400 && img.height() >= 400);
        assert!(!out.join(format!("frames/{name}_0001.png")).exists());
    }
    // The baseline's phenotype maps are zero everywhere: no frame.
    assert!(!out.join("frames/pi3k_0002.png").exists());
    // The .npy of the last save holds what the time series summarises.
    let tumor = read_npy(&out.join("fields/tumor_0002.npy"));
    assert_eq!(tumor.0, vec![1, 125, 125]);
    let area_mm2 = tumor.1.iter().map(|&v| v as f64).sum::<f64>() * 20.0 * 20.0 / 1e6;
    let burden = rows[2][col("tumor_burden")];
    assert!(
        (area_mm2 - burden).abs() < 1e-5 * burden,
        "{area_mm2} vs {burden}"
    );
    // Anti-PD-1 was dosed at day 0: receptors are occupied.
    assert!(rows[1][col("anti_pd1_exposure")] > 0.9);
}

#[test]
fn check_and_info_and_params_work() {
    let o = tmesim(&["check", "configs/baseline.toml", "--set", "grid.nx=50"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("nx = 50") && stdout.contains("# ok:"),
        "{stdout}"
    );
    let o = tmesim(&["info"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("auto:"));
    let o = tmesim(&["params", "--markdown"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.lines().count() > 50 && stdout.contains("`pd1_occupancy`"));
    // The plain listing has the source too, as `params --help` says.
    let o = tmesim(&["params"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let kill = stdout
        .lines()
        .find(|l| l.starts_with("kill_rate_per_day "))
        .unwrap();
    assert!(kill.contains("(source: "), "{kill}");
}

#[test]
fn compare_writes_one_run_per_arm_a_summary_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let o = tmesim(&[
        "compare",
        "configs/baseline.toml",
        "--arms",
        "control; anti_pd1+anti_ctla4",
        "--phenotype",
        "treg_rich",
        "--backend",
        "cpu",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "time.end_days=2",
        "--set",
        "output.png=false",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let rows: Vec<Vec<&str>> = summary.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], tmesim::output::arms::SUMMARY_COLUMNS);
    assert_eq!(rows.len(), 3, "{summary}");
    assert_eq!(rows[1][0], "control");
    assert_eq!(rows[2][0], "anti_pd1+anti_ctla4");
    for row in &rows[1..] {
        assert!(["CR", "PR", "SD", "PD"].contains(&row[4]), "{summary}");
        let baseline: f64 = row[1].parse().unwrap();
        assert!(
            (baseline - 502.76).abs() < 0.1,
            "same initial state: {summary}"
        );
    }
    for arm in ["control", "anti_pd1+anti_ctla4"] {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(arm).join("manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m["status"], "complete");
        assert_eq!(m["config"]["phenotype"], "treg_rich");
    }
    let header = std::fs::read_to_string(out.join("anti_pd1+anti_ctla4/timeseries.csv")).unwrap();
    assert!(header.contains("anti_ctla4_exposure"));
    let plot = image::open(out.join("tumor_burden.png")).unwrap();
    assert!(plot.width() >= 600 && plot.height() >= 400);
}

#[test]
fn compare_rejects_an_unknown_therapy_before_running() {
    let o = tmesim(&[
        "compare",
        "configs/baseline.toml",
        "--arms",
        "anti_pd1; anti_pd1+anti_lag33",
        "--out",
        "/nonexistent/never-written",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("anti_lag33") && stderr.contains("did you mean `anti_lag3`"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn every_option_of_every_subcommand_has_help() {
    for sub in [
        "run", "compare", "render", "check", "bench", "info", "params",
    ] {
        let o = tmesim(&[sub, "--help"]);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        let mut options = 0;
        for (k, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if line.starts_with("  ") && (t.starts_with("--") || t.starts_with("-h")) {
                options += 1;
                // Help beside the option, or on the next line.
                let beside = t
                    .split_once("  ")
                    .is_some_and(|(_, h)| !h.trim().is_empty());
                let next = lines.get(k + 1).map_or("", |l| l.trim());
                assert!(
                    beside || (!next.is_empty() && !next.starts_with('-')),
                    "`tmesim {sub}`: option `{t}` has no help line\n{text}"
                );
            }
        }
        assert!(options >= 2, "{sub}: no options found in\n{text}");
    }
}

#[test]
fn threads_sets_the_pool_size() {
    let o = tmesim(&["info", "--threads", "1"]);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("cpu: 1 rayon threads"), "{stdout}");
    let o = tmesim(&["info", "--threads", "0"]);
    assert!(!o.status.success());
}

#[test]
fn typos_on_the_command_line_are_named_as_such() {
    let o = tmesim(&["check", "configs/baseline.toml", "--arm", "anti_pd2"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("--arm: no therapy named `anti_pd2` (did you mean `anti_pd1`?)"),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown key"), "{stderr}");
    let o = tmesim(&[
        "check",
        "configs/baseline.toml",
        "--set",
        "params.kill_rate=3",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("`kill_rate_per_day`"), "{stderr}");
    // The closest few, not all parameter names.
    assert!(stderr.contains("closest of"), "{stderr}");
    assert!(stderr.matches(", ").count() < 10, "{stderr}");
}

/// `tmesim` from the repository root with `env` changes.
fn tmesim_env(args: &[&str], set: &[(&str, &str)], remove: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tmesim"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in set {
        c.env(k, v);
    }
    for k in remove {
        c.env_remove(k);
    }
    c.output().unwrap()
}

#[test]
fn adapter_probing_prints_no_driver_errors() {
    // Without XDG_RUNTIME_DIR Mesa's Wayland probe used to print
    // "error: XDG_RUNTIME_DIR is invalid or not set" on every enumeration.
    let o = tmesim_env(&["info"], &[], &["XDG_RUNTIME_DIR"]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("error"), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn backend_gpu_without_an_adapter_says_how_to_get_one() {
    // No Vulkan driver manifest: the loader finds no adapter.
    let o = tmesim_env(
        &[
            "run",
            "configs/baseline.toml",
            "--backend",
            "gpu",
            "--out",
            "/nonexistent/never-written",
        ],
        &[
            ("WGPU_BACKEND", "vulkan"),
            ("VK_ICD_FILENAMES", "/nonexistent/icd.json"),
            ("VK_DRIVER_FILES", "/nonexistent/icd.json"),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("no GPU adapter found")
            && stderr.contains("apt-get install mesa-vulkan-drivers")
            && stderr.contains("tmesim info"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn params_piped_into_a_reader_that_stops_early_is_no_panic() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .arg("params")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing and close the pipe, as `tmesim params | head -0` does.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(o.status.success(), "{stderr}");
}

/// docs/model.md's parameter table is the registry as `tmesim params
/// --markdown` prints it, so a changed default or source cannot leave the
/// documentation behind.
#[test]
fn the_parameter_table_of_docs_model_md_is_the_registry() {
    let o = tmesim(&["params", "--markdown"]);
    assert!(o.status.success());
    let table = String::from_utf8(o.stdout).unwrap();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/model.md")).unwrap();
    assert!(
        docs.contains(table.trim()),
        "docs/model.md's parameter table differs from the registry: regenerate it with \
         `tmesim params --markdown`"
    );
}
