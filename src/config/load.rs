//! Reading a scenario file and applying `--set key=value` overrides.

use super::error::{closest, ConfigError};
use super::schema::Config;
use std::path::Path;

/// Parse a scenario file, then apply `--set` overrides (dotted keys).
pub fn load_config(path: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        file: path.to_path_buf(),
        error,
    })?;
    parse_config(&text, path, overrides)
}

/// Parse scenario text; `path` is used in messages and for relative files.
pub fn parse_config(text: &str, path: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    parse_with_overrides(text, path, overrides)
}

/// Parse any TOML file of the project (a scenario, a cohort), then apply
/// `--set` overrides, naming the file, line or override at fault.
pub fn parse_with_overrides<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
    overrides: &[String],
) -> Result<T, ConfigError> {
    // Deserialize the text itself first, so errors in the file carry its
    // line and column.
    let config: T = toml::from_str(text).map_err(|e| de_error(path, &e, text))?;
    if overrides.is_empty() {
        return Ok(config);
    }
    let mut value: toml::Value = toml::from_str(text).map_err(|e| de_error(path, &e, text))?;
    for arg in overrides {
        apply_override(&mut value, arg).map_err(|message| ConfigError::BadOverride {
            file: path.to_path_buf(),
            arg: arg.clone(),
            message,
        })?;
    }
    value.clone().try_into().map_err(|e: toml::de::Error| {
        // Name the override that broke the config: the first after which
        // the scenario no longer deserializes.
        let culprit = first_bad_override::<T>(text, overrides);
        let unknown = unknown_field(e.message());
        match (culprit, unknown) {
            (Some(arg), (None, _, _)) => ConfigError::BadOverride {
                file: path.to_path_buf(),
                arg: arg.to_string(),
                message: e.message().trim().to_string(),
            },
            (culprit, (Some(name), suggestion, valid)) => {
                let (location, key) = match culprit {
                    Some(arg) => (
                        format!(" (--set {})", super::error::shorten(arg)),
                        arg.split_once('=').map(|(k, _)| k.trim().to_string()),
                    ),
                    None => (" (after --set overrides)".into(), None),
                };
                unknown_error(path, location, e.message(), key, name, suggestion, valid)
            }
            (None, (None, _, _)) => ConfigError::Parse {
                file: path.to_path_buf(),
                message: format!("after --set overrides: {}", e.message()),
            },
        }
    })
}

/// The first of `overrides` after which `text` no longer deserializes.
fn first_bad_override<'a, T: serde::de::DeserializeOwned>(
    text: &str,
    overrides: &'a [String],
) -> Option<&'a str> {
    let mut value: toml::Value = toml::from_str(text).ok()?;
    for arg in overrides {
        apply_override(&mut value, arg).ok()?;
        if value.clone().try_into::<T>().is_err() {
            return Some(arg);
        }
    }
    None
}

/// An unknown key, or an unknown value (serde's "unknown variant") of the
/// key the message's path names.
fn unknown_error(
    path: &Path,
    location: String,
    message: &str,
    key: Option<String>,
    name: String,
    suggestion: Option<String>,
    valid: Vec<String>,
) -> ConfigError {
    if message.contains("unknown variant") {
        ConfigError::UnknownValue {
            file: path.to_path_buf(),
            location,
            key: key.unwrap_or_else(|| "value".into()),
            value: name,
            reason: "is not a valid value".into(),
            suggestion,
            valid,
        }
    } else {
        ConfigError::UnknownKey {
            file: path.to_path_buf(),
            location,
            key: name,
            suggestion,
            valid,
        }
    }
}

/// The dotted key written at `offset` of a TOML text: the key left of
/// `=` on that line, under the last `[table]` header above it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(['[', ']']).trim());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// Parse any TOML file of the project (therapy, phenotype) with the same
/// error reporting as a scenario: file, line and closest valid key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| de_error(path, &e, text))
}

