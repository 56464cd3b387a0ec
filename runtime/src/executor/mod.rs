//! Running macros: the invocation graph of the artifact, executed as a dataflow.
//!
//! Ready nodes are dispatched concurrently; a map node runs its body once per element (at
//! most [`MAP_CONCURRENCY`] at a time); ordering edges are honoured like data edges. A failed
//! node marks everything that depends on it as skipped, with the cause; independent nodes
//! finish; the macro then fails listing every failure with its source span.
//!
//! An `if` node runs one of its blocks as a level of its own and marks the other block's
//! nodes skipped; a `try` node runs its body and, if that fails, its `catch` block with the
//! error bound. A block that ends in `return` ends the macro: the levels around it stop
//! starting nodes (those left are marked skipped) and give its value. Operators and value
//! builtins are computed here ([`ops`]).
//!
//! Every call is a task with a deterministic id (`{invocation}.n{node}` plus `.e{i}` per
//! enclosing map element), and task results are committed once, so running a macro again
//! (after a crash, or a retried request) reuses what was done: nothing runs twice, and every
//! output object exists once.

use crate::error::{Error, ErrorKind, Result};
use crate::ids::{node_key, ElementPath, ObjectId, Target, TaskId, TaskScope};
use crate::store::{NodeRecord, NodeStatus};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use oaas_compiler::artifact::{
    Access, Artifact, GraphArtifact, MacroArtifact, NodeArtifact, NodeOp, SourceSpan, TypeRef,
    ValueRef,
};
use oaas_compiler::syntax::ast::Tolerance;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// What the executor needs of the runtime: calls for its nodes, and fields of objects. The
/// runtime's calls layer implements it; tests use fakes.
pub trait NodeCaller: Send + Sync {
    /// Calls `function` on `target` as task `task`; object results come back as ids.
    fn call(
        &self,
        target: Target,
        function: String,
        args: Value,
        task: TaskId,
    ) -> BoxFuture<'static, Result<Value>>;
    /// A state field or ref of an object's newest version (null when it has none).
    fn field(&self, id: ObjectId, name: String) -> BoxFuture<'static, Result<Value>>;
    /// Whether the call made as `task` was answered by a recorded result (`@memo`).
    fn reused(&self, _task: &TaskId) -> bool {
        false
    }
    /// Waits durably as task `task`: for a signal (its value, or a timeout error), or for
    /// a while (null).
    fn wait(&self, wait: Wait, task: TaskId) -> BoxFuture<'static, Result<Value>>;
}

/// What a wait node waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The signal; `None` for a sleep.
    pub signal: Option<String>,
    /// The sleep, or the signal's timeout, in milliseconds.
    pub ms: u64,
}

/// A macro of a package version, shared rather than copied per run: the runtime hands in
/// one read in place from its deployed artifact; tests hand in an `Arc<MacroArtifact>`.
pub type MacroRef = Arc<dyn Deref<Target = MacroArtifact> + Send + Sync>;

/// Most elements of one map run at once.
pub const MAP_CONCURRENCY: usize = 64;

/// What a macro run needs to know.
#[derive(Clone)]
pub struct MacroRun {
    /// Where its nodes' calls go.
    pub calls: Arc<dyn NodeCaller>,
    /// The package version.
    pub artifact: Arc<Artifact>,
    /// The macro.
    pub macro_: MacroRef,
    /// `self`, for object macros.
    pub self_id: Option<ObjectId>,
    /// Arguments, defaults filled in.
    pub args: Map<String, Value>,
    /// Where its tasks' ids are numbered.
    pub scope: TaskScope,
    /// Per-node status, shared with whoever reports progress.
    pub progress: Arc<Progress>,
}

/// Per-node status of a running macro, by node key. Each change is stamped, under the same
/// lock as the map, with the next [`NodeRecord::seq`] and the node's times, so a snapshot
/// holds every change up to the greatest `seq` in it.
#[derive(Default)]
pub struct Progress {
    nodes: Mutex<Nodes>,
    dirty: AtomicBool,
}

#[derive(Default)]
struct Nodes {
    records: BTreeMap<String, NodeRecord>,
    last_seq: u64,
}

