//! Decisions and values in macro bodies: `if`/`else`, `try`/`catch`, operators and the
//! value builtins (`len`, `sum`, `min`, `max`), all computed by the runtime itself.

use super::Cx;
use crate::check::types::{assignable, join, Ty};
use crate::check::{suggest, Checker};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{self, BinOp};

/// The value builtins besides `flatten`, with what they take.
pub(super) const VALUE_BUILTINS: &[&str] = &["len", "sum", "min", "max"];

impl Checker<'_> {
    /// Checks a block in a scope of its own: its value's type (`Unit` if it ends in no
    /// expression) and whether it always returns.
    pub(super) fn block(&mut self, cx: &mut Cx, b: &ast::Block) -> (Ty, bool) {
        let wanted = cx.value_wanted;
        cx.scopes.push(Vec::new());
        let returns = self.stmts(cx, &b.stmts, true);
        let ty = match b.value() {
            Some(v) if !returns => self
                .expr_types
                .get(&(cx.file, v.span))
                .cloned()
                .unwrap_or(Ty::Unknown),
            _ => Ty::Unit,
        };
        let scope = cx.scopes.pop().unwrap_or_default();
        self.report_unused(&scope);
        cx.value_wanted = wanted;
        cx.diverged = returns;
        (ty, returns)
    }

    /// The type of an `if`/`else` or `try`/`catch` from its two blocks: the one that does not
    /// return, or both joined. Blocks that disagree are an error only where the value is used.
    pub(super) fn branches(
        &mut self,
        cx: &mut Cx,
        wanted: bool,
        (a, a_returns): (Ty, bool),
        (b, b_returns): (Ty, bool),
        second: Option<Span>,
        first: Span,
    ) -> Ty {
        match (a_returns, b_returns) {
            (true, true) => return Ty::Unit,
            (true, false) => return b,
            (false, true) => return a,
            _ => {}
        }
        if second.is_none() || a == Ty::Unit || b == Ty::Unit {
            return Ty::Unit;
        }
        if let Some(j) = join(&self.model, &a, &b) {
            return j;
        }
        if wanted {
            let at = second.unwrap_or(first);
            let d = Diagnostic::new(
                Code::E0216,
                cx.file,
                at,
                format!(
                    "the branches give different types: `{}` and `{}`",
                    a.display(&self.model),
                    b.display(&self.model)
                ),
            )
            .label(format!("gives `{}`", b.display(&self.model)))
            .secondary(cx.file, first, format!("gives `{}`", a.display(&self.model)))
            .note("the value of an `if` or a `try` is the value of the block that ran; both must be of one type");
            self.diagnostics.push(d);
        }
        Ty::Unknown
    }

    /// The type of the error bound by `catch`: the standard library's `Error` record.
    pub(super) fn error_type(&self) -> Ty {
        self.std_record("Error")
    }

    /// A record of the standard library by name (unknown if it is missing).
    fn std_record(&self, name: &str) -> Ty {
        self.model
            .package_named("std")
            .and_then(|p| self.model.package(p).records.get(name).copied())
            .map(Ty::Record)
            .unwrap_or(Ty::Unknown)
    }

    /// E0230 for a share over 100%.
    pub(super) fn check_tolerance(&mut self, cx: &Cx, t: &ast::Tolerate) {
        if let ast::Tolerance::Percent(p) = t.limit {
            if p > 100 {
                let d = Diagnostic::new(
                    Code::E0230,
                    cx.file,
                    t.span,
                    format!("a `for` cannot tolerate {p}% of its elements failing"),
                )
                .label("over 100%")
                .note("a share is at most `100%`: every element may fail")
                .help("write a share from `0%` to `100%`, or a count such as `tolerate 3`");
                self.diagnostics.push(d);
            }
        }
    }

    /// The help for a tolerant `for`'s result used where a list is wanted: its `.ok`.
    pub(super) fn tolerated_help(d: Diagnostic, found: &Ty) -> Diagnostic {
        match found {
            Ty::Tolerated(_) => d.help(
                "a `for ... tolerate` gives `.ok` (the results of the elements that succeeded) and `.failed` (the report): write `.ok` for the list",
            ),
            _ => d,
        }
    }

    /// A field of what a `for ... tolerate` gives: `ok` (the successes) or `failed` (the
    /// report), else E0114.
    pub(super) fn tolerated_field(&mut self, cx: &Cx, elem: &Ty, name: &ast::Ident) -> Ty {
        match name.name.as_str() {
            "ok" => Ty::List(Box::new(elem.clone())),
            "failed" => Ty::List(Box::new(self.std_record("ElementFailure"))),
            other => {
                let d = Diagnostic::new(
                    Code::E0114,
                    cx.file,
                    name.span,
                    format!("the result of a tolerant `for` has no field `{other}`"),
                )
                .label("unknown field")
                .note("a `for ... tolerate` gives `.ok`, the results of the elements that succeeded, and `.failed`, one `ElementFailure` per element that failed")
                .did_you_mean(suggest::closest(other, ["ok", "failed"]));
                self.diagnostics.push(d);
                Ty::Unknown
            }
        }
    }

    /// E0214 unless `ty` is a `bool` (or unknown).
    pub(super) fn want_bool(&mut self, cx: &Cx, e: &ast::Expr, ty: &Ty, what: &str) {
        if matches!(ty, Ty::Bool | Ty::Unknown | Ty::Json) {
            return;
        }
        let mut d = Diagnostic::new(
            Code::E0214,
            cx.file,
            e.span,
            format!(
                "{what} must be a `bool`, but this is `{}`",
                ty.display(&self.model)
            ),
        )
        .label("not a `bool`");
        d = match ty {
            Ty::Optional(_) => d.help("to test for a value, compare with `null`: `x != null`"),
            Ty::Int | Ty::Float => d.help("compare it: `x > 0`"),
            Ty::List(_) | Ty::String => d.help("test its length: `len(x) > 0`"),
            _ => d,
        };
        self.diagnostics.push(d);
    }

    /// E0215: an operand of the wrong type.
    pub(super) fn bad_operand(&mut self, cx: &Cx, at: Span, op: &str, ty: &Ty, wanted: &str) {
        let mut d = Diagnostic::new(
            Code::E0215,
            cx.file,
            at,
            format!(
                "{op} needs {wanted}, but this is `{}`",
                ty.display(&self.model)
            ),
        )
        .label(format!("a `{}`", ty.display(&self.model)));
        if matches!(ty, Ty::Optional(_)) {
            d = d.help("it may be `null`: test it first, `if x != null { ... }`");
        }
        self.diagnostics.push(d);
    }

    /// `"text {x} text"`: a string; each value in it is a string, a number or a `bool`
    /// (E0215).
    pub(super) fn interpolation(&mut self, cx: &mut Cx, parts: &[ast::InterpPart]) -> Ty {
        for part in parts {
            if let ast::InterpPart::Value(v) = part {
                let t = self.value_expr(cx, v);
                if !writable(&t) {
                    let wanted = "a string, a number or a `bool`";
                    self.bad_operand(cx, v.span, "`{...}` in a string", &t, wanted);
                }
            }
        }
        Ty::String
    }

    /// `lhs op rhs`.
    pub(super) fn binary(
        &mut self,
        cx: &mut Cx,
        op: BinOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
    ) -> Ty {
        let a = self.value_expr(cx, lhs);
        let b = self.value_expr(cx, rhs);
        let what = format!("`{}`", op.as_str());
        let numeric = |t: &Ty| matches!(t, Ty::Int | Ty::Float);
        let loose = |t: &Ty| matches!(t, Ty::Unknown | Ty::Json);
        match op {
            BinOp::And | BinOp::Or => {
                self.want_bool(cx, lhs, &a, &format!("an operand of {what}"));
                self.want_bool(cx, rhs, &b, &format!("an operand of {what}"));
                Ty::Bool
            }
            BinOp::Eq | BinOp::Ne => {
                let fits = assignable(&self.model, &a, &b)
                    || assignable(&self.model, &b, &a)
                    || (numeric(&a) && numeric(&b));
                if !fits {
                    let d = Diagnostic::new(
                        Code::E0215,
                        cx.file,
                        lhs.span.cover(rhs.span),
                        format!(
                            "a `{}` is never equal to a `{}`",
                            a.display(&self.model),
                            b.display(&self.model)
                        ),
                    )
                    .label(format!("{what} of different types"));
                    self.diagnostics.push(d);
                }
                Ty::Bool
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ok = (numeric(&a) || loose(&a)) && (numeric(&b) || loose(&b))
                    || (matches!(a, Ty::String) || loose(&a))
                        && (matches!(b, Ty::String) || loose(&b));
                if !ok {
                    let (at, ty) = if numeric(&a) || matches!(a, Ty::String) || loose(&a) {
                        (rhs.span, &b)
                    } else {
                        (lhs.span, &a)
                    };
                    self.bad_operand(cx, at, &what, ty, "two numbers or two strings");
                }
                Ty::Bool
            }
            BinOp::Add if matches!(a, Ty::String) || matches!(b, Ty::String) => {
                let (other, at) = if matches!(a, Ty::String) {
                    (&b, rhs.span)
                } else {
                    (&a, lhs.span)
                };
                if !writable(other) {
                    self.bad_operand(
                        cx,
                        at,
                        "`+` on a string",
                        other,
                        "a string, a number or a `bool`",
                    );
                }
                Ty::String
            }
            _ => self.arithmetic(cx, &what, (lhs, &a), (rhs, &b)),
        }
    }

    /// `+ - * / %` on numbers: `int` if both are, else `float`.
    fn arithmetic(
        &mut self,
        cx: &Cx,
        what: &str,
        (lhs, a): (&ast::Expr, &Ty),
        (rhs, b): (&ast::Expr, &Ty),
    ) -> Ty {
        let mut bad = false;
        for (e, t) in [(lhs, a), (rhs, b)] {
            if !matches!(t, Ty::Int | Ty::Float | Ty::Unknown | Ty::Json) {
                self.bad_operand(cx, e.span, what, t, "numbers");
                bad = true;
            }
        }
        match (a, b) {
            _ if bad => Ty::Unknown,
            (Ty::Int, Ty::Int) => Ty::Int,
            (Ty::Float, _) | (_, Ty::Float) => Ty::Float,
            _ => Ty::Unknown,
        }
    }

    /// `len(x)`, `sum(xs)`, `min(xs)`, `max(xs)`: one positional argument.
    pub(super) fn value_builtin(
        &mut self,
        cx: &mut Cx,
        func: &ast::Ident,
        args: &[ast::Arg],
    ) -> Ty {
        let name = func.name.as_str();
        if args.len() != 1 || args[0].name.is_some() {
            let d = Diagnostic::new(
                Code::E0201,
                cx.file,
                func.span,
                format!("`{name}` takes exactly one list"),
            )
            .label("one positional argument expected");
            self.diagnostics.push(d);
            for a in args {
                self.value_expr(cx, &a.value);
            }
            return Ty::Unknown;
        }
        let arg = &args[0].value;
        let t = self.value_expr(cx, arg);
        let what = format!("`{name}`");
        match (name, &t) {
            (_, Ty::Unknown | Ty::Json) => {
                if name == "len" {
                    Ty::Int
                } else {
                    Ty::Unknown
                }
            }
            ("len", Ty::List(_) | Ty::String) => Ty::Int,
            ("len", other) => {
                self.bad_operand(cx, arg.span, &what, other, "a list or a string");
                Ty::Int
            }
            ("sum", Ty::List(e)) if matches!(**e, Ty::Int | Ty::Float | Ty::Unknown) => {
                (**e).clone()
            }
            (_, Ty::List(e))
                if name != "sum"
                    && matches!(**e, Ty::Int | Ty::Float | Ty::String | Ty::Unknown) =>
            {
                (**e).clone()
            }
            (_, other) => {
                let wanted = if name == "sum" {
                    "a list of numbers"
                } else {
                    "a list of numbers or strings"
                };
                self.bad_operand(cx, arg.span, &what, other, wanted);
                Ty::Unknown
            }
        }
    }
}

