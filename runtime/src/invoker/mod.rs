//! The invoker: sends a task to its function's container and reads the answer, with the
//! function's timeout and retry policy. The container protocol sits behind [`Invoker`] (HTTP
//! today: [`http::HttpInvoker`]), so the layers above can be tested with fakes.

pub mod containers;
pub mod http;
pub mod ports;
pub mod protocol;

use crate::error::{Error, Result};
use oaas_compiler::artifact::FunctionArtifact;
use protocol::{TaskRequest, TaskResponse};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Timeout of a task when its function sets none.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// How one attempt failed.
#[derive(Debug)]
pub enum Attempt {
    /// Worth another try (a connection error, a timeout, 5xx, 429, or `retryable`).
    Retryable(Error),
    /// Final: trying again would fail the same way.
    Final(Error),
    /// Nothing accepted the connection: the task was not sent, so it can be sent again
    /// once the container is back.
    Unreachable(Error),
}

/// Where a function runs: its declaration, and the folder of its package's `@local` commands
/// when its deploy named one.
pub struct FunctionRef<'a> {
    /// The function.
    pub func: &'a FunctionArtifact,
    /// The package version's folder for `@local` commands.
    pub workdir: Option<PathBuf>,
}

/// Sends tasks to function containers.
#[async_trait::async_trait]
pub trait Invoker: Send + Sync {
    /// One attempt: the task sent to the container of `function`, its answer read within
    /// `timeout`.
    async fn attempt(
        &self,
        function: &FunctionRef<'_>,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<TaskResponse, Attempt>;

    /// Stops what the invoker started (local containers).
    async fn shutdown(&self) {}
}

/// Sends the task, retrying transient failures with exponential backoff as the function's
/// `@retry` says; the error tells how many attempts were made.
pub async fn send(
    invoker: &dyn Invoker,
    function: &FunctionRef<'_>,
    request: &TaskRequest,
) -> Result<TaskResponse> {
    let run = &function.func.run;
    let attempts = 1 + run.retry_attempts.unwrap_or(0);
    let mut backoff = Duration::from_millis(run.retry_backoff_ms.unwrap_or(100));
    let timeout = Duration::from_millis(run.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    let details = |attempt: u64| json!({"task_id": request.task_id, "function": request.function, "attempts": attempt});
    let mut last = Error::function_failed("no attempt was made");
    for attempt in 1..=attempts {
        match invoker.attempt(function, request, timeout).await {
            Ok(r) => return Ok(r),
            Err(Attempt::Final(e)) => {
                let e = counted(e, attempt, attempts, false);
                return Err(e.with(details(attempt)));
            }
            Err(Attempt::Retryable(e) | Attempt::Unreachable(e)) => {
                tracing::debug!(task = %request.task_id, attempt, error = %e, "task failed; retrying if allowed");
                last = e;
                if attempt < attempts {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    Err(counted(last, attempts, attempts, true).with(details(attempts)))
}

/// A failure's message with how many attempts were made, for a function with `@retry`
/// (one without makes one attempt, and its message stays as it is).
fn counted(mut e: Error, made: u64, allowed: u64, exhausted: bool) -> Error {
    if allowed > 1 {
        e.message = if exhausted {
            format!(
                "{} (after {made} attempts, all that @retry allows)",
                e.message
            )
        } else {
            format!(
                "{} (on attempt {made} of {allowed}; this failure is not retried)",
                e.message
            )
        };
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_how_many_attempts_were_made_under_retry() {
        let e = counted(Error::function_failed("busy"), 4, 4, true);
        assert_eq!(e.message, "busy (after 4 attempts, all that @retry allows)");
        let e = counted(Error::function_failed("bad input"), 2, 4, false);
        assert_eq!(
            e.message,
            "bad input (on attempt 2 of 4; this failure is not retried)"
        );
        // Without `@retry` there is one attempt, and nothing to add.
        let e = counted(Error::function_failed("broken"), 1, 1, true);
        assert_eq!(e.message, "broken");
    }
}
