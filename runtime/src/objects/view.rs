//! Views: an object version as a caller sees it, with only the members it may read.

use crate::access::{allows, Caller};
use crate::store::ObjectVersion;
use oaas_compiler::artifact::ClassArtifact;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The view of `obj` for `caller`; `present` are the files the version has.
pub fn object(
    obj: &ObjectVersion,
    class: &ClassArtifact,
    present: &BTreeMap<String, String>,
    caller: Caller,
) -> Value {
    let mut state = Map::new();
    for f in class.state.iter().filter(|f| allows(caller, f.access)) {
        state.insert(
            f.name.clone(),
            obj.state.get(&f.name).cloned().unwrap_or(Value::Null),
        );
    }
    let mut refs = Map::new();
    for r in class.refs.iter().filter(|r| allows(caller, r.access)) {
        let empty = if r.many { json!([]) } else { Value::Null };
        refs.insert(
            r.name.clone(),
            obj.refs.get(&r.name).cloned().unwrap_or(empty),
        );
    }
    let mut files = Map::new();
    for f in class.files.iter().filter(|f| allows(caller, f.access)) {
        files.insert(
            f.name.clone(),
            json!({"uploaded": present.contains_key(&f.name), "media_type": f.media_type}),
        );
    }
    // Built field by field: `json!` would copy the state once more.
    let mut view = Map::new();
    view.insert("id".into(), Value::from(obj.id.as_str()));
    view.insert("class".into(), Value::from(obj.class.as_str()));
    view.insert("version".into(), Value::from(obj.version));
    view.insert("state".into(), Value::Object(state));
    view.insert("refs".into(), Value::Object(refs));
    view.insert("files".into(), Value::Object(files));
    view.insert("deleted".into(), Value::from(obj.deleted));
    view.insert(
        "package_version".into(),
        Value::from(obj.package_version.as_str()),
    );
    view.insert("created_at".into(), Value::from(obj.created_at));
    Value::Object(view)
}

/// An object id out of a call result: views become their ids, lists of views lists of ids.
pub fn as_ids(result: Value) -> Value {
    match result {
        Value::Object(ref m)
            if m.contains_key("id") && m.contains_key("class") && m.contains_key("version") =>
        {
            m["id"].clone()
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_ids).collect()),
        other => other,
    }
}
