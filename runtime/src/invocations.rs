//! Invocations: the life of a request to run something. A call is run at once (synchronous,
//! no key), or recorded first (asynchronous, or with an `Idempotency-Key`) and then run; a
//! macro's record carries its nodes' progress; every record ends with its outcome; and after
//! a restart every invocation still pending is run again ([`Invocations::resume`]), reusing the
//! tasks it had committed. Each recorded invocation is driven by the replica holding its
//! lease ([`leases`]); another takes it over when that lease expires.

mod leases;
mod signals;
pub use leases::DEFAULT_LEASE;
pub use signals::MAX_SIGNAL_BYTES;

use crate::access::Caller;
use crate::calls::{CallContext, Calls, RecordWritten, Resolved};
use crate::error::{Error, Result};
use crate::executor::Progress;
use crate::ids::{InvocationId, ObjectId, TaskId};
use crate::store::{
    now_ms, Commit, CommitOutcome, Invocation, InvocationRequest, InvocationStatus, Lease, Store,
};
use futures_util::FutureExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How often a running macro's progress is written to its record, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Who came first to a lazy invocation record: its write (something awaited it) or the
/// macro's end (which then skips it). Whichever claims it first decides, so a record is
/// either written and then finished with the outcome, or never written at all.
#[derive(Clone, Default)]
struct RecordClaim(Arc<std::sync::atomic::AtomicU8>);

impl RecordClaim {
    const OPEN: u8 = 0;
    const WRITTEN: u8 = 1;
    const SKIPPED: u8 = 2;

    /// Claims the record for its write: false when the macro ended without it.
    fn start(&self) -> bool {
        self.claim(Self::WRITTEN) != Self::SKIPPED
    }

    /// Claims the record for no write: false when its write had started.
    fn skip(&self) -> bool {
        self.claim(Self::SKIPPED) != Self::WRITTEN
    }

    /// Sets `to` if nobody claimed the record yet; the claim that holds.
    fn claim(&self, to: u8) -> u8 {
        use std::sync::atomic::Ordering::{AcqRel, Acquire};
        match self.0.compare_exchange(Self::OPEN, to, AcqRel, Acquire) {
            Ok(_) => to,
            Err(held) => held,
        }
    }
}

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
    /// This replica's lease on the invocations it records or claims.
    lease: Lease,
    /// The recorded invocations this replica runs.
    driving: leases::Driving,
    /// Those the last renewal found held by this replica but not running here.
    undriven: std::sync::Mutex<std::collections::HashSet<InvocationId>>,
}

