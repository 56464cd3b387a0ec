//! Leases: which replica drives which pending invocation. The replica that records an
//! invocation owns it from that commit ([`crate::store::Commit::lease`]); a background task
//! renews every lease it holds each third of the lease length and, each half, claims the
//! invocations whose lease expired (their replica died or lost the database) and resumes
//! them. An invocation this replica drives whose lease another replica took is stopped:
//! the call in flight is dropped and its outcome left to the new owner. One it holds but
//! runs nowhere (a claim whose answer was lost with its connection, an outcome that could
//! not be written) is run after two renewals.

use super::Invocations;
use crate::error::Error;
use crate::ids::InvocationId;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// The lease length by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Invocations claimed per statement.
pub(super) const CLAIM_BATCH: usize = 64;

/// Renewals in a row that must leave out an invocation this replica drives before it counts
/// as lost: one may have run just before the invocation's record was written.
const MISSES_TO_LOSE: u8 = 2;

/// One invocation this replica drives.
struct Entry {
    stop: Arc<Notify>,
    misses: u8,
}

/// The invocations this replica drives, by id.
#[derive(Default)]
pub(super) struct Driving(Arc<Mutex<HashMap<InvocationId, Entry>>>);

impl Driving {
    /// Starts driving `id`: `None` when this replica drives it already.
    pub(super) fn start(&self, id: &InvocationId) -> Option<Drive> {
        let mut set = self.0.lock().ok()?;
        if set.contains_key(id) {
            return None;
        }
        let stop = Arc::new(Notify::new());
        let entry = Entry {
            stop: stop.clone(),
            misses: 0,
        };
        set.insert(id.clone(), entry);
        Some(Drive {
            id: id.clone(),
            set: Arc::downgrade(&self.0),
            stop,
        })
    }

    /// Counts which driven invocations a renewal left out, and stops those lost; the held
    /// ones this replica does not drive.
    fn renewed(&self, held: &HashSet<InvocationId>) -> HashSet<InvocationId> {
        let Ok(mut set) = self.0.lock() else {
            return HashSet::new();
        };
        let undriven = held
            .iter()
            .filter(|id| !set.contains_key(*id))
            .cloned()
            .collect();
        for (id, entry) in set.iter_mut() {
            if held.contains(id) {
                entry.misses = 0;
                continue;
            }
            entry.misses = entry.misses.saturating_add(1);
            if entry.misses == MISSES_TO_LOSE {
                tracing::warn!(invocation = %id, "another replica took over this invocation; stopping it here");
                entry.stop.notify_one();
            }
        }
        undriven
    }
}

/// Held while this replica drives one invocation; dropping it ends that.
pub(super) struct Drive {
    id: InvocationId,
    set: Weak<Mutex<HashMap<InvocationId, Entry>>>,
    stop: Arc<Notify>,
}

impl Drive {
    /// Runs `f` unless the lease is lost first: then `None`, and `f` is dropped (the call
    /// in flight with it).
    pub(super) async fn until_lost<F: Future>(&self, f: F) -> Option<F::Output> {
        tokio::select! {
            out = f => Some(out),
            () = self.stop.notified() => None,
        }
    }
}

impl Drop for Drive {
    fn drop(&mut self) {
        if let Some(set) = self.set.upgrade() {
            if let Ok(mut set) = set.lock() {
                set.remove(&self.id);
            }
        }
    }
}

/// What the caller of an invocation that another replica took over is told.
pub(super) fn lost(id: &InvocationId) -> Error {
    Error::conflict(format!(
        "another replica took over invocation `{id}` when this one's lease on it expired; it finishes there"
    ))
    .with(json!({"invocation_id": id, "status_url": format!("/api/invocations/{id}")}))
}

impl Invocations {
    /// This replica's id (random per process start), the owner of its leases.
    pub fn replica(&self) -> &str {
        &self.lease.owner
    }

