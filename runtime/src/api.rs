//! The object access interface over HTTP (axum): packages, classes, objects, files,
//! invocations, `/oal/` expressions, `/healthz`, `/metrics`, `/openapi.json`.

use crate::blobs;
use crate::engine::{new_id, CallResult, Caller, Engine, Target};
use crate::error::ApiError;
use crate::store::{FieldFilter, InvocationStatus};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use oaas_compiler::artifact::Artifact;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

type Shared = Arc<Engine>;

/// The whole HTTP surface.
pub fn router(engine: Shared) -> Router {
    let blob_routes = Router::new()
        .route("/blobs/{*key}", get(blobs::get).put(blobs::put))
        .with_state(engine.blobs.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/api/packages", post(deploy).get(list_packages))
        .route("/api/classes/{cls}", get(get_class))
        .route(
            "/api/classes/{cls}/objects",
            post(create_object).get(list_objects),
        )
        .route("/api/classes/{cls}/invoke/{func}", post(invoke_static))
        .route("/api/objects/{id}", get(get_object).delete(delete_object))
        .route("/api/objects/{id}/versions", get(object_versions))
        .route("/api/objects/{id}/files/{name}", get(get_file))
        .route("/api/objects/{id}/invoke/{func}", post(invoke_object))
        .route("/api/invocations/{id}", get(get_invocation))
        .route("/api/tasks/{task}/outputs/{class}", post(allocate_output))
        .route("/oal/{*expr}", get(oal_get).post(oal))
        .fallback(not_found)
        .with_state(engine)
        .merge(blob_routes)
        .layer(axum::middleware::map_response(json_errors))
}

/// Every error leaves as the API's JSON. axum answers some bad requests itself, in plain
/// text (a path or query that does not decode: `?version=abc`) or with no body (a method a
/// route does not take); those are rewritten here, their status and headers (`Allow`,
/// `Content-Range`) kept.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let allowed = parts
        .headers
        .get(header::ALLOW)
        .and_then(|a| a.to_str().ok())
        .map(str::to_string);
    let message = match (text.is_empty(), allowed) {
        (true, Some(allowed)) => format!("this path does not take that method; it takes {allowed}"),
        (true, None) => status.canonical_reason().unwrap_or("error").to_lowercase(),
        (false, _) => text,
    };
    let (json_parts, json_body) = ApiError::with_status(status, message)
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(t) = json_parts.headers.get(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, t.clone());
    }
    Response::from_parts(parts, json_body)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such path; see /openapi.json for the API")
}

async fn healthz(State(engine): State<Shared>) -> Json<Value> {
    Json(
        json!({"status": "ok", "packages": engine.registry.list().len(), "containers": engine.containers.local_count()}),
    )
}

