//! The standard library's builtins, performed by the runtime itself: `new`, `get`,
//! `update`, `copy`, `delete` and `file`.

use crate::engine::{Caller, Engine};
use crate::error::ApiError;
use crate::store::{now_ms, Commit, ObjectVersion};
use crate::tasks::{initial_state, upload_urls};
use oaas_compiler::artifact::{Access, Artifact, ClassArtifact};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs a builtin; the arguments are already checked against its parameters.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    engine: &Engine,
    name: &str,
    artifact: &Artifact,
    class: &ClassArtifact,
    object: Option<Arc<ObjectVersion>>,
    args: Map<String, Value>,
    task_id: &str,
    caller: Caller,
) -> Result<Value, ApiError> {
    let needs_object = || {
        object
            .clone()
            .ok_or_else(|| ApiError::bad_request(format!("`{name}` needs an object")))
    };
    match name {
        "new" => {
            // State fields and refs arrive as arguments; null means "not given" for optional refs.
            let mut state = Map::new();
            let mut refs = BTreeMap::new();
            for (k, v) in args {
                if class.refs.iter().any(|r| r.name == k) {
                    refs.insert(k, v);
                } else {
                    state.insert(k, v);
                }
            }
            let state = initial_state(artifact, class, state).map_err(ApiError::bad_request)?;
            // Deterministic: a task run twice creates the same object once.
            let id = crate::engine::output_id(task_id, 0);
            let v = ObjectVersion {
                id: id.clone(),
                class: class.qualified.clone(),
                package_version: artifact.version.clone(),
                version: 1,
                state,
                refs,
                files: BTreeMap::new(),
                deleted: false,
                task_id: Some(task_id.to_string()),
                created_at: now_ms(),
            };
            let mut view = engine.view(&v, class, caller);
            // Signed URLs to upload the new object's files.
            view["upload"] = Value::Object(upload_urls(engine, class, &id, 1));
            commit(engine, task_id, vec![v], view).await
        }
        "get" => {
            let obj = needs_object()?;
            Ok(engine.view(&obj, class, caller))
        }
        "update" => {
            let obj = needs_object()?;
            let latest = engine.object(&obj.id, None).await?;
            let patch = args.get("patch").cloned().unwrap_or(Value::Null);
            let Value::Object(patch) = patch else {
                return Err(ApiError::bad_request(
                    "`update` takes `patch`: a JSON object of state fields",
                ));
            };
            for k in patch.keys() {
                let f = class.state.iter().find(|f| &f.name == k).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "class `{}` has no state field `{k}`",
                        class.name
                    ))
                })?;
                if caller == Caller::External && f.access != Access::Public {
                    return Err(ApiError::forbidden(format!(
                        "state field `{k}` of `{}` is not public",
                        class.name
                    )));
                }
            }
            let mut state = latest.state.as_object().cloned().unwrap_or_default();
            for (k, v) in &patch {
                state.insert(k.clone(), v.clone());
            }
            let state = initial_state(artifact, class, state).map_err(ApiError::bad_request)?;
            let files = engine.effective_files(&latest, class);
            let v = ObjectVersion {
                version: latest.version + 1,
                state,
                files,
                task_id: Some(task_id.to_string()),
                created_at: now_ms(),
                ..(*latest).clone()
            };
            let view = engine.view(&v, class, caller);
            commit(engine, task_id, vec![v], view).await
        }
        "copy" => {
            let obj = needs_object()?;
            let id = crate::engine::output_id(task_id, 0);
            // Blobs are immutable, so the copy can share them.
            let files = engine.effective_files(&obj, class);
            let v = ObjectVersion {
                id,
                version: 1,
                files,
                task_id: Some(task_id.to_string()),
                created_at: now_ms(),
                deleted: false,
                ..(*obj).clone()
            };
            let view = engine.view(&v, class, caller);
            commit(engine, task_id, vec![v], view).await
        }
        "delete" => {
            let obj = needs_object()?;
            let files = engine.effective_files(&obj, class);
            let v = ObjectVersion {
                version: obj.version + 1,
                deleted: true,
                files,
                task_id: Some(task_id.to_string()),
                created_at: now_ms(),
                ..(*obj).clone()
            };
            let view = engine.view(&v, class, caller);
            commit(engine, task_id, vec![v], view).await
        }
        "file" => {
            let obj = needs_object()?;
            let file = args.get("name").and_then(Value::as_str).unwrap_or("");
            let file = engine
                .file_url(&obj.id, file, Some(obj.version), caller)
                .await?;
            Ok(Value::from(file.url))
        }
        other => Err(ApiError::not_implemented(format!(
            "the builtin `{other}` is unknown to this runtime"
        ))),
    }
}

async fn commit(
    engine: &Engine,
    task_id: &str,
    versions: Vec<ObjectVersion>,
    view: Value,
) -> Result<Value, ApiError> {
    let result = engine
        .commit(Commit {
            task_id: Some(task_id.to_string()),
            task_result: Some(view.clone()),
            versions: versions.into_iter().map(Arc::new).collect(),
            ..Default::default()
        })
        .await?;
    Ok(result.unwrap_or(view))
}

/// From outside, `new` sets only what the outside may read: giving a `private` or `internal`
/// field or ref is refused (`403`), whatever the value. `given` is the call's own arguments,
/// before defaults are filled in.
pub fn check_new_access(
    class: &ClassArtifact,
    given: &Value,
    caller: Caller,
) -> Result<(), ApiError> {
    if caller != Caller::External {
        return Ok(());
    }
    let Some(given) = given.as_object() else {
        return Ok(());
    };
    let hidden = class
        .state
        .iter()
        .map(|f| (&f.name, f.access))
        .chain(class.refs.iter().map(|r| (&r.name, r.access)))
        .find(|(name, access)| *access != Access::Public && given.contains_key(name.as_str()));
    match hidden {
        Some((name, access)) => Err(ApiError::forbidden(format!(
            "`{name}` of `{}` is {}: `new` from outside cannot set it (it keeps its default)",
            class.name,
            match access {
                Access::Internal => "internal to its package",
                _ => "private to its class",
            }
        ))),
        None => Ok(()),
    }
}

/// The allocation of the `k`-th extra output object of a task (`POST allocate_url`).
pub fn allocate(engine: &Engine, class: &ClassArtifact, task_id: &str, k: usize) -> Value {
    let id = crate::tasks::allocated_id(task_id, k);
    json!({"id": id, "upload": upload_urls(engine, class, &id, 1)})
}
