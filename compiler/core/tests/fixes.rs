//! The fixes diagnostics carry (`Diagnostic::fixes`): each case checks a file, takes the fix
//! of one diagnostic, applies its edits and checks the result again. The fixed text is
//! written out in full, and the diagnostic must be gone after the fix with no new error.
#![allow(clippy::unwrap_used)]

use oaas_compiler::{Code, Fix, Workspace};

/// A package with one class whose body is `members`.
fn class(members: &str) -> String {
    format!(
        "package p\n\n@local(\"python3 f.py\")\nclass Video {{\n  public state title: string\n  public fn split(segment_s: int = 10) -> [Video]\n{members}}}\n"
    )
}

/// The diagnostics of one file: (code, fixes).
fn check(text: &str) -> Vec<(Code, Vec<Fix>)> {
    let mut workspace = Workspace::new();
    workspace.add_file("p.oaas", text.to_string());
    workspace
        .check()
        .diagnostics
        .into_iter()
        .filter(|d| d.primary.file.0 != 0)
        .map(|d| (d.code, d.fixes))
        .collect()
}

/// Applies the only fix of the only diagnostic with `code`: its title, whether it is
/// preferred, and the text after it.
fn apply(text: &str, code: Code) -> (String, bool, String) {
    let found = check(text);
    let fixes: Vec<&Fix> = found
        .iter()
        .filter(|(c, _)| *c == code)
        .flat_map(|(_, f)| f)
        .collect();
    assert_eq!(fixes.len(), 1, "one fix for {code} expected in {found:?}");
    let fix = fixes[0];
    let mut out = text.to_string();
    let mut edits = fix.edits.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    for e in edits {
        out.replace_range(e.span.start as usize..e.span.end as usize, &e.text);
    }
    let after = check(&out);
    assert!(
        after
            .iter()
            .all(|(c, _)| *c != code && c.as_str().starts_with('W')),
        "after the fix: {after:?}\n{out}"
    );
    (fix.title.clone(), fix.preferred, out)
}

#[test]
fn an_unused_let_is_renamed_with_an_underscore() {
    let text =
        class("  public macro m() -> int {\n    let parts = self.split()\n    return 1\n  }\n");
    let (title, preferred, out) = apply(&text, Code::W0001);
    assert_eq!(title, "Rename to `_parts`");
    assert!(preferred);
    assert!(out.contains("    let _parts = self.split()\n"), "{out}");
}

#[test]
fn an_unused_parameter_may_be_renamed_but_it_is_not_the_one_clear_fix() {
    let text = class("  public macro m(every_s: int) -> int {\n    return 1\n  }\n");
    let (title, preferred, out) = apply(&text, Code::W0002);
    assert_eq!(title, "Rename to `_every_s`");
    assert!(!preferred, "callers may pass it by name");
    assert!(out.contains("macro m(_every_s: int)"), "{out}");
}

#[test]
fn a_misspelt_function_is_replaced_by_the_closest_name() {
    let text = class("  public macro m() -> [Video] {\n    return self.splt(segment_s: 3)\n  }\n");
    let (title, preferred, out) = apply(&text, Code::E0113);
    assert_eq!(title, "Change to `split`");
    assert!(preferred);
    assert!(out.contains("return self.split(segment_s: 3)"), "{out}");
}

#[test]
fn misspelt_names_of_types_arguments_and_annotations_are_replaced() {
    let text = class("  public fn f(n: strng) -> int\n");
    let (_, _, out) = apply(&text, Code::E0110);
    assert!(out.contains("public fn f(n: string) -> int"), "{out}");

    let text = class("  public macro m() -> [Video] {\n    return self.split(segmnt_s: 3)\n  }\n");
    let (_, _, out) = apply(&text, Code::E0117);
    assert!(out.contains("self.split(segment_s: 3)"), "{out}");

    let text = "package p\n\n@locl(\"python3 f.py\")\nclass A {\n  public fn f() -> int\n}\n";
    let (title, _, out) = apply(text, Code::E0116);
    assert_eq!(title, "Change to `@local`");
    assert!(out.contains("@local(\"python3 f.py\")"), "{out}");

    let text = class("  public macro m() -> [Video] {\n    let parts = for v in self.split() { v.split() }\n    return flaten(parts)\n  }\n");
    let (_, _, out) = apply(&text, Code::E0113);
    assert!(out.contains("return flatten(parts)"), "{out}");
}

#[test]
fn an_object_in_a_state_field_is_declared_as_a_ref() {
    let text = class("  public state other: Video\n");
    let (title, preferred, out) = apply(&text, Code::E0110);
    assert_eq!(title, "Declare it as `ref`");
    assert!(preferred);
    assert!(out.contains("  public ref other: Video\n"), "{out}");
}

#[test]
fn a_weaker_override_is_given_the_parents_access() {
    let text = "package p\n\n@local(\"python3 f.py\")\nclass A {\n  public fn f() -> int\n}\n\n@local(\"python3 f.py\")\nclass B extends A {\n  internal override fn f() -> int\n}\n";
    let (title, preferred, out) = apply(text, Code::E0405);
    assert_eq!(title, "Make it `public`");
    assert!(preferred);
    assert!(out.contains("  public override fn f() -> int\n"), "{out}");
}

#[test]
fn a_name_with_no_close_match_gets_no_fix() {
    let text = class("  public macro m() -> int {\n    return self.zzzzzzzz()\n  }\n");
    let found = check(&text);
    let (_, fixes) = found.iter().find(|(c, _)| *c == Code::E0113).unwrap();
    assert!(fixes.is_empty(), "{fixes:?}");
}
