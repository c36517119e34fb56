//! Config errors: each names the file, the key and what would be valid.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The io error is in the message, not the source chain: anyhow's
    // `{:#}` would print it twice.
    #[error("{file}: cannot read: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}: {}", shorten_lines(.message))]
    Parse { file: PathBuf, message: String },
    #[error("{file}{location}: unknown key `{}`{}", shorten(.key), suggestion_text(.key, .suggestion, .valid))]
    UnknownKey {
        file: PathBuf,
        /// " line N" where the file position is known, else empty.
        location: String,
        key: String,
        suggestion: Option<String>,
        valid: Vec<String>,
    },
    #[error("{file}{location}: `{key}` = \"{}\" {reason}{}", shorten(.value), suggestion_text(.value, .suggestion, .valid))]
    UnknownValue {
        file: PathBuf,
        /// " line N" where the file position is known, else empty.
        location: String,
        key: String,
        value: String,
        /// E.g. "is not a valid value".
        reason: String,
        suggestion: Option<String>,
        valid: Vec<String>,
    },
    #[error("{file}: `{key}` = {value} is outside the allowed range [{min}, {max}]")]
    OutOfRange {
        file: PathBuf,
        key: String,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("{file}: `{}`: {message}", shorten(.key))]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    #[error("{file}: `--set {}`: {}", shorten(.arg), shorten(.message))]
    BadOverride {
        file: PathBuf,
        arg: String,
        message: String,
    },
    /// Every error of one validation pass, in the order of the config.
    #[error("{}", several(.0, |_| None))]
    Several(Vec<ConfigError>),
}

/// "N errors:" and one line per error, each led by `lead` of it where that
/// gives one (the CLI leads with the flag that set the key).
pub fn several(errors: &[ConfigError], lead: impl Fn(&ConfigError) -> Option<String>) -> String {
    let lines: Vec<String> = errors
        .iter()
        .map(|e| match lead(e) {
            Some(lead) => format!("  - {lead}: {e}"),
            None => format!("  - {e}"),
        })
        .collect();
    format!("{} errors:\n{}", errors.len(), lines.join("\n"))
}

/// Collects the errors of one validation pass, so a config with several
/// mistakes reports them all at once, as a compiler does.
#[derive(Default)]
pub struct Errors(Vec<ConfigError>);

impl Errors {
    /// The value of `r`, or None with its error kept.
    pub fn keep<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(ConfigError::Several(many)) => {
                self.0.extend(many);
                None
            }
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Ok when nothing was kept; one error as itself; several together.
    pub fn finish(mut self) -> Result<(), ConfigError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(ConfigError::Several(self.0)),
        }
    }
}

impl ConfigError {
    /// The config key an error is about, where the message does not name
    /// its `--set` already (unknown keys found by the parser, bad overrides).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownValue { key, location, .. }
            | ConfigError::UnknownKey { key, location, .. }
                if location.is_empty() =>
            {
                Some(key)
            }
            ConfigError::OutOfRange { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Most characters of a user's value echoed in a message.
const SHOWN_CHARS: usize = 80;

/// `text`, cut to `SHOWN_CHARS` characters with the length of the rest.
pub fn shorten(text: &str) -> String {
    let text = text.replace('\n', "\\n").replace('\r', "\\r");
    let n = text.chars().count();
    if n <= SHOWN_CHARS {
        return text;
    }
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{head}... ({} more characters)", n - SHOWN_CHARS)
}

/// `text` with every line cut to `SHOWN_CHARS` characters (parser messages
/// quote the offending line and value).
pub fn shorten_lines(text: &str) -> String {
    text.lines().map(shorten).collect::<Vec<_>>().join("\n")
}

impl ConfigError {
    /// The same error, naming the file that set its key when that is one of
    /// `origins` (key prefix, file) rather than the scenario.
    pub fn blame(mut self, origins: &[(String, PathBuf)]) -> Self {
        if let Some((key, file)) = self.key_and_file() {
            let set_by = |prefix: &String| {
                key == prefix
                    || key.starts_with(&format!("{prefix}."))
                    || key.starts_with(&format!("{prefix}["))
            };
            if let Some((_, origin)) = origins.iter().find(|(prefix, _)| set_by(prefix)) {
                *file = origin.clone();
            }
        }
        self
    }

    /// The key an error is about and the file it names, where it has both.
    fn key_and_file(&mut self) -> Option<(&str, &mut PathBuf)> {
        match self {
            ConfigError::UnknownKey { key, file, .. }
            | ConfigError::UnknownValue { key, file, .. }
            | ConfigError::OutOfRange { key, file, .. }
            | ConfigError::Invalid { key, file, .. } => Some((key.as_str(), file)),
            _ => None,
        }
    }
}

/// Lists longer than this show only the closest names.
const LIST_LIMIT: usize = 12;
/// How many closest names a long list shows.
const CLOSEST_SHOWN: usize = 5;

fn suggestion_text(key: &str, suggestion: &Option<String>, valid: &[String]) -> String {
    let mut s = String::new();
    if let Some(best) = suggestion {
        s.push_str(&format!(" (did you mean `{best}`?)"));
    }
    if valid.len() > LIST_LIMIT {
        // Rank around the suggestion (it is close to what was typed), else
        // around the last part of the dotted key.
        let typed = suggestion
            .as_deref()
            .unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key));
        s.push_str(&format!(
            "; closest of {} valid: {}",
            valid.len(),
            nearest(typed, valid, CLOSEST_SHOWN).join(", ")
        ));
    } else if !valid.is_empty() {
        s.push_str(&format!("; valid: {}", valid.join(", ")));
    }
    s
}

