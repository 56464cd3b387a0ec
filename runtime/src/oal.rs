//! Values of object access expressions, as JSON.

use oaas_compiler::syntax::ast::{Arg, Expr, ExprKind};
use serde_json::{Map, Value};

/// The arguments of an access expression (`fn(a: 1, b: "x")`) by name, each a plain value;
/// the name of the first that is not, in the error.
pub fn args_to_json(args: &[Arg]) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for a in args {
        let name = a.name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
        let v = expr_to_json(&a.value)
            .ok_or_else(|| format!("argument `{name}` is not a plain value"))?;
        map.insert(name, v);
    }
    Ok(map)
}

/// The JSON value of a constant expression (`720`, `"clip"`, `[1, 2]`, `{"a": 1}`).
pub fn expr_to_json(e: &Expr) -> Option<Value> {
    Some(match &e.kind {
        ExprKind::Int { value } => Value::from(*value),
        ExprKind::Float { value } => Value::from(*value),
        ExprKind::Str { value } => Value::from(value.clone()),
        ExprKind::Bool { value } => Value::from(*value),
        ExprKind::Null => Value::Null,
        ExprKind::Duration { millis } => Value::from(*millis),
        ExprKind::List { items } => {
            Value::Array(items.iter().map(expr_to_json).collect::<Option<Vec<_>>>()?)
        }
        ExprKind::Object { members } => {
            let mut m = serde_json::Map::new();
            for (k, v) in members {
                m.insert(k.clone(), expr_to_json(v)?);
            }
            Value::Object(m)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use oaas_compiler::syntax::parse_access_expr;

    #[test]
    fn arguments_are_plain_values_by_name() {
        let e = parse_access_expr(r#"video.Video.new(title="clip", sizes=[1, 2])"#).unwrap();
        assert_eq!(e.target.class().as_deref(), Some("video.Video"));
        assert_eq!(e.target.function().name, "new");
        let args = args_to_json(e.target.args()).unwrap();
        assert_eq!(
            Value::Object(args),
            serde_json::json!({"title": "clip", "sizes": [1, 2]})
        );

        // Unquoted words are literals when they are one, else strings.
        let e = parse_access_expr("vid42:transcode(height=720, lang=en, every=30s)").unwrap();
        assert_eq!(e.target.class(), None);
        assert_eq!(e.target.function().name, "transcode");
        let args = args_to_json(e.target.args()).unwrap();
        assert_eq!(
            Value::Object(args),
            serde_json::json!({"height": 720, "lang": "en", "every": 30000})
        );
    }
}
