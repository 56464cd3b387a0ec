//! No panic on any input: random bytes, random strings, soups of the language's tokens and
//! mutated real files go through `Workspace::add_file` + `check`, the three renderers and
//! `parse_access_expr`; the span invariants must hold on whatever comes out. Sized to run in a
//! few seconds in a debug build; `compiler/core/fuzz` runs the same for as long as you like
//! (see docs/testing.md).
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::{render_github, render_human, render_json};
use oaas_compiler::syntax::parse_access_expr;
use oaas_compiler::Workspace;
use oaas_tests::{access_span_violations, diagnostic_span_violations, file_span_violations};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::time::{Duration, Instant};

/// Real files to mutate: the examples, the standard library and the valid fixtures.
const SEEDS: &[&str] = &[
    include_str!("../../examples/video/video.oaas"),
    include_str!("../../examples/text/text.oaas"),
    include_str!("../../examples/record/record.oaas"),
    include_str!("../../stdlib/std.oaas"),
    include_str!("../fixtures/syntax/valid/09_annotations.oaas"),
    include_str!("../fixtures/syntax/valid/12_macro_for.oaas"),
    include_str!("../fixtures/syntax/valid/14_literals.oaas"),
    include_str!("../fixtures/syntax/valid/16_comments_and_layout.oaas"),
];

/// Pieces of the language, to build plausible garbage from.
const TOKENS: &[&str] = &[
    "package",
    "use",
    "record",
    "class",
    "extends",
    "state",
    "file",
    "ref",
    "fn",
    "macro",
    "let",
    "return",
    "for",
    "in",
    "public",
    "internal",
    "private",
    "mut",
    "static",
    "override",
    "true",
    "false",
    "null",
    "self",
    "flatten",
    "Self",
    "int",
    "float",
    "string",
    "json",
    "bool",
    "video",
    "Video",
    "x",
    "_y",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    ",",
    ".",
    "=",
    "->",
    "?",
    "@",
    "@local",
    "@timeout",
    "@retry",
    "\"",
    "\"text\"",
    "\"\\q\"",
    "\"\\",
    "42",
    "-7",
    "0.5",
    "1e999",
    "99999999999999999999",
    "120s",
    "200ms",
    "5m",
    "2h",
    "//",
    "///",
    "/// doc\n",
    "// note\n",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\u{FEFF}",
    "é",
    "😀",
    "\u{2028}",
    "\u{85}",
    "\0",
    "}}",
    "((",
    "{\"k\": 1}",
    "vid42:get",
    "/src",
    "a=1",
];

/// Parses, checks and renders a text; asserts the span invariants. Panics propagate.
fn exercise(text: &str) {
    let mut workspace = Workspace::new();
    workspace.add_file("input.oaas", text);
    let analysis = workspace.check();
    for (id, ast) in &analysis.files {
        let source = &workspace.sources.get(*id).text;
        let problems = file_span_violations(source, ast);
        assert!(problems.is_empty(), "tree spans: {problems:#?}");
    }
    let problems = diagnostic_span_violations(&workspace.sources, &analysis.diagnostics);
    assert!(problems.is_empty(), "diagnostic spans: {problems:#?}");
    render_human(&workspace.sources, &analysis.diagnostics, false);
    render_human(&workspace.sources, &analysis.diagnostics, true);
    render_json(&workspace.sources, &analysis.diagnostics);
    render_github(&workspace.sources, &analysis.diagnostics);

    let first_line = text.lines().next().unwrap_or("");
    for candidate in [text, first_line] {
        if let Ok(expr) = parse_access_expr(candidate) {
            let problems = access_span_violations(candidate, &expr);
            assert!(problems.is_empty(), "access spans: {problems:#?}");
        }
    }
}

/// The largest char boundary at or below `i`.
fn floor(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One edit of a text, at positions given as fractions of its length.
#[derive(Clone, Debug)]
enum Mutation {
    Delete(f64, usize),
    Duplicate(f64, usize),
    InsertToken(f64, usize),
    InsertText(f64, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..40usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (at.clone(), 1..80usize).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (at.clone(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::InsertToken(a, t)),
        (at, ".{0,8}").prop_map(|(a, s)| Mutation::InsertText(a, s)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let pos = |frac: f64| floor(text, (frac * text.len() as f64) as usize);
    let mut out = text.to_string();
    match m {
        Mutation::Delete(a, n) => {
            let start = pos(*a);
            out.replace_range(start..floor(text, start + n), "");
        }
        Mutation::Duplicate(a, n) => {
            let start = pos(*a);
            let piece = text[start..floor(text, start + n)].to_string();
            out.insert_str(start, &piece);
        }
        Mutation::InsertToken(a, t) => out.insert_str(pos(*a), TOKENS[*t]),
        Mutation::InsertText(a, s) => out.insert_str(pos(*a), s),
    }
    out
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (0..TOKENS.len(), prop::sample::select(vec!["", " ", "\n"])),
        0..80,
    )
    .prop_map(|parts| {
        let mut out = String::from("package soup\n");
        for (t, sep) in parts {
            out.push_str(TOKENS[t]);
            out.push_str(sep);
        }
        out
    })
}

/// 200 cases per property, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

proptest! {
    // Shrunk failures are kept in `no_panic.proptest-regressions`, beside this file, and
    // replayed first on every run.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_strings(text in ".{0,300}") {
        exercise(&text);
    }

    #[test]
    fn token_soups(text in token_soup()) {
        exercise(&text);
    }

    #[test]
    fn mutated_files(
        seed in 0..SEEDS.len(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut text = SEEDS[seed].to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        exercise(&text);
    }
}

/// Inputs that once took exponential time or could exhaust the stack: each must finish fast.
#[test]
fn pathological_inputs_finish_quickly() {
    let class = |body: &str| format!("package p\nclass A {{\n  {body}\n}}\n");
    let cases = [
        class(&format!("fn f() {}", "(".repeat(60))),
        class(&format!("fn f() {}", "{".repeat(60))),
        class(&"({".repeat(60)),
        class(&format!(
            "macro m() -> int {{ return {} }}",
            "[".repeat(5_000)
        )),
        class(&format!(
            "macro m() -> int {{ return {} }}",
            "(".repeat(5_000)
        )),
        class(&format!("state x: {} = 1", "[".repeat(5_000))),
        class(&"\"".repeat(2_000)),
        "(".repeat(20_000),
        "{".repeat(20_000),
        "}".repeat(5_000),
        format!("package p\n{}", "class A {\n".repeat(500)),
        format!("package p\n{}", "@a ".repeat(5_000)),
        class(&"fn f()\n".repeat(1_000)),
        format!("{}:f()", "a".repeat(10_000)),
        format!("a:f(x={})", "[".repeat(5_000)),
    ];
    for text in &cases {
        let started = Instant::now();
        exercise(text);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(30),
            "took {took:?} on {:?}...",
            text.get(..60).unwrap_or(text)
        );
    }
}