impl Progress {
    fn set(&self, key: String, mut record: NodeRecord) {
        let now = crate::store::now_ms();
        if let Ok(mut n) = self.nodes.lock() {
            let now_us = now.saturating_mul(1000).max(0) as u64;
            n.last_seq = now_us.max(n.last_seq + 1);
            record.seq = n.last_seq;
            let before = n.records.get(&key).and_then(|r| r.started_at);
            match record.status {
                NodeStatus::Pending => {}
                NodeStatus::Running | NodeStatus::Waiting => record.started_at = Some(now),
                _ => {
                    record.started_at = before;
                    record.finished_at = Some(now);
                }
            }
            n.records.insert(key, record);
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// A copy of the statuses.
    pub fn snapshot(&self) -> BTreeMap<String, NodeRecord> {
        self.nodes
            .lock()
            .map(|n| n.records.clone())
            .unwrap_or_default()
    }

    /// Whether anything changed since the last call.
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

fn record(status: NodeStatus, label: &str) -> NodeRecord {
    NodeRecord {
        status,
        label: label.to_string(),
        output: None,
        error: None,
        cause: None,
        internal: false,
        seq: 0,
        started_at: None,
        finished_at: None,
        reused: false,
    }
}

/// Whether a node's output may show what only the platform may read: a call of a member
/// that is not public, or a `for` or `flatten` over one.
fn is_internal(artifact: &Artifact, graph: &GraphArtifact, node: &NodeArtifact) -> bool {
    match &node.op {
        NodeOp::Call {
            class, function, ..
        } => {
            let access = artifact.class(class).and_then(|c| {
                c.function(function)
                    .map(|f| f.access)
                    .or_else(|| c.macro_named(function).map(|m| m.access))
            });
            access != Some(Access::Public)
        }
        NodeOp::Map { body, .. } => body.nodes.iter().any(|n| is_internal(artifact, body, n)),
        NodeOp::Flatten { input } | NodeOp::Compute { value: input } => {
            reads_internal(artifact, graph, input)
        }
        NodeOp::Wait { .. } => false,
        NodeOp::If {
            then, otherwise, ..
        } => [then, otherwise]
            .iter()
            .any(|b| b.nodes.iter().any(|n| is_internal(artifact, b, n))),
        NodeOp::Try { body, catch, .. } => [body, catch]
            .iter()
            .any(|b| b.nodes.iter().any(|n| is_internal(artifact, b, n))),
    }
}

/// Whether a value reads a node whose output is internal (or one of another level).
fn reads_internal(artifact: &Artifact, graph: &GraphArtifact, v: &ValueRef) -> bool {
    match v {
        ValueRef::Node(n) => graph
            .nodes
            .iter()
            .find(|x| x.id == *n)
            .is_none_or(|x| is_internal(artifact, graph, x)),
        ValueRef::Field { of, .. } => reads_internal(artifact, graph, of),
        ValueRef::List(items) | ValueRef::Op { args: items, .. } => {
            items.iter().any(|i| reads_internal(artifact, graph, i))
        }
        ValueRef::Object(m) => m.values().any(|i| reads_internal(artifact, graph, i)),
        _ => false,
    }
}

/// One failure of a macro run, pointing at the source of the failing call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeFailure {
    /// The node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u32>,
    /// The call as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// The error's code.
    pub code: ErrorKind,
    /// What happened.
    pub message: String,
    /// The macro it belongs to.
    #[serde(rename = "macro", default, skip_serializing_if = "Option::is_none")]
    pub macro_: Option<String>,
    /// The class that declares the macro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_in: Option<String>,
    /// Where the call is in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<FailureSource>,
    /// The failures inside a nested macro, for a node that called one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causes: Option<Vec<NodeFailure>>,
}

/// A failing call's place in the source: its file as the package names it, and its span.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailureSource {
    /// The source file.
    pub file: String,
    /// First line, from 1.
    pub line: u32,
    /// First column, from 1.
    pub column: u32,
    /// Last line.
    pub end_line: u32,
    /// Column after the end.
    pub end_column: u32,
    /// Byte offset of the start.
    pub start: u32,
    /// Byte offset of the end.
    pub end: u32,
    /// The source text of the call.
    pub text: String,
}

impl FailureSource {
    fn new(file: String, span: &SourceSpan) -> FailureSource {
        FailureSource {
            file,
            line: span.line,
            column: span.column,
            end_line: span.end_line,
            end_column: span.end_column,
            start: span.start,
            end: span.end,
            text: span.text.clone(),
        }
    }
}

impl NodeFailure {
    /// A failure with no node: the runtime's own, or of resolving the result.
    fn bare(e: &Error) -> NodeFailure {
        NodeFailure {
            node: None,
            label: None,
            task_id: None,
            code: e.kind,
            message: e.message.clone(),
            macro_: None,
            declared_in: None,
            source: None,
            causes: None,
        }
    }
}

/// What a call of a failed macro made before the macro failed: the objects it output or
/// changed stay (outputs are immutable and nothing is rolled back), so the error lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialOutput {
    /// The node's key (`n3`, `n1.e0` for an element of a `for`).
    pub node: String,
    /// The call as written.
    pub label: String,
    /// What it gave: an object's id, a list of them, or a value (absent when only the
    /// platform may read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// A `mut` call: it made a new version of the object it was called on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changed: bool,
}