async fn metrics(State(engine): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        engine.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Parses a JSON body, answering 400 with serde's reason instead of axum's default.
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

#[derive(Deserialize)]
struct DeploySources {
    sources: HashMap<String, String>,
    workdir: Option<PathBuf>,
}

/// `POST /api/packages`: an artifact (as `oaasc build` writes it), or `{sources: {path: text},
/// workdir}` compiled here.
async fn deploy(State(engine): State<Shared>, body: bytes::Bytes) -> Result<Response, ApiError> {
    let value = parse_body(&body)?;
    let (artifact, workdir) = if value.get("format").is_some() {
        let text = String::from_utf8_lossy(&body);
        (
            Artifact::from_json(&text).map_err(ApiError::bad_request)?,
            None,
        )
    } else {
        let req: DeploySources = serde_json::from_value(value).map_err(|e| {
            ApiError::bad_request(format!(
                "expected a package artifact or {{\"sources\": {{path: text}}}}: {e}"
            ))
        })?;
        if req.sources.is_empty() {
            return Err(ApiError::bad_request(
                "no sources: give `{\"sources\": {path: text}}` with at least one `.oaas` file",
            ));
        }
        (compile(&req.sources)?, req.workdir)
    };
    let artifact = engine.deploy(artifact, workdir).await?;
    let classes: Vec<String> = artifact
        .packages
        .iter()
        .flat_map(|p| p.classes.iter().map(|c| c.qualified.clone()))
        .collect();
    Ok((StatusCode::CREATED, Json(json!({"version": artifact.version, "packages": artifact.packages.iter().map(|p| &p.name).collect::<Vec<_>>(), "classes": classes}))).into_response())
}

/// Compiles `.oaas` sources into an artifact; errors come back as the checker's diagnostics.
pub fn compile(sources: &HashMap<String, String>) -> Result<Artifact, ApiError> {
    let mut ws = oaas_compiler::Workspace::new();
    let mut paths: Vec<&String> = sources.keys().collect();
    paths.sort();
    for p in paths {
        ws.add_file(p.clone(), sources[p].clone());
    }
    let build = ws.build();
    match build.artifact {
        Some(a) if !build.has_errors() => Ok(a),
        _ => {
            let rendered =
                oaas_compiler::render::render_human(&ws.sources, &build.diagnostics, false);
            let diags: Vec<Value> = build
                .diagnostics
                .iter()
                .map(|d| {
                    serde_json::to_value(oaas_compiler::render::JsonDiagnostic::new(&ws.sources, d))
                        .unwrap_or(Value::Null)
                })
                .collect();
            Err(
                ApiError::bad_request(format!("the package has errors:\n{rendered}"))
                    .with(json!({"diagnostics": diags})),
            )
        }
    }
}

async fn list_packages(State(engine): State<Shared>) -> Json<Value> {
    let list: Vec<Value> = engine
        .registry
        .list()
        .into_iter()
        .map(|(name, version)| json!({"name": name, "version": version}))
        .collect();
    Json(json!({"packages": list}))
}

async fn get_class(
    State(engine): State<Shared>,
    Path(cls): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, class) = engine.find_class(&cls)?;
    let public = |a: oaas_compiler::artifact::Access| a == oaas_compiler::artifact::Access::Public;
    Ok(Json(json!({
        "name": class.name,
        "qualified": class.qualified,
        "parent": class.parent,
        "docs": class.docs,
        "state": class.state.iter().filter(|s| public(s.access)).collect::<Vec<_>>(),
        "files": class.files.iter().filter(|f| public(f.access)).collect::<Vec<_>>(),
        "refs": class.refs.iter().filter(|r| public(r.access)).collect::<Vec<_>>(),
        "functions": class.functions.iter().filter(|f| public(f.access)).map(|f| json!({"name": f.name, "params": f.params, "returns": f.returns, "mut": f.mutates, "static": f.is_static, "docs": f.docs})).collect::<Vec<_>>(),
        "macros": class.macros.iter().filter(|m| public(m.access)).map(|m| json!({"name": m.name, "params": m.params, "returns": m.returns, "docs": m.docs})).collect::<Vec<_>>(),
    })))
}

/// The `Idempotency-Key` header of a request, read without copying the other headers (the
/// `HeaderMap` extractor clones them all on every call).
struct IdempotencyKey(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdempotencyKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(IdempotencyKey(
            parts
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ))
    }
}

async fn create_object(
    State(engine): State<Shared>,
    Path(cls): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let args = parse_body(&body)?;
    invoke(engine, Target::Class(cls), "new".into(), args, false, key).await
}

async fn list_objects(
    State(engine): State<Shared>,
    Path(cls): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut filters = Vec::new();
    let mut after = None;
    let mut limit = 100usize;
    for (k, v) in q {
        match k.as_str() {
            "after" => after = Some(v),
            "limit" => {
                limit = v
                    .parse()
                    .map_err(|_| ApiError::bad_request("`limit` must be a whole number"))?
            }
            field => {
                // Values are JSON when they parse as JSON (`count=3`, `done=true`), else strings.
                let value = serde_json::from_str(&v).unwrap_or(Value::String(v));
                filters.push(FieldFilter {
                    field: field.to_string(),
                    value,
                });
            }
        }
    }
    Ok(Json(engine.list(&cls, filters, after, limit).await?))
}

#[derive(Deserialize, Default)]
struct VersionQuery {
    version: Option<u64>,
    relay: Option<bool>,
}

async fn get_object(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    let obj = engine.object(&id, q.version).await?;
    let (_, class) = engine.class_of_object(&obj)?;
    Ok(Json(engine.view(&obj, &class, Caller::External)))
}

