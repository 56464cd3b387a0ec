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
//! one writer empties it. An earlier design wrote up to four commits at once in their
//! callers' tasks, beside four writers, which made more and smaller transactions: 1.42
//! transactions per call at concurrency 64 against 1.06 then, and a fifth to a quarter fewer
//! calls per second on one replica and no gain at concurrency 1 (bench/RESULTS.md). With
//! one group at the server at a time, though, a busy replica left a fifth of a two-core
//! machine idle while its calls waited for the group ahead; so a second group goes while
//! the first is at the server, but only once [`SECOND_GROUP_AT`] commits wait: groups stay
//! large, and a lone caller still goes at once. Two groups at the server together are as
//! two replicas' groups are: a commit is made only from a version already committed, and
//! keys both claim meet in the server's unique indexes.
//!

use super::pipeline::commit_all;
use super::sharing::Sharing;
use crate::store::{Commit, CommitOutcome, StoreError, StoreResult};
use deadpool_postgres::Pool;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most commits in one group.
const MOST_PER_GROUP: usize = 64;
/// Fewest commits queued for a second group to go to the server while one is there.
const SECOND_GROUP_AT: usize = 16;

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
    /// writes in notices as `sharing` says.
    pub(super) fn start(pool: Pool, sharing: Arc<Sharing>) -> Groups {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(pool, sharing, rx));
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

/// The writer: takes whatever is queued (waiting for one when nothing is) and writes it;
/// while that group is at the server, a second goes once [`SECOND_GROUP_AT`] commits wait
/// for it; until the queue closes and both are written.
async fn write_groups(
    pool: Pool,
    sharing: Arc<Sharing>,
    mut queue: mpsc::UnboundedReceiver<Waiting>,
) {
    let mut group = Vec::with_capacity(MOST_PER_GROUP);
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    while open || !group.is_empty() || !in_flight.is_empty() {
        let room = MOST_PER_GROUP - group.len();
        tokio::select! {
            n = queue.recv_many(&mut group, room), if open && room > 0 => open = n > 0,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            // Not reached: a group with nothing at the server is sent at once, so with the
            // queue closed or the group full something is always at the server.
            else => break,
        }
        if sends_now(in_flight.len(), group.len()) {
            in_flight.push(write(&pool, &sharing, std::mem::take(&mut group)));
        }
    }
}

/// Whether the commits queued (`queued`) go to the server now, with `in_flight` groups there.
fn sends_now(in_flight: usize, queued: usize) -> bool {
    match in_flight {
        0 => queued > 0,
        1 => queued >= SECOND_GROUP_AT,
        _ => false,
    }
}

/// Writes one group and answers each of its callers.
async fn write(pool: &Pool, sharing: &Sharing, group: Vec<Waiting>) {
    let commits: Vec<&Commit> = group.iter().map(|w| &w.commit).collect();
    let outcomes = commit_all(pool, sharing, &commits).await;
    for (w, outcome) in group.into_iter().zip(outcomes) {
        let _ = w.reply.send(outcome);
    }
}
