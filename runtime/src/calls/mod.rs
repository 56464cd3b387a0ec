//! Calls: one function or macro called on an object or a class. Here, and only here, a call
//! is admitted (the member found, its access modifier checked, its arguments bound); then a
//! builtin runs in-process, a function runs as a task in its container, and a macro runs as a
//! dataflow ([`crate::executor`]) whose nodes come back here as calls.

pub mod builtins;
pub mod memo;
pub mod nodes;
pub mod snapshot;
pub mod tasks;
pub mod waits;

use crate::access::{self, Caller, Member};
use crate::error::{Error, ErrorKind, Result};
use crate::executor::{MacroRef, MacroRun, Progress};
use crate::ids::{InvocationId, ObjectId, Target, TaskId, TaskScope};
use crate::invoker::Invoker;
use crate::metrics::Metrics;
use crate::objects::registry::ClassHandle;
use crate::objects::{Claim, Objects};
use crate::store::ObjectVersion;
use crate::values;
use futures_util::future::{BoxFuture, Shared};
use oaas_compiler::artifact::{Artifact, FunctionArtifact, MacroArtifact, TypeRef};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;

/// What a call was resolved to: the package version, the class and, for calls on an object,
/// the object's version.
#[derive(Clone)]
pub struct Resolved {
    /// The package version.
    pub artifact: Arc<Artifact>,
    /// The class.
    pub class: ClassHandle,
    /// The object, for calls on one.
    pub object: Option<Arc<ObjectVersion>>,
}

impl Resolved {
    /// The macro `name`, if the class has one.
    pub fn macro_named(&self, name: &str) -> Option<&MacroArtifact> {
        self.class.macro_named(name)
    }

    /// The id of the object a call of `function` will output under `task`, when it outputs
    /// one object (deterministic, so an asynchronous caller can know it at once).
    /// An `@memo` function has none: a recorded result may answer with the output of an
    /// earlier task.
    pub fn planned_output(&self, function: &str, task: &TaskId) -> Option<ObjectId> {
        let func = self.class.function(function)?;
        match func.returns.as_ref() {
            Some(TypeRef::Class(_)) if !func.run.memo => Some(task.output(0)),
            _ => None,
        }
    }
}

/// The call's place in its invocation.
#[derive(Clone)]
pub struct CallContext {
    /// Who calls.
    pub caller: Caller,
    /// The invocation.
    pub invocation: InvocationId,
    /// The task id this call runs under.
    pub task: TaskId,
    /// A new invocation in this process, so no task of it can have committed before: the
    /// look-up of an earlier result is skipped.
    pub fresh: bool,
    /// Where a top-level macro reports the status of its nodes.
    pub progress: Option<Arc<Progress>>,
    /// The invocation's record on its way to the store, when it is not there yet: every
    /// commit that changes an object waits for it, so that no change is ever on disk
    /// without the record that lets a restarted runtime finish the invocation.
    pub record: Option<RecordWritten>,
    /// Where the invocation's calls of `@memo` functions note that a recorded result
    /// answered them; `None` when the caller asked for fresh calls, which then run their
    /// containers (and record their results for later calls).
    pub memo: Option<Arc<memo::Reused>>,
}

/// The write of an invocation's record, awaited by any number of commits.
pub type RecordWritten = Shared<BoxFuture<'static, Result<()>>>;

impl CallContext {
    /// Waits until the invocation's record is in the store (at once when it was already).
    pub async fn record_written(&self) -> Result<()> {
        match &self.record {
            Some(r) => r.clone().await,
            None => Ok(()),
        }
    }
}

