//! The standard library's builtins, performed by the runtime itself: `new`, `get`,
//! `update`, `copy`, `delete` and `file`.

use super::tasks::initial_state;
use super::{CallContext, Resolved};
use crate::access::{self, Member};
use crate::error::{Error, Result};
use crate::objects::Objects;
use crate::store::{now_ms, Commit, ObjectVersion};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One builtin call, admitted.
pub struct Builtin<'a> {
    /// Which builtin.
    pub name: &'a str,
    /// What it was called on.
    pub resolved: &'a Resolved,
    /// The object version whose turn it is (the newest, for `mut` builtins).
    pub object: Option<Arc<ObjectVersion>>,
    /// Arguments, bound.
    pub args: Map<String, Value>,
    /// Its place in the invocation.
    pub ctx: &'a CallContext,
    /// Whether its turn is optimistic ([`crate::objects::Turn::optimistic`]).
    pub optimistic: bool,
}

impl Builtin<'_> {
    fn object(&self) -> Result<&Arc<ObjectVersion>> {
        self.object
            .as_ref()
            .ok_or_else(|| Error::bad_request(format!("`{}` needs an object", self.name)))
    }

    /// A new version of an object written by this builtin's task.
    fn version_of(&self, base: &ObjectVersion) -> ObjectVersion {
        ObjectVersion {
            task_id: Some(self.ctx.task.clone()),
            created_at: now_ms(),
            ..base.clone()
        }
    }
}

/// Runs a builtin.
pub async fn run(objects: &Objects, call: Builtin<'_>) -> Result<Value> {
    let class = &call.resolved.class;
    match call.name {
        "new" => new(objects, &call).await,
        "get" => Ok(objects.view(call.object()?, class, call.ctx.caller)),
        "update" => update(objects, &call).await,
        "copy" => {
            let obj = call.object()?;
            // Blobs are immutable, so the copy can share them.
            let v = ObjectVersion {
                id: call.ctx.task.output(0),
                version: 1,
                files: objects.effective_files(obj, class),
                deleted: false,
                ..call.version_of(obj)
            };
            commit(objects, &call, v).await
        }
        "delete" => {
            let obj = call.object()?;
            let v = ObjectVersion {
                version: obj.version + 1,
                deleted: true,
                files: objects.effective_files(obj, class),
                ..call.version_of(obj)
            };
            commit(objects, &call, v).await
        }
        "file" => {
            let obj = call.object()?;
            let name = call.args.get("name").and_then(Value::as_str).unwrap_or("");
            let file = objects
                .file_url(&obj.id, name, Some(obj.version), call.ctx.caller)
                .await?;
            Ok(Value::from(file.url))
        }
        other => Err(Error::not_implemented(format!(
            "the builtin `{other}` is unknown to this runtime"
        ))),
    }
}

/// `new`: state fields and refs arrive as arguments; null means "not given" for optional refs.
async fn new(objects: &Objects, call: &Builtin<'_>) -> Result<Value> {
    let (artifact, class) = (&call.resolved.artifact, &call.resolved.class);
    let mut state = Map::new();
    let mut refs = BTreeMap::new();
    for (k, v) in &call.args {
        if class.refs.iter().any(|r| &r.name == k) {
            refs.insert(k.clone(), v.clone());
        } else {
            state.insert(k.clone(), v.clone());
        }
    }
    let state = initial_state(artifact, class, state).map_err(Error::bad_request)?;
    // Deterministic: a task run twice creates the same object once.
    let id = call.ctx.task.output(0);
    let v = ObjectVersion {
        refs,
        task_id: Some(call.ctx.task.clone()),
        ..ObjectVersion::new(id.clone(), &class.qualified, &artifact.version, 1, state)
    };
    let mut view = objects.view(&v, class, call.ctx.caller);
    // Signed URLs to upload the new object's files.
    view["upload"] = Value::Object(objects.upload_urls(class, &id, 1, call.ctx.caller));
    commit_view(objects, call, v, view).await
}

/// `update`: a patch of state fields over the newest version.
async fn update(objects: &Objects, call: &Builtin<'_>) -> Result<Value> {
    let (artifact, class) = (&call.resolved.artifact, &call.resolved.class);
    // The turn's version: the newest (or, in an optimistic turn, the newest known here).
    let latest = call.object()?;
    let Some(Value::Object(patch)) = call.args.get("patch") else {
        return Err(Error::bad_request(
            "`update` takes `patch`: a JSON object of state fields",
        ));
    };
    for k in patch.keys() {
        let f = class.state.iter().find(|f| &f.name == k).ok_or_else(|| {
            Error::bad_request(format!("class `{}` has no state field `{k}`", class.name))
        })?;
        access::check(call.ctx.caller, class, Member::State, k, f.access)?;
    }
    let mut state = latest.state.as_object().cloned().unwrap_or_default();
    for (k, v) in patch {
        state.insert(k.clone(), v.clone());
    }
    let state = initial_state(artifact, class, state).map_err(Error::bad_request)?;
    let v = ObjectVersion {
        version: latest.version + 1,
        state,
        files: objects.effective_files(latest, class),
        ..call.version_of(latest)
    };
    commit(objects, call, v).await
}

async fn commit(objects: &Objects, call: &Builtin<'_>, v: ObjectVersion) -> Result<Value> {
    let view = objects.view(&v, &call.resolved.class, call.ctx.caller);
    commit_view(objects, call, v, view).await
}

async fn commit_view(
    objects: &Objects,
    call: &Builtin<'_>,
    v: ObjectVersion,
    view: Value,
) -> Result<Value> {
    // As for tasks: a change is never on disk before the record of its synchronous macro.
    call.ctx.record_written().await?;
    let result = objects
        .commit(Commit {
            task_id: Some(call.ctx.task.clone()),
            task_result: Some(view.clone()),
            unlocked: match call.optimistic {
                true => vec![v.id.clone()],
                false => Vec::new(),
            },
            versions: vec![Arc::new(v)],
            ..Default::default()
        })
        .await?;
    Ok(result.unwrap_or(view))
}
