//! Every package under `examples/` checks with no diagnostic at all, errors and warnings
//! alike (the invocation-graph warnings included), alone and all together.
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::render_human;
use oaas_compiler::{graph, Workspace};
use std::path::{Path, PathBuf};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

fn oaas_files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            oaas_files_below(&path, out);
        } else if path.extension().is_some_and(|e| e == "oaas") {
            out.push(path);
        }
    }
}

/// Checks the files; returns the rendered diagnostics, empty when there are none.
fn problems(files: &[PathBuf]) -> String {
    let mut workspace = Workspace::new();
    for path in files {
        let display = path
            .strip_prefix(EXAMPLES)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        workspace.add_file(display, std::fs::read_to_string(path).unwrap());
    }
    let analysis = workspace.check();
    let mut diagnostics = analysis.diagnostics.clone();
    if analysis.error_count() == 0 {
        diagnostics.extend(graph::build_all(&analysis, &workspace.sources).1);
    }
    render_human(&workspace.sources, &diagnostics, false)
}

#[test]
fn every_example_package_checks_clean() {
    let mut packages: Vec<PathBuf> = std::fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    packages.sort();
    let mut all = Vec::new();
    let mut checked = 0;
    for dir in &packages {
        let mut files = Vec::new();
        oaas_files_below(dir, &mut files);
        files.sort();
        if files.is_empty() {
            continue;
        }
        let out = problems(&files);
        assert!(out.is_empty(), "{}:\n{out}", dir.display());
        checked += 1;
        all.extend(files);
    }
    assert!(checked >= 3, "only {checked} example packages found");
    let out = problems(&all);
    assert!(out.is_empty(), "all examples together:\n{out}");
}
