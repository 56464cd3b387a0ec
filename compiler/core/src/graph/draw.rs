//! Drawing invocation graphs: Graphviz dot and Mermaid. Map nodes are drawn as clusters holding
//! their body; ordering edges are dashed. An `if` is a diamond with a cluster per block
//! (edges labelled `then` and `else`); a `try` is a hexagon with its body and its `catch`
//! block, joined by a red dashed `on failure` edge; a block that returns has a `return` edge
//! to the result; values the runtime computes itself are parallelograms; a wait for a signal
//! is a flag (dot `cds`, Mermaid `>...]`) and a `sleep` an octagon (Mermaid a circle), with
//! dashed `order` edges from what comes before and to what comes after.

use super::{EdgeKind, InvocationGraph, Level, NodeId, NodeKind, TryNode};
use crate::check::model::Model;
use std::fmt::Write;

/// The macro's display name: `Video.detect_faces`.
pub fn title(model: &Model, graph: &InvocationGraph) -> String {
    format!(
        "{}.{}",
        model.class(graph.class).name,
        model.member(graph.member).name
    )
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz dot for one or more macros (one `digraph` each, one after another).
pub fn to_dot(model: &Model, graph: &InvocationGraph) -> String {
    let mut out = String::new();
    let name = title(model, graph);
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&name));
    let _ = writeln!(out, "  compound=true;");
    let _ = writeln!(out, "  rankdir=TB;");
    let _ = writeln!(
        out,
        "  label=\"{} (depth {}, width {})\";",
        dot_escape(&name),
        graph.depth,
        graph.width
    );
    let _ = writeln!(
        out,
        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"
    );
    let _ = writeln!(
        out,
        "  input [label=\"{}\", shape=oval];",
        dot_escape(&inputs(model, graph))
    );
    dot_level(graph, &graph.root, 1, &mut out);
    let _ = writeln!(out, "  result [label=\"return\", shape=oval];");
    for id in sources(&graph.root) {
        let _ = writeln!(out, "  input -> {};", anchor(graph, id, true));
    }
    if let Some(result) = &graph.root.result {
        let mut nodes = std::collections::BTreeSet::new();
        result.nodes(&mut nodes);
        for id in nodes {
            let _ = writeln!(
                out,
                "  {} -> result{};",
                anchor(graph, id, false),
                cluster_tail(graph, id)
            );
        }
    }
    let _ = writeln!(out, "}}");
    out
}

fn inputs(model: &Model, graph: &InvocationGraph) -> String {
    let member = model.member(graph.member);
    let params: Vec<&str> = member
        .signature()
        .map(|s| s.params.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    format!("{}({})", member.name, params.join(", "))
}

/// Nodes of a level with no predecessors.
fn sources(level: &Level) -> Vec<super::NodeId> {
    level
        .graph
        .node_indices()
        .filter(|i| {
            level
                .graph
                .neighbors_directed(*i, petgraph::Direction::Incoming)
                .next()
                .is_none()
        })
        .map(|i| level.graph[i])
        .collect()
}

/// The dot node that stands for a node: map nodes are clusters, so edges attach to a node inside.
fn anchor(graph: &InvocationGraph, id: super::NodeId, first: bool) -> String {
    match &graph.node(id).kind {
        NodeKind::Map(m) => {
            let inner: Vec<super::NodeId> = m.body.node_ids().collect();
            let pick = if first { inner.first() } else { inner.last() };
            match pick {
                Some(i) => anchor(graph, *i, first),
                None => format!("n{}", id.0),
            }
        }
        _ => format!("n{}", id.0),
    }
}

fn cluster_tail(graph: &InvocationGraph, id: super::NodeId) -> String {
    match &graph.node(id).kind {
        NodeKind::Map(m) if m.body.graph.node_count() > 0 => format!(" [ltail=cluster_{}]", id.0),
        _ => String::new(),
    }
}

fn cluster_head(graph: &InvocationGraph, id: super::NodeId) -> String {
    match &graph.node(id).kind {
        NodeKind::Map(m) if m.body.graph.node_count() > 0 => format!("lhead=cluster_{}", id.0),
        _ => String::new(),
    }
}

fn dot_level(graph: &InvocationGraph, level: &Level, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    for id in level.node_ids() {
        let node = graph.node(id);
        if let NodeKind::Map(m) = &node.kind {
            dot_map(graph, id, &m.body, indent, out);
            continue;
        }
        let _ = writeln!(
            out,
            "{pad}n{} [label=\"{}\"{}];",
            id.0,
            dot_escape(&node.label),
            dot_shape(&node.kind)
        );
        match &node.kind {
            NodeKind::If(n) => {
                dot_block(graph, id, "then", &n.then, "", indent, out);
                dot_block(graph, id, "else", &n.otherwise, "", indent, out);
            }
            NodeKind::Try(n) => dot_try(graph, id, n, indent, out),
            _ => {}
        }
    }
    for (from, to, kind) in level.edges() {
        dot_edge(graph, from, to, kind, &pad, out);
    }
}

/// The attributes that draw a node of this kind (a call is a box, bold when it changes its
/// object).
fn dot_shape(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Call(c) if c.mutates => ", penwidth=2",
        NodeKind::Call(_) | NodeKind::Map(_) => "",
        NodeKind::Flatten { .. } => ", shape=invtrapezium",
        NodeKind::Compute { .. } => ", shape=parallelogram",
        NodeKind::Wait(w) if w.signal.is_some() => ", shape=cds",
        NodeKind::Wait(_) => ", shape=octagon",
        NodeKind::If(_) => ", shape=diamond",
        NodeKind::Try(_) => ", shape=hexagon",
    }
}

