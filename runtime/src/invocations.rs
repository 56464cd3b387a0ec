//! Invocations: the life of a request to run something. A call is run at once (synchronous,
//! no key), or recorded first (asynchronous, or with an `Idempotency-Key`) and then run; a
//! macro's record carries its nodes' progress; every record ends with its outcome; and after
//! a restart every invocation still pending is run again ([`Invocations::resume`]), reusing the
//! tasks it had committed.

use crate::access::Caller;
use crate::calls::{CallContext, Calls, Resolved};
use crate::error::{Error, Result};
use crate::executor::Progress;
use crate::ids::{InvocationId, ObjectId, TaskId};
use crate::store::{now_ms, Commit, Invocation, InvocationRequest, InvocationStatus, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How often a running macro's progress is written to its record, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A finished call.
#[derive(Clone, Debug)]
pub struct CallResult {
    /// The invocation.
    pub invocation_id: InvocationId,
    /// The task of the call.
    pub task_id: TaskId,
    /// The result: a value, an object view, a list of object views, or null.
    pub result: Value,
}

/// What became of a request.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It ran to its result.
    Done(CallResult),
    /// It was recorded and runs (or waits to run) in the background.
    Accepted {
        /// The invocation.
        invocation_id: InvocationId,
        /// The object it will output, when it outputs one.
        output_id: Option<ObjectId>,
    },
}

/// Runs and records invocations.
pub struct Invocations {
    calls: Arc<Calls>,
    store: Arc<dyn Store>,
}

impl Invocations {
    /// Invocations of `calls`, recorded in `store`.
    pub fn new(calls: Arc<Calls>, store: Arc<dyn Store>) -> Invocations {
        Invocations { calls, store }
    }

    /// The calls layer underneath.
    pub fn calls(&self) -> &Arc<Calls> {
        &self.calls
    }

