//! The types of the language and the rules for using one where another is expected.

use super::model::{ClassId, Model, RecordId};
use crate::span::Span;
use crate::syntax::ast;

/// A type, after names are resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `string`
    String,
    /// `json`: any JSON value.
    Json,
    /// A duration literal such as `30s` (annotations only).
    Duration,
    /// `[T]`
    List(Box<Ty>),
    /// `T?`
    Optional(Box<Ty>),
    /// A record value.
    Record(RecordId),
    /// What a `for ... tolerate` gives, for elements of type `T`: `.ok` (`[T]`, the
    /// successes in order) and `.failed` (`[std.ElementFailure]`).
    Tolerated(Box<Ty>),
    /// An object of this class or a subclass.
    Class(ClassId),
    /// `Self`: the class a member is looked up on.
    SelfTy,
    /// A class used as a call target (`Detection.merge(...)`): not a value.
    ClassRef(ClassId),
    /// What a call without a result gives: not a value.
    Unit,
    /// Unknown after an earlier error, or not yet known (`[]`, `null`): fits everywhere, so one
    /// mistake is reported once.
    Unknown,
}

impl Ty {
    /// `T?` unless already optional.
    pub fn optional(self) -> Ty {
        match self {
            Ty::Optional(_) => self,
            other => Ty::Optional(Box::new(other)),
        }
    }

    /// Replaces `Self` with a class.
    pub fn subst_self(&self, class: ClassId) -> Ty {
        match self {
            Ty::SelfTy => Ty::Class(class),
            Ty::List(t) => Ty::List(Box::new(t.subst_self(class))),
            Ty::Optional(t) => Ty::Optional(Box::new(t.subst_self(class))),
            Ty::Tolerated(t) => Ty::Tolerated(Box::new(t.subst_self(class))),
            other => other.clone(),
        }
    }

    /// Whether values of this type name objects (a class or a list of them).
    pub fn is_object(&self) -> bool {
        matches!(self, Ty::Class(_) | Ty::SelfTy)
    }

    /// Whether this is (an optional of) a list.
    pub fn list_element(&self) -> Option<&Ty> {
        match self {
            Ty::List(t) => Some(t),
            _ => None,
        }
    }

    /// Renders the type as written in source.
    pub fn display(&self, model: &Model) -> String {
        match self {
            Ty::Int => "int".into(),
            Ty::Float => "float".into(),
            Ty::Bool => "bool".into(),
            Ty::String => "string".into(),
            Ty::Json => "json".into(),
            Ty::Duration => "duration".into(),
            Ty::List(t) => format!("[{}]", t.display(model)),
            Ty::Optional(t) => format!("{}?", t.display(model)),
            Ty::Record(r) => model.record(*r).name.clone(),
            Ty::Tolerated(t) => format!("Tolerated<{}>", t.display(model)),
            Ty::Class(c) => model.class(*c).name.clone(),
            Ty::SelfTy => "Self".into(),
            Ty::ClassRef(c) => format!("class {}", model.class(*c).name),
            Ty::Unit => "no value".into(),
            Ty::Unknown => "_".into(),
        }
    }
}

/// Whether a value of type `from` may be used where `to` is expected.
pub fn assignable(model: &Model, from: &Ty, to: &Ty) -> bool {
    match (from, to) {
        (Ty::Unknown, _) | (_, Ty::Unknown) => true,
        (a, b) if a == b => true,
        (Ty::Int, Ty::Float) => true,
        (Ty::Class(a), Ty::Class(b)) => model.is_subclass(*a, *b),
        (Ty::Optional(a), Ty::Optional(b)) => assignable(model, a, b),
        (a, Ty::Optional(b)) => assignable(model, a, b),
        (Ty::List(a), Ty::List(b)) | (Ty::Tolerated(a), Ty::Tolerated(b)) => {
            assignable(model, a, b)
        }
        (Ty::Json, _) | (_, Ty::Json) => is_json(from) && is_json(to),
        _ => false,
    }
}

/// Whether a type's values are plain JSON (no objects, no special values).
pub fn is_json(ty: &Ty) -> bool {
    match ty {
        Ty::Int | Ty::Float | Ty::Bool | Ty::String | Ty::Json | Ty::Record(_) | Ty::Unknown => {
            true
        }
        Ty::List(t) | Ty::Optional(t) | Ty::Tolerated(t) => is_json(t),
        _ => false,
    }
}

/// The common type of two list elements, if they have one.
pub fn join(model: &Model, a: &Ty, b: &Ty) -> Option<Ty> {
    if assignable(model, b, a) && !matches!(a, Ty::Unknown) {
        return Some(a.clone());
    }
    if assignable(model, a, b) {
        return Some(b.clone());
    }
    if let (Ty::Class(x), Ty::Class(y)) = (a, b) {
        return model.common_ancestor(*x, *y).map(Ty::Class);
    }
    None
}

/// Checks a literal written where `expected` is wanted, looking inside `{...}` objects and
/// `[...]` lists so that a record literal is held to its record's fields. `leaf` gives the type
/// of any other expression. Returns where the first problem is and what it is.
pub fn literal_problem(
    model: &Model,
    expr: &ast::Expr,
    expected: &Ty,
    leaf: &dyn Fn(&ast::Expr) -> Ty,
) -> Option<(Span, String)> {
    literal_in(model, expr, expected, leaf, None)
}

/// [`literal_problem`], knowing the record field the literal is written for, if any.
fn literal_in(
    model: &Model,
    expr: &ast::Expr,
    expected: &Ty,
    leaf: &dyn Fn(&ast::Expr) -> Ty,
    field: Option<(&str, &str)>,
) -> Option<(Span, String)> {
    match (&expr.kind, expected) {
        (_, Ty::Unknown) => None,
        (ast::ExprKind::Null, Ty::Optional(_)) => None,
        (_, Ty::Optional(inner)) => literal_in(model, expr, inner, leaf, field),
        (ast::ExprKind::List { items }, Ty::List(elem)) => items
            .iter()
            .find_map(|item| literal_in(model, item, elem, leaf, None)),
        (ast::ExprKind::Object { members }, Ty::Record(r)) => {
            let record = model.record(*r);
            for (key, value) in members {
                let Some(f) = record.fields.iter().find(|f| f.name == *key) else {
                    return Some((
                        value.span,
                        format!("record `{}` has no field `{key}`", record.name),
                    ));
                };
                let problem = literal_in(model, value, &f.ty, leaf, Some((&record.name, key)));
                if problem.is_some() {
                    return problem;
                }
            }
            record
                .fields
                .iter()
                .find(|f| {
                    !matches!(f.ty, Ty::Optional(_) | Ty::Json)
                        && !members.iter().any(|(k, _)| *k == f.name)
                })
                .map(|f| {
                    (
                        expr.span,
                        format!(
                            "record `{}` needs its field `{}: {}`",
                            record.name,
                            f.name,
                            f.ty.display(model)
                        ),
                    )
                })
        }
        _ => {
            let found = leaf(expr);
            if assignable(model, &found, expected) {
                return None;
            }
            let (want, got) = (expected.display(model), found.display(model));
            Some((
                expr.span,
                match field {
                    Some((record, name)) => format!(
                        "field `{name}` of record `{record}` is `{want}`, but this is `{got}`"
                    ),
                    None => format!("expected `{want}`, but this is `{got}`"),
                },
            ))
        }
    }
}
