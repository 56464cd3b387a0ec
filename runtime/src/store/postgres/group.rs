//! Group commit: the commits that callers hand in while a transaction is being written wait
//! in a queue, and the next writer takes all of them into one transaction, one WAL flush
//! and one round trip ([`commit_all`]), as SQLite's single writer does. A commit that finds
//! its keys taken (a conflict, a task committed before, an idempotency key held) is
//! answered alone, and the rest of its group is written without it. A commit the server
//! refuses for another reason (a value it will not store) fails alone. When a group's
//! `COMMIT` was sent but not answered, whether it was written is unknown: commits of a task
//! are tried again (their task id tells a second write from the first), the others fail as
//! a single commit would.
//!
//! Every commit goes through the queue, even with nothing to share its transaction, and
//! one writer empties it, on one pooled connection, as SQLite's single writer does. An
//! earlier design wrote up to four commits at once in their callers' tasks, beside four
//! writers, which made more and smaller transactions: 1.42 transactions per call at
//! concurrency 64 against 1.06 now, and a fifth to a quarter fewer calls per second on one
//! replica and no gain at concurrency 1 (bench/RESULTS.md). A large group holds the next
//! one up for as long as it takes to write, as it does on SQLite.
//!

use super::pipeline::commit_all;
use crate::store::{Commit, CommitOutcome, StoreError, StoreResult};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

/// Most commits in one group.
const MOST_PER_GROUP: usize = 64;

/// A commit waiting for its group, and where its outcome goes.
struct Waiting {
    commit: Commit,
    reply: oneshot::Sender<StoreResult<CommitOutcome>>,
}

/// The queue of commits and the writer that empties it. Dropping it lets the writer finish
/// what is queued and stop.
pub(super) struct Groups {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl Groups {
    /// Starts the writer on the current tokio runtime, over `pool`, naming the objects it
    /// writes in notices from `by`.
    pub(super) fn start(pool: Pool, by: String) -> Groups {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(pool, by, rx));
        Groups { queue }
    }

    /// Commits `commit` in the next group; its own outcome.
    pub(super) async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Waiting { commit, reply })
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// The writer: takes whatever is queued (waiting for one when nothing is), writes it, and
/// again, until the queue closes.
async fn write_groups(pool: Pool, by: String, mut queue: mpsc::UnboundedReceiver<Waiting>) {
    let mut group = Vec::with_capacity(MOST_PER_GROUP);
    while queue.recv_many(&mut group, MOST_PER_GROUP).await > 0 {
        write(&pool, &by, std::mem::take(&mut group)).await;
    }
}

/// Writes one group and answers each of its callers.
async fn write(pool: &Pool, by: &str, group: Vec<Waiting>) {
    let commits: Vec<&Commit> = group.iter().map(|w| &w.commit).collect();
    let outcomes = commit_all(pool, by, &commits).await;
    for (w, outcome) in group.into_iter().zip(outcomes) {
        let _ = w.reply.send(outcome);
    }
}
