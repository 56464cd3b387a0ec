//! Invocation graphs: each checked macro lowered to a dataflow graph of calls.
//!
//! Nodes are calls, `for` fan-outs (map nodes holding a sub-graph) and `flatten`s. Edges are
//! data dependencies, plus ordering edges that keep calls on one object in source order around
//! each `mut` call. Graphs are petgraph graphs with small weights ([`NodeId`]) and a side table
//! of [`Node`]s; algorithms (topological order, cycles) come from petgraph.

pub mod draw;

use crate::check::model::{ClassId, Loc, MemberId, MemberKind};
use crate::check::types::Ty;
use crate::check::{const_value, Analysis};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Sources};
use crate::syntax::ast;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// Identifies a node across a macro's whole graph, nested levels included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(pub u32);

/// Why one node must come before another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// The later node uses the earlier one's output.
    Data,
    /// Both touch the same object and one of them is `mut`: source order is kept.
    Order,
}

/// How a value reaches a node: from a constant, a parameter, an earlier output, ...
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A constant.
    Const(serde_json::Value),
    /// The macro's own object.
    #[serde(rename = "self")]
    SelfObj,
    /// A parameter of the macro.
    Param(String),
    /// The current element of an enclosing `for` (by its variable name).
    Var(String),
    /// The output of a node.
    Node(NodeId),
    /// A field of a value (state of an object, or a record field).
    Field {
        /// What it is read from.
        of: Box<Value>,
        /// The field.
        name: String,
    },
    /// A list built from values.
    List(Vec<Value>),
    /// A JSON object built from values.
    Object(Vec<(String, Value)>),
    /// An operator or value builtin applied to values, computed by the runtime: `+`, `==`,
    /// `and`, `not`, `len`, ... (see [`ast::BinOp`] and [`ast::UnOp`] for the names).
    Op {
        /// The operator as written (`+`, `and`, `neg` for prefix `-`) or the builtin's name.
        op: String,
        /// Its operands.
        args: Vec<Value>,
    },
}

impl Value {
    /// The nodes this value reads.
    pub fn nodes(&self, out: &mut BTreeSet<NodeId>) {
        match self {
            Value::Node(n) => {
                out.insert(*n);
            }
            Value::Field { of, .. } => of.nodes(out),
            Value::List(items) => items.iter().for_each(|v| v.nodes(out)),
            Value::Object(items) => items.iter().for_each(|(_, v)| v.nodes(out)),
            Value::Op { args, .. } => args.iter().for_each(|v| v.nodes(out)),
            _ => {}
        }
    }

    /// The object a call on this value acts on, as a key for ordering: `self`, a parameter,
    /// a loop variable, or a node's output (through field reads such as refs).
    fn object_key(&self) -> Option<String> {
        match self {
            Value::SelfObj => Some("self".into()),
            Value::Param(p) => Some(format!("param:{p}")),
            Value::Var(v) => Some(format!("var:{v}")),
            Value::Node(n) => Some(format!("node:{}", n.0)),
            Value::Field { of, name } => of.object_key().map(|k| format!("{k}.{name}")),
            _ => None,
        }
    }
}

/// What is called on what.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Receiver {
    /// An object function: called on this value.
    Object(Value),
    /// A static function of the class.
    Class,
}

/// A call of a function or macro.
#[derive(Clone, Debug, PartialEq)]
pub struct CallNode {
    /// The class the function was looked up on (calls dispatch on the object's class at run
    /// time; this is the declared one).
    pub class: ClassId,
    /// The function or macro.
    pub member: MemberId,
    /// What it is called on.
    pub receiver: Receiver,
    /// Arguments by parameter name; parameters not listed take their defaults.
    pub args: Vec<(String, Value)>,
    /// A `mut` call: it makes a new version of its object.
    pub mutates: bool,
    /// The result type (`Unit` for none).
    pub result: Ty,
}

/// A `for` fan-out: the body runs once per element of `over`.
#[derive(Clone, Debug)]
pub struct MapNode {
    /// The loop variable.
    pub var: String,
    /// The list iterated over.
    pub over: Value,
    /// `if cond` after the list: the elements for which it is false are left out.
    pub filter: Option<Value>,
    /// `tolerate N` / `tolerate N%`: up to that many elements may fail; the node's output is
    /// then `{"ok": [...], "failed": [...]}`.
    pub tolerate: Option<ast::Tolerance>,
    /// The body, a graph of its own.
    pub body: Level,
}

