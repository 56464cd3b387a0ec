//! The runtime's core: deployed packages, objects and their versions, and calls of functions
//! (builtins in-process, others as tasks sent to function containers).

use crate::blobs::Blobs;
use crate::containers::Containers;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::{ClassHandle, Registry};
use crate::store::{
    now_ms, Commit, CommitOutcome, FieldFilter, Invocation, InvocationStatus, ObjectVersion,
    PackageRecord, Store,
};
use crate::values;
use oaas_compiler::artifact::{Access, Artifact, ClassArtifact, FunctionArtifact, TypeRef};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedMutexGuard, Semaphore};

/// How long signed file URLs live.
pub const URL_TTL_S: u64 = 3600;
/// Timeout of a task when its function sets none.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// The running platform.
pub struct Engine {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// File blobs.
    pub blobs: Arc<Blobs>,
    /// Deployed packages.
    pub registry: Registry,
    /// Function containers.
    pub containers: Containers,
    /// Counters.
    pub metrics: Metrics,
    /// Working directory of each package version's `@local` commands.
    workdirs: Mutex<HashMap<String, PathBuf>>,
    /// One lock per object for `mut` calls: one order, no lost update.
    object_locks: Mutex<ObjectLocks>,
    /// `@concurrency` limits per function.
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Folder `@local` commands run in when a deploy names none.
    pub default_workdir: PathBuf,
    /// Where `@image` functions run (see `Config::image_url`).
    pub image_url: Option<String>,
    /// The newest version of objects read or written here, so calls need not read the store
    /// each time. One runtime owns its store, so this cannot go stale.
    latest: Mutex<HashMap<String, Arc<ObjectVersion>>>,
    /// Invocations started by a direct call in this process that no task can have committed
    /// for yet: their tasks skip the look-up of an earlier result.
    fresh: Mutex<std::collections::HashSet<String>>,
    /// Outputs allocated so far per task (`allocate_url`).
    pub allocations: Mutex<HashMap<String, usize>>,
}

/// What to call.
#[derive(Clone, Debug)]
pub enum Target {
    /// A function of an object.
    Object(String),
    /// A static function of a class (qualified or unambiguous bare name).
    Class(String),
}

/// Who is calling: the outside world (only `public` members) or the runtime itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Through the object access interface.
    External,
    /// From a macro of the platform.
    Internal,
}

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

/// A call's result, ready to show.
#[derive(Clone, Debug)]
pub struct CallResult {
    /// The invocation id.
    pub invocation_id: String,
    /// The task id.
    pub task_id: String,
    /// The result: a value, an object view, a list of object views, or null.
    pub result: Value,
}

fn object_id_for(task_id: &str, index: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{task_id}#{index}").as_bytes(),
    )
    .to_string()
}

