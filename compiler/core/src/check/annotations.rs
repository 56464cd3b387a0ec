//! The annotations the language knows, where each may go, and the types of their arguments.

use super::model::{AnnotationValue, Loc};
use super::suggest;
use super::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::FileId;
use crate::syntax::ast;
use std::collections::{BTreeMap, HashSet};

/// What an annotation is written on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A class: defaults for its functions.
    Class,
    /// A task function.
    Fn,
    /// A macro.
    Macro,
    /// State, a file or a ref.
    Data,
}

/// The kind of an annotation argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArgKind {
    Str,
    Count,
    Duration,
}

impl ArgKind {
    fn describe(self) -> &'static str {
        match self {
            ArgKind::Str => "a string",
            ArgKind::Count => "a whole number of at least 1",
            ArgKind::Duration => "a duration such as `30s` or `200ms`",
        }
    }
}

/// One known annotation: its name, its arguments (name, kind, required) and where it fits.
struct Spec {
    name: &'static str,
    args: &'static [(&'static str, ArgKind, bool)],
    on_macro: bool,
    about: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "local",
        args: &[("command", ArgKind::Str, true)],
        on_macro: false,
        about: "the command that starts the function container on one machine",
    },
    Spec {
        name: "url",
        args: &[("url", ArgKind::Str, true)],
        on_macro: false,
        about: "the address of an already running function container",
    },
    Spec {
        name: "image",
        args: &[("image", ArgKind::Str, true)],
        on_macro: false,
        about: "the container image for a cluster",
    },
    Spec {
        name: "builtin",
        args: &[("name", ArgKind::Str, true)],
        on_macro: false,
        about: "an operation the runtime performs itself",
    },
    Spec {
        name: "timeout",
        args: &[("after", ArgKind::Duration, true)],
        on_macro: true,
        about: "how long one call may take",
    },
    Spec {
        name: "retry",
        args: &[
            ("attempts", ArgKind::Count, true),
            ("backoff", ArgKind::Duration, false),
        ],
        on_macro: false,
        about: "how often a failed call is tried again, and the first wait between tries",
    },
    Spec {
        name: "effect",
        args: &[],
        on_macro: false,
        about: "the function acts outside the platform (mail, payment): its result may go unused",
    },
    Spec {
        name: "memo",
        args: &[],
        on_macro: false,
        about: "the function is pure: a call on the same inputs answers with the first call's result, without the container",
    },
    Spec {
        name: "concurrency",
        args: &[("limit", ArgKind::Count, true)],
        on_macro: false,
        about: "how many calls may run at once",
    },
];

/// The names of the annotations that give a function a way to run.
pub const RUNNERS: &[&str] = &["local", "url", "image", "builtin"];

/// Every known annotation name with a line about it (for completion and docs).
pub fn known() -> impl Iterator<Item = (&'static str, &'static str)> {
    SPECS.iter().map(|s| (s.name, s.about))
}

