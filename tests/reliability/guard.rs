//! The folder guard, case by case (issue 20): `--force`, merge, render
//! and status never damage what tmesim did not write.

use super::*;

/// Case 1: `cohort merge ... --out / --force` deleted system folders. The
/// guard refuses `/` (unit test `output::guard`), the home folder and the
/// working folder, before anything is read or removed.
#[test]
fn force_never_clears_the_root_home_or_working_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("srv-root");
    write(&cwd.join("records/db.csv"), "id,name\n1,a\n");
    write(&cwd.join("srv/manifest.json"), "{}");
    write(&cwd.join("srv/config.toml"), "# mine");
    write(&cwd.join("srv/app/main.py"), "print()");
    write(&cwd.join("report.html"), "<p>mine</p>");
    let before = snapshot(&cwd);
    let [s1, s2] = shards();
    let o = tmesim_in(
        &cwd,
        &[],
        &[
            "cohort",
            "merge",
            s1.to_str().unwrap(),
            s2.to_str().unwrap(),
            "--out",
            ".",
            "--force",
        ],
    );
    assert_eq!(before, snapshot(&cwd), "merge changed the working folder");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("the working folder"), "{}", stderr(&o));
    let mut args = vec!["run", BASELINE, "--out", ".", "--force"];
    args.extend(TINY);
    let o = tmesim_in(&cwd, &[], &args);
    assert_eq!(before, snapshot(&cwd), "run changed the working folder");
    assert!(stderr(&o).contains("the working folder"), "{}", stderr(&o));
    // The home folder, as $HOME says.
    let mut args = vec!["run", BASELINE, "--out", cwd.to_str().unwrap(), "--force"];
    args.extend(TINY);
    let o = tmesim_in(dir.path(), &[("HOME", &cwd)], &args);
    assert_eq!(before, snapshot(&cwd), "run changed the home folder");
    assert!(stderr(&o).contains("the home folder"), "{}", stderr(&o));
    // A folder above the working folder.
    let o = tmesim_in(
        &cwd.join("srv"),
        &[],
        &[
            "cohort",
            "merge",
            s1.to_str().unwrap(),
            s2.to_str().unwrap(),
            "--out",
            "..",
            "--force",
        ],
    );
    assert!(
        stderr(&o).contains("above the working folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        before,
        snapshot(&cwd),
        "a refused command changed the folder"
    );
}

/// The folder of the case 2: files with tmesim's names, a
/// subfolder with a manifest.json, none of them tmesim's.
fn seeded_user_folder(u: &Path) {
    write(&u.join("config.toml"), "# my config");
    write(&u.join("report.html"), "<p>my report</p>");
    write(&u.join("frames/photo.png"), "my photo");
    write(&u.join("notes.txt"), "my notes");
    write(&u.join("project/manifest.json"), "{\"mine\": true}");
    write(&u.join("project/main.py"), "print('mine')");
}

/// Case 2: `--force` deleted user files named like outputs, then refused.
#[test]
fn force_never_deletes_user_files_with_tmesim_names() {
    let dir = tempfile::tempdir().unwrap();
    let u = dir.path().join("u");
    seeded_user_folder(&u);
    let before = snapshot(&u);
    let o = tiny_run(&u, &["--force"]);
    assert_eq!(before, snapshot(&u), "{}", stderr(&o));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("notes.txt") && e.contains("config.toml") && e.contains("nothing was removed"),
        "{e}"
    );
    assert_eq!(before, snapshot(&u));
    assert!(
        !u.join(".tmesim.lock").exists(),
        "a refusal leaves no lock file"
    );
}

/// Case 3: `--force` followed a symlink out of the folder.
#[test]
fn force_never_follows_a_symlink_out_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("elsewhere/precious");
    let run = dir.path().join("run");
    ok(&tiny_run(&run, &[]));
    // The symlinked folder looks like a run of tmesim's.
    copy_dir(&run, &precious);
    write(&precious.join("records/2025.csv"), "year\n2025\n");
    let outside = snapshot(&precious);
    std::os::unix::fs::symlink(&precious, run.join("webapp")).unwrap();
    let before = snapshot(&run);
    let o = tiny_run(&run, &["--force"]);
    assert_eq!(outside, snapshot(&precious), "{}", stderr(&o));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("webapp (a symlink)"), "{}", stderr(&o));
    assert_eq!(before, snapshot(&run));
}

