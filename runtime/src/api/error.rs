//! Errors as the HTTP API answers them: the one place where an error's kind becomes a status,
//! and every error leaves as JSON `{error: {code, message, ...}}`.

use crate::error::{Error, ErrorKind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The status that answers an error of `kind`.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::FunctionFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A domain error on its way out over HTTP.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            status_of(self.0.kind),
            axum::Json(json!({ "error": self.0.body() })),
        )
            .into_response()
    }
}

/// An error answer with a status the runtime did not choose itself: axum's own answers to a
/// path or query that does not decode, or to a method a route does not take.
pub fn with_status(status: StatusCode, message: impl Into<String>) -> Response {
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
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
    let body = json!({"error": {"code": code, "message": message.into()}});
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_status_and_code() {
        let table = [
            (ErrorKind::BadRequest, 400, "bad_request"),
            (ErrorKind::Forbidden, 403, "forbidden"),
            (ErrorKind::NotFound, 404, "not_found"),
            (ErrorKind::Conflict, 409, "conflict"),
            (ErrorKind::Unprocessable, 422, "unprocessable"),
            (ErrorKind::FunctionFailed, 502, "function_failed"),
            (ErrorKind::Timeout, 504, "function_timeout"),
            (ErrorKind::Internal, 500, "internal"),
            (ErrorKind::Unavailable, 503, "unavailable"),
            (ErrorKind::NotImplemented, 501, "not_implemented"),
            (ErrorKind::Unauthenticated, 401, "unauthenticated"),
            (
                ErrorKind::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ErrorKind::TooLarge, 413, "payload_too_large"),
        ];
        for (kind, status, code) in table {
            assert_eq!(status_of(kind).as_u16(), status, "{kind:?}");
            assert_eq!(kind.code(), code);
        }
    }
}
