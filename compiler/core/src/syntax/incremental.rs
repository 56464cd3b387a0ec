//! Incremental re-parsing: after an edit inside one `class` or `record` declaration, only
//! that declaration is parsed again; the others are taken from the earlier parse, those after
//! the edit moved by the change in length.
//!
//! The grammar is a PEG whose top level is `item*`, and a clean declaration's parse reads
//! nothing past its end (see the proof sketch on [`reparse`]). So when the edit lies strictly
//! inside one declaration, and that declaration, parsed from where it starts to the end of
//! the file as a full parse would, still ends where it ended, the full parse of the new text
//! would give exactly the earlier items around the new one. Syntax errors inside the edited
//! declaration are fine (one is typing there); every other case (an edit between
//! declarations, in a `use` or `package` line, a declaration that now runs on into the next,
//! syntax errors elsewhere) falls back to a full parse. A property test compares both on
//! random chains of edits of real files.

use super::ast::*;
use super::{lower, parse, Parsed};
use crate::diagnostic::{Code, Diagnostic, Label};
use crate::span::{FileId, Span};
use std::collections::HashMap;

/// Re-parses `new_text`, the text of `file` after an edit of `old_text`, whose parse was
/// `old`. Returns `None` when the shortcut does not apply; [`parse`] is then the way.
///
/// Why the result equals `parse(file, new_text)`: let the edit change the bytes
/// `old_text[p..q]` and leave the rest (prefix and suffix) alone, with `start < p` and
/// `q < end` for the declaration `old_text[start..end]` (from its first doc comment line to
/// its end). Every diagnostic of the old parse lies in that declaration, so the top-level
/// items before it parsed cleanly: each is a declaration that ends at a `}` or a name, after
/// which the grammar reads nothing but the trivia before the next item, which starts at
/// `start` with the same unchanged character. So they parse the same in the new text, and
/// the full parse tries a declaration at `start` again. The declaration is parsed here from
/// `start` to the end of the new text with the same alternatives, so it comes out as in the
/// full parse, syntax errors and recovery included. If it ends where the old one ended
/// (moved by the change in length), the items after it start at the same place relative to
/// the unchanged suffix, and a PEG parse from a position depends only on the text from
/// there on: they are the old ones, moved.
pub fn reparse(file: FileId, old_text: &str, old: &Parsed, new_text: &str) -> Option<Parsed> {
    let (p, q, delta) = changed_range(old_text, new_text);
    let k = old.ast.items.iter().position(|item| {
        let (start, end) = item_extent(item);
        start < p && q < end
    })?;
    let item = &old.ast.items[k];
    if !matches!(item, Item::Class(_) | Item::Record(_)) {
        return None;
    }
    let (start, end) = item_extent(item);
    // Old errors are fine only inside the edited declaration: that is where one is typing.
    // (File-level ones, about the `package` line, are not; nor a list cut at the limit.)
    let errors_inside = old.diagnostics.len() <= lower::MAX_SYNTAX_ERRORS
        && old.diagnostics.iter().all(|d| {
            d.code != Code::E0003
                && d.primary.file == file
                && start <= d.primary.span.start as usize
                && d.primary.span.end as usize <= end
        });
    if !errors_inside {
        return None;
    }
    let new_end = end.checked_add_signed(delta)?;
    let rest = new_text.get(start..)?;
    let (mut fresh, mut diagnostics) = lower::parse_item(file, rest, new_end - start)?;
    if diagnostics.len() > lower::MAX_SYNTAX_ERRORS {
        return None;
    }
    fresh.shift(start as isize);
    diagnostics.shift(start as isize);
    let mut items = Vec::with_capacity(old.ast.items.len());
    items.extend(old.ast.items[..k].iter().cloned());
    items.push(fresh);
    for later in &old.ast.items[k + 1..] {
        let mut later = later.clone();
        later.shift(delta);
        items.push(later);
    }
    Some(Parsed {
        ast: std::sync::Arc::new(File {
            package: old.ast.package.clone(),
            items,
            span: Span::new(0, new_text.len()),
        }),
        diagnostics,
    })
}

