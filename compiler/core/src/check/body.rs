//! Macro bodies: names, calls, arguments, field access, `for`, `flatten`, access modifiers,
//! `return`, and unused bindings and parameters.

use super::model::*;
use super::suggest;
use super::types::{assignable, join, literal_problem, Ty};
use super::{Checker, ResolvedCall, Symbol};
use crate::diagnostic::{Code, Diagnostic, Fix};
use crate::span::{FileId, Span};
use crate::syntax::ast::{self, Access};
use ops::{first_call, VALUE_BUILTINS};
use waits::WAIT_BUILTINS;

mod ops;
pub mod waits;

/// A name bound in a macro body.
#[derive(Clone, Debug)]
struct Local {
    name: String,
    ty: Ty,
    loc: Loc,
    used: bool,
    kind: LocalKind,
}

/// The fix that names an unused local `_name`, which says it is unused on purpose.
fn rename_unused(local: &Local) -> Fix {
    Fix::replace(
        format!("Rename to `_{}`", local.name),
        local.loc.file,
        local.loc.span,
        format!("_{}", local.name),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalKind {
    Param(u32),
    Let,
    LoopVar,
}

/// The macro being checked.
struct Cx {
    file: FileId,
    class: ClassId,
    member: MemberId,
    package: PackageId,
    is_static: bool,
    scopes: Vec<Vec<Local>>,
    /// The declared result, `Self` resolved.
    ret: Option<Ty>,
    /// Whether some `return` was seen.
    any_return: bool,
    /// How many `for` bodies enclose the current expression.
    in_for: u32,
    /// Whether the value of the expression being checked is used.
    value_wanted: bool,
    /// Whether the expression just checked always leaves the macro by `return`.
    diverged: bool,
}

/// A parameter as arguments are matched against it (functions and `new` alike).
struct ParamSpec {
    name: String,
    ty: Ty,
    required: bool,
    loc: Option<Loc>,
}

impl Checker<'_> {
    /// Checks the body of every macro.
    pub(super) fn check_bodies(&mut self) {
        let macros: Vec<(MemberId, FileId, &ast::Member)> = self
            .member_asts
            .iter()
            .filter(|(_, (_, m))| matches!(m.kind, ast::MemberKind::Macro { .. }))
            .map(|(id, (f, m))| (*id, *f, *m))
            .collect();
        for (id, file, m) in macros {
            let ast::MemberKind::Macro { body, .. } = &m.kind else {
                continue;
            };
            self.check_macro(id, file, body);
        }
    }

    fn check_macro(&mut self, id: MemberId, file: FileId, body: &ast::MacroBody) {
        let member = self.model.member(id).clone();
        let class = member.owner;
        let sig = member.signature().cloned().unwrap_or(Signature {
            params: Vec::new(),
            ret: None,
        });
        let params = sig
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| Local {
                name: p.name.clone(),
                ty: p.ty.subst_self(class),
                loc: p.loc,
                used: false,
                kind: LocalKind::Param(i as u32),
            })
            .collect();
        let mut cx = Cx {
            file,
            class,
            member: id,
            package: self.model.class(class).package,
            is_static: member.is_static,
            scopes: vec![params],
            ret: sig.ret.as_ref().map(|t| t.subst_self(class)),
            any_return: false,
            in_for: 0,
            value_wanted: false,
            diverged: false,
        };
        let returns = self.stmts(&mut cx, &body.stmts, false);
        if !returns && sig.ret.is_some() && !self.syntax_error_in(file, body.span) {
            let at = Span::new(
                body.span.end.saturating_sub(1) as usize,
                body.span.end as usize,
            );
            let message = if cx.any_return {
                format!(
                    "macro `{}` does not return its result on every path",
                    member.name
                )
            } else {
                format!("macro `{}` never returns its result", member.name)
            };
            let d = Diagnostic::new(Code::E0008, file, at, message)
                .label("expected `return ...` before this `}`")
                .secondary(
                    member.loc.file,
                    member.loc.span,
                    "declared with a result here",
                );
            let d = if cx.any_return {
                d.note("an `if` without `else`, or one whose branches do not all return, can end without a result")
            } else {
                d
            };
            self.diagnostics.push(d);
        }
        let mut scope = cx.scopes.pop().unwrap_or_default();
        if member.is_override {
            // An override must keep the inherited parameters, names included, used or not.
            scope.retain(|l| !matches!(l.kind, LocalKind::Param(_)));
        }
        self.report_unused(&scope);
    }

    /// Whether the parser reported an error inside `span`: a line it skipped there may have
    /// been a `return`, so the body's paths are not known.
    fn syntax_error_in(&self, file: FileId, span: Span) -> bool {
        self.diagnostics.iter().any(|d| {
            d.code == Code::E0001 && d.primary.file == file && span.contains(d.primary.span)
        })
    }

    /// Checks statements in order; returns whether they always end in a `return`.
    fn stmts(&mut self, cx: &mut Cx, stmts: &[ast::Stmt], is_block: bool) -> bool {
        let file = cx.file;
        // Where the statements stopped: a `return`, or an `if`/`try` all of whose paths return.
        let mut ended: Option<(Span, bool)> = None;
        for (i, stmt) in stmts.iter().enumerate() {
            let span = stmt.span();
            // The last line of a block is its value.
            let block_value = is_block && i + 1 == stmts.len();
            if let Some((at, plain)) = ended {
                let d = if plain {
                    Diagnostic::new(Code::E0008, file, span, "nothing can come after `return`")
                        .label("after the return")
                        .secondary(file, at, "the macro returns here")
                        .note("a macro body is `let` bindings and calls, then one `return`")
                } else {
                    Diagnostic::new(Code::W0005, file, span, "this code is never reached")
                        .label("unreachable")
                        .secondary(file, at, "every path of this returns")
                        .help("remove it, or move it before the statement that returns")
                };
                self.diagnostics.push(d);
                continue;
            }
            cx.diverged = false;
            match stmt {
                ast::Stmt::Let(l) => {
                    self.let_binding(cx, l, LocalKind::Let);
                    self.after_names(cx, &l.after);
                }
                ast::Stmt::Expr { value, after, .. } => {
                    if !block_value
                        && !matches!(
                            value.kind,
                            ast::ExprKind::Call { .. }
                                | ast::ExprKind::For { .. }
                                | ast::ExprKind::FreeCall { .. }
                                | ast::ExprKind::If { .. }
                                | ast::ExprKind::Try { .. }
                        )
                    {
                        let d = Diagnostic::new(
                            Code::E0008,
                            file,
                            value.span,
                            "this statement does nothing",
                        )
                        .label("a value that is not used")
                        .help("bind it with `let`, return it, or remove it");
                        self.diagnostics.push(d);
                    }
                    let wanted = std::mem::replace(&mut cx.value_wanted, false);
                    self.expr(cx, value);
                    cx.value_wanted = wanted;
                    self.after_names(cx, after);
                }
                ast::Stmt::Return { value, span } => {
                    cx.any_return = true;
                    self.return_stmt(cx, value);
                    cx.diverged = true;
                    ended = Some((*span, true));
                    continue;
                }
            }
            if cx.diverged {
                ended = Some((span, false));
            }
        }
        cx.diverged = ended.is_some();
        ended.is_some()
    }

    /// `after a, b`: each name must be a `let` binding (its calls are the ones waited for).
    fn after_names(&mut self, cx: &mut Cx, names: &[ast::Ident]) {
        for n in names {
            let kind = cx
                .scopes
                .iter()
                .flatten()
                .rev()
                .find(|l| l.name == n.name)
                .map(|l| l.kind);
            match kind {
                Some(LocalKind::Let) => {
                    self.name(cx, n);
                }
                Some(_) => {
                    self.name(cx, n);
                    let d = Diagnostic::new(
                        Code::E0218,
                        cx.file,
                        n.span,
                        format!("`after {}` names a parameter or loop variable, not a call", n.name),
                    )
                    .label("nothing to wait for")
                    .note("`after` waits for the calls that gave a `let` binding; parameters and loop variables are there from the start")
                    .help("name a `let` bound to a call");
                    self.diagnostics.push(d);
                }
                None => {
                    self.name(cx, n);
                }
            }
        }
    }

    /// A `return`: its place (not in a `for` body) and its type against the declared result.
    fn return_stmt(&mut self, cx: &mut Cx, value: &ast::Expr) {
        let member = self.model.member(cx.member).clone();
        let file = cx.file;
        if cx.in_for > 0 {
            let d = Diagnostic::new(
                Code::E0217,
                file,
                value.span,
                "`return` cannot be inside a `for` body",
            )
            .label("returns from one element")
            .note("the elements of a `for` run at once; none of them can end the whole macro")
            .help("give a value per element, and decide after the `for`");
            self.diagnostics.push(d);
        }
        let wanted = std::mem::replace(&mut cx.value_wanted, true);
        let ty = self.value_expr(cx, value);
        cx.value_wanted = wanted;
        match cx.ret.clone() {
            Some(expected) if !assignable(&self.model, &ty, &expected) => {
                let d = Diagnostic::new(
                    Code::E0203,
                    file,
                    value.span,
                    format!(
                        "`{}` returns `{}`, but this is `{}`",
                        member.name,
                        expected.display(&self.model),
                        ty.display(&self.model)
                    ),
                );
                let d = Self::tolerated_help(d, &ty)
                    .label(format!("a `{}`", ty.display(&self.model)))
                    .secondary(
                        member.loc.file,
                        member.loc.span,
                        "the result type is declared with the macro",
                    );
                self.diagnostics.push(d);
            }
            Some(expected) => {
                if let Some((span, problem)) = self.literal_in(cx, value, &expected) {
                    let d = Diagnostic::new(
                        Code::E0203,
                        file,
                        span,
                        format!(
                            "`{}` returns `{}`: {problem}",
                            member.name,
                            expected.display(&self.model)
                        ),
                    )
                    .label("does not fit the result type")
                    .secondary(
                        member.loc.file,
                        member.loc.span,
                        "the result type is declared with the macro",
                    );
                    self.diagnostics.push(d);
                }
            }
            None => {
                let d = Diagnostic::new(
                    Code::E0203,
                    file,
                    value.span,
                    format!("`{}` declares no result, but returns a value", member.name),
                )
                .label("returned here")
                .help("declare the result: `-> Type` after the parameters");
                self.diagnostics.push(d);
            }
        }
    }

    fn report_unused(&mut self, scope: &[Local]) {
        for local in scope.iter().filter(|l| !l.used && !l.name.starts_with('_')) {
            let d = match local.kind {
                LocalKind::Let => Diagnostic::new(
                    Code::W0001,
                    local.loc.file,
                    local.loc.span,
                    format!("`{}` is never used", local.name),
                )
                .label("bound here, used nowhere")
                .note("the call still runs")
                .help(format!(
                    "if the call is only for its effect, drop `let {} =`, or name it `_{}`",
                    local.name, local.name
                ))
                .fix(rename_unused(local).preferred()),
                LocalKind::Param(_) => Diagnostic::new(
                    Code::W0002,
                    local.loc.file,
                    local.loc.span,
                    format!("parameter `{}` is never used", local.name),
                )
                .label("unused parameter")
                .help(format!("remove it, or name it `_{}`", local.name))
                .fix(rename_unused(local)),
                LocalKind::LoopVar => continue,
            };
            self.diagnostics.push(d);
        }
    }

    fn let_binding(&mut self, cx: &mut Cx, l: &ast::Let, kind: LocalKind) {
        let ty = self.value_expr(cx, &l.value);
        self.expr_types.insert((cx.file, l.name.span), ty.clone());
        self.bind(cx, &l.name, ty, kind);
    }

    fn bind(&mut self, cx: &mut Cx, name: &ast::Ident, ty: Ty, kind: LocalKind) {
        if let Some(prev) = cx.scopes.iter().flatten().find(|x| x.name == name.name) {
            let what = match prev.kind {
                LocalKind::Param(_) => "a parameter",
                LocalKind::Let => "a `let` binding",
                LocalKind::LoopVar => "a loop variable",
            };
            let d = Diagnostic::new(
                Code::E0104,
                cx.file,
                name.span,
                format!("`{}` is already {what}", name.name),
            )
            .label("bound again here")
            .secondary(prev.loc.file, prev.loc.span, "first bound here")
            .note("names in a macro are bound once: each stands for one value of the dataflow")
            .help("choose another name");
            self.diagnostics.push(d);
        }
        let loc = Loc {
            file: cx.file,
            span: name.span,
        };
        self.reference(cx.file, name.span, Symbol::Local(loc));
        if let Some(scope) = cx.scopes.last_mut() {
            scope.push(Local {
                name: name.name.clone(),
                ty,
                loc,
                used: false,
                kind,
            });
        }
    }

    /// Checks an expression whose value is used: a call without a result is an error here.
    fn value_expr(&mut self, cx: &mut Cx, e: &ast::Expr) -> Ty {
        let wanted = std::mem::replace(&mut cx.value_wanted, true);
        let ty = self.expr(cx, e);
        cx.value_wanted = wanted;
        match ty {
            Ty::Unit if matches!(e.kind, ast::ExprKind::If { .. } | ast::ExprKind::Try { .. }) => {
                let d = Diagnostic::new(
                    Code::E0216,
                    cx.file,
                    e.span,
                    "this gives no value to use",
                )
                .label("no value")
                .note("an `if` without `else`, or blocks that end in a call without a result, give nothing")
                .help("end each block with the value it gives, and give the `if` an `else`");
                self.diagnostics.push(d);
                Ty::Unknown
            }
            Ty::Unit => {
                let d = Diagnostic::new(
                    Code::E0212,
                    cx.file,
                    e.span,
                    "this call gives no result to use",
                )
                .label("no value")
                .note("a function declared without `-> Type` returns nothing");
                self.diagnostics.push(d);
                Ty::Unknown
            }
            Ty::List(ref inner) if holds_unit(inner) => {
                let d = Diagnostic::new(
                    Code::E0212,
                    cx.file,
                    e.span,
                    "this `for` gives no values: its body is a call without a result",
                )
                .label("a list of no values")
                .note("a function declared without `-> Type` returns nothing")
                .help("to run the calls for their effect only, write the `for` as a statement, without `let`");
                self.diagnostics.push(d);
                Ty::Unknown
            }
            Ty::ClassRef(c) => {
                let name = self.model.class(c).name.clone();
                let d = Diagnostic::new(
                    Code::E0212,
                    cx.file,
                    e.span,
                    format!("the class `{name}` is not a value"),
                )
                .label("a class name")
                .help(format!(
                    "call one of its static functions, such as `{name}.new(...)`"
                ));
                self.diagnostics.push(d);
                Ty::Unknown
            }
            other => other,
        }
    }

    fn expr(&mut self, cx: &mut Cx, e: &ast::Expr) -> Ty {
        let ty = self.expr_inner(cx, e);
        if !matches!(e.kind, ast::ExprKind::If { .. } | ast::ExprKind::Try { .. }) {
            cx.diverged = false;
        }
        self.expr_types.insert((cx.file, e.span), ty.clone());
        ty
    }

    fn expr_inner(&mut self, cx: &mut Cx, e: &ast::Expr) -> Ty {
        match &e.kind {
            ast::ExprKind::Int { .. } => Ty::Int,
            ast::ExprKind::Float { .. } => Ty::Float,
            ast::ExprKind::Str { .. } => Ty::String,
            ast::ExprKind::Interp { parts } => self.interpolation(cx, parts),
            ast::ExprKind::Bool { .. } => Ty::Bool,
            ast::ExprKind::Null => Ty::Optional(Box::new(Ty::Unknown)),
            ast::ExprKind::Duration { .. } => Ty::Duration,
            ast::ExprKind::Object { members } => {
                for (_, v) in members {
                    self.value_expr(cx, v);
                }
                Ty::Json
            }
            ast::ExprKind::List { items } => self.list_literal(cx, items),
            ast::ExprKind::SelfRef => self.self_ref(cx, e),
            ast::ExprKind::Name { name } => self.name(cx, name),
            ast::ExprKind::Field { target, name } => {
                let t = self.value_expr(cx, target);
                self.field(cx, &t, name)
            }
            ast::ExprKind::Call {
                target,
                method,
                args,
            } => self.call(cx, e, target, method, args),
            ast::ExprKind::FreeCall { func, args } => self.free_call(cx, e, func, args),
            ast::ExprKind::Binary { op, lhs, rhs } => self.binary(cx, *op, lhs, rhs),
            ast::ExprKind::Unary { op, operand } => self.unary(cx, *op, operand),
            ast::ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_expr(cx, cond, then, otherwise.as_ref()),
            ast::ExprKind::Try { body, var, catch } => self.try_expr(cx, body, var, catch),
            ast::ExprKind::For {
                var,
                iter,
                filter,
                tolerate,
                lets,
                value,
            } => {
                let elem = self.for_element(cx, iter);
                cx.scopes.push(Vec::new());
                self.bind(cx, var, elem, LocalKind::LoopVar);
                cx.in_for += 1;
                if let Some(f) = filter {
                    self.for_filter(cx, f);
                }
                for l in lets {
                    self.let_binding(cx, l, LocalKind::Let);
                }
                let v = self.expr(cx, value);
                cx.in_for -= 1;
                let scope = cx.scopes.pop().unwrap_or_default();
                self.report_unused(&scope);
                match tolerate {
                    Some(t) => {
                        self.check_tolerance(cx, t);
                        Ty::Tolerated(Box::new(v))
                    }
                    None => Ty::List(Box::new(v)),
                }
            }
        }
    }

    /// A list literal: its elements' joined type; E0211 at an element that does not join.
    fn list_literal(&mut self, cx: &mut Cx, items: &[ast::Expr]) -> Ty {
        let mut elem: Option<Ty> = None;
        for item in items {
            let t = self.value_expr(cx, item);
            let Some(prev) = elem else {
                elem = Some(t);
                continue;
            };
            elem = match join(&self.model, &prev, &t) {
                Some(j) => Some(j),
                None => {
                    let d = Diagnostic::new(
                        Code::E0211,
                        cx.file,
                        item.span,
                        format!(
                            "this list holds `{}` values, but this is `{}`",
                            prev.display(&self.model),
                            t.display(&self.model)
                        ),
                    )
                    .label("a different type");
                    self.diagnostics.push(d);
                    Some(prev)
                }
            };
        }
        Ty::List(Box::new(elem.unwrap_or(Ty::Unknown)))
    }

    /// `self`: the class's object; E0112 in a static macro.
    fn self_ref(&mut self, cx: &Cx, e: &ast::Expr) -> Ty {
        if !cx.is_static {
            return Ty::Class(cx.class);
        }
        let d = Diagnostic::new(Code::E0112, cx.file, e.span, "a static macro has no `self`")
            .label("no object here")
            .help("remove `static` to make it a macro of each object");
        self.diagnostics.push(d);
        Ty::Unknown
    }

    /// `not x` (a `bool`) and `-x` (a number).
    fn unary(&mut self, cx: &mut Cx, op: ast::UnOp, operand: &ast::Expr) -> Ty {
        let t = self.value_expr(cx, operand);
        match op {
            ast::UnOp::Not => {
                self.want_bool(cx, operand, &t, "`not`");
                Ty::Bool
            }
            ast::UnOp::Neg => match t {
                Ty::Int | Ty::Float | Ty::Unknown => t,
                Ty::Json => Ty::Unknown,
                other => {
                    self.bad_operand(cx, operand.span, "`-`", &other, "a number");
                    Ty::Unknown
                }
            },
        }
    }

    /// `if cond { ... } else { ... }`: a `bool` condition and the branches' joined type.
    fn if_expr(
        &mut self,
        cx: &mut Cx,
        cond: &ast::Expr,
        then: &ast::Block,
        otherwise: Option<&ast::Block>,
    ) -> Ty {
        let wanted = cx.value_wanted;
        let t = self.value_expr(cx, cond);
        self.want_bool(cx, cond, &t, "an `if` condition");
        let (a, da) = self.block(cx, then);
        let (b, db) = match otherwise {
            Some(o) => self.block(cx, o),
            None => (Ty::Unit, false),
        };
        cx.diverged = da && db;
        self.branches(
            cx,
            wanted,
            (a, da),
            (b, db),
            otherwise.map(|o| o.span),
            then.span,
        )
    }

    /// `try { ... } catch var { ... }`: the error bound in the catch block, the branches'
    /// joined type.
    fn try_expr(
        &mut self,
        cx: &mut Cx,
        body: &ast::Block,
        var: &ast::Ident,
        catch: &ast::Block,
    ) -> Ty {
        let wanted = cx.value_wanted;
        let (a, da) = self.block(cx, body);
        cx.scopes.push(Vec::new());
        let error_ty = self.error_type();
        self.bind(cx, var, error_ty, LocalKind::LoopVar);
        let (b, db) = self.block(cx, catch);
        let scope = cx.scopes.pop().unwrap_or_default();
        self.report_unused(&scope);
        cx.diverged = da && db;
        self.branches(cx, wanted, (a, da), (b, db), Some(catch.span), body.span)
    }

    /// The element type of the list a `for` goes over; E0206 when it is not a list.
    fn for_element(&mut self, cx: &mut Cx, iter: &ast::Expr) -> Ty {
        match self.value_expr(cx, iter) {
            Ty::List(inner) => *inner,
            Ty::Unknown | Ty::Json => Ty::Unknown,
            other => {
                let d = Diagnostic::new(
                    Code::E0206,
                    cx.file,
                    iter.span,
                    format!(
                        "`for` goes over a list, but this is `{}`",
                        other.display(&self.model)
                    ),
                )
                .label("not a list");
                let d = Self::tolerated_help(d, &other);
                self.diagnostics.push(d);
                Ty::Unknown
            }
        }
    }

    /// A `for` filter: a `bool` that calls no function (E0217).
    fn for_filter(&mut self, cx: &mut Cx, f: &ast::Expr) {
        let t = self.value_expr(cx, f);
        self.want_bool(cx, f, &t, "a `for` filter");
        if let Some(call) = first_call(f) {
            let d = Diagnostic::new(
                Code::E0217,
                cx.file,
                call,
                "a `for` filter cannot call a function",
            )
            .label("a call")
            .note("the filter decides which elements run; it is computed from values the macro already has")
            .help("call it in the body, and filter on its result in a second `for`");
            self.diagnostics.push(d);
        }
    }

    fn name(&mut self, cx: &mut Cx, name: &ast::Ident) -> Ty {
        if let Some(local) = cx
            .scopes
            .iter_mut()
            .rev()
            .flat_map(|s| s.iter_mut().rev())
            .find(|l| l.name == name.name)
        {
            local.used = true;
            let (ty, loc, kind) = (local.ty.clone(), local.loc, local.kind);
            let symbol = match kind {
                LocalKind::Param(i) => Symbol::Param(cx.member, i),
                _ => Symbol::Local(loc),
            };
            self.reference(cx.file, name.span, symbol);
            return ty;
        }
        match self.lookup_type_name(cx.file, &name.name) {
            Some(Symbol::Class(c)) => {
                self.reference(cx.file, name.span, Symbol::Class(c));
                Ty::ClassRef(c)
            }
            Some(Symbol::Record(r)) => {
                self.reference(cx.file, name.span, Symbol::Record(r));
                let d = Diagnostic::new(
                    Code::E0212,
                    cx.file,
                    name.span,
                    format!("the record type `{}` is not a value", name.name),
                )
                .label("a type name");
                self.diagnostics.push(d);
                Ty::Unknown
            }
            _ if self.is_failed_import(cx.file, &name.name) => Ty::Unknown,
            _ => {
                let locals: Vec<String> =
                    cx.scopes.iter().flatten().map(|l| l.name.clone()).collect();
                let mut d = Diagnostic::new(
                    Code::E0112,
                    cx.file,
                    name.span,
                    format!("there is nothing named `{}` here", name.name),
                )
                .label("unknown name");
                if let Some(s) = suggest::closest(&name.name, locals.iter().map(String::as_str)) {
                    d = d.did_you_mean(Some(s));
                } else {
                    d = d.note(
                        "a macro can use `self`, its parameters, earlier `let` names and classes",
                    );
                }
                self.diagnostics.push(d);
                Ty::Unknown
            }
        }
    }

    fn field(&mut self, cx: &mut Cx, target: &Ty, name: &ast::Ident) -> Ty {
        match target {
            Ty::Unknown | Ty::Json => Ty::Unknown,
            Ty::Optional(inner) => self.field(cx, inner, name).optional(),
            Ty::Tolerated(elem) => self.tolerated_field(cx, elem, name),
            Ty::Record(r) => self.record_field(cx, *r, name),
            Ty::Class(c) => self.class_field(cx, *c, name),
            other => {
                let d = Diagnostic::new(
                    Code::E0205,
                    cx.file,
                    name.span,
                    format!(
                        "a `{}` has no fields; `.{}` needs an object or a record",
                        other.display(&self.model),
                        name.name
                    ),
                )
                .label("no fields here");
                self.diagnostics.push(d);
                Ty::Unknown
            }
        }
    }

    /// A field of a record; E0114 when it has none of that name.
    fn record_field(&mut self, cx: &Cx, r: RecordId, name: &ast::Ident) -> Ty {
        let record = self.model.record(r);
        if let Some(i) = record.fields.iter().position(|f| f.name == name.name) {
            let ty = record.fields[i].ty.clone();
            self.reference(cx.file, name.span, Symbol::RecordField(r, i as u32));
            return ty;
        }
        let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        let d = Diagnostic::new(
            Code::E0114,
            cx.file,
            name.span,
            format!("record `{}` has no field `{}`", record.name, name.name),
        )
        .label("unknown field")
        .secondary(
            record.loc.file,
            record.loc.span,
            format!("`{}` declared here", record.name),
        )
        .did_you_mean(suggest::closest(&name.name, names));
        self.diagnostics.push(d);
        Ty::Unknown
    }

    /// A state field or ref of an object, its access checked; E0114 when the class has no
    /// member of that name, E0205 for a file or a function.
    fn class_field(&mut self, cx: &Cx, c: ClassId, name: &ast::Ident) -> Ty {
        let Some(mid) = self.model.lookup(c, &name.name) else {
            self.unknown_member(cx, c, name, false);
            return Ty::Unknown;
        };
        self.reference(cx.file, name.span, Symbol::Member(mid));
        self.check_access(cx, mid, name.span);
        let m = self.model.member(mid);
        let d = match &m.kind {
            MemberKind::State { ty, .. } => return ty.subst_self(c),
            MemberKind::Ref { ty } => return ty.subst_self(c),
            MemberKind::File { .. } => Diagnostic::new(
                Code::E0205,
                cx.file,
                name.span,
                format!(
                    "`{}` is a file; a macro passes objects, not file contents",
                    name.name
                ),
            )
            .label("a file")
            .help(format!(
                "pass the object itself, or call `file(name: \"{}\")` for a signed URL",
                name.name
            )),
            MemberKind::Fn(_) | MemberKind::Macro(_) => Diagnostic::new(
                Code::E0205,
                cx.file,
                name.span,
                format!("`{}` is a {}, not a field", name.name, m.describe()),
            )
            .label("not a field")
            .help(format!("call it: `{}(...)`", name.name)),
        };
        self.diagnostics.push(d);
        Ty::Unknown
    }

    fn check_access(&mut self, cx: &Cx, mid: MemberId, span: Span) {
        let m = self.model.member(mid);
        let owner = self.model.class(m.owner);
        let data = !m.is_callable();
        let (code, msg, note) = match m.access {
            Access::Public => return,
            Access::Internal if owner.package == cx.package => return,
            Access::Private if self.model.is_subclass(cx.class, m.owner) => return,
            Access::Internal => (
                Code::E0301,
                format!(
                    "`{}` is internal to package `{}`",
                    m.name,
                    self.model.package(owner.package).name
                ),
                "`internal` members are for macros and functions of their own package",
            ),
            Access::Private => (
                if data { Code::E0302 } else { Code::E0300 },
                format!("`{}` is private to class `{}`", m.name, owner.name),
                "`private` members are for macros of their own class and its subclasses",
            ),
        };
        let d = Diagnostic::new(code, cx.file, span, msg)
            .label(format!(
                "not accessible from `{}`",
                self.model.class(cx.class).name
            ))
            .secondary(
                m.loc.file,
                m.loc.span,
                format!("declared `{}` here", m.access.as_str()),
            )
            .note(note);
        self.diagnostics.push(d);
    }

    /// The class a call's target is an object of (`false`) or names (`true`); `None`, with
    /// the error reported, when the target is no object (E0212 for nothing, E0204 for
    /// another type), or unknown already.
    fn receiver(
        &mut self,
        cx: &Cx,
        target: &ast::Expr,
        target_ty: &Ty,
        method: &ast::Ident,
    ) -> Option<(ClassId, bool)> {
        let d = match target_ty {
            Ty::ClassRef(c) => return Some((*c, true)),
            Ty::Class(c) => return Some((*c, false)),
            Ty::Unknown => return None,
            Ty::Unit => Diagnostic::new(
                Code::E0212,
                cx.file,
                target.span,
                "this call gives no result to use",
            )
            .label("no value")
            .note("a function declared without `-> Type` returns nothing"),
            other => {
                let d = Diagnostic::new(
                    Code::E0204,
                    cx.file,
                    method.span,
                    format!(
                        "`{}` is called on a `{}`, which is not an object",
                        method.name,
                        other.display(&self.model)
                    ),
                )
                .label("not an object")
                .secondary(
                    cx.file,
                    target.span,
                    format!("this is a `{}`", other.display(&self.model)),
                );
                match other {
                    Ty::List(inner) if inner.is_object() => d.help(format!(
                        "to call it on each element, write `for x in ... {{ x.{}(...) }}`",
                        method.name
                    )),
                    _ => d,
                }
            }
        };
        self.diagnostics.push(d);
        None
    }

    /// E0113 (`callable`) or E0114: the class has no function, or no field, named `name`;
    /// with the closest name it has of that kind.
    fn unknown_member(&mut self, cx: &Cx, class: ClassId, name: &ast::Ident, callable: bool) {
        let (code, kind) = match callable {
            true => (Code::E0113, "function"),
            false => (Code::E0114, "field"),
        };
        let c = self.model.class(class);
        let names: Vec<&str> = c
            .members
            .iter()
            .filter(|(_, m)| self.model.member(**m).is_callable() == callable)
            .map(|(n, _)| n.as_str())
            .collect();
        let d = Diagnostic::new(
            code,
            cx.file,
            name.span,
            format!("class `{}` has no {kind} `{}`", c.name, name.name),
        )
        .label(format!("unknown {kind}"))
        .secondary(
            c.loc.file,
            c.loc.span,
            format!("`{}` declared here", c.name),
        )
        .did_you_mean(suggest::closest(&name.name, names));
        self.diagnostics.push(d);
    }

    /// E0210: an object function called on its class, or a static one on an object.
    fn static_mismatch(
        &mut self,
        cx: &Cx,
        method: &ast::Ident,
        class_name: &str,
        m_loc: Loc,
        m_static: bool,
    ) {
        let d = if m_static {
            Diagnostic::new(
                Code::E0210,
                cx.file,
                method.span,
                format!(
                    "`{}` is static: call it on the class, `{class_name}.{}(...)`",
                    method.name, method.name
                ),
            )
            .label("static function called on an object")
            .secondary(m_loc.file, m_loc.span, "declared `static` here")
        } else {
            Diagnostic::new(Code::E0210, cx.file, method.span, format!("`{}` is called on each object, not on the class `{class_name}`", method.name))
                .label("needs an object")
                .secondary(m_loc.file, m_loc.span, "declared without `static`")
                .help(format!("call it on a `{class_name}` object, for example one made by `{class_name}.new(...)`"))
        };
        self.diagnostics.push(d);
    }

    /// The parameters of a call of `mid` on `class`: the state fields and refs for `new`,
    /// else the signature's, with `Self` as the class.
    fn call_params(&self, class: ClassId, mid: MemberId, is_new: bool) -> Vec<ParamSpec> {
        if is_new {
            return self.constructor_params(class);
        }
        let Some(sig) = self.model.member(mid).signature() else {
            return Vec::new();
        };
        sig.params
            .iter()
            .map(|p| ParamSpec {
                name: p.name.clone(),
                ty: p.ty.subst_self(class),
                required: p.default.is_none(),
                loc: Some(p.loc),
            })
            .collect()
    }

    /// `new` sets state and refs by name: a field the caller may not read, it may not set
    /// either.
    fn check_new_fields(&mut self, cx: &Cx, class: ClassId, args: &[ast::Arg]) {
        for name in args.iter().filter_map(|a| a.name.as_ref()) {
            if let Some(field) = self.model.lookup(class, &name.name) {
                if !self.model.member(field).is_callable() {
                    self.check_access(cx, field, name.span);
                }
            }
        }
    }

    fn call(
        &mut self,
        cx: &mut Cx,
        e: &ast::Expr,
        target: &ast::Expr,
        method: &ast::Ident,
        args: &[ast::Arg],
    ) -> Ty {
        let target_ty = self.expr(cx, target);
        let Some((class, on_class)) = self.receiver(cx, target, &target_ty, method) else {
            self.args_only(cx, args);
            return Ty::Unknown;
        };
        let class_name = self.model.class(class).name.clone();
        let Some(mid) = self.model.lookup(class, &method.name) else {
            self.unknown_member(cx, class, method, true);
            self.args_only(cx, args);
            return Ty::Unknown;
        };
        self.reference(cx.file, method.span, Symbol::Member(mid));
        // Only what is needed is copied out of the member: calls are the hot path.
        let m = self.model.member(mid);
        let (m_loc, m_static, m_describe) = (m.loc, m.is_static, m.describe());
        let is_macro = matches!(m.kind, MemberKind::Macro(_));
        let Some(sig) = m.signature() else {
            let d = Diagnostic::new(
                Code::E0113,
                cx.file,
                method.span,
                format!(
                    "`{}` is a {m_describe} of `{class_name}`, not a function",
                    method.name,
                ),
            )
            .label("cannot be called")
            .secondary(m_loc.file, m_loc.span, "declared here")
            .help(format!("read it without parentheses: `.{}`", method.name));
            self.diagnostics.push(d);
            self.args_only(cx, args);
            return Ty::Unknown;
        };
        let ret = sig
            .ret
            .as_ref()
            .map(|t| t.subst_self(class))
            .unwrap_or(Ty::Unit);
        let is_new = self.is_builtin(mid, "new");
        let params = self.call_params(class, mid, is_new);
        self.check_access(cx, mid, method.span);
        if on_class != m_static {
            self.static_mismatch(cx, method, &class_name, m_loc, m_static);
        }
        let what = format!("`{class_name}.{}`", method.name);
        let bindings = self.match_args(cx, method.span, args, &params, &what, is_new);
        if is_new {
            self.check_new_fields(cx, class, args);
        }
        if is_macro {
            self.macro_calls.push((
                cx.member,
                mid,
                Loc {
                    file: cx.file,
                    span: e.span,
                },
            ));
        }
        self.calls.insert(
            (cx.file, e.span),
            ResolvedCall {
                class,
                member: mid,
                on_class,
                bindings,
                result: ret.clone(),
                is_new,
            },
        );
        ret
    }

    /// A problem inside a `{...}` or `[...]` literal given where `expected` is wanted (a record
    /// literal with a missing, unknown or mistyped field), found from the types of its parts.
    fn literal_in(&self, cx: &Cx, e: &ast::Expr, expected: &Ty) -> Option<(Span, String)> {
        // Plain lists were checked element by element already (E0211); records are what the
        // types alone do not show.
        if !has_object_literal(e) {
            return None;
        }
        let leaf = |x: &ast::Expr| {
            self.expr_types
                .get(&(cx.file, x.span))
                .cloned()
                .unwrap_or(Ty::Unknown)
        };
        literal_problem(&self.model, e, expected, &leaf)
    }

    /// Whether a member is the standard library builtin of that name.
    fn is_builtin(&self, mid: MemberId, name: &str) -> bool {
        let m = self.model.member(mid);
        Some(m.owner) == self.model.object
            && m.annotations.iter().any(|a| {
                a.name == "builtin" && a.args.get("name").and_then(|v| v.as_str()) == Some(name)
            })
    }

    /// `new` takes the class's state fields and refs by name.
    fn constructor_params(&self, class: ClassId) -> Vec<ParamSpec> {
        let c = self.model.class(class);
        c.member_order
            .iter()
            .map(|id| self.model.member(*id))
            .filter_map(|m| match &m.kind {
                MemberKind::State { ty, default } => Some(ParamSpec {
                    name: m.name.clone(),
                    ty: ty.subst_self(class),
                    required: default.is_none() && !matches!(ty, Ty::Optional(_)),
                    loc: Some(m.loc),
                }),
                MemberKind::Ref { ty } => Some(ParamSpec {
                    name: m.name.clone(),
                    ty: ty.subst_self(class),
                    required: false,
                    loc: Some(m.loc),
                }),
                _ => None,
            })
            .collect()
    }

    /// Type-checks arguments whose callee is unknown, so their own mistakes still show.
    fn args_only(&mut self, cx: &mut Cx, args: &[ast::Arg]) {
        for a in args {
            self.value_expr(cx, &a.value);
        }
    }

    /// Matches arguments to parameters: names, positions, count, duplicates, types, missing ones.
    /// Returns, per parameter, the index of the argument bound to it (None: the default).
    fn match_args(
        &mut self,
        cx: &mut Cx,
        callee_span: Span,
        args: &[ast::Arg],
        params: &[ParamSpec],
        what: &str,
        named_only: bool,
    ) -> Vec<(String, Option<usize>)> {
        let mut bound: Vec<Option<usize>> = vec![None; params.len()];
        let mut seen_named: Option<Span> = None;
        let mut positional = 0usize;
        // An argument that could not be bound was reported; the parameter it was probably
        // meant for is then not reported missing too.
        let mut unbound = false;
        for (i, arg) in args.iter().enumerate() {
            let ty = self.value_expr(cx, &arg.value);
            let slot = match &arg.name {
                Some(n) => {
                    seen_named = Some(n.span);
                    self.named_slot(cx, n, params, what)
                }
                None if named_only => {
                    let d = Diagnostic::new(
                        Code::E0117,
                        cx.file,
                        arg.span,
                        format!("{what} takes named arguments only: the class's state fields"),
                    )
                    .label("give a field name: `field: value`");
                    self.diagnostics.push(d);
                    None
                }
                None => self.positional_slot(cx, arg, seen_named, &mut positional, params, what),
            };
            let Some(p) = slot else {
                unbound = true;
                continue;
            };
            if bound[p].is_some() {
                let d = Diagnostic::new(
                    Code::E0105,
                    cx.file,
                    arg.span,
                    format!("`{}` is given twice", params[p].name),
                )
                .label("given again");
                self.diagnostics.push(d);
                continue;
            }
            bound[p] = Some(i);
            self.check_arg_type(cx, arg, &ty, &params[p]);
        }
        if !unbound {
            self.report_missing(cx, callee_span, params, &bound, what);
        }
        params
            .iter()
            .zip(bound)
            .map(|(p, b)| (p.name.clone(), b))
            .collect()
    }

    /// The parameter a named argument binds to; E0117 (with the closest name, or the names
    /// there are) when there is none.
    fn named_slot(
        &mut self,
        cx: &Cx,
        n: &ast::Ident,
        params: &[ParamSpec],
        what: &str,
    ) -> Option<usize> {
        if let Some(p) = params.iter().position(|p| p.name == n.name) {
            return Some(p);
        }
        let mut d = Diagnostic::new(
            Code::E0117,
            cx.file,
            n.span,
            format!("{what} has no parameter `{}`", n.name),
        )
        .label("unknown argument name");
        if let Some(s) = suggest::closest(&n.name, params.iter().map(|p| p.name.as_str())) {
            d = d.did_you_mean(Some(s));
        } else if !params.is_empty() {
            d = d.note(format!(
                "its parameters are {}",
                params
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.diagnostics.push(d);
        None
    }

    /// The parameter a positional argument binds to (the next one); E0208 after a named
    /// argument, E0201 past the last parameter.
    fn positional_slot(
        &mut self,
        cx: &Cx,
        arg: &ast::Arg,
        seen_named: Option<Span>,
        positional: &mut usize,
        params: &[ParamSpec],
        what: &str,
    ) -> Option<usize> {
        if let Some(named) = seen_named {
            let d = Diagnostic::new(
                Code::E0208,
                cx.file,
                arg.span,
                "a positional argument cannot follow a named one",
            )
            .label("positional")
            .secondary(cx.file, named, "named argument before it")
            .help("name this argument too, or move it before the named ones");
            self.diagnostics.push(d);
            return None;
        }
        *positional += 1;
        if *positional <= params.len() {
            return Some(*positional - 1);
        }
        let d = Diagnostic::new(
            Code::E0201,
            cx.file,
            arg.span,
            format!(
                "{what} takes {} argument(s), but more are given",
                params.len()
            ),
        )
        .label("one too many");
        self.diagnostics.push(d);
        None
    }

    /// E0200 when the argument (of type `ty`) does not fit its parameter, or a literal in it
    /// does not.
    fn check_arg_type(&mut self, cx: &mut Cx, arg: &ast::Arg, ty: &Ty, param: &ParamSpec) {
        let expects = param.ty.display(&self.model);
        let d = if !assignable(&self.model, ty, &param.ty) {
            let d = Diagnostic::new(
                Code::E0200,
                cx.file,
                arg.value.span,
                format!(
                    "mismatched types: `{}` expects `{expects}`, but this is `{}`",
                    param.name,
                    ty.display(&self.model)
                ),
            )
            .label(format!("expected `{expects}`"));
            Self::tolerated_help(d, ty)
        } else if let Some((span, problem)) = self.literal_in(cx, &arg.value, &param.ty) {
            Diagnostic::new(
                Code::E0200,
                cx.file,
                span,
                format!(
                    "mismatched types: `{}` expects `{expects}`: {problem}",
                    param.name
                ),
            )
            .label("does not fit")
        } else {
            return;
        };
        let d = match param.loc {
            Some(loc) => d.secondary(loc.file, loc.span, "parameter declared here"),
            None => d,
        };
        self.diagnostics.push(d);
    }

    /// E0202 naming the required parameters no argument was bound to.
    fn report_missing(
        &mut self,
        cx: &Cx,
        callee_span: Span,
        params: &[ParamSpec],
        bound: &[Option<usize>],
        what: &str,
    ) {
        let missing: Vec<&ParamSpec> = params
            .iter()
            .zip(bound)
            .filter(|(p, b)| p.required && b.is_none())
            .map(|(p, _)| p)
            .collect();
        if missing.is_empty() {
            return;
        }
        let names = missing
            .iter()
            .map(|p| format!("`{}: {}`", p.name, p.ty.display(&self.model)))
            .collect::<Vec<_>>()
            .join(", ");
        let plural = if missing.len() == 1 {
            "argument"
        } else {
            "arguments"
        };
        let mut d = Diagnostic::new(
            Code::E0202,
            cx.file,
            callee_span,
            format!("{what} is missing the required {plural} {names}"),
        )
        .label("missing arguments");
        for p in &missing {
            if let Some(loc) = p.loc {
                d = d.secondary(loc.file, loc.span, format!("`{}` has no default", p.name));
            }
        }
        self.diagnostics.push(d);
    }

    fn free_call(
        &mut self,
        cx: &mut Cx,
        _e: &ast::Expr,
        func: &ast::Ident,
        args: &[ast::Arg],
    ) -> Ty {
        if VALUE_BUILTINS.contains(&func.name.as_str()) {
            return self.value_builtin(cx, func, args);
        }
        if WAIT_BUILTINS.contains(&func.name.as_str()) {
            return self.wait_builtin(cx, func, args);
        }
        if func.name != "flatten" {
            let mut d = Diagnostic::new(Code::E0113, cx.file, func.span, format!("there is no function `{}`", func.name))
                .label("unknown function")
                .note("functions are called on an object (`x.f()`) or a class (`C.f()`); the free functions are `flatten`, `len`, `sum`, `min`, `max`, `signal` and `sleep`");
            d = d.did_you_mean(suggest::closest(
                &func.name,
                ["flatten", "len", "sum", "min", "max", "signal", "sleep"],
            ));
            self.diagnostics.push(d);
            self.args_only(cx, args);
            return Ty::Unknown;
        }
        if args.len() != 1 || args[0].name.is_some() {
            let d = Diagnostic::new(
                Code::E0201,
                cx.file,
                func.span,
                "`flatten` takes exactly one list of lists",
            )
            .label("one positional argument expected");
            self.diagnostics.push(d);
            self.args_only(cx, args);
            return Ty::Unknown;
        }
        let t = self.value_expr(cx, &args[0].value);
        let (found, label) = match t {
            Ty::List(inner) => match *inner {
                Ty::List(elem) => return Ty::List(elem),
                Ty::Unknown => return Ty::List(Box::new(Ty::Unknown)),
                other => (
                    format!("a list of `{}`", other.display(&self.model)),
                    "already flat",
                ),
            },
            Ty::Unknown => return Ty::Unknown,
            other => (
                format!("a `{}`", other.display(&self.model)),
                "not a list of lists",
            ),
        };
        let d = Diagnostic::new(
            Code::E0209,
            cx.file,
            args[0].value.span,
            format!("`flatten` needs a list of lists, but this is {found}"),
        )
        .label(label);
        self.diagnostics.push(d);
        Ty::Unknown
    }
}

/// Whether a type is "no value", or a list (of lists) of it: what a `for` over calls without a
/// result gives.
fn holds_unit(ty: &Ty) -> bool {
    match ty {
        Ty::Unit => true,
        Ty::List(inner) => holds_unit(inner),
        _ => false,
    }
}

/// Whether an expression is or holds (in list literals) a `{...}` literal.
fn has_object_literal(e: &ast::Expr) -> bool {
    match &e.kind {
        ast::ExprKind::Object { .. } => true,
        ast::ExprKind::List { items } => items.iter().any(has_object_literal),
        _ => false,
    }
}
