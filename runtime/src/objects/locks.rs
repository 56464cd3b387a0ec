//! The locks that order `mut` calls, one per object, pruned when idle.

use crate::ids::ObjectId;
use std::collections::HashMap;
use std::sync::Arc;

/// The per-object locks are pruned once there are this many, at the least.
const OBJECT_LOCKS_MIN: usize = 1024;

/// The locks that order `mut` calls, by object id.
pub struct ObjectLocks {
    by_id: HashMap<ObjectId, Arc<tokio::sync::Mutex<()>>>,
    /// Prune when `by_id` is this large (twice what was left last time, so pruning costs
    /// O(1) per call on average).
    prune_at: usize,
}

impl ObjectLocks {
    /// The lock of one object, pruning first if it is time.
    pub fn get(&mut self, id: &ObjectId) -> Arc<tokio::sync::Mutex<()>> {
        if self.by_id.len() >= self.prune_at {
            // A held or awaited lock has another owner besides the map.
            self.by_id.retain(|_, lock| Arc::strong_count(lock) > 1);
            self.prune_at = (2 * self.by_id.len()).max(OBJECT_LOCKS_MIN);
        }
        self.by_id.entry(id.clone()).or_default().clone()
    }
}

impl Default for ObjectLocks {
    fn default() -> Self {
        ObjectLocks {
            by_id: HashMap::new(),
            prune_at: OBJECT_LOCKS_MIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_object_locks_are_pruned_and_held_ones_kept() {
        let mut locks = ObjectLocks::default();
        let held = locks.get(&"held".into());
        let first = locks.get(&"held".into());
        assert!(Arc::ptr_eq(&held, &first), "one lock per object");
        drop(first);
        for i in 0..OBJECT_LOCKS_MIN * 3 {
            drop(locks.get(&format!("idle{i}").into()));
        }
        // Pruned on the way, down to what is in use, and never more than twice that plus
        // the minimum.
        assert!(
            locks.by_id.len() <= OBJECT_LOCKS_MIN + 1,
            "{}",
            locks.by_id.len()
        );
        assert!(
            Arc::ptr_eq(&held, &locks.get(&"held".into())),
            "a held lock is kept"
        );
    }
}