/// An `if`: one of two sub-graphs runs; the other's nodes are skipped.
#[derive(Clone, Debug)]
pub struct IfNode {
    /// The condition.
    pub cond: Value,
    /// Runs when it holds.
    pub then: Level,
    /// Runs otherwise (empty without `else`).
    pub otherwise: Level,
}

/// A `try`: the body runs; if one of its calls fails, the catch block runs with the error.
#[derive(Clone, Debug)]
pub struct TryNode {
    /// The calls tried.
    pub body: Level,
    /// The name of the error in `catch`.
    pub var: String,
    /// What runs on a failure.
    pub catch: Level,
}

/// A wait: for a signal sent to the invocation (with a timeout), or for a while (`sleep`).
/// Every later node of its level runs after it, and it runs after every earlier one.
#[derive(Clone, Debug)]
pub struct WaitNode {
    /// The signal waited for; `None` for `sleep`.
    pub signal: Option<String>,
    /// How long: the sleep, or the signal's timeout, in milliseconds.
    pub ms: u64,
    /// The type of the signal's value (`Unit` for `sleep`).
    pub ty: Ty,
}

/// What a node does.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A call.
    Call(CallNode),
    /// A fan-out.
    Map(MapNode),
    /// Joins a list of lists into one list.
    Flatten {
        /// The list of lists.
        input: Value,
    },
    /// A value computed by the runtime without a container (operators, `len`, ...).
    Compute {
        /// The value.
        value: Value,
    },
    /// A decision.
    If(IfNode),
    /// Calls with a failure handler.
    Try(TryNode),
    /// A durable wait.
    Wait(WaitNode),
}

/// A node with where it comes from.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// What it does.
    pub kind: NodeKind,
    /// The expression it was made from.
    pub loc: Loc,
    /// A short label for drawings and progress: `p.extract_frames(every_s)`.
    pub label: String,
}

/// One level of a graph: the whole macro, or the body of a `for`.
#[derive(Clone, Debug, Default)]
pub struct Level {
    /// Nodes of this level (weights are ids into [`InvocationGraph::nodes`]) and edges.
    pub graph: DiGraph<NodeId, EdgeKind>,
    /// The level's value: the macro's `return`, or the value of a `for` body per element, or
    /// of a block.
    pub result: Option<Value>,
    /// The level ends with a `return` of the macro (in a block of an `if` or `try`): its
    /// result is the macro's, and nothing after the `if` or `try` runs.
    pub returns: bool,
}

impl Level {
    /// Whether running this level may end the macro: it returns, or holds a decision or a
    /// `try` one of whose blocks may.
    pub fn may_return(&self, nodes: &[Node]) -> bool {
        self.returns
            || self.node_ids().any(|id| match &nodes[id.0 as usize].kind {
                NodeKind::If(n) => n.then.may_return(nodes) || n.otherwise.may_return(nodes),
                NodeKind::Try(n) => n.body.may_return(nodes) || n.catch.may_return(nodes),
                _ => false,
            })
    }

    /// Whether running this level may wait (`signal`, `sleep`), in it or in a block or `for`
    /// body inside it.
    pub fn waits(&self, nodes: &[Node]) -> bool {
        self.node_ids().any(|id| match &nodes[id.0 as usize].kind {
            NodeKind::Wait(_) => true,
            NodeKind::If(n) => n.then.waits(nodes) || n.otherwise.waits(nodes),
            NodeKind::Try(n) => n.body.waits(nodes) || n.catch.waits(nodes),
            NodeKind::Map(m) => m.body.waits(nodes),
            _ => false,
        })
    }

    /// Node ids of this level, in creation order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.graph.node_weights().copied()
    }

    /// Edges of this level as (from, to, kind).
    pub fn edges(&self) -> impl Iterator<Item = (NodeId, NodeId, EdgeKind)> + '_ {
        self.graph.edge_indices().filter_map(|e| {
            let (a, b) = self.graph.edge_endpoints(e)?;
            Some((self.graph[a], self.graph[b], self.graph[e]))
        })
    }
}

