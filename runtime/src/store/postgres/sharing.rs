//! Whether a runtime's transactions name the objects they write ([`notify::OBJECTS`]): only
//! while it has lately seen another runtime write objects it writes too.
//!
//! A notice is worth something only to a replica that holds a hint for one of the objects it
//! names (the version a `mut` call may start from without a read): it then forgets the
//! hint instead of wasting a container call on it and trying again. When a load balancer
//! sends each object's calls to one replica, no replica holds another's objects and every
//! notice is waste; and PostgreSQL writes a transaction's notices under one lock for the
//! whole database, held until that transaction has committed (WAL flush included), so
//! transactions that notify commit one after another, across every replica. So a runtime
//! starts quiet, and names what it writes for [`KEEP`] after it saw either sign that
//! another runtime writes the same objects:
//!
//! - one of its commits found an object's version taken, or its lock held, by another
//!   runtime (its hint was stale: a notice would have saved that call);
//! - another runtime's notice named an object it committed lately (that runtime is
//!   writing the same objects, and holds hints that this runtime's notices keep current).
//!
//! When calls are spread over replicas, the first conflict on either side starts the
//! notices and the notices that follow keep both sides naming; when they stop sharing
//! objects, the notices stop [`KEEP`] later. Being quiet costs nothing in correctness: a
//! commit from a stale hint finds its version taken and is made again on the newest.

use super::notify;
use crate::ids::ObjectId;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a runtime names what it writes after it last saw another write the same objects.
pub(super) const KEEP: Duration = Duration::from_secs(30);
/// Most objects remembered as committed lately (the set is emptied when full).
const MOST_RECENT: usize = 10_000;

/// What a runtime has seen of the others writing its objects, and its tag in notices.
pub(super) struct Sharing {
    /// This runtime's tag in the notices it sends.
    by: String,
    /// When this runtime started, the origin of `until`.
    start: Instant,
    /// Until when (milliseconds after `start`) commits name their objects; 0: not at all.
    until: AtomicU64,
    /// Objects this runtime committed lately.
    recent: Mutex<HashSet<ObjectId>>,
}

impl Sharing {
    /// A runtime tagged `by` in notices, quiet until it sees sharing.
    pub(super) fn new(by: String) -> Sharing {
        Sharing {
            by,
            start: Instant::now(),
            until: AtomicU64::new(0),
            recent: Mutex::new(HashSet::new()),
        }
    }

    /// This runtime's tag in notices.
    pub(super) fn by(&self) -> &str {
        &self.by
    }

    /// Whether a transaction committed now names the objects it writes.
    pub(super) fn naming(&self) -> bool {
        self.elapsed_ms() < self.until.load(Ordering::Relaxed)
    }

    /// Another runtime writes objects this one writes: name them for [`KEEP`] from now.
    pub(super) fn seen(&self) {
        let until = self.elapsed_ms() + KEEP.as_millis() as u64;
        self.until.fetch_max(until, Ordering::Relaxed);
    }

    /// A transaction of this runtime committed versions of `ids`.
    pub(super) fn committed<'a>(&self, ids: impl Iterator<Item = &'a ObjectId>) {
        if let Ok(mut recent) = self.recent.lock() {
            for id in ids {
                if recent.len() >= MOST_RECENT {
                    recent.clear();
                }
                if !recent.contains(id) {
                    recent.insert(id.clone());
                }
            }
        }
    }

    /// Another runtime's notice named `ids`: when one was committed here lately, the two
    /// write the same objects.
    pub(super) fn noticed(&self, ids: &[ObjectId]) {
        let shared = match self.recent.lock() {
            Ok(recent) => ids.iter().any(|id| recent.contains(id)),
            Err(_) => false,
        };
        if shared {
            self.seen();
        }
    }

    /// The notice of a transaction that wrote `ids`, when it names them.
    pub(super) fn notice<'a>(&self, ids: impl Iterator<Item = &'a ObjectId>) -> Option<String> {
        self.naming().then(|| notify::objects_notice(&self.by, ids))
    }

    fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<ObjectId> {
        names.iter().map(|n| ObjectId::from(*n)).collect()
    }

    #[test]
    fn a_runtime_names_nothing_until_it_sees_another_write_its_objects() {
        let sharing = Sharing::new("r1".into());
        let written = ids(&["a", "b"]);
        assert_eq!(sharing.notice(written.iter()), None);
        sharing.committed(written.iter());
        // A notice of objects this runtime never committed says nothing of sharing.
        sharing.noticed(&ids(&["c"]));
        assert!(!sharing.naming());
        // One naming an object it committed does.
        sharing.noticed(&ids(&["c", "b"]));
        assert!(sharing.naming());
        let notice = sharing.notice(written.iter()).unwrap();
        assert!(
            notice.contains("\"r1\"") && notice.contains("\"a\""),
            "{notice}"
        );
    }

    #[test]
    fn a_conflict_starts_the_notices_for_a_while() {
        let sharing = Sharing::new("r1".into());
        sharing.seen();
        assert!(sharing.naming());
        let until = sharing.until.load(Ordering::Relaxed);
        assert!(until >= KEEP.as_millis() as u64, "{until}");
        // Once the time has passed, it is quiet again.
        sharing.until.store(sharing.elapsed_ms(), Ordering::Relaxed);
        assert!(!sharing.naming());
    }
}
