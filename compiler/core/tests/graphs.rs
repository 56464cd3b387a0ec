//! Invocation graphs and package artifacts, for the examples and for hard cases: snapshots of
//! the drawings and artifacts, structural checks of edges, and byte-identical rebuilds.
#![allow(clippy::unwrap_used)]

use oaas_compiler::graph::{draw, EdgeKind, InvocationGraph, NodeKind};
use oaas_compiler::workspace::Build;
use oaas_compiler::Workspace;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build_files(files: &[PathBuf]) -> (Workspace, Build) {
    let mut ws = Workspace::new();
    for f in files {
        let rel = f
            .strip_prefix(root())
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        ws.add_file(rel, std::fs::read_to_string(f).unwrap());
    }
    let build = ws.build();
    let errors: Vec<_> = build.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{files:?}: {errors:#?}");
    (ws, build)
}

fn fixture(name: &str) -> (Workspace, Build) {
    build_files(&[root().join("tests/fixtures/graph").join(name)])
}

fn package_dir(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "oaas"))
        .collect();
    files.sort();
    files
}

fn graph<'a>(build: &'a Build, title: &str) -> &'a InvocationGraph {
    let model = &build.analysis.model;
    build
        .graphs
        .iter()
        .find(|g| draw::title(model, g) == title)
        .unwrap_or_else(|| panic!("no macro {title}"))
}

/// Edges of the top level as (from label, to label, kind).
fn edges(g: &InvocationGraph) -> Vec<(String, String, EdgeKind)> {
    let mut out: Vec<_> = g
        .root
        .edges()
        .map(|(a, b, k)| (g.node(a).label.clone(), g.node(b).label.clone(), k))
        .collect();
    out.sort();
    out
}

/// The artifact without what changes with every edit of the sources: the hash and the texts.
fn redacted(mut a: oaas_compiler::artifact::Artifact) -> oaas_compiler::artifact::Artifact {
    a.version = "[hash]".into();
    for s in &mut a.sources {
        s.text = "[text]".into();
    }
    a
}

fn drawings(build: &Build) -> String {
    let model = &build.analysis.model;
    let mut out = String::new();
    for g in build
        .graphs
        .iter()
        .filter(|g| model.package(model.class(g.class).package).name != "std")
    {
        out.push_str(&draw::to_dot(model, g));
        out.push_str(&draw::to_mermaid(model, g));
    }
    out
}

