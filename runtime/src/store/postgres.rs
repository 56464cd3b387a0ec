//! The PostgreSQL store: the same [`Store`] as SQLite's, on a server several processes can
//! reach. Commits are written in groups ([`group`]): the commits waiting when a writer is
//! free share one transaction at READ COMMITTED, each after a savepoint of its own, and
//! their rows all go in through unique keys (`INSERT ... ON CONFLICT DO NOTHING`): of two
//! commits of the same object version, or of the same task or idempotency key, the second
//! waits for the first and then finds the key taken, exactly as SQLite answers. A commit's
//! statements go to the server in one pipeline. Reads, and commits that never reached `COMMIT`, are tried again on a fresh
//! connection when the server ended theirs. The schema comes from numbered migrations
//! applied at open, under an advisory lock so processes starting together do not race.

use super::*;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{NoTls, Row};

mod group;
mod locks;
mod notify;
mod scratch;
mod waits;
pub use scratch::ScratchDatabase;

/// Most connections of one store.
const POOL_SIZE: usize = 16;
/// Most connections holding object locks at once, besides those (so that calls holding
/// locks always find a connection to commit on): the most objects one runtime runs `mut`
/// calls on at a time; calls on more wait for a connection.
const LOCK_POOL_SIZE: usize = 16;
/// How many times a read, or a commit that was not committed, is tried again: on another
/// connection when its own was found gone (one more than the pool holds, so a restarted
/// server costs no call), or after PostgreSQL broke the commit off (a deadlock between two
/// commits that wrote the same keys in opposite orders).
const RETRIES: u32 = POOL_SIZE as u32 + 1;
/// The key of the advisory lock migrations run under (any fixed number; "oaas" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f61_6173;

/// The schema's migrations, in order: number `i + 1` is `MIGRATIONS[i]`. Applied ones are
/// never edited; a change of schema is a new entry at the end.
pub const MIGRATIONS: &[&str] = &[
    // 1: the tables of the SQLite store, with JSON in JSONB and the text that is sorted on
    // compared bytewise (`COLLATE "C"`, as SQLite compares text), so lists come in the same
    // order.
    r#"
CREATE TABLE packages (
  version     TEXT COLLATE "C" PRIMARY KEY,
  names       JSONB NOT NULL,
  artifact    TEXT NOT NULL,
  deployed_at BIGINT NOT NULL,
  workdir     TEXT
);
CREATE TABLE objects (
  id              TEXT COLLATE "C" NOT NULL,
  version         BIGINT NOT NULL,
  class           TEXT NOT NULL,
  package_version TEXT NOT NULL,
  state           JSONB NOT NULL,
  refs            JSONB NOT NULL,
  files           JSONB NOT NULL,
  deleted         BOOLEAN NOT NULL,
  task_id         TEXT,
  created_at      BIGINT NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE TABLE object_classes (
  class TEXT COLLATE "C" NOT NULL,
  id    TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (class, id)
);
CREATE TABLE tasks (
  task_id      TEXT PRIMARY KEY,
  result       JSONB,
  committed_at BIGINT NOT NULL
);
CREATE TABLE invocations (
  id         TEXT COLLATE "C" PRIMARY KEY,
  request    JSONB NOT NULL,
  status     TEXT NOT NULL,
  result     JSONB,
  error      JSONB,
  output_id  TEXT,
  nodes      JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX invocations_pending ON invocations (created_at) WHERE status = 'pending';
CREATE TABLE tokens (
  id         TEXT COLLATE "C" PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  role       TEXT NOT NULL,
  packages   JSONB,
  created_at BIGINT NOT NULL
);
CREATE TABLE idempotency (
  key           TEXT PRIMARY KEY,
  invocation_id TEXT NOT NULL
);
"#,
    // 2: leases: the replica running a pending invocation, and until when (on the
    // database's clock) others leave it alone.
    r#"
ALTER TABLE invocations ADD COLUMN owner TEXT, ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX invocations_leases ON invocations (lease_until) WHERE status = 'pending';
CREATE INDEX invocations_owners ON invocations (owner) WHERE status = 'pending';
"#,
    // 3: memos: the task whose result answers the calls of an `@memo` function with the
    // same inputs (the key, a hash of them).
    r#"
CREATE TABLE memos (
  key     TEXT PRIMARY KEY,
  task_id TEXT NOT NULL
);
"#,
    // 4: signals sent to invocations, and the durable waits of macros (`signal`, `sleep`).
    waits::MIGRATION,
    // 5: a finished invocation's signals and waits are deleted with its last record.
    r#"
CREATE INDEX signals_invocation ON signals (invocation_id);
CREATE INDEX waits_invocation ON waits (invocation_id);
"#,
];

/// PostgreSQL-backed [`Store`], over a pool of connections.
pub struct PostgresStore {
    pool: Pool,
    /// The writers that commit in groups ([`group`]).
    group: group::Groups,
    /// Connections that hold object locks ([`locks`]).
    locks: Pool,
    /// Notices of deploys and token changes, once [`Store::changes`] has started listening.
    changes: tokio::sync::broadcast::Sender<Change>,
    /// The task listening for them.
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    config: tokio_postgres::Config,
    /// Where it points, for messages.
    place: String,
}

/// An error and its sources as one line: tokio-postgres keeps the server's message in the
/// error's source, which its own `Display` leaves out.
fn chain(e: impl std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A pool of at most `size` connections, waiting at most `wait` for one.
fn new_pool(
    config: &tokio_postgres::Config,
    size: usize,
    wait: Option<Duration>,
) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(15)))
        .wait_timeout(wait)
        .build()
        .map_err(db)
}

