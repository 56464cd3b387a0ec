//! Commits in one round trip: `BEGIN`, every statement of every commit of a group and
//! `COMMIT` go to the server in one pipeline, and nothing waits for an answer in between.
//!
//! That works because whatever makes a commit other than `Committed` is an error raised
//! inside the transaction, which then rolls back at `COMMIT`: a task committed before, an
//! object version taken, an idempotency key held (each a unique key's violation), an object
//! lock held by another runtime (`oaas_lock_for_commit` raises `OAAS1`). A failed round
//! wrote nothing; the commit at fault is answered (after reading what it needs: a task's
//! first result, a key's owner) and the others go again in the next round.
//!
//! Two commits of one group that claim the same key (a task id, an object version, an
//! idempotency key) never share a round: the later one waits for the next, so a failure is
//! always against rows other transactions committed, and the reads that answer it see them.
//!
//! The whole pipeline is queued in one poll of [`futures_util::future::join_all`], so a
//! caller that stops waiting midway cannot leave a connection inside a transaction: the
//! `COMMIT` (or, after an error, its rollback) is queued with the rest.

use super::notify;
use super::sharing::Sharing;
use super::{
    connection_lost, db, get, locks, retryable, version_number, KEY_OWNER, RETRIES, TASK_RESULT,
};
use crate::ids::InvocationId;
use crate::store::{now_ms, Commit, CommitOutcome, InvocationStatus, StoreError, StoreResult};
use deadpool_postgres::{Object, Pool};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use tokio_postgres::Statement;

/// The SQLSTATE `oaas_lock_for_commit` raises when another runtime holds the object's lock.
const LOCK_HELD: &str = "OAAS1";

const INSERT_TASK: &str = "INSERT INTO tasks (task_id, result, committed_at) VALUES ($1, $2, $3)";
const INSERT_VERSION: &str = "INSERT INTO objects (id, version, class, package_version, state, refs, files, deleted, task_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const INSERT_CLASS: &str =
    "INSERT INTO object_classes (class, id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_MEMO: &str =
    "INSERT INTO memos (key, task_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
const INSERT_KEY: &str = "INSERT INTO idempotency (key, invocation_id) VALUES ($1, $2)";
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
/// Deletes the signals and waits of an invocation that has finished, in the transaction that
/// records its end: nothing reads them any more (a finished invocation takes no signal and
/// runs no node), and they would otherwise be kept for ever. It follows the upsert, which
/// locks the invocation's row, so a signal stored by a sender that held the row first is
/// seen and deleted, and a later one finds it finished.
const FORGET_FINISHED: &str = "WITH signals_gone AS (DELETE FROM signals WHERE invocation_id = $1)
     DELETE FROM waits WHERE invocation_id = $1";

/// The values of a commit's rows that need encoding first: version numbers and invocation
/// JSON (a value that does not encode fails the commit before anything is sent).
struct Encoded {
    versions: Vec<i64>,
    invocations: Vec<(Value, Option<Value>)>,
}

impl Encoded {
    fn new(c: &Commit) -> StoreResult<Encoded> {
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

/// One commit still to be written.
struct Entry<'a> {
    /// Its place among the commits handed in (and their answers).
    at: usize,
    commit: &'a Commit,
    encoded: Encoded,
    /// Its idempotency key was found bound to its own invocation: not inserted again.
    key_bound: bool,
}

/// What one statement of a round writes: which commit a failure belongs to, and what the
/// failure means.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    Begin,
    /// The lock check of the commit's `unlocked[i]`.
    Lock(usize, usize),
    Task(usize),
    /// The commit's `versions[i]`.
    Version(usize, usize),
    Key(usize),
    /// Another row of the commit: a class, an invocation, a memo.
    Rest(usize),
    /// The notice naming the objects the round writes.
    Notice,
    Commit,
}

impl Part {
    /// The place in the round of the commit the statement belongs to.
    fn entry(self) -> Option<usize> {
        match self {
            Part::Lock(e, _)
            | Part::Task(e)
            | Part::Version(e, _)
            | Part::Key(e)
            | Part::Rest(e) => Some(e),
            Part::Begin | Part::Notice | Part::Commit => None,
        }
    }
}

/// How a round ended.
enum Round {
    /// Every commit of it is written.
    Committed,
    /// The server refused statement `Part` (`COMMIT` too): the transaction rolled back,
    /// nothing is written.
    Refused(Part, tokio_postgres::Error),
    /// The connection failed after the `COMMIT` was queued: whether it went in is unknown.
    Unknown(tokio_postgres::Error),
}

