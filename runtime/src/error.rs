//! Errors as the HTTP API answers them: JSON `{error: {code, message}}` with the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error for a caller, with the status that fits it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable code: `bad_request`, `forbidden`, `not_found`, ...
    pub code: &'static str,
    /// What happened, in words a person can act on.
    pub message: String,
    /// Extra fields (the failing function, the task id, ...).
    pub details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }
    /// 400: the request is malformed or does not fit the declaration.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 403: an access modifier forbids it.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409: it conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 422: well-formed, but not acceptable (an Idempotency-Key reused for another request).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }
    /// 502: the function container failed.
    pub fn function_failed(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_GATEWAY, "function_failed", message)
    }
    /// 504: the function container did not answer in time.
    pub fn timeout(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "function_timeout", message)
    }
    /// 500: the runtime itself failed (disk, ...).
    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    /// 501: not available in this runtime.
    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", message)
    }
    /// An error with a status the runtime did not choose itself: axum's own answers to a
    /// path or query that does not decode, or to a method a route does not take.
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> ApiError {
        let code = match status.as_u16() {
            400 => "bad_request",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            416 => "range_not_satisfiable",
            422 => "unprocessable",
            s if s >= 500 => "internal",
            _ => "error",
        };
        Self::new(status, code, message)
    }
    /// Adds detail fields.
    pub fn with(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(e), Value::Object(d)) = (error.as_object_mut(), &self.details) {
            for (k, v) in d {
                e.insert(k.clone(), v.clone());
            }
        }
        json!({ "error": error })
    }

    /// Rebuilds an error from a stored body (for invocations read back).
    pub fn from_body(status: StatusCode, body: &Value) -> ApiError {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("failed")
            .to_string();
        // The stored body is `{status, code, message, details}` (see `finish_invocation`):
        // rebuild the error as it was first answered.
        let code = match body.get("code").and_then(Value::as_str) {
            Some("bad_request") => "bad_request",
            Some("forbidden") => "forbidden",
            Some("not_found") => "not_found",
            Some("conflict") => "conflict",
            Some("function_timeout") => "function_timeout",
            Some("internal") => "internal",
            Some("not_implemented") => "not_implemented",
            _ => "function_failed",
        };
        let mut e = Self::new(status, code, message);
        e.details = body.get("details").cloned().unwrap_or(Value::Null);
        e
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}
