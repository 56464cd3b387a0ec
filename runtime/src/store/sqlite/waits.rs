//! Signals and durable waits on SQLite: each a transaction of its own (`BEGIN IMMEDIATE`, so
//! it holds the write lock from its first read), on a connection of its own.

use super::{json_column, json_text, now_ms, open_reader, SqlError, SqliteStore};
use crate::ids::InvocationId;
use crate::store::{
    InvocationStatus, SignalOutcome, StoreError, StoreResult, WaitRequest, WaitState,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

/// The tables (made by the schema, so older files gain them when opened).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signals (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  invocation_id TEXT NOT NULL,
  name          TEXT NOT NULL,
  value         TEXT NOT NULL,
  received_at   INTEGER NOT NULL,
  taken_by      TEXT
);
CREATE INDEX IF NOT EXISTS signals_waiting ON signals (invocation_id, name, seq) WHERE taken_by IS NULL;
CREATE TABLE IF NOT EXISTS waits (
  task_id       TEXT PRIMARY KEY,
  invocation_id TEXT NOT NULL,
  signal        TEXT,
  due_at        INTEGER NOT NULL,
  state         TEXT NOT NULL,
  value         TEXT
);
CREATE INDEX IF NOT EXISTS signals_invocation ON signals (invocation_id);
CREATE INDEX IF NOT EXISTS waits_invocation ON waits (invocation_id);
";

impl SqliteStore {
    /// Runs `f` in an immediate transaction on a connection of its own, committed when it
    /// gives `Ok` (dropped, so rolled back, otherwise).
    async fn in_transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqlError> + Send + 'static,
    {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = open_reader(&path)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(SqlError::from)?;
            let out = f(&tx)?;
            tx.commit().map_err(SqlError::from)?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?
    }

    pub(super) async fn put_signal_impl(
        &self,
        invocation: &InvocationId,
        name: &str,
        value: &Value,
        max_waiting: usize,
    ) -> StoreResult<SignalOutcome> {
        let (id, name, value) = (invocation.to_string(), name.to_string(), json_text(value));
        self.in_transaction(move |c| {
            let status: Option<String> = c
                .query_row(
                    "SELECT status FROM invocations WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(status) = status else {
                return Ok(SignalOutcome::UnknownInvocation);
            };
            let status = InvocationStatus::parse(&status);
            if status != InvocationStatus::Pending {
                return Ok(SignalOutcome::Finished(status));
            }
            let waiting: i64 = c.query_row(
                "SELECT COUNT(*) FROM signals WHERE invocation_id = ?1 AND taken_by IS NULL",
                params![id],
                |r| r.get(0),
            )?;
            let waiting = usize::try_from(waiting).unwrap_or(usize::MAX);
            if waiting >= max_waiting {
                return Ok(SignalOutcome::TooMany(waiting));
            }
            c.execute(
                "INSERT INTO signals (invocation_id, name, value, received_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, value, now_ms()],
            )?;
            Ok(SignalOutcome::Stored)
        })
        .await
    }

    pub(super) async fn wait_impl(&self, r: &WaitRequest) -> StoreResult<WaitState> {
        let r = r.clone();
        self.in_transaction(move |c| {
            let now = now_ms();
            let ms = i64::try_from(r.ms).unwrap_or(i64::MAX);
            c.execute(
                "INSERT OR IGNORE INTO waits (task_id, invocation_id, signal, due_at, state) VALUES (?1, ?2, ?3, ?4, 'waiting')",
                params![r.task.as_str(), r.invocation.as_str(), r.signal, now.saturating_add(ms)],
            )?;
            let (state, value, due_at): (String, Option<String>, i64) = c.query_row(
                "SELECT state, value, due_at FROM waits WHERE task_id = ?1",
                params![r.task.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            match state.as_str() {
                "done" => return done(value),
                "timed_out" => return Ok(WaitState::TimedOut),
                _ => {}
            }
            if let Some(name) = &r.signal {
                let next: Option<(i64, String)> = c
                    .query_row(
                        "SELECT seq, value FROM signals WHERE invocation_id = ?1 AND name = ?2 AND taken_by IS NULL ORDER BY seq LIMIT 1",
                        params![r.invocation.as_str(), name],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                if let Some((seq, value)) = next {
                    c.execute(
                        "UPDATE signals SET taken_by = ?1 WHERE seq = ?2",
                        params![r.task.as_str(), seq],
                    )?;
                    c.execute(
                        "UPDATE waits SET state = 'done', value = ?1 WHERE task_id = ?2",
                        params![value, r.task.as_str()],
                    )?;
                    return done(Some(value));
                }
            }
            if now < due_at {
                let due_in_ms = u64::try_from(due_at - now).unwrap_or(0);
                return Ok(WaitState::Waiting { due_in_ms });
            }
            let (state, out) = r.when_due();
            c.execute(
                "UPDATE waits SET state = ?1 WHERE task_id = ?2",
                params![state, r.task.as_str()],
            )?;
            Ok(out)
        })
        .await
    }
}

/// A finished wait's value (null for a sleep).
fn done(value: Option<String>) -> Result<WaitState, SqlError> {
    let value = match value {
        Some(text) => json_column(&text, 1).map_err(SqlError::from)?,
        None => Value::Null,
    };
    Ok(WaitState::Done(value))
}
