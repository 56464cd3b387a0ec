//! UI tests of the checker. Every entry of `tests/fixtures/check/fail` and
//! `tests/fixtures/check/pass` is one workspace: a file, or a directory whose `.oaas` files
//! below it are checked together (for `use` across packages and multi-file packages).
//!
//! A failing fixture marks each offending line with the codes expected there:
//! `... // ~ E0200` (several codes: `// ~ E0200 W0001`). Each expectation must be met by a
//! diagnostic whose primary span starts on that line, and every diagnostic must be expected.
//! Passing fixtures must give no diagnostic at all. Diagnostics are those of
//! `Workspace::check()`, plus the invocation-graph warnings when the check finds no error
//! (as `oaasc build` reports them). A few fixtures also have insta snapshots of the rendered
//! human output.
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::render_human;
use oaas_compiler::span::LineIndex;
use oaas_compiler::{graph, Code, Diagnostic, Workspace};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/check");

/// One fixture: its name (`fail/types.oaas`) and its files, each under a display path that
/// is the same wherever the checkout lives.
struct Fixture {
    name: String,
    files: Vec<(String, String)>,
}

/// An expected or reported diagnostic: display path, line (from 1), code.
type Mark = (String, usize, String);

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

/// The fixtures of `fail` or `pass`, sorted by name.
fn fixtures(kind: &str) -> Vec<Fixture> {
    let root = Path::new(FIXTURES);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "oaas"))
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|entry| {
            let mut paths = Vec::new();
            if entry.is_dir() {
                oaas_files_below(&entry, &mut paths);
            } else {
                paths.push(entry.clone());
            }
            paths.sort();
            let display = |p: &Path| {
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            };
            Fixture {
                name: display(&entry),
                files: paths
                    .iter()
                    .map(|p| (display(p), std::fs::read_to_string(p).unwrap()))
                    .collect(),
            }
        })
        .collect()
}

/// Checks a fixture; adds the graph builder's warnings when there is no error.
fn run(fixture: &Fixture) -> (Workspace, Vec<Diagnostic>) {
    let mut workspace = Workspace::new();
    for (path, text) in &fixture.files {
        workspace.add_file(path.clone(), text.clone());
    }
    let analysis = workspace.check();
    let mut diagnostics = analysis.diagnostics.clone();
    if analysis.error_count() == 0 {
        diagnostics.extend(graph::build_all(&analysis, &workspace.sources).1);
    }
    (workspace, diagnostics)
}

/// The `// ~ CODE ...` marks of a fixture's files.
fn expected(fixture: &Fixture) -> BTreeSet<Mark> {
    let mut marks = BTreeSet::new();
    for (path, text) in &fixture.files {
        for (i, line) in text.lines().enumerate() {
            let Some((_, after)) = line.split_once("// ~ ") else {
                continue;
            };
            for code in after.split_whitespace() {
                assert!(
                    Code::parse(code).is_some(),
                    "{path}:{}: `{code}` in an expectation is not a code",
                    i + 1
                );
                marks.insert((path.clone(), i + 1, code.to_string()));
            }
        }
    }
    marks
}

/// Where each diagnostic's primary span starts, as a mark.
fn reported(workspace: &Workspace, diagnostics: &[Diagnostic]) -> BTreeSet<Mark> {
    diagnostics
        .iter()
        .map(|d| {
            let file = workspace.sources.get(d.primary.file);
            let line = LineIndex::new(&file.text).line_of(d.primary.span.start as usize) + 1;
            (file.path.clone(), line, d.code.as_str().to_string())
        })
        .collect()
}

fn show(marks: &BTreeSet<Mark>, diagnostics: Option<(&Workspace, &[Diagnostic])>) -> String {
    marks
        .iter()
        .map(|(path, line, code)| {
            let message = diagnostics
                .and_then(|(w, ds)| {
                    ds.iter().find(|d| {
                        reported(w, std::slice::from_ref(*d)).contains(&(
                            path.clone(),
                            *line,
                            code.clone(),
                        ))
                    })
                })
                .map(|d| format!(": {}", d.message))
                .unwrap_or_default();
            format!("  {path}:{line}: {code}{message}\n")
        })
        .collect()
}

#[test]
fn failing_fixtures_report_exactly_their_marks() {
    let mut problems = String::new();
    let all = fixtures("fail");
    assert!(all.len() >= 10, "the failing fixtures are missing");
    for fixture in &all {
        let want = expected(fixture);
        if want.is_empty() {
            problems.push_str(&format!("{}: no `// ~ CODE` marks\n", fixture.name));
            continue;
        }
        let (workspace, diagnostics) = run(fixture);
        let got = reported(&workspace, &diagnostics);
        let missing: BTreeSet<Mark> = want.difference(&got).cloned().collect();
        let unexpected: BTreeSet<Mark> = got.difference(&want).cloned().collect();
        if !missing.is_empty() {
            problems.push_str(&format!(
                "{}: expected but not reported:\n{}",
                fixture.name,
                show(&missing, None)
            ));
        }
        if !unexpected.is_empty() {
            problems.push_str(&format!(
                "{}: reported but not expected:\n{}",
                fixture.name,
                show(&unexpected, Some((&workspace, &diagnostics)))
            ));
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

#[test]
fn passing_fixtures_check_clean() {
    let mut problems = String::new();
    let all = fixtures("pass");
    assert!(all.len() >= 5, "the passing fixtures are missing");
    for fixture in &all {
        assert!(
            expected(fixture).is_empty(),
            "{}: a passing fixture has `// ~` marks",
            fixture.name
        );
        let (workspace, diagnostics) = run(fixture);
        if !diagnostics.is_empty() {
            problems.push_str(&format!(
                "{}:\n{}",
                fixture.name,
                render_human(&workspace.sources, &diagnostics, false)
            ));
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

#[test]
fn every_code_has_a_failing_fixture() {
    let mut covered = BTreeSet::new();
    for fixture in fixtures("fail") {
        covered.extend(expected(&fixture).into_iter().map(|(_, _, code)| code));
    }
    // Codes reported on `oaas.toml` manifests, not on `.oaas` sources: their failing
    // cases are the manifest tests in compiler/core/src/manifest.rs and cli/tests/project.rs.
    const ON_MANIFESTS: &[&str] = &["E0600"];
    let uncovered: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !covered.contains(*c) && !ON_MANIFESTS.contains(c))
        .collect();
    assert!(
        uncovered.is_empty(),
        "codes without a failing fixture: {uncovered:?}"
    );
}

/// The rendered output of a few representative fixtures, as people see it.
#[test]
fn human_output_snapshots() {
    let fail = fixtures("fail");
    for name in [
        "fail/types.oaas",
        "fail/inheritance.oaas",
        "fail/access.oaas",
        "fail/recursion.oaas",
        "fail/warnings.oaas",
        "fail/unknown_names.oaas",
        "fail/annotations.oaas",
        "fail/cross_package",
    ] {
        let fixture = fail
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no fixture {name}"));
        let (workspace, diagnostics) = run(fixture);
        let snapshot_name = name.replace(['/', '.'], "_");
        insta::assert_snapshot!(
            snapshot_name,
            render_human(&workspace.sources, &diagnostics, false)
        );
    }
}
