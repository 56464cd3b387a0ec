//! No panic on any input: random bytes, random strings, soups of the language's tokens and
//! mutated real files go through `Workspace::add_file` + `check`, the three renderers and
//! `parse_access_expr`; the span invariants must hold on whatever comes out. Sized to run in a
//! few seconds in a debug build; `compiler/core/fuzz` runs the same for as long as you like
//! (see docs/testing.md).
#![allow(clippy::unwrap_used)]

use oaas_compiler::render::{render_github, render_human, render_json};
use oaas_compiler::syntax::parse_access_expr;
use oaas_compiler::Workspace;
use oaas_tests::mutate::{apply, config, mutation, SEEDS, TOKENS};
use oaas_tests::{access_span_violations, diagnostic_span_violations, file_span_violations};
use proptest::prelude::*;
use std::time::{Duration, Instant};

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

proptest! {
    // Shrunk failures are kept in `no_panic.proptest-regressions`, beside this file, and
    // replayed first on every run.
    #![proptest_config(config(200))]

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

/// Inputs that once took exponential or quadratic time, or could exhaust the stack: each must
/// finish fast, on a thread with an 8 MiB stack (the main thread's usual size). The bound only
/// catches pathological growth: each takes well under 0.5 s in a debug build, while 5,000
/// unclosed brackets once took 6 to 13 s (quadratic; more brackets fail fast on pest's stack
/// guard, so a bigger shape would not show it).
#[test]
fn pathological_inputs_finish_quickly() {
    let class = |body: &str| format!("package p\nclass A {{\n  {body}\n}}\n");
    let returning = |expr: &str| class(&format!("macro m() -> int {{\n    return {expr}\n  }}"));
    let cases = [
        class(&format!("fn f() {}", "(".repeat(60))),
        class(&format!("fn f() {}", "{".repeat(60))),
        class(&"({".repeat(60)),
        returning(&"[".repeat(5_000)),
        returning(&"(".repeat(5_000)),
        class(&format!("state x: {} = 1", "[".repeat(5_000))),
        class(&format!(
            "state x: {}int{}",
            "[".repeat(3_000),
            "]".repeat(3_000)
        )),
        class(&"\"".repeat(2_000)),
        "(".repeat(20_000),
        "{".repeat(20_000),
        "}".repeat(5_000),
        format!("package p\n{}", "{".repeat(5_000)),
        format!("package p\nfn f({}", "(".repeat(5_000)),
        class(&format!("fn f({}", "(".repeat(5_000))),
        format!("package p\n{}", "{\n".repeat(5_000)),
        format!("package p\n{}", "class A {\n".repeat(500)),
        format!("package p\n{}", "@a ".repeat(5_000)),
        class(&"fn f()\n".repeat(1_000)),
        returning(&format!("self{}", ".a".repeat(1_600))),
        returning(&format!("self{}", ".f()".repeat(1_000))),
        returning(&format!("for x in self{} {{ x }}", ".a".repeat(1_600))),
        format!("{}:f()", "a".repeat(10_000)),
        format!("a:f(x={})", "[".repeat(5_000)),
    ];
    for text in cases {
        let head = text.chars().take(60).collect::<String>();
        let took = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || {
                let started = Instant::now();
                exercise(&text);
                started.elapsed()
            })
            .unwrap()
            .join()
            .unwrap();
        // Not a speed goal (check-bench --shapes measures those): a bound only an input
        // gone quadratic or worse would pass, loose enough for a loaded CI machine.
        assert!(
            took < Duration::from_secs(60),
            "took {took:?} on {head:?}..."
        );
    }
}
