//! Tasks: a function call sent to its container. The task document is built (the object,
//! signed file URLs, pre-allocated outputs, the objects passed in), sent through the invoker
//! with the function's retry policy, and its answer checked against the declaration and
//! turned into one commit.

use super::{memo, CallContext, Resolved};
use crate::access::Caller;
use crate::blobs::{allocation_key, file_key, URL_TTL_S};
use crate::error::{Error, Result};
use crate::ids::{ObjectId, TaskId};
use crate::invoker::protocol::{OutputReply, SelfDocument, TaskRequest, TaskResponse, PROTOCOL};
use crate::invoker::{self, FunctionRef, Invoker, DEFAULT_TIMEOUT_MS};
use crate::objects::Objects;
use crate::store::{now_ms, Commit, ObjectVersion};
use crate::values;
use oaas_compiler::artifact::{Artifact, ClassArtifact, FunctionArtifact, TypeRef};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One task to run: the call admitted, on the object version whose turn it is.
pub struct Task<'a> {
    /// What the call was resolved to.
    pub resolved: &'a Resolved,
    /// The function.
    pub func: &'a FunctionArtifact,
    /// The object version the task runs on (the newest, for `mut`).
    pub object: Option<Arc<ObjectVersion>>,
    /// Arguments, bound.
    pub args: Map<String, Value>,
    /// Its place in the invocation.
    pub ctx: &'a CallContext,
    /// Whether its turn is optimistic ([`crate::objects::Turn::optimistic`]).
    pub optimistic: bool,
}

/// Runs a task in its function container, with the function's retry, timeout and
/// concurrency settings; validates and commits the response.
///
/// A task of an `@memo` function first looks for a result recorded under its inputs' key
/// ([`memo`]), holding the key's turn so that identical calls at once run one container:
/// the others then find its result.
pub async fn run(objects: &Objects, invoker: &dyn Invoker, task: Task<'_>) -> Result<Value> {
    let passed = passed_objects(objects, task.func, &task.args).await?;
    let key = match &task.ctx.memo {
        Some(_) => memo::key(&task, &passed),
        None => None,
    };
    let _turn = match &key {
        Some(key) => {
            let turn = objects.memo_turn(key).await?;
            if let Some(recorded) = objects.memo_result(key).await? {
                if let Some(reused) = &task.ctx.memo {
                    reused.add(&task.ctx.task);
                }
                return Ok(recorded);
            }
            Some(turn)
        }
        None => None,
    };
    let request = request(objects, &task, passed)?;
    let function = FunctionRef {
        func: task.func,
        workdir: objects.registry.workdir(&task.resolved.artifact.version),
    };
    let response = invoker::send(invoker, &function, &request).await?;
    let mut commit = accept(objects, &task, &request, response)?;
    commit.memo = key;
    if task.ctx.caller == Caller::Internal && commit.versions.is_empty() && commit.memo.is_none() {
        return Ok(keep_value_result(objects, task.ctx, commit));
    }
    task.ctx.record_written().await?;
    Ok(objects.commit(commit).await?.unwrap_or(Value::Null))
}

/// The result of a macro step that changes no object, answered at once: it need not be on
/// disk before the macro goes on, since if the runtime dies first the task simply runs again
/// on resume and gives the same value. Its commit joins the next group; while the
/// invocation's record is not in the store yet, nothing could resume the macro from it, so it
/// is not written at all.
fn keep_value_result(objects: &Objects, ctx: &CallContext, commit: Commit) -> Value {
    let result = commit.task_result.clone().unwrap_or(Value::Null);
    if ctx.record.as_ref().is_some_and(|r| r.peek().is_none()) {
        return result;
    }
    let store = objects.store().clone();
    tokio::spawn(async move {
        if let Err(e) = store.commit(commit).await {
            tracing::warn!(error = %e, "cannot record a task result");
        }
    });
    result
}

fn class_named<'a>(artifact: &'a Artifact, t: &TypeRef) -> Option<&'a ClassArtifact> {
    match t {
        TypeRef::Class(c) => artifact.class(c),
        _ => None,
    }
}

