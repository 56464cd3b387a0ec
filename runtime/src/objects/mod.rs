//! Objects: deployed packages (the registry), object versions read through a cache of the
//! newest ones, the locks that order `mut` calls per object, views of objects as callers may
//! see them, their files, and commits of new versions that keep the cache true.

pub mod locks;
pub mod registry;
pub mod results;
pub mod view;

use crate::access::{self, Caller, Member};
use crate::blobs::{file_key, Blobs, URL_TTL_S};
use crate::error::{Error, Result};
use crate::ids::{MemoKey, ObjectId, TaskId};
use crate::store::{
    now_ms, Commit, CommitOutcome, FieldFilter, ObjectLock, ObjectVersion, PackageRecord, Store,
};
use crate::values;
use oaas_compiler::artifact::{Artifact, ClassArtifact};
use registry::{ClassHandle, Registry};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// Most objects the cache of newest versions holds before it is emptied.
const CACHE_LIMIT: usize = 100_000;

/// Where to read one file of an object version.
#[derive(Clone, Debug)]
pub struct FileUrl {
    /// A signed, expiring URL that answers with the file's media type.
    pub url: String,
    /// The blob key.
    pub key: String,
    /// The media type its class declares, if any.
    pub media_type: Option<String>,
}

/// The most objects one page of a class's objects holds (`limit`).
pub const MAX_PAGE: usize = 1000;

/// A page size a client asked for, if it is between 1 and `max` (a `400` otherwise): a
/// client never sets how much one request reads.
pub fn page_size(limit: usize, max: usize) -> Result<usize> {
    match (1..=max).contains(&limit) {
        true => Ok(limit),
        false => Err(Error::bad_request(format!(
            "`limit` must be between 1 and {max}"
        ))),
    }
}

/// A page of a class's objects.
#[derive(Clone, Debug)]
pub struct Page {
    /// Object views.
    pub items: Vec<Value>,
    /// The id to continue after, when the page was full.
    pub next_after: Option<ObjectId>,
}

/// The turn of a `mut` call on one object: held while the call runs, from before it reads
/// the newest version until after it commits the next. It holds this process's lock on the
/// object and, on a store other processes share, the store's lock too unless the turn is
/// optimistic ([`Claim::Optimistic`]); the store's is let go first.
#[derive(Default)]
pub struct Turn {
    _shared: Option<ObjectLock>,
    _local: Option<OwnedMutexGuard<()>>,
    optimistic: bool,
}

impl Turn {
    /// Whether the turn holds no lock of a shared store: another process may have written
    /// the object since, and the call's commit then conflicts; it is made again with
    /// [`Claim::Locked`].
    pub fn optimistic(&self) -> bool {
        self.optimistic
    }
}

/// How a `mut` call waits for its object on a store other processes share (on a store this
/// process alone writes, its own lock is all there is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// On this process's lock only, on the newest version this process wrote or read: no
    /// store lock to take and no read, the common case when one replica serves an object.
    /// Nothing can be lost: the next version's number is a unique key, so a commit after
    /// another process's write conflicts and writes nothing.
    Optimistic,
    /// On the store's lock too, on the newest version read from the store under it.
    Locked,
}

/// Objects and packages.
pub struct Objects {
    store: Arc<dyn Store>,
    /// File blobs.
    pub blobs: Arc<Blobs>,
    /// Deployed packages.
    pub registry: Registry,
    /// The newest version of objects read or written here, so calls need not read the store
    /// each time. Current only for a store this process alone writes (SQLite), where it
    /// cannot go stale; on a shared store every read of a newest version goes to the store,
    /// and this is only the hint optimistic turns start from.
    latest: Mutex<HashMap<ObjectId, Arc<ObjectVersion>>>,
    /// Whether `latest` is used: the store is not shared.
    caching: bool,
    locks: Mutex<locks::ObjectLocks>,
}

