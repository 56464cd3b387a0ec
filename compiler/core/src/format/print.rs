//! The canonical layout of each construct, printed from the syntax tree.

use super::printer::Printer;
use crate::span::Span;
use crate::syntax::ast::*;

/// The brackets of a list and whether a one-line form has spaces inside (`{ a: int }`).
#[derive(Clone, Copy)]
struct Brackets {
    open: &'static str,
    close: &'static str,
    pad: bool,
}

const PARENS: Brackets = Brackets {
    open: "(",
    close: ")",
    pad: false,
};
const SQUARE: Brackets = Brackets {
    open: "[",
    close: "]",
    pad: false,
};
const BRACES: Brackets = Brackets {
    open: "{",
    close: "}",
    pad: false,
};
const PADDED_BRACES: Brackets = Brackets {
    open: "{",
    close: "}",
    pad: true,
};

/// Where a declaration starts, doc comment included.
fn decl_start(docs: &Option<Docs>, annotations: &[Annotation], span: Span) -> usize {
    let mut start = span.start;
    if let Some(a) = annotations.first() {
        start = start.min(a.span.start);
    }
    if let Some(d) = docs {
        start = start.min(d.span.start);
    }
    start as usize
}

fn stmt_span(s: &Stmt) -> Span {
    match s {
        Stmt::Let(l) => l.span,
        Stmt::Expr { span, .. } | Stmt::Return { span, .. } => *span,
    }
}

