//! Waiting in macro bodies: `signal("name", type: T, timeout: 1h)` waits for a value sent to
//! the invocation, `sleep(10m)` for a while. Both are nodes the runtime keeps durable: the
//! checker wants their names and durations as literals, so the graph and the runtime know
//! them before anything runs.

use super::Cx;
use crate::check::types::Ty;
use crate::check::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast;

/// The free functions that wait.
pub(crate) const WAIT_BUILTINS: &[&str] = &["signal", "sleep"];

/// The longest wait, a `sleep` or a `signal`'s timeout: 366 days.
pub const MAX_WAIT_MS: u64 = 366 * 24 * 3_600_000;

/// The longest signal name.
pub const MAX_SIGNAL_NAME: usize = 64;

/// Whether `name` may name a signal: 1 to [`MAX_SIGNAL_NAME`] letters, digits, `_`, `-`
/// or `.` (the runtime's API applies the same rule to the names it is sent).
pub fn valid_signal_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SIGNAL_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Checker<'_> {
    /// `signal(...)` or `sleep(...)`: the type of the value it gives.
    pub(super) fn wait_builtin(&mut self, cx: &mut Cx, func: &ast::Ident, args: &[ast::Arg]) -> Ty {
        if func.name == "sleep" {
            self.sleep(cx, func, args);
            Ty::Unit
        } else {
            self.signal(cx, func, args)
        }
    }

    fn sleep(&mut self, cx: &mut Cx, func: &ast::Ident, args: &[ast::Arg]) {
        match args {
            [a] if a.name.is_none() => self.wait_duration(cx, &a.value, "the length of a `sleep`"),
            _ => {
                self.bad_wait(
                    cx,
                    func.span,
                    "`sleep` takes one duration, such as `sleep(10m)`",
                    "one duration expected",
                );
                self.wait_args_only(cx, args);
            }
        }
    }

    fn signal(&mut self, cx: &mut Cx, func: &ast::Ident, args: &[ast::Arg]) -> Ty {
        let mut ty = Ty::Json;
        let (mut name, mut timeout) = (false, false);
        let mut given: Vec<&str> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if let Some(n) = &a.name {
                if given.contains(&n.name.as_str()) {
                    let d = Diagnostic::new(
                        Code::E0105,
                        cx.file,
                        n.span,
                        format!("`{}` is given twice", n.name),
                    )
                    .label("given again");
                    self.diagnostics.push(d);
                }
                given.push(&n.name);
            }
            match a.name.as_ref().map(|n| n.name.as_str()) {
                None if i == 0 => {
                    name = true;
                    self.signal_name(cx, &a.value);
                }
                Some("timeout") => {
                    timeout = true;
                    self.wait_duration(cx, &a.value, "a `signal`'s timeout");
                }
                Some("type") => ty = self.signal_type(cx, &a.value),
                _ => {
                    let at = a.name.as_ref().map(|n| n.span).unwrap_or(a.span);
                    self.bad_wait(
                        cx,
                        at,
                        "`signal` takes a name, then `type:` and `timeout:`",
                        "not an argument of `signal`",
                    );
                    self.value_expr(cx, &a.value);
                }
            }
        }
        if !name || !timeout {
            self.bad_wait(
                cx,
                func.span,
                "`signal` needs a name and a `timeout:`, such as `signal(\"approval\", timeout: 1h)`",
                "name or timeout missing",
            );
        }
        ty
    }

    /// The signal's name: a string literal that [`valid_signal_name`] accepts.
    fn signal_name(&mut self, cx: &mut Cx, e: &ast::Expr) {
        let ok = match &e.kind {
            ast::ExprKind::Str { value } => valid_signal_name(value),
            _ => false,
        };
        let message =
            "a signal's name is a string literal of 1 to 64 letters, digits, `_`, `-` or `.`";
        self.literal(cx, e, ok, message, "not a signal name");
    }

    /// A duration literal from 1 ms to [`MAX_WAIT_MS`].
    fn wait_duration(&mut self, cx: &mut Cx, e: &ast::Expr, what: &str) {
        let ok = match &e.kind {
            ast::ExprKind::Duration { millis } => (1..=MAX_WAIT_MS).contains(millis),
            _ => false,
        };
        let message = format!("{what} is a duration literal from `1ms` to `8784h` (366 days)");
        self.literal(cx, e, ok, &message, "not a duration in range");
    }

    /// Checks an argument that must be a literal: its type recorded, E0231 unless `ok`.
    fn literal(&mut self, cx: &mut Cx, e: &ast::Expr, ok: bool, message: &str, label: &str) {
        self.expr(cx, e);
        if !ok {
            self.bad_wait(cx, e.span, message, label);
        }
    }

    /// `type: T`: a record, or `int`, `float`, `bool`, `string` or `json`.
    fn signal_type(&mut self, cx: &mut Cx, e: &ast::Expr) -> Ty {
        let ast::ExprKind::Name { name } = &e.kind else {
            self.bad_wait(
                cx,
                e.span,
                "a signal's `type:` names a record or one of `int`, `float`, `bool`, `string`, `json`",
                "not a type name",
            );
            return Ty::Unknown;
        };
        let written = ast::TypeExpr {
            kind: ast::TypeExprKind::Named(name.clone()),
            span: name.span,
        };
        let ty = self.resolve_type(cx.file, &written, None);
        self.expr_types.insert((cx.file, e.span), ty.clone());
        match ty {
            Ty::Int
            | Ty::Float
            | Ty::Bool
            | Ty::String
            | Ty::Json
            | Ty::Record(_)
            | Ty::Unknown => ty,
            other => {
                self.bad_wait(
                    cx,
                    e.span,
                    &format!(
                        "a signal carries a value, not an object: `{}` is a class",
                        other.display(&self.model)
                    ),
                    "a class",
                );
                Ty::Unknown
            }
        }
    }

    fn wait_args_only(&mut self, cx: &mut Cx, args: &[ast::Arg]) {
        for a in args {
            self.expr(cx, &a.value);
        }
    }

    /// E0231.
    fn bad_wait(&mut self, cx: &Cx, at: Span, message: &str, label: &str) {
        let d = Diagnostic::new(Code::E0231, cx.file, at, message).label(label);
        self.diagnostics.push(d);
    }
}