/// Case 4: `cohort merge s1 s2 --out s1 --force` destroyed shard 1.
#[test]
fn merge_never_writes_into_a_shard() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_copies(dir.path());
    let before = (snapshot(&s[0]), snapshot(&s[1]));
    for out in [s[0].clone(), s[0].join("merged"), dir.path().to_path_buf()] {
        let o = tmesim(&[
            "cohort",
            "merge",
            s[0].to_str().unwrap(),
            s[1].to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(before, (snapshot(&s[0]), snapshot(&s[1])), "{}", stderr(&o));
        assert!(!o.status.success(), "--out {}", out.display());
        assert!(stderr(&o).contains("input"), "{}", stderr(&o));
    }
    // Merged elsewhere, it works.
    let merged = dir.path().join("merged");
    ok(&merge_into(&s, &merged));
    assert!(merged.join("arms.csv").is_file());
}

/// Two private copies of the shared shards.
fn shard_copies(dir: &Path) -> Vec<PathBuf> {
    shards()
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let to = dir.join(format!("s{}", k + 1));
            copy_dir(d, &to);
            to
        })
        .collect()
}

fn merge_into(s: &[PathBuf], out: &Path) -> Output {
    tmesim(&[
        "cohort",
        "merge",
        s[0].to_str().unwrap(),
        s[1].to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Case 5 (second half): a refused rerun of a shard with another
/// `--set` had already rewritten its cohort.toml.
#[test]
fn a_refused_cohort_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_copies(dir.path());
    let before = snapshot(&s[0]);
    let o = tiny_cohort(&s[0], &["--shard", "1/2", "--set", "time.end_days=2"]);
    assert_eq!(
        before,
        snapshot(&s[0]),
        "the refused rerun changed the shard"
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another scenario"), "{}", stderr(&o));
}

/// Case 5: records of another build or scenario were merged silently.
#[test]
fn merge_checks_the_fingerprint_of_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_copies(dir.path());
    // Both shards' cohort.toml say two days (as a refused rerun used to
    // leave one): the records, run for one day, do not match.
    for d in &s {
        let p = d.join("cohort.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("time.end_days=1"), "{text}");
        std::fs::write(&p, text.replace("time.end_days=1", "time.end_days=2")).unwrap();
    }
    let o = merge_into(&s, &dir.path().join("m1"));
    assert!(!o.status.success(), "merged records of another scenario");
    assert!(
        stderr(&o).contains("another tmesim build or scenario"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("m1").exists(), "nothing written");
    for d in &s {
        let p = d.join("cohort.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("time.end_days=2", "time.end_days=1")).unwrap();
    }
    // A record of another build (its run_fingerprint, the last cell of
    // its second line, differs).
    let record = s[1].join("records/p000001/anti_pd1.csv");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let (head, fp) = lines[1].rsplit_once(',').unwrap();
    lines[1] = format!("{head},{}", "0".repeat(fp.len()));
    std::fs::write(&record, lines.join("\n") + "\n").unwrap();
    let o = merge_into(&s, &dir.path().join("m2"));
    assert!(!o.status.success(), "merged a record of another build");
    let e = stderr(&o);
    assert!(
        e.contains("p000001/anti_pd1.csv") && e.contains("another tmesim build or scenario"),
        "{e}"
    );
    std::fs::write(&record, text).unwrap();
    ok(&merge_into(&s, &dir.path().join("m3")));
}

/// Case 6: render ran while a run wrote the folder.
#[test]
fn render_waits_for_the_run_writing_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start_long_run(&out, &[]);
    let o = tmesim(&["render", out.to_str().unwrap()]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another tmesim run"), "{}", stderr(&o));
}

/// Case 7: render said "rendered 11 saved times" after drawing nothing.
#[test]
fn render_fails_when_it_draws_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&tiny_run(&out, &[]));
    std::fs::remove_dir_all(out.join("fields.ome.zarr")).unwrap();
    let o = tmesim(&["render", out.to_str().unwrap(), "--fields", "cd8"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("fields.ome.zarr"), "{}", stderr(&o));
}

/// Case 15: APNG time-lapses above 65 fps played slower (the delay's
/// denominator was clamped at 65535). The disk-full messages:
/// `output::atomic` unit test.
#[test]
fn apng_time_lapses_play_at_their_frame_rate_above_65_fps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&tiny_run(&out, &[]));
    ok(&tmesim(&[
        "render",
        out.to_str().unwrap(),
        "--apng",
        "--fps",
        "100",
    ]));
    let apng = std::fs::read(out.join("animations/montage.apng")).unwrap();
    let at = apng.windows(4).position(|w| w == b"fcTL").unwrap() + 4;
    let num = u16::from_be_bytes([apng[at + 20], apng[at + 21]]);
    let den = u16::from_be_bytes([apng[at + 22], apng[at + 23]]);
    assert_eq!(
        num as f64 / den as f64,
        0.01,
        "delay {num}/{den} s at 100 fps"
    );
}

/// Case 8: `status` called a live run dead when its folder was read-only.
#[test]
fn status_of_a_live_run_in_a_read_only_folder_is_never_dead() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = start_long_run(&out, &[]);
    let root = unsafe { libc::geteuid() } == 0;
    let o = if root {
        // Root writes through permissions: a read-only bind mount, in a
        // mount namespace of its own.
        let d = out.to_str().unwrap();
        Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                &format!(
                    "mount --bind {d} {d} && mount -o remount,ro,bind {d} && exec {} status {d}",
                    env!("CARGO_BIN_EXE_tmesim")
                ),
            ])
            .output()
            .unwrap()
    } else {
        let mode = |p: &Path, m: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        mode(&out.join(".tmesim.lock"), 0o444);
        mode(&out, 0o555);
        let o = tmesim(&["status", out.to_str().unwrap()]);
        mode(&out, 0o755);
        o
    };
    let _ = child.kill();
    let _ = child.wait();
    if root && !o.status.success() {
        eprintln!("SKIPPED: no read-only bind mount here: {}", stderr(&o));
        return;
    }
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.starts_with("running:"), "{said}{}", stderr(&o));
}