/// A pool's error: the database's own when making a connection failed.
fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db(e),
        other => db(other),
    }
}

/// A database error.
fn db(e: impl std::error::Error) -> StoreError {
    StoreError::Database(chain(e))
}

/// A column that does not decode into what the store wrote there.
fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Where a configuration points, for messages (never its password).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    format!("{host}:{port}/{db}")
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`, or the key=value
    /// form), and brings its schema to the latest migration. Fails with
    /// [`StoreError::Database`] when the URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Database(format!("malformed PostgreSQL URL: {}", chain(e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let place = describe(&config);
        let pool = new_pool(&config, POOL_SIZE, Some(Duration::from_secs(30)))?;
        // A call waits for an object's lock as long as the calls before it run.
        let locks = new_pool(&config, LOCK_POOL_SIZE, None)?;
        let store = PostgresStore {
            group: group::Groups::start(pool.clone()),
            pool,
            locks,
            changes: tokio::sync::broadcast::channel(64).0,
            listener: std::sync::Mutex::new(None),
            config,
            place,
        };
        store.migrate().await.map_err(|e| store.located(e))?;
        Ok(store)
    }

    /// An error with where the database is.
    fn located(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Database(m) => {
                StoreError::Database(format!("PostgreSQL at {}: {m}", self.place))
            }
            other => other,
        }
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Applies the migrations not applied yet, in one transaction holding an advisory lock:
    /// a second process opening the same database waits, then finds nothing left to do.
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
               version    BIGINT PRIMARY KEY,
               applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(db)?;
        let applied: i64 = row
            .try_get(0)
            .map_err(|e| corrupt("schema_migrations", e))?;
        if applied > MIGRATIONS.len() as i64 {
            // A newer runtime migrated it: this one would misread what it does not know.
            return Err(StoreError::Database(format!(
                "the database is at migration {applied}, newer than this runtime's {}: run the newer runtime",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let number = i as i64 + 1;
            if number <= applied {
                continue;
            }
            tx.batch_execute(sql)
                .await
                .map_err(|e| StoreError::Database(format!("migration {number}: {}", chain(e))))?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&number],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// The migrations applied, in order.
    pub async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(|e| corrupt("schema_migrations", e)))
            .collect()
    }

    /// Runs a query on a pooled connection. A connection found gone (the server restarted
    /// or ended the session) leaves the pool and the read is tried on another: reads are
    /// safe to repeat, unlike commits.
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let mut attempt = 0;
        loop {
            let client = self.client().await?;
            let result = match client.prepare_cached(sql).await {
                Ok(stmt) => client.query(&stmt, params).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if connection_lost(&e) && attempt < RETRIES => {
                    attempt += 1;
                    drop(deadpool_postgres::Object::take(client));
                }
                other => return other.map_err(db),
            }
        }
    }

    /// Runs a query and decodes every row.
    async fn rows<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        decode: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.query(sql, params).await?.iter().map(decode).collect()
    }

    /// Like [`PostgresStore::rows`], for a query of at most one row.
    async fn row<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        decode: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.query(sql, params)
            .await?
            .first()
            .map(decode)
            .transpose()
    }

    /// Runs one statement and notifies `channel` in the same transaction (the notice goes
    /// out when it commits); the number of rows the statement touched.
    async fn execute_notifying(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        channel: &str,
    ) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let stmt = tx.prepare_cached(sql).await.map_err(db)?;
        let n = tx.execute(&stmt, params).await.map_err(db)?;
        tx.execute("SELECT pg_notify($1, '')", &[&channel])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }
}

/// Whether a statement failed because its connection is gone: closed, ended by the server
/// (a restart, `pg_terminate_backend`), or broken under it.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.is_closed()
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN
        )
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// Whether PostgreSQL broke a transaction off in a way that trying it again can mend:
/// a deadlock or a serialization failure.
fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// A version number as the database keeps it.
fn version_number(v: u64) -> Result<i64, String> {
    i64::try_from(v).map_err(|_| format!("version {v} is out of range"))
}

/// Why an attempt at a commit failed, and whether it may have committed all the same.
struct Failed {
    error: tokio_postgres::Error,
    /// The `COMMIT` was sent: its outcome is unknown, so the attempt must not be repeated.
    maybe_committed: bool,
}

/// One attempt at a commit, in a transaction of its own, kept only when it committed.
async fn try_commit(
    client: &mut deadpool_postgres::Client,
    c: &Commit,
    encoded: &Encoded,
) -> Result<StoreResult<CommitOutcome>, Failed> {
    let before = |error| Failed {
        error,
        maybe_committed: false,
    };
    let tx = client.transaction().await.map_err(before)?;
    let outcome = apply_commit(&tx, c, encoded, None).await.map_err(before)?;
    if matches!(outcome, Ok(CommitOutcome::Committed)) {
        tx.commit().await.map_err(|error| Failed {
            error,
            maybe_committed: true,
        })?;
    } else {
        tx.rollback().await.map_err(before)?;
    }
    Ok(outcome)
}

/// Commits one commit in a transaction of its own, trying again (up to [`RETRIES`] times)
/// when the attempt surely did not commit: on a fresh connection when its own was found
/// gone, after a pause when PostgreSQL broke it off.
async fn commit_alone(pool: &Pool, commit: &Commit) -> StoreResult<CommitOutcome> {
    let encoded = Encoded::new(commit)?;
    let mut attempt = 0;
    loop {
        let mut client = pool.get().await.map_err(pool_error)?;
        match try_commit(&mut client, commit, &encoded).await {
            Err(f) if !f.maybe_committed && attempt < RETRIES => {
                attempt += 1;
                if connection_lost(&f.error) {
                    drop(deadpool_postgres::Object::take(client));
                } else if retryable(&f.error) {
                    tracing::warn!(attempt, error = %db(&f.error), "a commit was broken off; trying it again");
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                } else {
                    return Err(db(f.error));
                }
            }
            Err(f) => return Err(db(f.error)),
            Ok(outcome) => return outcome,
        }
    }
}

/// The values of a commit's rows that need encoding first: version numbers and invocation
/// JSON (a value that does not encode fails the commit before anything is sent).
pub(super) struct Encoded {
    versions: Vec<i64>,
    invocations: Vec<(Value, Option<Value>)>,
}

impl Encoded {
    pub(super) fn new(c: &Commit) -> StoreResult<Encoded> {
        let versions = c
            .versions
            .iter()
            .map(|v| version_number(v.version).map_err(StoreError::Database))
            .collect::<StoreResult<_>>()?;
        let invocations = c
            .invocations
            .iter()
            .map(|inv| {
                let request = serde_json::to_value(&inv.request);
                let error = inv.error.as_ref().map(serde_json::to_value).transpose();
                match (request, error) {
                    (Ok(r), Ok(e)) => Ok((r, e)),
                    (Err(e), _) | (_, Err(e)) => Err(StoreError::Database(e.to_string())),
                }
            })
            .collect::<StoreResult<_>>()?;
        Ok(Encoded {
            versions,
            invocations,
        })
    }
}

const INSERT_TASK: &str = "INSERT INTO tasks (task_id, result, committed_at) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO NOTHING";
const INSERT_VERSION: &str = "INSERT INTO objects (id, version, class, package_version, state, refs, files, deleted, task_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id, version) DO NOTHING";
const INSERT_CLASS: &str =
    "INSERT INTO object_classes (class, id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_MEMO: &str =
    "INSERT INTO memos (key, task_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
const INSERT_KEY: &str =
    "INSERT INTO idempotency (key, invocation_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
/// Writes an invocation record: a new one with the commit's lease (`$11` seconds from the
/// database's now); a stored one keeps its owner while pending and loses it once finished,
/// and a finished one stays finished.
const UPSERT_INVOCATION: &str = "INSERT INTO invocations (id, request, status, result, error, output_id, nodes, created_at, updated_at, owner, lease_until)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11::float8))
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result,
       error = EXCLUDED.error, output_id = EXCLUDED.output_id, nodes = EXCLUDED.nodes,
       updated_at = EXCLUDED.updated_at,
       owner = CASE WHEN EXCLUDED.status = 'pending' THEN invocations.owner END,
       lease_until = CASE WHEN EXCLUDED.status = 'pending' THEN invocations.lease_until END
     WHERE NOT (EXCLUDED.status = 'pending' AND invocations.status <> 'pending')";

/// One statement of a commit, sent without waiting for the one before.
type Write<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>,
>;

/// The statements of a commit: the task's row, the versions (and the class of each new
/// object), the idempotency key, the invocations. They go to the server together in one
/// pipeline (one round trip, not one each), and their row counts then decide the outcome
/// in SQLite's order: a task committed before, a version taken, a key held by another
/// invocation. An outcome other than `Committed` means the caller rolls back, which undoes
/// whatever the other statements wrote: the transaction, or back to `savepoint`, which the
/// pipeline sets first when one is named (a commit among others in one transaction).
async fn apply_commit<'a>(
    tx: &'a deadpool_postgres::Transaction<'_>,
    c: &'a Commit,
    encoded: &'a Encoded,
    savepoint: Option<&'a str>,
) -> Result<StoreResult<CommitOutcome>, tokio_postgres::Error> {
    let now = now_ms();
    let mut writes: Vec<Write<'_>> = Vec::new();
    if let Some(name) = savepoint {
        // Prepared before the pipeline goes, so that it is sent first: a statement still
        // being prepared would be sent after the others.
        let stmt = tx.prepare_cached(&format!("SAVEPOINT {name}")).await?;
        writes.push(Box::pin(async move { tx.execute(&stmt, &[]).await }));
    }
    if !c.unlocked.is_empty() {
        let stmt = tx.prepare_cached(locks::TRY_IN_TRANSACTION).await?;
        for id in &c.unlocked {
            let stmt = stmt.clone();
            writes.push(Box::pin(async move {
                let row = tx
                    .query_one(&stmt, &[&locks::OBJECT_LOCKS, &id.as_str()])
                    .await?;
                Ok(u64::from(row.try_get::<_, bool>(0)?))
            }));
        }
    }
    if let Some(task) = &c.task_id {
        let stmt = tx.prepare_cached(INSERT_TASK).await?;
        let result = &c.task_result;
        writes.push(Box::pin(async move {
            tx.execute(&stmt, &[&task.as_str(), result, &now]).await
        }));
    }
    push_versions(tx, c, encoded, &mut writes).await?;
    if let Some((key, inv)) = &c.idempotency {
        let stmt = tx.prepare_cached(INSERT_KEY).await?;
        writes.push(Box::pin(async move {
            tx.execute(&stmt, &[key, &inv.as_str()]).await
        }));
    }
    push_invocations(tx, c, encoded, &mut writes).await?;
    if let (Some(key), Some(task)) = (&c.memo, &c.task_id) {
        // Last, so the row counts `outcome` reads keep their places.
        let stmt = tx.prepare_cached(INSERT_MEMO).await?;
        writes.push(Box::pin(async move {
            tx.execute(&stmt, &[&key.as_str(), &task.as_str()]).await
        }));
    }
    let counts = futures_util::future::try_join_all(writes).await?;
    let counts = &counts[usize::from(savepoint.is_some())..];
    let (free, counts) = counts.split_at(c.unlocked.len());
    if let Some((id, _)) = c.unlocked.iter().zip(free).find(|(_, free)| **free == 0) {
        return Ok(Ok(CommitOutcome::Conflict(format!(
            "object {id} is locked by a call through another runtime"
        ))));
    }
    outcome(tx, c, counts).await
}

/// Adds the versions' inserts to a commit's pipeline, with the class row of each new object
/// (every object is created at version 1; later versions keep its class).
async fn push_versions<'a>(
    tx: &'a deadpool_postgres::Transaction<'_>,
    c: &'a Commit,
    encoded: &'a Encoded,
    writes: &mut Vec<Write<'a>>,
) -> Result<(), tokio_postgres::Error> {
    if c.versions.is_empty() {
        return Ok(());
    }
    let insert = tx.prepare_cached(INSERT_VERSION).await?;
    let class = tx.prepare_cached(INSERT_CLASS).await?;
    for (v, number) in c.versions.iter().zip(&encoded.versions) {
        let insert = insert.clone();
        writes.push(Box::pin(async move {
            let task_id = v.task_id.as_ref().map(|t| t.as_str());
            tx.execute(
                &insert,
                &[
                    &v.id.as_str(),
                    number,
                    &v.class,
                    &v.package_version,
                    &Json(v.state_json()),
                    &Json(&v.refs),
                    &Json(&v.files),
                    &v.deleted,
                    &task_id,
                    &v.created_at,
                ],
            )
            .await
        }));
    }
    for v in c.versions.iter().filter(|v| v.version == 1) {
        let class = class.clone();
        writes.push(Box::pin(async move {
            tx.execute(&class, &[&v.class, &v.id.as_str()]).await
        }));
    }
    Ok(())
}

/// Deletes the signals and waits of an invocation that has finished, in the transaction that
/// records its end: nothing reads them any more (a finished invocation takes no signal and
/// runs no node), and they would otherwise be kept for ever.
const FORGET_FINISHED: &str = "WITH signals_gone AS (DELETE FROM signals WHERE invocation_id = $1)
     DELETE FROM waits WHERE invocation_id = $1";

/// Adds the invocations' upserts to a commit's pipeline, then the deletion of what finished
/// ones leave: after the upsert, which locks the invocation's row, so a signal stored by a
/// sender that held the row first is seen and deleted, and a later one finds it finished.
async fn push_invocations<'a>(
    tx: &'a deadpool_postgres::Transaction<'_>,
    c: &'a Commit,
    encoded: &'a Encoded,
    writes: &mut Vec<Write<'a>>,
) -> Result<(), tokio_postgres::Error> {
    if c.invocations.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare_cached(UPSERT_INVOCATION).await?;
    let owner = c.lease.as_ref().map(|l| l.owner.as_str());
    let seconds = c.lease.as_ref().map(lease_seconds);
    for (inv, (request, error)) in c.invocations.iter().zip(&encoded.invocations) {
        let stmt = stmt.clone();
        writes.push(Box::pin(async move {
            let output_id = inv.output_id.as_ref().map(|o| o.as_str());
            tx.execute(
                &stmt,
                &[
                    &inv.id.as_str(),
                    request,
                    &inv.status.as_str(),
                    &inv.result,
                    error,
                    &output_id,
                    &Json(&inv.nodes),
                    &inv.created_at,
                    &inv.updated_at,
                    &owner,
                    &seconds,
                ],
            )
            .await
        }));
    }
    if c.invocations
        .iter()
        .any(|i| i.status != InvocationStatus::Pending)
    {
        let forget = tx.prepare_cached(FORGET_FINISHED).await?;
        for inv in c
            .invocations
            .iter()
            .filter(|i| i.status != InvocationStatus::Pending)
        {
            let forget = forget.clone();
            writes.push(Box::pin(async move {
                tx.execute(&forget, &[&inv.id.as_str()]).await
            }));
        }
    }
    Ok(())
}

/// A lease's length in seconds, as the statements add it to `now()`.
fn lease_seconds(l: &Lease) -> f64 {
    l.duration.as_secs_f64()
}

/// What a commit came to, from the row counts of its pipeline (in the order
/// [`apply_commit`] sent them).
async fn outcome(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &Commit,
    counts: &[u64],
) -> Result<StoreResult<CommitOutcome>, tokio_postgres::Error> {
    let mut counts = counts.iter().copied();
    if let Some(task) = &c.task_id {
        if counts.next() == Some(0) {
            return Ok(first_result(tx, task.as_str())
                .await?
                .map(CommitOutcome::AlreadyCommitted));
        }
    }
    for v in &c.versions {
        if counts.next() == Some(0) {
            return Ok(Ok(CommitOutcome::Conflict(format!(
                "object {} already has version {}",
                v.id, v.version
            ))));
        }
    }
    let mut counts = counts.skip(c.versions.iter().filter(|v| v.version == 1).count());
    if let Some((key, inv)) = &c.idempotency {
        if counts.next() == Some(0) {
            let owner = key_owner(tx, key).await?;
            if owner != inv.as_str() {
                return Ok(Ok(CommitOutcome::KeyTaken(InvocationId::from(owner))));
            }
        }
    }
    Ok(Ok(CommitOutcome::Committed))
}

/// The first result of a task committed before.
async fn first_result(
    tx: &deadpool_postgres::Transaction<'_>,
    task: &str,
) -> Result<StoreResult<Option<Value>>, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached("SELECT result FROM tasks WHERE task_id = $1")
        .await?;
    let row = tx.query_one(&stmt, &[&task]).await?;
    Ok(row
        .try_get::<_, Option<Value>>(0)
        .map_err(|e| corrupt("task result", e)))
}

/// The invocation an idempotency key is bound to.
async fn key_owner(
    tx: &deadpool_postgres::Transaction<'_>,
    key: &str,
) -> Result<String, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached("SELECT invocation_id FROM idempotency WHERE key = $1")
        .await?;
    tx.query_one(&stmt, &[&key]).await?.try_get(0)
}

const VERSION_COLUMNS: &str = "o.id, o.version, o.class, o.package_version, o.state, o.refs, o.files, o.deleted, o.task_id, o.created_at";

/// A column as `T`, or [`StoreError::Corrupt`] naming it.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> StoreResult<T> {
    r.try_get(i)
        .map_err(|e| corrupt(&format!("column {}", column(r, i)), db(e)))
}

/// The name of a row's column `i`.
fn column(r: &Row, i: usize) -> &str {
    r.columns().get(i).map(|c| c.name()).unwrap_or("?")
}

/// A JSONB column as a typed record.
fn json<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> StoreResult<T> {
    let value: Value = get(r, i)?;
    serde_json::from_value(value).map_err(|e| corrupt(column(r, i), e))
}

/// An optional JSONB column as a typed record.
fn optional_json<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> StoreResult<Option<T>> {
    let value: Option<Value> = get(r, i)?;
    value
        .map(|v| serde_json::from_value(v).map_err(|e| corrupt(column(r, i), e)))
        .transpose()
}

fn row_to_version(r: &Row) -> StoreResult<ObjectVersion> {
    let version: i64 = get(r, 1)?;
    Ok(ObjectVersion {
        id: ObjectId::from(get::<String>(r, 0)?),
        version: u64::try_from(version).map_err(|e| corrupt("version", e))?,
        class: get(r, 2)?,
        package_version: get(r, 3)?,
        state: get(r, 4)?,
        refs: json(r, 5)?,
        files: json(r, 6)?,
        deleted: get(r, 7)?,
        task_id: get::<Option<String>>(r, 8)?.map(TaskId::from),
        created_at: get(r, 9)?,
        state_text: Default::default(),
    })
}

fn row_to_invocation(r: &Row) -> StoreResult<Invocation> {
    Ok(Invocation {
        id: InvocationId::from(get::<String>(r, 0)?),
        request: json(r, 1)?,
        status: InvocationStatus::parse(get(r, 2)?),
        result: get(r, 3)?,
        error: optional_json(r, 4)?,
        output_id: get::<Option<String>>(r, 5)?.map(ObjectId::from),
        nodes: json(r, 6)?,
        created_at: get(r, 7)?,
        updated_at: get(r, 8)?,
    })
}

fn row_to_package(r: &Row) -> StoreResult<PackageRecord> {
    Ok(PackageRecord {
        version: get(r, 0)?,
        names: json(r, 1)?,
        artifact: get(r, 2)?,
        deployed_at: get(r, 3)?,
        workdir: get(r, 4)?,
    })
}

fn row_to_token(r: &Row) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: get(r, 0)?,
        hash: get(r, 1)?,
        role: serde_json::from_value(Value::String(get(r, 2)?)).map_err(|e| corrupt("role", e))?,
        packages: optional_json(r, 3)?,
        created_at: get(r, 4)?,
    })
}

const INVOCATION_COLUMNS: &str =
    "id, request, status, result, error, output_id, nodes, created_at, updated_at";

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn health(&self) -> StoreResult<()> {
        self.client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn put_package(&self, p: PackageRecord) -> StoreResult<()> {
        self.execute_notifying(
            "INSERT INTO packages (version, names, artifact, deployed_at, workdir) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (version) DO UPDATE SET workdir = COALESCE(EXCLUDED.workdir, packages.workdir)",
            &[&p.version, &Json(&p.names), &p.artifact, &p.deployed_at, &p.workdir],
            notify::PACKAGES,
        )
        .await
        .map(drop)
    }

    async fn packages(&self) -> StoreResult<Vec<PackageRecord>> {
        self.rows(
            "SELECT version, names, artifact, deployed_at, workdir FROM packages ORDER BY deployed_at, version",
            &[],
            row_to_package,
        )
        .await
    }

    async fn object(
        &self,
        id: &ObjectId,
        version: Option<u64>,
    ) -> StoreResult<Option<ObjectVersion>> {
        match version {
            Some(v) => {
                let Ok(v) = version_number(v) else {
                    return Ok(None);
                };
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM objects o WHERE o.id = $1 AND o.version = $2"
                );
                self.row(&sql, &[&id.as_str(), &v], row_to_version).await
            }
            None => {
                let sql = format!("SELECT {VERSION_COLUMNS} FROM objects o WHERE o.id = $1 ORDER BY o.version DESC LIMIT 1");
                self.row(&sql, &[&id.as_str()], row_to_version).await
            }
        }
    }

    async fn history(&self, id: &ObjectId) -> StoreResult<Vec<ObjectVersion>> {
        let sql =
            format!("SELECT {VERSION_COLUMNS} FROM objects o WHERE o.id = $1 ORDER BY o.version");
        self.rows(&sql, &[&id.as_str()], row_to_version).await
    }

    async fn list(
        &self,
        class: &str,
        filters: &[FieldFilter],
        after: Option<&ObjectId>,
        limit: usize,
    ) -> StoreResult<Vec<ObjectVersion>> {
        let after = after.map(|a| a.as_str()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // A missing field is JSON null, as SQLite's `json_extract` has it.
        let fields: Vec<String> = filters.iter().map(|f| f.field.replace('"', "")).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&class, &after];
        let mut sql = format!(
            "SELECT {VERSION_COLUMNS} FROM object_classes h
             CROSS JOIN LATERAL (SELECT * FROM objects n WHERE n.id = h.id ORDER BY n.version DESC LIMIT 1) o
             WHERE h.class = $1 AND h.id > $2 AND NOT o.deleted"
        );
        for (field, f) in fields.iter().zip(filters) {
            params.push(field);
            params.push(&f.value);
            sql.push_str(&format!(
                " AND COALESCE(o.state -> ${}, 'null'::jsonb) = ${}",
                params.len() - 1,
                params.len()
            ));
        }
        params.push(&limit);
        sql.push_str(&format!(" ORDER BY h.id LIMIT ${}", params.len()));
        self.rows(&sql, &params, row_to_version).await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        self.group.commit(commit).await
    }

    async fn task_result(&self, task_id: &TaskId) -> StoreResult<Option<Option<Value>>> {
        self.row(
            "SELECT result FROM tasks WHERE task_id = $1",
            &[&task_id.as_str()],
            |r| get(r, 0),
        )
        .await
    }

    async fn memo(&self, key: &MemoKey) -> StoreResult<Option<(TaskId, Option<Value>)>> {
        self.row(
            "SELECT m.task_id, t.result FROM memos m JOIN tasks t ON t.task_id = m.task_id WHERE m.key = $1",
            &[&key.as_str()],
            |r| Ok((TaskId::from(get::<String>(r, 0)?), get(r, 1)?)),
        )
        .await
    }

    async fn invocation(&self, id: &InvocationId) -> StoreResult<Option<Invocation>> {
        let sql = format!("SELECT {INVOCATION_COLUMNS} FROM invocations WHERE id = $1");
        self.row(&sql, &[&id.as_str()], row_to_invocation).await
    }

    async fn recent_invocations(&self, query: &InvocationQuery) -> StoreResult<Vec<Invocation>> {
        let sql = format!(
            "SELECT {INVOCATION_COLUMNS} FROM invocations
             WHERE ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR request->'target'->>'object' = $2)
               AND ($3::text IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        );
        let status = query.status.map(InvocationStatus::as_str);
        let object = query.object.as_ref().map(|o| o.as_str());
        let before = query.before.as_ref().map(|b| b.as_str());
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.rows(
            &sql,
            &[&status, &object, &before, &limit],
            row_to_invocation,
        )
        .await
    }

    async fn pending_invocations(&self) -> StoreResult<Vec<Invocation>> {
        let sql = format!(
            "SELECT {INVOCATION_COLUMNS} FROM invocations WHERE status = 'pending' ORDER BY created_at, id"
        );
        self.rows(&sql, &[], row_to_invocation).await
    }

    async fn renew_leases(&self, lease: &Lease) -> StoreResult<Vec<InvocationId>> {
        let sql = "UPDATE invocations SET lease_until = now() + make_interval(secs => $2::float8)
                   WHERE owner = $1 AND status = 'pending' RETURNING id";
        let seconds = lease_seconds(lease);
        self.rows(sql, &[&lease.owner, &seconds], |r| {
            get::<String>(r, 0).map(InvocationId::from)
        })
        .await
    }

    async fn claim_expired(&self, lease: &Lease, limit: usize) -> StoreResult<Vec<Invocation>> {
        // Rows another replica is claiming right now are locked: skipped, not waited for,
        // and re-checked against the expiry once it commits.
        let sql = format!(
            "UPDATE invocations SET owner = $1, lease_until = now() + make_interval(secs => $2::float8)
             WHERE id IN (SELECT id FROM invocations WHERE status = 'pending'
                            AND (lease_until IS NULL OR lease_until < now())
                          ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {INVOCATION_COLUMNS}"
        );
        let seconds = lease_seconds(lease);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Sent once, not again on a new connection when this one breaks: a claim that
        // committed unseen would be renewed by this replica without it running them.
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await.map_err(db)?;
        let rows = client
            .query(&stmt, &[&lease.owner, &seconds, &limit])
            .await
            .map_err(db)?;
        let mut claimed = rows
            .iter()
            .map(row_to_invocation)
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(claimed)
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
        self.row(
            "SELECT invocation_id FROM idempotency WHERE key = $1",
            &[&key],
            |r| get::<String>(r, 0).map(InvocationId::from),
        )
        .await
    }

    async fn put_token(&self, t: TokenRecord) -> StoreResult<()> {
        let packages = t.packages.as_ref().map(Json);
        self.execute_notifying(
            "INSERT INTO tokens (id, hash, role, packages, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&t.id, &t.hash, &t.role.as_str(), &packages, &t.created_at],
            notify::TOKENS,
        )
        .await
        .map(drop)
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.rows(
            "SELECT id, hash, role, packages, created_at FROM tokens ORDER BY id",
            &[],
            row_to_token,
        )
        .await
    }

    async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .execute_notifying("DELETE FROM tokens WHERE id = $1", &[&id], notify::TOKENS)
            .await?
            > 0)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn lock_object(&self, id: &ObjectId) -> StoreResult<Option<ObjectLock>> {
        let held = locks::lock(&self.locks, id.as_str())
            .await
            .map_err(|e| self.located(e))?;
        Ok(Some(Box::new(held)))
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        let receiver = self.changes.subscribe();
        if let Ok(mut listener) = self.listener.lock() {
            if listener.is_none() {
                let task = notify::listen(self.config.clone(), self.changes.clone());
                *listener = Some(tokio::spawn(task));
            }
        }
        Some(receiver)
    }
}

impl Drop for PostgresStore {
    /// Stops listening for notices.
    fn drop(&mut self) {
        if let Ok(mut listener) = self.listener.lock() {
            if let Some(task) = listener.take() {
                task.abort();
            }
        }
    }
}