impl Objects {
    /// Objects over a store and a blob folder.
    pub fn new(store: Arc<dyn Store>, blobs: Arc<Blobs>) -> Objects {
        Objects {
            caching: !store.shared(),
            store,
            blobs,
            registry: Registry::default(),
            latest: Mutex::new(HashMap::new()),
            locks: Mutex::new(locks::ObjectLocks::default()),
        }
    }

    /// The store under the objects.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Loads every deployed package from the store (after a restart, or when another runtime
    /// on a shared store deployed one), in the order they were deployed, so the newest of
    /// each package is current. Versions loaded before are not parsed again.
    pub async fn load_packages(&self) -> Result<usize> {
        let packages = self.store.packages().await?;
        let n = packages.len();
        for p in packages {
            let artifact = match self.registry.version(&p.version) {
                Some(a) => a,
                None => match Artifact::from_json(&p.artifact) {
                    Ok(a) => Arc::new(a),
                    Err(e) => {
                        tracing::warn!(version = %p.version, error = %e, "skipping a stored package");
                        continue;
                    }
                },
            };
            self.registry.insert(artifact, p.workdir.map(PathBuf::from));
        }
        Ok(n)
    }

    /// Deploys an artifact: stored durably, then current for its packages. Deploying the same
    /// version again changes nothing.
    pub async fn deploy(
        &self,
        artifact: Artifact,
        workdir: Option<PathBuf>,
    ) -> Result<Arc<Artifact>> {
        let record = PackageRecord {
            version: artifact.version.clone(),
            names: artifact.packages.iter().map(|p| p.name.clone()).collect(),
            artifact: artifact.to_json(),
            deployed_at: now_ms(),
            workdir: workdir.as_ref().map(|d| d.to_string_lossy().into_owned()),
        };
        self.store.put_package(record).await?;
        let artifact = Arc::new(artifact);
        self.registry.insert(artifact.clone(), workdir);
        Ok(artifact)
    }

    /// The artifact and class of a stored object.
    pub fn class_of_object(&self, obj: &ObjectVersion) -> Result<(Arc<Artifact>, ClassHandle)> {
        let artifact = self.registry.version(&obj.package_version).ok_or_else(|| {
            Error::internal(format!(
                "package version {} of object {} is not loaded",
                obj.package_version, obj.id
            ))
        })?;
        let class = ClassHandle::find(&artifact, &obj.class).ok_or_else(|| {
            Error::internal(format!("class {} is missing from its package", obj.class))
        })?;
        Ok((artifact, class))
    }

    /// Finds a class in the current packages.
    pub fn find_class(&self, name: &str) -> Result<(Arc<Artifact>, ClassHandle)> {
        let (artifact, qualified) = self.registry.class(name).ok_or_else(|| {
            let near = oaas_compiler::check::suggest::did_you_mean(
                self.registry.closest_class(name).as_deref(),
            );
            Error::not_found(format!(
                "there is no class `{name}` in the deployed packages{near} (give it as `package.Class`)"
            ))
        })?;
        let class = ClassHandle::find(&artifact, &qualified)
            .ok_or_else(|| Error::not_found(format!("no class `{name}`")))?;
        Ok((artifact, class))
    }

    /// Finds a class in the current packages, like [`Objects::find_class`]; on a shared
    /// store, a class not found is looked for again after reading the packages, since a
    /// deploy through another runtime may not have been noticed here yet.
    pub async fn find_class_now(&self, name: &str) -> Result<(Arc<Artifact>, ClassHandle)> {
        match self.find_class(name) {
            Err(_) if !self.caching => {
                self.load_packages().await?;
                self.find_class(name)
            }
            found => found,
        }
    }