/// The invocation graph of one macro.
#[derive(Clone, Debug)]
pub struct InvocationGraph {
    /// The class declaring the macro.
    pub class: ClassId,
    /// The macro.
    pub member: MemberId,
    /// Every node of every level, indexed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// The top level.
    pub root: Level,
    /// Longest chain of nodes (a map counts its body's depth).
    pub depth: usize,
    /// Most nodes at one step of the top level.
    pub width: usize,
}

impl InvocationGraph {
    /// A node by id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }
}

/// Builds the graph of every macro declared in user code (the standard library has none).
/// Only meaningful on an analysis without errors; returns graphs and their warnings.
pub fn build_all(
    analysis: &Analysis,
    sources: &Sources,
) -> (Vec<InvocationGraph>, Vec<Diagnostic>) {
    let mut graphs = Vec::new();
    let mut diagnostics = Vec::new();
    for (i, m) in analysis.model.members.iter().enumerate() {
        if !matches!(m.kind, MemberKind::Macro(_)) {
            continue;
        }
        let id = MemberId(i as u32);
        let Some(ast) = analysis.member_ast(id) else {
            continue;
        };
        let ast::MemberKind::Macro { body, .. } = &ast.kind else {
            continue;
        };
        let mut builder = Builder {
            analysis,
            sources,
            file: m.loc.file,
            nodes: Vec::new(),
            diagnostics: Vec::new(),
        };
        let root = builder.macro_body(id, body);
        let (depth, width) = measure(&builder.nodes, &root);
        diagnostics.append(&mut builder.diagnostics);
        graphs.push(InvocationGraph {
            class: m.owner,
            member: id,
            nodes: builder.nodes,
            root,
            depth,
            width,
        });
    }
    (graphs, diagnostics)
}

/// Lowers one macro.
struct Builder<'a> {
    analysis: &'a Analysis,
    sources: &'a Sources,
    file: FileId,
    nodes: Vec<Node>,
    diagnostics: Vec<Diagnostic>,
}

/// What is being built at one level: its graph, the names in scope, and the calls in source
/// order for ordering edges.
struct LevelCx {
    level: Level,
    index: HashMap<NodeId, NodeIndex>,
    /// Nodes of enclosing levels that this level reads: the enclosing map depends on them.
    outer: BTreeSet<NodeId>,
    calls: Vec<(NodeId, String, bool)>,
    /// A node that may end the macro (an `if` or `try` with a `return`): every later node of
    /// the level runs after it.
    barrier: Option<NodeId>,
}

impl LevelCx {
    fn new() -> Self {
        LevelCx {
            level: Level::default(),
            index: HashMap::new(),
            outer: BTreeSet::new(),
            calls: Vec::new(),
            barrier: None,
        }
    }
}

type Env = Vec<(String, Value)>;

