//! Shapes on which the checker once took quadratic time: a long inheritance chain, hundreds of
//! duplicate fields on one line, tens of thousands of classes. The time bounds are generous
//! (debug build, shared machine): they catch quadratic growth, which took from 30 s to
//! minutes here, not slowness. `check-bench --shapes` times the same shapes in a release
//! build (bench/RESULTS.md).
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::render_human;
use oaas_compiler::Workspace;
use std::time::{Duration, Instant};

/// Runs `f` on a thread with an 8 MiB stack; returns its result and how long it took.
fn timed<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, Duration) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let started = Instant::now();
            let out = f();
            (out, started.elapsed())
        })
        .unwrap()
        .join()
        .unwrap()
}

fn workspace_of(text: String) -> Workspace {
    let mut workspace = Workspace::new();
    workspace.add_file("scale.oaas", text);
    workspace
}

/// `C1 extends C0`, ..., the last class overriding a function of the first. (Classes that
/// declare members of their own would make the flattened artifact, where each class lists
/// everything it inherits, quadratic in size by design.)
fn inheritance_chain(depth: usize) -> String {
    let mut text =
        String::from("package p\n\n@local(\"python3 f.py\")\nclass C0 { fn f() -> int }\n");
    for i in 1..depth {
        text.push_str(&format!("class C{i} extends C{} {{}}\n", i - 1));
    }
    text.push_str(&format!(
        "class Last extends C{} {{ override fn f() -> int }}\n",
        depth - 1
    ));
    text
}

#[test]
fn a_2000_deep_inheritance_chain_checks() {
    let (build, took) = timed(|| workspace_of(inheritance_chain(2_000)).build());
    assert_eq!(build.diagnostics, Vec::new());
    let artifact = build.artifact.unwrap();
    let last = artifact.packages[0]
        .classes
        .iter()
        .find(|c| c.name == "Last")
        .unwrap();
    assert_eq!(last.ancestors.len(), 2_000 + 2); // itself, the chain and `Object`
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// Each duplicate is reported, but only the first 100 of a file are drawn with their line:
/// drawing all of them would repeat the long line once per diagnostic.
#[test]
fn hundreds_of_duplicate_fields_on_one_line_render_in_linear_space() {
    let fields = vec!["state x: int"; 800].join(" ");
    let workspace = workspace_of(format!("package p\nclass A {{ {fields} }}\n"));
    let (out, took) = timed(move || {
        let build = workspace.check_with_graphs();
        assert_eq!(build.diagnostics.len(), 799);
        render_human(&workspace.sources, &build.diagnostics, false)
    });
    // 100 drawings of the ~10 KB line (15 KB each), then one short line per diagnostic;
    // drawing all 799 took 12 MB.
    assert!(out.len() < 4 << 20, "{} bytes", out.len());
    assert_eq!(out.matches("is declared twice").count(), 799);
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// `check_with_graphs` reports what `build` does, without serializing and hashing an
/// artifact: 50,000 classes check in seconds, even in a debug build.
#[test]
fn fifty_thousand_classes_check() {
    let text: String = std::iter::once("package p\n".to_string())
        .chain((0..50_000).map(|i| format!("class C{i} {{}}\n")))
        .collect();
    let (build, took) = timed(|| workspace_of(text).check_with_graphs());
    assert_eq!(build.diagnostics, Vec::new());
    assert!(build.artifact.is_none());
    assert_eq!(build.analysis.model.class_ids().count(), 50_000 + 1);
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
