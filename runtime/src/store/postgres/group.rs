//! Group commit: the commits that callers hand in while a transaction is being written wait
//! in a queue, and the next writer takes all of them into one transaction, one WAL flush
//! and one round trip ([`commit_all`]), as SQLite's single writer does. A commit that finds
//! its keys taken (a conflict, a task committed before, an idempotency key held) is
//! answered alone, and the rest of its group is written without it.
//!
//! A commit made while fewer than [`WRITERS`] commits are being written alone goes in at
//! once, in the caller's task, in a transaction of its own: with few callers there is
//! nothing to group, and a hop to a writer task cost a few milliseconds per call at
//! concurrency 1 (bench/RESULTS.md). Only commits beyond those wait for a group.
//!
//! A few writers run at once, each on a pooled connection, so a slow group does not hold
//! up the queue. A commit the server refuses for another reason (a value it will not store)
//! fails alone. When a group's `COMMIT` was sent but not answered, whether it was written is
//! unknown: commits of a task are tried again (their task id tells a second write from the
//! first), the others fail as a single commit would.

use super::pipeline::commit_all;
use crate::store::{Commit, CommitOutcome, StoreError, StoreResult};
use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Writers at once: connections of the store's pool that write groups.
const WRITERS: usize = 4;
/// Most commits in one group.
const MOST_PER_GROUP: usize = 64;

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
            return commit_all(&self.pool, &[&commit])
                .await
                .pop()
                .unwrap_or(Err(StoreError::Closed));
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
async fn write(pool: &Pool, group: Vec<Waiting>) {
    let commits: Vec<&Commit> = group.iter().map(|w| &w.commit).collect();
    let outcomes = commit_all(pool, &commits).await;
    for (w, outcome) in group.into_iter().zip(outcomes) {
        let _ = w.reply.send(outcome);
    }
}
