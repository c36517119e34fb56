//! Finding therapy and phenotype files by name.
//!
//! A name resolves, in order, to: a path (a name ending in `.toml`,
//! relative to the scenario's folder); `<scenario folder>/therapies/NAME.toml`
//! (or `phenotypes/`); the copy of the shipped `configs/...` file built into
//! the binary, so scenarios outside the repository still find them.

use crate::config::error::{closest, ConfigError};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Therapy,
    Phenotype,
}

macro_rules! builtin {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../configs/", $dir, "/", $name, ".toml")))),*]
    };
}

const THERAPIES: &[(&str, &str)] = builtin!("therapies":
    "anti_pd1", "anti_ctla4", "anti_lag3", "bevacizumab", "pi3k_inhibitor",
    "paclitaxel", "radiotherapy", "a2a_antagonist", "ido_inhibitor", "probiotics",
);

const PHENOTYPES: &[(&str, &str)] = builtin!("phenotypes":
    "responsive", "mdsc_rich", "treg_rich", "m2_rich", "lag3_high", "pd1_high",
    "pi3k_active", "wnt_cold", "vegf_high", "adenosine_high", "ido_high",
);

impl Kind {
    /// "therapy" or "phenotype".
    pub fn name(self) -> &'static str {
        match self {
            Kind::Therapy => "therapy",
            Kind::Phenotype => "phenotype",
        }
    }

    pub fn folder(self) -> &'static str {
        match self {
            Kind::Therapy => "therapies",
            Kind::Phenotype => "phenotypes",
        }
    }

    fn builtin(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Therapy => THERAPIES,
            Kind::Phenotype => PHENOTYPES,
        }
    }
}

/// Names of the shipped files of `kind`.
pub fn builtin_names(kind: Kind) -> Vec<&'static str> {
    kind.builtin().iter().map(|(n, _)| *n).collect()
}

/// The file of `name`: its path (for messages) and its text. `referrer` is
/// the file that named it and `key` the key that did, for the error.
pub fn find(
    kind: Kind,
    name: &str,
    scenario_dir: &Path,
    referrer: &Path,
    key: &str,
) -> Result<(PathBuf, String), ConfigError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path)
            .map(|text| (path.clone(), text))
            .map_err(|error| ConfigError::Read { file: path, error })
    };
    if name.ends_with(".toml") {
        return read(scenario_dir.join(name));
    }
    let local = scenario_dir
        .join(kind.folder())
        .join(format!("{name}.toml"));
    if local.is_file() {
        return read(local);
    }
    if let Some((_, text)) = kind.builtin().iter().find(|(n, _)| *n == name) {
        let shown = PathBuf::from(format!("configs/{}/{name}.toml (built in)", kind.folder()));
        return Ok((shown, text.to_string()));
    }
    let valid: Vec<String> = builtin_names(kind).iter().map(|s| s.to_string()).collect();
    Err(ConfigError::UnknownValue {
        file: referrer.into(),
        location: String::new(),
        key: key.into(),
        value: name.into(),
        reason: format!(
            "names no {} file (none in {} and none built in)",
            kind.name(),
            scenario_dir.join(kind.folder()).display()
        ),
        suggestion: closest(name, valid.iter().map(String::as_str)),
        valid,
    })
}

/// Check the therapy names of a command-line arm (`--arm`, `--arms`)
/// before the scenario is loaded, so a typo is reported as what it is: a
/// value given on the command line, not a key of the scenario file. A name
/// is known when the scenario defines `[therapy.NAME]`, a `therapies/NAME.toml`
/// sits beside it, it is a `.toml` path there, or it is a shipped therapy.
pub fn check_arm(option: &str, arm: &[String], scenario: &Path) -> Result<(), String> {
    let dir = scenario.parent().unwrap_or(Path::new("."));
    let inline: Vec<String> = std::fs::read_to_string(scenario)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("therapy").and_then(|v| v.as_table()).cloned())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    for name in arm {
        let known = inline.contains(name)
            || (name.ends_with(".toml") && dir.join(name).is_file())
            || dir.join("therapies").join(format!("{name}.toml")).is_file()
            || builtin_names(Kind::Therapy).contains(&name.as_str());
        if known {
            continue;
        }
        let mut candidates: Vec<String> = builtin_names(Kind::Therapy)
            .iter()
            .map(|s| s.to_string())
            .collect();
        candidates.extend(inline.iter().cloned());
        let hint = closest(name, candidates.iter().map(String::as_str))
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        return Err(format!(
            "{option}: no therapy named `{name}`{hint}. Therapies: {} (configs/therapies, \
             docs/therapies.md), `control` for no treatment, or a [therapy.{name}] table in {}",
            candidates.join(", "),
            scenario.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_typos_name_the_option_and_the_value() {
        let scenario = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/baseline.toml"
        ));
        let e = check_arm("--arm", &["anti_pd2".into()], scenario).unwrap_err();
        assert!(
            e.starts_with("--arm: no therapy named `anti_pd2` (did you mean `anti_pd1`?)"),
            "{e}"
        );
        assert!(!e.contains("key"), "{e}");
        assert!(check_arm("--arm", &["anti_pd1".into(), "anti_lag3".into()], scenario).is_ok());
    }
}
