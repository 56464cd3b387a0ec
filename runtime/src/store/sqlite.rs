//! The embedded store: SQLite in WAL mode. All writes go through one writer thread that
//! groups the commits waiting at that moment into one transaction (one disk sync for many
//! requests); reads use a small pool of their own connections.

use super::*;
use rusqlite::{params, Connection, OptionalExtension, Statement};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

mod waits;

/// Most commits grouped into one transaction.
const MAX_GROUP: usize = 512;
/// Read connections.
const READERS: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS packages (
  version     TEXT PRIMARY KEY,
  names       TEXT NOT NULL,
  artifact    TEXT NOT NULL,
  deployed_at INTEGER NOT NULL,
  workdir     TEXT
);
CREATE TABLE IF NOT EXISTS objects (
  id              TEXT NOT NULL,
  version         INTEGER NOT NULL,
  class           TEXT NOT NULL,
  package_version TEXT NOT NULL,
  state           TEXT NOT NULL,
  refs            TEXT NOT NULL,
  files           TEXT NOT NULL,
  deleted         INTEGER NOT NULL,
  task_id         TEXT,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS object_classes (
  class TEXT NOT NULL,
  id    TEXT NOT NULL,
  PRIMARY KEY (class, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
  task_id      TEXT PRIMARY KEY,
  result       TEXT,
  committed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invocations (
  id         TEXT PRIMARY KEY,
  request    TEXT NOT NULL,
  status     TEXT NOT NULL,
  result     TEXT,
  error      TEXT,
  output_id  TEXT,
  nodes      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  owner       TEXT,
  lease_until INTEGER
);
CREATE INDEX IF NOT EXISTS invocations_pending ON invocations (status);
CREATE TABLE IF NOT EXISTS tokens (
  id         TEXT PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  role       TEXT NOT NULL,
  packages   TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
  key           TEXT PRIMARY KEY,
  invocation_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memos (
  key     TEXT PRIMARY KEY,
  task_id TEXT NOT NULL
) WITHOUT ROWID;
";

/// Brings a database made by an earlier version up to the current schema.
fn migrate(conn: &Connection) -> StoreResult<()> {
    let has_workdir: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('packages') WHERE name = 'workdir'")
        .and_then(|mut s| s.exists([]))
        .map_err(err)?;
    if !has_workdir {
        conn.execute_batch("ALTER TABLE packages ADD COLUMN workdir TEXT")
            .map_err(err)?;
    }
    // Stores before leases had no owner on an invocation: its pending ones are free to claim.
    let has_owner: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('invocations') WHERE name = 'owner'")
        .and_then(|mut s| s.exists([]))
        .map_err(err)?;
    if !has_owner {
        conn.execute_batch(
            "ALTER TABLE invocations ADD COLUMN owner TEXT;
             ALTER TABLE invocations ADD COLUMN lease_until INTEGER;",
        )
        .map_err(err)?;
    }
    // Stores before `object_classes` kept a `heads` row per object, rewritten by every new
    // version (a random page more per commit); the newest version is now read from `objects`.
    let has_heads: bool = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'heads'")
        .and_then(|mut s| s.exists([]))
        .map_err(err)?;
    if has_heads {
        conn.execute_batch(
            "BEGIN;
             INSERT OR IGNORE INTO object_classes (class, id) SELECT class, id FROM heads;
             DROP TABLE heads;
             COMMIT;",
        )
        .map_err(err)?;
    }
    Ok(())
}

enum WriteOp {
    Commit(PreparedCommit, oneshot::Sender<StoreResult<CommitOutcome>>),
    Package(PackageRecord, oneshot::Sender<StoreResult<()>>),
}

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<WriteOp>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: PathBuf,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    // FULL: a commit is on disk before it is acknowledged.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err)?;
    Ok(conn)
}

/// A connection for reads. The log mode is a property of the file, set once by the writer;
/// setting it again from every reader would take a lock each time for nothing.
fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let conn = open(path)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.execute_batch(waits::SCHEMA).map_err(err)?;
        migrate(&conn)?;
        // One process uses the file (the data folder's lock): whoever held a lease in it
        // is gone, so its invocations are free to claim now rather than at expiry.
        conn.execute(
            "UPDATE invocations SET owner = NULL, lease_until = NULL WHERE status = 'pending' AND owner IS NOT NULL",
            [],
        )
        .map_err(err)?;
        let mut readers = Vec::new();
        for _ in 0..READERS {
            readers.push(open_reader(path)?);
        }
        let (tx, rx) = mpsc::channel::<WriteOp>();
        std::thread::Builder::new()
            .name("oaas-store-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(err)?;
        Ok(SqliteStore {
            writer: Mutex::new(tx),
            readers: Arc::new(Mutex::new(readers)),
            path: path.to_path_buf(),
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, op: WriteOp) -> StoreResult<()> {
        let tx = self
            .writer
            .lock()
            .map_err(|_| StoreError::Database("writer lock poisoned".into()))?;
        tx.send(op).map_err(|_| StoreError::Closed)
    }

    /// Runs a read on a pooled connection in the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, SqlError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.lock().ok().and_then(|mut pool| pool.pop());
            let conn = match conn {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let mut attempt = 0;
            let out = loop {
                match f(&conn) {
                    Err(e) if e.busy && attempt < BUSY_RETRIES => {
                        attempt += 1;
                        std::thread::sleep(std::time::Duration::from_millis(
                            (5 * u64::from(attempt)).min(100),
                        ));
                    }
                    other => break other.map_err(StoreError::from),
                }
            };
            if let Ok(mut pool) = readers.lock() {
                if pool.len() < READERS {
                    pool.push(conn);
                }
            }
            out
        })
        .await
        .map_err(err)?
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteOp>) {
    let mut writer = match Writer::new(&conn) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e.message, "the store's writer cannot prepare its statements");
            while let Ok(op) = rx.recv() {
                fail(op, StoreError::Database(e.message.clone()));
            }
            return;
        }
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        writer.write_batch(batch);
    }
}