    /// Reads an object (newest version, or the given one); deleted objects are 404 unless a
    /// version is asked for. Versions are immutable, so the newest one is shared with the
    /// cache, not copied.
    pub async fn object(&self, id: &ObjectId, version: Option<u64>) -> Result<Arc<ObjectVersion>> {
        let cached = match version {
            None if self.caching => self.latest.lock().ok().and_then(|c| c.get(id).cloned()),
            _ => None,
        };
        let found = match cached {
            Some(o) => Some(o),
            None => {
                let o = self.store.object(id, version).await?.map(Arc::new);
                if let (None, Some(o)) = (version, &o) {
                    self.remember(o);
                }
                o
            }
        };
        let obj = found.ok_or_else(|| match version {
            Some(v) => Error::not_found(format!("object `{id}` has no version {v}")),
            None => self.no_object(id),
        })?;
        if !self.caching && self.registry.version(&obj.package_version).is_none() {
            // Written under a package deployed through another runtime, whose notice has
            // not come yet.
            self.load_packages().await?;
        }
        if obj.deleted && version.is_none() {
            return Err(Error::not_found(format!(
                "object `{id}` was deleted (its earlier versions stay readable with ?version=)"
            )));
        }
        self.see_uploads(&obj).await;
        Ok(obj)
    }

    /// The `404` for an object id that names no object; an id that is a class's name (a
    /// class call written like an object call, `Record:fn(...)`) is told how to call it.
    fn no_object(&self, id: &ObjectId) -> Error {
        let hint = match self.registry.class(id.as_str()) {
            Some((_, class)) => format!(
                " (`{id}` is the class `{class}`: a class's functions are called as `{id}.fn(...)`, an object's as `OBJECT_ID:fn(...)`)"
            ),
            None => String::new(),
        };
        Error::not_found(format!("there is no object `{id}`{hint}"))
    }

    /// Asks a bucket about the files of `obj` uploaded to its own upload URLs that the
    /// runtime has not seen yet, so that [`Objects::effective_files`] shows them; not after
    /// the object was deleted. A folder is asked directly when a view is made, so there is
    /// nothing to do for it.
    async fn see_uploads(&self, obj: &ObjectVersion) {
        if !self.blobs.in_bucket() {
            return;
        }
        let Ok((_, class)) = self.class_of_object(obj) else {
            return;
        };
        let unseen: Vec<String> = class
            .files
            .iter()
            .filter(|f| !obj.files.contains_key(&f.name))
            .map(|f| file_key(&obj.id, obj.version, &f.name))
            .filter(|k| !self.blobs.is_uploaded(k))
            .collect();
        if unseen.is_empty() || self.is_deleted(obj).await {
            return;
        }
        self.blobs.refresh(unseen).await;
    }

    /// Whether the object of `obj` is deleted by now: a bucket takes uploads to a deleted
    /// object's URLs, which the runtime then does not count.
    async fn is_deleted(&self, obj: &ObjectVersion) -> bool {
        if obj.deleted {
            return true;
        }
        let cached = match self.caching {
            true => self
                .latest
                .lock()
                .ok()
                .and_then(|c| c.get(&obj.id).cloned()),
            false => None,
        };
        match cached {
            Some(newest) => newest.deleted,
            None => matches!(self.store.object(&obj.id, None).await, Ok(Some(n)) if n.deleted),
        }
    }

    /// Every version of an object, oldest first, as the outside sees them, each with the `task_id` that wrote it.
    pub async fn history(&self, id: &ObjectId) -> Result<Vec<Value>> {
        let history = self.store.history(id).await?;
        if history.is_empty() {
            return Err(self.no_object(id));
        }
        for o in &history {
            self.see_uploads(o).await;
        }
        Ok(history
            .iter()
            .map(|o| {
                let mut v = match self.class_of_object(o) {
                    Ok((_, c)) => self.view(o, &c, Caller::External),
                    Err(_) => json!({"id": o.id, "version": o.version}),
                };
                // The task that wrote the version: its invocation is the part before the
                // first `.`, so a client can link each version to the call that made it.
                v["task_id"] = json!(o.task_id);
                v
            })
            .collect())
    }

