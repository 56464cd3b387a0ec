//! Every name of the workspace with what it refers to, built once per analysis from the
//! checker's references plus what the language server needs on top: declarations of function
//! parameters, named arguments (`split(segment_s: 30)` names a parameter, `new(title: ..)` a
//! state field), and the types of loop variables.

use oaas_compiler::check::model::{ClassId, Loc, MemberId, MemberKind, Model, RecordId};
use oaas_compiler::check::types::Ty;
use oaas_compiler::check::{ResolvedCall, Symbol};
use oaas_compiler::syntax::ast;
use oaas_compiler::{Analysis, FileId};
use std::collections::{HashMap, HashSet};

/// Names and their symbols, sorted by place.
#[derive(Debug, Default)]
pub struct Index {
    refs: Vec<(Loc, Symbol)>,
    /// Types of `let` names and loop variables, by where they are bound.
    pub local_types: HashMap<Loc, Ty>,
}

impl Index {
    /// Builds the index of an analysis.
    pub fn build(analysis: &Analysis) -> Index {
        let model = &analysis.model;
        // A macro's parameters are bound like locals; name them as parameters everywhere.
        let mut params: HashMap<Loc, Symbol> = HashMap::new();
        for (i, m) in model.members.iter().enumerate() {
            if let Some(sig) = m.signature() {
                for (j, p) in sig.params.iter().enumerate() {
                    params.insert(p.loc, Symbol::Param(MemberId(i as u32), j as u32));
                }
            }
        }
        let mut refs: Vec<(Loc, Symbol)> = analysis
            .references
            .iter()
            .map(|r| match r.symbol {
                Symbol::Local(loc) => (r.loc, params.get(&loc).copied().unwrap_or(r.symbol)),
                other => (r.loc, other),
            })
            .collect();
        // Declarations, whether or not the checker listed them.
        refs.extend(params.iter().map(|(loc, s)| (*loc, *s)));
        declarations(model, &mut refs);
        let mut local_types: HashMap<Loc, Ty> = HashMap::new();
        for (file, ast) in &analysis.files {
            let at = |span| Loc { file: *file, span };
            walk_exprs(ast, &mut |e| match &e.kind {
                ast::ExprKind::Call { args, .. } => {
                    let Some(call) = analysis.calls.get(&(*file, e.span)) else {
                        return;
                    };
                    for name in args.iter().filter_map(|a| a.name.as_ref()) {
                        if let Some(symbol) = named_argument(model, call, &name.name) {
                            refs.push((at(name.span), symbol));
                        }
                    }
                }
                ast::ExprKind::For { var, iter, .. } => {
                    if let Some(Ty::List(elem)) = analysis.expr_types.get(&(*file, iter.span)) {
                        local_types.insert(at(var.span), (**elem).clone());
                    }
                }
                _ => {}
            });
            for l in lets(ast) {
                if let Some(ty) = analysis.expr_types.get(&(*file, l.name.span)) {
                    local_types.insert(at(l.name.span), ty.clone());
                }
            }
        }
        refs.sort_by_key(|(loc, s)| (*loc, *s));
        refs.dedup();
        Index { refs, local_types }
    }

    /// The name under a cursor: a name containing the offset, else one ending at it.
    pub fn at(&self, file: FileId, offset: usize) -> Option<(Loc, Symbol)> {
        let from = self.refs.partition_point(|(l, _)| l.file < file);
        let mut touching = None;
        for (loc, symbol) in &self.refs[from..] {
            if loc.file != file || loc.span.start as usize > offset {
                break;
            }
            let (start, end) = (loc.span.start as usize, loc.span.end as usize);
            if start <= offset && offset < end {
                return Some((*loc, *symbol));
            }
            if end == offset {
                touching = Some((*loc, *symbol));
            }
        }
        touching
    }

    /// The names of one file, in source order.
    pub fn in_file(&self, file: FileId) -> &[(Loc, Symbol)] {
        let from = self.refs.partition_point(|(l, _)| l.file < file);
        let to = self.refs.partition_point(|(l, _)| l.file <= file);
        &self.refs[from..to]
    }

    /// Every place naming one of the symbols.
    pub fn places(&self, symbols: &HashSet<Symbol>) -> Vec<Loc> {
        let mut out: Vec<Loc> = self
            .refs
            .iter()
            .filter(|(_, s)| symbols.contains(s))
            .map(|(l, _)| *l)
            .collect();
        out.dedup();
        out
    }
}

/// Every class, record, record field and member where it is declared.
fn declarations(model: &Model, refs: &mut Vec<(Loc, Symbol)>) {
    for (i, c) in model.classes.iter().enumerate() {
        refs.push((c.loc, Symbol::Class(ClassId(i as u32))));
    }
    for (i, r) in model.records.iter().enumerate() {
        let id = RecordId(i as u32);
        refs.push((r.loc, Symbol::Record(id)));
        for (j, f) in r.fields.iter().enumerate() {
            refs.push((f.loc, Symbol::RecordField(id, j as u32)));
        }
    }
    for (i, m) in model.members.iter().enumerate() {
        refs.push((m.loc, Symbol::Member(MemberId(i as u32))));
    }
}