    /// An invocation's record.
    pub async fn get(&self, id: &InvocationId) -> Result<Invocation> {
        self.store
            .invocation(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("there is no invocation `{id}`")))
    }

    /// Runs a request from outside: at once when synchronous without a key; otherwise
    /// recorded first (checked before, so a bad call is refused now rather than failing
    /// later), then run. A key already used answers with its invocation's outcome.
    pub async fn invoke(
        self: &Arc<Self>,
        request: InvocationRequest,
        is_async: bool,
        key: Option<String>,
    ) -> Result<Outcome> {
        if let Some(k) = &key {
            if let Some(first) = self.store.idempotent(k).await? {
                return self.replay(k, &first, &request, is_async).await;
            }
        }
        let resolved = self.calls.resolve(&request.target).await?;
        if !is_async && key.is_none() {
            let id = InvocationId::new();
            return self
                .execute(id, request, &resolved, true)
                .await
                .map(Outcome::Done);
        }
        self.calls.check(
            &resolved,
            &request.function,
            &request.args,
            Caller::External,
        )?;
        let id = InvocationId::new();
        let output_id = resolved.planned_output(&request.function, &id.root_task());
        let record = Invocation::pending(id.clone(), request.clone(), output_id.clone());
        self.record(record, key.map(|k| (k, id.clone()))).await?;
        let this = self.clone();
        let run = tokio::spawn({
            let id = id.clone();
            async move { this.execute(id, request, &resolved, false).await }
        });
        if is_async {
            return Ok(Outcome::Accepted {
                invocation_id: id,
                output_id,
            });
        }
        match run.await {
            Ok(outcome) => outcome.map(Outcome::Done),
            Err(e) => Err(Error::internal(e.to_string())),
        }
    }

    /// The answer to a request whose key was used before: the first invocation's outcome.
    async fn replay(
        &self,
        key: &str,
        first: &InvocationId,
        request: &InvocationRequest,
        is_async: bool,
    ) -> Result<Outcome> {
        let inv = self.get(first).await?;
        // A key names one request: the same key with another call is a mistake to report,
        // not a reason to answer with the first call's result.
        if &inv.request != request {
            return Err(Error::unprocessable(format!(
                "the Idempotency-Key `{key}` was first used for another request (`{}` with other arguments or on another target)",
                inv.request.function
            ))
            .with(json!({"invocation_id": first})));
        }
        match inv.status {
            InvocationStatus::Succeeded => Ok(Outcome::Done(CallResult {
                task_id: inv.id.root_task(),
                invocation_id: inv.id,
                result: inv.result.unwrap_or(Value::Null),
            })),
            InvocationStatus::Failed => Err(inv.error.unwrap_or_else(|| Error::function_failed("failed"))),
            InvocationStatus::Pending if is_async => Ok(Outcome::Accepted { invocation_id: inv.id, output_id: inv.output_id }),
            InvocationStatus::Pending => Err(Error::conflict(
                "the first request with this Idempotency-Key is still running; ask again later",
            )
            .with(json!({"invocation_id": inv.id, "status_url": format!("/api/invocations/{}", inv.id)}))),
        }
    }

    /// Runs one invocation's call. A macro reports its nodes' progress in its record; a
    /// recorded invocation (`fresh` is false) ends with its outcome written.
    async fn execute(
        self: &Arc<Self>,
        id: InvocationId,
        request: InvocationRequest,
        resolved: &Resolved,
        fresh: bool,
    ) -> Result<CallResult> {
        let is_macro = resolved.macro_named(&request.function).is_some();
        let progress = is_macro.then(|| Arc::new(Progress::default()));
        let started = match (is_macro, fresh) {
            (true, true) => Some(self.record_in_background(&id, &request)),
            _ => None,
        };
        let writer = progress
            .as_ref()
            .map(|p| self.spawn_progress_writer(id.clone(), p.clone()));
        let ctx = CallContext {
            caller: Caller::External,
            invocation: id.clone(),
            task: id.root_task(),
            fresh,
            progress: progress.clone(),
        };
        let outcome = self
            .calls
            .run(resolved, &request.function, request.args, ctx)
            .await
            .map(|result| CallResult {
                invocation_id: id.clone(),
                task_id: id.root_task(),
                result,
            });
        if let Some(w) = writer {
            w.abort();
        }
        if is_macro || !fresh {
            let finished = self
                .finish(&id, &outcome, progress.as_deref(), started)
                .await;
            if let Err(e) = finished {
                tracing::error!(invocation = %id, error = %e, "cannot record the outcome");
            }
        }
        outcome
    }

    /// A synchronous macro's start record. Its caller waits, so the record that lets it resume
    /// need not be on disk before the first node runs: it joins the next group commit, and the
    /// outcome is written from the copy returned, not read back (a pending record never
    /// overwrites a finished one, so the outcome may reach the store first).
    fn record_in_background(&self, id: &InvocationId, request: &InvocationRequest) -> Invocation {
        let start = Invocation::pending(id.clone(), request.clone(), None);
        let (store, record) = (self.store.clone(), start.clone());
        tokio::spawn(async move {
            let id = record.id.clone();
            let commit = Commit {
                invocations: vec![record],
                ..Default::default()
            };
            if let Err(e) = store.commit(commit).await {
                tracing::warn!(invocation = %id, error = %e, "cannot record the invocation");
            }
        });
        start
    }

    /// Writes an invocation record (and binds its idempotency key) durably.
    async fn record(
        &self,
        inv: Invocation,
        idempotency: Option<(String, InvocationId)>,
    ) -> Result<()> {
        self.store
            .commit(Commit {
                invocations: vec![inv],
                idempotency,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Stores an invocation's outcome (and its final per-node status) in one commit, on the
    /// record it started with when there is one, else on the stored one.
    async fn finish(
        &self,
        id: &InvocationId,
        outcome: &Result<CallResult>,
        progress: Option<&Progress>,
        started: Option<Invocation>,
    ) -> Result<()> {
        let mut inv = match started {
            Some(inv) => inv,
            None => match self.store.invocation(id).await? {
                Some(inv) => inv,
                None => return Ok(()),
            },
        };
        if let Some(p) = progress {
            inv.nodes = p.snapshot();
        }
        match outcome {
            Ok(r) => {
                inv.status = InvocationStatus::Succeeded;
                inv.result = Some(r.result.clone());
            }
            Err(e) => {
                inv.status = InvocationStatus::Failed;
                inv.error = Some(e.clone());
            }
        }
        inv.updated_at = now_ms();
        self.record(inv, None).await
    }

    /// Stores a macro's per-node progress in its invocation while it runs.
    fn spawn_progress_writer(
        &self,
        id: InvocationId,
        progress: Arc<Progress>,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                if !progress.take_dirty() {
                    continue;
                }
                if let Ok(Some(mut inv)) = store.invocation(&id).await {
                    if inv.status != InvocationStatus::Pending {
                        return;
                    }
                    inv.nodes = progress.snapshot();
                    inv.updated_at = now_ms();
                    let _ = store
                        .commit(Commit {
                            invocations: vec![inv],
                            ..Default::default()
                        })
                        .await;
                }
            }
        })
    }

    /// Runs a request under a given invocation id, as [`Invocations::resume`] does: tasks the
    /// invocation committed before answer with their first results, so nothing runs twice.
    pub async fn rerun(
        self: &Arc<Self>,
        id: InvocationId,
        request: InvocationRequest,
    ) -> Result<CallResult> {
        let resolved = self.calls.resolve(&request.target).await?;
        self.execute(id, request, &resolved, false).await
    }

    /// Runs every invocation that was accepted but not finished when the runtime stopped.
    /// Task ids are deterministic, so work already committed is not done twice.
    pub async fn resume(self: &Arc<Self>) -> Result<usize> {
        let pending = self.store.pending_invocations().await?;
        let n = pending.len();
        for inv in pending {
            let this = self.clone();
            tokio::spawn(async move {
                let resolved = match this.calls.resolve(&inv.request.target).await {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = this.finish(&inv.id, &Err(e), None, None).await;
                        return;
                    }
                };
                let _ = this.execute(inv.id, inv.request, &resolved, false).await;
            });
        }
        Ok(n)
    }
}