/// The outputs a task is told of: the pre-allocated object for `-> Class`, the allocation
/// URL for `-> [Class]`.
fn outputs(
    objects: &Objects,
    artifact: &Artifact,
    func: &FunctionArtifact,
    task: &TaskId,
) -> Result<(Option<Value>, Option<Value>)> {
    Ok(match &func.returns {
        Some(t @ TypeRef::Class(name)) => {
            let out_class = class_named(artifact, t)
                .ok_or_else(|| Error::internal(format!("output class {name} is missing")))?;
            let id = task.output(0);
            let upload = objects.upload_urls(out_class, &id, 1, Caller::Internal);
            (
                Some(json!({"id": id, "class": name, "upload": upload})),
                None,
            )
        }
        Some(TypeRef::List(inner)) => match &**inner {
            TypeRef::Class(name) => {
                let url = objects
                    .blobs
                    .sign("POST", &allocation_key(task, name), URL_TTL_S);
                let url = url.replacen(
                    &format!("/blobs/alloc/{task}/"),
                    &format!("/api/tasks/{task}/outputs/"),
                    1,
                );
                (None, Some(json!({"class": name, "allocate_url": url})))
            }
            _ => (None, None),
        },
        _ => (None, None),
    })
}

/// Builds the document sent to the container; `passed` are the objects its arguments name.
fn request(
    objects: &Objects,
    task: &Task<'_>,
    passed: Vec<Arc<ObjectVersion>>,
) -> Result<TaskRequest> {
    let (class, func, ctx) = (&task.resolved.class, task.func, task.ctx);
    let next_version = task.object.as_ref().map(|o| o.version + 1).unwrap_or(1);
    let self_ = task.object.as_ref().map(|o| SelfDocument {
        object: o.clone(),
        files: objects.read_urls(o, class),
        upload: if func.mutates {
            objects.upload_urls(class, &o.id, next_version, Caller::Internal)
        } else {
            Map::new()
        },
    });
    let (output, outputs) = outputs(objects, &task.resolved.artifact, func, &ctx.task)?;
    let timeout = func.run.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    Ok(TaskRequest {
        protocol: PROTOCOL,
        task_id: ctx.task.clone(),
        invocation_id: ctx.invocation.clone(),
        package: class.qualified.split('.').next().unwrap_or("").to_string(),
        class: class.qualified.clone(),
        function: func.name.clone(),
        declared_in: func.declared_in.clone(),
        objects: object_documents(objects, passed)?,
        args: task.args.clone(),
        self_,
        output,
        outputs,
        deadline_ms: now_ms() + timeout as i64,
        next_version,
    })
}

/// Most objects passed in one task's `objects`.
const MAX_OBJECTS: usize = 10_000;

fn collect_ids(v: &Value, out: &mut Vec<ObjectId>) {
    match v {
        Value::String(s) => out.push(ObjectId::from(s.as_str())),
        Value::Array(items) => items.iter().for_each(|i| collect_ids(i, out)),
        _ => {}
    }
}

/// The objects named by a call's object-typed arguments, at their newest versions, in id
/// order.
async fn passed_objects(
    objects: &Objects,
    func: &FunctionArtifact,
    args: &Map<String, Value>,
) -> Result<Vec<Arc<ObjectVersion>>> {
    let mut ids = Vec::new();
    for p in func.params.iter().filter(|p| p.ty.holds_objects()) {
        if let Some(v) = args.get(&p.name) {
            collect_ids(v, &mut ids);
        }
    }
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_OBJECTS {
        return Err(Error::bad_request(format!(
            "a call may pass at most {MAX_OBJECTS} objects, not {}",
            ids.len()
        )));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(objects.object(&id, None).await?);
    }
    Ok(out)
}

/// The documents of the objects passed in, by id: class, version, state, refs and signed URLs
/// of their files.
fn object_documents(
    objects: &Objects,
    passed: Vec<Arc<ObjectVersion>>,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for obj in passed {
        let (_, class) = objects.class_of_object(&obj)?;
        let files: Map<String, Value> = objects
            .effective_files(&obj, &class)
            .iter()
            .map(|(name, key)| {
                (
                    name.clone(),
                    json!({"url": objects.blobs.sign_read(key, URL_TTL_S, None)}),
                )
            })
            .collect();
        out.insert(obj.id.to_string(), json!({"id": obj.id, "class": obj.class, "version": obj.version, "state": obj.state, "refs": obj.refs, "files": files}));
    }
    Ok(out)
}