    /// The files of an object version: those it records, plus files uploaded afterwards to
    /// the version's own upload URLs (`new` hands those out; the upload completes the version).
    pub fn effective_files(
        &self,
        obj: &ObjectVersion,
        class: &ClassArtifact,
    ) -> BTreeMap<String, String> {
        let mut files = obj.files.clone();
        for f in &class.files {
            if !files.contains_key(&f.name) {
                let key = file_key(&obj.id, obj.version, &f.name);
                if self.blobs.is_uploaded(&key) {
                    files.insert(f.name.clone(), key);
                }
            }
        }
        files
    }

    /// An object as `caller` sees it: only what it may read.
    pub fn view(&self, obj: &ObjectVersion, class: &ClassArtifact, caller: Caller) -> Value {
        view::object(obj, class, &self.effective_files(obj, class), caller)
    }

    /// The object at `id` (a version of it) as the outside sees it.
    pub async fn external_view(&self, id: &ObjectId, version: Option<u64>) -> Result<Value> {
        let obj = self.object(id, version).await?;
        let (_, class) = self.class_of_object(&obj)?;
        Ok(self.view(&obj, &class, Caller::External))
    }

    /// Signed upload URLs for the files of a class on a new object version that `caller`
    /// may reach (the outside gets none for `private` or `internal` files).
    pub fn upload_urls(
        &self,
        class: &ClassArtifact,
        id: &ObjectId,
        version: u64,
        caller: Caller,
    ) -> Map<String, Value> {
        class
            .files
            .iter()
            .filter(|f| access::allows(caller, f.access))
            .map(|f| {
                let url = self
                    .blobs
                    .sign_upload(&file_key(id, version, &f.name), URL_TTL_S);
                (f.name.clone(), Value::from(url))
            })
            .collect()
    }

    /// Signed read URLs of an object version's files, by name: `{"url", "media_type"}`.
    pub fn read_urls(&self, obj: &ObjectVersion, class: &ClassArtifact) -> Map<String, Value> {
        self.effective_files(obj, class)
            .iter()
            .map(|(name, key)| {
                let media = class
                    .files
                    .iter()
                    .find(|f| &f.name == name)
                    .and_then(|f| f.media_type.clone());
                let url = self.blobs.sign_read(key, URL_TTL_S, None);
                (name.clone(), json!({"url": url, "media_type": media}))
            })
            .collect()
    }

    /// A signed URL to read one file of an object.
    pub async fn file_url(
        &self,
        id: &ObjectId,
        name: &str,
        version: Option<u64>,
        caller: Caller,
    ) -> Result<FileUrl> {
        let obj = self.object(id, version).await?;
        let (_, class) = self.class_of_object(&obj)?;
        let decl = class.files.iter().find(|f| f.name == name).ok_or_else(|| {
            Error::not_found(format!("class `{}` has no file `{name}`", class.name))
        })?;
        access::check(caller, &class, Member::File, name, decl.access)?;
        let files = self.effective_files(&obj, &class);
        let key = files.get(name).ok_or_else(|| {
            Error::not_found(format!(
                "file `{name}` of object `{id}` has not been uploaded"
            ))
        })?;
        let media_type = decl.media_type.clone();
        Ok(FileUrl {
            url: self.blobs.sign_read(key, URL_TTL_S, media_type.as_deref()),
            key: key.clone(),
            media_type,
        })
    }

