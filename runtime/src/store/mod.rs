//! Storage behind one trait: packages, objects with immutable versions, committed task
//! results, invocations and idempotency keys. The embedded store is SQLite ([`sqlite`]);
//! the schema is plain SQL so a PostgreSQL store can implement the same trait.

pub mod sqlite;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One immutable version of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// Object id.
    pub id: String,
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
    pub task_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
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

/// A request to run something, with its progress and outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Id (UUIDv7).
    pub id: String,
    /// What was asked, as JSON (target, function, args, package version).
    pub request: Value,
    /// Status.
    pub status: InvocationStatus,
    /// The result (for success).
    pub result: Option<Value>,
    /// The error (for failure): `{code, message, ...}`.
    pub error: Option<Value>,
    /// The output object to come, if the function makes one.
    pub output_id: Option<String>,
    /// Per-node status for macros: node key -> `{status, output, error}`.
    pub nodes: BTreeMap<String, Value>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// Everything one task commits, atomically: new object versions, its result, and the
/// invocation's progress.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// Task id: a second commit with the same id is ignored.
    pub task_id: Option<String>,
    /// The task's result as returned to callers.
    pub task_result: Option<Value>,
    /// Versions to write. A version that already exists is a conflict for mut writes.
    /// Shared, so the runtime's cache of newest versions holds the same values uncopied.
    pub versions: Vec<std::sync::Arc<ObjectVersion>>,
    /// Invocation updates to write in the same transaction.
    pub invocations: Vec<Invocation>,
    /// Idempotency key to bind to an invocation id.
    pub idempotency: Option<(String, String)>,
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
}

/// A filter on one state field for listing objects.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldFilter {
    /// The state field.
    pub field: String,
    /// The value it must equal.
    pub value: Value,
}

/// Errors of the store itself (disk, corruption): the caller answers 500.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store error: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage the runtime needs. Implementations must make [`Store::commit`] atomic and
/// durable before it returns.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Saves a package version (idempotent: same version, same content).
    async fn put_package(&self, package: PackageRecord) -> StoreResult<()>;
    /// Every deployed package version, oldest first.
    async fn packages(&self) -> StoreResult<Vec<PackageRecord>>;
    /// The newest version of an object, or a given one.
    async fn object(&self, id: &str, version: Option<u64>) -> StoreResult<Option<ObjectVersion>>;
    /// Every version of an object, oldest first.
    async fn history(&self, id: &str) -> StoreResult<Vec<ObjectVersion>>;
    /// Newest versions of a class's live objects, filtered, ordered by id, paged.
    async fn list(
        &self,
        class: &str,
        filters: &[FieldFilter],
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<ObjectVersion>>;
    /// Writes a commit atomically and durably.
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome>;
    /// A committed task's result.
    async fn task_result(&self, task_id: &str) -> StoreResult<Option<Option<Value>>>;
    /// An invocation.
    async fn invocation(&self, id: &str) -> StoreResult<Option<Invocation>>;
    /// Invocations still pending (to resume after a restart).
    async fn pending_invocations(&self) -> StoreResult<Vec<Invocation>>;
    /// The invocation bound to an idempotency key.
    async fn idempotent(&self, key: &str) -> StoreResult<Option<String>>;
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
