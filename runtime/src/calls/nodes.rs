//! The calls a macro's nodes make, for the executor: each node's call runs here as an
//! internal call in the macro's invocation, and its result comes back as object ids.

use super::{CallContext, Calls};
use crate::access::Caller;
use crate::error::Result;
use crate::executor::{NodeCaller, Wait};
use crate::ids::{ObjectId, Target, TaskId};
use crate::objects::view;
use crate::store::WaitRequest;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;

/// [`NodeCaller`] over [`Calls`], in one invocation.
pub struct NodeCalls {
    calls: Arc<Calls>,
    ctx: CallContext,
}

impl NodeCalls {
    /// The node calls of the macro run that `ctx` started.
    pub fn new(calls: Arc<Calls>, ctx: &CallContext) -> NodeCalls {
        let ctx = CallContext {
            caller: Caller::Internal,
            progress: None,
            ..ctx.clone()
        };
        NodeCalls { calls, ctx }
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
        let calls = self.calls.clone();
        let ctx = CallContext {
            task,
            ..self.ctx.clone()
        };
        Box::pin(async move {
            calls
                .call(&target, &function, args, ctx)
                .await
                .map(view::as_ids)
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
        let calls = self.calls.clone();
        Box::pin(async move {
            let obj = calls.objects.object(&id, None).await?;
            Ok(obj
                .state
                .get(&name)
                .cloned()
                .or_else(|| obj.refs.get(&name).cloned())
                .unwrap_or(Value::Null))
        })
    }
}
