//! Document symbols (the outline), workspace symbols and inlay hints.

use crate::convert;
use crate::describe;
use crate::index::{lets, walk_exprs};
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::check::model::{Loc, MemberId, MemberKind, RecordId};
use oaas_compiler::check::types::Ty;
use oaas_compiler::syntax::ast;
use oaas_compiler::FileId;

fn member_kind(kind: &MemberKind) -> lsp::SymbolKind {
    match kind {
        MemberKind::State { .. } => lsp::SymbolKind::FIELD,
        MemberKind::File { .. } => lsp::SymbolKind::FILE,
        MemberKind::Ref { .. } => lsp::SymbolKind::PROPERTY,
        MemberKind::Fn(_) => lsp::SymbolKind::METHOD,
        MemberKind::Macro(_) => lsp::SymbolKind::FUNCTION,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out.
fn symbol(
    name: String,
    detail: Option<String>,
    kind: lsp::SymbolKind,
    range: lsp::Range,
    selection_range: lsp::Range,
    children: Option<Vec<lsp::DocumentSymbol>>,
) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range,
        children,
    }
}

/// The outline of one file: records with their fields, classes with their members.
pub fn document_symbols(snap: &Snapshot, file: FileId) -> Option<Vec<lsp::DocumentSymbol>> {
    let tree = snap.ast(file)?;
    let out = tree
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Use(_) => None,
            ast::Item::Record(r) => Some(record_symbol(snap, file, r)),
            ast::Item::Class(c) => Some(class_symbol(snap, file, c)),
        })
        .collect();
    Some(out)
}

/// A record with its fields.
fn record_symbol(snap: &Snapshot, file: FileId, r: &ast::RecordDecl) -> lsp::DocumentSymbol {
    let source = snap.source(file);
    let at = Loc {
        file,
        span: r.name.span,
    };
    let id = snap
        .analysis
        .model
        .records
        .iter()
        .position(|x| x.loc == at)
        .map(|i| RecordId(i as u32));
    let fields = r
        .fields
        .iter()
        .map(|f| {
            symbol(
                f.name.name.clone(),
                Some(snap.text_of(file, f.ty.span)),
                lsp::SymbolKind::FIELD,
                convert::range(source, f.span),
                convert::range(source, f.name.span),
                None,
            )
        })
        .collect();
    symbol(
        r.name.name.clone(),
        id.map(|id| describe::record_signature(snap, id)),
        lsp::SymbolKind::STRUCT,
        convert::range(source, r.span),
        convert::range(source, r.name.span),
        Some(fields),
    )
}

/// A class with its members, each with its signature and the kind of symbol it is.
fn class_symbol(snap: &Snapshot, file: FileId, c: &ast::ClassDecl) -> lsp::DocumentSymbol {
    let source = snap.source(file);
    let model = &snap.analysis.model;
    let members = c
        .members
        .iter()
        .map(|m| {
            let at = Loc {
                file,
                span: m.name.span,
            };
            let id = model
                .members
                .iter()
                .position(|x| x.loc == at)
                .map(|i| MemberId(i as u32));
            let kind = id
                .map(|id| member_kind(&model.member(id).kind))
                .unwrap_or(lsp::SymbolKind::FIELD);
            symbol(
                m.name.name.clone(),
                id.map(|id| describe::member_signature(snap, id)),
                kind,
                convert::range(source, m.span),
                convert::range(source, m.name.span),
                None,
            )
        })
        .collect();
    symbol(
        c.name.name.clone(),
        c.parent.as_ref().map(|p| format!("extends {}", p.name)),
        lsp::SymbolKind::CLASS,
        convert::range(source, c.span),
        convert::range(source, c.name.span),
        Some(members),
    )
}

/// Whether every character of `query` appears in `name` in order, ignoring case.
fn matches(query: &str, name: &str) -> bool {
    let mut chars = name.chars().flat_map(char::to_lowercase);
    query
        .chars()
        .flat_map(char::to_lowercase)
        .all(|q| chars.any(|c| c == q))
}

/// Classes, records and members of the whole workspace whose names match a query.
#[allow(deprecated)] // `SymbolInformation::deprecated` must be written out.
pub fn workspace_symbols(snap: &Snapshot, query: &str) -> Vec<lsp::SymbolInformation> {
    let model = &snap.analysis.model;
    let mut out = Vec::new();
    let mut push = |name: &str, kind, loc: Loc, container: Option<String>| {
        if !matches(query, name) {
            return;
        }
        if let Some(location) = snap.location(loc) {
            out.push(lsp::SymbolInformation {
                name: name.to_string(),
                kind,
                tags: None,
                deprecated: None,
                location,
                container_name: container,
            });
        }
    };
    for c in &model.classes {
        push(
            &c.name,
            lsp::SymbolKind::CLASS,
            c.decl,
            Some(model.package(c.package).name.clone()),
        );
    }
    for r in &model.records {
        push(
            &r.name,
            lsp::SymbolKind::STRUCT,
            r.loc,
            Some(model.package(r.package).name.clone()),
        );
    }
    for m in &model.members {
        let owner: &oaas_compiler::check::model::Class = model.class(m.owner);
        push(
            &m.name,
            member_kind(&m.kind),
            m.decl,
            Some(owner.name.clone()),
        );
    }
    out
}

/// `: Type` after each `let` name and loop variable in a range of a file.
pub fn inlay_hints(snap: &Snapshot, file: FileId, range: lsp::Range) -> Vec<lsp::InlayHint> {
    let Some(tree) = snap.ast(file) else {
        return Vec::new();
    };
    let source = snap.source(file);
    let (from, to) = (
        convert::offset(source, range.start),
        convert::offset(source, range.end),
    );
    let model = &snap.analysis.model;
    let mut names: Vec<ast::Ident> = lets(tree).into_iter().map(|l| l.name.clone()).collect();
    walk_exprs(tree, &mut |e| {
        if let ast::ExprKind::For { var, .. } = &e.kind {
            names.push(var.clone());
        }
    });
    names.sort_by_key(|n| n.span.start);
    names
        .into_iter()
        .filter(|n| (n.span.end as usize) >= from && (n.span.start as usize) <= to)
        .filter_map(|n| {
            let ty = snap.index.local_types.get(&Loc { file, span: n.span })?;
            if matches!(ty, Ty::Unknown | Ty::Unit) {
                return None;
            }
            Some(lsp::InlayHint {
                position: convert::position(source, n.span.end as usize),
                label: lsp::InlayHintLabel::String(format!(": {}", ty.display(model))),
                kind: Some(lsp::InlayHintKind::TYPE),
                text_edits: None,
                tooltip: None,
                padding_left: None,
                padding_right: None,
                data: None,
            })
        })
        .collect()
}