/// The partial outputs a failed macro's error lists (in its details), if it is one.
pub fn partial_outputs_of(e: &Error) -> Vec<PartialOutput> {
    e.details
        .get("partial_outputs")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default()
}

/// The calls that succeeded and gave something or changed an object, by node key.
fn partial_outputs(
    graph: &GraphArtifact,
    nodes: &BTreeMap<String, NodeRecord>,
) -> Vec<PartialOutput> {
    let mut calls = HashMap::new();
    call_nodes(graph, &mut calls);
    let node_of = |key: &str| -> Option<u32> {
        let digits = key.strip_prefix('n')?.split('.').next()?;
        digits.parse().ok()
    };
    nodes
        .iter()
        .filter(|(_, r)| r.status == NodeStatus::Succeeded)
        .filter_map(|(key, r)| {
            let changed = *calls.get(&node_of(key)?)?;
            let output = r.output.clone().filter(|o| !o.is_null());
            (changed || output.is_some() || r.internal).then(|| PartialOutput {
                node: key.clone(),
                label: r.label.clone(),
                output,
                changed,
            })
        })
        .collect()
}

/// The call nodes of a graph and of the blocks and bodies inside it, each with whether it
/// is a `mut` call.
fn call_nodes(graph: &GraphArtifact, out: &mut HashMap<u32, bool>) {
    for n in &graph.nodes {
        match &n.op {
            NodeOp::Call { mutates, .. } => {
                out.insert(n.id, *mutates);
            }
            NodeOp::Map { body, .. } => call_nodes(body, out),
            NodeOp::If {
                then, otherwise, ..
            } => {
                call_nodes(then, out);
                call_nodes(otherwise, out);
            }
            NodeOp::Try { body, catch, .. } => {
                call_nodes(body, out);
                call_nodes(catch, out);
            }
            NodeOp::Compute { .. } | NodeOp::Flatten { .. } | NodeOp::Wait { .. } => {}
        }
    }
}

/// Whether running `graph` can change no object and wait for nothing, as far as its nodes
/// say: every call is of a function that is not `mut`, is no builtin, is not `@memo` and
/// outputs no object, and no node waits. A synchronous macro of that kind has nothing to
/// finish after a crash, so its record need not be written before its outcome (a call that
/// does change something, say a subclass's override, still waits for the record first).
pub fn changes_nothing(artifact: &Artifact, graph: &GraphArtifact) -> bool {
    graph.nodes.iter().all(|n| match &n.op {
        NodeOp::Call {
            class,
            function,
            mutates,
            ..
        } => {
            let func = artifact.class(class).and_then(|c| c.function(function));
            !mutates
                && func.is_some_and(|f| {
                    !f.mutates
                        && f.run.builtin.is_none()
                        && !f.run.memo
                        && !f.returns.as_ref().is_some_and(TypeRef::holds_objects)
                })
        }
        NodeOp::Wait { .. } => false,
        NodeOp::Map { body, .. } => changes_nothing(artifact, body),
        NodeOp::If {
            then, otherwise, ..
        } => changes_nothing(artifact, then) && changes_nothing(artifact, otherwise),
        NodeOp::Try { body, catch, .. } => {
            changes_nothing(artifact, body) && changes_nothing(artifact, catch)
        }
        NodeOp::Compute { .. } | NodeOp::Flatten { .. } => true,
    })
}

/// The failures a macro's error lists (in its details), if it is one.
pub fn failures_of(e: &Error) -> Option<Vec<NodeFailure>> {
    serde_json::from_value(e.details.get("failures")?.clone()).ok()
}

/// The graph of a level: the macro's own (shared, not copied), or a block's.
#[derive(Clone)]
enum Graph {
    Macro(MacroRef),
    Block(Arc<GraphArtifact>),
}

impl Deref for Graph {
    type Target = GraphArtifact;

    fn deref(&self) -> &GraphArtifact {
        match self {
            Graph::Macro(m) => &m.graph,
            Graph::Block(g) => g,
        }
    }
}

