//! Values of object access expressions, as JSON.

use oaas_compiler::syntax::ast::{Expr, ExprKind};
use serde_json::Value;

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
