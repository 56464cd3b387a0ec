//! Task results as stored: an object view of a version that the same commit writes is kept as
//! a reference (`{"$object_version": {id, version}}`), not a second copy of its state.

use crate::ids::ObjectId;
use crate::store::ObjectVersion;
use serde_json::{json, Value};
use std::sync::Arc;

/// The key that marks a stored reference to an object version in a task result.
const RESULT_REF: &str = "$object_version";

/// A task result as stored: views of versions in `versions` become references.
pub fn compact(result: &Value, versions: &[Arc<ObjectVersion>]) -> Value {
    match result {
        Value::Object(m) => {
            let id = m.get("id").and_then(Value::as_str);
            let version = m.get("version").and_then(Value::as_u64);
            match (id, version) {
                (Some(id), Some(version))
                    if m.contains_key("class")
                        && versions
                            .iter()
                            .any(|v| v.id.as_str() == id && v.version == version) =>
                {
                    json!({ RESULT_REF: {"id": id, "version": version} })
                }
                _ => result.clone(),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| compact(i, versions)).collect()),
        other => other.clone(),
    }
}

/// The object version a stored reference names, if `v` is one.
pub fn reference(v: &Value) -> Option<(ObjectId, u64)> {
    let m = v.as_object().filter(|m| m.len() == 1)?;
    let r = m.get(RESULT_REF)?;
    let id = r.get("id").and_then(Value::as_str)?;
    let version = r.get("version").and_then(Value::as_u64)?;
    Some((ObjectId::from(id), version))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn views_of_written_versions_become_references_and_back() {
        let v = Arc::new(ObjectVersion::new("o1", "p.C", "sha256:x", 2, json!({})));
        let view = json!({"id": "o1", "class": "p.C", "version": 2, "state": {"n": 1}});
        let stored = compact(&json!([view.clone(), 7]), &[v]);
        assert_eq!(reference(&stored[0]), Some((ObjectId::from("o1"), 2)));
        assert_eq!(stored[1], 7);
        // A view of a version the commit does not write stays as it is.
        assert_eq!(compact(&view, &[]), view);
        assert_eq!(reference(&view), None);
    }
}