impl Invocations {
    /// Invocations of `calls`, recorded in `store`, each held by this replica (a new random
    /// id) for `lease` at a time.
    pub fn new(calls: Arc<Calls>, store: Arc<dyn Store>, lease: Duration) -> Invocations {
        let lease = Lease {
            owner: uuid::Uuid::new_v4().to_string(),
            duration: lease,
        };
        Invocations {
            calls,
            store,
            lease,
            driving: leases::Driving::default(),
            undriven: Default::default(),
        }
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
            .ok_or_else(|| {
                Error::not_found(format!(
                    "there is no invocation `{id}` (a plain synchronous call of a function, or a quick one of a macro that changes nothing, is not recorded; call with ?async=true or an Idempotency-Key to keep its record)"
                ))
            })
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
        let resolved = self
            .calls
            .resolve_for(&request.target, &request.function)
            .await?;
        if !is_async && key.is_none() {
            let id = InvocationId::new();
            return self
                .execute(id, request, &resolved, true, None)
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
        let claim = key.clone().map(|k| (k, id.clone()));
        if let CommitOutcome::KeyTaken(first) = self.record(record, claim).await? {
            // Another request with the same key claimed it first: this one is a repeat.
            let key = key.unwrap_or_default();
            return self.replay(&key, &first, &request, is_async).await;
        }
        let this = self.clone();
        let run = tokio::spawn({
            let id = id.clone();
            async move { this.execute(id, request, &resolved, false, None).await }
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
    /// recorded invocation (`fresh` is false) ends with its outcome written, unless another
    /// replica took it over meanwhile (then it stops, and the other finishes it). `drive`
    /// is this replica's hold on it, when the caller took it already.
    async fn execute(
        self: &Arc<Self>,
        id: InvocationId,
        request: InvocationRequest,
        resolved: &Resolved,
        fresh: bool,
        drive: Option<leases::Drive>,
    ) -> Result<CallResult> {
        let is_macro = resolved.macro_named(&request.function).is_some();
        let drive = match drive {
            None if is_macro || !fresh => self.driving.start(&id),
            given => given,
        };
        let progress = is_macro.then(|| Arc::new(Progress::default()));
        // A synchronous macro's record is written while its first step runs, and every
        // commit that changes an object waits for it: a macro that changed anything is found
        // and finished after a crash. (Recorded invocations have theirs already.) One whose
        // nodes change nothing writes it only when something waits for it: its progress
        // after [`PROGRESS_EVERY`], or a commit that changes an object after all; a macro
        // that ends sooner is not recorded (see [`RecordClaim`]).
        let (started, record, claim) = match (is_macro, fresh) {
            (true, true) => {
                let start = Invocation::pending(id.clone(), request.clone(), None);
                let eager = !resolved.macro_named(&request.function).is_some_and(|m| {
                    crate::executor::changes_nothing(&resolved.artifact, &m.graph)
                });
                let (written, claim) = self.write_record(start.clone(), eager);
                // Only a lazy record may go unwritten; an eager one is always finished.
                (Some(start), Some(written), (!eager).then_some(claim))
            }
            _ => (None, None, None),
        };
        let writer = progress
            .as_ref()
            .map(|p| self.spawn_progress_writer(id.clone(), p.clone(), record.clone()));
        let ctx = CallContext {
            caller: Caller::External,
            invocation: id.clone(),
            task: id.root_task(),
            fresh,
            progress: progress.clone(),
            record,
            memo: (!request.fresh).then(Default::default),
        };
        let run = self
            .calls
            .run(resolved, &request.function, request.args, ctx);
        let ran = match &drive {
            Some(d) => d.until_lost(run).await,
            None => Some(run.await),
        };
        if let Some(w) = writer {
            w.abort();
        }
        let Some(outcome) = ran else {
            return Err(leases::lost(&id));
        };
        let outcome = outcome.map(|result| CallResult {
            invocation_id: id.clone(),
            task_id: id.root_task(),
            result,
        });
        // A synchronous macro that changed nothing and ended before anything asked for its
        // record leaves none, as a plain synchronous call leaves none: no record is started
        // after this, and the answer is all there is to keep.
        let unrecorded = claim.is_some_and(|c| c.skip());
        if (is_macro || !fresh) && !unrecorded {
            let finished = self
                .finish(&id, &outcome, progress.as_deref(), started)
                .await;
            if let Err(e) = finished {
                tracing::error!(invocation = %id, error = %e, "cannot record the outcome");
            }
        }
        outcome
    }

    /// An invocation record's write, started now when `eager`, else when first awaited; the
    /// returned future ends when it is written (or, once the claim was skipped, at once
    /// without writing).
    fn write_record(&self, inv: Invocation, eager: bool) -> (RecordWritten, RecordClaim) {
        let store = self.store.clone();
        let commit = Commit {
            invocations: vec![inv],
            lease: Some(self.lease.clone()),
            ..Default::default()
        };
        let claim = RecordClaim::default();
        let started = claim.clone();
        let written: RecordWritten = async move {
            if started.start() {
                store.commit(commit).await?;
            }
            Ok(())
        }
        .boxed()
        .shared();
        if eager {
            tokio::spawn(written.clone());
        }
        (written, claim)
    }

    /// Writes an invocation record durably, claiming its idempotency key in the same
    /// transaction: a key another invocation holds writes nothing ([`CommitOutcome::KeyTaken`]).
    /// A new pending record is this replica's, under its lease.
    async fn record(
        &self,
        inv: Invocation,
        idempotency: Option<(String, InvocationId)>,
    ) -> Result<CommitOutcome> {
        let lease = (inv.status == InvocationStatus::Pending).then(|| self.lease.clone());
        let commit = Commit {
            invocations: vec![inv],
            idempotency,
            lease,
            ..Default::default()
        };
        Ok(self.store.commit(commit).await?)
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
        self.record(inv, None).await.map(|_| ())
    }

    /// Stores a macro's per-node progress in its invocation while it runs; a record not
    /// written yet (`record`) is written at the first tick.
    fn spawn_progress_writer(
        &self,
        id: InvocationId,
        progress: Arc<Progress>,
        record: Option<RecordWritten>,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                if let Some(r) = &record {
                    if r.peek().is_none() && r.clone().await.is_err() {
                        continue;
                    }
                }
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
        self.execute(id, request, &resolved, false, None).await
    }

    /// Claims the pending invocations no live replica holds (their lease expired, or on
    /// SQLite every one left by the process before) and runs them; how many it started.
    /// Task ids are deterministic, so work already committed is not done twice.
    pub async fn resume(self: &Arc<Self>) -> Result<usize> {
        let mut started = 0;
        loop {
            let claimed = self
                .store
                .claim_expired(&self.lease, leases::CLAIM_BATCH)
                .await?;
            let full = claimed.len() == leases::CLAIM_BATCH;
            for inv in claimed {
                // One this replica still runs (its lease lapsed while the store was out of
                // reach) goes on where it is.
                let Some(drive) = self.driving.start(&inv.id) else {
                    continue;
                };
                started += 1;
                self.spawn_resumed(inv, drive);
            }
            if !full {
                return Ok(started);
            }
        }
    }

    /// Runs a claimed invocation in the background.
    fn spawn_resumed(self: &Arc<Self>, inv: Invocation, drive: leases::Drive) {
        let this = self.clone();
        tokio::spawn(async move {
            let resolved = match this.calls.resolve(&inv.request.target).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = this.finish(&inv.id, &Err(e), None, None).await;
                    return;
                }
            };
            let _ = this
                .execute(inv.id, inv.request, &resolved, false, Some(drive))
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::error::ErrorKind;
    use crate::ids::Target;
    use crate::testing::{new_object, request, world};

    #[tokio::test]
    async fn one_key_runs_once_however_many_requests_race_for_it() {
        let w = world().await;
        let id = new_object(&w, 0).await;
        *w.invoker.delay.lock().unwrap() = Duration::from_millis(50);
        let mut racing = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let inv = w.invocations.clone();
            let req = request(Target::Object(id.clone()), "bump", json!({}));
            racing.spawn(async move { inv.invoke(req, false, Some("k1".into())).await });
        }
        let mut answered = Vec::new();
        while let Some(r) = racing.join_next().await {
            answered.push(r.unwrap());
        }
        let sent = w.invoker.sent.lock().unwrap().len();
        assert_eq!(sent, 1, "the function ran {sent} times");
        let obj = w.calls.objects.object(&id, None).await.unwrap();
        assert_eq!(obj.state["v"], 1);
        // Every answer is the one invocation's: its result, or 409 while it ran.
        let mut ids = std::collections::HashSet::new();
        for a in answered {
            match a {
                Ok(Outcome::Done(r)) => {
                    ids.insert(r.invocation_id);
                }
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
                    ids.insert(InvocationId::from(
                        e.details["invocation_id"].as_str().unwrap(),
                    ));
                }
                Ok(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(ids.len(), 1, "{ids:?}");
        // Asked again afterwards: the first result, and still one run.
        let again = w
            .invocations
            .invoke(
                request(Target::Object(id), "bump", json!({})),
                false,
                Some("k1".into()),
            )
            .await
            .unwrap();
        assert!(matches!(again, Outcome::Done(r) if r.result["state"]["v"] == 1));
        assert_eq!(w.invoker.sent.lock().unwrap().len(), 1);
    }

    /// A store that loses power: after `crash`, every commit fails unwritten; invocation
    /// records (commits with no task) reach it only after `record_delay`, as a busy disk
    /// would, so a record not awaited is lost in the crash.
    pub(super) struct Crashable {
        pub(super) inner: Arc<dyn Store>,
        pub(super) crashed: std::sync::atomic::AtomicBool,
        pub(super) record_delay: Duration,
        /// Every invocation record written so far, with its status, in order.
        pub(super) records: std::sync::Mutex<Vec<(InvocationId, InvocationStatus)>>,
        /// The tasks whose commits were handed to it, in order.
        pub(super) tasks: std::sync::Mutex<Vec<TaskId>>,
    }

    impl Crashable {
        fn check(&self) -> crate::store::StoreResult<()> {
            if self.crashed.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(crate::store::StoreError::Closed);
            }
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl Store for Crashable {
        async fn put_package(
            &self,
            p: crate::store::PackageRecord,
        ) -> crate::store::StoreResult<()> {
            self.inner.put_package(p).await
        }
        async fn packages(&self) -> crate::store::StoreResult<Vec<crate::store::PackageRecord>> {
            self.inner.packages().await
        }
        async fn object(
            &self,
            id: &ObjectId,
            v: Option<u64>,
        ) -> crate::store::StoreResult<Option<crate::store::ObjectVersion>> {
            self.inner.object(id, v).await
        }
        async fn history(
            &self,
            id: &ObjectId,
        ) -> crate::store::StoreResult<Vec<crate::store::ObjectVersion>> {
            self.inner.history(id).await
        }
        async fn list(
            &self,
            c: &str,
            f: &[crate::store::FieldFilter],
            a: Option<&ObjectId>,
            l: usize,
        ) -> crate::store::StoreResult<Vec<crate::store::ObjectVersion>> {
            self.inner.list(c, f, a, l).await
        }
        async fn commit(&self, commit: Commit) -> crate::store::StoreResult<CommitOutcome> {
            if commit.task_id.is_none() && !commit.invocations.is_empty() {
                tokio::time::sleep(self.record_delay).await;
            }
            let written = commit.invocations.iter().map(|i| (i.id.clone(), i.status));
            self.records.lock().unwrap().extend(written);
            self.tasks.lock().unwrap().extend(commit.task_id.clone());
            self.check()?;
            self.inner.commit(commit).await
        }
        async fn task_result(
            &self,
            t: &TaskId,
        ) -> crate::store::StoreResult<Option<Option<Value>>> {
            self.inner.task_result(t).await
        }
        async fn memo(
            &self,
            key: &crate::ids::MemoKey,
        ) -> crate::store::StoreResult<Option<(TaskId, Option<Value>)>> {
            self.inner.memo(key).await
        }
        async fn recent_invocations(
            &self,
            q: &crate::store::InvocationQuery,
        ) -> crate::store::StoreResult<Vec<Invocation>> {
            self.inner.recent_invocations(q).await
        }
        async fn invocation(
            &self,
            id: &InvocationId,
        ) -> crate::store::StoreResult<Option<Invocation>> {
            self.inner.invocation(id).await
        }
        async fn pending_invocations(&self) -> crate::store::StoreResult<Vec<Invocation>> {
            self.inner.pending_invocations().await
        }
        async fn renew_leases(
            &self,
            l: &crate::store::Lease,
        ) -> crate::store::StoreResult<Vec<InvocationId>> {
            self.check()?;
            self.inner.renew_leases(l).await
        }
        async fn claim_expired(
            &self,
            l: &crate::store::Lease,
            n: usize,
        ) -> crate::store::StoreResult<Vec<Invocation>> {
            self.inner.claim_expired(l, n).await
        }
        async fn idempotent(&self, key: &str) -> crate::store::StoreResult<Option<InvocationId>> {
            self.inner.idempotent(key).await
        }
        fn shared(&self) -> bool {
            self.inner.shared()
        }
        async fn put_signal(
            &self,
            i: &InvocationId,
            n: &str,
            v: &Value,
            m: usize,
        ) -> crate::store::StoreResult<crate::store::SignalOutcome> {
            self.check()?;
            self.inner.put_signal(i, n, v, m).await
        }
        async fn wait(
            &self,
            r: &crate::store::WaitRequest,
        ) -> crate::store::StoreResult<crate::store::WaitState> {
            self.check()?;
            self.inner.wait(r).await
        }
        async fn put_token(&self, t: crate::store::TokenRecord) -> crate::store::StoreResult<()> {
            self.inner.put_token(t).await
        }
        async fn tokens(&self) -> crate::store::StoreResult<Vec<crate::store::TokenRecord>> {
            self.inner.tokens().await
        }
        async fn revoke_token(&self, id: &str) -> crate::store::StoreResult<bool> {
            self.inner.revoke_token(id).await
        }
    }

    #[tokio::test]
    async fn a_synchronous_macro_that_committed_a_step_resumes_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let crashable = Arc::new(std::sync::OnceLock::new());
        let slot = crashable.clone();
        let w = crate::testing::world_in(dir, &path, move |inner| {
            let c = Arc::new(Crashable {
                inner,
                crashed: false.into(),
                record_delay: Duration::from_millis(300),
                records: Default::default(),
                tasks: Default::default(),
            });
            let _ = slot.set(c.clone());
            c as Arc<dyn Store>
        })
        .await;
        let id = new_object(&w, 0).await;
        *w.invoker.delay.lock().unwrap() = Duration::from_millis(40);
        let run = {
            let inv = w.invocations.clone();
            let req = request(Target::Object(id.clone()), "bump3", json!({}));
            tokio::spawn(async move { inv.invoke(req, false, None).await })
        };
        // Two of the three steps are committed: then the power goes.
        let started = std::time::Instant::now();
        while w
            .calls
            .objects
            .store()
            .object(&id, None)
            .await
            .unwrap()
            .unwrap()
            .version
            < 3
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the steps did not commit"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        crashable
            .get()
            .unwrap()
            .crashed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        run.abort();
        // A new runtime on the same database resumes the macro: the third step runs, once.
        let again = crate::testing::world_in(tempfile::tempdir().unwrap(), &path, |s| s).await;
        assert_eq!(
            again.invocations.resume().await.unwrap(),
            1,
            "the macro was not recorded"
        );
        let started = std::time::Instant::now();
        loop {
            let obj = again.calls.objects.object(&id, None).await.unwrap();
            if obj.version == 4 {
                assert_eq!(obj.state["v"], 3);
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "stuck at version {}",
                obj.version
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sent: Vec<String> = again
            .invoker
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|(f, _)| f.clone())
            .collect();
        assert_eq!(sent, vec!["bump"], "only the third step ran again");
    }

    #[tokio::test]
    async fn a_builtin_in_a_synchronous_macro_commits_after_the_macros_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let w = crate::testing::world_in(dir, &path, |inner| {
            Arc::new(Crashable {
                inner,
                crashed: false.into(),
                record_delay: Duration::from_millis(300),
                records: Default::default(),
                tasks: Default::default(),
            }) as Arc<dyn Store>
        })
        .await;
        let id = new_object(&w, 0).await;
        let run = {
            let inv = w.invocations.clone();
            let req = request(Target::Object(id.clone()), "renew", json!({}));
            tokio::spawn(async move { inv.invoke(req, false, None).await })
        };
        let store = w.calls.objects.store().clone();
        let started = std::time::Instant::now();
        while store.object(&id, None).await.unwrap().unwrap().version < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the update did not commit"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The change is on disk: so is the record that lets a restarted runtime finish it.
        assert_eq!(store.pending_invocations().await.unwrap().len(), 1);
        let done = run.await.unwrap().unwrap();
        assert!(matches!(done, Outcome::Done(r) if r.result["state"]["v"] == 5));
    }

    /// A world whose store counts the commits that write invocation records.
    async fn counting() -> (crate::testing::World, Arc<Crashable>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let slot = Arc::new(std::sync::OnceLock::new());
        let set = slot.clone();
        let w = crate::testing::world_in(dir, &path, move |inner| {
            let c = Arc::new(Crashable {
                inner,
                crashed: false.into(),
                record_delay: Duration::ZERO,
                records: Default::default(),
                tasks: Default::default(),
            });
            let _ = set.set(c.clone());
            c as Arc<dyn Store>
        })
        .await;
        let store = slot.get().unwrap().clone();
        (w, store)
    }

    /// The statuses of the records `store` wrote for invocation `id`, in order.
    fn written(store: &Crashable, id: &InvocationId) -> Vec<InvocationStatus> {
        let records = store.records.lock().unwrap();
        records
            .iter()
            .filter(|(i, _)| i == id)
            .map(|(_, s)| *s)
            .collect()
    }

    #[tokio::test]
    async fn a_synchronous_macro_that_changes_nothing_and_ends_at_once_leaves_no_record() {
        let (w, store) = counting().await;
        let id = new_object(&w, 0).await;
        let started = std::time::Instant::now();
        let req = request(Target::Object(id.clone()), "peek2", json!({}));
        let Outcome::Done(done) = w.invocations.invoke(req, false, None).await.unwrap() else {
            panic!("not run at once");
        };
        let took = started.elapsed();
        assert_eq!(done.result, 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let statuses = written(&store, &done.invocation_id);
        if took < PROGRESS_EVERY {
            // Done before its progress was due: no record, as for a plain synchronous call,
            // and no step's result (nothing could have resumed the macro from it).
            assert_eq!(statuses, vec![]);
            let err = w.invocations.get(&done.invocation_id).await.unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::NotFound, "{err:?}");
            assert!(err.message.contains("is not recorded"), "{}", err.message);
            let tasks = store.tasks.lock().unwrap().clone();
            let inv = done.invocation_id.as_str();
            assert!(
                !tasks.iter().any(|t| t.as_str().starts_with(inv)),
                "step results written: {tasks:?}"
            );
        } else {
            // A machine slow enough to reach the first progress write records it whole.
            assert_eq!(statuses.last(), Some(&InvocationStatus::Succeeded));
        }
        // A macro that changes its object has its pending record written first.
        let req = request(Target::Object(id), "bump3", json!({}));
        let Outcome::Done(done) = w.invocations.invoke(req, false, None).await.unwrap() else {
            panic!("not run at once");
        };
        let statuses = written(&store, &done.invocation_id);
        assert_eq!(statuses.first(), Some(&InvocationStatus::Pending));
        assert_eq!(statuses.last(), Some(&InvocationStatus::Succeeded));
    }

    #[tokio::test]
    async fn a_slow_synchronous_macro_that_changes_nothing_is_recorded_while_it_runs() {
        let (w, _store) = counting().await;
        let id = new_object(&w, 0).await;
        *w.invoker.delay.lock().unwrap() = Duration::from_millis(400);
        let run = {
            let inv = w.invocations.clone();
            let req = request(Target::Object(id), "peek2", json!({}));
            tokio::spawn(async move { inv.invoke(req, false, None).await })
        };
        let store = w.calls.objects.store().clone();
        let started = std::time::Instant::now();
        let pending = loop {
            if let Some(inv) = store.pending_invocations().await.unwrap().pop() {
                break inv;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no record while the macro ran"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(pending.request.function, "peek2");
        let Outcome::Done(done) = run.await.unwrap().unwrap() else {
            panic!("not run at once");
        };
        assert_eq!(done.invocation_id, pending.id);
        let inv = w.invocations.get(&pending.id).await.unwrap();
        assert_eq!(inv.status, InvocationStatus::Succeeded);
        assert_eq!(inv.result, Some(json!(2)));
        assert!(!inv.nodes.is_empty(), "the nodes' progress is kept");
    }

    #[test]
    fn a_lazy_record_is_either_written_or_skipped_whoever_comes_first() {
        let claim = RecordClaim::default();
        assert!(claim.skip(), "nobody asked: the macro's end skips it");
        assert!(!claim.start(), "a write asked for later writes nothing");
        assert!(claim.skip());
        let claim = RecordClaim::default();
        assert!(claim.start(), "asked for first: it is written");
        assert!(!claim.skip(), "so the macro's end must finish it");
    }
}