/// Values bound while running a level: map variables and outputs of finished nodes.
#[derive(Clone, Default)]
struct Scope {
    vars: HashMap<String, Value>,
    outputs: NodeMap<Value>,
    /// The enclosing map elements.
    path: ElementPath,
}

enum NodeOutcome {
    Done(Value),
    /// A `return` inside: the macro's result.
    Returned(Value),
    Failed(Vec<NodeFailure>),
}

/// How a level ended: with its value, or with a `return` of the macro.
enum LevelEnd {
    Value(Value),
    Returned(Value),
}

impl LevelEnd {
    fn into_outcome(self) -> NodeOutcome {
        match self {
            LevelEnd::Value(v) => NodeOutcome::Done(v),
            LevelEnd::Returned(v) => NodeOutcome::Returned(v),
        }
    }

    fn value(self) -> Value {
        match self {
            LevelEnd::Value(v) | LevelEnd::Returned(v) => v,
        }
    }
}

impl MacroRun {
    /// Runs the macro to its result, or fails with every failure listed.
    pub async fn run(self) -> Result<Value> {
        let graph = Graph::Macro(self.macro_.clone());
        let this = Arc::new(self);
        match run_level(this.clone(), graph, Scope::default()).await {
            Ok(end) => Ok(end.value()),
            Err(failures) => Err(this.failed(&failures)),
        }
    }

    /// The error of a failed run: the first failure's message, and all of them in details.
    fn failed(&self, failures: &[NodeFailure]) -> Error {
        let first = failures
            .first()
            .map(|f| f.message.as_str())
            .unwrap_or("a call failed");
        let more = match failures.len() {
            0 | 1 => String::new(),
            2 => " (and 1 more failure, listed in the error's details)".to_string(),
            n => format!(
                " (and {} more failures, listed in the error's details)",
                n - 1
            ),
        };
        // The error goes to the caller: outputs only the platform may read stay out of it.
        let mut snapshot = self.progress.snapshot();
        for n in snapshot.values_mut().filter(|n| n.internal) {
            n.output = None;
        }
        let partial = partial_outputs(&self.macro_.graph, &snapshot);
        let made = match partial.len() {
            0 => String::new(),
            1 => "; 1 call made an output before it, listed in `partial_outputs`".to_string(),
            n => format!("; {n} calls made outputs before it, listed in `partial_outputs`"),
        };
        let msg = format!("macro `{}` failed: {first}{more}{made}", self.macro_.name);
        let timeout = failures.iter().all(|f| f.code == ErrorKind::Timeout);
        let e = if timeout {
            Error::timeout(msg)
        } else {
            Error::function_failed(msg)
        };
        let list = serde_json::to_value(failures).unwrap_or(Value::Null);
        let nodes = serde_json::to_value(snapshot).unwrap_or(Value::Null);
        let partial = serde_json::to_value(partial).unwrap_or(Value::Null);
        e.with(json!({
            "macro": self.macro_.name,
            "failures": list,
            "nodes": nodes,
            "partial_outputs": partial,
        }))
    }

    fn failure(&self, node: &NodeArtifact, e: &Error, task: &TaskId) -> NodeFailure {
        let file = self
            .artifact
            .sources
            .get(node.source.file as usize)
            .map(|s| s.path.clone())
            .unwrap_or_default();
        NodeFailure {
            node: Some(node.id),
            label: Some(node.label.clone()),
            task_id: Some(task.clone()),
            code: e.kind,
            message: e.message.clone(),
            macro_: Some(self.macro_.name.clone()),
            declared_in: Some(self.macro_.declared_in.clone()),
            source: Some(FailureSource::new(file, &node.source)),
            // A failure inside a nested macro keeps its own chain of causes.
            causes: failures_of(e),
        }
    }
}

/// A map keyed by node id. The ids come from the compiled graph, not from requests, so they
/// are hashed with foldhash's fixed hasher rather than SipHash, which showed in every step.
type NodeMap<V> = HashMap<u32, V, foldhash::fast::FixedState>;
/// A set of node ids (see [`NodeMap`]).
type NodeSet = HashSet<u32, foldhash::fast::FixedState>;

/// The state of one level of a graph while it runs.
struct Level {
    deps: NodeMap<NodeSet>,
    done: NodeSet,
    failed: NodeMap<String>,
    started: NodeSet,
    failures: Vec<NodeFailure>,
    /// A node returned: the macro's result, and the label of the node.
    returned: Option<(Value, String)>,
}