impl Builder<'_> {
    fn macro_body(&mut self, member: MemberId, body: &ast::MacroBody) -> Level {
        let mut cx = LevelCx::new();
        let mut env: Env = Vec::new();
        if let Some(sig) = self.analysis.model.member(member).signature() {
            env.extend(
                sig.params
                    .iter()
                    .map(|p| (p.name.clone(), Value::Param(p.name.clone()))),
            );
        }
        self.stmts(&mut cx, &mut env, &body.stmts, false);
        // The top level's result is the macro's anyway.
        cx.level.returns = false;
        self.finish(cx).0
    }

    /// Lowers statements into a level, up to the first `return`. In a block (`is_block`), the
    /// last expression statement is the level's value.
    fn stmts(&mut self, cx: &mut LevelCx, env: &mut Env, stmts: &[ast::Stmt], is_block: bool) {
        let mark = env.len();
        for (i, stmt) in stmts.iter().enumerate() {
            let first = self.nodes.len();
            match stmt {
                ast::Stmt::Let(l) => {
                    let v = self.expr(cx, env, &l.value);
                    self.order_after(cx, env, &l.after, first);
                    env.push((l.name.name.clone(), v));
                }
                ast::Stmt::Expr { value, after, .. } => {
                    let v = self.expr(cx, env, value);
                    self.order_after(cx, env, after, first);
                    if is_block && i + 1 == stmts.len() {
                        cx.level.result = Some(v);
                    } else {
                        self.warn_dropped(&v, value);
                    }
                }
                ast::Stmt::Return { value, .. } => {
                    let v = self.expr(cx, env, value);
                    cx.level.result = Some(v);
                    cx.level.returns = true;
                    break;
                }
            }
        }
        if is_block {
            env.truncate(mark);
        }
    }

    /// `after a, b`: the nodes made since `first` run after the nodes that gave `a` and `b`.
    fn order_after(&mut self, cx: &mut LevelCx, env: &Env, names: &[ast::Ident], first: usize) {
        for name in names {
            let mut before = BTreeSet::new();
            Self::lookup(env, &name.name).nodes(&mut before);
            for b in before {
                let Some(&from) = cx.index.get(&b) else {
                    cx.outer.insert(b);
                    continue;
                };
                for id in (first..self.nodes.len()).map(|n| NodeId(n as u32)) {
                    if let Some(&to) = cx.index.get(&id) {
                        if from != to && !cx.level.graph.contains_edge(from, to) {
                            cx.level.graph.add_edge(from, to, EdgeKind::Order);
                        }
                    }
                }
            }
        }
    }

    /// A block of an `if` or `try` as a level of its own, with the calls it makes on each
    /// object (for ordering around it).
    fn block(&mut self, env: &mut Env, block: Option<&ast::Block>) -> LevelCx {
        let mut cx = LevelCx::new();
        if let Some(b) = block {
            self.stmts(&mut cx, env, &b.stmts, true);
        }
        cx
    }

    /// W0004: a call that changes nothing and whose result reaches nothing.
    fn warn_dropped(&mut self, v: &Value, expr: &ast::Expr) {
        let Value::Node(id) = v else { return };
        let node = &self.nodes[id.0 as usize];
        if let NodeKind::Call(c) = &node.kind {
            let effect = self
                .analysis
                .model
                .setting(c.class, c.member, "effect")
                .is_some();
            if !c.mutates && !effect && c.result != Ty::Unit {
                let name = &self.analysis.model.member(c.member).name;
                self.diagnostics.push(
                    Diagnostic::new(Code::W0004, self.file, expr.span, format!("the result of `{name}` reaches nothing"))
                        .label("result dropped")
                        .note("the call still runs, but it changes no object and nothing reads what it returns")
                        .help("bind it with `let` and use it, or remove the call"),
                );
            }
        }
    }

    /// Ends a level: ordering edges added; gives the level, its calls by object and the
    /// outer nodes it reads.
    fn finish(&mut self, mut cx: LevelCx) -> (Level, Vec<(String, bool)>, BTreeSet<NodeId>) {
        self.order_edges(&mut cx);
        let calls = cx.calls.into_iter().map(|(_, k, m)| (k, m)).collect();
        (cx.level, calls, cx.outer)
    }

    /// Ordering edges: around each `mut` call on an object, the calls on that object keep their
    /// source order (earlier calls before it, later calls after it).
    fn order_edges(&mut self, cx: &mut LevelCx) {
        let mut keys: Vec<&String> = cx.calls.iter().map(|(_, k, _)| k).collect();
        keys.sort();
        keys.dedup();
        let mut edges = Vec::new();
        for key in keys {
            let seq: Vec<(NodeId, bool)> = cx
                .calls
                .iter()
                .filter(|(_, k, _)| k == key)
                .map(|(n, _, m)| (*n, *m))
                .collect();
            for (i, (node, is_mut)) in seq.iter().enumerate() {
                if !is_mut {
                    continue;
                }
                // Calls since the previous mut run before this one.
                for (before, before_mut) in seq[..i].iter().rev() {
                    edges.push((*before, *node));
                    if *before_mut {
                        break;
                    }
                }
                // Calls up to and including the next mut run after it.
                for (after, after_mut) in &seq[i + 1..] {
                    edges.push((*node, *after));
                    if *after_mut {
                        break;
                    }
                }
            }
        }
        edges.sort();
        edges.dedup();
        for (a, b) in edges {
            let (ia, ib) = (cx.index[&a], cx.index[&b]);
            if !cx.level.graph.contains_edge(ia, ib) {
                cx.level.graph.add_edge(ia, ib, EdgeKind::Order);
            }
        }
    }

    fn add_node(
        &mut self,
        cx: &mut LevelCx,
        kind: NodeKind,
        expr: &ast::Expr,
        label: String,
        deps: &BTreeSet<NodeId>,
    ) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(Node {
            id,
            kind,
            loc: Loc {
                file: self.file,
                span: expr.span,
            },
            label,
        });
        let idx = cx.level.graph.add_node(id);
        cx.index.insert(id, idx);
        if let Some(b) = cx.barrier.filter(|b| !deps.contains(b)) {
            if let Some(&from) = cx.index.get(&b) {
                cx.level.graph.add_edge(from, idx, EdgeKind::Order);
            }
        }
        for dep in deps {
            match cx.index.get(dep) {
                Some(from) => {
                    cx.level.graph.add_edge(*from, idx, EdgeKind::Data);
                }
                None => {
                    cx.outer.insert(*dep);
                }
            }
        }
        id
    }

    fn lookup(env: &Env, name: &str) -> Value {
        env.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Const(serde_json::Value::Null))
    }

    fn expr(&mut self, cx: &mut LevelCx, env: &mut Env, e: &ast::Expr) -> Value {
        if let Some((value, _)) = const_value(e) {
            return Value::Const(value);
        }
        match &e.kind {
            ast::ExprKind::SelfRef => Value::SelfObj,
            ast::ExprKind::Name { name } => Self::lookup(env, &name.name),
            ast::ExprKind::List { items } => {
                Value::List(items.iter().map(|i| self.expr(cx, env, i)).collect())
            }
            ast::ExprKind::Object { members } => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), self.expr(cx, env, v)))
                    .collect(),
            ),
            ast::ExprKind::Field { target, name } => Value::Field {
                of: Box::new(self.expr(cx, env, target)),
                name: name.name.clone(),
            },
            ast::ExprKind::Call {
                target,
                method,
                args,
            } => self.call(cx, env, e, target, method, args),
            ast::ExprKind::Binary { .. }
            | ast::ExprKind::Unary { .. }
            | ast::ExprKind::Interp { .. } => self.compute(cx, env, e),
            ast::ExprKind::FreeCall { func, args } if is_wait(&func.name) => {
                self.wait(cx, e, &func.name, args)
            }
            ast::ExprKind::FreeCall { func, .. } if func.name != "flatten" => {
                self.compute(cx, env, e)
            }
            ast::ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_node(cx, env, e, cond, then, otherwise.as_ref()),
            ast::ExprKind::Try { body, var, catch } => self.try_node(cx, env, e, body, var, catch),
            ast::ExprKind::FreeCall { args, .. } => self.flatten_node(cx, env, e, args),
            ast::ExprKind::For {
                var,
                iter,
                filter,
                tolerate,
                lets,
                value,
            } => {
                let over = self.expr(cx, env, iter);
                let mut body_cx = LevelCx::new();
                let mark = env.len();
                env.push((var.name.clone(), Value::Var(var.name.clone())));
                let filter = filter.as_ref().map(|f| self.pure(&mut body_cx, env, f));
                for l in lets {
                    let v = self.expr(&mut body_cx, env, &l.value);
                    env.push((l.name.name.clone(), v));
                }
                body_cx.level.result = Some(self.expr(&mut body_cx, env, value));
                env.truncate(mark);
                let map = MapNode {
                    var: var.name.clone(),
                    over,
                    filter,
                    tolerate: tolerate.as_ref().map(|t| t.limit),
                    body: Level::default(),
                };
                Value::Node(self.map_node(cx, e, iter, map, body_cx))
            }
            // Literals are constants, handled above.
            _ => Value::Const(serde_json::Value::Null),
        }
    }

    /// `if`: a node holding both branches' levels, run on its condition.
    fn if_node(
        &mut self,
        cx: &mut LevelCx,
        env: &mut Env,
        e: &ast::Expr,
        cond: &ast::Expr,
        then: &ast::Block,
        otherwise: Option<&ast::Block>,
    ) -> Value {
        let cond = self.pure(cx, env, cond);
        let then = self.block(env, Some(then));
        let otherwise = self.block(env, otherwise);
        let label = format!("if {}", self.text(cond_span(e)));
        self.branching(
            cx,
            e,
            label,
            &cond,
            [then, otherwise],
            |[then, otherwise]| {
                NodeKind::If(IfNode {
                    cond: cond.clone(),
                    then,
                    otherwise,
                })
            },
        )
    }

    /// `try … catch var`: a node holding the tried level and the catch level, in which `var`
    /// is the error.
    fn try_node(
        &mut self,
        cx: &mut LevelCx,
        env: &mut Env,
        e: &ast::Expr,
        body: &ast::Block,
        var: &ast::Ident,
        catch: &ast::Block,
    ) -> Value {
        let body = self.block(env, Some(body));
        let mark = env.len();
        env.push((var.name.clone(), Value::Var(var.name.clone())));
        let catch = self.block(env, Some(catch));
        env.truncate(mark);
        let label = format!("try … catch {}", var.name);
        let none = Value::Const(serde_json::Value::Null);
        self.branching(cx, e, label, &none, [body, catch], |[body, catch]| {
            NodeKind::Try(TryNode {
                body,
                var: var.name.clone(),
                catch,
            })
        })
    }

    /// `flatten(list)`: a node of its own after the nodes its input needs.
    fn flatten_node(
        &mut self,
        cx: &mut LevelCx,
        env: &mut Env,
        e: &ast::Expr,
        args: &[ast::Arg],
    ) -> Value {
        let input = args
            .first()
            .map(|a| self.expr(cx, env, &a.value))
            .unwrap_or(Value::List(Vec::new()));
        let mut deps = BTreeSet::new();
        input.nodes(&mut deps);
        let label = format!(
            "flatten({})",
            self.text(args.first().map(|a| a.value.span).unwrap_or(e.span))
        );
        Value::Node(self.add_node(cx, NodeKind::Flatten { input }, e, label, &deps))
    }

    /// A `for` (`e`, over `iter`) as a map node: `map` with its body level finished from
    /// `body_cx`, after the nodes its list, filter and body need from outside, and in the
    /// macro's sequence when its body waits.
    fn map_node(
        &mut self,
        cx: &mut LevelCx,
        e: &ast::Expr,
        iter: &ast::Expr,
        mut map: MapNode,
        body_cx: LevelCx,
    ) -> NodeId {
        let mut deps = BTreeSet::new();
        map.over.nodes(&mut deps);
        if let Some(f) = &map.filter {
            f.nodes(&mut deps);
        }
        let (body, _, outer) = self.finish(body_cx);
        deps.extend(outer);
        map.body = body;
        let head = match &map.filter {
            Some(_) => for_head(e, iter),
            None => iter.span,
        };
        let mut label = format!("for {} in {}", map.var, self.text(head));
        if let Some(t) = &map.tolerate {
            label.push_str(&format!(" tolerate {}", t.as_written()));
        }
        let waits = map.body.waits(&self.nodes);
        let id = self.add_node(cx, NodeKind::Map(map), e, label, &deps);
        if waits {
            Self::sequence(cx, id);
        }
        id
    }

    /// A value the runtime computes itself: an operator expression or a value builtin, as a
    /// node of its own.
    fn compute(&mut self, cx: &mut LevelCx, env: &mut Env, e: &ast::Expr) -> Value {
        let value = self.pure(cx, env, e);
        let mut deps = BTreeSet::new();
        value.nodes(&mut deps);
        let label = self.text(e.span);
        Value::Node(self.add_node(cx, NodeKind::Compute { value }, e, label, &deps))
    }

    /// An expression as a value computed in place: operators become [`Value::Op`]; calls
    /// inside still become nodes.
    fn pure(&mut self, cx: &mut LevelCx, env: &mut Env, e: &ast::Expr) -> Value {
        match &e.kind {
            ast::ExprKind::Binary { op, lhs, rhs } => Value::Op {
                op: op.as_str().to_string(),
                args: vec![self.pure(cx, env, lhs), self.pure(cx, env, rhs)],
            },
            ast::ExprKind::Unary { op, operand } => Value::Op {
                op: match op {
                    ast::UnOp::Not => "not".to_string(),
                    ast::UnOp::Neg => "neg".to_string(),
                },
                args: vec![self.pure(cx, env, operand)],
            },
            ast::ExprKind::FreeCall { func, args }
                if func.name != "flatten" && !is_wait(&func.name) =>
            {
                Value::Op {
                    op: func.name.clone(),
                    args: args.iter().map(|a| self.pure(cx, env, &a.value)).collect(),
                }
            }
            // `"a {x} b"`: the pieces joined, values written out.
            ast::ExprKind::Interp { parts } => Value::Op {
                op: "format".to_string(),
                args: parts
                    .iter()
                    .map(|p| match p {
                        ast::InterpPart::Text(t) => Value::Const(t.clone().into()),
                        ast::InterpPart::Value(v) => self.pure(cx, env, v),
                    })
                    .collect(),
            },
            _ => self.expr(cx, env, e),
        }
    }

    /// An `if` or `try` node from its two blocks: it depends on what they read; it is ordered
    /// with the calls they make on each object, and, if a block may return, every later node
    /// of the level runs after it.
    fn branching(
        &mut self,
        cx: &mut LevelCx,
        e: &ast::Expr,
        label: String,
        reads: &Value,
        blocks: [LevelCx; 2],
        make: impl FnOnce([Level; 2]) -> NodeKind,
    ) -> Value {
        let mut deps = BTreeSet::new();
        reads.nodes(&mut deps);
        let mut calls = Vec::new();
        let [a, b] = blocks;
        let (a, mut a_calls, a_outer) = self.finish(a);
        let (b, mut b_calls, b_outer) = self.finish(b);
        deps.extend(a_outer);
        deps.extend(b_outer);
        calls.append(&mut a_calls);
        calls.append(&mut b_calls);
        let may_return = a.may_return(&self.nodes) || b.may_return(&self.nodes);
        let waits = a.waits(&self.nodes) || b.waits(&self.nodes);
        let id = self.add_node(cx, make([a, b]), e, label, &deps);
        if waits {
            Self::sequence(cx, id);
        }
        calls.sort();
        calls.dedup_by(|x, y| x.0 == y.0 && (y.1 |= x.1, true).1);
        for (key, mutates) in calls {
            if !key.starts_with("var:") {
                cx.calls.push((id, key, mutates));
            }
        }
        if may_return {
            cx.barrier = Some(id);
        }
        Value::Node(id)
    }

    /// `signal(...)` or `sleep(...)`: a wait node after every node of the level so far, and
    /// the barrier every later one runs after.
    fn wait(&mut self, cx: &mut LevelCx, e: &ast::Expr, func: &str, args: &[ast::Arg]) -> Value {
        let mut signal = None;
        let mut ms = 0;
        for a in args {
            match (&a.value.kind, a.name.as_ref().map(|n| n.name.as_str())) {
                (ast::ExprKind::Str { value }, None) => signal = Some(value.clone()),
                (ast::ExprKind::Duration { millis }, None | Some("timeout")) => ms = *millis,
                _ => {}
            }
        }
        let ty = if func == "sleep" {
            Ty::Unit
        } else {
            self.analysis
                .expr_types
                .get(&(self.file, e.span))
                .cloned()
                .unwrap_or(Ty::Json)
        };
        let label = self.text(e.span);
        let kind = NodeKind::Wait(WaitNode { signal, ms, ty });
        let id = self.add_node(cx, kind, e, label, &BTreeSet::new());
        Self::sequence(cx, id);
        Value::Node(id)
    }

    /// Makes `id` a sequence point of its level: it runs after every node before it that
    /// nothing else waits for, and every later node runs after it.
    fn sequence(cx: &mut LevelCx, id: NodeId) {
        let to = cx.index[&id];
        let before: Vec<NodeIndex> = cx
            .level
            .graph
            .node_indices()
            .filter(|i| {
                *i != to
                    && cx
                        .level
                        .graph
                        .neighbors_directed(*i, petgraph::Direction::Outgoing)
                        .next()
                        .is_none()
            })
            .collect();
        for from in before {
            cx.level.graph.add_edge(from, to, EdgeKind::Order);
        }
        cx.barrier = Some(id);
    }

    fn call(
        &mut self,
        cx: &mut LevelCx,
        env: &mut Env,
        e: &ast::Expr,
        target: &ast::Expr,
        method: &ast::Ident,
        args: &[ast::Arg],
    ) -> Value {
        let Some(resolved) = self.analysis.calls.get(&(self.file, e.span)).cloned() else {
            return Value::Const(serde_json::Value::Null);
        };
        let receiver = if resolved.on_class {
            Receiver::Class
        } else {
            Receiver::Object(self.expr(cx, env, target))
        };
        let mut bound = Vec::new();
        for (param, arg) in &resolved.bindings {
            if let Some(i) = arg {
                if let Some(a) = args.get(*i) {
                    bound.push((param.clone(), self.expr(cx, env, &a.value)));
                }
            }
        }
        let member = self.analysis.model.member(resolved.member);
        let mutates = member.is_mut;
        let mut deps = BTreeSet::new();
        if let Receiver::Object(v) = &receiver {
            v.nodes(&mut deps);
        }
        for (_, v) in &bound {
            v.nodes(&mut deps);
        }
        let label = format!(
            "{}.{}({})",
            self.text(target.span),
            method.name,
            bound
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let key = match &receiver {
            Receiver::Object(v) => v.object_key(),
            Receiver::Class => None,
        };
        let call = CallNode {
            class: resolved.class,
            member: resolved.member,
            receiver,
            args: bound,
            mutates,
            result: resolved.result,
        };
        let id = self.add_node(cx, NodeKind::Call(call), e, label, &deps);
        if let Some(key) = key {
            cx.calls.push((id, key, mutates));
        }
        Value::Node(id)
    }

    fn text(&self, span: crate::span::Span) -> String {
        self.sources
            .get(self.file)
            .slice(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether a free function is a wait (`signal`, `sleep`).
fn is_wait(name: &str) -> bool {
    name == "signal" || name == "sleep"
}

/// The span of an `if` from `if` to the end of its condition.
fn cond_span(e: &ast::Expr) -> crate::span::Span {
    match &e.kind {
        ast::ExprKind::If { cond, .. } => cond.span,
        _ => e.span,
    }
}

/// The span of a `for` head after `in`: the list and the filter.
fn for_head(e: &ast::Expr, iter: &ast::Expr) -> crate::span::Span {
    match &e.kind {
        ast::ExprKind::For {
            filter: Some(f), ..
        } => iter.span.cover(f.span),
        _ => iter.span,
    }
}

/// Depth (longest chain, maps counting their body) and width (most nodes at one step) of a level.
fn measure(nodes: &[Node], level: &Level) -> (usize, usize) {
    let order = match petgraph::algo::toposort(&level.graph, None) {
        Ok(o) => o,
        Err(_) => return (0, 0),
    };
    let mut depth_at: HashMap<NodeIndex, usize> = HashMap::new();
    let mut step_at: HashMap<NodeIndex, usize> = HashMap::new();
    for idx in order {
        let id = level.graph[idx];
        let own = match &nodes[id.0 as usize].kind {
            NodeKind::Map(m) => measure(nodes, &m.body).0.max(1),
            NodeKind::If(n) => {
                1 + measure(nodes, &n.then)
                    .0
                    .max(measure(nodes, &n.otherwise).0)
            }
            NodeKind::Try(n) => 1 + measure(nodes, &n.body).0.max(measure(nodes, &n.catch).0),
            _ => 1,
        };
        let preds = level
            .graph
            .neighbors_directed(idx, petgraph::Direction::Incoming);
        let (mut d, mut s) = (0, 0);
        for p in preds {
            d = d.max(depth_at[&p]);
            s = s.max(step_at[&p] + 1);
        }
        depth_at.insert(idx, d + own);
        step_at.insert(idx, s);
    }
    let depth = depth_at.values().copied().max().unwrap_or(0);
    let mut per_step: HashMap<usize, usize> = HashMap::new();
    for s in step_at.values() {
        *per_step.entry(*s).or_default() += 1;
    }
    (depth, per_step.values().copied().max().unwrap_or(0))
}
