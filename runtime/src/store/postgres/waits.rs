//! Signals and durable waits on PostgreSQL: each one transaction; a stored signal notifies
//! every replica (`NOTIFY oaas_signals`, see [`super::notify`]). Each is one transaction that locks the rows it
//! decides on (the invocation for a signal, the wait row and the signal taken for a wait),
//! so replicas sending and taking signals at once take each one once. Times are the
//! database's clock, the same for every replica.

use super::{db, get, PostgresStore};
use crate::ids::InvocationId;
use crate::store::{InvocationStatus, SignalOutcome, StoreResult, WaitRequest, WaitState};
use serde_json::Value;
use tokio_postgres::types::Json;

/// Migration 3: the tables.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE signals (
  seq           BIGSERIAL PRIMARY KEY,
  invocation_id TEXT COLLATE "C" NOT NULL,
  name          TEXT NOT NULL,
  value         JSONB NOT NULL,
  received_at   BIGINT NOT NULL,
  taken_by      TEXT
);
CREATE INDEX signals_waiting ON signals (invocation_id, name, seq) WHERE taken_by IS NULL;
CREATE TABLE waits (
  task_id       TEXT PRIMARY KEY,
  invocation_id TEXT COLLATE "C" NOT NULL,
  signal        TEXT,
  due_at        BIGINT NOT NULL,
  state         TEXT NOT NULL,
  value         JSONB
);
"#;

/// The database's time in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

impl PostgresStore {
    pub(super) async fn put_signal_impl(
        &self,
        invocation: &InvocationId,
        name: &str,
        value: &Value,
        max_waiting: usize,
    ) -> StoreResult<SignalOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // The invocation's row, locked: signals to one invocation are counted one at a time,
        // and it cannot finish unseen in between.
        let row = tx
            .query_opt(
                "SELECT status FROM invocations WHERE id = $1 FOR UPDATE",
                &[&invocation.as_str()],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(SignalOutcome::UnknownInvocation);
        };
        let status = InvocationStatus::parse(&get::<String>(&row, 0)?);
        if status != InvocationStatus::Pending {
            return Ok(SignalOutcome::Finished(status));
        }
        let waiting: i64 = get(
            &tx.query_one(
                "SELECT COUNT(*) FROM signals WHERE invocation_id = $1 AND taken_by IS NULL",
                &[&invocation.as_str()],
            )
            .await
            .map_err(db)?,
            0,
        )?;
        let waiting = usize::try_from(waiting).unwrap_or(usize::MAX);
        if waiting >= max_waiting {
            return Ok(SignalOutcome::TooMany(waiting));
        }
        let sql = format!(
            "INSERT INTO signals (invocation_id, name, value, received_at) VALUES ($1, $2, $3, {NOW_MS})"
        );
        tx.execute(&sql, &[&invocation.as_str(), &name, &Json(value)])
            .await
            .map_err(db)?;
        // Every replica's waits look again once this commits (the one running the macro
        // takes the signal at once rather than at its next poll).
        tx.execute("SELECT pg_notify($1, '')", &[&super::notify::SIGNALS])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(SignalOutcome::Stored)
    }

    pub(super) async fn wait_impl(&self, r: &WaitRequest) -> StoreResult<WaitState> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let task = r.task.as_str();
        let ms = i64::try_from(r.ms).unwrap_or(i64::MAX);
        let insert = format!(
            "INSERT INTO waits (task_id, invocation_id, signal, due_at, state)
             VALUES ($1, $2, $3, {NOW_MS} + $4, 'waiting') ON CONFLICT (task_id) DO NOTHING"
        );
        tx.execute(&insert, &[&task, &r.invocation.as_str(), &r.signal, &ms])
            .await
            .map_err(db)?;
        let select = format!(
            "SELECT state, value, due_at, {NOW_MS} FROM waits WHERE task_id = $1 FOR UPDATE"
        );
        let row = tx.query_one(&select, &[&task]).await.map_err(db)?;
        let state: String = get(&row, 0)?;
        let value: Option<Json<Value>> = get(&row, 1)?;
        let (due_at, now): (i64, i64) = (get(&row, 2)?, get(&row, 3)?);
        match state.as_str() {
            "done" => return Ok(WaitState::Done(value.map(|v| v.0).unwrap_or(Value::Null))),
            "timed_out" => return Ok(WaitState::TimedOut),
            _ => {}
        }
        if let Some(name) = &r.signal {
            let next = tx
                .query_opt(
                    "SELECT seq, value FROM signals WHERE invocation_id = $1 AND name = $2 AND taken_by IS NULL
                     ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                    &[&r.invocation.as_str(), name],
                )
                .await
                .map_err(db)?;
            if let Some(next) = next {
                let seq: i64 = get(&next, 0)?;
                let value: Json<Value> = get(&next, 1)?;
                tx.execute(
                    "UPDATE signals SET taken_by = $1 WHERE seq = $2",
                    &[&task, &seq],
                )
                .await
                .map_err(db)?;
                tx.execute(
                    "UPDATE waits SET state = 'done', value = $1 WHERE task_id = $2",
                    &[&value, &task],
                )
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                return Ok(WaitState::Done(value.0));
            }
        }
        if now < due_at {
            tx.commit().await.map_err(db)?;
            let due_in_ms = u64::try_from(due_at - now).unwrap_or(0);
            return Ok(WaitState::Waiting { due_in_ms });
        }
        let (state, out) = r.when_due();
        tx.execute(
            "UPDATE waits SET state = $1 WHERE task_id = $2",
            &[&state, &task],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }
}
