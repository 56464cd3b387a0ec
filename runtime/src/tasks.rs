//! Tasks over the function-container protocol (`docs/protocol.md`): building the request,
//! sending it with retries and a timeout, and turning the response into a commit.

use crate::engine::{output_id, Caller, Engine, DEFAULT_TIMEOUT_MS, URL_TTL_S};
use crate::error::ApiError;
use crate::store::{now_ms, Commit, ObjectVersion};
use crate::values;
use oaas_compiler::artifact::{Artifact, ClassArtifact, FunctionArtifact, TypeRef};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The protocol version sent in every task.
pub const PROTOCOL: &str = "oaas-task/1";

/// The JSON document POSTed to a container.
#[derive(Clone, Debug, Serialize)]
pub struct TaskRequest {
    /// [`PROTOCOL`].
    pub protocol: &'static str,
    /// Task id.
    pub task_id: String,
    /// Invocation id.
    pub invocation_id: String,
    /// Package name.
    pub package: String,
    /// Qualified class.
    pub class: String,
    /// Function name.
    pub function: String,
    /// The class that declares the function (an ancestor, for inherited functions).
    pub declared_in: String,
    /// Arguments with defaults filled in.
    pub args: Map<String, Value>,
    /// The object, for object functions.
    #[serde(rename = "self")]
    pub self_: Option<SelfDocument>,
    /// The pre-allocated output object, for `-> Class`.
    pub output: Option<Value>,
    /// Output allocation, for `-> [Class]`.
    pub outputs: Option<Value>,
    /// The objects named by object-typed arguments, by id: class, version, state, refs and
    /// signed GET URLs of their files, so a function can read what it is given.
    pub objects: Map<String, Value>,
    /// Unix milliseconds after which the runtime stops waiting.
    pub deadline_ms: i64,
    /// The version `self` will get (for `mut` functions).
    #[serde(skip)]
    pub next_version: u64,
}

/// `self` in a task: the object version (shared with the runtime's cache, serialized without
/// copying its state), the signed URLs of its files, and where a `mut` function uploads new ones.
#[derive(Clone, Debug)]
pub struct SelfDocument {
    /// The version the task runs on.
    pub object: Arc<ObjectVersion>,
    /// File name -> `{"url", "media_type"}` for reading.
    pub files: Map<String, Value>,
    /// File name -> signed PUT URL of the next version (`mut` functions only).
    pub upload: Map<String, Value>,
}

impl Serialize for SelfDocument {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let o = &self.object;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("id", &o.id)?;
        map.serialize_entry("class", &o.class)?;
        map.serialize_entry("version", &o.version)?;
        map.serialize_entry("state", &o.state)?;
        map.serialize_entry("refs", &o.refs)?;
        map.serialize_entry("files", &self.files)?;
        map.serialize_entry("upload", &self.upload)?;
        map.end()
    }
}

/// One output object in a response.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OutputReply {
    /// Allocated id (list outputs only).
    pub id: Option<String>,
    /// State fields.
    #[serde(default)]
    pub state: Map<String, Value>,
    /// Refs.
    #[serde(default)]
    pub refs: BTreeMap<String, Value>,
    /// Files uploaded to the output's URLs.
    #[serde(default)]
    pub files: Vec<String>,
}

/// A container's 2xx answer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TaskResponse {
    /// New state of `self` (merged key by key), for `mut`.
    pub state: Option<Map<String, Value>>,
    /// Files of `self` uploaded, for `mut`.
    #[serde(default)]
    pub files: Vec<String>,
    /// The output object.
    pub output: Option<OutputReply>,
    /// The output objects.
    pub outputs: Option<Vec<OutputReply>>,
    /// A value result.
    pub value: Option<Value>,
}

/// Where a file of an object version is stored.
pub fn file_key(id: &str, version: u64, name: &str) -> String {
    format!("objects/{id}/v{version}/{name}")
}

/// The id of the `k`-th output allocated through `allocate_url`.
pub fn allocated_id(task_id: &str, k: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{task_id}#a{k}").as_bytes(),
    )
    .to_string()
}

/// The blob key that signs a task's allocation URL for outputs of a class.
pub fn allocation_key(task_id: &str, class: &str) -> String {
    format!("alloc/{task_id}/{class}")
}