    /// Lists the objects of a class, as the outside sees them.
    pub async fn list(
        &self,
        class: &str,
        filters: Vec<FieldFilter>,
        after: Option<ObjectId>,
        limit: usize,
    ) -> Result<Page> {
        let (artifact, class) = self.find_class(class)?;
        for f in &filters {
            let field = class
                .state
                .iter()
                .find(|s| s.name == f.field)
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "class `{}` has no state field `{}` to filter on",
                        class.name, f.field
                    ))
                })?;
            access::check(
                Caller::External,
                &class,
                Member::State,
                &f.field,
                field.access,
            )?;
            values::check(&artifact, &f.value, &field.ty)
                .map_err(|e| Error::bad_request(format!("filter `{}`: {e}", f.field)))?;
        }
        let limit = page_size(limit, MAX_PAGE)?;
        let objects = self
            .store
            .list(&class.qualified, &filters, after.as_ref(), limit)
            .await?;
        for o in &objects {
            self.see_uploads(o).await;
        }
        let next_after = if objects.len() == limit {
            objects.last().map(|o| o.id.clone())
        } else {
            None
        };
        let items = objects
            .iter()
            .map(|o| match self.class_of_object(o) {
                Ok((_, c)) => self.view(o, &c, Caller::External),
                Err(_) => json!({"id": o.id, "class": o.class, "version": o.version}),
            })
            .collect();
        Ok(Page { items, next_after })
    }

    /// Waits for the turn of a call on `object`: `mut` calls on one object run one at a time
    /// (tokio's mutex serves this process's waiters in order; a shared store's lock orders
    /// the processes, unless `claim` is optimistic), each on the newest version, which is
    /// returned with the turn. Other calls go at once, on the version they were given.
    pub async fn take_turn(
        &self,
        object: Option<Arc<ObjectVersion>>,
        mutates: bool,
        claim: Claim,
    ) -> Result<(Turn, Option<Arc<ObjectVersion>>)> {
        let o = match (object, mutates) {
            (Some(o), true) => o,
            (o, _) => return Ok((Turn::default(), o)),
        };
        let lock = match self.locks.lock() {
            Ok(mut locks) => locks.get(&o.id),
            Err(p) => p.into_inner().get(&o.id),
        };
        let local = lock.lock_owned().await;
        if self.caching || claim == Claim::Locked {
            let shared = self.store.lock_object(&o.id).await?;
            // Read after the lock is held: on a shared store, from the store itself.
            let newest = self.object(&o.id, None).await?;
            let turn = Turn {
                _shared: shared,
                _local: Some(local),
                optimistic: false,
            };
            return Ok((turn, Some(newest)));
        }
        let newest = self.newest_known(o)?;
        let turn = Turn {
            _shared: None,
            _local: Some(local),
            optimistic: true,
        };
        Ok((turn, Some(newest)))
    }

    /// The newer of `read` (the version a call was resolved on) and the newest version this
    /// process committed or read of the same object: on a shared store, a hint that the
    /// commit checks.
    fn newest_known(&self, read: Arc<ObjectVersion>) -> Result<Arc<ObjectVersion>> {
        let known = self
            .latest
            .lock()
            .ok()
            .and_then(|c| c.get(&read.id).cloned());
        let newest = match known {
            Some(k) if k.version > read.version => k,
            _ => read,
        };
        if newest.deleted {
            return Err(Error::not_found(format!(
                "object `{}` was deleted (its earlier versions stay readable with ?version=)",
                newest.id
            )));
        }
        Ok(newest)
    }

    /// Waits for the turn of the calls of an `@memo` function with the inputs of `key`:
    /// one at a time, in this process and (on a shared store) across processes, so that
    /// identical calls at once run one container and the others find its recorded result.
    pub async fn memo_turn(&self, key: &MemoKey) -> Result<Turn> {
        // A lock of the object-lock kind, under a name no object id has.
        let id = ObjectId::from(format!("memo:{key}"));
        let lock = match self.locks.lock() {
            Ok(mut locks) => locks.get(&id),
            Err(p) => p.into_inner().get(&id),
        };
        let local = lock.lock_owned().await;
        let shared = self.store.lock_object(&id).await?;
        Ok(Turn {
            _shared: shared,
            _local: Some(local),
            optimistic: false,
        })
    }

    /// The result recorded under a memo key, as callers see it.
    pub async fn memo_result(&self, key: &MemoKey) -> Result<Option<Value>> {
        Ok(match self.store.memo(key).await? {
            Some((_, Some(v))) => Some(self.expand_result(v).await),
            Some((_, None)) => Some(Value::Null),
            None => None,
        })
    }

    /// A task's committed result, if it committed before, as callers see it.
    pub async fn committed_result(&self, task: &TaskId) -> Result<Option<Value>> {
        Ok(match self.store.task_result(task).await? {
            Some(Some(v)) => Some(self.expand_result(v).await),
            Some(None) => Some(Value::Null),
            None => None,
        })
    }

    /// Commits a task's outcome once; a conflict or earlier commit is resolved here.
    /// Answers the task's result: this commit's, or the first commit's of the same task.
    pub async fn commit(&self, mut commit: Commit) -> Result<Option<Value>> {
        // An object the same commit writes is stored once: the result refers to it.
        let result = commit.task_result.take();
        commit.task_result = result
            .as_ref()
            .map(|r| results::compact(r, &commit.versions));
        // Remembered once written, never before: a call that takes its hint meanwhile
        // ([`Objects::hint`], read without the object's turn) must not start from a version
        // that may yet be refused, since its number would then be free for that call to take.
        let written = commit.versions.clone();
        let outcome = self.store.commit(commit).await;
        if let Ok(CommitOutcome::Committed) = outcome {
            written.iter().for_each(|v| self.remember(v));
        } else {
            // What was known of them may be old (a conflict says so): read them again.
            self.forget(written.iter().map(|v| &v.id));
        }
        match outcome? {
            CommitOutcome::Committed => Ok(result),
            CommitOutcome::AlreadyCommitted(Some(first)) => {
                Ok(Some(self.expand_result(first).await))
            }
            CommitOutcome::AlreadyCommitted(None) => Ok(None),
            CommitOutcome::Conflict(why) => Err(Error::conflict(format!(
                "the object changed under this call ({why}); call again"
            ))),
            CommitOutcome::KeyTaken(first) => Err(Error::conflict(format!(
                "the Idempotency-Key is bound to invocation `{first}`"
            ))),
        }
    }

    /// A stored task result back as callers see it: references to objects become their views.
    fn expand_result(&self, v: Value) -> futures_util::future::BoxFuture<'_, Value> {
        Box::pin(async move {
            match results::reference(&v) {
                Some((id, version)) => match self.external_view(&id, Some(version)).await {
                    Ok(view) => view,
                    Err(_) => v,
                },
                None => match v {
                    Value::Array(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for i in items {
                            out.push(self.expand_result(i).await);
                        }
                        Value::Array(out)
                    }
                    other => other,
                },
            }
        })
    }

    /// Keeps an object's newest version in memory (bounded: the cache is emptied when full):
    /// on a store only this process writes, the current version; on a shared store, a hint
    /// for optimistic turns ([`Claim::Optimistic`]), which no read takes as current.
    fn remember(&self, v: &Arc<ObjectVersion>) {
        if let Ok(mut c) = self.latest.lock() {
            if c.len() >= CACHE_LIMIT {
                c.clear();
            }
            match c.get(&v.id) {
                Some(old) if old.version > v.version => {}
                _ => {
                    c.insert(v.id.clone(), v.clone());
                }
            }
        }
    }

    /// The version of `id` a `mut` call may start from on a shared store: the newest this
    /// process committed or read, unless another process has written the object since (as
    /// far as its notices have told: the commit's unique key catches the rest). `None` on a
    /// store this process alone writes, where [`Objects::object`] answers from memory anyway.
    pub fn hint(&self, id: &ObjectId) -> Option<Arc<ObjectVersion>> {
        if self.caching {
            return None;
        }
        let c = self.latest.lock().ok()?;
        c.get(id).filter(|v| !v.deleted).cloned()
    }

    /// Another process wrote these objects: what this one knows of them is old.
    pub fn written_elsewhere(&self, ids: &[ObjectId]) {
        if !self.caching {
            self.forget(ids);
        }
    }

    /// Another process may have written any object (its notices may have been missed).
    pub fn written_elsewhere_all(&self) {
        if let (false, Ok(mut c)) = (self.caching, self.latest.lock()) {
            c.clear();
        }
    }

    fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a ObjectId>) {
        if let Ok(mut c) = self.latest.lock() {
            for id in ids {
                c.remove(id);
            }
        }
    }
}
