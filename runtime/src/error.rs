//! The runtime's one error type, free of any transport: a kind that says whose fault it is, a
//! message a person can act on, and details (the failing function, the task, a macro's
//! failures). Only the HTTP layer (`api::error`) turns kinds into statuses.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What went wrong, by whose doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or does not fit the declaration.
    BadRequest,
    /// An access modifier forbids it.
    Forbidden,
    /// No such thing.
    NotFound,
    /// It conflicts with the current state.
    Conflict,
    /// Well-formed, but not acceptable (an Idempotency-Key reused for another request).
    Unprocessable,
    /// The function container failed.
    FunctionFailed,
    /// The function container did not answer in time.
    #[serde(rename = "function_timeout")]
    Timeout,
    /// The runtime itself failed (disk, ...).
    Internal,
    /// Not available in this runtime.
    NotImplemented,
    /// The caller did not say who it is (no valid token).
    Unauthenticated,
    /// The request's body is of a type the runtime does not take.
    UnsupportedMediaType,
    /// The request is larger than the runtime takes.
    #[serde(rename = "payload_too_large")]
    TooLarge,
    /// A service the runtime needs (its database) cannot be reached now; try again later.
    Unavailable,
}

impl ErrorKind {
    /// The machine-readable code callers see (`bad_request`, `function_timeout`, ...).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unprocessable => "unprocessable",
            ErrorKind::FunctionFailed => "function_failed",
            ErrorKind::Timeout => "function_timeout",
            ErrorKind::Internal => "internal",
            ErrorKind::NotImplemented => "not_implemented",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::TooLarge => "payload_too_large",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

/// An error for a caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Error {
    /// Whose fault, and so how a transport reports it.
    #[serde(rename = "code")]
    pub kind: ErrorKind,
    /// What happened, in words a person can act on.
    pub message: String,
    /// Extra fields (the failing function, the task id, a macro's failures, ...): an object
    /// or null.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

/// Results of the runtime's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of a kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            details: Value::Null,
        }
    }
    /// The request is malformed or does not fit the declaration.
    pub fn bad_request(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::BadRequest, message)
    }
    /// An access modifier forbids it.
    pub fn forbidden(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// No such thing.
    pub fn not_found(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::NotFound, message)
    }
    /// It conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::Conflict, message)
    }
    /// Well-formed, but not acceptable.
    pub fn unprocessable(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::Unprocessable, message)
    }
    /// The function container failed.
    pub fn function_failed(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::FunctionFailed, message)
    }
    /// The function container did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::Timeout, message)
    }
    /// The runtime itself failed.
    pub fn internal(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::Internal, message)
    }
    /// Not available in this runtime.
    pub fn not_implemented(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::NotImplemented, message)
    }

    /// Adds detail fields (merged into those already there).
    pub fn with(mut self, details: Value) -> Error {
        match (&mut self.details, details) {
            (Value::Object(mine), Value::Object(more)) => mine.extend(more),
            (mine, more) => *mine = more,
        }
        self
    }

    /// `{code, message, ...details}`: the error as callers read it.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.kind.code(), "message": self.message});
        if let (Some(e), Value::Object(d)) = (error.as_object_mut(), &self.details) {
            for (k, v) in d {
                e.insert(k.clone(), v.clone());
            }
        }
        error
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_round_trip_through_their_record() {
        let e = Error::timeout("slow")
            .with(json!({"function": "f"}))
            .with(json!({"attempts": 2}));
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"code": "function_timeout", "message": "slow", "details": {"function": "f", "attempts": 2}})
        );
        assert_eq!(serde_json::from_str::<Error>(&text).unwrap(), e);
        assert_eq!(e.body()["attempts"], 2);
    }
}
