//! Storage behind one trait: packages, objects with immutable versions, committed task
//! results, invocations and idempotency keys. The embedded store is SQLite ([`sqlite`]);
//! [`postgres`] keeps the same records on a PostgreSQL server.

pub mod postgres;
pub mod sqlite;

use crate::error::Error;
use crate::ids::{InvocationId, MemoKey, ObjectId, Target, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// One immutable version of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// Object id.
    pub id: ObjectId,
    /// Qualified class (`video.Video`).
    pub class: String,
    /// The package version (artifact hash) the object was created under.
    pub package_version: String,
    /// Version number, from 1.
    pub version: u64,
    /// Structured state.
    pub state: Value,
    /// Refs: name -> id or list of ids.
    pub refs: BTreeMap<String, Value>,
    /// Files: name -> blob key of this version.
    pub files: BTreeMap<String, String>,
    /// Whether the object is deleted (as of this version).
    pub deleted: bool,
    /// The task that wrote this version (`None` for builtins without one).
    pub task_id: Option<TaskId>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The state's JSON text, written when first asked for ([`ObjectVersion::state_json`]).
    #[serde(skip)]
    pub state_text: StateText,
}

impl ObjectVersion {
    /// Version `version` of object `id` of `class` under `package_version`, with `state`,
    /// made now, by no task, with no refs nor files: set the other fields with struct update
    /// syntax (`ObjectVersion { deleted: true, ..ObjectVersion::new(…) }`).
    pub fn new(
        id: impl Into<ObjectId>,
        class: &str,
        package_version: &str,
        version: u64,
        state: Value,
    ) -> ObjectVersion {
        ObjectVersion {
            id: id.into(),
            class: class.to_string(),
            package_version: package_version.to_string(),
            version,
            state,
            refs: BTreeMap::new(),
            files: BTreeMap::new(),
            deleted: false,
            task_id: None,
            created_at: now_ms(),
            state_text: StateText::default(),
        }
    }

    /// The state as JSON text, written out once per version and then reused: the store's row
    /// and the task documents sent with this version take the same text. A version is
    /// immutable; its `state` must not change once this is read.
    pub fn state_json(&self) -> &RawValue {
        self.state_text.0.get_or_init(|| {
            serde_json::value::to_raw_value(&self.state)
                .unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
    }
}

/// The JSON text of a version's state, made once ([`ObjectVersion::state_json`]). A clone
/// starts empty (a clone may be given another state), and it takes no part in equality.
#[derive(Default)]
pub struct StateText(std::sync::OnceLock<Box<RawValue>>);

impl Clone for StateText {
    fn clone(&self) -> StateText {
        StateText::default()
    }
}

impl PartialEq for StateText {
    fn eq(&self, _: &StateText) -> bool {
        true
    }
}

impl std::fmt::Debug for StateText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateText")
    }
}

/// A deployed package version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageRecord {
    /// Artifact hash.
    pub version: String,
    /// Package names it holds (`video`, ...).
    pub names: Vec<String>,
    /// The artifact JSON.
    pub artifact: String,
    /// Unix milliseconds.
    pub deployed_at: i64,
    /// Folder the package's `@local` commands run in, if the deploy named one.
    pub workdir: Option<String>,
}

/// Status of an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvocationStatus {
    /// Accepted, not finished.
    Pending,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl InvocationStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationStatus::Pending => "pending",
            InvocationStatus::Succeeded => "succeeded",
            InvocationStatus::Failed => "failed",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> InvocationStatus {
        match s {
            "succeeded" => InvocationStatus::Succeeded,
            "failed" => InvocationStatus::Failed,
            _ => InvocationStatus::Pending,
        }
    }
}

/// What an invocation asked for, as recorded so it can be run again after a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvocationRequest {
    /// What the call is made on.
    pub target: Target,
    /// The function or macro.
    pub function: String,
    /// The arguments as given (defaults are filled in when it runs).
    pub args: Value,
    /// Fresh calls asked for (`Cache-Control: no-cache`, `oaasc run --fresh`): `@memo`
    /// functions run their containers rather than answer with recorded results.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
}

/// Status of one node of a macro run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Its inputs are not ready yet.
    Pending,
    /// Started.
    Running,
    /// Waiting for a signal or a timer (`signal`, `sleep`): started, and holding no
    /// container.
    Waiting,
    /// Finished with an output.
    Succeeded,
    /// Failed.
    Failed,
    /// Not run, because an input failed.
    Skipped,
}

