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
    /// The body, a graph of its own.
    pub body: Level,
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
    /// The level's value: the macro's `return`, or the value of a `for` body per element.
    pub result: Option<Value>,
}

impl Level {
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
}

impl LevelCx {
    fn new() -> Self {
        LevelCx {
            level: Level::default(),
            index: HashMap::new(),
            outer: BTreeSet::new(),
            calls: Vec::new(),
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
        // Results of statement-level calls, to warn when a value-returning call's result is dropped.
        for stmt in &body.stmts {
            match stmt {
                ast::Stmt::Let(l) => {
                    let v = self.expr(&mut cx, &mut env, &l.value);
                    env.push((l.name.name.clone(), v));
                }
                ast::Stmt::Expr { value, .. } => {
                    let v = self.expr(&mut cx, &mut env, value);
                    self.warn_dropped(&v, value);
                }
                ast::Stmt::Return { value, .. } => {
                    let v = self.expr(&mut cx, &mut env, value);
                    cx.level.result = Some(v);
                }
            }
        }
        self.finish(cx)
    }

    /// W0004: a call that changes nothing and whose result reaches nothing.
    fn warn_dropped(&mut self, v: &Value, expr: &ast::Expr) {
        let Value::Node(id) = v else { return };
        let node = &self.nodes[id.0 as usize];
        if let NodeKind::Call(c) = &node.kind {
            if !c.mutates && c.result != Ty::Unit {
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

    fn finish(&mut self, mut cx: LevelCx) -> Level {
        self.order_edges(&mut cx);
        cx.level
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
            ast::ExprKind::FreeCall { args, .. } => {
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
            ast::ExprKind::For {
                var,
                iter,
                lets,
                value,
            } => {
                let over = self.expr(cx, env, iter);
                let mut body_cx = LevelCx::new();
                let mark = env.len();
                env.push((var.name.clone(), Value::Var(var.name.clone())));
                for l in lets {
                    let v = self.expr(&mut body_cx, env, &l.value);
                    env.push((l.name.name.clone(), v));
                }
                body_cx.level.result = Some(self.expr(&mut body_cx, env, value));
                env.truncate(mark);
                let mut deps = BTreeSet::new();
                over.nodes(&mut deps);
                deps.extend(body_cx.outer.iter().copied());
                let body = self.finish(body_cx);
                let label = format!("for {} in {}", var.name, self.text(iter.span));
                Value::Node(self.add_node(
                    cx,
                    NodeKind::Map(MapNode {
                        var: var.name.clone(),
                        over,
                        body,
                    }),
                    e,
                    label,
                    &deps,
                ))
            }
            // Literals are constants, handled above.
            _ => Value::Const(serde_json::Value::Null),
        }
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
