//! The nesting limit (200 levels, docs/language.md) holds for every shape of deep tree: long
//! `.field` and `.call()` chains (which lower to a tree as deep as the chain), such chains
//! after `for ... in`, and deeply nested list types. Past the limit one E0001 says so; below
//! it check, build and format work. Each case runs on a thread with an 8 MiB stack, the main
//! thread's usual size, so an unbounded recursion shows as a crash here.
#![allow(clippy::unwrap_used)]

use oaas_compiler::{format, Code, Workspace};

/// Runs `f` on a thread with an 8 MiB stack and returns its result.
fn on_8mib_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Checks, builds and formats `text`; returns the messages of its E0001 diagnostics.
fn syntax_errors(text: String) -> Vec<String> {
    on_8mib_stack(move || {
        let mut workspace = Workspace::new();
        workspace.add_file("deep.oaas", text.clone());
        let build = workspace.build();
        let _ = format::format(&text);
        build
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::E0001)
            .map(|d| d.message.clone())
            .collect()
    })
}

fn macro_returning(expr: &str) -> String {
    format!("package p\nclass C {{\n  state a: int = 1\n  macro m() -> int {{\n    return {expr}\n  }}\n}}\n")
}

#[test]
fn long_field_chains_are_refused_not_a_crash() {
    let errors = syntax_errors(macro_returning(&format!("self{}", ".a".repeat(1_600))));
    insta::assert_debug_snapshot!(errors, @r#"
    [
        "expressions are nested more than 200 deep",
    ]
    "#);
}

#[test]
fn long_call_chains_are_refused_not_a_crash() {
    let errors = syntax_errors(macro_returning(&format!("self{}", ".f()".repeat(1_000))));
    insta::assert_debug_snapshot!(errors, @r#"
    [
        "expressions are nested more than 200 deep",
    ]
    "#);
}

#[test]
fn long_chains_after_for_in_are_refused_not_a_crash() {
    let chain = format!("for x in self{} {{ x }}", ".a".repeat(1_600));
    let errors = syntax_errors(macro_returning(&chain));
    insta::assert_debug_snapshot!(errors, @r#"
    [
        "expressions are nested more than 200 deep",
    ]
    "#);
}

#[test]
fn deep_list_types_are_refused_not_a_crash() {
    let ty = format!("{}int{}", "[".repeat(3_000), "]".repeat(3_000));
    let errors = syntax_errors(format!("package p\nclass C {{\n  state x: {ty}\n}}\n"));
    insta::assert_debug_snapshot!(errors, @r#"
    [
        "types are nested more than 200 deep",
    ]
    "#);
}

/// A chain counts one level per suffix, on top of the expression it is in; arguments are
/// one level below their chain's primary. Right up to the limit, check, build and format work.
#[test]
fn chains_count_towards_the_limit() {
    let list_of = |suffix: &str, n: usize| macro_returning(&format!("[self{}]", suffix.repeat(n)));
    assert_eq!(syntax_errors(list_of(".a", 198)), Vec::<String>::new());
    assert_eq!(syntax_errors(list_of(".a", 199)).len(), 1);
    assert_eq!(
        syntax_errors(list_of(".f(x: 1)", 197)),
        Vec::<String>::new()
    );
    assert_eq!(syntax_errors(list_of(".f(x: 1)", 198)).len(), 1);
}

/// A `return` whose expression is too deep to read is skipped, and that is all that is said:
/// not also that the macro never returns (the skipped line was its `return`).
#[test]
fn a_return_too_deep_to_read_reports_only_its_depth() {
    let text = macro_returning(&format!("{}1{}", "(".repeat(1_000), ")".repeat(1_000)));
    let all = on_8mib_stack(move || {
        let mut workspace = Workspace::new();
        workspace.add_file("deep.oaas", text);
        let build = workspace.build();
        build
            .diagnostics
            .iter()
            .map(|d| format!("{:?} {}", d.code, d.message))
            .collect::<Vec<_>>()
    });
    insta::assert_debug_snapshot!(all, @r#"
    [
        "E0001 expressions are nested more than 200 deep",
    ]
    "#);
}
