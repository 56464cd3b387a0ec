//! Signals sent to an invocation (`POST /api/invocations/{id}/signals/{name}`): checked
//! against the waits its macro declares, then kept in the store until a wait takes it.

use super::Invocations;
use crate::calls::waits::MAX_WAITING_SIGNALS;
use crate::error::{Error, Result};
use crate::ids::InvocationId;
use crate::store::{InvocationStatus, SignalOutcome};
use crate::values;
use oaas_compiler::artifact::{Artifact, GraphArtifact, NodeOp, TypeRef};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Most bytes of a signal's value, as JSON.
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;

impl Invocations {
    /// Sends the signal `name` with `value` to invocation `id`: kept until one of its waits
    /// for `name` takes it (one that is waiting now, or the next to reach it), once.
    pub async fn signal(&self, id: &InvocationId, name: &str, value: Value) -> Result<()> {
        if !oaas_compiler::check::valid_signal_name(name) {
            return Err(Error::bad_request(format!(
                "`{name}` is not a signal name: 1 to {} letters, digits, `_`, `-` or `.`",
                oaas_compiler::check::MAX_SIGNAL_NAME
            )));
        }
        let inv = self.get(id).await?;
        if inv.status != InvocationStatus::Pending {
            return Err(finished(id, inv.status));
        }
        let resolved = self.calls.resolve(&inv.request.target).await?;
        let function = &inv.request.function;
        let Some(m) = resolved.macro_named(function) else {
            return Err(Error::unprocessable(format!(
                "invocation `{id}` runs the function `{function}`, not a macro: nothing in it waits for signals"
            )));
        };
        let mut waits = BTreeMap::new();
        let mut seen = BTreeSet::new();
        collect_waits(&resolved.artifact, &m.graph, &mut waits, &mut seen);
        let Some(ty) = waits.get(name) else {
            let known: Vec<&str> = waits.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(Error::unprocessable(format!(
                "macro `{function}` waits for no signal `{name}`; it waits for: {known}"
            )));
        };
        values::check(&resolved.artifact, &value, ty).map_err(|e| {
            Error::unprocessable(format!(
                "the signal `{name}` carries `{}`: {e}",
                values::type_name(ty)
            ))
        })?;
        let outcome = self
            .store
            .put_signal(id, name, &value, MAX_WAITING_SIGNALS)
            .await?;
        match outcome {
            SignalOutcome::Stored => {
                self.calls.waits.signalled();
                Ok(())
            }
            SignalOutcome::UnknownInvocation => {
                Err(Error::not_found(format!("there is no invocation `{id}`")))
            }
            SignalOutcome::Finished(status) => Err(finished(id, status)),
            SignalOutcome::TooMany(n) => Err(Error::conflict(format!(
                "invocation `{id}` holds {n} signals no wait has taken yet, the most it keeps; send more once its waits have taken some"
            ))),
        }
    }
}

/// The error of a signal to an invocation that has finished.
fn finished(id: &InvocationId, status: InvocationStatus) -> Error {
    Error::conflict(format!(
        "invocation `{id}` has finished ({}): nothing in it waits for signals any more",
        status.as_str()
    ))
    .with(json!({"invocation_id": id, "status": status}))
}