/// One node's progress in an invocation record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Where it stands.
    pub status: NodeStatus,
    /// The call as written in the source (`self.split(...)`).
    pub label: String,
    /// Its output, once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Whether its output may show what only the platform may read (it calls a member that
    /// is not public): only an admin sees it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// The position of its last change among all the changes of its invocation's nodes:
    /// strictly increasing across one run and above those of an earlier run of the same
    /// invocation (a hybrid clock: the greater of the last one plus one and the time in
    /// microseconds), so a client that saw the changes up to `seq` asks for those after
    /// it (`GET /api/invocations/{id}/events`, `Last-Event-ID`). 0 in records written
    /// before it existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    /// Unix milliseconds when it started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Unix milliseconds when it succeeded, failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// Its call was of an `@memo` function and answered by a result recorded before: no
    /// container ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A request to run something, with its progress and outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Id (UUIDv7).
    pub id: InvocationId,
    /// What was asked.
    pub request: InvocationRequest,
    /// Status.
    pub status: InvocationStatus,
    /// The result (for success).
    pub result: Option<Value>,
    /// The error (for failure).
    pub error: Option<Error>,
    /// The output object to come, if the function makes one.
    pub output_id: Option<ObjectId>,
    /// Per-node status for macros, by node key (`n3.e0`).
    pub nodes: BTreeMap<String, NodeRecord>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

impl Invocation {
    /// A new pending invocation.
    pub fn pending(
        id: InvocationId,
        request: InvocationRequest,
        output_id: Option<ObjectId>,
    ) -> Invocation {
        let now = now_ms();
        Invocation {
            id,
            request,
            status: InvocationStatus::Pending,
            result: None,
            error: None,
            output_id,
            nodes: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Everything one task commits, atomically: new object versions, its result, and the
/// invocation's progress.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// Task id: a second commit with the same id is ignored.
    pub task_id: Option<TaskId>,
    /// The task's result as returned to callers.
    pub task_result: Option<Value>,
    /// Versions to write. A version that already exists is a conflict for mut writes.
    /// Shared, so the runtime's cache of newest versions holds the same values uncopied.
    pub versions: Vec<std::sync::Arc<ObjectVersion>>,
    /// Invocation updates to write in the same transaction.
    pub invocations: Vec<Invocation>,
    /// Idempotency key to bind to an invocation id. The binding is a claim: when the key is
    /// bound to another invocation already, nothing of the commit is written
    /// ([`CommitOutcome::KeyTaken`]).
    pub idempotency: Option<(String, InvocationId)>,
    /// Objects whose store lock must be free for the commit to go in: the object of a `mut`
    /// call in an optimistic turn, which holds no such lock. When another process holds
    /// it, the commit writes nothing and is a [`CommitOutcome::Conflict`] (the call is then
    /// made again under the lock, and cannot beat a caller that holds it). A store only
    /// this process writes has no such locks and ignores it.
    pub unlocked: Vec<ObjectId>,
    /// The lease a new invocation record of this commit is written with: the replica that
    /// accepts an invocation owns it from the commit that records it. A record already
    /// stored keeps its owner while pending; a finished one (succeeded or failed) has none.
    pub lease: Option<Lease>,
    /// The key under which the task's result answers later calls of an `@memo` function
    /// ([`Store::memo`]): recorded with the task, so a key names only a committed task. A
    /// key recorded already keeps its first task.
    pub memo: Option<MemoKey>,
}

/// A replica's hold on the pending invocations it runs: other replicas leave them alone
/// until the lease expires unrenewed ([`Store::renew_leases`], [`Store::claim_expired`]).
/// Expiry is reckoned on the store's clock, so the replicas' clocks do not matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The replica (a random id per process start).
    pub owner: String,
    /// How long the lease lasts from each write or renewal.
    pub duration: std::time::Duration,
}

impl Lease {
    /// The duration in whole milliseconds, as stores compute expiry.
    pub fn millis(&self) -> i64 {
        i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX)
    }
}

/// What became of a signal sent to an invocation ([`Store::put_signal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalOutcome {
    /// Kept until a wait of the invocation takes it.
    Stored,
    /// There is no such invocation.
    UnknownInvocation,
    /// The invocation has finished: nothing will take it.
    Finished(InvocationStatus),
    /// The invocation holds this many signals not taken yet already.
    TooMany(usize),
}

/// A wait node's turn at the store ([`Store::wait`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitRequest {
    /// The node's task: one wait row each, made on its first turn.
    pub task: TaskId,
    /// The invocation whose signals it takes.
    pub invocation: InvocationId,
    /// The signal waited for; `None` for a `sleep`.
    pub signal: Option<String>,
    /// The sleep, or the signal's timeout, from the first turn, in milliseconds.
    pub ms: u64,
}

