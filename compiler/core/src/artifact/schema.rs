//! JSON Schema (draft 2020-12) for state and record values, so the runtime and tools can
//! validate JSON without knowing the language.

use super::TypeRef;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The schema of a value of a type. Records are `$ref`s into `#/$defs`.
pub fn of_type(ty: &TypeRef) -> Value {
    match ty {
        TypeRef::Int => json!({"type": "integer"}),
        TypeRef::Float => json!({"type": "number"}),
        TypeRef::Bool => json!({"type": "boolean"}),
        TypeRef::String => json!({"type": "string"}),
        TypeRef::Json => json!({}),
        TypeRef::List(t) => json!({"type": "array", "items": of_type(t)}),
        TypeRef::Optional(t) => json!({"anyOf": [of_type(t), {"type": "null"}]}),
        TypeRef::Record(name) => json!({"$ref": format!("#/$defs/{name}")}),
        TypeRef::Class(name) => {
            json!({"type": "string", "description": format!("id of a {name} object")})
        }
    }
}

/// The schema of an object with these fields: `required` lists the ones without a default
/// that are not optional. `defs` holds the schemas of the records it may use.
pub fn of_object(fields: &[(String, TypeRef, bool)], defs: &BTreeMap<String, Value>) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for (name, ty, has_default) in fields {
        properties.insert(name.clone(), of_type(ty));
        if !has_default && !matches!(ty, TypeRef::Optional(_)) {
            required.push(Value::from(name.clone()));
        }
    }
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs.clone().into_iter().collect());
    }
    schema
}