async fn object_versions(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let history = engine.store.history(&id).await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!("there is no object `{id}`")));
    }
    let views: Vec<Value> = history
        .iter()
        .map(|o| match engine.class_of_object(o) {
            Ok((_, c)) => engine.view(o, &c, Caller::External),
            Err(_) => json!({"id": o.id, "version": o.version}),
        })
        .collect();
    Ok(Json(json!({"versions": views})))
}

async fn delete_object(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, ApiError> {
    invoke(
        engine,
        Target::Object(id),
        "delete".into(),
        Value::Null,
        false,
        key,
    )
    .await
}

/// `GET /api/objects/{id}/files/{name}`: a redirect to a signed URL, or `?relay=true` to stream
/// the file through the runtime.
async fn get_file(
    State(engine): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = engine
        .file_url(&id, &name, q.version, Caller::External)
        .await?;
    if q.relay.unwrap_or(false) {
        let path = engine
            .blobs
            .path(&file.key)
            .ok_or_else(|| ApiError::internal("bad blob key"))?;
        let media_type = file
            .media_type
            .as_deref()
            .unwrap_or(crate::blobs::DEFAULT_MEDIA_TYPE);
        return Ok(crate::blobs::serve(&path, &headers, media_type).await);
    }
    Ok(Redirect::temporary(&file.url).into_response())
}

async fn invoke_object(
    State(engine): State<Shared>,
    Path((id, func)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    IdempotencyKey(key): IdempotencyKey,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let args = parse_body(&body)?;
    let is_async = q.get("async").is_some_and(|v| v == "true" || v == "1");
    invoke(engine, Target::Object(id), func, args, is_async, key).await
}

async fn invoke_static(
    State(engine): State<Shared>,
    Path((cls, func)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    IdempotencyKey(key): IdempotencyKey,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let args = parse_body(&body)?;
    let is_async = q.get("async").is_some_and(|v| v == "true" || v == "1");
    invoke(engine, Target::Class(cls), func, args, is_async, key).await
}

/// The body of a finished call, serialized straight from the result (no copy of it).
#[derive(serde::Serialize)]
struct CallBody<'a> {
    invocation_id: &'a str,
    task_id: &'a str,
    status: &'static str,
    result: &'a Value,
}

fn call_body(r: &CallResult) -> CallBody<'_> {
    CallBody {
        invocation_id: &r.invocation_id,
        task_id: &r.task_id,
        status: "succeeded",
        result: &r.result,
    }
}

/// Runs a call synchronously or accepts it for asynchronous running, honouring
/// `Idempotency-Key`.
async fn invoke(
    engine: Shared,
    target: Target,
    func: String,
    args: Value,
    is_async: bool,
    key: Option<String>,
) -> Result<Response, ApiError> {
    // What the call is, as recorded with an async or idempotent invocation.
    let request = || {
        json!({
            "target": match &target { Target::Object(id) => json!({"object": id}), Target::Class(c) => json!({"class": c}) },
            "function": func,
            "args": args,
        })
    };
    if let Some(k) = &key {
        if let Some(inv_id) = engine.store.idempotent(k).await? {
            // A key names one request: the same key with another call is a mistake to report,
            // not a reason to answer with the first call's result.
            if let Some(first) = engine.store.invocation(&inv_id).await? {
                if first.request != request() {
                    return Err(ApiError::unprocessable(format!(
                        "the Idempotency-Key `{k}` was first used for another request (`{}` with other arguments or on another target)",
                        first.request.get("function").and_then(Value::as_str).unwrap_or("?")
                    ))
                    .with(json!({"invocation_id": inv_id})));
                }
            }
            return invocation_response(&engine, &inv_id, is_async).await;
        }
    }
    if !is_async && key.is_none() {
        let r = engine
            .call(target, &func, args, Caller::External, None)
            .await?;
        let status = if func == "new" {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return Ok((status, Json(call_body(&r))).into_response());
    }
    // Validate before accepting, so a bad call is refused now rather than failing later.
    precheck(&engine, &target, &func, &args).await?;
    let id = new_id();
    let output_id = planned_output(&engine, &target, &func, &id).await;
    engine
        .accept_async(&id, request(), output_id.clone(), key)
        .await?;
    let task = {
        let engine = engine.clone();
        let id = id.clone();
        async move {
            let outcome = engine
                .call(target, &func, args, Caller::External, Some(id.clone()))
                .await;
            if let Err(e) = engine.finish_invocation(&id, &outcome).await {
                tracing::error!(invocation = %id, error = %e, "cannot record the outcome");
            }
            outcome
        }
    };
    if is_async {
        tokio::spawn(task);
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"invocation_id": id, "task_id": format!("{id}.n0"), "status": "pending", "output_id": output_id, "status_url": format!("/api/invocations/{id}")})),
        )
            .into_response());
    }
    match tokio::spawn(task).await {
        Ok(Ok(r)) => Ok((StatusCode::OK, Json(call_body(&r))).into_response()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

async fn precheck(
    engine: &Engine,
    target: &Target,
    func: &str,
    args: &Value,
) -> Result<(), ApiError> {
    let (artifact, class) = match target {
        Target::Object(id) => {
            let o = engine.object(id, None).await?;
            engine.class_of_object(&o)?
        }
        Target::Class(c) => engine.find_class(c)?,
    };
    let (access, params) = match (class.function(func), class.macro_named(func)) {
        (Some(f), _) => (f.access, &f.params),
        (None, Some(m)) => (m.access, &m.params),
        (None, None) => {
            return Err(ApiError::not_found(format!(
                "class `{}` has no function `{func}`",
                class.name
            )))
        }
    };
    if access != oaas_compiler::artifact::Access::Public {
        return Err(ApiError::forbidden(format!(
            "`{}.{func}` is not public",
            class.name
        )));
    }
    crate::values::bind_args(&artifact, &format!("`{}.{func}`", class.name), params, args)
        .map_err(ApiError::bad_request)?;
    Ok(())
}

/// The id of the object a call will output, when it outputs one object (deterministic, so an
/// asynchronous caller can know it at once).
async fn planned_output(
    engine: &Engine,
    target: &Target,
    func: &str,
    invocation: &str,
) -> Option<String> {
    let class = match target {
        Target::Class(c) => engine.find_class(c).ok().map(|(_, c)| c),
        Target::Object(id) => match engine.object(id, None).await {
            Ok(o) => engine.class_of_object(&o).ok().map(|(_, c)| c),
            Err(_) => None,
        },
    };
    let returns = class
        .as_ref()
        .and_then(|c| c.function(func))
        .and_then(|f| f.returns.clone());
    engine.planned_output(returns.as_ref(), &format!("{invocation}.n0"))
}

async fn invocation_response(
    engine: &Engine,
    id: &str,
    is_async: bool,
) -> Result<Response, ApiError> {
    let inv = engine
        .store
        .invocation(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no invocation `{id}`")))?;
    match inv.status {
        InvocationStatus::Succeeded => Ok((StatusCode::OK, Json(json!({"invocation_id": inv.id, "task_id": format!("{}.n0", inv.id), "status": "succeeded", "result": inv.result}))).into_response()),
        InvocationStatus::Failed => {
            let err = inv.error.unwrap_or(Value::Null);
            let status = err.get("status").and_then(Value::as_u64).and_then(|s| StatusCode::from_u16(s as u16).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
            Err(ApiError::from_body(status, &err))
        }
        InvocationStatus::Pending if is_async => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"invocation_id": inv.id, "status": "pending", "output_id": inv.output_id, "status_url": format!("/api/invocations/{}", inv.id)})),
        )
            .into_response()),
        InvocationStatus::Pending => Err(ApiError::conflict("the first request with this Idempotency-Key is still running; ask again later")
            .with(json!({"invocation_id": inv.id, "status_url": format!("/api/invocations/{}", inv.id)}))),
    }
}