/// A new id for an invocation or a created object (UUIDv7: sortable by time).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Engine {
    /// An engine over a store, blobs and a log folder.
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<Blobs>,
        logs: PathBuf,
        default_workdir: PathBuf,
    ) -> Engine {
        Engine {
            store,
            blobs,
            registry: Registry::default(),
            containers: Containers::new(logs),
            metrics: Metrics::default(),
            workdirs: Mutex::new(HashMap::new()),
            object_locks: Mutex::new(ObjectLocks::default()),
            limits: Mutex::new(HashMap::new()),
            default_workdir,
            image_url: None,
            allocations: Mutex::new(HashMap::new()),
            latest: Mutex::new(HashMap::new()),
            fresh: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Loads every deployed package from the store (after a restart).
    pub async fn load_packages(&self) -> Result<usize, ApiError> {
        let packages = self.store.packages().await?;
        let n = packages.len();
        for p in packages {
            if let (Some(dir), Ok(mut w)) = (&p.workdir, self.workdirs.lock()) {
                w.insert(p.version.clone(), PathBuf::from(dir));
            }
            match Artifact::from_json(&p.artifact) {
                Ok(a) => self.registry.insert(Arc::new(a)),
                Err(e) => {
                    tracing::warn!(version = %p.version, error = %e, "skipping a stored package")
                }
            }
        }
        Ok(n)
    }

    /// Deploys an artifact: stored durably, then current for its packages. Deploying the same
    /// version again changes nothing.
    pub async fn deploy(
        &self,
        artifact: Artifact,
        workdir: Option<PathBuf>,
    ) -> Result<Arc<Artifact>, ApiError> {
        let record = PackageRecord {
            version: artifact.version.clone(),
            names: artifact.packages.iter().map(|p| p.name.clone()).collect(),
            artifact: artifact.to_json(),
            deployed_at: now_ms(),
            workdir: workdir.as_ref().map(|d| d.to_string_lossy().into_owned()),
        };
        self.store.put_package(record).await?;
        if let (Some(dir), Ok(mut w)) = (workdir, self.workdirs.lock()) {
            w.insert(artifact.version.clone(), dir);
        }
        let artifact = Arc::new(artifact);
        self.registry.insert(artifact.clone());
        Ok(artifact)
    }

    fn workdir(&self, version: &str) -> PathBuf {
        self.workdirs
            .lock()
            .ok()
            .and_then(|w| w.get(version).cloned())
            .unwrap_or_else(|| self.default_workdir.clone())
    }

    /// The artifact and class of a stored object.
    pub fn class_of_object(
        &self,
        obj: &ObjectVersion,
    ) -> Result<(Arc<Artifact>, ClassHandle), ApiError> {
        let artifact = self.registry.version(&obj.package_version).ok_or_else(|| {
            ApiError::internal(format!(
                "package version {} of object {} is not loaded",
                obj.package_version, obj.id
            ))
        })?;
        let class = ClassHandle::find(&artifact, &obj.class).ok_or_else(|| {
            ApiError::internal(format!("class {} is missing from its package", obj.class))
        })?;
        Ok((artifact, class))
    }

    /// Finds a class in the current packages.
    pub fn find_class(&self, name: &str) -> Result<(Arc<Artifact>, ClassHandle), ApiError> {
        let (artifact, qualified) = self.registry.class(name).ok_or_else(|| {
            ApiError::not_found(format!(
                "there is no class `{name}` in the deployed packages (give it as `package.Class`)"
            ))
        })?;
        let class = ClassHandle::find(&artifact, &qualified)
            .ok_or_else(|| ApiError::not_found(format!("no class `{name}`")))?;
        Ok((artifact, class))
    }

    /// Reads an object (newest version, or the given one); deleted objects are 404 unless a
    /// version is asked for.
    /// Versions are immutable, so the newest one is shared with the cache, not copied.
    pub async fn object(
        &self,
        id: &str,
        version: Option<u64>,
    ) -> Result<Arc<ObjectVersion>, ApiError> {
        let cached = match version {
            None => self.latest.lock().ok().and_then(|c| c.get(id).cloned()),
            Some(_) => None,
        };
        let from_store = match cached {
            Some(o) => Some(o),
            None => {
                let o = self.store.object(id, version).await?.map(Arc::new);
                if let (None, Some(o)) = (version, &o) {
                    self.remember(o);
                }
                o
            }
        };
        let obj = from_store.ok_or_else(|| match version {
            Some(v) => ApiError::not_found(format!("object `{id}` has no version {v}")),
            None => ApiError::not_found(format!("there is no object `{id}`")),
        })?;
        if obj.deleted && version.is_none() {
            return Err(ApiError::not_found(format!(
                "object `{id}` was deleted (its earlier versions stay readable with ?version=)"
            )));
        }
        Ok(obj)
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
                let key = crate::tasks::file_key(&obj.id, obj.version, &f.name);
                if self.blobs.path(&key).is_some_and(|p| p.exists()) {
                    files.insert(f.name.clone(), key);
                }
            }
        }
        files
    }

    /// An object as callers see it: only what the caller may read.
    pub fn view(&self, obj: &ObjectVersion, class: &ClassArtifact, caller: Caller) -> Value {
        let present = self.effective_files(obj, class);
        let visible = |a: Access| caller == Caller::Internal || a == Access::Public;
        let mut state = Map::new();
        for f in &class.state {
            if visible(f.access) {
                state.insert(
                    f.name.clone(),
                    obj.state.get(&f.name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        let mut refs = Map::new();
        for r in &class.refs {
            if visible(r.access) {
                refs.insert(
                    r.name.clone(),
                    obj.refs.get(&r.name).cloned().unwrap_or(if r.many {
                        json!([])
                    } else {
                        Value::Null
                    }),
                );
            }
        }
        let mut files = Map::new();
        for f in &class.files {
            if visible(f.access) {
                files.insert(
                    f.name.clone(),
                    json!({"uploaded": present.contains_key(&f.name), "media_type": f.media_type}),
                );
            }
        }
        // Built field by field: `json!` would copy the state once more.
        let mut view = Map::new();
        view.insert("id".into(), Value::from(obj.id.as_str()));
        view.insert("class".into(), Value::from(obj.class.as_str()));
        view.insert("version".into(), Value::from(obj.version));
        view.insert("state".into(), Value::Object(state));
        view.insert("refs".into(), Value::Object(refs));
        view.insert("files".into(), Value::Object(files));
        view.insert("deleted".into(), Value::from(obj.deleted));
        view.insert(
            "package_version".into(),
            Value::from(obj.package_version.as_str()),
        );
        view.insert("created_at".into(), Value::from(obj.created_at));
        Value::Object(view)
    }

    /// A signed URL to read one file of an object.
    pub async fn file_url(
        &self,
        id: &str,
        name: &str,
        version: Option<u64>,
        caller: Caller,
    ) -> Result<FileUrl, ApiError> {
        let obj = self.object(id, version).await?;
        let (_, class) = self.class_of_object(&obj)?;
        let decl = class.files.iter().find(|f| f.name == name).ok_or_else(|| {
            ApiError::not_found(format!("class `{}` has no file `{name}`", class.name))
        })?;
        if caller == Caller::External && decl.access != Access::Public {
            return Err(ApiError::forbidden(format!(
                "file `{name}` of `{}` is not public",
                class.name
            )));
        }
        let files = self.effective_files(&obj, &class);
        let key = files.get(name).ok_or_else(|| {
            ApiError::not_found(format!(
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

    /// Lists the objects of a class.
    pub async fn list(
        &self,
        class: &str,
        filters: Vec<FieldFilter>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Value, ApiError> {
        let (artifact, class) = self.find_class(class)?;
        for f in &filters {
            let field = class
                .state
                .iter()
                .find(|s| s.name == f.field)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "class `{}` has no state field `{}` to filter on",
                        class.name, f.field
                    ))
                })?;
            if field.access != Access::Public {
                return Err(ApiError::forbidden(format!(
                    "state field `{}` of `{}` is not public",
                    f.field, class.name
                )));
            }
            values::check(&artifact, &f.value, &field.ty)
                .map_err(|e| ApiError::bad_request(format!("filter `{}`: {e}", f.field)))?;
        }
        let limit = limit.clamp(1, 1000);
        let objects = self
            .store
            .list(&class.qualified, &filters, after.as_deref(), limit)
            .await?;
        let next = if objects.len() == limit {
            objects.last().map(|o| o.id.clone())
        } else {
            None
        };
        let items: Vec<Value> = objects
            .iter()
            .map(|o| match self.class_of_object(o) {
                Ok((_, c)) => self.view(o, &c, Caller::External),
                Err(_) => json!({"id": o.id, "class": o.class, "version": o.version}),
            })
            .collect();
        Ok(json!({"items": items, "next_after": next}))
    }

    /// The lock that orders the `mut` calls of one object. Locks that nobody holds or waits
    /// for are dropped now and then, so the map stays as large as the objects in use.
    fn object_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.object_locks.lock() {
            Ok(mut locks) => locks.get(id),
            Err(p) => p.into_inner().get(id),
        }
    }

    /// Waits for the turn of a call on `object`: `mut` calls on one object run one at a time
    /// (tokio's mutex serves waiters in order), each on the newest version, which is returned
    /// with the turn. Other calls go at once, on the version they were given.
    async fn take_turn(
        &self,
        object: Option<Arc<ObjectVersion>>,
        mutates: bool,
    ) -> Result<(Option<OwnedMutexGuard<()>>, Option<Arc<ObjectVersion>>), ApiError> {
        match (object, mutates) {
            (Some(o), true) => {
                let turn = self.object_lock(&o.id).lock_owned().await;
                let newest = self.object(&o.id, None).await?;
                Ok((Some(turn), Some(newest)))
            }
            (o, _) => Ok((None, o)),
        }
    }

    fn limit(&self, key: &str, n: u64) -> Arc<Semaphore> {
        let mut map = match self.limits.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n as usize)))
            .clone()
    }

    /// Calls a function, builtin or macro synchronously, end to end: checks access and
    /// arguments, runs the task (or the macro's graph), commits its result once, and returns it.
    pub async fn call(
        self: &Arc<Self>,
        target: Target,
        function: &str,
        args: Value,
        caller: Caller,
        invocation_id: Option<String>,
    ) -> Result<CallResult, ApiError> {
        let fresh = invocation_id.is_none();
        let invocation_id = invocation_id.unwrap_or_else(new_id);
        let task_id = format!("{invocation_id}.n0");
        if fresh {
            if let Ok(mut f) = self.fresh.lock() {
                f.insert(invocation_id.clone());
            }
        }
        let result = self
            .call_task(target, function, args, caller, &invocation_id, &task_id)
            .await;
        if fresh {
            if let Ok(mut f) = self.fresh.lock() {
                f.remove(&invocation_id);
            }
        }
        result
    }

    /// [`Engine::call_task`] as a boxed future, for macros calling macros.
    pub fn call_task_boxed(
        self: Arc<Self>,
        target: Target,
        function: String,
        args: Value,
        caller: Caller,
        invocation_id: String,
        task_id: String,
    ) -> futures_util::future::BoxFuture<'static, Result<CallResult, ApiError>> {
        Box::pin(async move {
            self.call_task(target, &function, args, caller, &invocation_id, &task_id)
                .await
        })
    }

    /// Runs one task with a given id (used by direct calls and by macro nodes).
    pub async fn call_task(
        self: &Arc<Self>,
        target: Target,
        function: &str,
        args: Value,
        caller: Caller,
        invocation_id: &str,
        task_id: &str,
    ) -> Result<CallResult, ApiError> {
        let (artifact, class, object) = match &target {
            Target::Object(id) => {
                let obj = self.object(id, None).await?;
                let (a, c) = self.class_of_object(&obj)?;
                (a, c, Some(obj))
            }
            Target::Class(name) => {
                let (a, c) = self.find_class(name)?;
                (a, c, None)
            }
        };
        if let Some(m) = class.macro_named(function) {
            let m = Arc::new(m.clone());
            return self
                .call_macro(
                    artifact,
                    &class,
                    m,
                    object,
                    args,
                    caller,
                    invocation_id,
                    task_id,
                )
                .await;
        }
        // A task committed before (a retry of the request, or a resumed macro) returns its first result.
        let earlier = if self.is_fresh(invocation_id) {
            None
        } else {
            self.store.task_result(task_id).await?
        };
        if let Some(result) = earlier {
            let result = match result {
                Some(v) => self.expand_result(v).await,
                None => Value::Null,
            };
            return Ok(CallResult {
                invocation_id: invocation_id.to_string(),
                task_id: task_id.to_string(),
                result,
            });
        }
        let func = match class.function(function) {
            Some(f) => f,
            None => {
                let names: Vec<&str> = class
                    .functions
                    .iter()
                    .map(|f| f.name.as_str())
                    .chain(class.macros.iter().map(|m| m.name.as_str()))
                    .collect();
                return Err(ApiError::not_found(format!(
                    "class `{}` has no function `{function}`; it has {}",
                    class.name,
                    names.join(", ")
                )));
            }
        };
        if caller == Caller::External && func.access != Access::Public {
            return Err(ApiError::forbidden(format!(
                "`{}.{}` is {}: only public functions can be called from outside",
                class.name,
                func.name,
                match func.access {
                    Access::Internal => "internal to its package",
                    _ => "private to its class",
                }
            )));
        }
        check_target(
            object.is_some(),
            func.is_static,
            &func.name,
            &class.qualified,
        )?;
        if func.run.builtin.as_deref() == Some("new") {
            crate::builtins::check_new_access(&class, &args, caller)?;
        }
        let what = format!("`{}.{}`", class.name, func.name);
        let args = values::bind_args(&artifact, &what, &func.params, &args)
            .map_err(ApiError::bad_request)?;
        let started = Instant::now();
        let result = if let Some(builtin) = func.run.builtin.clone() {
            let (_turn, object) = self.take_turn(object, func.mutates).await?;
            crate::builtins::run(
                self, &builtin, &artifact, &class, object, args, task_id, caller,
            )
            .await
        } else {
            self.run_task(
                &artifact,
                &class,
                func,
                object,
                args,
                invocation_id,
                task_id,
                caller,
            )
            .await
        };
        self.metrics.record(
            &class.qualified,
            &func.name,
            started.elapsed().as_secs_f64() * 1000.0,
            result.is_err(),
        );
        result.map(|result| CallResult {
            invocation_id: invocation_id.to_string(),
            task_id: task_id.to_string(),
            result,
        })
    }

    /// Runs a macro: checks access and arguments, then executes its graph. A top-level macro
    /// call records its invocation (so it resumes after a restart) and its per-node progress.
    #[allow(clippy::too_many_arguments)]
    async fn call_macro(
        self: &Arc<Self>,
        artifact: Arc<Artifact>,
        class: &ClassArtifact,
        m: Arc<oaas_compiler::artifact::MacroArtifact>,
        object: Option<Arc<ObjectVersion>>,
        args: Value,
        caller: Caller,
        invocation_id: &str,
        task_id: &str,
    ) -> Result<CallResult, ApiError> {
        if caller == Caller::External && m.access != Access::Public {
            return Err(ApiError::forbidden(format!(
                "macro `{}.{}` is not public: only public macros can be called from outside",
                class.name, m.name
            )));
        }
        check_target(object.is_some(), m.is_static, &m.name, &class.qualified)?;
        let what = format!("`{}.{}`", class.name, m.name);
        let bound =
            values::bind_args(&artifact, &what, &m.params, &args).map_err(ApiError::bad_request)?;
        let top_level = task_id == format!("{invocation_id}.n0");
        let progress = Arc::new(crate::executor::Progress::default());
        let mut started_record = None;
        let writer = if top_level {
            let request = || {
                json!({
                    "target": match &object { Some(o) => json!({"object": o.id}), None => json!({"class": class.qualified}) },
                    "function": m.name,
                    "args": args,
                })
            };
            if self.is_fresh(invocation_id) {
                // A synchronous call: its caller waits, so the record that lets it resume need
                // not be on disk before the first node runs. It joins the next group commit,
                // and the outcome is written from this copy, not read back: the outcome can
                // reach the store first (a pending record never overwrites a finished one).
                let now = now_ms();
                let start = Invocation {
                    id: invocation_id.to_string(),
                    request: request(),
                    status: InvocationStatus::Pending,
                    result: None,
                    error: None,
                    output_id: None,
                    nodes: BTreeMap::new(),
                    created_at: now,
                    updated_at: now,
                };
                started_record = Some(start.clone());
                let engine = self.clone();
                tokio::spawn(async move {
                    let id = start.id.clone();
                    let commit = Commit {
                        invocations: vec![start],
                        ..Default::default()
                    };
                    if let Err(e) = engine.commit(commit).await {
                        tracing::warn!(invocation = %id, error = %e, "cannot record the invocation");
                    }
                });
            } else if self.store.invocation(invocation_id).await?.is_none() {
                self.accept_async(invocation_id, request(), None, None)
                    .await?;
            }
            Some(crate::executor::spawn_progress_writer(
                self.clone(),
                invocation_id.to_string(),
                progress.clone(),
            ))
        } else {
            None
        };
        let run = crate::executor::MacroRun {
            engine: self.clone(),
            artifact: artifact.clone(),
            macro_: m.clone(),
            self_id: object.map(|o| o.id.clone()),
            args: bound,
            invocation_id: invocation_id.to_string(),
            prefix: if top_level {
                invocation_id.to_string()
            } else {
                task_id.to_string()
            },
            progress: progress.clone(),
        };
        let started = Instant::now();
        let outcome = match run.run().await {
            Ok(result) => {
                let result = self
                    .expand_objects(result, m.returns.as_ref(), caller)
                    .await;
                Ok(CallResult {
                    invocation_id: invocation_id.to_string(),
                    task_id: task_id.to_string(),
                    result,
                })
            }
            Err(e) => Err(e),
        };
        self.metrics.record(
            &class.qualified,
            &m.name,
            started.elapsed().as_secs_f64() * 1000.0,
            outcome.is_err(),
        );
        if let Some(w) = writer {
            w.abort();
            self.finish_invocation_inner(
                invocation_id,
                &outcome,
                Some(progress.snapshot()),
                started_record,
            )
            .await?;
        }
        outcome
    }

    /// Turns object ids in a macro's result into object views, following the declared type.
    fn expand_objects<'a>(
        &'a self,
        value: Value,
        ty: Option<&'a TypeRef>,
        caller: Caller,
    ) -> futures_util::future::BoxFuture<'a, Value> {
        Box::pin(async move {
            match (ty, value) {
                (Some(TypeRef::Class(_)), Value::String(id)) => {
                    match self.object(&id, None).await {
                        Ok(obj) => match self.class_of_object(&obj) {
                            Ok((_, c)) => self.view(&obj, &c, caller),
                            Err(_) => Value::String(id),
                        },
                        Err(_) => Value::String(id),
                    }
                }
                (Some(TypeRef::Optional(inner)), v) => {
                    self.expand_objects(v, Some(inner), caller).await
                }
                (Some(TypeRef::List(inner)), Value::Array(items)) => {
                    let mut out = Vec::with_capacity(items.len());
                    for i in items {
                        out.push(self.expand_objects(i, Some(inner), caller).await);
                    }
                    Value::Array(out)
                }
                (_, v) => v,
            }
        })
    }

    /// Commits a task's outcome once; a conflict or earlier commit is resolved here.
    /// Answers the task's result: this commit's, or the first commit's of the same task.
    pub async fn commit(&self, mut commit: Commit) -> Result<Option<Value>, ApiError> {
        // An object the same commit writes is stored once: the result refers to it.
        let result = commit.task_result.take();
        commit.task_result = result.as_ref().map(|r| compact_result(r, &commit.versions));
        // Remember the new versions now (the commit takes them); forgotten again below if the
        // commit does not go through.
        for v in &commit.versions {
            self.remember(v);
        }
        let written: Vec<String> = commit.versions.iter().map(|v| v.id.clone()).collect();
        let forget = |ids: &[String]| {
            if let Ok(mut c) = self.latest.lock() {
                for id in ids {
                    c.remove(id);
                }
            }
        };
        match self.store.commit(commit).await {
            Err(e) => {
                forget(&written);
                Err(e.into())
            }
            Ok(CommitOutcome::Committed) => Ok(result),
            Ok(CommitOutcome::AlreadyCommitted(first)) => {
                forget(&written);
                match first {
                    Some(v) => Ok(Some(self.expand_result(v).await)),
                    None => Ok(None),
                }
            }
            Ok(CommitOutcome::Conflict(why)) => {
                forget(&written);
                Err(ApiError::conflict(format!(
                    "the object changed under this call ({why}); call again"
                )))
            }
        }
    }

    /// A stored task result back as callers see it: references to objects become their views.
    fn expand_result(&self, v: Value) -> futures_util::future::BoxFuture<'_, Value> {
        Box::pin(async move {
            match v {
                Value::Object(m) if m.len() == 1 && m.contains_key(RESULT_REF) => {
                    let r = &m[RESULT_REF];
                    let (Some(id), Some(version)) = (
                        r.get("id").and_then(Value::as_str),
                        r.get("version").and_then(Value::as_u64),
                    ) else {
                        return Value::Object(m);
                    };
                    match self.object(id, Some(version)).await {
                        Ok(obj) => match self.class_of_object(&obj) {
                            Ok((_, c)) => self.view(&obj, &c, Caller::External),
                            Err(_) => Value::Object(m),
                        },
                        Err(_) => Value::Object(m),
                    }
                }
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for i in items {
                        out.push(self.expand_result(i).await);
                    }
                    Value::Array(out)
                }
                other => other,
            }
        })
    }

    /// Keeps an object's newest version in memory (bounded: the cache is emptied when full).
    fn remember(&self, v: &Arc<ObjectVersion>) {
        if let Ok(mut c) = self.latest.lock() {
            if c.len() >= 100_000 {
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

    fn is_fresh(&self, invocation_id: &str) -> bool {
        self.fresh
            .lock()
            .map(|f| f.contains(invocation_id))
            .unwrap_or(false)
    }

    /// Runs a task in its function container, with the function's retry, timeout and
    /// concurrency settings; validates and commits the response.
    #[allow(clippy::too_many_arguments)]
    async fn run_task(
        &self,
        artifact: &Artifact,
        class: &ClassArtifact,
        func: &FunctionArtifact,
        object: Option<Arc<ObjectVersion>>,
        args: Map<String, Value>,
        invocation_id: &str,
        task_id: &str,
        caller: Caller,
    ) -> Result<Value, ApiError> {
        let _permit = match func.run.concurrency {
            Some(n) => Some(
                self.limit(&format!("{}.{}", class.qualified, func.name), n)
                    .acquire_owned()
                    .await
                    .map_err(|_| ApiError::internal("limit closed"))?,
            ),
            None => None,
        };
        let (_turn, object) = self.take_turn(object, func.mutates).await?;
        let objects = crate::tasks::object_documents(self, func, &args).await?;
        let request = crate::tasks::TaskRequest::build(
            self,
            artifact,
            class,
            func,
            object.as_ref(),
            args,
            invocation_id,
            task_id,
            objects,
        )?;
        let base = self.endpoint(artifact, func).await?;
        let response = crate::tasks::send_with_retries(self, &base, &request, func).await?;
        let commit = crate::tasks::accept(
            self,
            artifact,
            class,
            func,
            object.as_ref(),
            &request,
            response,
            task_id,
        )?;
        if caller == Caller::Internal && commit.versions.is_empty() {
            // A value result that changes no object need not be on disk before the macro goes
            // on: if the runtime dies first, the task simply runs again on resume and gives
            // the same value. Its commit joins the next group.
            let result = commit.task_result.clone();
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.commit(commit).await {
                    tracing::warn!(error = %e, "cannot record a task result");
                }
            });
            return Ok(result.unwrap_or(Value::Null));
        }
        let committed = self.commit(commit).await?;
        Ok(committed.unwrap_or(Value::Null))
    }

    async fn endpoint(
        &self,
        artifact: &Artifact,
        func: &FunctionArtifact,
    ) -> Result<String, ApiError> {
        if let Some(url) = &func.run.url {
            return Ok(url.trim_end_matches('/').to_string());
        }
        // On a cluster the images are the containers; a `@local` beside them is for one
        // machine.
        if let (Some(template), Some(image)) = (&self.image_url, &func.run.image) {
            return Ok(image_endpoint(template, image));
        }
        if let Some(cmd) = &func.run.local {
            let dir = self.workdir(&artifact.version);
            return self
                .containers
                .local_url(cmd, &dir)
                .await
                .map_err(|e| ApiError::function_failed(e.0).with(json!({"function": func.name})));
        }
        Err(ApiError::function_failed(format!(
            "`{}` has no way to run here: it needs `@local(...)` or `@url(...)` (an `@image` runs only where the runtime was started with `--image-url`)",
            func.name
        )))
    }

    /// Records an invocation accepted for asynchronous running.
    pub async fn accept_async(
        &self,
        id: &str,
        request: Value,
        output_id: Option<String>,
        idempotency: Option<String>,
    ) -> Result<(), ApiError> {
        let now = now_ms();
        let inv = Invocation {
            id: id.to_string(),
            request,
            status: InvocationStatus::Pending,
            result: None,
            error: None,
            output_id,
            nodes: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        };
        self.commit(Commit {
            invocations: vec![inv],
            idempotency: idempotency.map(|k| (k, id.to_string())),
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    /// Stores the outcome of an invocation.
    pub async fn finish_invocation(
        &self,
        id: &str,
        outcome: &Result<CallResult, ApiError>,
    ) -> Result<(), ApiError> {
        self.finish_invocation_inner(id, outcome, None, None).await
    }

    /// Stores an invocation's outcome (and its final per-node status) in one commit, on the
    /// record it started with when the caller has it, else on the stored one.
    async fn finish_invocation_inner(
        &self,
        id: &str,
        outcome: &Result<CallResult, ApiError>,
        nodes: Option<BTreeMap<String, Value>>,
        started: Option<Invocation>,
    ) -> Result<(), ApiError> {
        let stored = match started {
            Some(inv) => Some(inv),
            None => self.store.invocation(id).await?,
        };
        let Some(mut inv) = stored else {
            return Ok(());
        };
        if inv.status != InvocationStatus::Pending && nodes.is_none() {
            // Already recorded (a macro records its own outcome).
            return Ok(());
        }
        if let Some(nodes) = nodes {
            inv.nodes = nodes;
        }
        match outcome {
            Ok(r) => {
                inv.status = InvocationStatus::Succeeded;
                inv.result = Some(r.result.clone());
            }
            Err(e) => {
                inv.status = InvocationStatus::Failed;
                inv.error = Some(
                    json!({"status": e.status.as_u16(), "code": e.code, "message": e.message, "details": e.details}),
                );
            }
        }
        inv.updated_at = now_ms();
        self.commit(Commit {
            invocations: vec![inv],
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    /// The output id a call will produce, when it produces one object.
    pub fn planned_output(&self, func_returns: Option<&TypeRef>, task_id: &str) -> Option<String> {
        match func_returns {
            Some(TypeRef::Class(_)) => Some(object_id_for(task_id, 0)),
            _ => None,
        }
    }

    /// Waits `d`, for tests of time-outs and retries.
    pub async fn pause(d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A static member is called on its class, any other on an object.
fn check_target(on_object: bool, is_static: bool, name: &str, class: &str) -> Result<(), ApiError> {
    match (on_object, is_static) {
        (true, true) => Err(ApiError::bad_request(format!(
            "`{name}` is static: call it on the class `{class}`"
        ))),
        (false, false) => Err(ApiError::bad_request(format!(
            "`{name}` is called on an object of `{class}`, not on the class"
        ))),
        _ => Ok(()),
    }
}

/// The deterministic id of a task's `index`-th output object.
pub fn output_id(task_id: &str, index: usize) -> String {
    object_id_for(task_id, index)
}

/// The key that marks a stored reference to an object version in a task result.
/// Where an `@image` function runs: `template` with `{service}` replaced by the image's
/// service name (as `oaasc deploy --emit knative` names it).
fn image_endpoint(template: &str, image: &str) -> String {
    let service = oaas_compiler::artifact::knative::service_name(image);
    template
        .replace("{service}", &service)
        .trim_end_matches('/')
        .to_string()
}

/// The per-object locks are pruned once there are this many, at the least.
const OBJECT_LOCKS_MIN: usize = 1024;

/// The locks that order `mut` calls, by object id.
struct ObjectLocks {
    by_id: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Prune when `by_id` is this large (twice what was left last time, so pruning costs
    /// O(1) per call on average).
    prune_at: usize,
}

impl ObjectLocks {
    /// The lock of one object, pruning first if it is time.
    fn get(&mut self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        if self.by_id.len() >= self.prune_at {
            // A held or awaited lock has another owner besides the map.
            self.by_id.retain(|_, lock| Arc::strong_count(lock) > 1);
            self.prune_at = (2 * self.by_id.len()).max(OBJECT_LOCKS_MIN);
        }
        self.by_id.entry(id.to_string()).or_default().clone()
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

const RESULT_REF: &str = "$object_version";

/// A task result as stored: object views of versions the same commit writes become
/// references (the object's state would otherwise be written twice).
fn compact_result(result: &Value, versions: &[Arc<ObjectVersion>]) -> Value {
    match result {
        Value::Object(m) => {
            let id = m.get("id").and_then(Value::as_str);
            let version = m.get("version").and_then(Value::as_u64);
            match (id, version) {
                (Some(id), Some(version))
                    if m.contains_key("class")
                        && versions.iter().any(|v| v.id == id && v.version == version) =>
                {
                    json!({ RESULT_REF: {"id": id, "version": version} })
                }
                _ => result.clone(),
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| compact_result(i, versions)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn image_functions_run_at_their_service_in_the_template() {
        let image = "ghcr.io/acme/video-image:1";
        let service = oaas_compiler::artifact::knative::service_name(image);
        assert_eq!(
            image_endpoint("http://{service}.media.svc.cluster.local/", image),
            format!("http://{service}.media.svc.cluster.local")
        );
        assert_eq!(
            image_endpoint("http://10.0.0.9:8080", image),
            "http://10.0.0.9:8080"
        );
    }

    #[test]
    fn idle_object_locks_are_pruned_and_held_ones_kept() {
        let mut locks = ObjectLocks::default();
        let held = locks.get("held");
        let first = locks.get("held");
        assert!(Arc::ptr_eq(&held, &first), "one lock per object");
        drop(first);
        for i in 0..OBJECT_LOCKS_MIN * 3 {
            drop(locks.get(&format!("idle{i}")));
        }
        // Pruned on the way, down to what is in use, and never more than twice that plus
        // the minimum.
        assert!(
            locks.by_id.len() <= OBJECT_LOCKS_MIN + 1,
            "{}",
            locks.by_id.len()
        );
        assert!(
            Arc::ptr_eq(&held, &locks.get("held")),
            "a held lock is kept"
        );
    }
}
