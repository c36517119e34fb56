//! A scenario given on the command line: its file, phenotype and
//! `--set` overrides, resolved for one arm, and the blame of a bad value
//! on the flag that set it (before the file it was applied to).

use super::cli::Scenario;
use anyhow::Result;

impl Scenario {
    /// Resolve the scenario for one arm. A bad value given on the command
    /// line names its flag before the file it was applied to.
    pub fn load(&self, arm: Option<&[String]>) -> Result<crate::sim::scenario::ArmSpec> {
        crate::sim::scenario::load(&self.config, &self.overrides(arm))
            .map_err(|e| self.blame(e.into(), arm))
    }

    /// `e`, led by the flag that set the key it is about, if one did.
    pub fn blame(&self, e: anyhow::Error, arm: Option<&[String]>) -> anyhow::Error {
        use crate::config::error::ConfigError;
        let flag_of = |c: &ConfigError| c.key().and_then(|key| self.flag_of(key, arm));
        match e.downcast_ref::<ConfigError>() {
            Some(ConfigError::Several(all)) if all.iter().any(|c| flag_of(c).is_some()) => {
                anyhow::anyhow!(crate::config::error::several(all, flag_of))
            }
            Some(c) => match flag_of(c) {
                Some(flag) => e.context(flag),
                None => e,
            },
            None => e,
        }
    }

    /// The flag that set `key` (or a table above it), if one did.
    fn flag_of(&self, key: &str, arm: Option<&[String]>) -> Option<String> {
        // The flag set this key, a table above it, or a key inside it.
        let under = |k: &str| {
            key == k
                || key.starts_with(&format!("{k}."))
                || key.starts_with(&format!("{k}["))
                || k.starts_with(&format!("{key}."))
        };
        if under("phenotype") {
            if let Some(p) = &self.phenotype {
                return Some(format!("--phenotype {p}"));
            }
        }
        if under("arm") {
            if let Some(arm) = arm {
                return Some(format!("--arm {}", arm.join("+")));
            }
        }
        self.set
            .iter()
            .rev()
            .find(|s| s.split_once('=').is_some_and(|(k, _)| under(k.trim())))
            .map(|s| format!("--set {s}"))
    }

    /// The `--set` overrides with the phenotype and arm (if given) added.
    pub(crate) fn overrides(&self, arm: Option<&[String]>) -> Vec<String> {
        let mut all = self.set.clone();
        if let Some(p) = &self.phenotype {
            all.push(format!("phenotype={}", toml::Value::String(p.clone())));
        }
        if let Some(arm) = arm {
            let list = arm.iter().map(|t| toml::Value::String(t.clone())).collect();
            all.push(format!("arm={}", toml::Value::Array(list)));
        }
        all
    }
}