/// What a named argument of `call` names: a state field or ref for `new`, else a parameter.
fn named_argument(model: &Model, call: &ResolvedCall, name: &str) -> Option<Symbol> {
    if call.is_new {
        return model
            .lookup(call.class, name)
            .filter(|m| {
                matches!(
                    model.member(*m).kind,
                    MemberKind::State { .. } | MemberKind::Ref { .. }
                )
            })
            .map(Symbol::Member);
    }
    let sig = model.member(call.member).signature()?;
    let j = sig.params.iter().position(|p| p.name == name)?;
    Some(Symbol::Param(call.member, j as u32))
}

/// Calls `f` on every expression of a file: defaults, annotation arguments, macro bodies.
pub fn walk_exprs<'a>(file: &'a ast::File, f: &mut impl FnMut(&'a ast::Expr)) {
    for class in file.classes() {
        for a in &class.annotations {
            a.args.iter().for_each(|x| walk_expr(&x.value, f));
        }
        for m in &class.members {
            for a in &m.annotations {
                a.args.iter().for_each(|x| walk_expr(&x.value, f));
            }
            match &m.kind {
                ast::MemberKind::State { default, .. } | ast::MemberKind::Ref { default, .. } => {
                    default.iter().for_each(|d| walk_expr(d, f))
                }
                ast::MemberKind::File { .. } => {}
                ast::MemberKind::Fn(sig) => sig
                    .params
                    .iter()
                    .filter_map(|p| p.default.as_ref())
                    .for_each(|d| walk_expr(d, f)),
                ast::MemberKind::Macro { sig, body } => {
                    sig.params
                        .iter()
                        .filter_map(|p| p.default.as_ref())
                        .for_each(|d| walk_expr(d, f));
                    walk_stmts(&body.stmts, f);
                }
            }
        }
    }
}

/// Calls `f` on an expression and everything inside it.
pub fn walk_expr<'a>(e: &'a ast::Expr, f: &mut impl FnMut(&'a ast::Expr)) {
    f(e);
    match &e.kind {
        ast::ExprKind::List { items } => items.iter().for_each(|x| walk_expr(x, f)),
        ast::ExprKind::Object { members } => members.iter().for_each(|(_, x)| walk_expr(x, f)),
        ast::ExprKind::Field { target, .. } => walk_expr(target, f),
        ast::ExprKind::Call { target, args, .. } => {
            walk_expr(target, f);
            args.iter().for_each(|a| walk_expr(&a.value, f));
        }
        ast::ExprKind::FreeCall { args, .. } => args.iter().for_each(|a| walk_expr(&a.value, f)),
        ast::ExprKind::For {
            iter,
            filter,
            lets,
            value,
            ..
        } => {
            walk_expr(iter, f);
            filter.iter().for_each(|x| walk_expr(x, f));
            lets.iter().for_each(|l| walk_expr(&l.value, f));
            walk_expr(value, f);
        }
        ast::ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, f);
            walk_expr(rhs, f);
        }
        ast::ExprKind::Unary { operand, .. } => walk_expr(operand, f),
        ast::ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            walk_expr(cond, f);
            walk_stmts(&then.stmts, f);
            if let Some(o) = otherwise {
                walk_stmts(&o.stmts, f);
            }
        }
        ast::ExprKind::Try { body, catch, .. } => {
            walk_stmts(&body.stmts, f);
            walk_stmts(&catch.stmts, f);
        }
        _ => {}
    }
}

/// Calls `f` on every expression of statements (of a macro body or a block).
pub fn walk_stmts<'a>(stmts: &'a [ast::Stmt], f: &mut impl FnMut(&'a ast::Expr)) {
    for s in stmts {
        match s {
            ast::Stmt::Let(l) => walk_expr(&l.value, f),
            ast::Stmt::Expr { value, .. } | ast::Stmt::Return { value, .. } => walk_expr(value, f),
        }
    }
}

/// The `let`s of blocks inside an expression (of `if`, `else`, `try`, `catch`).
fn block_lets<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Let>) {
    let blocks: Vec<&ast::Block> = match &e.kind {
        ast::ExprKind::If {
            then, otherwise, ..
        } => std::iter::once(then).chain(otherwise.iter()).collect(),
        ast::ExprKind::Try { body, catch, .. } => vec![body, catch],
        _ => Vec::new(),
    };
    for b in blocks {
        for s in &b.stmts {
            if let ast::Stmt::Let(l) = s {
                out.push(l);
            }
        }
    }
}

/// The `let`s of a file (in macro bodies and `for` bodies), in order.
pub fn lets(file: &ast::File) -> Vec<&ast::Let> {
    let mut out = Vec::new();
    for class in file.classes() {
        for m in &class.members {
            if let ast::MemberKind::Macro { body, .. } = &m.kind {
                for s in &body.stmts {
                    if let ast::Stmt::Let(l) = s {
                        out.push(l);
                    }
                }
            }
        }
    }
    walk_exprs(file, &mut |e| {
        if let ast::ExprKind::For { lets, .. } = &e.kind {
            out.extend(lets.iter());
        }
        block_lets(e, &mut out);
    });
    out.sort_by_key(|l| l.span.start);
    out
}
