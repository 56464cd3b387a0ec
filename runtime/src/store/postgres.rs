//! The PostgreSQL store: the same [`Store`] as SQLite's, on a server several processes can
//! reach. Commits are written in groups ([`group`]), and a group goes to the server in one
//! round trip ([`pipeline`]): `BEGIN`, the rows of all its commits and `COMMIT` in one
//! pipeline, at READ COMMITTED. Rows go in through unique keys, so of two commits of the same
//! object version, task or idempotency key the second finds the key taken, an error that
//! rolls its round back; the commit at fault is answered as SQLite answers it and the others
//! go again. Reads, and commits that never reached `COMMIT`, are tried again on a fresh
//! connection when the server ended theirs. JSON is kept in `json` columns (the text as
//! written, compressed with LZ4 where the server has it). The schema comes from numbered
//! migrations applied at open, under an advisory lock so processes starting together do
//! not race.

use super::*;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{NoTls, Row};

mod group;
mod locks;
mod notify;
mod pipeline;
mod scratch;
mod sharing;
mod waits;
pub use scratch::ScratchDatabase;

/// The result a task committed with (read by the store, and by a commit that finds its
/// task committed before).
const TASK_RESULT: &str = "SELECT result FROM tasks WHERE task_id = $1";
/// The invocation an idempotency key is bound to.
const KEY_OWNER: &str = "SELECT invocation_id FROM idempotency WHERE key = $1";
/// Most connections of one store, the default and the most that may be configured
/// ([`PostgresStore::connect_with`]).
pub const DEFAULT_CONNECTIONS: usize = 16;
/// Fewest connections of one store: the group writer's and one for reads.
pub const MIN_CONNECTIONS: usize = 2;
/// Most connections holding object locks at once, besides those (so that calls holding
/// locks always find a connection to commit on): the most objects one runtime runs `mut`
/// calls on at a time; calls on more wait for a connection.
const LOCK_POOL_SIZE: usize = 16;
/// How many times a read, or a commit that was not committed, is tried again: on another
/// connection when its own was found gone (one more than the pool holds, so a restarted
/// server costs no call), or after PostgreSQL broke the commit off (a deadlock between two
/// commits that wrote the same keys in opposite orders).
const RETRIES: u32 = DEFAULT_CONNECTIONS as u32 + 1;
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
    // 6: JSON that the runtime writes and reads whole is kept as `json` (its text, checked on
    // the way in), not `jsonb`: the server no longer parses every state it is sent into its
    // binary form and prints it back at every read, which took most of its CPU per call. The
    // states, the largest of them, are compressed with LZ4 where the server has it (the
    // default, pglz, is several times slower).
    r#"
ALTER TABLE objects ALTER COLUMN state TYPE JSON USING state::json,
  ALTER COLUMN refs TYPE JSON USING refs::json,
  ALTER COLUMN files TYPE JSON USING files::json;
ALTER TABLE tasks ALTER COLUMN result TYPE JSON USING result::json;
ALTER TABLE invocations ALTER COLUMN request TYPE JSON USING request::json,
  ALTER COLUMN result TYPE JSON USING result::json,
  ALTER COLUMN error TYPE JSON USING error::json,
  ALTER COLUMN nodes TYPE JSON USING nodes::json;
ALTER TABLE signals ALTER COLUMN value TYPE JSON USING value::json;
ALTER TABLE waits ALTER COLUMN value TYPE JSON USING value::json;
DO $$ BEGIN
  ALTER TABLE objects ALTER COLUMN state SET COMPRESSION lz4;
  ALTER TABLE invocations ALTER COLUMN nodes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$;
"#,
    // 7: the lock check of an optimistic commit raises an error when another runtime holds
    // the object's lock, so the transaction rolls back at its `COMMIT`, which can then be
    // sent with the other statements ([`pipeline`]).
    r#"
CREATE FUNCTION oaas_lock_for_commit(space INT, id TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT pg_try_advisory_xact_lock(space, hashtext(id)) THEN
    RAISE EXCEPTION 'object % is locked by a call through another runtime', id
      USING ERRCODE = 'OAAS1';
  END IF;
END $$;
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
    /// This runtime's tag in the notices of the objects it writes, and whether it sends them
    /// ([`sharing`]).
    sharing: Arc<sharing::Sharing>,
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
        Self::connect_with(url, DEFAULT_CONNECTIONS).await
    }

    /// As [`connect`](Self::connect), with at most `connections` connections for reads and
    /// commits (from [`MIN_CONNECTIONS`] to [`DEFAULT_CONNECTIONS`]), besides those that
    /// hold object locks. Replicas on one server share its cores: fewer each keeps the
    /// server's busy backends few.
    pub async fn connect_with(url: &str, connections: usize) -> StoreResult<PostgresStore> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Database(format!("malformed PostgreSQL URL: {}", chain(e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let place = describe(&config);
        let size = connections.clamp(MIN_CONNECTIONS, DEFAULT_CONNECTIONS);
        // This runtime's tag in the notices of the objects it writes.
        let me = uuid::Uuid::now_v7().simple().to_string();
        let sharing = Arc::new(sharing::Sharing::new(me));
        let pool = new_pool(&config, size, Some(Duration::from_secs(30)))?;
        // A call waits for an object's lock as long as the calls before it run.
        let locks = new_pool(&config, LOCK_POOL_SIZE, None)?;
        let store = PostgresStore {
            group: group::Groups::start(pool.clone(), sharing.clone()),
            pool,
            locks,
            changes: tokio::sync::broadcast::channel(256).0,
            sharing,
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

/// A lease's length in seconds, as the statements add it to `now()`.
fn lease_seconds(l: &Lease) -> f64 {
    l.duration.as_secs_f64()
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

/// A JSON column as a typed record.
fn json<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> StoreResult<T> {
    let value: Value = get(r, i)?;
    serde_json::from_value(value).map_err(|e| corrupt(column(r, i), e))
}

/// An optional JSON column as a typed record.
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
                " AND COALESCE((o.state -> ${})::jsonb, 'null'::jsonb) = ${}",
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
        self.row(TASK_RESULT, &[&task_id.as_str()], |r| get(r, 0))
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
        self.row(KEY_OWNER, &[&key], |r| {
            get::<String>(r, 0).map(InvocationId::from)
        })
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
                let task = notify::listen(
                    self.config.clone(),
                    self.changes.clone(),
                    self.sharing.clone(),
                );
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
