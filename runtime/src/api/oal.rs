//! `/oal/{expression}`: object access expressions such as `vid42:transcode(height=720)/src`
//! or `video.Video.new(title="clip")`, read into a call and answered like one.

use super::error::ApiError;
use super::{call, invoke, FreshCalls, IdempotencyKey, Shared};
use crate::access::Caller;
use crate::error::Error;
use crate::ids::{ObjectId, Target};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use oaas_compiler::artifact::{FunctionArtifact, TypeRef};
use oaas_compiler::syntax::{parse_access_expr, AccessExpr, AccessTarget};
use serde_json::{json, Value};

/// An expression read into a call.
struct Parsed {
    expr: AccessExpr,
    target: Target,
    function: String,
}

fn parse(text: &str) -> Result<Parsed, Error> {
    let expr = parse_access_expr(text).map_err(|d| {
        Error::bad_request(format!("not an object access expression: {}", d.message))
    })?;
    let target = match (&expr.target, expr.target.class()) {
        (AccessTarget::Object { id, .. }, _) => Target::Object(ObjectId::from(id.as_str())),
        (_, cls) => Target::Class(cls.unwrap_or_default()),
    };
    let function = expr.target.function().name.clone();
    Ok(Parsed {
        expr,
        target,
        function,
    })
}

fn args_of(expr: &AccessExpr) -> Result<Value, Error> {
    crate::oal::args_to_json(expr.target.args())
        .map(Value::Object)
        .map_err(Error::bad_request)
}

/// Whether a function only reads: no `mut`, and no new objects (but `get`'s view).
fn reads_only(f: &FunctionArtifact) -> bool {
    let makes_objects = match &f.returns {
        Some(TypeRef::Class(_)) => true,
        Some(TypeRef::List(t)) => matches!(**t, TypeRef::Class(_)),
        _ => false,
    };
    !f.mutates && (!makes_objects || f.run.builtin.as_deref() == Some("get"))
}

/// `GET /oal/...`: only calls that change nothing (no `mut`, no macro, no new objects); the
/// others need `POST`, so a link followed by a crawler cannot change state.
pub(super) async fn get(
    State(engine): State<Shared>,
    Path(expr): Path<String>,
    key: IdempotencyKey,
    fresh: FreshCalls,
) -> Result<Response, ApiError> {
    let parsed = parse(&expr)?;
    let resolved = engine.calls.resolve(&parsed.target).await?;
    let class = &resolved.class;
    let changes = match class.function(&parsed.function) {
        Some(f) => !reads_only(f),
        None => class.macro_named(&parsed.function).is_some(),
    };
    if changes {
        let e = Error::bad_request(format!(
            "`{}.{}` changes or creates objects: call it with POST /oal/...",
            class.name, parsed.function
        ));
        return Err(e.with(json!({"method": "POST"})).into());
    }
    run(&engine, parsed, key, fresh).await
}

/// `POST /oal/...`: any call.
pub(super) async fn post(
    State(engine): State<Shared>,
    Path(expr): Path<String>,
    key: IdempotencyKey,
    fresh: FreshCalls,
) -> Result<Response, ApiError> {
    run(&engine, parse(&expr)?, key, fresh).await
}

async fn run(
    engine: &Shared,
    parsed: Parsed,
    key: IdempotencyKey,
    fresh: FreshCalls,
) -> Result<Response, ApiError> {
    let args = args_of(&parsed.expr)?;
    let request = call(parsed.target, parsed.function, args, fresh.0);
    let response = invoke(engine, request, false, key.0).await?;
    let Some(file) = parsed.expr.file else {
        return Ok(response);
    };
    // `/file`: redirect to that file of the call's result object.
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = value
        .pointer("/result/id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::bad_request(format!(
                "`/{}` needs the call to return an object",
                file.name
            ))
        })?;
    let file = engine
        .objects
        .file_url(&ObjectId::from(id), &file.name, None, Caller::External)
        .await?;
    Ok(Redirect::temporary(&file.url).into_response())
}