/// Set `a.b.c = value` in a TOML tree. The value is read as TOML (numbers,
/// booleans, arrays, inline tables) and taken as a string otherwise.
pub fn apply_override(root: &mut toml::Value, arg: &str) -> Result<(), String> {
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| "expected key=value, e.g. --set grid.nx=200".to_string())?;
    if raw.contains(['\n', '\r']) {
        return Err("the value spans several lines; give one value per --set".into());
    }
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(format!("`{key}` is not a dotted key such as time.end_days"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {}", raw.trim())) {
        Ok(mut t) => t.remove("v").expect("parsed table has v"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = root;
    for part in &parts[..parts.len() - 1] {
        node = child(node, part, key)?;
    }
    let last = parts[parts.len() - 1];
    if index_of(last).is_some() {
        *child(node, last, key)? = value;
        return Ok(());
    }
    let table = node
        .as_table_mut()
        .ok_or_else(|| format!("the parent of `{key}` is not a table"))?;
    table.insert(last.to_string(), value);
    Ok(())
}

/// `name[i]` as (name, i).
fn index_of(part: &str) -> Option<(&str, &str)> {
    let (name, rest) = part.split_once('[')?;
    Some((name, rest.strip_suffix(']')?))
}

/// The node under `part` of a dotted key: a table entry (created when
/// missing), or with `name[i]` the i-th element of an existing array, so
/// `fields.vessel.initial[0].count` reaches into a list of pieces.
fn child<'a>(
    node: &'a mut toml::Value,
    part: &str,
    key: &str,
) -> Result<&'a mut toml::Value, String> {
    let (name, index) = match index_of(part) {
        Some((name, i)) => (name, Some(i)),
        None => (part, None),
    };
    let table = node
        .as_table_mut()
        .ok_or_else(|| format!("`{name}` is inside a value that is not a table"))?;
    let Some(index) = index else {
        return Ok(table
            .entry(name.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new())));
    };
    let i: usize = index
        .parse()
        .map_err(|_| format!("`{part}` in `{key}`: the index must be a whole number"))?;
    let list = match table.get_mut(name) {
        Some(toml::Value::Array(list)) => list,
        _ => {
            return Err(format!(
                "`{key}`: `{name}` is not a list, so `{part}` names nothing"
            ))
        }
    };
    let len = list.len();
    list.get_mut(i).ok_or_else(|| {
        format!("`{key}`: `{name}` has {len} element(s), so `[{i}]` is out of range")
    })
}

/// Read a TOML value kept unparsed in a scenario (an inline therapy table)
/// as `T`, with the same messages as a file; `path` names where it stood.
pub fn parse_value<T: serde::de::DeserializeOwned>(
    value: &toml::Value,
    path: &Path,
) -> Result<T, ConfigError> {
    value
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| de_error(path, &e, ""))
}

/// Turn a serde/toml error into a message naming the file, the place and,
/// for unknown keys, the closest valid key.
fn de_error(path: &Path, e: &toml::de::Error, text: &str) -> ConfigError {
    let (key, suggestion, valid) = unknown_field(e.message());
    if let Some(key) = key {
        let location = e
            .span()
            .map(|span| format!(" line {}", line_of(text, span.start)))
            .unwrap_or_default();
        let at = e.span().and_then(|span| key_at(text, span.start));
        return unknown_error(path, location, e.message(), at, key, suggestion, valid);
    }
    ConfigError::Parse {
        file: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parse serde's "unknown field `x`, expected one of `a`, `b`" (also
/// "unknown variant") into the key, a suggestion and the valid keys.
fn unknown_field(message: &str) -> (Option<String>, Option<String>, Vec<String>) {
    let rest = match message
        .find("unknown field `")
        .or_else(|| message.find("unknown variant `"))
    {
        Some(i) => &message[i..],
        None => return (None, None, Vec::new()),
    };
    let after = &rest[rest.find('`').unwrap() + 1..];
    let Some(end) = after.find('`') else {
        return (None, None, Vec::new());
    };
    let key = after[..end].to_string();
    let valid: Vec<String> = after[end + 1..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    let suggestion = closest(&key, valid.iter().map(String::as_str));
    (Some(key), suggestion, valid)
}

#[cfg(test)]
mod tests {
    use super::apply_override;

    #[test]
    fn an_override_reaches_into_a_list_by_index() {
        let mut root: toml::Value = toml::from_str(
            "[fields.vessel]\ninitial = [{ count = 70, seed = 7 }, { count = 6 }]\n",
        )
        .unwrap();
        apply_override(&mut root, "fields.vessel.initial[1].count=9").unwrap();
        apply_override(&mut root, "fields.vessel.initial[0]={ count = 3 }").unwrap();
        let list = root["fields"]["vessel"]["initial"].as_array().unwrap();
        assert_eq!(list[1]["count"].as_integer(), Some(9));
        assert_eq!(list[0].as_table().unwrap().len(), 1);
        let e = apply_override(&mut root, "fields.vessel.initial[2].count=1").unwrap_err();
        assert!(e.contains("has 2 element(s)"), "{e}");
        let e = apply_override(&mut root, "fields.vessel.seed[0]=1").unwrap_err();
        assert!(e.contains("is not a list"), "{e}");
        let e = apply_override(&mut root, "fields.vessel.initial[x].count=1").unwrap_err();
        assert!(e.contains("whole number"), "{e}");
    }
}
