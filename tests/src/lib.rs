//! Helpers shared by the workspace-level tests: the span invariants every parse must keep.
//!
//! Every AST span lies inside the file and inside its parent node's span, on character
//! boundaries; every name's span covers exactly its text; doc comments lie inside the node
//! that holds the documented declaration and end before it; every diagnostic points into its
//! file. [`file_span_violations`] and [`diagnostic_span_violations`] list what breaks them.

pub mod mutate;

use oaas_compiler::syntax::ast::*;
use oaas_compiler::syntax::{AccessExpr, AccessTarget};
use oaas_compiler::{Diagnostic, Sources, Span};

/// Walks a tree and records each span that breaks an invariant, with a path to the node.
struct Walker<'t> {
    text: &'t str,
    problems: Vec<String>,
}

impl Walker<'_> {
    /// Checks that `span` is well formed, in the text and inside `parent`.
    fn span(&mut self, what: &str, span: Span, parent: Span) {
        let len = self.text.len() as u32;
        if span.start > span.end {
            self.problems
                .push(format!("{what}: reversed span {span:?}"));
        }
        if span.end > len {
            self.problems.push(format!(
                "{what}: span {span:?} ends past the file ({len} bytes)"
            ));
        }
        if !self.text.is_char_boundary(span.start as usize)
            || !self.text.is_char_boundary(span.end as usize)
        {
            self.problems
                .push(format!("{what}: span {span:?} splits a character"));
        }
        if !parent.contains(span) {
            self.problems.push(format!(
                "{what}: span {span:?} is outside its parent {parent:?}"
            ));
        }
    }

    fn ident(&mut self, what: &str, ident: &Ident, parent: Span) {
        self.span(what, ident.span, parent);
        // Names the lowering had to invent (empty) have no text of their own.
        if !ident.name.is_empty() {
            let written = self.text.get(ident.span.range()).unwrap_or("");
            if written != ident.name {
                self.problems.push(format!(
                    "{what}: name `{}` but its span {:?} covers `{written}`",
                    ident.name, ident.span
                ));
            }
        }
    }

    /// Doc comments sit before their declaration, inside the node that holds it.
    fn docs(&mut self, what: &str, docs: &Option<Docs>, owner: Span, container: Span) {
        if let Some(d) = docs {
            self.span(&format!("{what} docs"), d.span, container);
            if d.span.end > owner.start {
                self.problems.push(format!(
                    "{what} docs: span {:?} does not end before the declaration {owner:?}",
                    d.span
                ));
            }
        }
    }

    fn file(&mut self, file: &File) {
        let whole = Span::new(0, self.text.len());
        self.span("file", file.span, whole);
        if let Some(p) = &file.package {
            self.ident("package", p, file.span);
        }
        for item in &file.items {
            self.span("item", item.span(), file.span);
            match item {
                Item::Use(u) => {
                    for p in &u.package {
                        self.ident("use package", p, u.span);
                    }
                    self.ident("use name", &u.name, u.span);
                }
                Item::Record(r) => self.record(r, file.span),
                Item::Class(c) => self.class(c, file.span),
            }
        }
    }

    fn annotations(&mut self, annotations: &[Annotation], parent: Span) {
        for a in annotations {
            self.span("annotation", a.span, parent);
            self.ident("annotation name", &a.name, a.span);
            self.args(&a.args, a.span);
        }
    }

    fn record(&mut self, r: &RecordDecl, container: Span) {
        let what = format!("record {}", r.name.name);
        self.docs(&what, &r.docs, r.span, container);
        self.annotations(&r.annotations, r.span);
        self.ident(&what, &r.name, r.span);
        for f in &r.fields {
            self.span("record field", f.span, r.span);
            self.ident("record field name", &f.name, f.span);
            self.ty(&f.ty, f.span);
        }
    }

    fn class(&mut self, c: &ClassDecl, container: Span) {
        let what = format!("class {}", c.name.name);
        self.docs(&what, &c.docs, c.span, container);
        self.annotations(&c.annotations, c.span);
        self.ident(&what, &c.name, c.span);
        if let Some(p) = &c.parent {
            self.ident("parent class", p, c.span);
        }
        for m in &c.members {
            self.member(m, c.span);
        }
    }

    fn member(&mut self, m: &Member, class: Span) {
        let what = format!("member {}", m.name.name);
        self.span(&what, m.span, class);
        self.docs(&what, &m.docs, m.span, class);
        self.annotations(&m.annotations, m.span);
        let mods = &m.modifiers;
        let modifier_spans = [
            mods.access.map(|(_, s)| s),
            mods.mut_,
            mods.static_,
            mods.override_,
        ];
        for s in modifier_spans.into_iter().flatten() {
            self.span("modifier", s, m.span);
        }
        self.ident(&what, &m.name, m.span);
        match &m.kind {
            MemberKind::State { ty, default } | MemberKind::Ref { ty, default } => {
                self.ty(ty, m.span);
                if let Some(d) = default {
                    self.expr(d, m.span);
                }
            }
            MemberKind::File { media_type } => {
                if let Some(s) = media_type {
                    self.span("media type", s.span, m.span);
                }
            }
            MemberKind::Fn(sig) => self.signature(sig, m.span),
            MemberKind::Macro { sig, body } => {
                self.signature(sig, m.span);
                self.span("macro body", body.span, m.span);
                for stmt in &body.stmts {
                    self.stmt(stmt, body.span);
                }
            }
        }
    }

    fn signature(&mut self, sig: &Signature, member: Span) {
        self.span("signature", sig.span, member);
        for p in &sig.params {
            self.span("parameter", p.span, sig.span);
            self.ident("parameter name", &p.name, p.span);
            self.ty(&p.ty, p.span);
            if let Some(d) = &p.default {
                self.expr(d, p.span);
            }
        }
        if let Some(ret) = &sig.ret {
            self.ty(ret, sig.span);
        }
    }

    fn ty(&mut self, ty: &TypeExpr, parent: Span) {
        self.span("type", ty.span, parent);
        match &ty.kind {
            TypeExprKind::Named(name) => self.ident("type name", name, ty.span),
            TypeExprKind::List(inner) | TypeExprKind::Optional(inner) => self.ty(inner, ty.span),
        }
    }

    fn stmt(&mut self, stmt: &Stmt, body: Span) {
        match stmt {
            Stmt::Let(l) => self.let_(l, body),
            Stmt::Expr { value, after, span } => {
                self.span("statement", *span, body);
                self.expr(value, *span);
                for n in after {
                    self.ident("after name", n, *span);
                }
            }
            Stmt::Return { value, span } => {
                self.span("statement", *span, body);
                self.expr(value, *span);
            }
        }
    }

    fn block(&mut self, b: &Block, parent: Span) {
        self.span("block", b.span, parent);
        for s in &b.stmts {
            self.stmt(s, b.span);
        }
    }

    fn let_(&mut self, l: &Let, parent: Span) {
        self.span("let", l.span, parent);
        self.ident("let name", &l.name, l.span);
        self.expr(&l.value, l.span);
        for n in &l.after {
            self.ident("after name", n, l.span);
        }
    }

    fn args(&mut self, args: &[Arg], parent: Span) {
        for a in args {
            self.span("argument", a.span, parent);
            if let Some(n) = &a.name {
                self.ident("argument name", n, a.span);
            }
            self.expr(&a.value, a.span);
        }
    }

    fn expr(&mut self, e: &Expr, parent: Span) {
        self.span("expression", e.span, parent);
        match &e.kind {
            ExprKind::List { items } => {
                for i in items {
                    self.expr(i, e.span);
                }
            }
            ExprKind::Object { members } => {
                for (_, v) in members {
                    self.expr(v, e.span);
                }
            }
            ExprKind::Name { name } => self.ident("name", name, e.span),
            ExprKind::Field { target, name } => {
                self.expr(target, e.span);
                self.ident("field", name, e.span);
            }
            ExprKind::Call {
                target,
                method,
                args,
            } => {
                self.expr(target, e.span);
                self.ident("method", method, e.span);
                self.args(args, e.span);
            }
            ExprKind::FreeCall { func, args } => {
                self.ident("function", func, e.span);
                self.args(args, e.span);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs, e.span);
                self.expr(rhs, e.span);
            }
            ExprKind::Unary { operand, .. } => self.expr(operand, e.span),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond, e.span);
                self.block(then, e.span);
                if let Some(o) = otherwise {
                    self.block(o, e.span);
                }
            }
            ExprKind::Try { body, var, catch } => {
                self.block(body, e.span);
                self.ident("error name", var, e.span);
                self.block(catch, e.span);
            }
            ExprKind::For {
                var,
                iter,
                filter,
                tolerate,
                lets,
                value,
            } => {
                self.ident("loop variable", var, e.span);
                self.expr(iter, e.span);
                if let Some(f) = filter {
                    self.expr(f, e.span);
                }
                if let Some(t) = tolerate {
                    self.span("tolerate", t.span, e.span);
                }
                for l in lets {
                    self.let_(l, e.span);
                }
                self.expr(value, e.span);
            }
            ExprKind::Interp { parts } => {
                for p in parts {
                    if let InterpPart::Value(v) = p {
                        self.expr(v, e.span);
                    }
                }
            }
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Str { .. }
            | ExprKind::Bool { .. }
            | ExprKind::Null
            | ExprKind::Duration { .. }
            | ExprKind::SelfRef => {}
        }
    }
}