/// The signals waited for in a graph and in the macros it calls, with their types.
fn collect_waits(
    artifact: &Artifact,
    graph: &GraphArtifact,
    out: &mut BTreeMap<String, TypeRef>,
    seen: &mut BTreeSet<(String, String)>,
) {
    for node in &graph.nodes {
        match &node.op {
            NodeOp::Wait {
                signal: Some(name),
                ty,
                ..
            } => {
                out.entry(name.clone())
                    .or_insert_with(|| ty.clone().unwrap_or(TypeRef::Json));
            }
            NodeOp::Wait { .. } | NodeOp::Compute { .. } | NodeOp::Flatten { .. } => {}
            NodeOp::Call {
                class, function, ..
            } => {
                let called = artifact.class(class).and_then(|c| c.macro_named(function));
                if let Some(m) = called {
                    if seen.insert((class.clone(), function.clone())) {
                        collect_waits(artifact, &m.graph, out, seen);
                    }
                }
            }
            NodeOp::Map { body, .. } => collect_waits(artifact, body, out, seen),
            NodeOp::If {
                then, otherwise, ..
            } => {
                collect_waits(artifact, then, out, seen);
                collect_waits(artifact, otherwise, out, seen);
            }
            NodeOp::Try { body, catch, .. } => {
                collect_waits(artifact, body, out, seen);
                collect_waits(artifact, catch, out, seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Waits survive a crash: the process running a macro stops while the macro waits (its
    //! store refuses everything from then on, as a dead process writes nothing), a new one
    //! on the same database resumes it, and the signal or the timer still ends the wait. On
    //! SQLite and on PostgreSQL.
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::tests::Crashable;
    use super::*;
    use crate::ids::{ObjectId, Target};
    use crate::invocations::Outcome;
    use crate::store::postgres::{PostgresStore, ScratchDatabase};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{NodeStatus, Store};
    use crate::testing::{new_object, request, world_over, World};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Where the worlds keep their records.
    enum Backing {
        Sqlite(tempfile::TempDir),
        Postgres(ScratchDatabase),
    }

    impl Backing {
        async fn open(&self) -> Arc<dyn Store> {
            match self {
                Backing::Sqlite(dir) => {
                    Arc::new(SqliteStore::open(&dir.path().join("oaas.db")).unwrap())
                }
                Backing::Postgres(db) => Arc::new(PostgresStore::connect(db.url()).await.unwrap()),
            }
        }

        /// A world over this backing whose store can be made to crash, with short leases.
        async fn world(&self) -> (World, Arc<Crashable>) {
            let store = Arc::new(Crashable {
                inner: self.open().await,
                crashed: false.into(),
                record_delay: Duration::ZERO,
                records: Default::default(),
                tasks: Default::default(),
            });
            let lease = Duration::from_millis(800);
            let dir = tempfile::tempdir().unwrap();
            (world_over(dir, store.clone(), lease).await, store)
        }
    }

    /// Polls `f` until it gives `Some`, for at most 20 s.
    async fn until<T, F: std::future::Future<Output = Option<T>>>(
        what: &str,
        mut f: impl FnMut() -> F,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts `function` on a new object in `w`, and waits until its wait node runs.
    async fn start_waiting(w: &World, function: &str) -> (ObjectId, InvocationId) {
        let obj = new_object(w, 0).await;
        let req = request(Target::Object(obj.clone()), function, json!({}));
        let Outcome::Accepted { invocation_id, .. } =
            w.invocations.invoke(req, true, None).await.unwrap()
        else {
            panic!("not accepted");
        };
        let id = invocation_id.clone();
        until("the wait did not start", || async {
            let inv = w.invocations.get(&id).await.ok()?;
            inv.nodes
                .values()
                .any(|n| {
                    n.status == NodeStatus::Waiting
                        && (n.label.starts_with("signal") || n.label.starts_with("sleep"))
                })
                .then_some(())
        })
        .await;
        (obj, invocation_id)
    }

    /// A new process on the backing claims what the crashed one held.
    async fn resumed(backing: &Backing) -> World {
        let (w, _) = backing.world().await;
        until("nothing was resumed", || async {
            (w.invocations.resume().await.unwrap() == 1).then_some(())
        })
        .await;
        w
    }

    async fn finished(w: &World, id: &InvocationId) -> crate::store::Invocation {
        until("the invocation did not finish", || async {
            let inv = w.invocations.get(id).await.ok()?;
            (inv.status != InvocationStatus::Pending).then_some(inv)
        })
        .await
    }

    fn sent(w: &World) -> Vec<String> {
        w.invoker
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|(f, _)| f.clone())
            .collect()
    }

    async fn a_signal_resumes_a_wait_after_a_crash(backing: Backing) {
        let (first, crash) = backing.world().await;
        let (_, id) = start_waiting(&first, "approval").await;
        crash.crashed.store(true, Ordering::SeqCst);
        let second = resumed(&backing).await;
        // A signal of the wrong type, or of a name the macro does not wait for, is refused.
        let e = second
            .invocations
            .signal(&id, "go", json!("five"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Unprocessable, "{e}");
        let e = second
            .invocations
            .signal(&id, "stop", json!(5))
            .await
            .unwrap_err();
        assert!(e.message.contains("waits for: go"), "{e}");
        second
            .invocations
            .signal(&id, "go", json!(5))
            .await
            .unwrap();
        let inv = finished(&second, &id).await;
        assert_eq!(inv.status, InvocationStatus::Succeeded, "{:?}", inv.error);
        // `bump` made v 1 before the crash; `add(by: 5)` ran once, after it.
        assert_eq!(inv.result.unwrap()["state"]["v"], 6);
        assert_eq!(sent(&second), vec!["add"]);
        // Finished, it takes no more signals.
        let e = second
            .invocations
            .signal(&id, "go", json!(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Conflict, "{e}");
    }

    async fn a_sleep_keeps_its_due_time_across_a_crash(backing: Backing) {
        let (first, crash) = backing.world().await;
        let started = Instant::now();
        let (obj, id) = start_waiting(&first, "nap").await;
        crash.crashed.store(true, Ordering::SeqCst);
        // Down for longer than the sleep: the new process finds it due, not starting over.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let second = resumed(&backing).await;
        let resumed_at = Instant::now();
        let inv = finished(&second, &id).await;
        assert_eq!(inv.status, InvocationStatus::Succeeded, "{:?}", inv.error);
        assert!(
            resumed_at.elapsed() < Duration::from_millis(1200),
            "the sleep started over: {:?} after resuming",
            resumed_at.elapsed()
        );
        assert!(started.elapsed() >= Duration::from_millis(1500));
        let obj = second.calls.objects.object(&obj, None).await.unwrap();
        assert_eq!(obj.state["v"], 2);
        assert_eq!(sent(&second), vec!["bump"]);
    }

    /// Two replicas on one database: the one running the macro takes a signal another one
    /// received (it polls the store; nothing is passed in memory).
    async fn a_signal_received_by_another_replica_wakes_the_owner(backing: Backing) {
        let (owner, _) = backing.world().await;
        let (other, _) = backing.world().await;
        let (_, id) = start_waiting(&owner, "approval").await;
        other.invocations.signal(&id, "go", json!(5)).await.unwrap();
        let inv = finished(&owner, &id).await;
        assert_eq!(inv.status, InvocationStatus::Succeeded, "{:?}", inv.error);
        assert_eq!(inv.result.unwrap()["state"]["v"], 6);
        assert!(sent(&other).is_empty(), "{:?}", sent(&other));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_a_signal_received_by_another_replica_wakes_the_owner() {
        if let Some(b) = postgres().await {
            a_signal_received_by_another_replica_wakes_the_owner(b).await;
        }
    }

    /// A timeout that strikes first fails the wait with a timeout error, caught by `try`.
    async fn a_timeout_is_caught(backing: Backing) {
        let (w, _) = backing.world().await;
        let obj = new_object(&w, 0).await;
        let req = request(Target::Object(obj), "impatient", json!({}));
        let started = Instant::now();
        let Outcome::Done(r) = w.invocations.invoke(req, false, None).await.unwrap() else {
            panic!("not done");
        };
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            r.result,
            "timed out: function_timeout: no signal `go` came within 300ms"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_a_timeout_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        a_timeout_is_caught(Backing::Sqlite(dir)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_a_timeout_is_caught() {
        if let Some(b) = postgres().await {
            a_timeout_is_caught(b).await;
        }
    }

    async fn postgres() -> Option<Backing> {
        ScratchDatabase::create()
            .await
            .unwrap()
            .map(Backing::Postgres)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_a_signal_resumes_a_wait_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        a_signal_resumes_a_wait_after_a_crash(Backing::Sqlite(dir)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_a_sleep_keeps_its_due_time_across_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        a_sleep_keeps_its_due_time_across_a_crash(Backing::Sqlite(dir)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_a_signal_resumes_a_wait_after_a_crash() {
        if let Some(b) = postgres().await {
            a_signal_resumes_a_wait_after_a_crash(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_a_sleep_keeps_its_due_time_across_a_crash() {
        if let Some(b) = postgres().await {
            a_sleep_keeps_its_due_time_across_a_crash(b).await;
        }
    }
}