/// The writer thread's connection with the statements of every commit prepared once:
/// rusqlite's statement cache hashes a statement's whole text at each use and moves it in
/// and out of its LRU list (about 6% of a call's instructions at concurrency 1). Rare
/// statements still go through that cache.
struct Writer<'c> {
    conn: &'c Connection,
    begin: Statement<'c>,
    commit: Statement<'c>,
    savepoint: Statement<'c>,
    release: Statement<'c>,
    rollback_to: Statement<'c>,
    insert_task: Statement<'c>,
    insert_version: Statement<'c>,
    upsert_invocation: Statement<'c>,
}

/// A failed statement: its message, and whether SQLite found the database busy, a passing
/// state (another connection recovering the log after a crash, or checkpointing it) in
/// which a read is tried again and a write group is rolled back and tried again.
struct SqlError {
    message: String,
    busy: bool,
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> SqlError {
        let busy = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        SqlError {
            message: e.to_string(),
            busy,
        }
    }
}

impl From<SqlError> for StoreError {
    fn from(e: SqlError) -> StoreError {
        StoreError::Database(e.message)
    }
}

/// How many times a busy group is tried again, with a growing pause (5 ms, 10 ms, ... 100 ms).
const BUSY_RETRIES: u32 = 40;

/// What one operation of a group came to.
enum Outcome {
    Commit(StoreResult<CommitOutcome>),
    Package(StoreResult<()>),
}

impl<'c> Writer<'c> {
    fn new(conn: &'c Connection) -> Result<Writer<'c>, SqlError> {
        Ok(Writer {
            conn,
            // IMMEDIATE: the write lock is taken at the start, so a group never reads a
            // snapshot it then cannot upgrade (SQLite answers that with `busy` at once).
            begin: conn.prepare("BEGIN IMMEDIATE")?,
            commit: conn.prepare("COMMIT")?,
            savepoint: conn.prepare("SAVEPOINT oaas_commit")?,
            release: conn.prepare("RELEASE oaas_commit")?,
            rollback_to: conn.prepare("ROLLBACK TO oaas_commit")?,
            insert_task: conn.prepare(
                "INSERT OR IGNORE INTO tasks (task_id, result, committed_at) VALUES (?1, ?2, ?3)",
            )?,
            insert_version: conn.prepare(INSERT_VERSION)?,
            upsert_invocation: conn.prepare(UPSERT_INVOCATION)?,
        })
    }

    /// Writes a group of operations in one transaction, each in a savepoint of its own so
    /// one conflict does not undo the others; a group that finds the database busy is tried
    /// again rather than failed.
    fn write_batch(&mut self, batch: Vec<WriteOp>) {
        let mut attempt = 0;
        let outcome = loop {
            match self.try_batch(&batch) {
                Err(e) if e.busy && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e.message, "the store is busy; writing the group again");
                    std::thread::sleep(std::time::Duration::from_millis(
                        (5 * u64::from(attempt)).min(100),
                    ));
                }
                other => break other,
            }
        };
        answer(batch, outcome);
    }

    /// One attempt at a group: the outcome of each operation, or the error that undid them
    /// all (the group is then rolled back here).
    fn try_batch(&mut self, batch: &[WriteOp]) -> Result<Vec<Outcome>, SqlError> {
        self.begin.execute([])?;
        let written = self
            .apply_batch(batch)
            .and_then(|outcomes| Ok(self.commit.execute([]).map(|_| outcomes)?));
        if written.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        written
    }

    /// The operations of a group inside its transaction.
    fn apply_batch(&mut self, batch: &[WriteOp]) -> Result<Vec<Outcome>, SqlError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for op in batch {
            let outcome = match op {
                WriteOp::Commit(commit, _) => self.in_savepoint(commit).map(Outcome::Commit),
                WriteOp::Package(p, _) => put_package(self.conn, p).map(Outcome::Package),
            };
            match outcome {
                Err(e) if e.busy => return Err(e),
                Err(e) => outcomes.push(op.failed(e.into())),
                Ok(o) => outcomes.push(o),
            }
        }
        Ok(outcomes)
    }

    /// Runs one commit of a group in a savepoint of its own, kept only if it committed (a
    /// conflict or error undoes just that commit).
    fn in_savepoint(
        &mut self,
        commit: &PreparedCommit,
    ) -> Result<StoreResult<CommitOutcome>, SqlError> {
        self.savepoint.execute([])?;
        let outcome = self.apply_commit(commit);
        if !matches!(outcome, Ok(CommitOutcome::Committed)) {
            self.rollback_to.execute([])?;
        }
        self.release.execute([])?;
        match outcome {
            Err(e) if e.busy => Err(e),
            r => Ok(r.map_err(StoreError::from)),
        }
    }
}