impl Level {
    fn new(graph: &GraphArtifact) -> Level {
        let mut deps: NodeMap<NodeSet> = graph
            .nodes
            .iter()
            .map(|n| (n.id, NodeSet::default()))
            .collect();
        for e in &graph.edges {
            if let Some(d) = deps.get_mut(&e.to) {
                d.insert(e.from);
            }
        }
        Level {
            deps,
            done: NodeSet::default(),
            failed: NodeMap::default(),
            started: NodeSet::default(),
            failures: Vec::new(),
            returned: None,
        }
    }

    /// A failed input of `node`, if any.
    fn failed_input(&self, node: u32) -> Option<u32> {
        self.deps
            .get(&node)?
            .iter()
            .find(|x| self.failed.contains_key(x))
            .copied()
    }

    fn ready(&self, node: u32) -> bool {
        self.deps
            .get(&node)
            .is_some_and(|d| d.iter().all(|x| self.done.contains(x)))
    }
}

/// The running nodes of a level, each with its task id. They are polled by the level's own
/// task rather than spawned: a chain of calls goes on from one step to the next without a
/// hop between tasks, and a node's panic is caught as a spawned task's was.
type Running<'a> = FuturesUnordered<BoxFuture<'a, (u32, TaskId, std::thread::Result<NodeOutcome>)>>;

/// Skips the nodes whose inputs failed and starts those whose inputs are all done, until
/// nothing changes.
fn dispatch<'a>(
    run: &'a Arc<MacroRun>,
    graph: &'a GraphArtifact,
    level: &mut Level,
    scope: &Scope,
    running: &mut Running<'a>,
) {
    let mut progressed = true;
    while progressed {
        progressed = false;
        for n in &graph.nodes {
            if level.started.contains(&n.id) {
                continue;
            }
            if let Some((_, at)) = &level.returned {
                let why = format!("skipped: the macro returned at `{at}`");
                skip_nodes(run, std::slice::from_ref(n), scope, &why);
            } else if let Some(cause) = level.failed_input(n.id) {
                let label = graph
                    .nodes
                    .iter()
                    .find(|c| c.id == cause)
                    .map(|c| c.label.as_str())
                    .unwrap_or("?");
                let why = format!("skipped: `{label}` failed");
                run.progress.set(
                    node_key(n.id, &scope.path),
                    NodeRecord {
                        cause: Some(why.clone()),
                        ..record(NodeStatus::Skipped, &n.label)
                    },
                );
                level.failed.insert(n.id, why);
            } else if level.ready(n.id) {
                let status = match n.op {
                    NodeOp::Wait { .. } => NodeStatus::Waiting,
                    _ => NodeStatus::Running,
                };
                run.progress
                    .set(node_key(n.id, &scope.path), record(status, &n.label));
                let (task, scope) = (TaskId::node(&run.scope, n.id, &scope.path), scope.clone());
                let node = async move {
                    let ran = AssertUnwindSafe(run_node(run, n, scope, &task));
                    let outcome = ran.catch_unwind().await;
                    (n.id, task, outcome)
                };
                running.push(node.boxed());
            } else {
                continue;
            }
            level.started.insert(n.id);
            progressed = true;
        }
    }
}

/// Records how node `id` (run as `task`) ended: its output in the scope and its record
/// succeeded, or its failure in the level; a `return` ends the level with its value.
fn settle(
    run: &MacroRun,
    graph: &GraphArtifact,
    level: &mut Level,
    scope: &mut Scope,
    (id, task): (u32, &TaskId),
    outcome: NodeOutcome,
) {
    let node = graph.nodes.iter().find(|n| n.id == id);
    let label = node.map(|n| n.label.as_str()).unwrap_or_default();
    let key = node_key(id, &scope.path);
    let outcome = match outcome {
        NodeOutcome::Returned(v) => {
            level.returned = Some((v.clone(), label.to_string()));
            NodeOutcome::Done(v)
        }
        other => other,
    };
    match outcome {
        NodeOutcome::Done(v) | NodeOutcome::Returned(v) => {
            let internal = node.is_some_and(|n| is_internal(&run.artifact, graph, n));
            let reused = run.calls.reused(task);
            run.progress.set(
                key,
                NodeRecord {
                    output: Some(v.clone()),
                    internal,
                    reused,
                    ..record(NodeStatus::Succeeded, label)
                },
            );
            scope.outputs.insert(id, v);
            level.done.insert(id);
        }
        NodeOutcome::Failed(mut f) => {
            let msg = f
                .first()
                .map(|x| x.message.clone())
                .unwrap_or_else(|| "failed".into());
            run.progress.set(
                key,
                NodeRecord {
                    error: Some(msg.clone()),
                    ..record(NodeStatus::Failed, label)
                },
            );
            level.failed.insert(id, msg);
            level.failures.append(&mut f);
        }
    }
}