/// Whether values of a type can be written into a string (by `+` or `{...}`).
fn writable(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::String | Ty::Int | Ty::Float | Ty::Bool | Ty::Unknown | Ty::Json
    )
}

/// The first call inside an expression, if any (for places that take values only).
pub(super) fn first_call(e: &ast::Expr) -> Option<Span> {
    match &e.kind {
        ast::ExprKind::Call { .. } => Some(e.span),
        ast::ExprKind::FreeCall { func, args } => {
            if func.name == "flatten" || VALUE_BUILTINS.contains(&func.name.as_str()) {
                args.iter().find_map(|a| first_call(&a.value))
            } else {
                Some(e.span)
            }
        }
        ast::ExprKind::Field { target, .. } => first_call(target),
        ast::ExprKind::Binary { lhs, rhs, .. } => first_call(lhs).or_else(|| first_call(rhs)),
        ast::ExprKind::Unary { operand, .. } => first_call(operand),
        ast::ExprKind::List { items } => items.iter().find_map(first_call),
        ast::ExprKind::Object { members } => members.iter().find_map(|(_, v)| first_call(v)),
        ast::ExprKind::Interp { parts } => parts.iter().find_map(|p| match p {
            ast::InterpPart::Value(v) => first_call(v),
            ast::InterpPart::Text(_) => None,
        }),
        ast::ExprKind::If { .. } | ast::ExprKind::Try { .. } | ast::ExprKind::For { .. } => {
            Some(e.span)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// The codes and helps of the errors of one file.
    fn helps(src: &str) -> Vec<(String, String)> {
        let mut ws = crate::Workspace::new();
        ws.add_file("t.oaas", src);
        ws.build()
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.code.as_str().to_string(), d.help.join("\n")))
            .collect()
    }

    #[test]
    fn a_tolerant_result_where_a_list_is_wanted_points_to_ok() {
        let src = "package t\nclass A {\n  public fn f() -> int\n  public static fn total(xs: [int]) -> int\n  public macro m() -> [int] {\n    let r = for x in [1, 2] tolerate 1 { self.f() }\n    let n = A.total(xs: r)\n    let all = for y in r { y }\n    return r\n  }\n}\n";
        let found = helps(src);
        let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, vec!["E0200", "E0206", "E0203"], "{found:?}");
        assert!(
            found
                .iter()
                .all(|(_, h)| h.contains("write `.ok` for the list")),
            "{found:?}"
        );
    }
}
