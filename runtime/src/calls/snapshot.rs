//! The versions of objects one macro run has read, so that its nodes read each object once:
//! a macro sees one version of every object it uses (the first it read of it) until one of
//! its own calls may have changed objects, after which the next node reads again. On the
//! PostgreSQL store this spares a round trip per node; on both stores a macro that reads
//! `self.x` and calls `self.f()` sees one version of `self` in both.

use crate::ids::ObjectId;
use crate::store::ObjectVersion;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Versions read by one macro run, keyed by object. A read that started before the
/// snapshot was last emptied is not kept: it may predate the change that emptied it.
#[derive(Default)]
pub struct Snapshot {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// How many times the snapshot was emptied.
    generation: u64,
    versions: HashMap<ObjectId, Arc<ObjectVersion>>,
}

/// A read about to start, for [`Snapshot::keep`].
#[derive(Clone, Copy, Debug)]
pub struct ReadStart(u64);

impl Snapshot {
    /// A snapshot holding `first` (the macro's own object, read when it was called).
    pub fn of(first: Option<&Arc<ObjectVersion>>) -> Snapshot {
        let snapshot = Snapshot::default();
        if let Some(v) = first {
            snapshot.lock().versions.insert(v.id.clone(), v.clone());
        }
        snapshot
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The version of `id` this run has seen, or the mark to [`keep`](Self::keep) the one it
    /// is about to read.
    pub fn get(&self, id: &ObjectId) -> Result<Arc<ObjectVersion>, ReadStart> {
        let inner = self.lock();
        match inner.versions.get(id) {
            Some(v) => Ok(v.clone()),
            None => Err(ReadStart(inner.generation)),
        }
    }

    /// Keeps `version`, read since `start`, unless the snapshot was emptied meanwhile.
    pub fn keep(&self, start: ReadStart, version: &Arc<ObjectVersion>) {
        let mut inner = self.lock();
        if inner.generation == start.0 {
            inner
                .versions
                .entry(version.id.clone())
                .or_insert_with(|| version.clone());
        }
    }

    /// Forgets every version: a call of this run may have changed objects.
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.versions.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(id: &str, n: u64) -> Arc<ObjectVersion> {
        Arc::new(ObjectVersion::new(id, "t.C", "p", n, json!({})))
    }

    #[test]
    fn a_read_is_kept_and_answers_later_nodes() {
        let s = Snapshot::of(Some(&version("a", 1)));
        assert_eq!(s.get(&ObjectId::from("a")).unwrap().version, 1);
        let start = s.get(&ObjectId::from("b")).unwrap_err();
        s.keep(start, &version("b", 4));
        assert_eq!(s.get(&ObjectId::from("b")).unwrap().version, 4);
    }

    #[test]
    fn a_read_begun_before_a_change_is_not_kept() {
        let s = Snapshot::of(None);
        let start = s.get(&ObjectId::from("b")).unwrap_err();
        s.forget();
        s.keep(start, &version("b", 1));
        assert!(s.get(&ObjectId::from("b")).is_err());
        let again = s.get(&ObjectId::from("b")).unwrap_err();
        s.keep(again, &version("b", 2));
        assert_eq!(s.get(&ObjectId::from("b")).unwrap().version, 2);
    }

    #[test]
    fn forgetting_empties_it() {
        let s = Snapshot::of(Some(&version("a", 1)));
        s.forget();
        assert!(s.get(&ObjectId::from("a")).is_err());
    }
}