/// E0116: no annotation has this name; the closest one, and the list of them.
fn unknown_annotation(file: FileId, a: &ast::Annotation) -> Diagnostic {
    Diagnostic::new(
        Code::E0116,
        file,
        a.name.span,
        format!("there is no annotation `@{}`", a.name.name),
    )
    .label("unknown annotation")
    .note(format!(
        "the annotations are {}",
        SPECS
            .iter()
            .map(|s| format!("`@{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .did_you_mean_as(
        suggest::closest(&a.name.name, SPECS.iter().map(|s| s.name)),
        |s| format!("@{s}"),
    )
}

/// E0005 when the annotation may not be written here: `@builtin` outside the standard
/// library, any annotation on data, one that does not apply to macros on a macro, `@memo`
/// on a class.
fn misplaced(
    checker: &Checker<'_>,
    file: FileId,
    a: &ast::Annotation,
    spec: &Spec,
    target: Target,
) -> Option<Diagnostic> {
    if spec.name == "builtin" && file != checker.stdlib {
        return Some(
            Diagnostic::new(
                Code::E0005,
                file,
                a.span,
                "`@builtin` is reserved for the standard library",
            )
            .label("not available here")
            .note("a builtin is an operation the runtime itself performs; only `std.Object` declares them")
            .help("say how the function runs with `@local`, `@url` or `@image`"),
        );
    }
    let what = match target {
        Target::Data => "state, files and refs",
        Target::Macro if !spec.on_macro => "macros (they run inside the runtime)",
        // Reuse is a promise about one function's inputs, made function by function.
        Target::Class if spec.name == "memo" => {
            "classes (write it on each function whose result may be reused)"
        }
        _ => return None,
    };
    Some(
        Diagnostic::new(
            Code::E0005,
            file,
            a.span,
            format!("`@{}` does not apply to {what}", spec.name),
        )
        .label("misplaced annotation")
        .note(format!("`@{}` sets {}", spec.name, spec.about)),
    )
}

/// Checks annotations written on one thing; returns the valid ones.
pub(super) fn check_all(
    checker: &mut Checker<'_>,
    file: FileId,
    written: &[ast::Annotation],
    target: Target,
) -> Vec<AnnotationValue> {
    let mut out: Vec<AnnotationValue> = Vec::new();
    for a in written {
        let Some(spec) = SPECS.iter().find(|s| s.name == a.name.name) else {
            checker.diagnostics.push(unknown_annotation(file, a));
            continue;
        };
        if let Some(d) = misplaced(checker, file, a, spec, target) {
            checker.diagnostics.push(d);
            continue;
        }
        if let Some(first) = out.iter().find(|x| x.name == spec.name) {
            let d = Diagnostic::new(
                Code::E0213,
                file,
                a.span,
                format!("`@{}` is given twice", spec.name),
            )
            .label("second one")
            .secondary(first.loc.file, first.loc.span, "first one");
            checker.diagnostics.push(d);
            continue;
        }
        if let Some(args) = check_args(checker, file, a, spec) {
            out.push(AnnotationValue {
                name: spec.name.to_string(),
                args,
                loc: Loc { file, span: a.span },
            });
        }
    }
    out
}

fn check_args(
    checker: &mut Checker<'_>,
    file: FileId,
    a: &ast::Annotation,
    spec: &Spec,
) -> Option<BTreeMap<String, serde_json::Value>> {
    let mut values = BTreeMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut problems = Vec::new();
    let mut positional = 0usize;
    for arg in &a.args {
        let slot = match &arg.name {
            Some(n) => spec.args.iter().find(|(name, _, _)| *name == n.name),
            None => {
                positional += 1;
                spec.args.get(positional - 1)
            }
        };
        let Some(&(name, kind, _)) = slot else {
            problems.push(not_an_argument(file, spec, arg));
            continue;
        };
        if !seen.insert(name) {
            problems.push(
                Diagnostic::new(
                    Code::E0105,
                    file,
                    arg.span,
                    format!("`{name}` is given twice"),
                )
                .label("again"),
            );
            continue;
        }
        match arg_value(kind, &arg.value.kind) {
            Some(v) if kind == ArgKind::Duration => values.insert(format!("{name}_ms"), v),
            Some(v) => values.insert(name.to_string(), v),
            None => {
                let found = checker.sources.get(file).slice(arg.value.span);
                problems.push(
                    Diagnostic::new(
                        Code::E0213,
                        file,
                        arg.value.span,
                        format!(
                            "`{name}` of `@{}` must be {}, not `{found}`",
                            spec.name,
                            kind.describe()
                        ),
                    )
                    .label(format!("expected {}", kind.describe())),
                );
                continue;
            }
        };
    }
    // The first required argument missing, once the others were right.
    let missing = spec
        .args
        .iter()
        .find(|(name, _, required)| *required && !seen.contains(name));
    if let (true, Some((name, kind, _))) = (problems.is_empty(), missing) {
        problems.push(
            Diagnostic::new(
                Code::E0213,
                file,
                a.span,
                format!("`@{}` needs `{name}`, {}", spec.name, kind.describe()),
            )
            .label("missing argument")
            .note(format!("it takes {}", expected_args(spec))),
        );
    }
    let ok = problems.is_empty();
    checker.diagnostics.extend(problems);
    ok.then_some(values)
}

/// The value of an annotation argument written as its kind wants it.
fn arg_value(kind: ArgKind, value: &ast::ExprKind) -> Option<serde_json::Value> {
    match (kind, value) {
        (ArgKind::Str, ast::ExprKind::Str { value }) => Some(value.clone().into()),
        (ArgKind::Count, ast::ExprKind::Int { value }) if *value >= 1 => Some((*value).into()),
        (ArgKind::Duration, ast::ExprKind::Duration { millis }) => Some((*millis).into()),
        _ => None,
    }
}

/// E0213: an argument the annotation does not take (an unknown name, or one too many).
fn not_an_argument(file: FileId, spec: &Spec, arg: &ast::Arg) -> Diagnostic {
    let (span, msg) = match &arg.name {
        Some(n) => (
            n.span,
            format!("`@{}` has no argument `{}`", spec.name, n.name),
        ),
        None => (
            arg.span,
            format!(
                "`@{}` takes at most {} argument(s)",
                spec.name,
                spec.args.len()
            ),
        ),
    };
    Diagnostic::new(Code::E0213, file, span, msg)
        .label("not an argument of this annotation")
        .note(format!("it takes {}", expected_args(spec)))
}

/// The arguments an annotation takes, for notes: "`command`: a string, ...".
fn expected_args(spec: &Spec) -> String {
    spec.args
        .iter()
        .map(|(n, k, _)| format!("`{n}`: {}", k.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}
