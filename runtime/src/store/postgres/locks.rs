//! Per-object locks in PostgreSQL, so that `mut` calls on one object run one at a time
//! across every runtime on the database. Each is a session-level advisory lock
//! (`pg_advisory_lock(OBJECT_LOCKS, hashtext(id))`) taken on a connection of a pool of its
//! own and kept by that connection until the lock is let go: the call reads the newest
//! version, runs and commits while holding it. The pool is separate from the store's, so
//! calls holding locks can always get a connection to commit on.
//!
//! Two objects whose ids hash alike share a lock: they are then ordered together, which is
//! slower but never wrong. A lock whose connection breaks is let go by the server; the call
//! holding it then still cannot lose an update, since versions go in through the unique key
//! `(id, version)` and its commit would conflict.

use super::{db, pool_error, StoreError, StoreResult};
use deadpool_postgres::{Object, Pool};

/// The first key of every object lock: its own key space, apart from the one-key advisory
/// locks (such as the migrations') and from other applications' ("oa" in ASCII).
pub(super) const OBJECT_LOCKS: i32 = 0x6f61;
const LOCK: &str = "SELECT pg_advisory_lock($1, hashtext($2))";
const UNLOCK: &str = "SELECT pg_advisory_unlock($1, hashtext($2))";
/// Takes an object's lock until the end of the transaction if it is free, and raises
/// `OAAS1` if it is not (migration 7): a commit that must not pass a holder of the lock
/// ([`crate::store::Commit::unlocked`]).
pub(super) const TRY_IN_TRANSACTION: &str = "SELECT oaas_lock_for_commit($1, $2)";

/// An object's lock, held by a connection of the lock pool while this lives.
pub(super) struct HeldLock {
    client: Option<Object>,
    id: String,
}

/// Takes the lock on object `id`, waiting for whoever holds it. The wait runs in a task of
/// its own: should the caller stop waiting (its request went away), a lock granted later is
/// let go rather than left held by a pooled connection.
pub(super) async fn lock(pool: &Pool, id: &str) -> StoreResult<HeldLock> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (pool, id) = (pool.clone(), id.to_string());
    tokio::spawn(async move {
        let taken = take(&pool, id).await;
        // A caller gone: the lock, if taken, is dropped here, which lets it go.
        let _ = tx.send(taken);
    });
    rx.await.map_err(|_| StoreError::Closed)?
}

/// Takes the lock on a connection of `pool`, on another one when the first is found gone.
async fn take(pool: &Pool, id: String) -> StoreResult<HeldLock> {
    let mut attempt = 0;
    loop {
        let client = pool.get().await.map_err(pool_error)?;
        let result = match client.prepare_cached(LOCK).await {
            Ok(stmt) => client.execute(&stmt, &[&OBJECT_LOCKS, &id]).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => {
                return Ok(HeldLock {
                    client: Some(client),
                    id,
                })
            }
            Err(e) if super::connection_lost(&e) && attempt < super::RETRIES => {
                attempt += 1;
                drop(Object::take(client));
            }
            Err(e) => {
                // Whether the lock was granted is unknown: the session must not be reused.
                drop(Object::take(client));
                return Err(db(e));
            }
        }
    }
}

impl Drop for HeldLock {
    /// Lets the lock go from a task of its own, then gives the connection back to the pool;
    /// a connection that cannot let it go is closed instead, which lets it go too.
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(client));
            return;
        };
        let id = std::mem::take(&mut self.id);
        handle.spawn(async move {
            let unlocked = match client.prepare_cached(UNLOCK).await {
                Ok(stmt) => client.query_one(&stmt, &[&OBJECT_LOCKS, &id]).await,
                Err(e) => Err(e),
            };
            match unlocked.map(|row| row.try_get::<_, bool>(0)) {
                Ok(Ok(true)) => drop(client),
                other => {
                    tracing::warn!(object = %id, outcome = ?other.map(|r| r.is_ok()), "could not let an object lock go; closing its connection");
                    drop(Object::take(client));
                }
            }
        });
    }
}
