//! The object access interface over HTTP (axum): packages, classes, objects, files,
//! invocations, `/oal/` expressions, `/healthz`, `/metrics`, `/openapi.json`. This layer
//! alone knows HTTP: it reads requests into calls of the layers below and answers their
//! results and errors ([`error`]) with statuses.

pub mod auth;
pub mod browse;
pub mod console;
pub mod error;
pub mod events;
pub mod files;
pub mod oal;
pub mod openapi;
pub mod serve;
pub mod types;

use crate::access::Caller;
use crate::blobs::{self, allocation_key};
use crate::engine::Engine;
use crate::error::Error;
use crate::ids::{InvocationId, ObjectId, Target, TaskId};
use crate::invocations::{CallResult, Outcome};
use crate::store::{FieldFilter, InvocationRequest, InvocationStatus};
use crate::tokens::{Principal, Role};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use error::ApiError;
use oaas_compiler::artifact::Artifact;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use types::{
    AcceptedResponse, CallResponse, Check, DeployRequest, DeployResponse, Health,
    InvocationResponse, ObjectPage, PackageEntry, PackagesResponse, VersionsResponse,
};
use types::{MintRequest, TokenEntry, TokensResponse};

type Shared = Arc<Engine>;

/// The whole HTTP surface, behind the gate of `guard`.
pub fn router(engine: Shared, guard: Arc<auth::Guard>) -> Router {
    let blob_routes = Router::new()
        .route("/blobs/{*key}", get(files::get).put(files::put))
        .with_state(engine.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/api/packages", post(deploy).get(list_packages))
        .route("/api/packages/{name}", get(browse::package))
        .route("/ui", get(console::index))
        .route("/ui/", get(console::index))
        .route("/ui/{name}", get(console::file))
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
        .route("/api/invocations", get(browse::invocations))
        .route("/api/invocations/{id}", get(get_invocation))
        .route("/api/invocations/{id}/events", get(events::stream))
        .route("/api/invocations/{id}/signals/{name}", post(send_signal))
        .route("/api/tasks/{task}/outputs/{class}", post(allocate_output))
        .route("/oal/{*expr}", get(oal::get).post(oal::post))
        .route("/api/tokens", post(mint_token).get(list_tokens))
        .route("/api/tokens/{id}", axum::routing::delete(revoke_token))
        .fallback(not_found)
        .with_state(engine)
        .merge(blob_routes)
        .layer(axum::middleware::from_fn_with_state(guard, auth::gate))
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
    let (json_parts, json_body) = error::with_status(status, message).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(t) = json_parts.headers.get(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, t.clone());
    }
    Response::from_parts(parts, json_body)
}

async fn not_found() -> ApiError {
    Error::not_found("no such path; see /openapi.json for the API").into()
}

/// How long `/healthz` waits for the store and the blobs.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Liveness and readiness: 200 while the store and the blobs answer, else 503 with why.
async fn healthz(State(engine): State<Shared>) -> Response {
    let store = engine.objects.store().clone();
    let store = check(async move { store.health().await.map_err(|e| e.to_string()) });
    let blobs = check(engine.objects.blobs.health());
    let (store, blobs) = tokio::join!(store, blobs);
    let ok = store.ok && blobs.ok;
    let health = Health {
        status: if ok { "ok" } else { "unavailable" }.into(),
        packages: engine.objects.registry.list().len(),
        containers: engine.invoker.containers.local_count(),
        store,
        blobs,
    };
    let status = match ok {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(health)).into_response()
}

/// Runs one health check with the time limit.
async fn check(probe: impl std::future::Future<Output = Result<(), String>>) -> Check {
    match tokio::time::timeout(HEALTH_TIMEOUT, probe).await {
        Ok(Ok(())) => Check {
            ok: true,
            error: None,
        },
        Ok(Err(e)) => Check {
            ok: false,
            error: Some(e),
        },
        Err(_) => Check {
            ok: false,
            error: Some(format!("no answer within {HEALTH_TIMEOUT:?}")),
        },
    }
}

async fn metrics(State(engine): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        engine.calls.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<Value> {
    Json(openapi::document())
}

/// Parses a JSON body, answering 400 with serde's reason instead of axum's default.
fn parse_body(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("the body is not valid JSON: {e}")))
}