fn bad_reply(func: &FunctionArtifact, why: String) -> Error {
    Error::function_failed(format!(
        "`{}` answered something its declaration does not allow: {why}",
        func.name
    ))
}

/// Checks state fields against a class and merges them over a base. Fields the patch
/// replaces are not copied from the base; the patch's values are moved, not copied.
fn merge_state(
    artifact: &Artifact,
    class: &ClassArtifact,
    base: &Value,
    patch: Map<String, Value>,
) -> Result<Value, String> {
    for (k, v) in &patch {
        let field = class
            .state
            .iter()
            .find(|f| &f.name == k)
            .ok_or_else(|| format!("class `{}` has no state field `{k}`", class.name))?;
        values::check(artifact, v, &field.ty).map_err(|e| format!("state field `{k}`: {e}"))?;
    }
    let mut state = Map::new();
    if let Some(base) = base.as_object() {
        for (k, v) in base {
            if !patch.contains_key(k) {
                state.insert(k.clone(), v.clone());
            }
        }
    }
    state.extend(patch);
    Ok(Value::Object(state))
}

/// The initial state of a new object: defaults, then given fields; required ones must be there.
pub fn initial_state(
    artifact: &Artifact,
    class: &ClassArtifact,
    given: Map<String, Value>,
) -> Result<Value, String> {
    let mut base = Map::new();
    for f in &class.state {
        if let Some(d) = &f.default {
            base.insert(f.name.clone(), d.clone());
        } else if matches!(f.ty, TypeRef::Optional(_)) {
            base.insert(f.name.clone(), Value::Null);
        }
    }
    let state = merge_state(artifact, class, &Value::Object(base), given)?;
    let missing: Vec<&str> = class
        .state
        .iter()
        .filter(|f| state.get(&f.name).is_none())
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "required state field(s) of `{}` not given: {}",
            class.name,
            missing.join(", ")
        ));
    }
    Ok(state)
}

fn check_refs(class: &ClassArtifact, refs: &BTreeMap<String, Value>) -> Result<(), String> {
    for (k, v) in refs {
        let r = class
            .refs
            .iter()
            .find(|r| &r.name == k)
            .ok_or_else(|| format!("class `{}` has no ref `{k}`", class.name))?;
        let ok = match v {
            Value::Array(items) => r.many && items.iter().all(Value::is_string),
            Value::String(_) => !r.many,
            Value::Null => !r.many,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "ref `{k}` must be {}",
                if r.many {
                    "a list of object ids"
                } else {
                    "an object id"
                }
            ));
        }
    }
    Ok(())
}