/// Sends each operation of a group what it came to.
fn answer(batch: Vec<WriteOp>, outcome: Result<Vec<Outcome>, SqlError>) {
    match outcome {
        Ok(outcomes) => {
            for (op, outcome) in batch.into_iter().zip(outcomes) {
                match (op, outcome) {
                    (WriteOp::Commit(_, reply), Outcome::Commit(r)) => {
                        let _ = reply.send(r);
                    }
                    (WriteOp::Package(_, reply), Outcome::Package(r)) => {
                        let _ = reply.send(r);
                    }
                    (op, _) => fail(
                        op,
                        StoreError::Database("the store mixed up a group".into()),
                    ),
                }
            }
        }
        Err(e) => {
            for op in batch {
                fail(op, StoreError::Database(e.message.clone()));
            }
        }
    }
}

/// Writes a package record (a deploy), keeping a work folder it had.
fn put_package(conn: &Connection, p: &PackageRecord) -> Result<StoreResult<()>, SqlError> {
    let r = conn
        .execute(
            "INSERT INTO packages (version, names, artifact, deployed_at, workdir) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(version) DO UPDATE SET workdir = COALESCE(excluded.workdir, packages.workdir)",
            params![p.version, serde_json::to_string(&p.names).unwrap_or_default(), p.artifact, p.deployed_at, p.workdir],
        )
        .map(|_| ())
        .map_err(SqlError::from);
    match r {
        Err(e) if e.busy => Err(e),
        r => Ok(r.map_err(StoreError::from)),
    }
}

impl WriteOp {
    /// What an operation that failed on its own came to.
    fn failed(&self, e: StoreError) -> Outcome {
        match self {
            WriteOp::Commit(..) => Outcome::Commit(Err(e)),
            WriteOp::Package(..) => Outcome::Package(Err(e)),
        }
    }
}

fn fail(op: WriteOp, e: StoreError) {
    match op {
        WriteOp::Commit(_, r) => {
            let _ = r.send(Err(e));
        }
        WriteOp::Package(_, r) => {
            let _ = r.send(Err(e));
        }
    }
}

/// JSON text of a value (`serde_json::to_string` writes straight into a buffer; `Display`
/// goes through the formatter and is markedly slower for large states).
fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A version as rows bind it: its JSON already written out.
struct PreparedVersion {
    id: String,
    version: i64,
    class: String,
    package_version: String,
    state: String,
    refs: String,
    files: String,
    deleted: bool,
    task_id: Option<String>,
    created_at: i64,
}

/// An invocation as its row binds it.
struct PreparedInvocation {
    id: String,
    request: String,
    status: &'static str,
    result: Option<String>,
    error: Option<String>,
    output_id: Option<String>,
    nodes: String,
    created_at: i64,
    updated_at: i64,
}

/// A [`Commit`] serialized by the task that commits it, so the single writer thread only
/// binds text: JSON encoding runs in parallel on the callers' threads, not in the serial stage.
struct PreparedCommit {
    task_id: Option<String>,
    task_result: Option<String>,
    versions: Vec<PreparedVersion>,
    invocations: Vec<PreparedInvocation>,
    idempotency: Option<(String, String)>,
    /// The owner and lease length (ms) of new invocation records.
    lease: Option<(String, i64)>,
    memo: Option<String>,
}

impl PreparedCommit {
    fn new(c: &Commit) -> PreparedCommit {
        PreparedCommit {
            task_id: c.task_id.as_ref().map(|t| t.to_string()),
            task_result: c.task_result.as_ref().map(json_text),
            versions: c
                .versions
                .iter()
                .map(|v| PreparedVersion {
                    id: v.id.to_string(),
                    version: v.version as i64,
                    class: v.class.clone(),
                    package_version: v.package_version.clone(),
                    state: v.state_json().get().to_owned(),
                    refs: json_text(&v.refs),
                    files: json_text(&v.files),
                    deleted: v.deleted,
                    task_id: v.task_id.as_ref().map(|t| t.to_string()),
                    created_at: v.created_at,
                })
                .collect(),
            invocations: c
                .invocations
                .iter()
                .map(|inv| PreparedInvocation {
                    id: inv.id.to_string(),
                    request: json_text(&inv.request),
                    status: inv.status.as_str(),
                    result: inv.result.as_ref().map(json_text),
                    error: inv.error.as_ref().map(json_text),
                    output_id: inv.output_id.as_ref().map(|o| o.to_string()),
                    nodes: json_text(&inv.nodes),
                    created_at: inv.created_at,
                    updated_at: inv.updated_at,
                })
                .collect(),
            idempotency: c
                .idempotency
                .as_ref()
                .map(|(k, i)| (k.clone(), i.to_string())),
            lease: c.lease.as_ref().map(|l| (l.owner.clone(), l.millis())),
            memo: c.memo.as_ref().map(|k| k.to_string()),
        }
    }
}