/// A `for` as a dashed cluster holding its body (a point when the body has no nodes).
fn dot_map(graph: &InvocationGraph, id: NodeId, body: &Level, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    let label = dot_escape(&graph.node(id).label);
    let _ = writeln!(out, "{pad}subgraph cluster_{} {{", id.0);
    let _ = writeln!(out, "{pad}  label=\"{label}\";");
    let _ = writeln!(out, "{pad}  style=dashed;");
    if body.graph.node_count() == 0 {
        let _ = writeln!(out, "{pad}  n{} [label=\"{label}\", shape=point];", id.0);
    }
    dot_level(graph, body, indent + 1, out);
    let _ = writeln!(out, "{pad}}}");
}

/// A `try`'s two blocks, the catch in red, and a dashed edge from the tried block's last
/// node to the catch's first.
fn dot_try(graph: &InvocationGraph, id: NodeId, n: &TryNode, indent: usize, out: &mut String) {
    dot_block(graph, id, "try", &n.body, "", indent, out);
    let catch = format!("catch {}", n.var);
    dot_block(graph, id, &catch, &n.catch, "color=red;", indent, out);
    if let (Some(last), Some(first)) = (n.body.node_ids().last(), n.catch.node_ids().next()) {
        let _ = writeln!(
            out,
            "{}{} -> {} [label=\"on failure\", style=dashed, color=red];",
            "  ".repeat(indent),
            anchor(graph, last, false),
            anchor(graph, first, true)
        );
    }
}

/// One edge of a level: dashed for an order edge, from and to a cluster's border for a
/// `for`.
fn dot_edge(
    graph: &InvocationGraph,
    from: NodeId,
    to: NodeId,
    kind: EdgeKind,
    pad: &str,
    out: &mut String,
) {
    let mut attrs = Vec::new();
    if kind == EdgeKind::Order {
        attrs.push("style=dashed".to_string());
        attrs.push("label=\"order\"".to_string());
    }
    let tail = cluster_tail(graph, from);
    if !tail.is_empty() {
        attrs.push(format!("ltail=cluster_{}", from.0));
    }
    let head = cluster_head(graph, to);
    if !head.is_empty() {
        attrs.push(head);
    }
    let attrs = if attrs.is_empty() {
        String::new()
    } else {
        format!(" [{}]", attrs.join(", "))
    };
    let _ = writeln!(
        out,
        "{pad}{} -> {}{attrs};",
        anchor(graph, from, false),
        anchor(graph, to, true)
    );
}

/// One block of an `if` or `try`: a cluster, an edge from the branch node into it, and a
/// `return` edge if it ends the macro.
fn dot_block(
    graph: &InvocationGraph,
    head: NodeId,
    name: &str,
    level: &Level,
    style: &str,
    indent: usize,
    out: &mut String,
) {
    let pad = "  ".repeat(indent);
    let cluster = format!(
        "cluster_{}_{}",
        head.0,
        name.split(' ').next().unwrap_or(name)
    );
    if let Some(first) = level.node_ids().next() {
        let _ = writeln!(out, "{pad}subgraph {cluster} {{");
        let _ = writeln!(out, "{pad}  label=\"{}\";", dot_escape(name));
        let _ = writeln!(out, "{pad}  style=dotted;");
        if !style.is_empty() {
            let _ = writeln!(out, "{pad}  {style}");
        }
        dot_level(graph, level, indent + 1, out);
        let _ = writeln!(out, "{pad}}}");
        let _ = writeln!(
            out,
            "{pad}n{} -> {} [label=\"{}\"];",
            head.0,
            anchor(graph, first, true),
            dot_escape(name)
        );
    }
    if level.returns {
        for from in returned_from(level, head) {
            let _ = writeln!(
                out,
                "{pad}{} -> result [label=\"return\", style=dashed];",
                anchor(graph, from, false)
            );
        }
    }
}