/// Upload URLs for every file of a class on a new object version.
pub fn upload_urls(
    engine: &Engine,
    class: &ClassArtifact,
    id: &str,
    version: u64,
) -> Map<String, Value> {
    class
        .files
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                Value::from(
                    engine
                        .blobs
                        .sign("PUT", &file_key(id, version, &f.name), URL_TTL_S),
                ),
            )
        })
        .collect()
}

fn class_named<'a>(artifact: &'a Artifact, t: &TypeRef) -> Option<&'a ClassArtifact> {
    match t {
        TypeRef::Class(c) => artifact.class(c),
        _ => None,
    }
}

impl TaskRequest {
    /// Builds the request for one task.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        engine: &Engine,
        artifact: &Artifact,
        class: &ClassArtifact,
        func: &FunctionArtifact,
        object: Option<&Arc<ObjectVersion>>,
        args: Map<String, Value>,
        invocation_id: &str,
        task_id: &str,
        objects: Map<String, Value>,
    ) -> Result<TaskRequest, ApiError> {
        let next_version = object.map(|o| o.version + 1).unwrap_or(1);
        let self_ = object.map(|o| {
            let files: Map<String, Value> = engine
                .effective_files(o, class)
                .iter()
                .map(|(name, key)| {
                    let media = class.files.iter().find(|f| &f.name == name).and_then(|f| f.media_type.clone());
                    (name.clone(), json!({"url": engine.blobs.sign("GET", key, URL_TTL_S), "media_type": media}))
                })
                .collect();
            let upload = if func.mutates { upload_urls(engine, class, &o.id, next_version) } else { Map::new() };
            SelfDocument { object: o.clone(), files, upload }
        });
        let (output, outputs) = match &func.returns {
            Some(t @ TypeRef::Class(name)) => {
                let out_class = class_named(artifact, t)
                    .ok_or_else(|| ApiError::internal(format!("output class {name} is missing")))?;
                let id = output_id(task_id, 0);
                (
                    Some(
                        json!({"id": id, "class": name, "upload": upload_urls(engine, out_class, &id, 1)}),
                    ),
                    None,
                )
            }
            Some(TypeRef::List(inner)) if matches!(**inner, TypeRef::Class(_)) => {
                let name = match &**inner {
                    TypeRef::Class(n) => n.clone(),
                    _ => String::new(),
                };
                let url = engine
                    .blobs
                    .sign("POST", &allocation_key(task_id, &name), URL_TTL_S);
                let url = url.replacen(
                    &format!("/blobs/alloc/{task_id}/"),
                    &format!("/api/tasks/{task_id}/outputs/"),
                    1,
                );
                (None, Some(json!({"class": name, "allocate_url": url})))
            }
            _ => (None, None),
        };
        let timeout = func.run.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        Ok(TaskRequest {
            protocol: PROTOCOL,
            task_id: task_id.to_string(),
            invocation_id: invocation_id.to_string(),
            package: class.qualified.split('.').next().unwrap_or("").to_string(),
            class: class.qualified.clone(),
            function: func.name.clone(),
            declared_in: func.declared_in.clone(),
            args,
            self_,
            output,
            outputs,
            objects,
            deadline_ms: now_ms() + timeout as i64,
            next_version,
        })
    }
}

/// Most objects passed in one task's `objects`.
const MAX_OBJECTS: usize = 10_000;

fn is_object_type(t: &TypeRef) -> bool {
    match t {
        TypeRef::Class(_) => true,
        TypeRef::List(i) | TypeRef::Optional(i) => is_object_type(i),
        _ => false,
    }
}

fn collect_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_ids(i, out)),
        _ => {}
    }
}

