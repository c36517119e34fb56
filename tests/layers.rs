//! The layer rule of docs/architecture.md, checked on every build: a
//! module of src/ names (`crate::<module>`) only modules on a lower floor,
//! so no arrow runs up a floor and no two modules import each other. The
//! floors below are those of the table in docs/architecture.md; a second
//! test checks that the two agree.

mod common;

use std::path::Path;

/// Each module of src/ and its floor (docs/architecture.md; `main.rs`, the
/// eighth, uses the library from outside).
const FLOORS: &[(&str, u32)] = &[
    ("app", 7),
    ("cohort", 6),
    ("bench", 6),
    ("sim", 5),
    ("cpu", 4),
    ("gpu", 4),
    ("backend", 3),
    ("therapy", 3),
    ("output", 3),
    ("config", 2),
    ("model", 1),
];

fn floor(module: &str) -> Option<u32> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|&(_, f)| f)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The crate modules `text` names as `crate::<module>`.
fn named_modules(text: &str) -> Vec<&str> {
    text.match_indices("crate::")
        .map(|(at, p)| {
            let rest = &text[at + p.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// `file:line: module (floor) names other (floor)` for every import of a
/// module on the same floor or above.
fn violations() -> Vec<String> {
    let mut found = Vec::new();
    for &(module, own) in FLOORS {
        let dir = format!("src/{module}");
        let mut files = if root().join(&dir).is_dir() {
            common::repo_files(&dir, "rs")
        } else {
            Vec::new()
        };
        let single = root().join("src").join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "src/{module} is missing");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for other in named_modules(line) {
                    let Some(theirs) = floor(other) else {
                        // Not a module of the table: a new module needs a row.
                        found.push(format!(
                            "{}:{}: {other} has no floor",
                            file.display(),
                            n + 1
                        ));
                        continue;
                    };
                    if other != module && theirs >= own {
                        let rel = file.strip_prefix(root()).unwrap().display();
                        found.push(format!(
                            "{rel}:{}: {module} (floor {own}) names {other} (floor {theirs})",
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn no_module_names_a_module_above_it_or_beside_it() {
    let found = violations();
    assert!(
        found.is_empty(),
        "imports against the layers of docs/architecture.md:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_floors_are_those_of_docs_architecture_md() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    for &(module, own) in FLOORS {
        let row = doc
            .lines()
            .find(|l| l.starts_with("| ") && l.contains(&format!("`{module}`")))
            .unwrap_or_else(|| panic!("no row for `{module}` in docs/architecture.md"));
        assert!(
            row.starts_with(&format!("| {own} |")),
            "docs/architecture.md puts `{module}` elsewhere than floor {own}: {row}"
        );
    }
}

#[test]
fn the_check_reads_every_form_of_import() {
    assert_eq!(
        named_modules("use crate::sim::run; let g = crate::model::grid::Grid::new();"),
        ["sim", "model"]
    );
}