async fn get_invocation(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let inv = engine
        .store
        .invocation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no invocation `{id}`")))?;
    Ok(Json(json!({
        "invocation_id": inv.id,
        "status": inv.status,
        "request": inv.request,
        "result": inv.result,
        "error": inv.error,
        "output_id": inv.output_id,
        "nodes": inv.nodes,
        "created_at": inv.created_at,
        "updated_at": inv.updated_at,
    })))
}

async fn allocate_output(
    State(engine): State<Shared>,
    Path((task, class)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let signed = blobs::Signed::from_query(&q)
        .ok_or_else(|| ApiError::forbidden("a signed URL is needed"))?;
    engine
        .blobs
        .verify(
            "POST",
            &crate::tasks::allocation_key(&task, &class),
            &signed,
        )
        .map_err(ApiError::forbidden)?;
    let (_, cls) = engine.find_class(&class)?;
    let k = {
        let mut map = engine
            .allocations
            .lock()
            .map_err(|_| ApiError::internal("allocation table poisoned"))?;
        let n = map.entry(task.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    Ok(Json(crate::builtins::allocate(&engine, &cls, &task, k)))
}

/// `/oal/{expression}`: an object access expression such as `vid42:transcode(height=720)/src`
/// or `video.Video.new(title="clip")`.
/// `GET /oal/...`: only calls that change nothing (no `mut`, no macro, no new objects); the
/// others need `POST`, so a link followed by a crawler cannot change state.
async fn oal_get(
    State(engine): State<Shared>,
    Path(expr): Path<String>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    let parsed = oaas_compiler::syntax::parse_access_expr(&expr).map_err(|d| {
        ApiError::bad_request(format!("not an object access expression: {}", d.message))
    })?;
    let (class, func) = match &parsed.target {
        oaas_compiler::syntax::AccessTarget::Object { id, function, .. } => {
            let o = engine.object(id, None).await?;
            (engine.class_of_object(&o)?.1, function.name.clone())
        }
        oaas_compiler::syntax::AccessTarget::Static {
            package,
            class,
            function,
            ..
        } => {
            let cls = package
                .as_ref()
                .map(|p| format!("{p}.{}", class.name))
                .unwrap_or_else(|| class.name.clone());
            (engine.find_class(&cls)?.1, function.name.clone())
        }
    };
    let reads_only = class.function(&func).is_some_and(|f| {
        let makes_objects = matches!(&f.returns, Some(oaas_compiler::artifact::TypeRef::Class(_)))
            || matches!(&f.returns, Some(oaas_compiler::artifact::TypeRef::List(t)) if matches!(**t, oaas_compiler::artifact::TypeRef::Class(_)));
        !f.mutates && (!makes_objects || f.run.builtin.as_deref() == Some("get"))
    });
    if !reads_only && class.function(&func).is_some() || class.macro_named(&func).is_some() {
        return Err(ApiError::bad_request(format!(
            "`{}.{func}` changes or creates objects: call it with POST /oal/...",
            class.name
        ))
        .with(json!({"method": "POST"})));
    }
    oal(State(engine), Path(expr), key).await
}

async fn oal(
    State(engine): State<Shared>,
    Path(expr): Path<String>,
    key: IdempotencyKey,
) -> Result<Response, ApiError> {
    let parsed = oaas_compiler::syntax::parse_access_expr(&expr).map_err(|d| {
        ApiError::bad_request(format!("not an object access expression: {}", d.message))
    })?;
    let to_args = |args: &[oaas_compiler::syntax::ast::Arg]| -> Result<Value, ApiError> {
        let mut map = serde_json::Map::new();
        for a in args {
            let name = a.name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
            let v = crate::oal::expr_to_json(&a.value).ok_or_else(|| {
                ApiError::bad_request(format!("argument `{name}` is not a plain value"))
            })?;
            map.insert(name, v);
        }
        Ok(Value::Object(map))
    };
    let (target, func, args) = match &parsed.target {
        oaas_compiler::syntax::AccessTarget::Object { id, function, args } => (
            Target::Object(id.clone()),
            function.name.clone(),
            to_args(args)?,
        ),
        oaas_compiler::syntax::AccessTarget::Static {
            package,
            class,
            function,
            args,
        } => {
            let cls = match package {
                Some(p) => format!("{p}.{}", class.name),
                None => class.name.clone(),
            };
            (Target::Class(cls), function.name.clone(), to_args(args)?)
        }
    };
    let response = invoke(engine.clone(), target, func, args, false, key.0).await?;
    let Some(file) = parsed.file else {
        return Ok(response);
    };
    // `/file`: redirect to that file of the call's result object.
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = value
        .pointer("/result/id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`/{}` needs the call to return an object",
                file.name
            ))
        })?;
    let file = engine
        .file_url(id, &file.name, None, Caller::External)
        .await?;
    Ok(Redirect::temporary(&file.url).into_response())
}