/// Turns a response into the commit of the task.
fn accept(
    objects: &Objects,
    task: &Task<'_>,
    request: &TaskRequest,
    mut response: TaskResponse,
) -> Result<Commit> {
    let (artifact, func, task_id) = (&*task.resolved.artifact, task.func, &task.ctx.task);
    let mut versions = Vec::new();
    let mut self_view = None;
    if func.mutates {
        let v = next_self_version(objects, task, request, &mut response)?;
        self_view = Some(objects.view(&v, &task.resolved.class, Caller::External));
        versions.push(Arc::new(v));
    } else if response.state.is_some() || !response.files.is_empty() {
        return Err(bad_reply(
            func,
            "it is not `mut`, so it cannot change its object's state or files".into(),
        ));
    }
    let output = |id: ObjectId,
                  out_class: &ClassArtifact,
                  reply: OutputReply,
                  versions: &mut Vec<Arc<ObjectVersion>>|
     -> Result<Value> {
        let v = new_object(artifact, func, task_id, id, out_class, reply)?;
        let view = objects.view(&v, out_class, Caller::External);
        versions.push(Arc::new(v));
        Ok(view)
    };
    let result = match &func.returns {
        Some(t @ TypeRef::Class(_)) => {
            let out_class =
                class_named(artifact, t).ok_or_else(|| Error::internal("output class missing"))?;
            let reply = response.output.take().ok_or_else(|| {
                bad_reply(func, "it must return an output object (`output`)".into())
            })?;
            output(task_id.output(0), out_class, reply, &mut versions)?
        }
        Some(TypeRef::List(inner)) if matches!(**inner, TypeRef::Class(_)) => {
            let out_class = class_named(artifact, inner)
                .ok_or_else(|| Error::internal("output class missing"))?;
            let replies = response.outputs.take().unwrap_or_default();
            let count = replies.len();
            let mut views = Vec::with_capacity(count);
            for (i, reply) in replies.into_iter().enumerate() {
                let id = match &reply.id {
                    Some(id) if !(0..=count + 1024).any(|k| task_id.allocated(k) == *id) => {
                        return Err(bad_reply(
                            func,
                            format!("output id `{id}` was not allocated for this task"),
                        ));
                    }
                    Some(id) => id.clone(),
                    None => task_id.output(i),
                };
                views.push(output(id, out_class, reply, &mut versions)?);
            }
            Value::Array(views)
        }
        Some(t) => {
            // An absent value reads as null, which only optional types accept.
            let value = response.value.take().unwrap_or(Value::Null);
            values::check(artifact, &value, t)
                .map_err(|e| bad_reply(func, format!("its value: {e}")))?;
            value
        }
        None => self_view.unwrap_or(Value::Null),
    };
    let unlocked = match (task.optimistic, &task.object) {
        (true, Some(o)) if func.mutates => vec![o.id.clone()],
        _ => Vec::new(),
    };
    Ok(Commit {
        task_id: Some(task_id.clone()),
        task_result: Some(result),
        versions,
        unlocked,
        ..Default::default()
    })
}

/// The version a `mut` task writes: the answer's state merged over the object's, and its
/// uploaded files.
fn next_self_version(
    objects: &Objects,
    task: &Task<'_>,
    request: &TaskRequest,
    response: &mut TaskResponse,
) -> Result<ObjectVersion> {
    let (class, func) = (&task.resolved.class, task.func);
    let obj = task
        .object
        .as_ref()
        .ok_or_else(|| Error::internal("a mut call without its object"))?;
    let patch = response.state.take().unwrap_or_default();
    let state = merge_state(&task.resolved.artifact, class, &obj.state, patch)
        .map_err(|e| bad_reply(func, e))?;
    let mut files = objects.effective_files(obj, class);
    for name in &response.files {
        if !class.files.iter().any(|f| &f.name == name) {
            return Err(bad_reply(
                func,
                format!("class `{}` has no file `{name}`", class.name),
            ));
        }
        files.insert(name.clone(), file_key(&obj.id, request.next_version, name));
    }
    Ok(ObjectVersion {
        id: obj.id.clone(),
        class: obj.class.clone(),
        package_version: obj.package_version.clone(),
        version: request.next_version,
        state,
        refs: obj.refs.clone(),
        files,
        deleted: false,
        task_id: Some(task.ctx.task.clone()),
        created_at: now_ms(),
        state_text: Default::default(),
    })
}

/// A new output object from its reply.
fn new_object(
    artifact: &Artifact,
    func: &FunctionArtifact,
    task: &TaskId,
    id: ObjectId,
    out_class: &ClassArtifact,
    reply: OutputReply,
) -> Result<ObjectVersion> {
    let state = initial_state(artifact, out_class, reply.state).map_err(|e| bad_reply(func, e))?;
    check_refs(out_class, &reply.refs).map_err(|e| bad_reply(func, e))?;
    let mut files = BTreeMap::new();
    for name in &reply.files {
        if !out_class.files.iter().any(|f| &f.name == name) {
            return Err(bad_reply(
                func,
                format!("class `{}` has no file `{name}`", out_class.name),
            ));
        }
        files.insert(name.clone(), file_key(&id, 1, name));
    }
    Ok(ObjectVersion {
        id,
        class: out_class.qualified.clone(),
        package_version: artifact.version.clone(),
        version: 1,
        state,
        refs: reply.refs,
        files,
        deleted: false,
        task_id: Some(task.clone()),
        created_at: now_ms(),
        state_text: Default::default(),
    })
}
