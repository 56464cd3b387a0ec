//! The error pages in `docs/errors/`: every code the compiler has must have a page titled
//! `# CODE: title` (the title of `Code::title`), listed in `docs/errors/README.md`, and no page
//! may name a code that does not exist. A page's ```` ```oaas ```` block must produce its code
//! and no other (the code may be reported more than once), and its ```` ```oaas,fixed ````
//! block must check with no diagnostic at all.
//!
//! In an example, a line `// file: dir/name.oaas` starts a new file, so that rules about
//! several files or packages can be shown. Diagnostics are those of `Workspace::check()`,
//! plus the invocation-graph warnings when the check finds no error (W0004 comes from there).
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::render_human;
use oaas_compiler::{graph, manifest, Code, Diagnostic, Workspace};
use std::collections::BTreeSet;
use std::path::Path;

const PAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors");

fn page(code: Code) -> Option<String> {
    std::fs::read_to_string(Path::new(PAGES).join(format!("{code}.md"))).ok()
}

/// The fenced blocks of a page whose info string is exactly `info`.
fn blocks<'a>(text: &'a str, info: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    let open = format!("```{info}\n");
    while let Some(at) = rest.find(&open) {
        let body_start = at + open.len();
        let Some(len) = rest[body_start..].find("\n```") else {
            break;
        };
        out.push(&rest[body_start..body_start + len + 1]);
        rest = &rest[body_start + len + 4..];
    }
    out
}

/// Splits an example into files at `// file: path` lines.
fn files(code: Code, example: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in example.split_inclusive('\n') {
        if let Some(path) = line.trim_end().strip_prefix("// file: ") {
            out.push((format!("{code}/{path}"), String::new()));
            continue;
        }
        if out.is_empty() {
            out.push((format!("{code}/example.oaas"), String::new()));
        }
        if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
        }
    }
    out
}

fn run(code: Code, example: &str) -> (Workspace, Vec<Diagnostic>) {
    let mut workspace = Workspace::new();
    for (path, text) in files(code, example) {
        workspace.add_file(path, text);
    }
    let analysis = workspace.check();
    let mut diagnostics = analysis.diagnostics.clone();
    if analysis.error_count() == 0 {
        diagnostics.extend(graph::build_all(&analysis, &workspace.sources).1);
    }
    (workspace, diagnostics)
}

#[test]
fn every_code_has_a_titled_page_listed_in_the_index() {
    let index = std::fs::read_to_string(Path::new(PAGES).join("README.md")).unwrap();
    let mut problems = Vec::new();
    for code in Code::ALL {
        let Some(text) = page(*code) else {
            problems.push(format!("{code}: no page docs/errors/{code}.md"));
            continue;
        };
        let heading = format!("# {code}: {}\n", code.title());
        if !text.starts_with(&heading) {
            problems.push(format!(
                "{code}: the page does not start with `{}`",
                heading.trim()
            ));
        }
        if !index.contains(&format!("[{code}]({code}.md)")) {
            problems.push(format!("{code}: not listed in docs/errors/README.md"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_page_is_for_a_code() {
    for entry in std::fs::read_dir(PAGES).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        let code = name.strip_suffix(".md").and_then(Code::parse);
        assert!(
            code.is_some(),
            "docs/errors/{name} is not the page of a code"
        );
    }
}

/// A page about `oaas.toml` (its examples are ```` ```toml ```` blocks): `None` if the page is
/// not one; else the problems with it (the example must give its code, the fix parse).
fn manifest_page(code: Code, text: &str) -> Option<Option<String>> {
    let (failing, fixed) = (blocks(text, "toml"), blocks(text, "toml,fixed"));
    if failing.is_empty() && fixed.is_empty() {
        return None;
    }
    if failing.len() != 1 || fixed.len() != 1 {
        return Some(Some(format!(
            "{code}: needs one ```toml and one ```toml,fixed block"
        )));
    }
    let file = oaas_compiler::FileId(0);
    Some(
        match (
            manifest::parse(file, failing[0]),
            manifest::parse(file, fixed[0]),
        ) {
            (Err(d), Ok(_)) if d.code == code => None,
            (Err(d), Ok(_)) => Some(format!("{code}: the example gives {}", d.code)),
            (Ok(_), _) => Some(format!("{code}: the example parses")),
            (_, Err(d)) => Some(format!("{code}: the fix does not parse: {}", d.message)),
        },
    )
}

#[test]
fn each_example_produces_its_code_and_each_fix_checks_clean() {
    let mut problems = Vec::new();
    for code in Code::ALL {
        let Some(text) = page(*code) else { continue };
        if let Some(problem) = manifest_page(*code, &text) {
            problems.extend(problem);
            continue;
        }
        let (failing, fixed) = (blocks(&text, "oaas"), blocks(&text, "oaas,fixed"));
        if failing.len() != 1 || fixed.len() != 1 {
            problems.push(format!(
                "{code}: needs one ```oaas and one ```oaas,fixed block, has {} and {}",
                failing.len(),
                fixed.len()
            ));
            continue;
        }
        let (workspace, diagnostics) = run(*code, failing[0]);
        let codes: BTreeSet<Code> = diagnostics.iter().map(|d| d.code).collect();
        if codes != BTreeSet::from([*code]) {
            problems.push(format!(
                "{code}: the example gives {codes:?}, not just {code}:\n{}",
                render_human(&workspace.sources, &diagnostics, false)
            ));
        }
        let (workspace, diagnostics) = run(*code, fixed[0]);
        if !diagnostics.is_empty() {
            problems.push(format!(
                "{code}: the fixed example is not clean:\n{}",
                render_human(&workspace.sources, &diagnostics, false)
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
