//! Parser fixtures: every file under `tests/fixtures/syntax/{valid,invalid}` is parsed, its
//! source and rendered diagnostics (and for valid files its tree) snapshotted, and the span
//! invariants checked. Invalid files open with `// expect: CODE at LINE, ...`: exactly those
//! diagnostics must come out, each at its line.
//!
//! Object access expressions are listed one per line in `tests/fixtures/syntax/access.txt`.
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::render_human;
use oaas_compiler::syntax::{self, parse_access_expr};
use oaas_compiler::{Diagnostic, Sources};
use oaas_tests::{access_span_violations, diagnostic_span_violations, file_span_violations};
use serde_json::Value;
use std::path::Path;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/syntax");

/// A fixture parsed: its display path, text, tree and diagnostics, spans already checked.
struct Fixture {
    path: String,
    text: String,
    parsed: syntax::Parsed,
    sources: Sources,
}

fn load(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap();
    // `valid/name.oaas`: stable wherever the checkout lives.
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let display = format!("{}/{}", name(path.parent()), name(Some(path)));
    parse_checked(&display, &text)
}

/// Parses a text and asserts the span invariants of its tree and diagnostics.
fn parse_checked(path: &str, text: &str) -> Fixture {
    let mut sources = Sources::new();
    let id = sources.add(path, text);
    let parsed = syntax::parse(id, text);
    let mut problems = file_span_violations(text, &parsed.ast);
    problems.extend(diagnostic_span_violations(&sources, &parsed.diagnostics));
    assert!(
        problems.is_empty(),
        "{path}: span invariants broken:\n{}",
        problems.join("\n")
    );
    Fixture {
        path: path.to_string(),
        text: text.to_string(),
        parsed,
        sources,
    }
}

/// The source with line numbers, then the diagnostics as people see them (no colour).
fn source_and_diagnostics(f: &Fixture) -> String {
    let mut out = format!("── {} ──\n", f.path);
    for (i, line) in f.text.lines().enumerate() {
        out.push_str(&format!("{:>3} │ {line}\n", i + 1));
    }
    out.push_str("── diagnostics ──\n");
    if f.parsed.diagnostics.is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push_str(&render_human(&f.sources, &f.parsed.diagnostics, false));
    }
    out
}

/// Serde JSON with every `{start, end}` span folded into `"start..end"` and every name into
/// `"name @ start..end"`, to keep trees short.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let is_span = map.len() == 2
                && map.get("start").is_some_and(Value::is_u64)
                && map.get("end").is_some_and(Value::is_u64);
            if is_span {
                return Value::String(format!("{}..{}", map["start"], map["end"]));
            }
            let map: serde_json::Map<String, Value> =
                map.into_iter().map(|(k, v)| (k, compact(v))).collect();
            // A name with its span: `"video @ 8..13"`.
            if let (2, Some(Value::String(name)), Some(Value::String(span))) =
                (map.len(), map.get("name"), map.get("span"))
            {
                return Value::String(format!("{name} @ {span}"));
            }
            Value::Object(map)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

fn tree_json<T: serde::Serialize>(tree: &T) -> String {
    serde_json::to_string_pretty(&compact(serde_json::to_value(tree).unwrap())).unwrap()
}

/// 1-based line of the primary label.
fn line_of(f: &Fixture, d: &Diagnostic) -> usize {
    let file = f.sources.get(d.primary.file);
    file.lines
        .line_col(&file.text, d.primary.span.start as usize)
        .line as usize
}

/// `// expect: E0001 at 6, E0002 at 9` on the first line, as (code, line) pairs.
fn expectations(text: &str) -> Option<Vec<(String, usize)>> {
    let header = text.lines().next()?.strip_prefix("// expect:")?;
    let mut expected: Vec<(String, usize)> = header
        .split(',')
        .map(|e| {
            let (code, line) = e.trim().split_once(" at ").unwrap();
            (code.to_string(), line.trim().parse().unwrap())
        })
        .collect();
    expected.sort_by_key(|(code, line)| (*line, code.clone()));
    Some(expected)
}

#[test]
fn valid_fixtures() {
    insta::glob!("../fixtures/syntax", "valid/*.oaas", |path| {
        let f = load(path);
        assert!(
            f.parsed.diagnostics.is_empty(),
            "{} should parse cleanly:\n{}",
            f.path,
            render_human(&f.sources, &f.parsed.diagnostics, false)
        );
        let snapshot = format!(
            "{}── tree ──\n{}\n",
            source_and_diagnostics(&f),
            tree_json(&*f.parsed.ast)
        );
        insta::assert_snapshot!(snapshot);
    });
}