/// The bytes an edit changed: `old[p..q]` became `new[p..q + delta]`, where `p` is the
/// length of the common prefix and the common suffix is as long as it can be without
/// overlapping it. Both ends fall on character boundaries.
fn changed_range(old: &str, new: &str) -> (usize, usize, isize) {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(p) {
        p -= 1;
    }
    let room = a.len().min(b.len()) - p;
    let mut s = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(room)
        .take_while(|(x, y)| x == y)
        .count();
    while !old.is_char_boundary(a.len() - s) {
        s -= 1;
    }
    let delta = b.len() as isize - a.len() as isize;
    (p, a.len() - s, delta)
}

/// Where a declaration's text starts (its first doc comment line, or its first annotation or
/// keyword) and ends (after its closing `}`).
fn item_extent(item: &Item) -> (usize, usize) {
    let docs = match item {
        Item::Class(c) => c.docs.as_ref(),
        Item::Record(r) => r.docs.as_ref(),
        Item::Use(_) => None,
    };
    let span = item.span();
    let start = docs.map_or(span.start, |d| d.span.start.min(span.start));
    (start as usize, span.end as usize)
}

/// The parses of an earlier check, by path, so that the next check parses only what changed:
/// nothing for an unchanged file, one declaration for an edit inside it (see [`reparse`]).
#[derive(Debug, Default, Clone)]
pub struct ParseCache {
    by_path: HashMap<String, CachedParse>,
}

#[derive(Debug, Clone)]
struct CachedParse {
    file: FileId,
    text: String,
    parsed: Parsed,
}

/// How [`ParseCache::parse`] came by a parse, for tests and measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Same text as before: the earlier parse.
    Unchanged,
    /// One declaration parsed again.
    Incremental,
    /// The whole file parsed.
    Full,
}

impl ParseCache {
    /// The parse of `text`, the file `file` at `path`, from the cache where it can be.
    pub fn parse(&mut self, file: FileId, path: &str, text: &str) -> (Parsed, Reuse) {
        let (parsed, reuse) = self.lookup(file, path, text);
        let parsed = parsed.unwrap_or_else(|| parse(file, text));
        self.store(file, path, text, &parsed);
        (parsed, reuse)
    }

    /// The cached or incremental parse, if there is one, without parsing the whole file.
    pub(crate) fn lookup(&self, file: FileId, path: &str, text: &str) -> (Option<Parsed>, Reuse) {
        let Some(cached) = self.by_path.get(path).filter(|c| c.file == file) else {
            return (None, Reuse::Full);
        };
        if cached.text == text {
            return (Some(cached.parsed.clone()), Reuse::Unchanged);
        }
        match reparse(file, &cached.text, &cached.parsed, text) {
            Some(parsed) => (Some(parsed), Reuse::Incremental),
            None => (None, Reuse::Full),
        }
    }

    /// Remembers a parse for the next check.
    pub(crate) fn store(&mut self, file: FileId, path: &str, text: &str, parsed: &Parsed) {
        match self.by_path.get_mut(path) {
            Some(c) if c.file == file && c.text == text => {}
            _ => {
                self.by_path.insert(
                    path.to_string(),
                    CachedParse {
                        file,
                        text: text.to_string(),
                        parsed: parsed.clone(),
                    },
                );
            }
        }
    }

    /// Forgets the files whose paths `keep` refuses (closed or deleted ones).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.by_path.retain(|path, _| keep(path));
    }
}

/// Moving every span of a node by a number of bytes.
pub(crate) trait Shift {
    fn shift(&mut self, delta: isize);
}

impl Shift for Span {
    fn shift(&mut self, delta: isize) {
        let by = |x: u32| (x as i64 + delta as i64).clamp(0, u32::MAX as i64) as u32;
        self.start = by(self.start);
        self.end = by(self.end);
    }
}

impl<T: Shift> Shift for Option<T> {
    fn shift(&mut self, delta: isize) {
        if let Some(x) = self {
            x.shift(delta);
        }
    }
}

impl<T: Shift> Shift for Vec<T> {
    fn shift(&mut self, delta: isize) {
        for x in self {
            x.shift(delta);
        }
    }
}

impl<T: Shift> Shift for Box<T> {
    fn shift(&mut self, delta: isize) {
        (**self).shift(delta);
    }
}

/// `impl Shift` for structs by their span-carrying fields.
macro_rules! shift_fields {
    ($($ty:ty => $($field:ident),+;)+) => {$(
        impl Shift for $ty {
            fn shift(&mut self, delta: isize) {
                $(self.$field.shift(delta);)+
            }
        }
    )+};
}