/// The nodes a returning block's result comes from (the branch node when it is a constant).
fn returned_from(level: &Level, head: NodeId) -> Vec<NodeId> {
    let mut nodes = std::collections::BTreeSet::new();
    if let Some(r) = &level.result {
        r.nodes(&mut nodes);
    }
    if nodes.is_empty() {
        nodes.insert(head);
    }
    nodes.into_iter().collect()
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// A Mermaid flowchart for one macro.
pub fn to_mermaid(model: &Model, graph: &InvocationGraph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "flowchart TD");
    let _ = writeln!(
        out,
        "  %% {} (depth {}, width {})",
        title(model, graph),
        graph.depth,
        graph.width
    );
    let _ = writeln!(
        out,
        "  input([\"{}\"])",
        mermaid_escape(&inputs(model, graph))
    );
    mermaid_level(graph, &graph.root, 1, &mut out);
    let _ = writeln!(out, "  result([\"return\"])");
    for id in sources(&graph.root) {
        let _ = writeln!(out, "  input --> n{}", id.0);
    }
    if let Some(result) = &graph.root.result {
        let mut nodes = std::collections::BTreeSet::new();
        result.nodes(&mut nodes);
        for id in nodes {
            let _ = writeln!(out, "  n{} --> result", id.0);
        }
    }
    out
}

fn mermaid_level(graph: &InvocationGraph, level: &Level, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    for id in level.node_ids() {
        let node = graph.node(id);
        match &node.kind {
            NodeKind::Map(m) => {
                let _ = writeln!(
                    out,
                    "{pad}subgraph n{} [\"{}\"]",
                    id.0,
                    mermaid_escape(&node.label)
                );
                mermaid_level(graph, &m.body, indent + 1, out);
                let _ = writeln!(out, "{pad}end");
            }
            NodeKind::Flatten { .. } => {
                let _ = writeln!(
                    out,
                    "{pad}n{}[/\"{}\"\\]",
                    id.0,
                    mermaid_escape(&node.label)
                );
            }
            NodeKind::Call(_) => {
                let _ = writeln!(out, "{pad}n{}[\"{}\"]", id.0, mermaid_escape(&node.label));
            }
            NodeKind::Compute { .. } => {
                let _ = writeln!(out, "{pad}n{}[/\"{}\"/]", id.0, mermaid_escape(&node.label));
            }
            NodeKind::Wait(w) if w.signal.is_some() => {
                let _ = writeln!(out, "{pad}n{}>\"{}\"]", id.0, mermaid_escape(&node.label));
            }
            NodeKind::Wait(_) => {
                let _ = writeln!(out, "{pad}n{}((\"{}\"))", id.0, mermaid_escape(&node.label));
            }
            NodeKind::If(n) => {
                let _ = writeln!(out, "{pad}n{}{{\"{}\"}}", id.0, mermaid_escape(&node.label));
                mermaid_block(graph, id, "then", &n.then, indent, out);
                mermaid_block(graph, id, "else", &n.otherwise, indent, out);
            }
            NodeKind::Try(n) => {
                let _ = writeln!(
                    out,
                    "{pad}n{}{{{{\"{}\"}}}}",
                    id.0,
                    mermaid_escape(&node.label)
                );
                mermaid_block(graph, id, "try", &n.body, indent, out);
                mermaid_block(
                    graph,
                    id,
                    &format!("catch {}", n.var),
                    &n.catch,
                    indent,
                    out,
                );
                if let (Some(last), Some(first)) =
                    (n.body.node_ids().last(), n.catch.node_ids().next())
                {
                    let _ = writeln!(out, "{pad}n{} -. on failure .-> n{}", last.0, first.0);
                }
            }
        }
    }
    for (from, to, kind) in level.edges() {
        let arrow = if kind == EdgeKind::Order {
            "-. order .->"
        } else {
            "-->"
        };
        let _ = writeln!(out, "{pad}n{} {arrow} n{}", from.0, to.0);
    }
}

/// One block of an `if` or `try` in Mermaid: a subgraph and the edges into and out of it.
fn mermaid_block(
    graph: &InvocationGraph,
    head: NodeId,
    name: &str,
    level: &Level,
    indent: usize,
    out: &mut String,
) {
    let pad = "  ".repeat(indent);
    let tag = name.split(' ').next().unwrap_or(name);
    if let Some(first) = level.node_ids().next() {
        let _ = writeln!(
            out,
            "{pad}subgraph n{}_{tag} [\"{}\"]",
            head.0,
            mermaid_escape(name)
        );
        mermaid_level(graph, level, indent + 1, out);
        let _ = writeln!(out, "{pad}end");
        let _ = writeln!(
            out,
            "{pad}n{} -- {} --> n{}",
            head.0,
            mermaid_escape(name),
            first.0
        );
    }
    if level.returns {
        for from in returned_from(level, head) {
            let _ = writeln!(out, "{pad}n{} -. return .-> result", from.0);
        }
    }
}