impl WaitRequest {
    /// What the wait comes to once due with no signal taken, and the state to record: a
    /// signal wait times out, a sleep is over.
    pub fn when_due(&self) -> (&'static str, WaitState) {
        match self.signal {
            Some(_) => ("timed_out", WaitState::TimedOut),
            None => ("done", WaitState::Done(Value::Null)),
        }
    }
}

/// Where a wait stands.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitState {
    /// Over: the signal's value (taken once, by this wait), or null for a sleep.
    Done(Value),
    /// A signal wait that reached its timeout with no signal.
    TimedOut,
    /// Still waiting.
    Waiting {
        /// Milliseconds until the sleep ends or the timeout strikes, on the store's clock.
        due_in_ms: u64,
    },
}

/// The outcome of a commit.
#[derive(Clone, Debug, PartialEq)]
pub enum CommitOutcome {
    /// Written.
    Committed,
    /// The task id was already committed: here is its first result.
    AlreadyCommitted(Option<Value>),
    /// A version number was already taken (someone else wrote it first).
    Conflict(String),
    /// The idempotency key was already bound to this other invocation: nothing was written.
    KeyTaken(InvocationId),
}

/// A minted API token, as stored: its hash, never the token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Its id.
    pub id: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// What it may do.
    pub role: crate::role::Role,
    /// The packages it may deploy, when limited.
    pub packages: Option<Vec<String>>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A filter on one state field for listing objects.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldFilter {
    /// The state field.
    pub field: String,
    /// The value it must equal.
    pub value: Value,
}

/// Which invocations to list ([`Store::recent_invocations`]), newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationQuery {
    /// Only those with this status.
    pub status: Option<InvocationStatus>,
    /// Only calls made on this object.
    pub object: Option<ObjectId>,
    /// Only those older than this one (the page after it). Invocation ids are UUIDv7, so
    /// their order is the order they were made in.
    pub before: Option<InvocationId>,
    /// At most this many.
    pub limit: usize,
}

/// Errors of the store itself (disk, corruption, a database out of reach): callers answer
/// that the runtime failed, never that the request was wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The database failed or refused the operation.
    Database(String),
    /// A stored record does not decode.
    Corrupt(String),
    /// The store has shut down.
    Closed,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Database(e) => write!(f, "store error: {e}"),
            StoreError::Corrupt(e) => {
                write!(f, "store error: a stored record does not decode: {e}")
            }
            StoreError::Closed => write!(f, "store error: the store has shut down"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for Error {
    /// A database that fails or is gone is a passing state of the service (503: try again);
    /// a record that does not decode is the runtime's fault (500).
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Database(_) | StoreError::Closed => {
                Error::new(crate::error::ErrorKind::Unavailable, e.to_string())
            }
            StoreError::Corrupt(_) => Error::internal(e.to_string()),
        }
    }
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// What another process may have changed in a shared store ([`Store::changes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A package version was deployed.
    Packages,
    /// A token was minted or revoked.
    Tokens,
    /// A signal was sent to an invocation: waits look in the store for theirs.
    Signals,
    /// Another process committed new versions of these objects: what this one knows of
    /// them is old.
    Objects(Vec<ObjectId>),
    /// Anything may have changed (notices may have been missed): read it all again.
    All,
}

/// A lock on one object held in a shared store ([`Store::lock_object`]): other processes
/// wait for it until this value is dropped, which lets it go.
pub type ObjectLock = Box<dyn Send + Sync>;

