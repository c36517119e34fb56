//! Bad input gets a clear error naming the file, the key and what is
//! allowed; never a panic. Checked through the library and the CLI.

mod common;

use common::tmesim;
use std::path::Path;
use std::process::{Command, Output};
use tmesim::config::initial::initial_state;

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/baseline.toml");

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The error message of loading and initialising `text`.
fn error_of(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "scenario.toml", text);
    match tmesim::sim::scenario::load(&path, &[]) {
        Err(e) => e.to_string(),
        Ok(spec) => match initial_state(&spec.spec) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error for:\n{text}"),
        },
    }
}

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let e = error_of("[grid]\nnx = 10\nnxx = 20\n");
    assert!(
        e.contains("scenario.toml") && e.contains("`nxx`") && e.contains("did you mean `nx`"),
        "{e}"
    );
    assert!(e.contains("line 3"), "{e}");
    let e = error_of("[gird]\nnx = 10\n");
    assert!(
        e.contains("`gird`") && e.contains("did you mean `grid`"),
        "{e}"
    );
}

#[test]
fn unknown_parameter_and_field_are_named() {
    let e = error_of("[params]\nkill_rate_per_dya = 2.0\n");
    assert!(
        e.contains("params.kill_rate_per_dya") && e.contains("did you mean `kill_rate_per_day`"),
        "{e}"
    );
    let e = error_of("[fields.cd4]\ndiffusion_um2_per_min = 1.0\n");
    assert!(
        e.contains("fields.cd4") && e.contains("did you mean `cd8`"),
        "{e}"
    );
    let e = error_of("[fields.cd8]\ndifusion_um2_per_min = 1.0\n");
    assert!(
        e.contains("difusion_um2_per_min") && e.contains("did you mean `diffusion_um2_per_min`"),
        "{e}"
    );
}

#[test]
fn wrong_type_is_reported() {
    let e = error_of("[grid]\nnx = \"many\"\n");
    assert!(
        e.contains("scenario.toml") && e.contains("nx") && e.contains("line 2"),
        "{e}"
    );
    let e = error_of("[model]\nreactions = 1\n");
    assert!(e.contains("reactions"), "{e}");
}

#[test]
fn out_of_range_values_give_the_range() {
    let e = error_of("[fields.ifng]\ndiffusion_um2_per_min = -5.0\n");
    assert!(
        e.contains("fields.ifng.diffusion_um2_per_min")
            && e.contains("-5")
            && e.contains("[0, 10000000]"),
        "{e}"
    );
    let e = error_of("[params]\ncrowding_limit = 1.5\n");
    assert!(
        e.contains("params.crowding_limit") && e.contains("[0.05") && e.contains("1]"),
        "{e}"
    );
    let e = error_of("[time]\ndt_min = 0\n");
    assert!(e.contains("time.dt_min"), "{e}");
    let e = error_of("[output]\nzarr_keep_bits = 30\n");
    assert!(
        e.contains("output.zarr_keep_bits") && e.contains("[1, 23]"),
        "{e}"
    );
    let e = error_of("[time]\ndt_min = 10.0\nsave_every_min = 25.0\n");
    assert!(
        e.contains("time.save_every_min") && e.contains("multiple"),
        "{e}"
    );
}

#[test]
fn grid_too_large_is_an_error() {
    let e = error_of("[grid]\nnx = 65536\nny = 65536\nnz = 65536\n");
    assert!(e.contains("grid too large") && e.contains("voxels"), "{e}");
    let e = error_of("[grid]\nnx = 0\n");
    assert!(e.contains("grid.nx") && e.contains("[1, 65536]"), "{e}");
}