/// One statement of a round, queued without waiting for the one before.
type Write<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>,
>;

/// The round's prepared statements (each prepared once per connection, then cached).
struct Statements {
    begin: Statement,
    commit: Statement,
    lock: Statement,
    task: Statement,
    version: Statement,
    class: Statement,
    key: Statement,
    invocation: Statement,
    forget: Statement,
    memo: Statement,
    notice: Statement,
}

impl Statements {
    async fn prepare(client: &Object) -> Result<Statements, tokio_postgres::Error> {
        Ok(Statements {
            begin: client.prepare_cached("BEGIN").await?,
            commit: client.prepare_cached("COMMIT").await?,
            lock: client.prepare_cached(locks::TRY_IN_TRANSACTION).await?,
            task: client.prepare_cached(INSERT_TASK).await?,
            version: client.prepare_cached(INSERT_VERSION).await?,
            class: client.prepare_cached(INSERT_CLASS).await?,
            key: client.prepare_cached(INSERT_KEY).await?,
            invocation: client.prepare_cached(UPSERT_INVOCATION).await?,
            forget: client.prepare_cached(FORGET_FINISHED).await?,
            memo: client.prepare_cached(INSERT_MEMO).await?,
            notice: client.prepare_cached("SELECT pg_notify($1, $2)").await?,
        })
    }
}