/// `POST /api/packages`: an artifact (as `oaasc build` writes it), or `{sources: {path: text},
/// workdir}` compiled here.
async fn deploy(
    State(engine): State<Shared>,
    Extension(who): Extension<Principal>,
    Extension(guard): Extension<Arc<auth::Guard>>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let value = parse_body(&body)?;
    let (artifact, workdir) = if value.get("format").is_some() {
        let text = String::from_utf8_lossy(&body);
        (
            Artifact::from_json(&text).map_err(Error::bad_request)?,
            None,
        )
    } else {
        let req: DeployRequest = serde_json::from_value(value).map_err(|e| {
            Error::bad_request(format!(
                "expected a package artifact or {{\"sources\": {{path: text}}}}: {e}"
            ))
        })?;
        if req.sources.is_empty() {
            return Err(Error::bad_request(
                "no sources: give `{\"sources\": {path: text}}` with at least one `.oaas` file",
            )
            .into());
        }
        (compile_off_workers(req.sources).await?, req.workdir)
    };
    admit_deploy(&artifact, &who, &guard)?;
    let artifact = engine.objects.deploy(artifact, workdir).await?;
    let answer = DeployResponse {
        version: artifact.version.clone(),
        packages: artifact.packages.iter().map(|p| p.name.clone()).collect(),
        classes: artifact
            .packages
            .iter()
            .flat_map(|p| p.classes.iter().map(|c| c.qualified.clone()))
            .collect(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Longest a deploy's compilation may take.
const COMPILE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Compiles on the blocking pool, within [`COMPILE_LIMIT`]: a large or slow package never
/// holds an async worker, so other requests (and `/healthz`) keep being answered.
async fn compile_off_workers(sources: HashMap<String, String>) -> Result<Artifact, Error> {
    let compiling = tokio::task::spawn_blocking(move || compile(&sources));
    match tokio::time::timeout(COMPILE_LIMIT, compiling).await {
        Ok(Ok(compiled)) => compiled,
        Ok(Err(e)) => Err(Error::internal(format!("the compiler stopped: {e}"))),
        Err(_) => Err(Error::new(
            crate::error::ErrorKind::TooLarge,
            format!("compiling the package took more than {}s; split it, or build it with `oaasc build` and deploy the artifact", COMPILE_LIMIT.as_secs()),
        )),
    }
}

/// Compiles `.oaas` sources into an artifact; errors come back as the checker's diagnostics.
pub fn compile(sources: &HashMap<String, String>) -> Result<Artifact, Error> {
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
                Error::bad_request(format!("the package has errors:\n{rendered}"))
                    .with(json!({"diagnostics": diags})),
            )
        }
    }
}

/// What a deploy may bring: packages the token may deploy, `@local` commands only where the
/// server lets requests name them, and `@url` endpoints over HTTP(S) only.
fn admit_deploy(artifact: &Artifact, who: &Principal, guard: &auth::Guard) -> Result<(), Error> {
    for p in &artifact.packages {
        who.may_deploy(&p.name)?;
    }
    let functions = artifact
        .packages
        .iter()
        .flat_map(|p| &p.classes)
        .flat_map(|c| c.functions.iter().map(move |f| (c, f)));
    for (class, f) in functions {
        if let Some(command) = &f.run.local {
            if !guard.may_run_local(who) {
                return Err(Error::forbidden(format!(
                    "`{}.{}` names the command `{command}` (@local), and this server does not run commands a request names: start it with --allow-local, deploy as its admin on a loopback address, or use @url/@image",
                    class.name, f.name
                )));
            }
        }
        if let Some(url) = &f.run.url {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https")) {
                return Err(Error::bad_request(format!(
                    "`{}.{}` has @url(\"{url}\"): only http:// and https:// endpoints are called",
                    class.name, f.name
                )));
            }
        }
    }
    Ok(())
}

async fn list_packages(State(engine): State<Shared>) -> Json<PackagesResponse> {
    let packages = engine
        .objects
        .registry
        .list()
        .into_iter()
        .map(|(name, version)| PackageEntry { name, version })
        .collect();
    Json(PackagesResponse { packages })
}