/// Writes an invocation record: a new one with the commit's lease; a stored one keeps its
/// owner while pending and loses it once finished, and a finished one stays finished.
const UPSERT_INVOCATION: &str = "INSERT INTO invocations (id, request, status, result, error, output_id, nodes, created_at, updated_at, owner, lease_until)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
     ON CONFLICT(id) DO UPDATE SET status = excluded.status, result = excluded.result, error = excluded.error,
       output_id = excluded.output_id, nodes = excluded.nodes, updated_at = excluded.updated_at,
       owner = CASE WHEN excluded.status = 'pending' THEN invocations.owner END,
       lease_until = CASE WHEN excluded.status = 'pending' THEN invocations.lease_until END
     WHERE NOT (excluded.status = 'pending' AND invocations.status != 'pending')";

/// Inserts a version; none is written when the object has that version already.
const INSERT_VERSION: &str = "INSERT OR IGNORE INTO objects (id, version, class, package_version, state, refs, files, deleted, task_id, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

impl Writer<'_> {
    /// Writes one commit (in its savepoint): its task's row, memo key, versions,
    /// idempotency key and invocation records.
    fn apply_commit(&mut self, c: &PreparedCommit) -> Result<CommitOutcome, SqlError> {
        // The task's row first: a task id already there means the task committed before,
        // and its first result is the answer (the savepoint undoes nothing, as nothing was
        // written). One statement in the usual case, instead of a look-up and an insert.
        if let Some(task) = &c.task_id {
            let inserted = self
                .insert_task
                .execute(params![task, c.task_result, now_ms()])?;
            if inserted == 0 {
                let result: Option<String> = self
                    .conn
                    .prepare_cached("SELECT result FROM tasks WHERE task_id = ?1")?
                    .query_row(params![task], |r| r.get(0))?;
                return Ok(CommitOutcome::AlreadyCommitted(
                    result.and_then(|s| serde_json::from_str(&s).ok()),
                ));
            }
        }
        if let (Some(key), Some(task)) = (&c.memo, &c.task_id) {
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO memos (key, task_id) VALUES (?1, ?2)")?
                .execute(params![key, task])?;
        }
        for v in &c.versions {
            if let Some(conflict) = self.insert_version(v)? {
                return Ok(conflict);
            }
        }
        if let Some((key, inv)) = &c.idempotency {
            if let Some(owner) = claim_key(self.conn, key, inv)? {
                return Ok(CommitOutcome::KeyTaken(owner));
            }
        }
        let owner = c.lease.as_ref().map(|(o, _)| o.as_str());
        let lease_until = c.lease.as_ref().map(|(_, ms)| now_ms().saturating_add(*ms));
        for inv in &c.invocations {
            self.upsert_invocation.execute(params![
                inv.id,
                inv.request,
                inv.status,
                inv.result,
                inv.error,
                inv.output_id,
                inv.nodes,
                inv.created_at,
                inv.updated_at,
                owner,
                lease_until
            ])?;
            if inv.status != InvocationStatus::Pending.as_str() {
                forget_finished(self.conn, &inv.id)?;
            }
        }
        Ok(CommitOutcome::Committed)
    }

    /// Inserts a version: a conflict when the object has that version already.
    fn insert_version(&mut self, v: &PreparedVersion) -> Result<Option<CommitOutcome>, SqlError> {
        let inserted = self.insert_version.execute(params![
            v.id,
            v.version,
            v.class,
            v.package_version,
            v.state,
            v.refs,
            v.files,
            v.deleted as i64,
            v.task_id,
            v.created_at
        ])?;
        if inserted == 0 {
            return Ok(Some(CommitOutcome::Conflict(format!(
                "object {} already has version {}",
                v.id, v.version
            ))));
        }
        if v.version == 1 {
            // Every object is created at version 1; later versions keep its class.
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO object_classes (class, id) VALUES (?1, ?2)")?
                .execute(params![v.class, v.id])?;
        }
        Ok(None)
    }
}