/// The storage the runtime needs. Implementations must make [`Store::commit`] atomic and
/// durable before it returns.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the store answers now (`/healthz`); an embedded store always does.
    async fn health(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Saves a package version (idempotent: same version, same content).
    async fn put_package(&self, package: PackageRecord) -> StoreResult<()>;
    /// Every deployed package version, oldest first.
    async fn packages(&self) -> StoreResult<Vec<PackageRecord>>;
    /// The newest version of an object, or a given one.
    async fn object(
        &self,
        id: &ObjectId,
        version: Option<u64>,
    ) -> StoreResult<Option<ObjectVersion>>;
    /// Every version of an object, oldest first.
    async fn history(&self, id: &ObjectId) -> StoreResult<Vec<ObjectVersion>>;
    /// Newest versions of a class's live objects, filtered, ordered by id, paged.
    async fn list(
        &self,
        class: &str,
        filters: &[FieldFilter],
        after: Option<&ObjectId>,
        limit: usize,
    ) -> StoreResult<Vec<ObjectVersion>>;
    /// Writes a commit atomically and durably.
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome>;
    /// A committed task's result.
    async fn task_result(&self, task_id: &TaskId) -> StoreResult<Option<Option<Value>>>;
    /// The task recorded under a memo key ([`Commit::memo`]) and its result.
    async fn memo(&self, key: &MemoKey) -> StoreResult<Option<(TaskId, Option<Value>)>>;
    /// An invocation.
    async fn invocation(&self, id: &InvocationId) -> StoreResult<Option<Invocation>>;
    /// Invocations newest first (by id, descending), filtered and paged by `query`.
    async fn recent_invocations(&self, query: &InvocationQuery) -> StoreResult<Vec<Invocation>>;
    /// Invocations still pending, whoever owns them.
    async fn pending_invocations(&self) -> StoreResult<Vec<Invocation>>;
    /// Extends to now + `lease.duration` the lease of every pending invocation
    /// `lease.owner` holds, in one statement; the ids renewed. One it runs that is missing
    /// was claimed by another replica after its lease expired.
    async fn renew_leases(&self, lease: &Lease) -> StoreResult<Vec<InvocationId>>;
    /// Takes for `lease.owner` at most `limit` pending invocations whose lease has expired
    /// (or that have none), atomically: replicas claiming at once never get the same one.
    async fn claim_expired(&self, lease: &Lease, limit: usize) -> StoreResult<Vec<Invocation>>;
    /// The invocation bound to an idempotency key.
    async fn idempotent(&self, key: &str) -> StoreResult<Option<InvocationId>>;
    /// Stores a minted token.
    async fn put_token(&self, token: TokenRecord) -> StoreResult<()>;
    /// Every token not revoked.
    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    /// Revokes a token; false when there is none by that id.
    async fn revoke_token(&self, id: &str) -> StoreResult<bool>;
    /// Keeps a signal for a pending invocation, in one transaction with the check that it is
    /// pending and holds fewer than `max_waiting` signals not taken yet.
    async fn put_signal(
        &self,
        invocation: &InvocationId,
        name: &str,
        value: &Value,
        max_waiting: usize,
    ) -> StoreResult<SignalOutcome>;
    /// One turn of a wait, in one transaction: its row made on the first turn (with its due
    /// time), the oldest signal of its name not taken yet taken by it, or its timeout
    /// recorded once due. A finished wait answers the same on every later turn (a
    /// re-run after a restart), so a signal is taken once and a timeout stays one.
    async fn wait(&self, request: &WaitRequest) -> StoreResult<WaitState>;

    /// Whether other processes may write this store too (PostgreSQL, with several
    /// replicas). Then nothing read from it may be kept in memory as current, and `mut`
    /// calls lock their object in the store ([`Store::lock_object`]).
    fn shared(&self) -> bool {
        false
    }

    /// Takes the store's lock on one object, waiting while another process holds it; the
    /// lock is held until the value is dropped. `None` from a store only this process uses,
    /// where the caller's own lock is enough.
    async fn lock_object(&self, _id: &ObjectId) -> StoreResult<Option<ObjectLock>> {
        Ok(None)
    }

    /// Notices of the packages and tokens other processes commit to a shared store, soon
    /// after they commit them (and [`Change::All`] first, and again whenever notices may
    /// have been missed); `None` from a store only this process writes.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// A version made at a fixed time, so two made from one state are equal whichever
    /// millisecond each was made in.
    fn version(state: Value) -> ObjectVersion {
        ObjectVersion {
            created_at: 0,
            ..ObjectVersion::new("o1", "p.C", "sha256:x", 1, state)
        }
    }

    #[test]
    fn a_versions_state_text_is_its_state_and_a_clone_writes_its_own() {
        let v = version(json!({"b": "x\"y", "a": [1, 2.5, null]}));
        assert_eq!(v.state_json().get(), r#"{"a":[1,2.5,null],"b":"x\"y"}"#);
        // A clone given another state does not keep the first one's text.
        let mut other = v.clone();
        other.state = json!({"a": 2});
        assert_eq!(other.state_json().get(), r#"{"a":2}"#);
        assert_eq!(v.state_json().get(), r#"{"a":[1,2.5,null],"b":"x\"y"}"#);
        // The text takes no part in equality.
        assert_eq!(v, version(json!({"b": "x\"y", "a": [1, 2.5, null]})));
    }
}
