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