shift_fields! {
    Ident => span;
    UseDecl => package, name, span;
    Docs => span;
    Annotation => name, args, span;
    RecordDecl => docs, annotations, name, fields, span;
    RecordField => name, ty, span;
    ClassDecl => docs, annotations, name, parent, members, span;
    Member => docs, annotations, modifiers, name, kind, span;
    StringLit => span;
    Signature => params, ret, span;
    Param => name, ty, default, span;
    TypeExpr => kind, span;
    MacroBody => stmts, span;
    Let => name, value, after, span;
    Block => stmts, span;
    Arg => name, value, span;
    Expr => kind, span;
    Tolerate => span;
}

impl Shift for Label {
    fn shift(&mut self, delta: isize) {
        self.span.shift(delta);
    }
}

impl Shift for Diagnostic {
    fn shift(&mut self, delta: isize) {
        self.primary.shift(delta);
        self.secondary.shift(delta);
        for fix in &mut self.fixes {
            for edit in &mut fix.edits {
                edit.span.shift(delta);
            }
        }
    }
}

impl Shift for Item {
    fn shift(&mut self, delta: isize) {
        match self {
            Item::Use(u) => u.shift(delta),
            Item::Record(r) => r.shift(delta),
            Item::Class(c) => c.shift(delta),
        }
    }
}

impl Shift for Modifiers {
    fn shift(&mut self, delta: isize) {
        if let Some((_, span)) = &mut self.access {
            span.shift(delta);
        }
        self.mut_.shift(delta);
        self.static_.shift(delta);
        self.override_.shift(delta);
    }
}

impl Shift for MemberKind {
    fn shift(&mut self, delta: isize) {
        match self {
            MemberKind::State { ty, default } | MemberKind::Ref { ty, default } => {
                ty.shift(delta);
                default.shift(delta);
            }
            MemberKind::File { media_type } => media_type.shift(delta),
            MemberKind::Fn(sig) => sig.shift(delta),
            MemberKind::Macro { sig, body } => {
                sig.shift(delta);
                body.shift(delta);
            }
        }
    }
}

impl Shift for TypeExprKind {
    fn shift(&mut self, delta: isize) {
        match self {
            TypeExprKind::Named(name) => name.shift(delta),
            TypeExprKind::List(inner) | TypeExprKind::Optional(inner) => inner.shift(delta),
        }
    }
}

impl Shift for Stmt {
    fn shift(&mut self, delta: isize) {
        match self {
            Stmt::Let(l) => l.shift(delta),
            Stmt::Expr { value, after, span } => {
                value.shift(delta);
                after.shift(delta);
                span.shift(delta);
            }
            Stmt::Return { value, span } => {
                value.shift(delta);
                span.shift(delta);
            }
        }
    }
}

impl Shift for ExprKind {
    fn shift(&mut self, delta: isize) {
        match self {
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Str { .. }
            | ExprKind::Bool { .. }
            | ExprKind::Null
            | ExprKind::Duration { .. }
            | ExprKind::SelfRef => {}
            ExprKind::Interp { parts } => {
                for p in parts {
                    if let InterpPart::Value(v) = p {
                        v.shift(delta);
                    }
                }
            }
            ExprKind::List { items } => items.shift(delta),
            ExprKind::Object { members } => {
                for (_, value) in members {
                    value.shift(delta);
                }
            }
            ExprKind::Name { name } => name.shift(delta),
            ExprKind::Field { target, name } => {
                target.shift(delta);
                name.shift(delta);
            }
            ExprKind::Call {
                target,
                method,
                args,
            } => {
                target.shift(delta);
                method.shift(delta);
                args.shift(delta);
            }
            ExprKind::FreeCall { func, args } => {
                func.shift(delta);
                args.shift(delta);
            }
            ExprKind::For {
                var,
                iter,
                filter,
                tolerate,
                lets,
                value,
            } => {
                var.shift(delta);
                iter.shift(delta);
                filter.shift(delta);
                tolerate.shift(delta);
                lets.shift(delta);
                value.shift(delta);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.shift(delta);
                rhs.shift(delta);
            }
            ExprKind::Unary { operand, .. } => operand.shift(delta),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                cond.shift(delta);
                then.shift(delta);
                otherwise.shift(delta);
            }
            ExprKind::Try { body, var, catch } => {
                body.shift(delta);
                var.shift(delta);
                catch.shift(delta);
            }
        }
    }
}

#[cfg(test)]
mod tests;