#[test]
fn invalid_fixtures() {
    insta::glob!("../fixtures/syntax", "invalid/*.oaas", |path| {
        let f = load(path);
        assert!(
            !f.parsed.diagnostics.is_empty(),
            "{} should have diagnostics",
            f.path
        );
        if let Some(expected) = expectations(&f.text) {
            let mut found: Vec<(String, usize)> = f
                .parsed
                .diagnostics
                .iter()
                .map(|d| (d.code.to_string(), line_of(&f, d)))
                .collect();
            found.sort_by_key(|(code, line)| (*line, code.clone()));
            assert_eq!(found, expected, "{}: diagnostics (code, line)", f.path);
        }
        insta::assert_snapshot!(source_and_diagnostics(&f));
    });
}

/// The acceptance case, spelled out: three broken lines in three classes give three
/// errors, each on its own line, each saying what was expected.
#[test]
fn three_errors_in_three_classes() {
    let f = load(&Path::new(FIXTURES).join("invalid/three_errors_three_classes.oaas"));
    let errors: Vec<&Diagnostic> = f.parsed.diagnostics.iter().collect();
    assert_eq!(errors.len(), 3);
    let mut lines: Vec<usize> = errors.iter().map(|d| line_of(&f, d)).collect();
    lines.dedup();
    assert_eq!(lines.len(), 3, "each error on its own line");
    for d in errors {
        assert!(d.is_error());
        assert!(d.message.starts_with("expected "), "{}", d.message);
    }
    // The members around the broken lines are still in the tree.
    let members: Vec<usize> = f.parsed.ast.classes().map(|c| c.members.len()).collect();
    assert_eq!(members, vec![1, 2, 1]);
}

/// Windows line endings and a byte-order mark change nothing but offsets.
#[test]
fn valid_fixtures_with_crlf_and_bom() {
    for entry in std::fs::read_dir(Path::new(FIXTURES).join("valid")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let plain = parse_checked("plain.oaas", &text);
        let crlf = format!("\u{FEFF}{}", text.replace('\n', "\r\n"));
        let f = parse_checked("crlf.oaas", &crlf);
        assert!(
            f.parsed.diagnostics.is_empty(),
            "{}: {:?}",
            path.display(),
            f.parsed.diagnostics
        );
        assert_eq!(f.parsed.ast.items.len(), plain.parsed.ast.items.len());
        let docs = |ast: &oaas_compiler::syntax::ast::File| {
            ast.classes()
                .flat_map(|c| {
                    c.members
                        .iter()
                        .map(|m| m.docs.as_ref().map(|d| d.text.clone()))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(docs(&f.parsed.ast), docs(&plain.parsed.ast));
    }
}

/// Every line of `access.txt` (`#` starts a comment; `## valid` and `## invalid` say what the
/// lines below must do), with its tree or its error.
#[test]
fn access_expressions() {
    let list = std::fs::read_to_string(Path::new(FIXTURES).join("access.txt")).unwrap();
    let mut must_parse = true;
    let mut out = String::new();
    for line in list.lines() {
        match line.trim() {
            "## valid" => must_parse = true,
            "## invalid" => must_parse = false,
            _ if line.starts_with('#') => continue,
            _ => {}
        }
        if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // `<empty>` stands for the empty string, which a line cannot show.
        let input = if line == "<empty>" { "" } else { line };
        out.push_str(&format!("{line}\n"));
        match parse_access_expr(input) {
            Ok(expr) => {
                assert!(must_parse, "`{line}` should not parse: {expr:?}");
                let problems = access_span_violations(input, &expr);
                assert!(problems.is_empty(), "`{line}`: {problems:?}");
                let json = compact(serde_json::to_value(&expr).unwrap());
                out.push_str(&format!("  => {json}\n"));
            }
            Err(d) => {
                assert!(!must_parse, "`{line}` should parse: {}", d.message);
                let mut sources = Sources::new();
                sources.add("<access>", input);
                let problems = diagnostic_span_violations(&sources, std::slice::from_ref(&d));
                assert!(problems.is_empty(), "`{line}`: {problems:?}");
                out.push_str(&format!(
                    "  => {} {}..{}: {}\n",
                    d.code, d.primary.span.start, d.primary.span.end, d.message
                ));
            }
        }
    }
    insta::assert_snapshot!(out);
}

/// A file of garbage reports its first 100 syntax errors and then says how many it left out.
#[test]
fn syntax_errors_are_capped() {
    let text = format!(
        "package p\nclass A {{\n{}}}\n",
        "  state x int\n".repeat(300)
    );
    let f = parse_checked("garbage.oaas", &text);
    let diagnostics = &f.parsed.diagnostics;
    assert_eq!(diagnostics.len(), 101);
    let last = diagnostics.last().unwrap();
    assert_eq!(
        last.message,
        "too many syntax errors: 200 more are not shown"
    );
    assert_eq!(line_of(&f, last), 103);
}
