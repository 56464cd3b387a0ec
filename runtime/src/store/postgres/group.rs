//! Group commit: the commits that callers hand in while a transaction is being written wait
//! in a queue, and the next writer takes all of them into one transaction, one WAL flush
//! and one `COMMIT` round trip, as SQLite's single writer does. Each commit of a group runs
//! after a savepoint of its own, so one that finds its keys taken (a conflict, a task
//! committed before, an idempotency key held) is rolled back alone and answered alone.
//!
//! A commit made while fewer than [`WRITERS`] commits are being written alone goes in at
//! once, in the caller's task, in a transaction of its own: with few callers there is
//! nothing to group, and a hop to a writer task cost a few milliseconds per call at
//! concurrency 1 (bench/RESULTS.md). Only commits beyond those wait for a group.
//!
//! A few writers run at once, each on a pooled connection, so a slow group does not hold
//! up the queue. A group the server refuses for another reason (a value it will not store)
//! is taken apart: each commit is then tried alone, and only the one at fault fails. A
//! group whose `COMMIT` was sent but not answered fails as a whole, since whether it was
//! written is unknown; callers learn that as they would of a single commit.

use super::{
    apply_commit, commit_alone, connection_lost, db, pool_error, retryable, Encoded, RETRIES,
};
use crate::store::{Commit, CommitOutcome, StoreError, StoreResult};
use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Writers at once: connections of the store's pool that write groups.
const WRITERS: usize = 4;
/// Most commits in one group.
const MOST_PER_GROUP: usize = 64;
/// The savepoint set before each commit of a group.
const SAVEPOINT: &str = "commit_in_group";

/// A commit waiting for its group, and where its outcome goes.
struct Waiting {
    commit: Commit,
    reply: oneshot::Sender<StoreResult<CommitOutcome>>,
}

/// The queue of commits and the writers that empty it. Dropping it lets the writers finish
/// what is queued and stop.
pub(super) struct Groups {
    queue: mpsc::UnboundedSender<Waiting>,
    pool: Pool,
    /// Commits being written alone, in their callers' tasks.
    alone: Arc<AtomicUsize>,
}

/// One commit written alone, counted while it lives.
struct Alone(Arc<AtomicUsize>);

impl Drop for Alone {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Groups {
    /// Starts the writers on the current tokio runtime, over `pool`.
    pub(super) fn start(pool: Pool) -> Groups {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(write_groups(pool.clone(), rx.clone()));
        }
        Groups {
            queue,
            pool,
            alone: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Commits `commit` in the next group; its own outcome.
    pub(super) async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        if self.alone.fetch_add(1, Ordering::AcqRel) < WRITERS {
            let _counted = Alone(self.alone.clone());
            return commit_alone(&self.pool, &commit).await;
        }
        self.alone.fetch_sub(1, Ordering::AcqRel);
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Waiting { commit, reply })
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// One writer: takes whatever is queued (waiting for one when nothing is), writes it, and
/// again, until the queue closes.
async fn write_groups(pool: Pool, queue: Arc<Mutex<mpsc::UnboundedReceiver<Waiting>>>) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < MOST_PER_GROUP {
                match queue.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            group
        };
        write(&pool, group).await;
    }
}

/// Writes one group and answers each of its callers.
async fn write(pool: &Pool, mut group: Vec<Waiting>) {
    if group.len() == 1 {
        if let Some(w) = group.pop() {
            let _ = w.reply.send(commit_alone(pool, &w.commit).await);
        }
        return;
    }
    match commit_group(pool, &group).await {
        Ok(outcomes) => {
            for (w, outcome) in group.into_iter().zip(outcomes) {
                let _ = w.reply.send(outcome);
            }
        }
        Err(Refused::MaybeCommitted(e)) => {
            for w in group {
                let _ = w.reply.send(Err(db(&e)));
            }
        }
        Err(Refused::NoConnection(e)) => {
            for w in group {
                let _ = w.reply.send(Err(e.clone()));
            }
        }
        Err(Refused::Other(e)) => {
            tracing::debug!(error = %db(&e), size = group.len(), "a group of commits was refused; committing each alone");
            for w in group {
                let outcome = commit_alone(pool, &w.commit).await;
                let _ = w.reply.send(outcome);
            }
        }
    }
}

/// Why a group did not commit.
enum Refused {
    /// `COMMIT` was sent and not answered: written or not, nobody knows.
    MaybeCommitted(tokio_postgres::Error),
    /// Surely not written, and not worth trying again as a group.
    Other(tokio_postgres::Error),
    /// No connection to write it on.
    NoConnection(StoreError),
}

/// Commits a group in one transaction, each commit after a savepoint of its own; tried again
/// as [`commit_alone`] tries one commit. The outcome of each, in order.
async fn commit_group(
    pool: &Pool,
    group: &[Waiting],
) -> Result<Vec<StoreResult<CommitOutcome>>, Refused> {
    let encoded: Vec<StoreResult<Encoded>> =
        group.iter().map(|w| Encoded::new(&w.commit)).collect();
    let mut attempt = 0;
    loop {
        let mut client = pool
            .get()
            .await
            .map_err(|e| Refused::NoConnection(pool_error(e)))?;
        match try_group(&mut client, group, &encoded).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(Refused::Other(e)) if attempt < RETRIES && connection_lost(&e) => {
                attempt += 1;
                drop(deadpool_postgres::Object::take(client));
            }
            Err(Refused::Other(e)) if attempt < RETRIES && retryable(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            }
            Err(refused) => return Err(refused),
        }
    }
}

/// One attempt at a group.
async fn try_group(
    client: &mut deadpool_postgres::Client,
    group: &[Waiting],
    encoded: &[StoreResult<Encoded>],
) -> Result<Vec<StoreResult<CommitOutcome>>, Refused> {
    let tx = client.transaction().await.map_err(Refused::Other)?;
    let mut outcomes = Vec::with_capacity(group.len());
    for (w, encoded) in group.iter().zip(encoded) {
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                // Refused before anything was sent.
                outcomes.push(Err(e.clone()));
                continue;
            }
        };
        // One name for every commit's savepoint: a rollback goes back to the newest, this
        // commit's own (and the name's statement is prepared once per connection).
        let outcome = apply_commit(&tx, &w.commit, encoded, Some(SAVEPOINT))
            .await
            .map_err(Refused::Other)?;
        if !matches!(outcome, Ok(CommitOutcome::Committed)) {
            tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))
                .await
                .map_err(Refused::Other)?;
        }
        outcomes.push(outcome);
    }
    tx.commit().await.map_err(Refused::MaybeCommitted)?;
    Ok(outcomes)
}
