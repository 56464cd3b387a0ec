//! Checking JSON values against declared types, with the checker's wording, and filling in
//! defaults.

use oaas_compiler::artifact::{Artifact, ParamArtifact, TypeRef};
use serde_json::{Map, Value};

/// How a type is written in `.oaas` source.
pub fn type_name(t: &TypeRef) -> String {
    match t {
        TypeRef::Int => "int".into(),
        TypeRef::Float => "float".into(),
        TypeRef::Bool => "bool".into(),
        TypeRef::String => "string".into(),
        TypeRef::Json => "json".into(),
        TypeRef::List(i) => format!("[{}]", type_name(i)),
        TypeRef::Optional(i) => format!("{}?", type_name(i)),
        TypeRef::Record(r) | TypeRef::Class(r) => r.rsplit('.').next().unwrap_or(r).to_string(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Why a value does not fit a type.
#[derive(Debug, PartialEq)]
pub enum Mismatch {
    /// The value itself is of another kind (`expected `int`, but this is string`).
    Kind {
        /// The type, as written in source.
        expected: String,
        /// What the value is (`string`, `list`, ...).
        found: &'static str,
    },
    /// Something inside it is wrong: an element, a field, a missing or unknown field.
    Inside(String),
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Kind { expected, found } => {
                write!(f, "expected `{expected}`, but this is {found}")
            }
            Mismatch::Inside(why) => f.write_str(why),
        }
    }
}

/// Checks a value against a type; the error names what was expected and found.
pub fn check(artifact: &Artifact, v: &Value, t: &TypeRef) -> Result<(), Mismatch> {
    let ok = match (t, v) {
        (TypeRef::Json, _) => true,
        (TypeRef::Optional(_), Value::Null) => true,
        (TypeRef::Optional(inner), v) => return check(artifact, v, inner),
        (TypeRef::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (TypeRef::Float, Value::Number(_)) => true,
        (TypeRef::Bool, Value::Bool(_)) => true,
        (TypeRef::String, Value::String(_)) => true,
        (TypeRef::Class(_), Value::String(_)) => true,
        (TypeRef::List(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(artifact, item, inner)
                    .map_err(|e| Mismatch::Inside(format!("element {i}: {e}")))?;
            }
            true
        }
        (TypeRef::Record(name), Value::Object(map)) => {
            let record = artifact
                .packages
                .iter()
                .flat_map(|p| &p.records)
                .find(|r| &r.qualified == name);
            if let Some(record) = record {
                for f in &record.fields {
                    match map.get(&f.name) {
                        Some(v) => check(artifact, v, &f.ty)
                            .map_err(|e| Mismatch::Inside(format!("field `{}`: {e}", f.name)))?,
                        None if matches!(f.ty, TypeRef::Optional(_)) => {}
                        None => {
                            return Err(Mismatch::Inside(format!(
                                "missing field `{}` of `{}`",
                                f.name,
                                type_name(t)
                            )))
                        }
                    }
                }
                if let Some(extra) = map
                    .keys()
                    .find(|k| !record.fields.iter().any(|f| &f.name == *k))
                {
                    return Err(Mismatch::Inside(format!(
                        "`{}` has no field `{extra}`",
                        type_name(t)
                    )));
                }
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Mismatch::Kind {
            expected: type_name(t),
            found: kind_of(v),
        })
    }
}

/// Checks call arguments (a JSON object) against parameters and fills in defaults. The
/// messages follow the checker's: unknown names, missing required arguments, mismatched types;
/// `what` names the callee in them (made only for a message: this runs for every call).
pub fn bind_args(
    artifact: &Artifact,
    what: impl Fn() -> String,
    params: &[ParamArtifact],
    args: &Value,
) -> Result<Map<String, Value>, String> {
    let none = Map::new();
    let given = match args {
        Value::Null => &none,
        Value::Object(m) => m,
        other => {
            return Err(format!(
                "arguments must be a JSON object of `name: value`, not {}",
                kind_of(other)
            ))
        }
    };
    if let Some(unknown) = given.keys().find(|k| !params.iter().any(|p| &p.name == *k)) {
        let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
        return Err(format!(
            "{} has no parameter `{unknown}`{}",
            what(),
            if names.is_empty() {
                " (it takes none)".to_string()
            } else {
                format!("; its parameters are {}", names.join(", "))
            }
        ));
    }
    let mut out = Map::new();
    let mut missing = Vec::new();
    for p in params {
        match given.get(&p.name) {
            Some(v) => {
                // Worded as the checker words it (E0200).
                check(artifact, v, &p.ty).map_err(|e| {
                    let (name, ty) = (&p.name, type_name(&p.ty));
                    match e {
                        Mismatch::Kind { found, .. } => format!(
                            "mismatched types: `{name}` expects `{ty}`, but this is `{found}`"
                        ),
                        Mismatch::Inside(why) => {
                            format!("mismatched types: `{name}` expects `{ty}`: {why}")
                        }
                    }
                })?;
                out.insert(p.name.clone(), v.clone());
            }
            None => match &p.default {
                Some(d) => {
                    out.insert(p.name.clone(), d.clone());
                }
                None if matches!(p.ty, TypeRef::Optional(_)) => {
                    out.insert(p.name.clone(), Value::Null);
                }
                None => missing.push(format!("`{}: {}`", p.name, type_name(&p.ty))),
            },
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} is missing the required argument(s) {}",
            what(),
            missing.join(", ")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn empty() -> Artifact {
        Artifact {
            format: String::new(),
            version: String::new(),
            packages: Vec::new(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn checks_types_like_the_checker() {
        let a = empty();
        assert!(check(&a, &json!(3), &TypeRef::Float).is_ok());
        assert!(check(&a, &json!(3.5), &TypeRef::Int).is_err());
        assert!(check(&a, &json!(null), &TypeRef::Optional(Box::new(TypeRef::Int))).is_ok());
        assert!(check(&a, &json!([1, "x"]), &TypeRef::List(Box::new(TypeRef::Int))).is_err());
        let params = vec![
            ParamArtifact {
                name: "height".into(),
                ty: TypeRef::Int,
                default: Some(json!(720)),
            },
            ParamArtifact {
                name: "title".into(),
                ty: TypeRef::String,
                default: None,
            },
        ];
        let bound =
            bind_args(&a, || "`f`".into(), &params, &json!({"title": "x"})).unwrap_or_default();
        assert_eq!(bound.get("height"), Some(&json!(720)));
        let e = bind_args(&a, || "`f`".into(), &params, &json!({"title": 1}))
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "mismatched types: `title` expects `string`, but this is `int`"
        );
        // Something wrong inside a value is named where it is.
        let list = [ParamArtifact {
            name: "xs".into(),
            ty: TypeRef::List(Box::new(TypeRef::Int)),
            default: None,
        }];
        let e = bind_args(&a, || "`f`".into(), &list, &json!({"xs": [1, "x"]}))
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "mismatched types: `xs` expects `[int]`: element 1: expected `int`, but this is string"
        );
        let e = bind_args(&a, || "`f`".into(), &params, &json!({}))
            .err()
            .unwrap_or_default();
        assert!(e.contains("missing the required"), "{e}");
        let e = bind_args(&a, || "`f`".into(), &params, &json!({"titel": "x"}))
            .err()
            .unwrap_or_default();
        assert!(e.contains("no parameter `titel`"), "{e}");
    }
}