    /// Renews the leases of the invocations this replica drives, stops those another
    /// replica took, and runs those it holds without running them two renewals in a row (a
    /// claim whose answer was lost with its connection).
    async fn renew(self: &Arc<Self>) {
        let held = match self.store.renew_leases(&self.lease).await {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the leases of running invocations");
                return;
            }
        };
        let undriven = self.driving.renewed(&held);
        let orphans: Vec<InvocationId> = match self.undriven.lock() {
            Ok(mut before) => {
                let again = undriven.intersection(&before).cloned().collect();
                *before = undriven;
                again
            }
            Err(_) => Vec::new(),
        };
        for id in orphans {
            let Ok(Some(inv)) = self.store.invocation(&id).await else {
                continue;
            };
            if let Some(drive) = self.driving.start(&id) {
                self.spawn_resumed(inv, drive);
            }
        }
    }

    /// Starts the task that renews this replica's leases and takes over expired ones, until
    /// the invocations are dropped or the task is aborted.
    pub fn keep_leases(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::downgrade(self);
        let length = self.lease.duration;
        tokio::spawn(async move {
            use tokio::time::{interval_at, Instant, MissedTickBehavior};
            let every = |d: Duration| {
                let mut i = interval_at(Instant::now() + d, d.max(Duration::from_millis(10)));
                i.set_missed_tick_behavior(MissedTickBehavior::Delay);
                i
            };
            let (mut renew, mut claim) = (every(length / 3), every(length / 2));
            loop {
                let renewing = tokio::select! {
                    _ = renew.tick() => true,
                    _ = claim.tick() => false,
                };
                let Some(this) = this.upgrade() else { return };
                if renewing {
                    this.renew().await;
                } else if let Err(e) = this.resume().await {
                    tracing::warn!(error = %e, "cannot claim expired invocations");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::error::ErrorKind;
    use crate::ids::Target;
    use crate::store::InvocationStatus;
    use crate::testing::{new_object, request, world};

    #[tokio::test]
    async fn a_renewed_invocation_runs_on_and_one_left_out_twice_is_stopped() {
        let driving = Driving::default();
        let (kept, lost_one) = (InvocationId::new(), InvocationId::new());
        let (k, l) = (
            driving.start(&kept).unwrap(),
            driving.start(&lost_one).unwrap(),
        );
        assert!(driving.start(&kept).is_none(), "driven twice");
        let held: HashSet<InvocationId> = [kept.clone()].into();
        // One miss may be a record written just after the renewal: not lost yet.
        driving.renewed(&held);
        let pending = std::future::pending::<()>();
        let quick = tokio::time::timeout(Duration::from_millis(50), l.until_lost(pending));
        assert!(quick.await.is_err(), "stopped after one miss");
        driving.renewed(&held);
        assert_eq!(l.until_lost(std::future::pending::<()>()).await, None);
        assert_eq!(k.until_lost(async { 7 }).await, Some(7));
        drop(l);
        assert!(driving.start(&lost_one).is_some(), "dropping ends driving");
    }

    #[tokio::test]
    async fn a_macro_whose_lease_was_taken_stops_without_writing_an_outcome() {
        let w = world().await;
        let id = new_object(&w, 0).await;
        *w.invoker.delay.lock().unwrap() = Duration::from_millis(200);
        let inv = InvocationId::new();
        let run = {
            let (invocations, inv) = (w.invocations.clone(), inv.clone());
            let req = request(Target::Object(id), "bump3", json!({}));
            tokio::spawn(async move { invocations.rerun(inv, req).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Two renewals in a row without it: another replica holds it now.
        w.invocations.driving.renewed(&HashSet::new());
        w.invocations.driving.renewed(&HashSet::new());
        let e = run.await.unwrap().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
        assert_eq!(
            w.invoker.sent.lock().unwrap().len(),
            1,
            "a step after the loss"
        );
        let record = w.invocations.store.invocation(&inv).await.unwrap();
        assert!(
            record.is_none_or(|r| r.status == InvocationStatus::Pending),
            "this replica wrote an outcome"
        );
    }

    #[tokio::test]
    async fn an_invocation_held_here_but_run_nowhere_is_run_after_two_renewals() {
        let w = world().await;
        let id = new_object(&w, 0).await;
        let inv = InvocationId::new();
        let req = request(Target::Object(id.clone()), "bump3", json!({}));
        // Claimed by this replica, the answer lost: held, and run by no one.
        let commit = crate::store::Commit {
            invocations: vec![crate::store::Invocation::pending(inv.clone(), req, None)],
            lease: Some(w.invocations.lease.clone()),
            ..Default::default()
        };
        w.invocations.store.commit(commit).await.unwrap();
        w.invocations.renew().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            w.invoker.sent.lock().unwrap().is_empty(),
            "run after one renewal"
        );
        w.invocations.renew().await;
        let started = std::time::Instant::now();
        loop {
            let record = w.invocations.store.invocation(&inv).await.unwrap().unwrap();
            if record.status == InvocationStatus::Succeeded {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{record:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let obj = w.calls.objects.object(&id, None).await.unwrap();
        assert_eq!(obj.state["v"], 3);
    }
}