/// The documents of the objects named by a call's object-typed arguments.
pub async fn object_documents(
    engine: &Engine,
    func: &FunctionArtifact,
    args: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut ids = Vec::new();
    for p in func.params.iter().filter(|p| is_object_type(&p.ty)) {
        if let Some(v) = args.get(&p.name) {
            collect_ids(v, &mut ids);
        }
    }
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_OBJECTS {
        return Err(ApiError::bad_request(format!(
            "a call may pass at most {MAX_OBJECTS} objects, not {}",
            ids.len()
        )));
    }
    let mut out = Map::new();
    for id in ids {
        let obj = engine.object(&id, None).await?;
        let (_, class) = engine.class_of_object(&obj)?;
        let files: Map<String, Value> = engine
            .effective_files(&obj, &class)
            .iter()
            .map(|(name, key)| {
                (
                    name.clone(),
                    json!({"url": engine.blobs.sign("GET", key, URL_TTL_S)}),
                )
            })
            .collect();
        out.insert(id.clone(), json!({"id": obj.id, "class": obj.class, "version": obj.version, "state": obj.state, "refs": obj.refs, "files": files}));
    }
    Ok(out)
}

/// How one attempt failed.
enum Failure {
    Retryable(ApiError),
    Final(ApiError),
}

/// Sends the task, retrying transient failures with exponential backoff.
pub async fn send_with_retries(
    engine: &Engine,
    base: &str,
    request: &TaskRequest,
    func: &FunctionArtifact,
) -> Result<TaskResponse, ApiError> {
    let attempts = 1 + func.run.retry_attempts.unwrap_or(0);
    let mut backoff = Duration::from_millis(func.run.retry_backoff_ms.unwrap_or(100));
    let timeout = Duration::from_millis(func.run.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    let mut last = ApiError::function_failed("no attempt was made");
    for attempt in 1..=attempts {
        match send_once(engine, base, request, timeout).await {
            Ok(r) => return Ok(r),
            Err(Failure::Final(e)) => return Err(e.with(json!({"task_id": request.task_id, "function": request.function, "attempts": attempt}))),
            Err(Failure::Retryable(e)) => {
                tracing::debug!(task = %request.task_id, attempt, error = %e, "task failed; retrying if allowed");
                last = e;
                if attempt < attempts {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    let details =
        json!({"task_id": request.task_id, "function": request.function, "attempts": attempts});
    Err(last.with(details))
}

async fn send_once(
    engine: &Engine,
    base: &str,
    request: &TaskRequest,
    timeout: Duration,
) -> Result<TaskResponse, Failure> {
    use http_body_util::BodyExt;
    let final_error = |why: String| {
        Failure::Final(ApiError::function_failed(format!(
            "cannot call `{}`: {why}",
            request.function
        )))
    };
    let url = engine.containers.task_url(base).map_err(final_error)?;
    let body = serde_json::to_vec(request).map_err(|e| final_error(e.to_string()))?;
    let mut req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-id", &request.task_id)
        .header("ce-type", "dev.oaas.task.v1")
        .header(
            "ce-source",
            format!("/classes/{}/functions/{}", request.class, request.function),
        )
        .header("ce-time", httpdate_now());
    if let Some(s) = &request.self_ {
        req = req.header("ce-subject", &s.object.id);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| final_error(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let response =
        match tokio::time::timeout_at(deadline, engine.containers.client.request(req)).await {
            Ok(Ok(r)) => r,
            Err(_) => {
                return Err(Failure::Retryable(ApiError::timeout(format!(
                    "`{}` did not answer within {} ms",
                    request.function,
                    timeout.as_millis()
                ))))
            }
            Ok(Err(e)) => {
                return Err(Failure::Retryable(ApiError::function_failed(format!(
                    "cannot reach the container of `{}`: {}",
                    request.function,
                    error_chain(&e)
                ))))
            }
        };
    let status = response.status();
    let body = match tokio::time::timeout_at(deadline, response.into_body().collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Err(_) => {
            return Err(Failure::Retryable(ApiError::timeout(format!(
                "`{}` did not finish its answer in time",
                request.function
            ))))
        }
        Ok(Err(e)) => {
            return Err(Failure::Retryable(ApiError::function_failed(format!(
                "the answer of `{}` broke off: {}",
                request.function,
                error_chain(&e)
            ))))
        }
    };
    if status.is_success() {
        return serde_json::from_slice::<TaskResponse>(&body).map_err(|e| {
            Failure::Final(ApiError::function_failed(format!(
                "`{}` answered with a body that is not a task response: {e}",
                request.function
            )))
        });
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let message = parsed
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(500).collect());
    let retryable = parsed
        .pointer("/error/retryable")
        .and_then(Value::as_bool)
        .unwrap_or(status.is_server_error() || status.as_u16() == 429);
    let e = ApiError::function_failed(format!(
        "`{}` failed ({}): {message}",
        request.function,
        status.as_u16()
    ));
    Err(if retryable {
        Failure::Retryable(e)
    } else {
        Failure::Final(e)
    })
}

/// An error with its causes, as one line (`connection refused` is usually a cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn httpdate_now() -> String {
    // RFC 3339 in UTC from Unix milliseconds, without a date crate.
    let ms = now_ms();
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn bad_reply(func: &FunctionArtifact, why: String) -> ApiError {
    ApiError::function_failed(format!(
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
#[allow(clippy::too_many_arguments)]
pub fn accept(
    engine: &Engine,
    artifact: &Artifact,
    class: &ClassArtifact,
    func: &FunctionArtifact,
    object: Option<&Arc<ObjectVersion>>,
    request: &TaskRequest,
    mut response: TaskResponse,
    task_id: &str,
) -> Result<Commit, ApiError> {
    let now = now_ms();
    let mut versions = Vec::new();
    let mut self_view = None;
    if func.mutates {
        let obj = object.ok_or_else(|| ApiError::internal("a mut call without its object"))?;
        let patch = response.state.take().unwrap_or_default();
        let state =
            merge_state(artifact, class, &obj.state, patch).map_err(|e| bad_reply(func, e))?;
        let mut files = engine.effective_files(obj, class);
        for name in &response.files {
            if !class.files.iter().any(|f| &f.name == name) {
                return Err(bad_reply(
                    func,
                    format!("class `{}` has no file `{name}`", class.name),
                ));
            }
            files.insert(name.clone(), file_key(&obj.id, request.next_version, name));
        }
        let v = ObjectVersion {
            id: obj.id.clone(),
            class: obj.class.clone(),
            package_version: obj.package_version.clone(),
            version: request.next_version,
            state,
            refs: obj.refs.clone(),
            files,
            deleted: false,
            task_id: Some(task_id.to_string()),
            created_at: now,
        };
        self_view = Some(engine.view(&v, class, Caller::External));
        versions.push(Arc::new(v));
    } else if response.state.is_some() || !response.files.is_empty() {
        return Err(bad_reply(
            func,
            "it is not `mut`, so it cannot change its object's state or files".into(),
        ));
    }
    let new_object = |id: String,
                      out_class: &ClassArtifact,
                      reply: OutputReply|
     -> Result<ObjectVersion, ApiError> {
        let state =
            initial_state(artifact, out_class, reply.state).map_err(|e| bad_reply(func, e))?;
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
            task_id: Some(task_id.to_string()),
            created_at: now,
        })
    };
    let result = match &func.returns {
        Some(t @ TypeRef::Class(_)) => {
            let out_class = class_named(artifact, t)
                .ok_or_else(|| ApiError::internal("output class missing"))?;
            let reply = response.output.take().ok_or_else(|| {
                bad_reply(func, "it must return an output object (`output`)".into())
            })?;
            let v = new_object(output_id(task_id, 0), out_class, reply)?;
            let view = engine.view(&v, out_class, Caller::External);
            versions.push(Arc::new(v));
            view
        }
        Some(TypeRef::List(inner)) if matches!(**inner, TypeRef::Class(_)) => {
            let out_class = class_named(artifact, inner)
                .ok_or_else(|| ApiError::internal("output class missing"))?;
            let replies = response.outputs.take().unwrap_or_default();
            let count = replies.len();
            let mut views = Vec::new();
            for (i, reply) in replies.into_iter().enumerate() {
                let id = match &reply.id {
                    Some(id) => {
                        if !(0..=count + 1024).any(|k| allocated_id(task_id, k) == *id) {
                            return Err(bad_reply(
                                func,
                                format!("output id `{id}` was not allocated for this task"),
                            ));
                        }
                        id.clone()
                    }
                    None => output_id(task_id, i),
                };
                let v = new_object(id, out_class, reply)?;
                views.push(engine.view(&v, out_class, Caller::External));
                versions.push(Arc::new(v));
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
    Ok(Commit {
        task_id: Some(task_id.to_string()),
        task_result: Some(result),
        versions,
        ..Default::default()
    })
}