/// Runs one level of a graph to its result.
fn run_level(
    run: Arc<MacroRun>,
    graph: Graph,
    scope: Scope,
) -> BoxFuture<'static, Result<LevelEnd, Vec<NodeFailure>>> {
    Box::pin(async move {
        let mut level = Level::new(&graph);
        let mut scope = scope;
        let mut running = Running::new();
        loop {
            dispatch(&run, &graph, &mut level, &scope, &mut running);
            let Some((id, task, joined)) = running.next().await else {
                break;
            };
            let outcome = match joined {
                Ok(x) => x,
                Err(panic) => {
                    level
                        .failures
                        .push(NodeFailure::bare(&Error::internal(format!(
                            "a node panicked: {}",
                            panic_message(&*panic)
                        ))));
                    continue;
                }
            };
            settle(&run, &graph, &mut level, &mut scope, (id, &task), outcome);
        }
        if !level.failures.is_empty() {
            return Err(level.failures);
        }
        if let Some((v, _)) = level.returned {
            return Ok(LevelEnd::Returned(v));
        }
        let value = match &graph.result {
            Some(r) => resolve(&run, r, &scope)
                .await
                .map_err(|e| vec![NodeFailure::bare(&e)])?,
            None => Value::Null,
        };
        Ok(if graph.returns {
            LevelEnd::Returned(value)
        } else {
            LevelEnd::Value(value)
        })
    })
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s,
        (_, Some(s)) => s,
        _ => "no message",
    }
}

/// Marks nodes skipped with a cause, and the nodes of the blocks inside them (the nodes of a
/// `for` body have no key until an element runs, so they are left out).
fn skip_nodes(run: &MacroRun, nodes: &[NodeArtifact], scope: &Scope, why: &str) {
    for n in nodes {
        run.progress.set(
            node_key(n.id, &scope.path),
            NodeRecord {
                cause: Some(why.to_string()),
                ..record(NodeStatus::Skipped, &n.label)
            },
        );
        match &n.op {
            NodeOp::If {
                then, otherwise, ..
            } => {
                skip_nodes(run, &then.nodes, scope, why);
                skip_nodes(run, &otherwise.nodes, scope, why);
            }
            NodeOp::Try { body, catch, .. } => {
                skip_nodes(run, &body.nodes, scope, why);
                skip_nodes(run, &catch.nodes, scope, why);
            }
            _ => {}
        }
    }
}

