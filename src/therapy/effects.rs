//! Effects of therapies and phenotypes on registry parameters.
//!
//! A therapy's effect is scaled by its exposure E in [0, 1]. Effects on
//! one step are applied in a fixed order, whatever the order of therapies
//! in the arm: every `occupy` (independent blockade, so two drugs on one
//! target combine as 1 - (1 - a)(1 - b)), then every `scale`, then every
//! `add` and `sink`.

use super::schema::{Effect, EffectOp};
use crate::config::error::{closest, At, ConfigError};
use crate::model::fields::FIELDS;
use crate::model::params::{ModelParams, ParamId, PARAM_SPECS};
use std::path::Path;

/// A validated effect on one registry parameter (sinks become `add` on
/// the field's `sink_<field>_per_day`).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamEffect {
    pub param: ParamId,
    pub op: EffectOp,
    pub value: f64,
}

/// The registry parameter of a field's extra sink (the field table's
/// `sink_param` column).
pub fn sink_param(field: &str) -> Option<ParamId> {
    let name = FIELDS.iter().find(|f| f.name == field)?.sink_param?;
    Some(ParamId::of(name).expect("the field table names registry parameters"))
}

/// `key` names something unknown: a parameter or field name is a value.
fn unknown(file: &Path, key: String, name: &str, valid: Vec<String>) -> ConfigError {
    ConfigError::UnknownValue {
        file: file.into(),
        location: String::new(),
        suggestion: closest(name, valid.iter().map(String::as_str)),
        key,
        value: name.into(),
        reason: "is not a known name".into(),
        valid,
    }
}

/// Check one effect of `file` (`key` locates it, e.g. `effect[2]`).
/// `phenotype` allows `set` and forbids `occupy` and `sink`.
pub fn resolve_effect(
    e: &Effect,
    file: &Path,
    key: &str,
    phenotype: bool,
) -> Result<ParamEffect, ConfigError> {
    let cx = At::under(file, key);
    let allowed: &[EffectOp] = if phenotype {
        &[EffectOp::Set, EffectOp::Scale, EffectOp::Add]
    } else {
        &[
            EffectOp::Occupy,
            EffectOp::Scale,
            EffectOp::Add,
            EffectOp::Sink,
        ]
    };
    if !allowed.contains(&e.op) {
        let names: Vec<_> = allowed.iter().map(|o| o.as_str()).collect();
        return Err(cx.invalid(
            "op",
            format!(
                "`{}` is not allowed here; use one of {}",
                e.op.as_str(),
                names.join(", ")
            ),
        ));
    }
    if !e.value.is_finite() {
        return Err(cx.invalid("value", "must be a finite number"));
    }
    let param = if e.op == EffectOp::Sink {
        sink_target(&cx, e)?
    } else {
        param_target(&cx, e)?
    };
    // A sink adds to the field's sink rate.
    let op = if e.op == EffectOp::Sink {
        EffectOp::Add
    } else {
        e.op
    };
    Ok(ParamEffect {
        param,
        op,
        value: e.value,
    })
}

/// The sink parameter of the `field` a sink names.
fn sink_target(cx: &At, e: &Effect) -> Result<ParamId, ConfigError> {
    if e.param.is_some() {
        return Err(cx.invalid("param", "a sink names a `field`, not a `param`"));
    }
    let field = e
        .field
        .as_deref()
        .ok_or_else(|| cx.invalid("field", "a sink needs the `field` it removes"))?;
    if e.value < 0.0 {
        return Err(cx.invalid(
            "value",
            format!("sink rate {} must be >= 0 (1/day)", e.value),
        ));
    }
    sink_param(field).ok_or_else(|| {
        let sinkable = FIELDS
            .iter()
            .filter(|f| f.sink_param.is_some())
            .map(|f| f.name.to_string())
            .collect();
        unknown(cx.file, cx.key("field"), field, sinkable)
    })
}