/// Claims an idempotency key for an invocation: the key's row is the claim, one insert
/// decides which invocation owns it. The other owner, when another has it.
fn claim_key(conn: &Connection, key: &str, inv: &str) -> Result<Option<InvocationId>, SqlError> {
    let claimed = conn
        .prepare_cached("INSERT OR IGNORE INTO idempotency (key, invocation_id) VALUES (?1, ?2)")?
        .execute(params![key, inv])?;
    if claimed == 0 {
        let owner: String = conn
            .prepare_cached("SELECT invocation_id FROM idempotency WHERE key = ?1")?
            .query_row(params![key], |r| r.get(0))?;
        if owner != inv {
            return Ok(Some(InvocationId::from(owner)));
        }
    }
    Ok(None)
}

/// Deletes the signals and waits of an invocation that has finished, in the transaction
/// that records its end: nothing reads them any more (a finished invocation takes no
/// signal and runs no node), and they would otherwise be kept for ever.
fn forget_finished(conn: &Connection, invocation: &str) -> Result<(), SqlError> {
    conn.prepare_cached("DELETE FROM signals WHERE invocation_id = ?1")?
        .execute(params![invocation])?;
    conn.prepare_cached("DELETE FROM waits WHERE invocation_id = ?1")?
        .execute(params![invocation])?;
    Ok(())
}

fn row_to_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectVersion> {
    let state: String = r.get(4)?;
    let refs: String = r.get(5)?;
    let files: String = r.get(6)?;
    Ok(ObjectVersion {
        id: ObjectId::from(r.get::<_, String>(0)?),
        version: r.get::<_, i64>(1)? as u64,
        class: r.get(2)?,
        package_version: r.get(3)?,
        state: serde_json::from_str(&state).unwrap_or(Value::Null),
        refs: serde_json::from_str(&refs).unwrap_or_default(),
        files: serde_json::from_str(&files).unwrap_or_default(),
        deleted: r.get::<_, i64>(7)? != 0,
        task_id: r.get::<_, Option<String>>(8)?.map(TaskId::from),
        created_at: r.get(9)?,
        state_text: Default::default(),
    })
}

const VERSION_COLUMNS: &str = "o.id, o.version, o.class, o.package_version, o.state, o.refs, o.files, o.deleted, o.task_id, o.created_at";

