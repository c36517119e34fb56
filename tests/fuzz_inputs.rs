//! Property-based fuzzing of every input a user writes: the scenario, a
//! therapy file and a phenotype file, each mutated line by line, and
//! `--set` overrides with hostile keys and values. Every case must end in a
//! valid run setup or a config error, never a panic (proptest reports a
//! panic as a failure and shrinks it to a minimal input).

use proptest::prelude::*;
use std::path::Path;
use tmesim::backend::plan::TransportPlan;
use tmesim::config::initial::initial_state;

const SCENARIO: &str = include_str!("../configs/baseline.toml");
const THERAPY: &str = include_str!("../configs/therapies/anti_pd1.toml");
const RADIATION: &str = include_str!("../configs/therapies/radiotherapy.toml");
const PHENOTYPE: &str = include_str!("../configs/phenotypes/mdsc_rich.toml");

/// Values that have broken parsers and validators before.
const HOSTILE: &[&str] = &[
    "0",
    "-1",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999",
    "\"\"",
    "\"x\"",
    "[]",
    "[1, 2]",
    "{}",
    "{ kind = \"disk\" }",
    "true",
    "0.5",
    "1e9",
    "3",
    "\"control\"",
    "\"anti_pd1\"",
    "\"magic\"",
    "[\"anti_pd1\", \"anti_pd1\"]",
];

/// Keys worth hitting with `--set`, and some that do not exist.
const KEYS: &[&str] = &[
    "grid.nx",
    "grid.ny",
    "grid.nz",
    "grid.dx_um",
    "time.dt_min",
    "time.end_days",
    "time.save_every_min",
    "solver.diffusion",
    "solver.splitting",
    "phenotype",
    "arm",
    "params.kill_rate_per_day",
    "params.crowding_limit",
    "fields.tumor.initial",
    "fields.vegf.boundary",
    "fields.ifng.diffusion_um2_per_min",
    "output.fps",
    "output.composite",
    "output.fields",
    "output.slice_z",
    "output.checkpoint_every_min",
    "model.reactions",
    "nosuch",
    "grid",
    "params",
    "a..b",
    "",
    "fields.nosuch.decay_per_min",
];

#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    /// Replace the value of the line's `key = value` with a hostile one.
    ReplaceValue(usize, usize),
    Insert(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), 0..HOSTILE.len()).prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        (any::<usize>(), "[ -~\n]{0,12}").prop_map(|(at, s)| Mutation::Insert(at, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(l) => {
                lines.remove(l % n);
            }
            Mutation::DuplicateLine(l) => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            Mutation::ReplaceValue(l, v) => {
                let line = &mut lines[l % n];
                if let Some((key, _)) = line.split_once('=') {
                    *line = format!("{key}= {}", HOSTILE[*v]);
                }
            }
            Mutation::Insert(at, s) => {
                let line = &mut lines[at % n];
                let cut = line
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(at % (line.chars().count() + 1))
                    .unwrap_or(line.len());
                line.insert_str(cut, s);
            }
            Mutation::Truncate(l) => lines.truncate(l % n + 1),
        }
    }
    lines.join("\n")
}

fn set_arg() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..KEYS.len(), 0..HOSTILE.len()).prop_map(|(k, v)| format!("{}={}", KEYS[k], HOSTILE[v])),
        1 => "[ -~]{0,20}",
    ]
}

/// Set up a run from the (mutated) files; a valid setup is also turned into
/// its initial state and transport plan when the grid is small enough to
/// build here.
fn try_setup(scenario: &str, therapy: &str, radiation: &str, phenotype: &str, sets: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("therapies")).unwrap();
    std::fs::create_dir_all(d.join("phenotypes")).unwrap();
    std::fs::write(d.join("s.toml"), scenario).unwrap();
    std::fs::write(d.join("therapies/anti_pd1.toml"), therapy).unwrap();
    std::fs::write(d.join("therapies/radiotherapy.toml"), radiation).unwrap();
    std::fs::write(d.join("phenotypes/mdsc_rich.toml"), phenotype).unwrap();
    let mut overrides = vec![
        "phenotype=\"mdsc_rich\"".to_string(),
        "arm=[\"anti_pd1\", \"radiotherapy\"]".to_string(),
    ];
    overrides.extend(sets.iter().cloned());
    match tmesim::sim::scenario::load(&d.join("s.toml"), &overrides) {
        Ok(spec) => {
            if spec.spec.grid.len() <= 200_000
                && spec
                    .spec
                    .grid
                    .nx
                    .max(spec.spec.grid.ny)
                    .max(spec.spec.grid.nz)
                    <= 512
            {
                let _ = initial_state(&spec.spec);
                let _ = TransportPlan::new(&spec.spec);
                let _ = spec
                    .treatment
                    .params_at(&spec.spec.params, spec.spec.steps / 2);
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
            assert!(text.len() < 4000, "a message of {} characters", text.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 300 in CI (its time limit); PROPTEST_CASES=1000 for a deeper run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_scenarios_give_a_setup_or_an_error(m in proptest::collection::vec(mutation(), 1..4)) {
        try_setup(&mutate(SCENARIO, &m), THERAPY, RADIATION, PHENOTYPE, &[]);
    }

    #[test]
    fn mutated_therapy_files_give_a_setup_or_an_error(
        m in proptest::collection::vec(mutation(), 1..4),
        radiation in any::<bool>(),
    ) {
        if radiation {
            try_setup(SCENARIO, THERAPY, &mutate(RADIATION, &m), PHENOTYPE, &[]);
        } else {
            try_setup(SCENARIO, &mutate(THERAPY, &m), RADIATION, PHENOTYPE, &[]);
        }
    }

    #[test]
    fn mutated_phenotype_files_give_a_setup_or_an_error(m in proptest::collection::vec(mutation(), 1..4)) {
        try_setup(SCENARIO, THERAPY, RADIATION, &mutate(PHENOTYPE, &m), &[]);
    }

    #[test]
    fn hostile_set_overrides_give_a_setup_or_an_error(sets in proptest::collection::vec(set_arg(), 1..3)) {
        try_setup(SCENARIO, THERAPY, RADIATION, PHENOTYPE, &sets);
    }
}

#[test]
fn the_unmutated_inputs_are_valid() {
    // Guards the fuzzing itself: the seeds must be a valid setup, so the
    // mutations explore the neighbourhood of a working run.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.toml"), SCENARIO).unwrap();
    let overrides = vec![
        "phenotype=\"mdsc_rich\"".to_string(),
        "arm=[\"anti_pd1\", \"radiotherapy\"]".to_string(),
    ];
    tmesim::sim::scenario::load(Path::new(&d.join("s.toml")), &overrides)
        .unwrap_or_else(|e| panic!("{e}"));
}
