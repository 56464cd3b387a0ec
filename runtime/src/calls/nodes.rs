//! The calls a macro's nodes make, for the executor: each node's call runs here as an
//! internal call in the macro's invocation, and its result comes back as object ids. The
//! nodes of one run read each object once ([`Snapshot`]).

use super::snapshot::Snapshot;
use super::{CallContext, Calls, Resolved};
use crate::access::Caller;
use crate::error::Result;
use crate::executor::{NodeCaller, Wait};
use crate::ids::{ObjectId, Target, TaskId};
use crate::objects::view;
use crate::store::ObjectVersion;
use crate::store::WaitRequest;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;

/// [`NodeCaller`] over [`Calls`], in one invocation.
pub struct NodeCalls {
    calls: Arc<Calls>,
    ctx: CallContext,
    seen: Arc<Snapshot>,
}

impl NodeCalls {
    /// The node calls of the macro run that `ctx` started on `target` (its object, if any,
    /// is the first version the run has seen).
    pub fn new(calls: Arc<Calls>, ctx: &CallContext, target: &Resolved) -> NodeCalls {
        let ctx = CallContext {
            caller: Caller::Internal,
            progress: None,
            ..ctx.clone()
        };
        let seen = Arc::new(Snapshot::of(target.object.as_ref()));
        NodeCalls { calls, ctx, seen }
    }
}

/// The version of `id` this run has seen, or else the newest, kept for the next nodes.
async fn read(calls: &Calls, seen: &Snapshot, id: &ObjectId) -> Result<Arc<ObjectVersion>> {
    match seen.get(id) {
        Ok(v) => Ok(v),
        Err(start) => {
            let v = calls.objects.object(id, None).await?;
            seen.keep(start, &v);
            Ok(v)
        }
    }
}

/// Whether calling `function` may change objects that exist: a `mut` function, a builtin or
/// a macro (whose nodes may make any of these). Other functions only read, and make new
/// objects at most.
fn may_change(resolved: &Resolved, function: &str) -> bool {
    match resolved.class.function(function) {
        Some(f) => f.mutates || f.run.builtin.is_some(),
        None => true,
    }
}

impl NodeCaller for NodeCalls {
    fn call(
        &self,
        target: Target,
        function: String,
        args: Value,
        task: TaskId,
    ) -> BoxFuture<'static, Result<Value>> {
        let (calls, seen) = (self.calls.clone(), self.seen.clone());
        let ctx = CallContext {
            task,
            ..self.ctx.clone()
        };
        Box::pin(async move {
            let resolved = match &target {
                Target::Object(id) => calls.on_object(read(&calls, &seen, id).await?)?,
                Target::Class(_) => calls.resolve(&target).await?,
            };
            let changes = may_change(&resolved, &function);
            let result = calls.run(&resolved, &function, args, ctx).await;
            if changes {
                seen.forget();
            }
            result.map(view::as_ids)
        })
    }

    fn wait(&self, wait: Wait, task: TaskId) -> BoxFuture<'static, Result<Value>> {
        let calls = self.calls.clone();
        let request = WaitRequest {
            task,
            invocation: self.ctx.invocation.clone(),
            signal: wait.signal,
            ms: wait.ms,
        };
        let ctx = self.ctx.clone();
        Box::pin(async move {
            // A wait row holds the invocation's place: its record must be stored first.
            ctx.record_written().await?;
            let store = calls.objects.store().clone();
            calls.waits.run(store.as_ref(), &request).await
        })
    }

    fn reused(&self, task: &TaskId) -> bool {
        self.ctx.memo.as_ref().is_some_and(|r| r.contains(task))
    }

    fn field(&self, id: ObjectId, name: String) -> BoxFuture<'static, Result<Value>> {
        let (calls, seen) = (self.calls.clone(), self.seen.clone());
        Box::pin(async move {
            let obj = read(&calls, &seen, &id).await?;
            Ok(obj
                .state
                .get(&name)
                .cloned()
                .or_else(|| obj.refs.get(&name).cloned())
                .unwrap_or(Value::Null))
        })
    }
}