/// A JSON column as a typed record; a record that does not decode is an error of the row,
/// not a default value that would run something else.
fn json_column<T: serde::de::DeserializeOwned>(text: &str, column: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn optional_json<T: serde::de::DeserializeOwned>(
    text: Option<String>,
    column: usize,
) -> rusqlite::Result<Option<T>> {
    text.map(|s| json_column(&s, column)).transpose()
}

fn row_to_invocation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invocation> {
    let status: String = r.get(2)?;
    Ok(Invocation {
        id: InvocationId::from(r.get::<_, String>(0)?),
        request: json_column(&r.get::<_, String>(1)?, 1)?,
        status: InvocationStatus::parse(&status),
        result: optional_json(r.get(3)?, 3)?,
        error: optional_json(r.get(4)?, 4)?,
        output_id: r.get::<_, Option<String>>(5)?.map(ObjectId::from),
        nodes: json_column(&r.get::<_, String>(6)?, 6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn put_package(&self, package: PackageRecord) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.send(WriteOp::Package(package, tx))?;
        rx.await.map_err(err)?
    }

    async fn packages(&self) -> StoreResult<Vec<PackageRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT version, names, artifact, deployed_at, workdir FROM packages ORDER BY deployed_at, version")?;
            let rows = stmt
                .query_map([], |r| {
                    let names: String = r.get(1)?;
                    Ok(PackageRecord { version: r.get(0)?, names: serde_json::from_str(&names).unwrap_or_default(), artifact: r.get(2)?, deployed_at: r.get(3)?, workdir: r.get(4)? })
                })
                ?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn object(
        &self,
        id: &ObjectId,
        version: Option<u64>,
    ) -> StoreResult<Option<ObjectVersion>> {
        let id = id.to_string();
        self.read(move |c| {
            let q = match version {
                Some(_) => format!("SELECT {VERSION_COLUMNS} FROM objects o WHERE o.id = ?1 AND o.version = ?2"),
                None => format!("SELECT {VERSION_COLUMNS} FROM objects o WHERE o.id = ?1 ORDER BY o.version DESC LIMIT 1"),
            };
            let mut stmt = c.prepare_cached(&q)?;
            match version {
                Some(v) => stmt.query_row(params![id, v as i64], row_to_version),
                None => stmt.query_row(params![id], row_to_version),
            }
            .optional()
            .map_err(SqlError::from)
        })
        .await
    }

    async fn history(&self, id: &ObjectId) -> StoreResult<Vec<ObjectVersion>> {
        let id = id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM objects o WHERE o.id = ?1 ORDER BY o.version"
            ))?;
            let rows = stmt.query_map(params![id], row_to_version)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn list(
        &self,
        class: &str,
        filters: &[FieldFilter],
        after: Option<&ObjectId>,
        limit: usize,
    ) -> StoreResult<Vec<ObjectVersion>> {
        let class = class.to_string();
        let filters = filters.to_vec();
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.read(move |c| {
            let mut sql = format!(
                "SELECT {VERSION_COLUMNS} FROM object_classes h
                 JOIN objects o ON o.id = h.id
                   AND o.version = (SELECT MAX(n.version) FROM objects n WHERE n.id = h.id)
                 WHERE h.class = ?1 AND o.deleted = 0 AND h.id > ?2"
            );
            let mut values: Vec<Box<dyn rusqlite::ToSql>> =
                vec![Box::new(class.clone()), Box::new(after.clone())];
            for f in &filters {
                let path = format!("$.\"{}\"", f.field.replace('"', ""));
                values.push(Box::new(path));
                values.push(Box::new(f.value.to_string()));
                sql.push_str(&format!(
                    " AND json_extract(o.state, ?{}) IS json_extract(?{}, '$')",
                    values.len() - 1,
                    values.len()
                ));
            }
            values.push(Box::new(limit as i64));
            sql.push_str(&format!(" ORDER BY h.id LIMIT ?{}", values.len()));
            let mut stmt = c.prepare(&sql)?;
            let refs: Vec<&dyn rusqlite::ToSql> = values.iter().map(|b| b.as_ref()).collect();
            let rows = stmt.query_map(refs.as_slice(), row_to_version)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        let (tx, rx) = oneshot::channel();
        let prepared = PreparedCommit::new(&commit);
        // The versions stay shared with the runtime's cache; only text goes to the writer.
        drop(commit);
        self.send(WriteOp::Commit(prepared, tx))?;
        rx.await.map_err(err)?
    }

    async fn task_result(&self, task_id: &TaskId) -> StoreResult<Option<Option<Value>>> {
        let task_id = task_id.to_string();
        self.read(move |c| {
            let r: Option<Option<String>> = c
                .query_row(
                    "SELECT result FROM tasks WHERE task_id = ?1",
                    params![task_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(r.map(|o| o.and_then(|s| serde_json::from_str(&s).ok())))
        })
        .await
    }

    async fn memo(&self, key: &MemoKey) -> StoreResult<Option<(TaskId, Option<Value>)>> {
        let key = key.to_string();
        self.read(move |c| {
            let r: Option<(String, Option<String>)> = c
                .query_row(
                    "SELECT m.task_id, t.result FROM memos m JOIN tasks t ON t.task_id = m.task_id WHERE m.key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(r.map(|(task, result)| {
                (TaskId::from(task), result.and_then(|s| serde_json::from_str(&s).ok()))
            }))
        })
        .await
    }

    async fn invocation(&self, id: &InvocationId) -> StoreResult<Option<Invocation>> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT id, request, status, result, error, output_id, nodes, created_at, updated_at FROM invocations WHERE id = ?1")?.query_row(
                params![id],
                row_to_invocation,
            )
            .optional()
            .map_err(SqlError::from)
        })
        .await
    }

    async fn recent_invocations(&self, query: &InvocationQuery) -> StoreResult<Vec<Invocation>> {
        let status = query.status.map(InvocationStatus::as_str);
        let object = query.object.as_ref().map(|o| o.to_string());
        let before = query.before.as_ref().map(|b| b.to_string());
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, request, status, result, error, output_id, nodes, created_at, updated_at FROM invocations
                 WHERE (?1 IS NULL OR status = ?1)
                   AND (?2 IS NULL OR json_extract(request, '$.target.object') = ?2)
                   AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![status, object, before, limit], row_to_invocation)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn pending_invocations(&self) -> StoreResult<Vec<Invocation>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, request, status, result, error, output_id, nodes, created_at, updated_at FROM invocations WHERE status = 'pending' ORDER BY created_at")
                ?;
            let rows = stmt.query_map([], row_to_invocation)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn renew_leases(&self, lease: &Lease) -> StoreResult<Vec<InvocationId>> {
        let (owner, ms) = (lease.owner.clone(), lease.millis());
        self.write_one(move |c| {
            let mut stmt = c.prepare(
                "UPDATE invocations SET lease_until = ?2 WHERE owner = ?1 AND status = 'pending' RETURNING id",
            )?;
            let rows = stmt.query_map(params![owner, now_ms().saturating_add(ms)], |r| {
                r.get::<_, String>(0).map(InvocationId::from)
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn claim_expired(&self, lease: &Lease, limit: usize) -> StoreResult<Vec<Invocation>> {
        let (owner, ms) = (lease.owner.clone(), lease.millis());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement: SQLite runs it under the database's write lock, whole.
        let mut claimed = self
            .write_one(move |c| {
                let now = now_ms();
                let mut stmt = c.prepare(
                    "UPDATE invocations SET owner = ?1, lease_until = ?2 WHERE id IN (
                       SELECT id FROM invocations WHERE status = 'pending'
                         AND (lease_until IS NULL OR lease_until < ?3)
                       ORDER BY created_at LIMIT ?4)
                     RETURNING id, request, status, result, error, output_id, nodes, created_at, updated_at",
                )?;
                let rows = stmt.query_map(
                    params![owner, now.saturating_add(ms), now, limit],
                    row_to_invocation,
                )?;
                rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
            })
            .await?;
        claimed.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(claimed)
    }

    async fn put_token(&self, t: TokenRecord) -> StoreResult<()> {
        let packages = t.packages.as_ref().map(json_text);
        self.write_one(move |c| {
            c.execute(
                "INSERT INTO tokens (id, hash, role, packages, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.id, t.hash, t.role.as_str(), packages, t.created_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, hash, role, packages, created_at FROM tokens ORDER BY id")?;
            let rows = stmt.query_map([], row_to_token)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(SqlError::from)
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write_one(move |c| Ok(c.execute("DELETE FROM tokens WHERE id = ?1", params![id])? > 0))
            .await
    }

    async fn put_signal(
        &self,
        invocation: &InvocationId,
        name: &str,
        value: &Value,
        max_waiting: usize,
    ) -> StoreResult<SignalOutcome> {
        self.put_signal_impl(invocation, name, value, max_waiting)
            .await
    }

    async fn wait(&self, request: &WaitRequest) -> StoreResult<WaitState> {
        self.wait_impl(request).await
    }

    async fn idempotent(&self, key: &str) -> StoreResult<Option<InvocationId>> {
        let key = key.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT invocation_id FROM idempotency WHERE key = ?1")?
                .query_row(params![key], |r| {
                    r.get::<_, String>(0).map(InvocationId::from)
                })
                .optional()
                .map_err(SqlError::from)
        })
        .await
    }
}

impl SqliteStore {
    /// Runs one statement on the writer's side, in order with the commits (tokens change
    /// rarely, so they need no group of their own).
    async fn write_one<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, SqlError> + Send + 'static,
    {
        // A connection of its own: SQLite serializes it with the writer's transactions, and
        // its busy timeout waits them out.
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = open_reader(&path)?;
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(err)?
    }
}

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(2)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        hash: r.get(1)?,
        role: json_column(&format!("\"{role}\""), 2)?,
        packages: optional_json(r.get(3)?, 3)?,
        created_at: r.get(4)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn version(id: &str, class: &str, version: u64, deleted: bool) -> Arc<ObjectVersion> {
        let state = serde_json::json!({ "n": version });
        Arc::new(ObjectVersion {
            deleted,
            ..ObjectVersion::new(id, class, "p", version, state)
        })
    }

    async fn write(store: &SqliteStore, v: Arc<ObjectVersion>) -> CommitOutcome {
        store
            .commit(Commit {
                versions: vec![v],
                ..Default::default()
            })
            .await
            .expect("commit")
    }

    #[tokio::test]
    async fn newest_versions_and_listing_without_a_heads_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        for (id, v) in [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("c", 1)] {
            assert_eq!(
                write(&store, version(id, "k.C", v, false)).await,
                CommitOutcome::Committed
            );
        }
        write(&store, version("c", "k.C", 2, true)).await;
        // A version number taken twice is a conflict, not a second row.
        assert!(matches!(
            write(&store, version("a", "k.C", 3, false)).await,
            CommitOutcome::Conflict(_)
        ));
        let a = store.object(&"a".into(), None).await.unwrap().unwrap();
        assert_eq!(
            (a.version, a.state.clone()),
            (3, serde_json::json!({"n": 3}))
        );
        let listed = store.list("k.C", &[], None, 10).await.unwrap();
        let seen: Vec<(String, u64)> = listed
            .iter()
            .map(|o| (o.id.to_string(), o.version))
            .collect();
        // The deleted `c` is left out; each object appears once, at its newest version.
        assert_eq!(seen, vec![("a".to_string(), 3), ("b".to_string(), 1)]);
        let page = store.list("k.C", &[], Some(&"a".into()), 10).await.unwrap();
        assert_eq!(page.len(), 1);
        assert!(store
            .list("k.Other", &[], None, 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_task_commits_once_and_a_conflict_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let commit = |task: &str, result: &str, v: Arc<ObjectVersion>| Commit {
            task_id: Some(task.into()),
            task_result: Some(serde_json::json!(result)),
            versions: vec![v],
            ..Default::default()
        };
        let first = store.commit(commit("t1", "first", version("a", "k.C", 1, false)));
        assert_eq!(first.await.unwrap(), CommitOutcome::Committed);
        // The same task again: its first result, and its second version is not written.
        let again = store.commit(commit("t1", "second", version("a", "k.C", 2, false)));
        assert_eq!(
            again.await.unwrap(),
            CommitOutcome::AlreadyCommitted(Some(serde_json::json!("first")))
        );
        assert_eq!(
            store
                .object(&"a".into(), None)
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
        // A conflicting version undoes the whole commit, its task row included...
        let clash = store.commit(commit("t2", "clash", version("a", "k.C", 1, false)));
        assert!(matches!(clash.await.unwrap(), CommitOutcome::Conflict(_)));
        assert_eq!(store.task_result(&"t2".into()).await.unwrap(), None);
        // ...so the task can commit once it writes the next version.
        let retry = store.commit(commit("t2", "retried", version("a", "k.C", 2, false)));
        assert_eq!(retry.await.unwrap(), CommitOutcome::Committed);
        assert_eq!(
            store.task_result(&"t2".into()).await.unwrap(),
            Some(Some(serde_json::json!("retried")))
        );
    }

    #[test]
    fn busy_errors_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let _store = SqliteStore::open(&path).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let e = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        assert!(SqlError::from(e).busy);
        let e = other
            .execute_batch("SELECT * FROM no_such_table")
            .unwrap_err();
        assert!(!SqlError::from(e).busy);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_waits_out_another_connection_holding_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            holder.execute_batch("COMMIT").unwrap();
        });
        let started = std::time::Instant::now();
        assert_eq!(
            write(&store, version("a", "k.C", 1, false)).await,
            CommitOutcome::Committed
        );
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        release.join().unwrap();
        assert_eq!(
            store
                .object(&"a".into(), None)
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
    }

    #[tokio::test]
    async fn a_store_with_a_heads_table_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            // The schema as it was before `object_classes`.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE objects (id TEXT NOT NULL, version INTEGER NOT NULL, class TEXT NOT NULL,
                   package_version TEXT NOT NULL, state TEXT NOT NULL, refs TEXT NOT NULL, files TEXT NOT NULL,
                   deleted INTEGER NOT NULL, task_id TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (id, version));
                 CREATE TABLE heads (id TEXT PRIMARY KEY, version INTEGER NOT NULL, class TEXT NOT NULL, deleted INTEGER NOT NULL);
                 CREATE INDEX heads_by_class ON heads (class, id);
                 INSERT INTO objects VALUES ('x', 1, 'k.C', 'p', '{\"n\":1}', '{}', '{}', 0, NULL, 0);
                 INSERT INTO objects VALUES ('x', 2, 'k.C', 'p', '{\"n\":2}', '{}', '{}', 0, NULL, 0);
                 INSERT INTO heads VALUES ('x', 2, 'k.C', 0);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let listed = store.list("k.C", &[], None, 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].id.as_str(), listed[0].version), ("x", 2));
        assert_eq!(listed[0].state, serde_json::json!({"n": 2}));
        let conn = Connection::open(&path).unwrap();
        let heads: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'heads'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(heads, 0);
    }

    #[tokio::test]
    async fn a_file_from_before_leases_gains_them_and_its_pending_invocations_are_claimable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE invocations (id TEXT PRIMARY KEY, request TEXT NOT NULL,
                   status TEXT NOT NULL, result TEXT, error TEXT, output_id TEXT,
                   nodes TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                 INSERT INTO invocations VALUES ('old', '{\"target\":{\"class\":\"k.C\"},\"function\":\"f\",\"args\":{}}',
                   'pending', NULL, NULL, NULL, '{}', 1, 1);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let lease = Lease {
            owner: "me".into(),
            duration: std::time::Duration::from_secs(60),
        };
        let claimed = store.claim_expired(&lease, 10).await.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["old"]);
        assert_eq!(
            store.renew_leases(&lease).await.unwrap(),
            vec!["old".into()]
        );
        drop(store);
        // Reopened (a restart: its owner is gone), the lease is free again.
        let store = SqliteStore::open(&path).unwrap();
        let other = Lease {
            owner: "next".into(),
            ..lease
        };
        assert_eq!(store.claim_expired(&other, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_finished_invocation_keeps_no_signals_nor_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).unwrap();
        let request = crate::store::InvocationRequest {
            target: crate::ids::Target::Object("o".into()),
            function: "approve".into(),
            args: serde_json::json!({}),
            fresh: false,
        };
        let mut inv = Invocation::pending("i1".into(), request, None);
        let other = Invocation {
            id: "i2".into(),
            ..inv.clone()
        };
        let commit = |invocations| Commit {
            invocations,
            ..Default::default()
        };
        store
            .commit(commit(vec![inv.clone(), other]))
            .await
            .unwrap();
        for id in ["i1", "i2"] {
            let id = InvocationId::from(id);
            let v = serde_json::json!(1);
            store.put_signal(&id, "go", &v, 8).await.unwrap();
            store.put_signal(&id, "later", &v, 8).await.unwrap();
            let wait = WaitRequest {
                task: format!("{id}.n1").as_str().into(),
                invocation: id.clone(),
                signal: Some("go".into()),
                ms: 60_000,
            };
            store.wait(&wait).await.unwrap();
        }
        let rows = |table: &str, id: &str| -> i64 {
            let conn = Connection::open(&path).unwrap();
            conn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE invocation_id = ?1"),
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!((rows("signals", "i1"), rows("waits", "i1")), (2, 1));
        inv.status = InvocationStatus::Succeeded;
        store.commit(commit(vec![inv])).await.unwrap();
        assert_eq!((rows("signals", "i1"), rows("waits", "i1")), (0, 0));
        // Another invocation's, still pending, stay.
        assert_eq!((rows("signals", "i2"), rows("waits", "i2")), (2, 1));
    }
}