#[test]
fn video_detect_faces_is_split_map_flatten_map_merge() {
    let (_, build) = build_files(&package_dir("examples/video"));
    let g = graph(&build, "Video.detect_faces");
    let kinds: Vec<String> = g
        .root
        .node_ids()
        .map(|id| match &g.node(id).kind {
            NodeKind::Call(_) => g.node(id).label.clone(),
            NodeKind::Map(m) => format!(
                "map[{}]",
                m.body
                    .node_ids()
                    .map(|i| g.node(i).label.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            NodeKind::Flatten { .. } => "flatten".into(),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "self.split(segment_s)",
            "map[p.extract_frames(every_s)]",
            "flatten",
            "map[f.detect_faces()]",
            "Detection.merge(parts)"
        ]
    );
    // A chain: each step feeds the next.
    let chain: Vec<(String, String)> = edges(g).into_iter().map(|(a, b, _)| (a, b)).collect();
    assert_eq!(chain.len(), 4);
    assert_eq!((g.depth, g.width), (5, 1));
    insta::assert_snapshot!("video", drawings(&build));
}

#[test]
fn diamond_has_two_branches_joined() {
    let (_, build) = fixture("diamond.oaas");
    let g = graph(&build, "Part.diamond");
    let expected: Vec<(String, String, EdgeKind)> = [
        ("self.left()", "top.left()"),
        ("self.left()", "top.right()"),
        ("top.left()", "Part.join(a, b)"),
        ("top.right()", "Part.join(a, b)"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string(), EdgeKind::Data))
    .collect();
    assert_eq!(edges(g), expected);
    assert_eq!((g.depth, g.width), (3, 2));
    insta::assert_snapshot!("diamond", drawings(&build));
}

#[test]
fn mut_calls_keep_source_order_on_their_object() {
    let (_, build) = fixture("mut_order.oaas");
    let g = graph(&build, "Account.shuffle");
    let order: Vec<(String, String)> = edges(g)
        .into_iter()
        .filter(|e| e.2 == EdgeKind::Order)
        .map(|(a, b, _)| (a, b))
        .collect();
    // Every call before a mut runs before it; every call after runs after it.
    for (a, b) in [
        ("self.audit()", "self.deposit(amount)"),
        ("self.deposit(amount)", "self.withdraw(amount)"),
        ("self.withdraw(amount)", "self.report()"),
    ] {
        assert!(
            order.iter().any(|(x, y)| x == a && y == b),
            "missing order edge {a} -> {b} in {order:?}"
        );
    }
    // The read of `before` feeds the withdraw as data too.
    assert!(edges(g).iter().any(|(a, b, k)| a == "self.audit()"
        && b == "self.withdraw(amount)"
        && *k == EdgeKind::Data));
    insta::assert_snapshot!("mut_order", drawings(&build));
}

#[test]
fn nested_for_nests_maps() {
    let (_, build) = fixture("nested_for.oaas");
    let g = graph(&build, "Album.thumbs");
    let map = g.root.node_ids().find_map(|id| match &g.node(id).kind {
        NodeKind::Map(m) => Some(m),
        _ => None,
    });
    let outer = map.unwrap();
    let inner_maps = outer
        .body
        .node_ids()
        .filter(|id| matches!(g.node(*id).kind, NodeKind::Map(_)))
        .count();
    assert_eq!(inner_maps, 1);
    assert_eq!(g.depth, 3);
    insta::assert_snapshot!("nested_for", drawings(&build));
}

#[test]
fn a_result_used_twice_and_one_unused() {
    let (_, build) = fixture("used_twice.oaas");
    let g = graph(&build, "Doc.both");
    let from_summary = edges(g)
        .iter()
        .filter(|(a, _, k)| a == "self.summary()" && *k == EdgeKind::Data)
        .count();
    assert_eq!(from_summary, 2);
    let unused: Vec<_> = build
        .diagnostics
        .iter()
        .filter(|d| d.code == oaas_compiler::Code::W0004)
        .collect();
    assert_eq!(unused.len(), 1, "{:?}", build.diagnostics);
    assert!(unused[0].message.contains("`score`"));
    insta::assert_snapshot!("used_twice", drawings(&build));
}

#[test]
fn inherited_and_overridden_functions() {
    let (_, build) = fixture("inherited.oaas");
    let artifact = build.artifact.as_ref().unwrap();
    let dog = artifact.class("zoo.Dog").unwrap();
    assert_eq!(dog.ancestors, ["zoo.Dog", "zoo.Animal", "std.Object"]);
    assert_eq!(dog.function("speak").unwrap().declared_in, "zoo.Dog");
    assert_eq!(
        dog.function("speak").unwrap().run.local.as_deref(),
        Some("python3 dog.py")
    );
    assert_eq!(dog.function("rename").unwrap().declared_in, "zoo.Animal");
    // Inherited functions run where their class says: Dog's own @local applies to them too.
    assert_eq!(
        dog.function("rename").unwrap().run.local.as_deref(),
        Some("python3 dog.py")
    );
    assert_eq!(dog.macro_named("greet").unwrap().declared_in, "zoo.Animal");
    assert!(dog.function("new").unwrap().run.builtin.is_some());
    insta::assert_snapshot!("inherited", drawings(&build));
    insta::assert_json_snapshot!("inherited_artifact", redacted(artifact.clone()));
}

#[test]
fn artifacts_are_byte_identical_across_builds_and_round_trip() {
    for dir in [
        "examples/video",
        "examples/text",
        "examples/record",
        "examples/order",
    ] {
        let files = package_dir(dir);
        let (_, a) = build_files(&files);
        let (_, b) = build_files(&files);
        let (a, b) = (a.artifact.unwrap().to_json(), b.artifact.unwrap().to_json());
        assert_eq!(a, b, "{dir}");
        let parsed = oaas_compiler::artifact::Artifact::from_json(&a).unwrap();
        assert_eq!(parsed.to_json(), a);
        // A changed byte in the content no longer matches the version.
        let tampered = a.replacen("\"public\"", "\"private\"", 1);
        assert!(oaas_compiler::artifact::Artifact::from_json(&tampered).is_err());
    }
}

#[test]
fn example_artifacts() {
    for dir in ["examples/text", "examples/record"] {
        let (_, build) = build_files(&package_dir(dir));
        let name = Path::new(dir)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        insta::assert_json_snapshot!(
            format!("artifact_{name}"),
            redacted(build.artifact.unwrap())
        );
    }
}

/// The kinds of the top level's nodes, by label.
fn kinds(g: &InvocationGraph) -> Vec<(String, &'static str)> {
    g.root
        .node_ids()
        .map(|id| {
            let kind = match &g.node(id).kind {
                NodeKind::Call(_) => "call",
                NodeKind::Map(_) => "map",
                NodeKind::Flatten { .. } => "flatten",
                NodeKind::Compute { .. } => "compute",
                NodeKind::If(_) => "if",
                NodeKind::Try(_) => "try",
                NodeKind::Wait(_) => "wait",
            };
            (g.node(id).label.clone(), kind)
        })
        .collect()
}

#[test]
fn decisions_failures_and_order_are_nodes_and_edges() {
    let (ws, build) = fixture("decisions.oaas");
    let g = graph(&build, "Order.place");
    let labels: Vec<(String, &str)> = kinds(g);
    let expected: Vec<(String, &str)> = [
        ("for i in self.items", "map"),
        ("if self.total > threshold", "if"),
        ("try … catch e", "try"),
        ("\"paid \" + payment", "compute"),
        ("self.notify(message)", "call"),
    ]
    .into_iter()
    .map(|(l, k)| (l.to_string(), k))
    .collect();
    assert_eq!(labels, expected);
    let e = edges(g);
    // `after reservations`: an ordering edge with no data.
    assert!(e.contains(&(
        "for i in self.items".into(),
        "self.notify(message)".into(),
        EdgeKind::Order
    )));
    // The `try` may return: what comes after it waits for it.
    assert!(e.contains(&(
        "try … catch e".into(),
        "\"paid \" + payment".into(),
        EdgeKind::Data
    )));
    // The `if` calls a `mut` function on `self`: the calls on `self` after it keep the order.
    assert!(e.contains(&(
        "if self.total > threshold".into(),
        "try … catch e".into(),
        EdgeKind::Order
    )));
    // The catch block returns; the `if` has no `else`.
    let t = g
        .root
        .node_ids()
        .find_map(|id| match &g.node(id).kind {
            NodeKind::Try(t) => Some(t),
            _ => None,
        })
        .unwrap();
    assert!(t.catch.returns && !t.body.returns);
    // `@effect` functions give no W0004 though their results go unused.
    assert!(build.diagnostics.is_empty(), "{:?}", build.diagnostics);
    insta::assert_snapshot!("decisions", drawings(&build));
    let artifact = redacted(build.artifact.clone().unwrap());
    insta::assert_json_snapshot!("decisions_artifact", artifact.packages[0].classes[1].macros);
    drop(ws);
}

#[test]
fn waits_are_sequence_points_with_their_signal_type_and_duration() {
    let (ws, build) = fixture("waits.oaas");
    let nudge = graph(&build, "Order.nudge");
    assert_eq!(
        kinds(nudge),
        [
            ("self.remind()", "call"),
            ("sleep(10m)", "wait"),
            ("self.remind()", "call")
        ]
        .map(|(l, k)| (l.to_string(), k))
    );
    // The sleep runs after the first call and before the second, though no data passes.
    let order: Vec<(String, String, EdgeKind)> = [
        ("self.remind()", "sleep(10m)"),
        ("sleep(10m)", "self.remind()"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string(), EdgeKind::Order))
    .to_vec();
    assert_eq!(edges(nudge), order);
    // In `place`, the `try` holding the signal waits for the approval request before it.
    let place = graph(&build, "Order.place");
    let decision = place
        .root
        .node_ids()
        .find_map(|id| match &place.node(id).kind {
            NodeKind::If(n) => Some(n),
            _ => None,
        })
        .unwrap();
    let then: Vec<(String, String, EdgeKind)> = decision
        .then
        .edges()
        .map(|(a, b, k)| (place.node(a).label.clone(), place.node(b).label.clone(), k))
        .collect();
    assert!(
        then.contains(&(
            "self.request_approval()".into(),
            "try … catch e".into(),
            EdgeKind::Order
        )),
        "{then:?}"
    );
    let artifact = redacted(build.artifact.clone().unwrap());
    let json = serde_json::to_string(&artifact.packages[0].classes[0].macros).unwrap();
    assert!(
        json.contains(
            r#""op":"wait","signal":"approval","type":{"record":"shop.Approval"},"ms":3600000"#
        ),
        "{json}"
    );
    insta::assert_snapshot!("waits", drawings(&build));
    insta::assert_json_snapshot!("waits_artifact", artifact.packages[0].classes[0].macros);
    drop(ws);
}

#[test]
fn the_order_example_draws_its_decisions_catches_and_wait() {
    let (_, build) = build_files(&package_dir("examples/order"));
    assert!(build.diagnostics.is_empty(), "{:?}", build.diagnostics);
    let g = graph(&build, "Order.place");
    assert_eq!(
        kinds(g),
        [
            ("for i in self.items", "map"),
            ("for h in held if not h", "map"),
            ("len(for h in held if not h { h })", "compute"),
            ("if missing > 0", "if"),
            ("if self.total > threshold", "if"),
            ("try … catch e", "try"),
            ("\"paid \" + payment", "compute"),
            ("self.notify(message)", "call"),
            ("\"paid \" + payment", "compute"),
        ]
        .map(|(l, k)| (l.to_string(), k))
    );
    insta::assert_snapshot!("order", drawings(&build));
}

#[test]
fn a_tolerant_for_is_a_map_with_its_tolerance_and_a_report_read_downstream() {
    let (_, build) = fixture("tolerance.oaas");
    let g = graph(&build, "Order.ship_all");
    let expected: Vec<(String, &str)> = [
        ("for i in self.items tolerate 10%", "map"),
        ("for f in shipped.failed", "map"),
    ]
    .into_iter()
    .map(|(l, k)| (l.to_string(), k))
    .collect();
    assert_eq!(kinds(g), expected);
    let tolerance = g.root.node_ids().find_map(|id| match &g.node(id).kind {
        NodeKind::Map(m) => m.tolerate,
        _ => None,
    });
    assert_eq!(
        tolerance,
        Some(oaas_compiler::syntax::ast::Tolerance::Percent(10))
    );
    // The report is read from the map's output: a data edge.
    assert_eq!(
        edges(g),
        vec![(
            "for i in self.items tolerate 10%".into(),
            "for f in shipped.failed".into(),
            EdgeKind::Data
        )]
    );
    assert!(build.diagnostics.is_empty(), "{:?}", build.diagnostics);
    insta::assert_snapshot!("tolerance", drawings(&build));
    let artifact = redacted(build.artifact.clone().unwrap());
    insta::assert_json_snapshot!("tolerance_artifact", artifact.packages[0].classes[1].macros);
}