/// Commits `commits`, in as few transactions as their keys allow; the outcome of each, in
/// order. Tried again (up to [`RETRIES`] times) on a fresh connection when the server ended
/// the one in use, after a pause when it broke a round off (a deadlock); a round whose
/// `COMMIT` went unanswered is tried again only for commits with a task id, which then find
/// their task committed if it was. A round that writes objects names them in a notice
/// ([`notify::OBJECTS`]), sent when it commits, while `sharing` says so; a conflict with
/// another runtime tells `sharing`.
pub(super) async fn commit_all(
    pool: &Pool,
    sharing: &Sharing,
    commits: &[&Commit],
) -> Vec<StoreResult<CommitOutcome>> {
    let mut answers: Vec<Option<StoreResult<CommitOutcome>>> = vec![None; commits.len()];
    let mut pending = Vec::with_capacity(commits.len());
    for (at, commit) in commits.iter().enumerate() {
        match Encoded::new(commit) {
            Ok(encoded) => pending.push(Entry {
                at,
                commit,
                encoded,
                key_bound: false,
            }),
            Err(e) => answers[at] = Some(Err(e)),
        }
    }
    if let Err(e) = write_all(pool, sharing, pending, &mut answers).await {
        for a in answers.iter_mut().filter(|a| a.is_none()) {
            *a = Some(Err(e.clone()));
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or(Err(StoreError::Closed)))
        .collect()
}

/// Writes `pending` round by round, filling in `answers`; an error ends the commits not
/// answered yet.
async fn write_all(
    pool: &Pool,
    sharing: &Sharing,
    mut pending: Vec<Entry<'_>>,
    answers: &mut [Option<StoreResult<CommitOutcome>>],
) -> StoreResult<()> {
    let mut attempt = 0;
    let mut kept: Option<Object> = None;
    while !pending.is_empty() {
        let (mut round, later) = separate(pending);
        let client = match kept.take() {
            Some(c) => c,
            None => pool.get().await.map_err(super::pool_error)?,
        };
        let ended = match Statements::prepare(&client).await {
            Ok(s) => run(&client, &s, sharing, &round).await,
            Err(e) => Round::Refused(Part::Begin, e),
        };
        match ended {
            Round::Committed => {
                sharing.committed(
                    round
                        .iter()
                        .flat_map(|e| e.commit.versions.iter().map(|v| &v.id)),
                );
                for e in round.drain(..) {
                    answers[e.at] = Some(Ok(CommitOutcome::Committed));
                }
                kept = Some(client);
            }
            Round::Refused(part, error) if connection_lost(&error) || retryable(&error) => {
                if attempt >= RETRIES {
                    return Err(db(error));
                }
                attempt += 1;
                if connection_lost(&error) {
                    drop(Object::take(client));
                } else {
                    tracing::warn!(attempt, ?part, error = %db(&error), "a commit was broken off; trying it again");
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                    kept = Some(client);
                }
            }
            Round::Refused(part, error) => {
                let Some(p) = part.entry() else {
                    return Err(db(error));
                };
                match classify(&client, part, &error, &round[p]).await {
                    Some(answer) => {
                        if matches!(answer, Ok(CommitOutcome::Conflict(_))) {
                            sharing.seen();
                        }
                        answers[round.remove(p).at] = Some(answer)
                    }
                    None => round[p].key_bound = true,
                }
                kept = Some(client);
            }
            Round::Unknown(error) => {
                drop(Object::take(client));
                attempt += 1;
                // A commit with a task id that went in is found committed when tried again.
                round.retain(|e| {
                    let again = e.commit.task_id.is_some() && attempt <= RETRIES;
                    if !again {
                        answers[e.at] = Some(Err(db(&error)));
                    }
                    again
                });
            }
        }
        round.extend(later);
        pending = round;
    }
    Ok(())
}

/// Splits off the commits that claim a key an earlier commit of `pending` claims too (a
/// task id, an object version, an idempotency key): they wait for a later round.
fn separate(pending: Vec<Entry<'_>>) -> (Vec<Entry<'_>>, Vec<Entry<'_>>) {
    let mut claimed: HashSet<(u8, &str, u64)> = HashSet::new();
    let (mut round, mut later) = (Vec::new(), Vec::new());
    for e in pending {
        let c = e.commit;
        let keys: Vec<(u8, &str, u64)> = c
            .task_id
            .iter()
            .map(|t| (0, t.as_str(), 0))
            .chain(c.versions.iter().map(|v| (1, v.id.as_str(), v.version)))
            .chain(c.idempotency.iter().map(|(k, _)| (2, k.as_str(), 0)))
            .collect();
        if keys.iter().any(|k| claimed.contains(k)) {
            later.push(e);
        } else {
            claimed.extend(keys);
            round.push(e);
        }
    }
    (round, later)
}

/// Sends one round: `BEGIN`, the statements of every commit, the notice of the objects it
/// writes (when `sharing` names them), `COMMIT`, and reads how it ended from their answers.
async fn run(client: &Object, s: &Statements, sharing: &Sharing, round: &[Entry<'_>]) -> Round {
    let now = now_ms();
    let mut parts = vec![Part::Begin];
    let mut writes: Vec<Write<'_>> =
        vec![Box::pin(async move { client.execute(&s.begin, &[]).await })];
    for (p, e) in round.iter().enumerate() {
        queue(client, s, p, e, now, &mut parts, &mut writes);
    }
    let written = round
        .iter()
        .flat_map(|e| e.commit.versions.iter().map(|v| &v.id));
    let notice = match round.iter().any(|e| !e.commit.versions.is_empty()) {
        true => sharing.notice(written),
        false => None,
    };
    if let Some(notice) = notice {
        parts.push(Part::Notice);
        writes.push(Box::pin(async move {
            client
                .execute(&s.notice, &[&notify::OBJECTS, &notice])
                .await
        }));
    }
    parts.push(Part::Commit);
    writes.push(Box::pin(
        async move { client.execute(&s.commit, &[]).await },
    ));
    let results = futures_util::future::join_all(writes).await;
    let mut lost = None;
    for (part, result) in parts.into_iter().zip(results) {
        match result {
            Ok(_) => {}
            Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {}
            // A statement refused, `COMMIT` itself included (a check deferred to it): the
            // transaction is rolled back. The server ending the session as it commits says
            // nothing of whether it did.
            Err(e)
                if e.as_db_error().is_some() && (part != Part::Commit || !connection_lost(&e)) =>
            {
                return Round::Refused(part, e)
            }
            Err(e) => {
                lost.get_or_insert(e);
            }
        }
    }
    match lost {
        None => Round::Committed,
        Some(e) => Round::Unknown(e),
    }
}

/// Adds the statements of the commit at place `p` of the round, in the order its failures
/// take precedence (as SQLite's store checks them): the locks, the task, the versions (and
/// the class of each new object), the key, the invocations, the memo.
fn queue<'a>(
    client: &'a Object,
    s: &'a Statements,
    p: usize,
    e: &'a Entry<'_>,
    now: i64,
    parts: &mut Vec<Part>,
    writes: &mut Vec<Write<'a>>,
) {
    let c = e.commit;
    for (i, id) in c.unlocked.iter().enumerate() {
        parts.push(Part::Lock(p, i));
        writes.push(Box::pin(async move {
            let id = id.as_str();
            client.execute(&s.lock, &[&locks::OBJECT_LOCKS, &id]).await
        }));
    }
    if let Some(task) = &c.task_id {
        parts.push(Part::Task(p));
        writes.push(Box::pin(async move {
            let task = task.as_str();
            client
                .execute(&s.task, &[&task, &c.task_result, &now])
                .await
        }));
    }
    for (i, (v, number)) in c.versions.iter().zip(&e.encoded.versions).enumerate() {
        parts.push(Part::Version(p, i));
        writes.push(Box::pin(async move {
            let task_id = v.task_id.as_ref().map(|t| t.as_str());
            client
                .execute(
                    &s.version,
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
    // Every object is created at version 1; later versions keep its class.
    for v in c.versions.iter().filter(|v| v.version == 1) {
        parts.push(Part::Rest(p));
        writes.push(Box::pin(async move {
            let id = v.id.as_str();
            client.execute(&s.class, &[&v.class, &id]).await
        }));
    }
    if let Some((key, inv)) = c.idempotency.as_ref().filter(|_| !e.key_bound) {
        parts.push(Part::Key(p));
        writes.push(Box::pin(async move {
            let inv = inv.as_str();
            client.execute(&s.key, &[key, &inv]).await
        }));
    }
    queue_invocations(client, s, p, e, parts, writes);
    if let (Some(key), Some(task)) = (&c.memo, &c.task_id) {
        parts.push(Part::Rest(p));
        writes.push(Box::pin(async move {
            let (key, task) = (key.as_str(), task.as_str());
            client.execute(&s.memo, &[&key, &task]).await
        }));
    }
}

/// Adds a commit's invocation upserts, then the deletion of what finished ones leave.
fn queue_invocations<'a>(
    client: &'a Object,
    s: &'a Statements,
    p: usize,
    e: &'a Entry<'_>,
    parts: &mut Vec<Part>,
    writes: &mut Vec<Write<'a>>,
) {
    let c = e.commit;
    let owner = c.lease.as_ref().map(|l| l.owner.as_str());
    let seconds = c.lease.as_ref().map(super::lease_seconds);
    for (inv, (request, error)) in c.invocations.iter().zip(&e.encoded.invocations) {
        parts.push(Part::Rest(p));
        writes.push(Box::pin(async move {
            let output_id = inv.output_id.as_ref().map(|o| o.as_str());
            client
                .execute(
                    &s.invocation,
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
    for inv in c
        .invocations
        .iter()
        .filter(|i| i.status != InvocationStatus::Pending)
    {
        parts.push(Part::Rest(p));
        writes.push(Box::pin(async move {
            let id = inv.id.as_str();
            client.execute(&s.forget, &[&id]).await
        }));
    }
}

/// The answer to a commit whose statement `part` the server refused, read from what other
/// transactions committed; `None` when its idempotency key turned out to be bound to its
/// own invocation already (it goes again without binding it).
async fn classify(
    client: &Object,
    part: Part,
    error: &tokio_postgres::Error,
    e: &Entry<'_>,
) -> Option<StoreResult<CommitOutcome>> {
    let c = e.commit;
    let taken = error.code() == Some(&SqlState::UNIQUE_VIOLATION);
    let answer = match part {
        Part::Lock(_, i) if error.code().map(SqlState::code) == Some(LOCK_HELD) => {
            Ok(CommitOutcome::Conflict(format!(
                "object {} is locked by a call through another runtime",
                c.unlocked[i]
            )))
        }
        Part::Task(_) if taken => match &c.task_id {
            Some(task) => first_result(client, task.as_str())
                .await
                .map(CommitOutcome::AlreadyCommitted),
            None => Err(db(error)),
        },
        Part::Version(_, i) if taken => Ok(CommitOutcome::Conflict(format!(
            "object {} already has version {}",
            c.versions[i].id, c.versions[i].version
        ))),
        Part::Key(_) if taken => match &c.idempotency {
            Some((key, inv)) => match key_owner(client, key).await {
                Ok(owner) if owner == inv.as_str() => return None,
                Ok(owner) => Ok(CommitOutcome::KeyTaken(InvocationId::from(owner))),
                Err(e) => Err(e),
            },
            None => Err(db(error)),
        },
        _ => Err(db(error)),
    };
    Some(answer)
}

/// The first result of a task committed before.
async fn first_result(client: &Object, task: &str) -> StoreResult<Option<Value>> {
    let stmt = client.prepare_cached(TASK_RESULT).await.map_err(db)?;
    get(&client.query_one(&stmt, &[&task]).await.map_err(db)?, 0)
}

/// The invocation an idempotency key is bound to.
async fn key_owner(client: &Object, key: &str) -> StoreResult<String> {
    let stmt = client.prepare_cached(KEY_OWNER).await.map_err(db)?;
    get(&client.query_one(&stmt, &[&key]).await.map_err(db)?, 0)
}