/// A call admitted: its member found, access allowed, arguments bound.
enum Admitted<'a> {
    Function(&'a FunctionArtifact, Map<String, Value>),
    Macro(&'a MacroArtifact, Map<String, Value>),
}

/// Runs calls.
pub struct Calls {
    /// Objects and packages.
    pub objects: Arc<Objects>,
    invoker: Arc<dyn Invoker>,
    /// Counters per function.
    pub metrics: Metrics,
    /// `@concurrency` limits per function.
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Outputs allocated so far per task (`allocate_url`).
    allocations: Mutex<HashMap<TaskId, usize>>,
    /// The durable waits of macros running here.
    pub waits: Arc<waits::Waits>,
}

impl Calls {
    /// Calls over objects, sending tasks through `invoker`.
    pub fn new(objects: Arc<Objects>, invoker: Arc<dyn Invoker>) -> Calls {
        Calls {
            objects,
            invoker,
            metrics: Metrics::default(),
            limits: Mutex::new(HashMap::new()),
            allocations: Mutex::new(HashMap::new()),
            waits: Arc::default(),
        }
    }

    /// The invoker tasks go through.
    pub fn invoker(&self) -> &Arc<dyn Invoker> {
        &self.invoker
    }

    /// Finds what a call is made on.
    pub async fn resolve(&self, target: &Target) -> Result<Resolved> {
        Ok(match target {
            Target::Object(id) => self.on_object(self.objects.object(id, None).await?)?,
            Target::Class(name) => {
                let (artifact, class) = self.objects.find_class_now(name).await?;
                Resolved {
                    artifact,
                    class,
                    object: None,
                }
            }
        })
    }

    /// A call on `object` (this version of it), with its package version and class.
    pub fn on_object(&self, object: Arc<ObjectVersion>) -> Result<Resolved> {
        let (artifact, class) = self.objects.class_of_object(&object)?;
        Ok(Resolved {
            artifact,
            class,
            object: Some(object),
        })
    }

    /// Finds what a call of `function` is made on. A `mut` function on a shared store starts
    /// from the version of the object this process knows ([`Objects::hint`]), with no read:
    /// when another process wrote it since, the commit finds the version taken and the call
    /// is made again on the newest, under the store's lock. Every other call reads.
    pub async fn resolve_for(&self, target: &Target, function: &str) -> Result<Resolved> {
        if let Some(object) = match target {
            Target::Object(id) => self.objects.hint(id),
            Target::Class(_) => None,
        } {
            let resolved = self.on_object(object)?;
            let mutates = resolved.class.function(function).is_some_and(|f| f.mutates);
            if mutates && first_claim(&resolved) == Claim::Optimistic {
                return Ok(resolved);
            }
        }
        self.resolve(target).await
    }

    /// Checks a call without running it: the member exists, `caller` may call it on this
    /// target, and the arguments fit its parameters.
    pub fn check(
        &self,
        resolved: &Resolved,
        function: &str,
        args: &Value,
        caller: Caller,
    ) -> Result<()> {
        admit(resolved, function, args, caller)
            .map(|_| ())
            .map_err(|e| self.older_version(resolved, function, e))
    }

    /// A call of a function this object's package version lacks: when the current version of
    /// its package has it, the error says so, and how to get an object that has it.
    fn older_version(&self, resolved: &Resolved, function: &str, e: Error) -> Error {
        let (Some(obj), ErrorKind::NotFound) = (&resolved.object, e.kind) else {
            return e;
        };
        let mine = &resolved.artifact.version;
        let qualified = &resolved.class.qualified;
        let Some((current, _)) = self.objects.registry.class(qualified) else {
            return e;
        };
        let has_it = current
            .find_class(qualified)
            .is_some_and(|c| c.function(function).is_some() || c.macro_named(function).is_some());
        if current.version == *mine || !has_it {
            return e;
        }
        let name = &resolved.class.name;
        Error {
            message: format!(
                "{}. Object `{}` belongs to package version `{mine}`, made before `{function}` \
                 was deployed: an object keeps the version it was made with. The current \
                 version `{}` has `{function}`: make a new object of `{name}` under it with \
                 this object's state (`{name}.new`, or `oaasc run PACKAGE {name}.new --new \
                 FIELD=VALUE`) and call `{function}` on that one",
                e.message, obj.id, current.version
            ),
            ..e
        }
    }

    /// Resolves and runs a call.
    pub async fn call(
        self: &Arc<Self>,
        target: &Target,
        function: &str,
        args: Value,
        ctx: CallContext,
    ) -> Result<Value> {
        let resolved = self.resolve(target).await?;
        self.run(&resolved, function, args, ctx).await
    }

    /// Runs a resolved call to its result: a task committed before (a retried request, a
    /// resumed macro) answers with its first result.
    pub async fn run(
        self: &Arc<Self>,
        resolved: &Resolved,
        function: &str,
        args: Value,
        ctx: CallContext,
    ) -> Result<Value> {
        let is_macro = resolved.macro_named(function).is_some();
        if !is_macro && !ctx.fresh {
            if let Some(earlier) = self.objects.committed_result(&ctx.task).await? {
                return Ok(earlier);
            }
        }
        let started = Instant::now();
        let admitted = admit(resolved, function, &args, ctx.caller)
            .map_err(|e| self.older_version(resolved, function, e))?;
        let (name, result) = match admitted {
            Admitted::Macro(m, bound) => (&m.name, self.run_macro(resolved, m, bound, &ctx).await),
            Admitted::Function(f, bound) => {
                (&f.name, self.run_function(resolved, f, bound, &ctx).await)
            }
        };
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        self.metrics
            .record(&resolved.class.qualified, name, millis, result.is_err());
        if ctx.memo.as_ref().is_some_and(|r| r.contains(&ctx.task)) {
            self.metrics.reused(&resolved.class.qualified, name);
        }
        result
    }

    async fn run_function(
        &self,
        resolved: &Resolved,
        func: &FunctionArtifact,
        mut args: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value> {
        let _permit = match (&func.run.builtin, func.run.concurrency) {
            (None, Some(n)) => Some(
                self.limit(&format!("{}.{}", resolved.class.qualified, func.name), n)
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::internal("limit closed"))?,
            ),
            _ => None,
        };
        let mut claim = first_claim(resolved);
        loop {
            let (turn, object) = self
                .objects
                .take_turn(resolved.object.clone(), func.mutates, claim)
                .await?;
            let args = match turn.optimistic() {
                true => args.clone(),
                false => std::mem::take(&mut args),
            };
            let result = match &func.run.builtin {
                Some(name) => {
                    let call = builtins::Builtin {
                        name,
                        resolved,
                        object,
                        args,
                        ctx,
                        optimistic: turn.optimistic(),
                    };
                    builtins::run(&self.objects, call).await
                }
                None => {
                    let task = tasks::Task {
                        resolved,
                        func,
                        object,
                        args,
                        ctx,
                        optimistic: turn.optimistic(),
                    };
                    tasks::run(&self.objects, self.invoker.as_ref(), task).await
                }
            };
            match result {
                Err(e) if turn.optimistic() && e.kind == ErrorKind::Conflict => {
                    // Another runtime on the store wrote the object first: nothing of this
                    // try was written; the call is made again under the store's lock.
                    tracing::debug!(task = %ctx.task, "object written elsewhere; calling again under its lock");
                    claim = Claim::Locked;
                }
                other => return other,
            }
        }
    }

    async fn run_macro(
        self: &Arc<Self>,
        resolved: &Resolved,
        m: &MacroArtifact,
        args: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value> {
        let run = MacroRun {
            calls: Arc::new(nodes::NodeCalls::new(self.clone(), ctx, resolved)),
            artifact: resolved.artifact.clone(),
            macro_: shared_macro(&resolved.class, m),
            self_id: resolved.object.as_ref().map(|o| o.id.clone()),
            args,
            scope: TaskScope::of(&ctx.invocation, &ctx.task),
            progress: ctx.progress.clone().unwrap_or_default(),
        };
        let result = run.run().await?;
        Ok(self
            .expand_objects(result, m.returns.as_ref(), ctx.caller)
            .await)
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
                    let id = ObjectId::from(id);
                    match self.objects.object(&id, None).await {
                        Ok(obj) => match self.objects.class_of_object(&obj) {
                            Ok((_, c)) => self.objects.view(&obj, &c, caller),
                            Err(_) => Value::from(id.as_str()),
                        },
                        Err(_) => Value::from(id.as_str()),
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

    fn limit(&self, key: &str, n: u64) -> Arc<Semaphore> {
        let mut map = match self.limits.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n as usize)))
            .clone()
    }

    /// The next extra output object of a task (`POST allocate_url`): its id and upload URLs.
    pub fn allocate(&self, task: &TaskId, class: &str) -> Result<Value> {
        let (_, cls) = self.objects.find_class(class)?;
        let k = {
            let mut map = self
                .allocations
                .lock()
                .map_err(|_| Error::internal("allocation table poisoned"))?;
            let n = map.entry(task.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let id = task.allocated(k);
        Ok(json!({"id": id, "upload": self.objects.upload_urls(&cls, &id, 1, Caller::Internal)}))
    }
}

/// A macro of a class, read in place from its deployed artifact.
struct SharedMacro {
    class: ClassHandle,
    index: usize,
}

impl std::ops::Deref for SharedMacro {
    type Target = MacroArtifact;

    fn deref(&self) -> &MacroArtifact {
        // `index` was found in this class's own list, which never changes.
        &self.class.macros[self.index]
    }
}

/// The macro `m` of `class`, shared with its artifact rather than copied for each run.
fn shared_macro(class: &ClassHandle, m: &MacroArtifact) -> MacroRef {
    match class.macros.iter().position(|x| std::ptr::eq(x, m)) {
        Some(index) => Arc::new(SharedMacro {
            class: class.clone(),
            index,
        }),
        None => Arc::new(Arc::new(m.clone())),
    }
}

/// How a `mut` call first waits for its object on a shared store: optimistically, unless
/// its class has files. Files are uploaded to the next version's keys before the commit,
/// and uploads are create-only, so two runtimes must not both try the same version of an
/// object with files.
fn first_claim(resolved: &Resolved) -> Claim {
    match resolved.class.files.is_empty() {
        true => Claim::Optimistic,
        false => Claim::Locked,
    }
}

/// Admits a call: the one place where a member is looked up, its access modifier checked for
/// the caller, its target (class or object) checked, and its arguments bound.
fn admit<'a>(
    resolved: &'a Resolved,
    function: &str,
    args: &Value,
    caller: Caller,
) -> Result<Admitted<'a>> {
    let class = &resolved.class;
    let on_object = resolved.object.is_some();
    if let Some(m) = class.macro_named(function) {
        access::check(caller, class, Member::Macro, &m.name, m.access)?;
        access::check_target(on_object, m.is_static, &m.name, &class.qualified)?;
        return Ok(Admitted::Macro(
            m,
            bind(resolved, &m.name, &m.params, args)?,
        ));
    }
    let Some(func) = class.function(function) else {
        // An object keeps the package version it was made with: say which (the caller adds
        // how to move on when a newer version has the function).
        let version = match &resolved.object {
            Some(_) => format!(" in package version `{}`", resolved.artifact.version),
            None => String::new(),
        };
        return Err(Error::not_found(format!(
            "class `{}` has no function `{function}`{version}{}; its functions and macros are: {}",
            class.name,
            class.did_you_mean(function),
            class.callable_names().join(", ")
        )));
    };
    access::check(caller, class, Member::Function, &func.name, func.access)?;
    access::check_target(on_object, func.is_static, &func.name, &class.qualified)?;
    if func.run.builtin.as_deref() == Some("new") {
        access::check_new(class, args, caller)?;
    }
    Ok(Admitted::Function(
        func,
        bind(resolved, &func.name, &func.params, args)?,
    ))
}

fn bind(
    resolved: &Resolved,
    name: &str,
    params: &[oaas_compiler::artifact::ParamArtifact],
    args: &Value,
) -> Result<Map<String, Value>> {
    let what = || ["`", resolved.class.name.as_str(), ".", name, "`"].concat();
    values::bind_args(&resolved.artifact, what, params, args).map_err(Error::bad_request)
}