async fn run_node(
    run: &Arc<MacroRun>,
    node: &NodeArtifact,
    scope: Scope,
    task: &TaskId,
) -> NodeOutcome {
    let outcome = match &node.op {
        NodeOp::Call { .. } => call_node(run, node, &scope, task).await,
        NodeOp::Flatten { input } => flatten(resolve(run, input, &scope).await),
        NodeOp::Compute { value } => resolve(run, value, &scope).await,
        NodeOp::Wait { signal, ms, .. } => {
            let wait = Wait {
                signal: signal.clone(),
                ms: *ms,
            };
            run.calls.wait(wait, task.clone()).await
        }
        NodeOp::If {
            cond,
            then,
            otherwise,
        } => {
            let holds = match resolve(run, cond, &scope).await {
                Ok(v) => ops::truth(&v, "an `if` condition"),
                Err(e) => Err(e),
            };
            match holds {
                Ok(holds) => {
                    let (taken, other) = if holds {
                        (then, otherwise)
                    } else {
                        (otherwise, then)
                    };
                    skip_nodes(run, &other.nodes, &scope, "skipped: branch not taken");
                    return block(run.clone(), taken, scope).await;
                }
                Err(e) => Err(e),
            }
        }
        NodeOp::Try { body, var, catch } => {
            return try_catch(run.clone(), node, (body, var, catch), scope).await;
        }
        NodeOp::Map {
            var,
            over,
            filter,
            tolerate,
            body,
        } => match resolve(run, over, &scope).await {
            Ok(Value::Array(items)) => {
                let each = Each {
                    var,
                    filter: filter.as_ref(),
                    tolerate: *tolerate,
                    body,
                };
                return map(run.clone(), each, items, &scope).await;
            }
            Ok(Value::Null) => {
                let each = Each {
                    var,
                    filter: None,
                    tolerate: *tolerate,
                    body,
                };
                return map(run.clone(), each, Vec::new(), &scope).await;
            }
            Ok(other) => Err(Error::bad_request(format!("`for` got {other}, not a list"))),
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(v) => NodeOutcome::Done(v),
        Err(e) => NodeOutcome::Failed(vec![run.failure(node, &e, task)]),
    }
}

/// The call of a node: its arguments and target resolved, then the call made.
async fn call_node(
    run: &Arc<MacroRun>,
    node: &NodeArtifact,
    scope: &Scope,
    task: &TaskId,
) -> Result<Value> {
    let NodeOp::Call {
        class,
        function,
        target,
        args,
        ..
    } = &node.op
    else {
        return Err(Error::internal("not a call node"));
    };
    let mut bound = Map::new();
    for (k, v) in args {
        bound.insert(k.clone(), resolve(run, v, scope).await?);
    }
    let target = match target {
        Some(t) => match resolve(run, t, scope).await? {
            Value::String(id) => Target::Object(ObjectId::from(id)),
            other => {
                return Err(Error::bad_request(format!(
                    "`{}` was called on {other}, which is not an object",
                    node.label
                )))
            }
        },
        None => Target::Class(class.clone()),
    };
    run.calls
        .call(target, function.clone(), Value::Object(bound), task.clone())
        .await
}

/// Runs a block of an `if` or `try` as a level of its own.
async fn block(run: Arc<MacroRun>, graph: &GraphArtifact, scope: Scope) -> NodeOutcome {
    match run_level(run, Graph::Block(Arc::new(graph.clone())), scope).await {
        Ok(end) => end.into_outcome(),
        Err(f) => NodeOutcome::Failed(f),
    }
}

/// A `try` node: its body, then, if that failed, its `catch` block with the first failure
/// bound as `{code, message, node}`.
async fn try_catch(
    run: Arc<MacroRun>,
    node: &NodeArtifact,
    (body, var, catch): (&GraphArtifact, &str, &GraphArtifact),
    scope: Scope,
) -> NodeOutcome {
    let failures = match block(run.clone(), body, scope.clone()).await {
        NodeOutcome::Failed(f) => f,
        done => {
            skip_nodes(&run, &catch.nodes, &scope, "skipped: nothing failed");
            return done;
        }
    };
    let error = error_record(failures.first(), &node.label);
    let mut inner = scope;
    inner.vars.insert(var.to_string(), Value::Object(error));
    block(run, catch, inner).await
}

/// A failure as the language sees it (`std.Error`): `{code, message, node}`; `node` is the
/// failed call as written, or `fallback` when the failure has none.
fn error_record(first: Option<&NodeFailure>, fallback: &str) -> Map<String, Value> {
    let mut m = Map::new();
    let code = first.map(|f| serde_json::to_value(f.code).unwrap_or(Value::Null));
    m.insert("code".into(), code.unwrap_or(Value::Null));
    let message = first.map(|f| f.message.clone());
    m.insert(
        "message".into(),
        message.unwrap_or_else(|| "a call failed".into()).into(),
    );
    let node = first.and_then(|f| f.label.clone());
    m.insert(
        "node".into(),
        node.unwrap_or_else(|| fallback.to_string()).into(),
    );
    m
}

fn flatten(input: Result<Value>) -> Result<Value> {
    match input? {
        Value::Array(lists) => {
            let mut out = Vec::new();
            for l in lists {
                match l {
                    Value::Array(items) => out.extend(items),
                    Value::Null => {}
                    other => out.push(other),
                }
            }
            Ok(Value::Array(out))
        }
        other => Err(Error::bad_request(format!(
            "`flatten` got {other}, not a list"
        ))),
    }
}

/// What a map node runs per element.
struct Each<'a> {
    var: &'a str,
    filter: Option<&'a ValueRef>,
    tolerate: Option<Tolerance>,
    body: &'a GraphArtifact,
}