/// Every span invariant a parsed file breaks, described; empty when all hold.
pub fn file_span_violations(text: &str, file: &File) -> Vec<String> {
    let mut w = Walker {
        text,
        problems: Vec::new(),
    };
    w.file(file);
    w.problems
}

/// Every span invariant an object access expression breaks; empty when all hold.
pub fn access_span_violations(text: &str, expr: &AccessExpr) -> Vec<String> {
    let mut w = Walker {
        text,
        problems: Vec::new(),
    };
    let whole = Span::new(0, text.len());
    let (function, args) = match &expr.target {
        AccessTarget::Object { function, args, .. } => (function, args),
        AccessTarget::Static {
            class,
            function,
            args,
            ..
        } => {
            w.ident("class", class, whole);
            (function, args)
        }
    };
    w.ident("function", function, whole);
    w.args(args, whole);
    if let Some(f) = &expr.file {
        w.ident("file", f, whole);
    }
    w.problems
}

/// Every diagnostic label that does not point into its file, described.
pub fn diagnostic_span_violations(sources: &Sources, diagnostics: &[Diagnostic]) -> Vec<String> {
    let mut problems = Vec::new();
    for d in diagnostics {
        let labels = std::iter::once(&d.primary).chain(&d.secondary);
        for label in labels {
            if label.file.0 as usize >= sources.len() {
                problems.push(format!("{}: unknown file {:?}", d.code, label.file));
                continue;
            }
            let text = &sources.get(label.file).text;
            let s = label.span;
            if s.start > s.end
                || s.end as usize > text.len()
                || !text.is_char_boundary(s.start as usize)
                || !text.is_char_boundary(s.end as usize)
            {
                problems.push(format!(
                    "{} `{}`: span {s:?} is not inside its file ({} bytes)",
                    d.code,
                    d.message,
                    text.len()
                ));
            }
        }
    }
    problems
}
