//! Fuzzing the folder guard: seeded folders (user files, symlinks,
//! names like tmesim's) against every writing command.

use super::*;

/// What a seeded folder starts as.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Base {
    Empty,
    Run,
    Comparison,
    Cohort,
}

/// The writing commands.
#[derive(Clone, Copy, Debug)]
enum Writer {
    Run,
    Compare,
    CompareResume,
    Cohort,
    Merge,
    Render,
}

/// User files, symlinks and names like tmesim's; `owned` lists the bases
/// whose record holds that name (there a command may replace it).
struct Seed {
    path: &'static str,
    link: bool,
    owned: &'static [Base],
}

const SEEDS: &[Seed] = &[
    Seed {
        path: "notes.txt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "config.toml",
        link: false,
        owned: &[Base::Run],
    },
    Seed {
        path: "report.html",
        link: false,
        owned: &[Base::Run, Base::Comparison, Base::Cohort],
    },
    Seed {
        path: "manifest.json",
        link: false,
        owned: &[],
    },
    Seed {
        path: "frames/photo.png",
        link: false,
        owned: &[],
    },
    Seed {
        path: "frames/tumor_01.png",
        link: false,
        owned: &[],
    },
    Seed {
        path: "frames/tumor_0000.png",
        link: false,
        owned: &[Base::Run],
    },
    Seed {
        path: "sub/manifest.json",
        link: false,
        owned: &[],
    },
    Seed {
        path: "records/db.csv",
        link: false,
        owned: &[],
    },
    Seed {
        path: "records/p000000/mine.csv",
        link: false,
        owned: &[],
    },
    Seed {
        path: "checkpoints/keep.ckpt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "fields.ome.zarr/notes.txt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "animations/holiday.gif",
        link: false,
        owned: &[],
    },
    Seed {
        path: "control/notes.txt",
        link: false,
        owned: &[],
    },
    Seed {
        path: "webapp",
        link: true,
        owned: &[],
    },
    Seed {
        path: "frames/link.png",
        link: true,
        owned: &[],
    },
    // An arm folder of the comparison replaced by a symlink.
    Seed {
        path: "anti_pd1",
        link: true,
        owned: &[],
    },
];

/// The folders the seeded cases start from, made once.
struct Bases {
    _dir: tempfile::TempDir,
    run: PathBuf,
    comparison: PathBuf,
    cohort: PathBuf,
}

fn bases() -> &'static Bases {
    static BASES: std::sync::OnceLock<Bases> = std::sync::OnceLock::new();
    BASES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        ok(&tiny_run(&run, &[]));
        let comparison = dir.path().join("comparison");
        ok(&tmesim(&compare_args(&comparison, false)));
        let cohort = dir.path().join("cohort");
        ok(&tiny_cohort(&cohort, &[]));
        Bases {
            _dir: dir,
            run,
            comparison,
            cohort,
        }
    })
}

fn compare_args(out: &Path, force: bool) -> Vec<&str> {
    let mut a = vec![
        "compare",
        BASELINE,
        "--arms",
        "control; anti_pd1",
        "--out",
        out.to_str().unwrap(),
    ];
    a.extend(TINY);
    if force {
        a.push("--force");
    }
    a
}

/// Plant `seeds` (bit k: SEEDS[k]) in `d`; symlinks point to `outside`.
fn plant(d: &Path, seeds: u32, outside: &Path) {
    for (k, s) in SEEDS.iter().enumerate() {
        if seeds & (1 << k) == 0 {
            continue;
        }
        let p = d.join(s.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        }
        if s.link {
            let to = if s.path.ends_with(".png") {
                outside.join("config.toml")
            } else {
                outside.to_path_buf()
            };
            std::os::unix::fs::symlink(to, &p).unwrap();
        } else if s.path.ends_with("manifest.json") && s.path.contains('/') {
            // A valid manifest of tmesim's, in a folder tmesim did not make.
            std::fs::copy(bases().run.join("manifest.json"), &p).unwrap();
        } else {
            std::fs::write(&p, format!("the user's {}", s.path)).unwrap();
        }
    }
}

fn seeded_case(base: Base, writer: Writer, force: bool, seeds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write(&outside.join("config.toml"), "# outside");
    write(&outside.join("records/2025.csv"), "year\n2025\n");
    std::fs::copy(
        bases().run.join("manifest.json"),
        outside.join("manifest.json"),
    )
    .unwrap();
    let d = dir.path().join("d");
    match base {
        Base::Empty => std::fs::create_dir_all(&d).unwrap(),
        Base::Run => copy_dir(&bases().run, &d),
        Base::Comparison => copy_dir(&bases().comparison, &d),
        Base::Cohort => copy_dir(&bases().cohort, &d),
    }
    plant(&d, seeds, &outside);
    let before = snapshot(&d);
    let outside_before = snapshot(&outside);
    let out = d.to_str().unwrap();
    let [s1, s2] = shards();
    let mut args: Vec<&str> = match writer {
        Writer::Run => {
            let mut a = vec!["run", BASELINE, "--out", out];
            a.extend(TINY);
            a
        }
        Writer::Compare => compare_args(&d, false),
        Writer::CompareResume => {
            let mut a = compare_args(&d, false);
            a.push("--resume");
            a
        }
        Writer::Cohort => {
            let mut a = vec!["cohort", SEED_TRIALS, "--out", out];
            a.extend(TINY_COHORT);
            a
        }
        Writer::Merge => vec![
            "cohort",
            "merge",
            s1.to_str().unwrap(),
            s2.to_str().unwrap(),
            "--out",
            out,
        ],
        Writer::Render => vec!["render", out],
    };
    if force && !matches!(writer, Writer::Render | Writer::CompareResume) {
        args.push("--force");
    }
    let o = tmesim(&args);
    if std::env::var_os("TMESIM_FUZZ_LOG").is_some() {
        eprintln!(
            "{base:?} {writer:?} force={force} seeds={seeds:#x}: {}",
            o.status
        );
    }
    let after = snapshot(&d);
    // Every seeded entry outside the base's record, and everything under
    // a seeded folder, is as it was.
    for (k, s) in SEEDS.iter().enumerate() {
        if seeds & (1 << k) == 0 || s.owned.contains(&base) {
            continue;
        }
        let p = Path::new(s.path);
        assert_eq!(
            before.get(p),
            after.get(p),
            "{base:?} {writer:?} force={force}: {} changed; {}",
            s.path,
            stderr(&o)
        );
    }
    assert_eq!(
        outside_before,
        snapshot(&outside),
        "{base:?} {writer:?} force={force}: the folder outside changed; {}",
        stderr(&o)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Every writing command, with and without --force, on folders seeded
    /// with user files, symlinks and tmesim-like names: nothing outside
    /// tmesim's own record of the folder, and nothing outside the folder,
    /// is ever removed or changed.
    #[test]
    fn no_command_removes_or_changes_what_tmesim_did_not_write(
        base in proptest::sample::select(vec![Base::Empty, Base::Run, Base::Comparison, Base::Cohort]),
        writer in proptest::sample::select(vec![Writer::Run, Writer::Compare, Writer::CompareResume, Writer::Cohort, Writer::Merge, Writer::Render]),
        force in proptest::bool::ANY,
        // Few seeds at a time, so that many cases run the command whole
        // (with none, --force replaces the base) rather than refuse.
        picked in proptest::collection::vec(0..SEEDS.len(), 0..3),
    ) {
        let seeds = picked.iter().fold(0u32, |bits, &k| bits | (1 << k));
        seeded_case(base, writer, force, seeds);
    }
}