async fn get_class(
    State(engine): State<Shared>,
    Path(cls): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, class) = engine.objects.find_class(&cls)?;
    let public = |a| crate::access::allows(Caller::External, a);
    Ok(Json(json!({
        "name": class.name,
        "qualified": class.qualified,
        "parent": class.parent,
        "docs": class.docs,
        "state": class.state.iter().filter(|s| public(s.access)).collect::<Vec<_>>(),
        "files": class.files.iter().filter(|f| public(f.access)).collect::<Vec<_>>(),
        "refs": class.refs.iter().filter(|r| public(r.access)).collect::<Vec<_>>(),
        "functions": class.functions.iter().filter(|f| public(f.access)).map(|f| json!({"name": f.name, "params": f.params, "returns": f.returns, "mut": f.mutates, "static": f.is_static, "docs": f.docs})).collect::<Vec<_>>(),
        "macros": class.macros.iter().filter(|m| public(m.access)).map(|m| json!({"name": m.name, "params": m.params, "returns": m.returns, "static": m.is_static, "docs": m.docs, "graph": m.graph})).collect::<Vec<_>>(),
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

/// Whether a call asks for fresh calls of `@memo` functions: `Cache-Control: no-cache`
/// (HTTP's way to ask past a cache for a new answer).
struct FreshCalls(bool);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for FreshCalls {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let no_cache = parts
            .headers
            .get_all(axum::http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("no-cache"));
        Ok(FreshCalls(no_cache))
    }
}

/// A call as recorded: on `target`, of `function`, with `args`.
fn call(target: Target, function: String, args: Value, fresh: bool) -> InvocationRequest {
    InvocationRequest {
        target,
        function,
        args,
        fresh,
    }
}

async fn create_object(
    State(engine): State<Shared>,
    Path(cls): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let args = parse_body(&body)?;
    let request = call(Target::Class(cls), "new".into(), args, false);
    invoke(&engine, request, false, key).await
}

async fn list_objects(
    State(engine): State<Shared>,
    Path(cls): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ObjectPage>, ApiError> {
    let mut filters = Vec::new();
    let mut after = None;
    let mut limit = 100usize;
    for (k, v) in q {
        match k.as_str() {
            "after" => after = Some(ObjectId::from(v)),
            "limit" => {
                limit = v
                    .parse()
                    .map_err(|_| Error::bad_request("`limit` must be a whole number"))?
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
    let page = engine.objects.list(&cls, filters, after, limit).await?;
    Ok(Json(ObjectPage {
        items: page.items,
        next_after: page.next_after,
    }))
}

#[derive(Deserialize, Default)]
struct VersionQuery {
    version: Option<u64>,
    relay: Option<bool>,
    /// Answer the signed URL as JSON instead of redirecting to it (for pages, which cannot
    /// read a redirect's `Location` from script).
    signed: Option<bool>,
}

async fn get_object(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        engine
            .objects
            .external_view(&ObjectId::from(id), q.version)
            .await?,
    ))
}

async fn object_versions(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<VersionsResponse>, ApiError> {
    let versions = engine.objects.history(&ObjectId::from(id)).await?;
    Ok(Json(VersionsResponse { versions }))
}

async fn delete_object(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, ApiError> {
    let request = call(
        Target::Object(ObjectId::from(id)),
        "delete".into(),
        Value::Null,
        false,
    );
    invoke(&engine, request, false, key).await
}

/// `GET /api/objects/{id}/files/{name}`: a redirect to a signed URL, `?signed=true` the URL as
/// JSON, or `?relay=true` to stream the file through the runtime.
async fn get_file(
    State(engine): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let file = engine
        .objects
        .file_url(&ObjectId::from(id), &name, q.version, Caller::External)
        .await?;
    if q.relay.unwrap_or(false) {
        let blobs = &engine.objects.blobs;
        let media_type = file
            .media_type
            .as_deref()
            .unwrap_or(blobs::DEFAULT_MEDIA_TYPE);
        return Ok(match (blobs.locate(&file.key), blobs.bucket_client()) {
            (Some(blobs::Located::File(path)), _) => {
                files::serve(&path, &headers, media_type).await
            }
            (Some(blobs::Located::Url(url)), Some(client)) => {
                files::relay(client, &url, &headers, media_type).await
            }
            _ => return Err(Error::internal("bad blob key").into()),
        });
    }
    if q.signed.unwrap_or(false) {
        return Ok(Json(json!({"url": file.url, "media_type": file.media_type})).into_response());
    }
    Ok(Redirect::temporary(&file.url).into_response())
}

/// The query of a call: `?async=true` answers 202 at once. Anything else is refused, so a
/// misspelt `?async=ture` does not quietly run the call while the client waits.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CallQuery {
    #[serde(rename = "async")]
    run_async: Option<bool>,
}

impl CallQuery {
    fn is_async(&self) -> bool {
        self.run_async.unwrap_or(false)
    }
}

async fn invoke_object(
    State(engine): State<Shared>,
    Path((id, func)): Path<(String, String)>,
    Query(q): Query<CallQuery>,
    IdempotencyKey(key): IdempotencyKey,
    FreshCalls(fresh): FreshCalls,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let args = parse_body(&body)?;
    let request = call(Target::Object(ObjectId::from(id)), func, args, fresh);
    invoke(&engine, request, q.is_async(), key).await
}

async fn invoke_static(
    State(engine): State<Shared>,
    Path((cls, func)): Path<(String, String)>,
    Query(q): Query<CallQuery>,
    IdempotencyKey(key): IdempotencyKey,
    FreshCalls(fresh): FreshCalls,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let args = parse_body(&body)?;
    let request = call(Target::Class(cls), func, args, fresh);
    invoke(&engine, request, q.is_async(), key).await
}

fn status_url(id: &InvocationId) -> String {
    format!("/api/invocations/{id}")
}

/// Runs a call synchronously or accepts it for asynchronous running, honouring
/// `Idempotency-Key`, and answers it.
async fn invoke(
    engine: &Engine,
    request: InvocationRequest,
    is_async: bool,
    key: Option<String>,
) -> Result<Response, ApiError> {
    let created = request.function == "new" && key.is_none() && !is_async;
    match engine.invocations.invoke(request, is_async, key).await? {
        Outcome::Done(r) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(call_response(r))).into_response())
        }
        Outcome::Accepted {
            invocation_id,
            output_id,
        } => {
            let answer = AcceptedResponse {
                task_id: invocation_id.root_task(),
                status_url: status_url(&invocation_id),
                invocation_id,
                status: InvocationStatus::Pending,
                output_id,
            };
            Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
        }
    }
}

fn call_response(r: CallResult) -> CallResponse {
    CallResponse {
        invocation_id: r.invocation_id,
        task_id: r.task_id,
        status: InvocationStatus::Succeeded,
        result: r.result,
    }
}

async fn get_invocation(
    State(engine): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<InvocationResponse>, ApiError> {
    let inv = engine.invocations.get(&InvocationId::from(id)).await?;
    let mut answer = InvocationResponse::from(inv);
    if !who.has(Role::Admin) {
        answer.redact();
    }
    Ok(Json(answer))
}

/// `POST /api/invocations/{id}/signals/{name}`: a JSON value for the invocation's waits
/// on `name`; 202 once it is stored.
async fn send_signal(
    State(engine): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let max = crate::invocations::MAX_SIGNAL_BYTES;
    if body.len() > max {
        return Err(Error::new(
            crate::error::ErrorKind::TooLarge,
            format!(
                "a signal's value is at most {max} bytes of JSON; this is {}",
                body.len()
            ),
        )
        .into());
    }
    let value = parse_body(&body)?;
    let id = InvocationId::from(id);
    engine.invocations.signal(&id, &name, value).await?;
    let answer = serde_json::json!({"invocation_id": id, "signal": name, "status": "stored"});
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `POST /api/tokens`: mints a token (`{"role": "invoke", "packages": [...]}`); its secret is
/// answered once.
async fn mint_token(
    State(engine): State<Shared>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let req: MintRequest = serde_json::from_value(parse_body(&body)?).map_err(|e| {
        Error::bad_request(format!(
            "expected {{\"role\": \"read|invoke|deploy\", \"packages\": [...]}}: {e}"
        ))
    })?;
    let minted = engine.tokens.mint(req.role, req.packages).await?;
    Ok((StatusCode::CREATED, Json(minted)).into_response())
}

async fn list_tokens(State(engine): State<Shared>) -> Json<TokensResponse> {
    let tokens = engine
        .tokens
        .list()
        .into_iter()
        .map(|t| TokenEntry {
            id: t.id,
            role: t.role,
            packages: t.packages,
            created_at: t.created_at,
        })
        .collect();
    Json(TokensResponse { tokens })
}

async fn revoke_token(
    State(engine): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.tokens.revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/tasks/{task}/outputs/{class}`: one more output object for a task that returns
/// a list of objects, through the signed URL the task was given.
async fn allocate_output(
    State(engine): State<Shared>,
    Path((task, class)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let task = TaskId::from(task);
    let signed =
        blobs::Signed::from_query(&q).ok_or_else(|| Error::forbidden("a signed URL is needed"))?;
    engine
        .objects
        .blobs
        .verify("POST", &allocation_key(&task, &class), &signed)
        .map_err(Error::forbidden)?;
    Ok(Json(engine.calls.allocate(&task, &class)?))
}