/// A string's value written back as a literal.
fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            '\0' => s.push_str("\\0"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

impl<'a> Printer<'a> {
    /// Notes that the source up to the end of `span` is printed (to see blank lines after it).
    fn passed(&mut self, span: Span) {
        if !self.flat {
            self.last_end = self.last_end.max(span.end as usize);
        }
    }

    fn slice(&self, span: Span) -> &'a str {
        self.src.get(span.range()).unwrap_or("")
    }

    /// The offset of the first byte from `from` that is not whitespace, a comma or a comment:
    /// in a valid file, the `want` that must come next.
    fn find(&self, from: usize, _want: u8) -> usize {
        let bytes = self.src.as_bytes();
        let mut i = from;
        while let Some(&b) = bytes.get(i) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => i += 1,
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    i = self.src[i..].find('\n').map_or(bytes.len(), |n| i + n);
                }
                _ => return i,
            }
        }
        i
    }

    /// The string literal starting at the first non-trivia byte from `from`, as written.
    fn string_at(&self, from: usize) -> Option<(usize, &'a str)> {
        let start = self.find(from, b'"');
        let bytes = self.src.as_bytes();
        if bytes.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => return self.src.get(start..i + 1).map(|s| (start, s)),
                b'\n' => return None,
                _ => i += 1,
            }
        }
        None
    }

    /// How wide something is printed on one line; `None` if it cannot be one line.
    fn measure(&self, f: impl FnOnce(&mut Printer<'a>)) -> usize {
        let mut p = Printer::measuring(self.src);
        f(&mut p);
        if p.line_text().contains('\n') {
            usize::MAX / 2
        } else {
            p.width()
        }
    }

    // ------------------------------------------------------------------ file and items

    pub(crate) fn file(&mut self, file: &File) {
        let mut first = true;
        if let Some(name) = &file.package {
            self.open_node(name.span.start as usize, false);
            self.text("package ");
            self.ident(name);
            self.close_node(name.span.end as usize);
            first = false;
        }
        let mut prev_use = false;
        for item in &file.items {
            let is_use = matches!(item, Item::Use(_));
            // `use` lines go together; every other declaration gets a blank line before it.
            let grouped = prev_use && is_use;
            if !first && !grouped {
                self.blank();
            }
            first = false;
            prev_use = is_use;
            match item {
                Item::Use(u) => self.use_decl(u),
                Item::Record(r) => self.record(r),
                Item::Class(c) => self.class(c),
            }
        }
    }

    fn use_decl(&mut self, u: &UseDecl) {
        self.open_node(u.span.start as usize, false);
        self.text("use ");
        for segment in &u.package {
            self.ident(segment);
            self.text(".");
        }
        self.ident(&u.name);
        self.close_node(u.span.end as usize);
    }

    fn docs(&mut self, docs: &Option<Docs>) {
        if let Some(d) = docs {
            for line in self.slice(d.span).lines() {
                self.verbatim_line(line);
            }
            self.after_docs = true;
            self.last_end = self.last_end.max(d.span.end as usize);
        }
    }

    fn annotation_lines(&mut self, annotations: &[Annotation]) {
        for a in annotations {
            self.annotation(a);
            self.newline();
        }
    }

    fn record(&mut self, r: &RecordDecl) {
        self.open_node(decl_start(&r.docs, &r.annotations, r.span), true);
        self.docs(&r.docs);
        self.annotation_lines(&r.annotations);
        self.flush(r.name.span.start as usize);
        self.text("record ");
        self.ident(&r.name);
        self.text(" ");
        let open = self.find(r.name.span.end as usize, b'{');
        let close = (r.span.end as usize).saturating_sub(1);
        self.list(
            PADDED_BRACES,
            (open, close),
            &r.fields,
            0,
            |f| f.span,
            |p, f| {
                p.ident(&f.name);
                p.text(": ");
                p.ty(&f.ty);
            },
        );
        self.close_node(r.span.end as usize);
    }

    fn class(&mut self, c: &ClassDecl) {
        self.open_node(decl_start(&c.docs, &c.annotations, c.span), true);
        self.docs(&c.docs);
        self.annotation_lines(&c.annotations);
        self.flush(c.name.span.start as usize);
        self.text("class ");
        self.ident(&c.name);
        if let Some(parent) = &c.parent {
            self.text(" extends ");
            self.ident(parent);
        }
        let header_end = c.parent.as_ref().unwrap_or(&c.name).span.end as usize;
        let open = self.find(header_end, b'{');
        let close = (c.span.end as usize).saturating_sub(1);
        self.text(" {");
        if c.members.is_empty() && !self.has_comment(open, close) {
            self.text("}");
        } else {
            self.block(close, true, |p| {
                for m in &c.members {
                    p.member(m);
                }
            });
        }
        self.close_node(c.span.end as usize);
    }

    /// The inside of `{ ... }` with one node per line, then the closing `}`.
    fn block(&mut self, close: usize, blanks: bool, body: impl FnOnce(&mut Self)) {
        self.newline();
        self.indent += 1;
        let saved = std::mem::replace(&mut self.blanks, blanks);
        body(self);
        self.newline();
        self.flush(close);
        self.newline();
        self.indent -= 1;
        self.blanks = saved;
        self.no_blank();
        self.text("}");
        self.last_end = self.last_end.max(close + 1);
    }

    // ------------------------------------------------------------------ members

    fn member(&mut self, m: &Member) {
        self.open_node(decl_start(&m.docs, &m.annotations, m.span), true);
        self.docs(&m.docs);
        let (leading, trailing): (Vec<&Annotation>, Vec<&Annotation>) = m
            .annotations
            .iter()
            .partition(|a| a.span.start < m.name.span.start);
        for a in leading {
            self.annotation(a);
            self.newline();
        }
        let mods = &m.modifiers;
        let words = [
            mods.override_.map(|s| ("override", s)),
            mods.access.map(|(a, s)| (a.as_str(), s)),
            mods.static_.map(|s| ("static", s)),
            mods.mut_.map(|s| ("mut", s)),
        ];
        for (word, span) in words.into_iter().flatten() {
            self.flush(span.start as usize);
            self.text(word);
            self.text(" ");
        }
        self.flush(m.name.span.start as usize);
        match &m.kind {
            MemberKind::State { ty, default } | MemberKind::Ref { ty, default } => {
                let keyword = if matches!(m.kind, MemberKind::State { .. }) {
                    "state "
                } else {
                    "ref "
                };
                self.text(keyword);
                self.ident(&m.name);
                self.text(": ");
                self.ty(ty);
                if let Some(d) = default {
                    self.text(" = ");
                    self.expr(d);
                }
            }
            MemberKind::File { media_type } => {
                self.text("file ");
                self.ident(&m.name);
                if let Some(s) = media_type {
                    self.text(": ");
                    self.flush(s.span.start as usize);
                    self.text(self.slice(s.span));
                    self.passed(s.span);
                }
            }
            MemberKind::Fn(sig) => {
                self.text("fn ");
                self.ident(&m.name);
                self.signature(sig, &trailing, false);
            }
            MemberKind::Macro { sig, body } => {
                self.text("macro ");
                self.ident(&m.name);
                self.signature(sig, &trailing, true);
                self.text(" ");
                self.macro_body(body);
            }
        }
        self.close_node(m.span.end as usize);
    }

    /// `(params) -> Type @annotations`.
    fn signature(&mut self, sig: &Signature, trailing: &[&Annotation], is_macro: bool) {
        let open = sig.span.start as usize;
        let after_params = sig.params.last().map_or(open + 1, |p| p.span.end as usize);
        let close = self.find(after_params, b')');
        let suffix = self.measure(|p| {
            p.signature_tail(sig, trailing);
            if is_macro {
                p.text(" {");
            }
        });
        self.list(
            PARENS,
            (open, close),
            &sig.params,
            suffix,
            |p| p.span,
            |p, param| p.param(param),
        );
        self.signature_tail(sig, trailing);
    }

    fn signature_tail(&mut self, sig: &Signature, trailing: &[&Annotation]) {
        if let Some(ret) = &sig.ret {
            self.text(" -> ");
            self.ty(ret);
        }
        for a in trailing {
            self.text(" ");
            self.annotation(a);
        }
    }

    fn param(&mut self, p: &Param) {
        self.ident(&p.name);
        self.text(": ");
        self.ty(&p.ty);
        if let Some(d) = &p.default {
            self.text(" = ");
            self.expr(d);
        }
    }

    fn annotation(&mut self, a: &Annotation) {
        self.flush(a.span.start as usize);
        self.text("@");
        self.ident(&a.name);
        let end = a.span.end as usize;
        if a.args.is_empty() && !self.has_comment(a.name.span.end as usize, end) {
            self.passed(a.span);
            return;
        }
        let open = self.find(a.name.span.end as usize, b'(');
        self.list(
            PARENS,
            (open, end.saturating_sub(1)),
            &a.args,
            0,
            |x| x.span,
            |p, x| p.arg(x),
        );
        self.passed(a.span);
    }

    fn ty(&mut self, t: &TypeExpr) {
        self.flush(t.span.start as usize);
        match &t.kind {
            TypeExprKind::Named(name) => self.ident(name),
            TypeExprKind::List(inner) => {
                self.text("[");
                self.ty(inner);
                self.text("]");
            }
            TypeExprKind::Optional(inner) => {
                self.ty(inner);
                self.text("?");
            }
        }
        self.passed(t.span);
    }

    fn ident(&mut self, i: &Ident) {
        self.flush(i.span.start as usize);
        self.text(&i.name);
        self.passed(i.span);
    }

    // ------------------------------------------------------------------ macro bodies

    fn macro_body(&mut self, body: &MacroBody) {
        self.stmts_block(body.span, &body.stmts, true);
    }

    /// `{ statements }`, one per line (a macro body, or a block of `if`, `else`, `try`,
    /// `catch`).
    fn stmts_block(&mut self, span: Span, stmts: &[Stmt], blanks: bool) {
        let close = (span.end as usize).saturating_sub(1);
        self.text("{");
        if stmts.is_empty() && !self.has_comment(span.start as usize, close) {
            self.text("}");
            return;
        }
        if self.flat {
            // Measuring only: a block is never on one line.
            self.text("\n}");
            return;
        }
        self.block(close, blanks, |p| {
            for s in stmts {
                let span = stmt_span(s);
                p.open_node(span.start as usize, false);
                match s {
                    Stmt::Let(l) => p.let_stmt(l),
                    Stmt::Expr { value, after, .. } => {
                        p.expr(value);
                        p.after(after);
                    }
                    Stmt::Return { value, .. } => {
                        p.text("return ");
                        p.expr(value);
                    }
                }
                p.close_node(span.end as usize);
            }
        });
    }

    fn let_stmt(&mut self, l: &Let) {
        self.text("let ");
        self.ident(&l.name);
        self.text(" = ");
        self.expr(&l.value);
        self.after(&l.after);
    }

    fn after(&mut self, names: &[Ident]) {
        for (i, n) in names.iter().enumerate() {
            self.text(if i == 0 { " after " } else { ", " });
            self.ident(n);
        }
    }

    /// An operand of an operator, in parentheses when it binds looser than the operator
    /// needs (`right`: the right operand, where equal precedence needs them too).
    fn operand(&mut self, e: &Expr, min: u8, right: bool) {
        let needs = match &e.kind {
            ExprKind::Binary { op, .. } => {
                op.precedence() < min || (right && op.precedence() == min)
            }
            ExprKind::If { .. } | ExprKind::Try { .. } => true,
            ExprKind::Unary { .. } => min == u8::MAX,
            _ => false,
        };
        if needs {
            self.text("(");
            self.expr(e);
            self.text(")");
        } else {
            self.expr(e);
        }
    }

    fn arg(&mut self, a: &Arg) {
        self.flush(a.span.start as usize);
        if let Some(name) = &a.name {
            self.ident(name);
            self.text(": ");
        }
        self.expr(&a.value);
    }

    fn expr(&mut self, e: &Expr) {
        self.expr_inner(e);
        self.passed(e.span);
    }

    fn expr_inner(&mut self, e: &Expr) {
        self.flush(e.span.start as usize);
        let end = e.span.end as usize;
        match &e.kind {
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Str { .. }
            | ExprKind::Interp { .. }
            | ExprKind::Bool { .. }
            | ExprKind::Null
            | ExprKind::Duration { .. } => self.text(self.slice(e.span)),
            ExprKind::SelfRef => self.text("self"),
            ExprKind::Name { name } => self.ident(name),
            ExprKind::List { items } => self.list(
                SQUARE,
                (e.span.start as usize, end.saturating_sub(1)),
                items,
                0,
                |x| x.span,
                |p, x| p.expr(x),
            ),
            ExprKind::Object { members } => self.object_literal(e, members),
            ExprKind::Field { target, name } => {
                self.operand(target, u8::MAX, false);
                self.text(".");
                self.ident(name);
            }
            ExprKind::Call {
                target,
                method,
                args,
            } => {
                self.operand(target, u8::MAX, false);
                self.text(".");
                self.ident(method);
                self.call_args(method.span.end as usize, end, args);
            }
            ExprKind::FreeCall { func, args } => {
                self.ident(func);
                self.call_args(func.span.end as usize, end, args);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.operand(lhs, op.precedence(), false);
                self.text(" ");
                self.text(op.as_str());
                self.text(" ");
                self.operand(rhs, op.precedence(), true);
            }
            ExprKind::Unary { op, operand } => {
                self.text(op.as_str());
                if *op == UnOp::Not {
                    self.text(" ");
                }
                self.operand(operand, u8::MAX, false);
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_expr(cond, then, otherwise.as_ref()),
            ExprKind::Try { body, var, catch } => {
                self.text("try ");
                self.stmts_block(body.span, &body.stmts, false);
                self.text(" catch ");
                self.ident(var);
                self.text(" ");
                self.stmts_block(catch.span, &catch.stmts, false);
            }
            ExprKind::For { .. } => self.for_expr(e, end),
        }
    }

    /// A `{"key": value, ...}` literal, each key as written (or quoted when the source has
    /// none to copy).
    fn object_literal(&mut self, e: &Expr, members: &[(String, Expr)]) {
        let mut from = e.span.start as usize + 1;
        let mut entries = Vec::with_capacity(members.len());
        for (key, value) in members {
            let written = self.string_at(from);
            let start = written.map_or(value.span.start, |(s, _)| s as u32);
            let key_text = written.map_or_else(|| quote(key), |(_, k)| k.to_string());
            entries.push((
                key_text,
                value,
                Span::new(start as usize, value.span.end as usize),
            ));
            from = value.span.end as usize;
        }
        self.list(
            BRACES,
            (
                e.span.start as usize,
                (e.span.end as usize).saturating_sub(1),
            ),
            &entries,
            0,
            |x| x.2,
            |p, (key, value, _)| {
                p.text(key);
                p.text(": ");
                p.expr(value);
            },
        );
    }

    /// A call's `(args)`: from the `(` after `after` to the call's `end`.
    fn call_args(&mut self, after: usize, end: usize, args: &[Arg]) {
        let open = self.find(after, b'(');
        self.list(
            PARENS,
            (open, end.saturating_sub(1)),
            args,
            0,
            |x| x.span,
            |p, x| p.arg(x),
        );
    }

    /// `if cond { ... } else { ... }`, an `else if` kept on one line.
    fn if_expr(&mut self, cond: &Expr, then: &Block, otherwise: Option<&Block>) {
        self.text("if ");
        self.expr(cond);
        self.text(" ");
        self.stmts_block(then.span, &then.stmts, false);
        if let Some(other) = otherwise {
            self.text(" else ");
            match other.stmts.as_slice() {
                [Stmt::Expr { value, span, .. }]
                    if *span == other.span && matches!(value.kind, ExprKind::If { .. }) =>
                {
                    self.expr(value)
                }
                _ => self.stmts_block(other.span, &other.stmts, false),
            }
        }
    }

    /// A `for` (its own function: `expr_inner` recurses through deep nesting, so its frame
    /// is kept small).
    fn for_expr(&mut self, e: &Expr, end: usize) {
        let ExprKind::For {
            var,
            iter,
            filter,
            tolerate,
            lets,
            value,
        } = &e.kind
        else {
            return;
        };
        self.text("for ");
        self.ident(var);
        self.text(" in ");
        self.expr(iter);
        if let Some(f) = filter {
            self.text(" if ");
            self.expr(f);
        }
        if let Some(t) = tolerate {
            self.text(" tolerate ");
            self.text(&t.limit.as_written());
        }
        self.text(" ");
        let after_head = tolerate
            .as_ref()
            .map_or(filter.as_ref().map_or(iter.span.end, |f| f.span.end), |t| {
                t.span.end
            });
        let open = self.find(after_head as usize, b'{');
        let close = end.saturating_sub(1);
        let one_line = lets.is_empty()
            && !self.has_comment(open, close + 1)
            && (self.flat || {
                let w = self.measure(|p| p.expr(value));
                self.fits(w + 4)
            });
        if one_line {
            self.text("{ ");
            self.expr(value);
            self.text(" }");
        } else if self.flat {
            // Measuring only: cannot be one line.
            self.text("{\n}");
        } else {
            self.text("{");
            self.block(close, false, |p| {
                for l in lets {
                    p.open_node(l.span.start as usize, false);
                    p.let_stmt(l);
                    p.close_node(l.span.end as usize);
                }
                p.open_node(value.span.start as usize, false);
                p.expr(value);
                p.close_node(value.span.end as usize);
            });
        }
    }

    // ------------------------------------------------------------------ lists

    /// A bracketed, comma-separated list: on one line when it fits and holds no comment,
    /// else one element per line with a trailing comma.
    #[allow(clippy::too_many_arguments)]
    fn list<T>(
        &mut self,
        b: Brackets,
        (open, close): (usize, usize),
        items: &[T],
        suffix: usize,
        span: impl Fn(&T) -> Span,
        item: impl Fn(&mut Self, &T),
    ) {
        let has_comment = !self.flat && self.has_comment(open, close + 1);
        let one_line = self.flat
            || (!has_comment && {
                let w = self.measure(|p| p.list_one_line(b, items, &item));
                self.fits(w.saturating_add(suffix))
            });
        if one_line {
            self.list_one_line(b, items, &item);
            return;
        }
        self.text(b.open);
        self.newline();
        self.indent += 1;
        let saved = std::mem::replace(&mut self.blanks, false);
        for x in items {
            let s = span(x);
            self.open_node(s.start as usize, false);
            item(self, x);
            self.text(",");
            self.close_node(s.end as usize);
        }
        self.flush(close);
        self.newline();
        self.indent -= 1;
        self.blanks = saved;
        self.no_blank();
        self.text(b.close);
        self.last_end = self.last_end.max(close + 1);
    }

    fn list_one_line<T>(&mut self, b: Brackets, items: &[T], item: &impl Fn(&mut Self, &T)) {
        self.text(b.open);
        let pad = b.pad && !items.is_empty();
        if pad {
            self.text(" ");
        }
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                self.text(", ");
            }
            item(self, x);
        }
        if pad {
            self.text(" ");
        }
        self.text(b.close);
    }
}