/// Case 9: `cohort --out` into a folder of the user's overwrote patients.csv.
#[test]
fn cohort_refuses_a_folder_that_is_not_an_earlier_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    write(&out.join("patients.csv"), "id\n1\n");
    let before = snapshot(&out);
    let o = tiny_cohort(&out, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not an earlier cohort"),
        "{}",
        stderr(&o)
    );
    assert_eq!(before, snapshot(&out));
    let o = tiny_cohort(&out, &["--force"]);
    assert!(!o.status.success());
    assert_eq!(before, snapshot(&out));
}

/// Case 10: a lock file that is a symlink had its target overwritten.
#[test]
fn a_lock_that_is_a_symlink_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("precious.txt");
    write(&target, "mine");
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&target, out.join(".tmesim.lock")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let o = tiny_run(&out, extra);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");
}

/// Case 11: a long axis made `check` allocate 34 GB and abort.
#[test]
fn check_refuses_an_axis_too_long_for_the_dense_propagator() {
    let o = tmesim(&[
        "check",
        BASELINE,
        "--set",
        "grid.nx=65536",
        "--set",
        "grid.ny=3",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("grid.nx") && e.contains("[1, 4096]"), "{e}");
}

/// Case 12: `tmesim check ... | head -1` panicked on the closed pipe.
#[test]
fn check_survives_a_reader_that_closes_the_pipe() {
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tmesim"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["check", BASELINE])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
}

/// Case 13: a truncated record said "the same command continues".
#[test]
fn a_damaged_cohort_record_is_named_with_its_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    ok(&tiny_cohort(&out, &[]));
    let record = out.join("records/p000001/anti_pd1.csv");
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, &text[..text.len() / 2 + 10]).unwrap();
    let o = tiny_cohort(&out, &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("p000001/anti_pd1.csv") && e.contains("remove that file"),
        "{e}"
    );
    assert!(!e.contains("the same command continues"), "{e}");
    std::fs::remove_file(&record).unwrap();
    let e = ok(&tiny_cohort(&out, &[]));
    assert!(e.contains("1 patient-arm result(s) run now"), "{e}");
}

/// Case 14: a resumed run kept only its last backend.
#[test]
fn a_resumed_run_records_the_backend_of_each_segment() {
    let dir = tempfile::tempdir().unwrap();
    let spec = baseline_spec(SHORT_GPU);
    let out = dir.path().join("run");
    assert!(!run_cpu(&spec, &out, true, false).unwrap());
    let first = manifest(&out)["segments"].clone();
    assert_eq!(first.as_array().map(Vec::len), Some(1), "{first}");
    // The second segment on the GPU where there is one.
    let resumed = match common::gpu(&spec) {
        Some(mut gpu) => run_on(gpu.as_mut(), &spec, &out, false, true).unwrap(),
        None => run_cpu(&spec, &out, false, true).unwrap(),
    };
    assert!(resumed);
    let m = manifest(&out);
    let segments = m["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert_eq!(segments[0]["backend"], "cpu");
    assert_eq!(segments[0]["from_step"], 0);
    assert!(segments[0]["to_step"].as_u64().unwrap() > 0);
    assert_eq!(segments[0]["to_step"], segments[1]["from_step"]);
    assert_eq!(segments[1]["to_step"], m["steps_total"]);
    assert_eq!(segments[1]["backend"], m["backend"]);
}