/// The registry parameter an `occupy`, `scale`, `add` or `set` names,
/// checked against what the op needs.
fn param_target(cx: &At, e: &Effect) -> Result<ParamId, ConfigError> {
    if e.field.is_some() {
        return Err(cx.invalid(
            "field",
            format!(
                "only a sink names a field; `{}` names a `param`",
                e.op.as_str()
            ),
        ));
    }
    let name = e.param.as_deref().ok_or_else(|| {
        cx.invalid(
            "param",
            "missing: the registry parameter this effect changes",
        )
    })?;
    let id = ParamId::of(name).ok_or_else(|| {
        unknown(
            cx.file,
            cx.key("param"),
            name,
            PARAM_SPECS.iter().map(|s| s.name.to_string()).collect(),
        )
    })?;
    let spec = id.spec();
    match e.op {
        EffectOp::Occupy if !(spec.min == 0.0 && spec.max == 1.0) => Err(cx.invalid(
            "op",
            format!(
                "`occupy` needs a fraction parameter (range [0, 1]); `{name}` has [{}, {}]",
                spec.min, spec.max
            ),
        )),
        EffectOp::Occupy if !(0.0..=1.0).contains(&e.value) => Err(cx.invalid(
            "value",
            format!("occupancy value {} is outside [0, 1]", e.value),
        )),
        EffectOp::Scale if e.value < 0.0 => {
            Err(cx.invalid("value", format!("scale factor {} must be >= 0", e.value)))
        }
        _ => Ok(id),
    }
}

/// Apply `(effect, exposure)` pairs to `p` in the documented order.
pub fn apply<'a>(p: &mut ModelParams, effects: impl IntoIterator<Item = (&'a ParamEffect, f64)>) {
    let mut list: Vec<_> = effects.into_iter().collect();
    list.sort_by_key(|(e, _)| e.op);
    for (e, exposure) in list {
        let slot = &mut p[e.param];
        let v = *slot as f64;
        *slot = match e.op {
            EffectOp::Occupy => 1.0 - (1.0 - v) * (1.0 - e.value * exposure),
            EffectOp::Scale => v * (1.0 + (e.value - 1.0) * exposure),
            EffectOp::Add | EffectOp::Sink => v + e.value * exposure,
            EffectOp::Set => e.value,
        } as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fields::FieldKind;

    fn effect(param: &str, op: EffectOp, value: f64) -> Effect {
        Effect {
            param: Some(param.into()),
            field: None,
            op,
            value,
            note: String::new(),
        }
    }

    #[test]
    fn blockade_combines_independently_and_ops_apply_in_order() {
        let path = Path::new("t.toml");
        let a = resolve_effect(
            &effect("pd1_occupancy", EffectOp::Occupy, 1.0),
            path,
            "effect[0]",
            false,
        )
        .unwrap();
        let s = resolve_effect(
            &effect("kill_rate_per_day", EffectOp::Scale, 3.0),
            path,
            "effect[1]",
            false,
        )
        .unwrap();
        let d = resolve_effect(
            &effect("kill_rate_per_day", EffectOp::Add, 1.0),
            path,
            "effect[2]",
            false,
        )
        .unwrap();
        let mut p = ModelParams::default();
        // Add listed before scale still applies after it.
        apply(&mut p, [(&d, 1.0), (&a, 0.5), (&a, 0.5), (&s, 0.5)]);
        assert!((p.pd1_occupancy - 0.75).abs() < 1e-6);
        let k = ModelParams::default().kill_rate_per_day;
        assert!((p.kill_rate_per_day - (k * 2.0 + 1.0)).abs() < 1e-5);
    }

    #[test]
    fn sinks_name_fields_and_unknown_names_list_the_valid_ones() {
        let path = Path::new("x.toml");
        let sink = Effect {
            param: None,
            field: Some("vegf".into()),
            op: EffectOp::Sink,
            value: 100.0,
            note: String::new(),
        };
        let e = resolve_effect(&sink, path, "effect[0]", false).unwrap();
        assert_eq!(e.param.name(), "sink_vegf_per_day");
        let bad = resolve_effect(
            &effect("kill_rate_per_dya", EffectOp::Scale, 2.0),
            path,
            "effect[3]",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("x.toml") && bad.contains("effect[3].param"),
            "{bad}"
        );
        assert!(bad.contains("did you mean `kill_rate_per_day`"), "{bad}");
        // The closest few of the registry's names, not all of them.
        let closest = format!(
            "closest of {} valid: kill_rate_per_day",
            crate::model::params::PARAM_SPECS.len()
        );
        assert!(
            bad.contains("\"kill_rate_per_dya\" is not a known name")
                && bad.contains(&closest)
                && !bad.contains("pd1_occupancy"),
            "lists the closest valid names: {bad}"
        );
        let wrong = resolve_effect(
            &effect("kill_rate_per_day", EffectOp::Occupy, 1.0),
            path,
            "effect[0]",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(wrong.contains("fraction parameter"), "{wrong}");
    }

    #[test]
    fn every_molecule_and_cell_field_has_a_sink() {
        for f in FIELDS
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Molecule | FieldKind::Cell))
        {
            assert!(sink_param(f.name).is_some(), "no sink for {}", f.name);
        }
    }
}
