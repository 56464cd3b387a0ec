//! Drawing invocation graphs: Graphviz dot and Mermaid. Map nodes are drawn as clusters holding
//! their body; ordering edges are dashed.

use super::{EdgeKind, InvocationGraph, Level, NodeKind};
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
        match &node.kind {
            NodeKind::Map(m) => {
                let _ = writeln!(out, "{pad}subgraph cluster_{} {{", id.0);
                let _ = writeln!(out, "{pad}  label=\"{}\";", dot_escape(&node.label));
                let _ = writeln!(out, "{pad}  style=dashed;");
                if m.body.graph.node_count() == 0 {
                    let _ = writeln!(
                        out,
                        "{pad}  n{} [label=\"{}\", shape=point];",
                        id.0,
                        dot_escape(&node.label)
                    );
                }
                dot_level(graph, &m.body, indent + 1, out);
                let _ = writeln!(out, "{pad}}}");
            }
            NodeKind::Flatten { .. } => {
                let _ = writeln!(
                    out,
                    "{pad}n{} [label=\"{}\", shape=invtrapezium];",
                    id.0,
                    dot_escape(&node.label)
                );
            }
            NodeKind::Call(c) => {
                let extra = if c.mutates { ", penwidth=2" } else { "" };
                let _ = writeln!(
                    out,
                    "{pad}n{} [label=\"{}\"{extra}];",
                    id.0,
                    dot_escape(&node.label)
                );
            }
        }
    }
    for (from, to, kind) in level.edges() {
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
