//! Running macros: the invocation graph of the artifact, executed as a dataflow.
//!
//! Ready nodes are dispatched concurrently; a map node runs its body once per element (at
//! most [`MAP_CONCURRENCY`] at a time); ordering edges are honoured like data edges. A failed
//! node marks everything that depends on it as skipped, with the cause; independent nodes
//! finish; the macro then fails listing every failure with its source span.
//!
//! Every call is a task with a deterministic id (`{invocation}.n{node}` plus `.e{i}` per
//! enclosing map element), and task results are committed once, so running a macro again
//! (after a crash, or a retried request) reuses what was done: nothing runs twice, and every
//! output object exists once.

use crate::engine::{Caller, Engine, Target};
use crate::error::ApiError;
use crate::store::{now_ms, Commit};
use oaas_compiler::artifact::{
    Artifact, GraphArtifact, MacroArtifact, NodeArtifact, NodeOp, ValueRef,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// Most elements of one map run at once.
pub const MAP_CONCURRENCY: usize = 64;

/// What a macro run needs to know.
#[derive(Clone)]
pub struct MacroRun {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The package version.
    pub artifact: Arc<Artifact>,
    /// The macro.
    pub macro_: Arc<MacroArtifact>,
    /// `self`, for object macros.
    pub self_id: Option<String>,
    /// Arguments, defaults filled in.
    pub args: Map<String, Value>,
    /// The invocation.
    pub invocation_id: String,
    /// Prefix of task ids (`{invocation}` for a top-level macro, the calling task's id for a
    /// macro called from a macro).
    pub prefix: String,
    /// Per-node status, shared with whoever reports progress.
    pub progress: Arc<Progress>,
}

/// Per-node status of a running macro: node key -> `{status, label, output|error}`.
#[derive(Default)]
pub struct Progress {
    nodes: Mutex<BTreeMap<String, Value>>,
    dirty: Mutex<bool>,
}

impl Progress {
    fn set(&self, key: &str, value: Value) {
        if let Ok(mut n) = self.nodes.lock() {
            n.insert(key.to_string(), value);
        }
        if let Ok(mut d) = self.dirty.lock() {
            *d = true;
        }
    }

    /// A copy of the statuses.
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.nodes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Whether anything changed since the last call.
    pub fn take_dirty(&self) -> bool {
        self.dirty
            .lock()
            .map(|mut d| std::mem::replace(&mut *d, false))
            .unwrap_or(false)
    }
}

/// One failure of a macro run, pointing at the source.
#[derive(Clone, Debug)]
struct Failure {
    body: Value,
}

/// Values bound while running a level: map variables and outputs of finished nodes.
#[derive(Clone, Default)]
struct Scope {
    vars: HashMap<String, Value>,
    outputs: HashMap<u32, Value>,
    /// `.e{i}` path of the enclosing map elements.
    suffix: String,
}

enum NodeOutcome {
    Done(Value),
    Failed(Vec<Failure>),
}

impl MacroRun {
    /// Runs the macro to its result, or fails with every failure listed.
    pub async fn run(self) -> Result<Value, ApiError> {
        let graph = self.macro_.graph.clone();
        let scope = Scope::default();
        let this = Arc::new(self);
        match run_level(this.clone(), Arc::new(graph), scope).await {
            Ok(v) => Ok(v),
            Err(failures) => {
                let list: Vec<Value> = failures.iter().map(|f| f.body.clone()).collect();
                let first = list
                    .first()
                    .and_then(|f| f.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("a call failed")
                    .to_string();
                let timeout = list
                    .iter()
                    .all(|f| f.get("status").and_then(Value::as_u64) == Some(504));
                let msg = format!(
                    "macro `{}` failed: {first}{}",
                    this.macro_.name,
                    if list.len() > 1 {
                        format!(" (and {} more)", list.len() - 1)
                    } else {
                        String::new()
                    }
                );
                let e = if timeout {
                    ApiError::timeout(msg)
                } else {
                    ApiError::function_failed(msg)
                };
                Err(e.with(json!({"macro": this.macro_.name, "failures": list, "nodes": this.progress.snapshot()})))
            }
        }
    }
}

fn node_key(id: u32, suffix: &str) -> String {
    format!("n{id}{suffix}")
}

/// Runs one level of a graph to its result.
fn run_level(
    run: Arc<MacroRun>,
    graph: Arc<GraphArtifact>,
    scope: Scope,
) -> futures_util::future::BoxFuture<'static, Result<Value, Vec<Failure>>> {
    Box::pin(async move {
        let mut deps: HashMap<u32, HashSet<u32>> =
            graph.nodes.iter().map(|n| (n.id, HashSet::new())).collect();
        for e in &graph.edges {
            if let Some(d) = deps.get_mut(&e.to) {
                d.insert(e.from);
            }
        }
        let nodes: HashMap<u32, NodeArtifact> =
            graph.nodes.iter().map(|n| (n.id, n.clone())).collect();
        let mut scope = scope;
        let mut done: HashSet<u32> = HashSet::new();
        let mut failed: HashMap<u32, String> = HashMap::new();
        let mut failures: Vec<Failure> = Vec::new();
        let mut started: HashSet<u32> = HashSet::new();
        let mut running: JoinSet<(u32, NodeOutcome)> = JoinSet::new();
        loop {
            // Skip nodes whose inputs failed; start nodes whose inputs are all done.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for n in &graph.nodes {
                    if started.contains(&n.id) {
                        continue;
                    }
                    let d = &deps[&n.id];
                    if let Some(cause) = d.iter().find(|x| failed.contains_key(x)) {
                        let why = format!(
                            "skipped: `{}` failed",
                            nodes.get(cause).map(|c| c.label.as_str()).unwrap_or("?")
                        );
                        run.progress.set(
                            &node_key(n.id, &scope.suffix),
                            json!({"status": "skipped", "label": n.label, "cause": why}),
                        );
                        failed.insert(n.id, why);
                        started.insert(n.id);
                        progressed = true;
                        continue;
                    }
                    if d.iter().all(|x| done.contains(x)) {
                        started.insert(n.id);
                        run.progress.set(
                            &node_key(n.id, &scope.suffix),
                            json!({"status": "running", "label": n.label}),
                        );
                        let (run, node, scope) = (run.clone(), n.clone(), scope.clone());
                        running.spawn(async move {
                            let id = node.id;
                            (id, run_node(run, node, scope).await)
                        });
                        progressed = true;
                    }
                }
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (id, outcome) = match joined {
                Ok(x) => x,
                Err(e) => {
                    failures.push(Failure {
                        body: json!({"message": format!("a node panicked: {e}")}),
                    });
                    continue;
                }
            };
            let label = nodes.get(&id).map(|n| n.label.clone()).unwrap_or_default();
            match outcome {
                NodeOutcome::Done(v) => {
                    run.progress.set(
                        &node_key(id, &scope.suffix),
                        json!({"status": "succeeded", "label": label, "output": v}),
                    );
                    scope.outputs.insert(id, v);
                    done.insert(id);
                }
                NodeOutcome::Failed(mut f) => {
                    let msg = f
                        .first()
                        .and_then(|x| x.body.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("failed")
                        .to_string();
                    run.progress.set(
                        &node_key(id, &scope.suffix),
                        json!({"status": "failed", "label": label, "error": msg}),
                    );
                    failed.insert(id, msg);
                    failures.append(&mut f);
                }
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
        match &graph.result {
            Some(r) => resolve(&run, r, &scope).await.map_err(|e| {
                vec![Failure {
                    body: json!({"message": e}),
                }]
            }),
            None => Ok(Value::Null),
        }
    })
}

/// An object id out of a call result: views become their ids, lists of views lists of ids.
fn as_output(result: Value) -> Value {
    match result {
        Value::Object(ref m)
            if m.contains_key("id") && m.contains_key("class") && m.contains_key("version") =>
        {
            m["id"].clone()
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_output).collect()),
        other => other,
    }
}

fn failure(run: &MacroRun, node: &NodeArtifact, e: &ApiError, task_id: &str) -> Failure {
    let path = run
        .artifact
        .sources
        .get(node.source.file as usize)
        .map(|s| s.path.clone())
        .unwrap_or_default();
    let mut body = json!({
        "node": node.id,
        "label": node.label,
        "task_id": task_id,
        "status": e.status.as_u16(),
        "code": e.code,
        "message": e.message,
        "macro": run.macro_.name,
        "declared_in": run.macro_.declared_in,
        "source": {"file": path, "line": node.source.line, "column": node.source.column, "end_line": node.source.end_line,
                    "end_column": node.source.end_column, "start": node.source.start, "end": node.source.end, "text": node.source.text},
    });
    // A failure inside a nested macro keeps its own chain of causes.
    if let Some(inner) = e.details.get("failures") {
        body["causes"] = inner.clone();
    }
    Failure { body }
}

async fn run_node(run: Arc<MacroRun>, node: NodeArtifact, scope: Scope) -> NodeOutcome {
    let task_id = format!("{}.n{}{}", run.prefix, node.id, scope.suffix);
    match &node.op {
        NodeOp::Call {
            class,
            function,
            target,
            args,
            ..
        } => {
            let mut bound = Map::new();
            for (k, v) in args {
                match resolve(&run, v, &scope).await {
                    Ok(v) => {
                        bound.insert(k.clone(), v);
                    }
                    Err(e) => {
                        return NodeOutcome::Failed(vec![failure(
                            &run,
                            &node,
                            &ApiError::bad_request(e),
                            &task_id,
                        )])
                    }
                }
            }
            let target = match target {
                Some(t) => match resolve(&run, t, &scope).await {
                    Ok(Value::String(id)) => Target::Object(id),
                    Ok(other) => {
                        let e = ApiError::bad_request(format!(
                            "`{}` was called on {other}, which is not an object",
                            node.label
                        ));
                        return NodeOutcome::Failed(vec![failure(&run, &node, &e, &task_id)]);
                    }
                    Err(e) => {
                        return NodeOutcome::Failed(vec![failure(
                            &run,
                            &node,
                            &ApiError::bad_request(e),
                            &task_id,
                        )])
                    }
                },
                None => Target::Class(class.clone()),
            };
            let result = run
                .engine
                .clone()
                .call_task_boxed(
                    target,
                    function.clone(),
                    Value::Object(bound),
                    Caller::Internal,
                    run.invocation_id.clone(),
                    task_id.clone(),
                )
                .await;
            match result {
                Ok(r) => NodeOutcome::Done(as_output(r.result)),
                Err(e) => NodeOutcome::Failed(vec![failure(&run, &node, &e, &task_id)]),
            }
        }
        NodeOp::Flatten { input } => match resolve(&run, input, &scope).await {
            Ok(Value::Array(lists)) => {
                let mut out = Vec::new();
                for l in lists {
                    match l {
                        Value::Array(items) => out.extend(items),
                        Value::Null => {}
                        other => out.push(other),
                    }
                }
                NodeOutcome::Done(Value::Array(out))
            }
            Ok(other) => NodeOutcome::Failed(vec![failure(
                &run,
                &node,
                &ApiError::bad_request(format!("`flatten` got {other}, not a list")),
                &task_id,
            )]),
            Err(e) => NodeOutcome::Failed(vec![failure(
                &run,
                &node,
                &ApiError::bad_request(e),
                &task_id,
            )]),
        },
        NodeOp::Map { var, over, body } => {
            let items = match resolve(&run, over, &scope).await {
                Ok(Value::Array(items)) => items,
                Ok(Value::Null) => Vec::new(),
                Ok(other) => {
                    return NodeOutcome::Failed(vec![failure(
                        &run,
                        &node,
                        &ApiError::bad_request(format!("`for` got {other}, not a list")),
                        &task_id,
                    )])
                }
                Err(e) => {
                    return NodeOutcome::Failed(vec![failure(
                        &run,
                        &node,
                        &ApiError::bad_request(e),
                        &task_id,
                    )])
                }
            };
            let body = Arc::new((**body).clone());
            let limit = Arc::new(tokio::sync::Semaphore::new(MAP_CONCURRENCY));
            let mut elements: JoinSet<(usize, Result<Value, Vec<Failure>>)> = JoinSet::new();
            for (i, item) in items.into_iter().enumerate() {
                let mut inner = scope.clone();
                inner.vars.insert(var.clone(), item);
                inner.suffix = format!("{}.e{i}", scope.suffix);
                let (run, body, limit) = (run.clone(), body.clone(), limit.clone());
                elements.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    (i, run_level(run, body, inner).await)
                });
            }
            let mut results: BTreeMap<usize, Value> = BTreeMap::new();
            let mut failures = Vec::new();
            while let Some(joined) = elements.join_next().await {
                match joined {
                    Ok((i, Ok(v))) => {
                        results.insert(i, v);
                    }
                    Ok((_, Err(mut f))) => failures.append(&mut f),
                    Err(e) => failures.push(Failure {
                        body: json!({"message": format!("an element panicked: {e}")}),
                    }),
                }
            }
            if failures.is_empty() {
                NodeOutcome::Done(Value::Array(results.into_values().collect()))
            } else {
                NodeOutcome::Failed(failures)
            }
        }
    }
}