#[test]
fn missing_npy_file_is_named() {
    let e =
        error_of("[fields.tumor]\ninitial = { kind = \"npy\", path = \"no_such_tumor.npy\" }\n");
    assert!(
        e.contains("fields.tumor.initial.path")
            && e.contains("no_such_tumor.npy")
            && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn bad_initial_conditions_are_named() {
    let e = error_of("[fields.tumor]\ninitial = { kind = \"blob\", value = 1.0 }\n");
    assert!(
        e.contains("fields.tumor.initial") && e.contains("blob"),
        "{e}"
    );
    let e = error_of("[fields.tumor]\ninitial = { kind = \"uniform\", value = 0.8 }\n[fields.cd8]\ninitial = { kind = \"uniform\", value = 0.5 }\n");
    assert!(e.contains("crowding_limit") && e.contains("voxel"), "{e}");
    let e = error_of("[fields.pi3k]\ninitial = { kind = \"uniform\", value = 2.0 }\n");
    assert!(
        e.contains("fields.pi3k.initial") && e.contains("[0, 1]"),
        "{e}"
    );
    let e = error_of("[fields.tumor]\ndecay_per_min = 0.1\n");
    assert!(
        e.contains("fields.tumor.decay_per_min") && e.contains("molecule"),
        "{e}"
    );
    let e = error_of("[fields.ifng]\nboundary = \"open\"\n");
    assert!(
        e.contains("fields.ifng.boundary") && e.contains("no_flux"),
        "{e}"
    );
}

#[test]
fn npy_initial_condition_loads_and_checks_shape() {
    let dir = tempfile::tempdir().unwrap();
    let grid = tmesim::model::grid::Grid {
        nx: 4,
        ny: 3,
        nz: 1,
        dx_um: 10.0,
    };
    let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.01).collect();
    tmesim::output::npy::write_field(&dir.path().join("tumor.npy"), &grid, &data).unwrap();
    let ok = write(dir.path(), "ok.toml", "[grid]\nnx = 4\nny = 3\n[fields.tumor]\ninitial = { kind = \"npy\", path = \"tumor.npy\" }\n");
    let spec = tmesim::sim::scenario::load(&ok, &[]).unwrap();
    let state = initial_state(&spec.spec).unwrap();
    assert_eq!(state.fields[tmesim::model::fields::idx::TUMOR], data);
    let bad = write(dir.path(), "bad.toml", "[grid]\nnx = 5\nny = 3\n[fields.tumor]\ninitial = { kind = \"npy\", path = \"tumor.npy\" }\n");
    let e = tmesim::sim::scenario::load(&bad, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shape") && e.contains("[1, 3, 4]") && e.contains("[1, 3, 5]"),
        "{e}"
    );
}

#[test]
fn set_overrides_apply_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", "[grid]\nnx = 10\n");
    let spec = tmesim::sim::scenario::load(
        &path,
        &["grid.ny=7".into(), "params.kill_rate_per_day=3".into()],
    )
    .unwrap();
    assert_eq!((spec.spec.grid.nx, spec.spec.grid.ny), (10, 7));
    assert_eq!(spec.spec.params.kill_rate_per_day, 3.0);
    let e = tmesim::sim::scenario::load(&path, &["grid.nyy=7".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`nyy`") && e.contains("did you mean `ny`") && e.contains("--set"),
        "{e}"
    );
    let e = tmesim::sim::scenario::load(&path, &["grid.ny".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("key=value"), "{e}");
}

#[test]
fn cli_reports_errors_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.toml", "[grid]\nnxx = 3\n");
    let out = Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("bad.toml") && stderr.contains("nxx"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .args(["run", "does/not/exist.toml", "--backend", "cpu"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("does/not/exist.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn shipped_configs_are_valid() {
    for name in ["baseline", "highres", "block3d"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(format!("{name}.toml"));
        let spec = tmesim::sim::scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        initial_state(&spec.spec).unwrap_or_else(|e| panic!("{e}"));
        let notes = tmesim::config::advice::advisories(&spec.spec);
        assert!(notes.is_empty(), "{name}: {notes:?}");
    }
}

/// Unit slips that are valid configs get a warning naming the key (a
/// step 30 times finer than needed; a tumour radius given in mm), and a
/// voxel edge below a cell's scale is refused naming `grid.dx_um`, not
/// the initial piece it empties.
#[test]
fn unit_slips_are_named() {
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/baseline.toml");
    let notes = |set: &str| {
        let spec = tmesim::sim::scenario::load(&baseline, &[set.to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        tmesim::config::advice::advisories(&spec.spec)
    };
    let n = notes("time.dt_min=0.25");
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        n[0].starts_with("time.dt_min = 0.25 min gives 345600 steps, 30x"),
        "{}",
        n[0]
    );
    let n = notes("fields.tumor.initial.radius_um=0.3");
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        n[0].starts_with("fields.tumor.initial[0].radius_um = 0.3 um is under half a voxel"),
        "{}",
        n[0]
    );
    let e = match tmesim::sim::scenario::load(&baseline, &["grid.dx_um=0.02".to_string()]) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("dx 0.02 um is accepted"),
    };
    assert!(e.contains("grid.dx_um") && e.contains("[1, 10000]"), "{e}");
    // The CLI prints the warning before the run starts.
    let out = Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .args([
            "check",
            baseline.to_str().unwrap(),
            "--set",
            "time.dt_min=0.25",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains("time.dt_min = 0.25"),
        "{stderr}"
    );
}

#[test]
fn therapy_file_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("therapies")).unwrap();
    let scenario = write(
        dir.path(),
        "s.toml",
        "arm = [\"mydrug\"]\n[grid]\nnx = 10\nny = 10\n",
    );
    let drug = |effect: &str| {
        format!(
            "agent = \"x\"\n[schedule]\ndose_mg = 100.0\n[pk]\nhalf_life_days = 1.0\n[response]\nec50_mg_per_l = 1.0\n{effect}"
        )
    };
    let load = |effect: &str| {
        write(&dir.path().join("therapies"), "mydrug.toml", &drug(effect));
        tmesim::sim::scenario::load(&scenario, &[])
            .err()
            .map(|e| e.to_string())
    };
    let e =
        load("[[effect]]\nparam = \"kill_rate_per_dya\"\nop = \"scale\"\nvalue = 2.0\n").unwrap();
    assert!(
        e.contains("therapies/mydrug.toml") && e.contains("effect[0].param"),
        "{e}"
    );
    // The closest few of the registry's names, not all of them.
    let closest = format!(
        "closest of {} valid: kill_rate_per_day",
        tmesim::model::params::PARAM_SPECS.len()
    );
    assert!(
        e.contains("did you mean `kill_rate_per_day`")
            && e.contains(&closest)
            && !e.contains("pd1_occupancy"),
        "{e}"
    );
    let e =
        load("[[effect]]\nparam = \"kill_rate_per_day\"\nop = \"scale\"\nvalue = 100.0\n").unwrap();
    assert!(
        e.contains("kill_rate_per_day") && e.contains("[0, 50]"),
        "{e}"
    );
    let e = load("[[effect]]\nfield = \"vegf\"\nop = \"sink\"\nvalue = -1.0\n").unwrap();
    assert!(e.contains("effect[0].value"), "{e}");
    let e =
        load("[[effect]]\nparam = \"pd1_occupancy\"\nop = \"occupy\"\nvalue = 1.0\ncolour = 1\n")
            .unwrap();
    assert!(e.contains("mydrug.toml") && e.contains("colour"), "{e}");
    assert!(
        load("[[effect]]\nparam = \"pd1_occupancy\"\nop = \"occupy\"\nvalue = 1.0\n").is_none()
    );
    let e = error_of("arm = [\"anti_pd2\"]\n");
    assert!(
        e.contains("anti_pd2")
            && e.contains("did you mean `anti_pd1`")
            && e.contains("bevacizumab"),
        "{e}"
    );
}

#[test]
fn phenotype_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("phenotypes")).unwrap();
    let scenario = write(
        dir.path(),
        "s.toml",
        "phenotype = \"mine\"\n[grid]\nnx = 10\nny = 10\n",
    );
    let load = |text: &str| {
        write(&dir.path().join("phenotypes"), "mine.toml", text);
        tmesim::sim::scenario::load(&scenario, &[])
            .err()
            .map(|e| e.to_string())
    };
    let e = load("[fields.pi3kk]\ninitial = { kind = \"uniform\", value = 1.0 }\n").unwrap();
    assert!(
        e.contains("phenotypes/mine.toml") && e.contains("did you mean `pi3k`"),
        "{e}"
    );
    let e =
        load("[[change]]\nparam = \"mdsc_entry_per_day\"\nop = \"occupy\"\nvalue = 1.0\n").unwrap();
    assert!(e.contains("change[0].op"), "{e}");
    let e = load("[[change]]\nparam = \"crowding_limit\"\nop = \"scale\"\nvalue = 5.0\n").unwrap();
    assert!(
        e.contains("crowding_limit") && e.contains("[0.05, 1]"),
        "{e}"
    );
    let e = load("extends = \"mine\"\n").unwrap();
    assert!(e.contains("extends"), "{e}");
    assert!(load("extends = \"responsive\"\n[[change]]\nparam = \"mdsc_entry_per_day\"\nop = \"scale\"\nvalue = 2.0\n").is_none());
}

/// A bad value given on the command line is blamed on its flag first
/// (`--set`, `--phenotype`), then on the file it was applied to.
#[test]
fn cli_values_name_their_flag() {
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/baseline.toml");
    let error = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tmesim"))
            .arg("check")
            .arg(&baseline)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = error(&["--set", "params.kill_rate_per_day=-1"]);
    assert!(
        e.starts_with("error: --set params.kill_rate_per_day=-1: ") && e.contains("[0, 50]"),
        "{e}"
    );
    let e = error(&["--phenotype", "nope"]);
    assert!(
        e.starts_with("error: --phenotype nope: ") && e.contains("responsive"),
        "{e}"
    );
    let e = error(&["--set", "fields.tumor.initial.value=2"]);
    assert!(
        e.starts_with("error: --set fields.tumor.initial.value=2: ") && e.contains("[0, 1]"),
        "{e}"
    );
    // An error of the file itself names no flag.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "s.toml", "[params]\nkill_rate_per_day = -1\n");
    let out = Command::new(env!("CARGO_BIN_EXE_tmesim"))
        .args(["check", path.to_str().unwrap(), "--set", "time.end_days=1"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.starts_with("error: ") && !e.contains("--set"), "{e}");
}

/// Every mistake of a config is reported in one pass, each with its key,
/// in the order of the config's sections.
#[test]
fn all_errors_are_reported_at_once() {
    let e = error_of(
        "[grid]\ndx_um = 0.5\n[time]\ndt_min = 0\n[params]\ncrowding_limit = 3\nkill_rate_per_day = -1\n",
    );
    assert!(e.starts_with("4 errors:\n"), "{e}");
    let keys = [
        "grid.dx_um",
        "time.dt_min",
        "params.crowding_limit",
        "params.kill_rate_per_day",
    ];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| {
            e.find(&format!("`{k}`"))
                .unwrap_or_else(|| panic!("{k} missing: {e}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{e}");
    assert_eq!(e.lines().count(), 5, "{e}");
    // One error stays one line.
    let e = error_of("[time]\ndt_min = 0\n");
    assert!(!e.contains("errors:") && e.contains("time.dt_min"), "{e}");
}

// ---- Refusals found by abusing the command line (moved from the reliability tests) ----

/// `tmesim check` of a scenario with the therapy `text` in its therapies/.
fn check_with_therapy(text: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("therapies")).unwrap();
    std::fs::write(dir.path().join("therapies/mine.toml"), text).unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::copy(BASELINE, &scenario).unwrap();
    let mut args = vec!["check", scenario.to_str().unwrap(), "--arm", "mine"];
    args.extend(extra);
    let o = tmesim(&args);
    assert!(!o.status.success(), "accepted: {text}");
    stderr(&o)
}

const DRUG_TAIL: &str = "[response]\nec50_mg_per_l = 1.0\n[[effect]]\nparam = \"pd1_occupancy\"\nop = \"set\"\nvalue = 0.5\n";

#[test]
fn a_therapy_without_a_dose_is_refused() {
    let e = check_with_therapy(
        &format!(
            "agent = \"x\"\n[schedule]\ninterval_days = 21\n[pk]\nhalf_life_days = 20\n{DRUG_TAIL}"
        ),
        &[],
    );
    assert!(e.contains("mine.toml") && e.contains("dose_mg"), "{e}");
}

#[test]
fn two_compartment_keys_without_two_compartments_are_refused() {
    let e = check_with_therapy(
        &format!(
            "agent = \"x\"\n[schedule]\ndose_mg = 200\n[pk]\nclearance_l_per_day = 0.2\n\
             peripheral_volume_l = 3\nintercompartmental_l_per_day = 0.5\n{DRUG_TAIL}"
        ),
        &[],
    );
    assert!(
        e.contains("pk.peripheral_volume_l") && e.contains("compartments = 2"),
        "{e}"
    );
}

#[test]
fn a_radiotherapy_without_field_or_lq_parameters_is_refused() {
    let e = check_with_therapy(
        "[radiation]\ndose_gy = 2\nfraction_days = [1]\nalpha_per_gy = { tumor = 0.3 }\n",
        &[],
    );
    assert!(e.contains("mine.toml") && e.contains("field"), "{e}");
    let e = check_with_therapy(
        "[radiation]\ndose_gy = 2\nfraction_days = [1]\nfield = { shape = \"whole\" }\n",
        &[],
    );
    assert!(
        e.contains("radiation.alpha_per_gy") && e.contains("kill nothing"),
        "{e}"
    );
}

fn check(args: &[&str]) -> String {
    let mut all = vec!["check", "configs/baseline.toml"];
    all.extend(args);
    let o = tmesim(&all);
    assert!(!o.status.success(), "accepted: {args:?}");
    stderr(&o)
}

#[test]
fn an_empty_arm_and_a_multi_line_set_value_are_refused() {
    assert!(check(&["--arm", ""]).contains("--arm is empty"));
    let e = check(&["--set", "time.end_days=3\ngrid.nx=10"]);
    assert!(
        e.contains("spans several lines") && e.contains("time.end_days"),
        "{e}"
    );
}

#[test]
fn a_tumour_outside_the_grid_is_refused() {
    let e = check(&["--set", "grid.nx=40"]);
    assert!(
        e.contains("fields.tumor.initial[0]") && e.contains("outside the grid"),
        "{e}"
    );
}

#[test]
fn render_refuses_a_frame_rate_outside_the_config_range() {
    let o = tmesim(&["render", "/nonexistent", "--fps", "0.0001"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("[0.1, 100]"), "{}", stderr(&o));
}

#[test]
fn a_duplicated_compare_arm_is_refused() {
    let o = tmesim(&[
        "compare",
        "configs/baseline.toml",
        "--arms",
        "anti_pd1; control; anti_pd1",
        "--out",
        "/nonexistent/never-created",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("`anti_pd1` twice"), "{}", stderr(&o));
}

#[test]
fn errors_name_the_key_call_values_values_and_stay_short() {
    let e = check(&["--set", "grid.nx=abc"]);
    assert!(e.contains("`--set grid.nx=abc`"), "{e}");
    let e = check(&["--set", "solver.diffusion=magic"]);
    assert!(
        e.contains("`solver.diffusion` = \"magic\" is not a valid value")
            && !e.contains("unknown key"),
        "{e}"
    );
    let e = check(&["--arm", "anti_pd2"]);
    assert!(
        e.contains("--arm: no therapy named `anti_pd2`") && !e.contains("unknown key"),
        "{e}"
    );
    let e = check(&["--set", "params.kill_rate=3"]);
    assert!(
        e.contains("kill_rate_per_day") && !e.contains("rt_half_z_um"),
        "{e}"
    );
    let long = format!("time.end_days={}", "x".repeat(100_000));
    let e = check(&["--set", &long]);
    assert!(e.len() < 1000, "{} characters", e.len());
    let o = tmesim(&["check", "/nonexistent.toml"]);
    let e = stderr(&o);
    assert_eq!(e.matches("os error 2").count(), 1, "{e}");
}

#[test]
fn an_error_in_a_phenotype_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("phenotypes")).unwrap();
    std::fs::write(
        dir.path().join("phenotypes/mine.toml"),
        "description = \"x\"\n[[change]]\nparam = \"kill_rate_per_day\"\nop = \"set\"\nvalue = 1e9\n",
    )
    .unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::copy(BASELINE, &scenario).unwrap();
    let o = tmesim(&["check", scenario.to_str().unwrap(), "--phenotype", "mine"]);
    let e = stderr(&o);
    assert!(
        e.contains("phenotypes/mine.toml") && e.contains("kill_rate_per_day"),
        "{e}"
    );
    assert!(!e.contains("s.toml:"), "{e}");
}