/// A map node: its body run once per element, at most [`MAP_CONCURRENCY`] at a time. With
/// `tolerate`, up to that many elements may fail: the output is then `{"ok", "failed"}`.
async fn map(run: Arc<MacroRun>, each: Each<'_>, items: Vec<Value>, scope: &Scope) -> NodeOutcome {
    let body = Graph::Block(Arc::new(each.body.clone()));
    let limit = Arc::new(tokio::sync::Semaphore::new(MAP_CONCURRENCY));
    let mut elements: JoinSet<(usize, Result<LevelEnd, Vec<NodeFailure>>)> = JoinSet::new();
    // The elements run, by index, kept for the report of a tolerant map.
    let mut ran: BTreeMap<usize, Value> = BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let mut inner = scope.clone();
        inner.vars.insert(each.var.to_string(), item.clone());
        inner.path = scope.path.element(i);
        if let Some(f) = each.filter {
            // Elements the filter leaves out neither run nor appear in the result; their
            // indexes (and so the task ids of the others) stay those of the whole list.
            let keep = match resolve(&run, f, &inner).await {
                Ok(v) => ops::truth(&v, "a `for` filter"),
                Err(e) => Err(e),
            };
            match keep {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return NodeOutcome::Failed(vec![NodeFailure::bare(&e)]),
            }
        }
        ran.insert(
            i,
            if each.tolerate.is_some() {
                item
            } else {
                Value::Null
            },
        );
        let (run, body, limit) = (run.clone(), body.clone(), limit.clone());
        elements.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (i, run_level(run, body, inner).await)
        });
    }
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    let mut failed: BTreeMap<usize, Vec<NodeFailure>> = BTreeMap::new();
    while let Some(joined) = elements.join_next().await {
        match joined {
            Ok((i, Ok(end))) => {
                results.insert(i, end.value());
            }
            Ok((i, Err(f))) => {
                failed.insert(i, f);
            }
            Err(e) => failed
                .entry(usize::MAX)
                .or_default()
                .push(NodeFailure::bare(&Error::internal(format!(
                    "an element panicked: {e}"
                )))),
        }
    }
    let ok = Value::Array(results.into_values().collect());
    match each.tolerate {
        None if failed.is_empty() => NodeOutcome::Done(ok),
        Some(t) if failed.len() <= t.allowed(ran.len()) && !failed.contains_key(&usize::MAX) => {
            NodeOutcome::Done(json!({"ok": ok, "failed": failure_report(&failed, &ran)}))
        }
        _ => NodeOutcome::Failed(failed.into_values().flatten().collect()),
    }
}

/// The report of a tolerant map: per failed element, its index, the element, and its first
/// failure's code, message and call.
fn failure_report(
    failed: &BTreeMap<usize, Vec<NodeFailure>>,
    ran: &BTreeMap<usize, Value>,
) -> Value {
    let reports = failed.iter().map(|(i, f)| {
        let mut report = error_record(f.first(), "");
        report.insert("index".into(), json!(i));
        let element = ran.get(i).cloned().unwrap_or(Value::Null);
        report.insert("element".into(), element);
        Value::Object(report)
    });
    Value::Array(reports.collect())
}

/// The value of a [`ValueRef`] in a scope.
fn resolve<'a>(
    run: &'a MacroRun,
    v: &'a ValueRef,
    scope: &'a Scope,
) -> BoxFuture<'a, Result<Value>> {
    Box::pin(async move {
        Ok(match v {
            ValueRef::Const(c) => c.clone(),
            ValueRef::SelfObj => match &run.self_id {
                Some(id) => Value::from(id.as_str()),
                None => return Err(Error::bad_request("a static macro has no `self`")),
            },
            ValueRef::Param(p) => run.args.get(p).cloned().unwrap_or(Value::Null),
            ValueRef::Var(x) => scope
                .vars
                .get(x)
                .cloned()
                .ok_or_else(|| Error::bad_request(format!("no loop variable `{x}`")))?,
            ValueRef::Node(n) => scope
                .outputs
                .get(n)
                .cloned()
                .ok_or_else(|| Error::internal(format!("node {n} has no output yet")))?,
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
            ValueRef::Op { op, args } if op == "and" || op == "or" => {
                let what = format!("`{op}`");
                let first = match args.first() {
                    Some(a) => ops::truth(&resolve(run, a, scope).await?, &what)?,
                    None => false,
                };
                // Short-circuit: `x != null and x.n > 1` reads `x.n` only when `x` is there.
                if first == (op == "or") {
                    Value::Bool(first)
                } else {
                    match args.get(1) {
                        Some(b) => Value::Bool(ops::truth(&resolve(run, b, scope).await?, &what)?),
                        None => Value::Bool(first),
                    }
                }
            }
            ValueRef::Op { op, args } => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(resolve(run, a, scope).await?);
                }
                ops::apply(op, &values)?
            }
            ValueRef::Field { of, name } => match resolve(run, of, scope).await? {
                // An object id: read the field (state or ref) of its newest version.
                Value::String(id) => run.calls.field(ObjectId::from(id), name.clone()).await?,
                Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
                Value::Null => Value::Null,
                other => {
                    return Err(Error::bad_request(format!(
                        "cannot read `.{name}` of {other}"
                    )))
                }
            },
        })
    })
}

mod ops;

#[cfg(test)]
mod tests;