/// The value of a [`ValueRef`] in a scope.
fn resolve<'a>(
    run: &'a MacroRun,
    v: &'a ValueRef,
    scope: &'a Scope,
) -> futures_util::future::BoxFuture<'a, Result<Value, String>> {
    Box::pin(async move {
        Ok(match v {
            ValueRef::Const(c) => c.clone(),
            ValueRef::SelfObj => {
                Value::from(run.self_id.clone().ok_or("a static macro has no `self`")?)
            }
            ValueRef::Param(p) => run.args.get(p).cloned().unwrap_or(Value::Null),
            ValueRef::Var(x) => scope
                .vars
                .get(x)
                .cloned()
                .ok_or_else(|| format!("no loop variable `{x}`"))?,
            ValueRef::Node(n) => scope
                .outputs
                .get(n)
                .cloned()
                .ok_or_else(|| format!("node {n} has no output yet"))?,
            ValueRef::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(resolve(run, i, scope).await?);
                }
                Value::Array(out)
            }
            ValueRef::Object(members) => {
                let mut out = Map::new();
                for (k, i) in members {
                    out.insert(k.clone(), resolve(run, i, scope).await?);
                }
                Value::Object(out)
            }
            ValueRef::Field { of, name } => {
                let base = resolve(run, of, scope).await?;
                match base {
                    // An object id: read the field (state or ref) of its newest version.
                    Value::String(id) => {
                        let obj = run.engine.object(&id, None).await.map_err(|e| e.message)?;
                        obj.state
                            .get(name)
                            .cloned()
                            .or_else(|| obj.refs.get(name).cloned())
                            .unwrap_or(Value::Null)
                    }
                    Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
                    Value::Null => Value::Null,
                    other => return Err(format!("cannot read `.{name}` of {other}")),
                }
            }
        })
    })
}

/// Stores a macro's per-node progress in its invocation while it runs, at most every 100 ms.
pub fn spawn_progress_writer(
    engine: Arc<Engine>,
    invocation_id: String,
    progress: Arc<Progress>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if progress.take_dirty() {
                if let Ok(Some(mut inv)) = engine.store.invocation(&invocation_id).await {
                    if inv.status != crate::store::InvocationStatus::Pending {
                        return;
                    }
                    inv.nodes = progress.snapshot();
                    inv.updated_at = now_ms();
                    let _ = engine
                        .store
                        .commit(Commit {
                            invocations: vec![inv],
                            ..Default::default()
                        })
                        .await;
                }
            }
        }
    })
}
