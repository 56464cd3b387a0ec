//! Errors a function answers with.

use std::fmt;

/// A failed task: `{"error": {"message", "retryable"}}` with an HTTP status.
///
/// - [`FnError::new`]: a failure the function reports on purpose; `422`, not retried.
/// - [`FnError::retryable`]: a transient failure; `503`, retried per `@retry`.
/// - Any `std::error::Error` turned into one by `?`: `500`, not retried (like an
///   unhandled exception).
///
/// `FnError` is deliberately not a `std::error::Error` itself, so that `?` converts every
/// other error into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnError {
    message: String,
    retryable: bool,
    status: u16,
}

impl FnError {
    /// A permanent failure (`422`).
    pub fn new(message: impl Into<String>) -> Self {
        FnError {
            message: message.into(),
            retryable: false,
            status: 422,
        }
    }

    /// A transient failure (`503`): the runtime tries again.
    pub fn retryable(message: impl Into<String>) -> Self {
        FnError {
            message: message.into(),
            retryable: true,
            status: 503,
        }
    }

    /// An unexpected failure (`500`, not retried).
    pub fn internal(message: impl Into<String>) -> Self {
        FnError {
            message: message.into(),
            retryable: false,
            status: 500,
        }
    }

    /// Answer with another status (`400..=599`).
    pub fn with_status(mut self, status: u16) -> Self {
        if (400..=599).contains(&status) {
            self.status = status;
        }
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    pub fn status(&self) -> u16 {
        self.status
    }
}

impl fmt::Display for FnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for FnError {
    fn from(e: E) -> Self {
        FnError::internal(e.to_string())
    }
}