/// The `n` names of `valid` most similar to `key` (Jaro-Winkler), best first.
pub fn nearest(key: &str, valid: &[String], n: usize) -> Vec<String> {
    let mut ranked: Vec<(f64, &String)> = valid
        .iter()
        .map(|v| (strsim::jaro_winkler(key, v), v))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.into_iter().take(n).map(|(_, v)| v.clone()).collect()
}

/// `value` if it is finite and within `[min, max]`, else an error naming
/// `file`, `key` and the range.
pub fn check_range(
    file: &std::path::Path,
    key: &str,
    value: f64,
    min: f64,
    max: f64,
) -> Result<f64, ConfigError> {
    if value.is_finite() && value >= min && value <= max {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            file: file.into(),
            key: key.into(),
            value,
            min,
            max,
        })
    }
}

/// Where checked values stand: their file, and the table their keys sit
/// under (`radiation`, an effect's `arm.effects[1]`, or none for the top of
/// the file). The one builder of errors that name a file and a key, used by
/// every layer that checks a file (scenario, therapies, phenotypes,
/// cohorts).
#[derive(Clone, Copy, Debug)]
pub struct At<'a> {
    pub file: &'a std::path::Path,
    prefix: &'a str,
}

impl<'a> At<'a> {
    /// Keys at the top of `file`.
    pub fn file(file: &'a std::path::Path) -> Self {
        Self { file, prefix: "" }
    }

    /// Keys under the table `prefix` of `file`.
    pub fn under(file: &'a std::path::Path, prefix: &'a str) -> Self {
        Self { file, prefix }
    }

    /// The full key of `key`.
    pub fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// `value` if finite and within `[min, max]`, else the range error.
    pub fn range(&self, key: &str, value: f64, min: f64, max: f64) -> Result<f64, ConfigError> {
        check_range(self.file, &self.key(key), value, min, max)
    }

    pub fn invalid(&self, key: impl AsRef<str>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.into(),
            key: self.key(key.as_ref()),
            message: message.into(),
        }
    }

    /// An unknown key `key.name` (e.g. a parameter name under `params`).
    pub fn unknown_key<'v>(
        &self,
        key: &str,
        name: &str,
        valid: impl Iterator<Item = &'v str> + Clone,
    ) -> ConfigError {
        ConfigError::UnknownKey {
            file: self.file.into(),
            location: String::new(),
            key: self.key(&format!("{key}.{name}")),
            suggestion: closest(name, valid.clone()),
            valid: valid.map(str::to_string).collect(),
        }
    }

    /// An unknown value `name` of `key` (e.g. a field name in a list).
    pub fn unknown_value<'v>(
        &self,
        key: &str,
        name: &str,
        valid: impl Iterator<Item = &'v str> + Clone,
    ) -> ConfigError {
        ConfigError::UnknownValue {
            file: self.file.into(),
            location: String::new(),
            key: self.key(key),
            value: name.into(),
            reason: "is not a valid value".into(),
            suggestion: closest(name, valid.clone()),
            valid: valid.map(str::to_string).collect(),
        }
    }
}

/// The valid key closest to `key`, if it is close enough to be a typo.
pub fn closest<'a>(key: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<String> {
    valid
        .into_iter()
        .map(|v| (strsim::jaro_winkler(key, v), v))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("nxx", ["nx", "ny", "dx_um"]), Some("nx".into()));
        assert_eq!(
            closest(
                "kill_rate_per_dya",
                ["kill_rate_per_day", "tumor_death_per_day"]
            )
            .as_deref(),
            Some("kill_rate_per_day")
        );
        assert_eq!(closest("zzzz", ["nx", "ny"]), None);
    }

    #[test]
    fn long_lists_show_the_closest_few() {
        let valid: Vec<String> = (0..30)
            .map(|k| format!("param_{k}"))
            .chain(["kill_rate_per_day".to_string(), "kill_saturation".into()])
            .collect();
        let e = ConfigError::UnknownKey {
            file: "s.toml".into(),
            location: String::new(),
            key: "params.kill_rate".into(),
            suggestion: closest("kill_rate", valid.iter().map(String::as_str)),
            valid,
        }
        .to_string();
        assert!(
            e.contains("closest of 32 valid: kill_rate_per_day, kill_saturation"),
            "{e}"
        );
        assert!(!e.contains("param_29"), "{e}");
    }
}
