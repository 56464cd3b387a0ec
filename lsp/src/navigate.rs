//! Hover, go to definition, find references, document highlights and rename.

use crate::convert;
use crate::describe;
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::check::model::Loc;
use oaas_compiler::check::types::Ty;
use oaas_compiler::check::Symbol;
use oaas_compiler::{FileId, Workspace};
use std::collections::{HashMap, HashSet};

/// Hover: what the name under the cursor is, else the type of the expression there.
pub fn hover(snap: &Snapshot, params: &lsp::HoverParams) -> Option<lsp::Hover> {
    let (file, offset) = snap.offset(&params.text_document_position_params)?;
    let (value, span) = match snap.index.at(file, offset) {
        Some((loc, symbol)) => (describe::hover(snap, symbol)?, loc.span),
        None if annotation_at(snap, file, offset).is_some() => {
            let (name, span) = annotation_at(snap, file, offset)?;
            let about = oaas_compiler::check::annotations::known()
                .find(|(n, _)| *n == name)
                .map_or("not an annotation the language knows", |(_, about)| about);
            (format!("```oaas\n@{name}\n```\n\n{about}"), span)
        }
        None => {
            let ((_, span), ty) = snap
                .analysis
                .expr_types
                .iter()
                .filter(|((f, s), t)| {
                    *f == file && s.touches(offset) && !matches!(t, Ty::Unknown | Ty::Unit)
                })
                .min_by_key(|((_, s), _)| (s.end - s.start, s.start))?;
            let model = &snap.analysis.model;
            (format!("```oaas\n{}\n```", ty.display(model)), *span)
        }
    };
    Some(lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value,
        }),
        range: Some(convert::range(snap.source(file), span)),
    })
}

/// The name of the annotation under the cursor (`@timeout`), with its span.
fn annotation_at(
    snap: &Snapshot,
    file: FileId,
    offset: usize,
) -> Option<(String, oaas_compiler::Span)> {
    let tree = snap.ast(file)?;
    let mut all: Vec<&oaas_compiler::syntax::ast::Annotation> = Vec::new();
    for item in &tree.items {
        match item {
            oaas_compiler::syntax::ast::Item::Record(r) => all.extend(&r.annotations),
            oaas_compiler::syntax::ast::Item::Class(c) => {
                all.extend(&c.annotations);
                for m in &c.members {
                    all.extend(&m.annotations);
                }
            }
            oaas_compiler::syntax::ast::Item::Use(_) => {}
        }
    }
    all.into_iter()
        .find(|a| a.name.span.touches(offset) || a.span.start as usize == offset)
        .map(|a| (a.name.name.clone(), a.name.span))
}

/// Go to definition: where the name under the cursor is declared (the standard library
/// included).
pub fn definition(
    snap: &Snapshot,
    params: &lsp::GotoDefinitionParams,
) -> Option<lsp::GotoDefinitionResponse> {
    let (file, offset) = snap.offset(&params.text_document_position_params)?;
    let (_, symbol) = snap.index.at(file, offset)?;
    let loc = snap.declaration(symbol)?;
    Some(lsp::GotoDefinitionResponse::Scalar(snap.location(loc)?))
}

/// Find references: every place naming the symbol under the cursor.
pub fn references(snap: &Snapshot, params: &lsp::ReferenceParams) -> Option<Vec<lsp::Location>> {
    let (file, offset) = snap.offset(&params.text_document_position)?;
    let (_, symbol) = snap.index.at(file, offset)?;
    let declaration = snap.declaration(symbol);
    let places = snap.index.places(&HashSet::from([symbol]));
    Some(
        places
            .into_iter()
            .filter(|l| params.context.include_declaration || Some(*l) != declaration)
            .filter_map(|l| snap.location(l))
            .collect(),
    )
}

/// Highlights of the symbol under the cursor in its file.
pub fn highlights(
    snap: &Snapshot,
    params: &lsp::DocumentHighlightParams,
) -> Option<Vec<lsp::DocumentHighlight>> {
    let (file, offset) = snap.offset(&params.text_document_position_params)?;
    let (_, symbol) = snap.index.at(file, offset)?;
    let declaration = snap.declaration(symbol);
    Some(
        snap.index
            .places(&HashSet::from([symbol]))
            .into_iter()
            .filter(|l| l.file == file)
            .map(|l| lsp::DocumentHighlight {
                range: convert::range(snap.source(file), l.span),
                kind: Some(if Some(l) == declaration {
                    lsp::DocumentHighlightKind::WRITE
                } else {
                    lsp::DocumentHighlightKind::READ
                }),
            })
            .collect(),
    )
}

const KEYWORDS: &[&str] = &[
    "package", "use", "record", "class", "extends", "state", "file", "ref", "fn", "macro", "let",
    "return", "for", "in", "public", "internal", "private", "mut", "static", "override", "true",
    "false", "null", "self",
];

/// The symbols a rename of `symbol` must change together: an overridden member with its
/// overrides, a parameter with the same parameter of the overrides.
fn rename_set(snap: &Snapshot, symbol: Symbol) -> HashSet<Symbol> {
    let model = &snap.analysis.model;
    match symbol {
        Symbol::Member(m) => snap
            .override_family(m)
            .into_iter()
            .map(Symbol::Member)
            .collect(),
        Symbol::Param(m, i) => {
            let Some(name) = model
                .member(m)
                .signature()
                .and_then(|s| s.params.get(i as usize))
                .map(|p| p.name.clone())
            else {
                return HashSet::from([symbol]);
            };
            snap.override_family(m)
                .into_iter()
                .filter_map(|o| {
                    let j = model
                        .member(o)
                        .signature()?
                        .params
                        .iter()
                        .position(|p| p.name == name)?;
                    Some(Symbol::Param(o, j as u32))
                })
                .chain([symbol])
                .collect()
        }
        other => HashSet::from([other]),
    }
}

/// Why the symbol under the cursor cannot be renamed, if it cannot.
fn renamable(snap: &Snapshot, symbol: Symbol) -> Result<(), String> {
    let set = rename_set(snap, symbol);
    let in_stdlib = set
        .iter()
        .filter_map(|s| snap.declaration(*s))
        .any(|l| l.file == FileId(0));
    if in_stdlib {
        return Err("this is declared in the standard library, which cannot be renamed".into());
    }
    Ok(())
}

/// Prepare rename: the range of the name and whether it can be renamed.
pub fn prepare_rename(
    snap: &Snapshot,
    params: &lsp::TextDocumentPositionParams,
) -> Result<Option<lsp::PrepareRenameResponse>, String> {
    let Some((file, offset)) = snap.offset(params) else {
        return Ok(None);
    };
    let Some((loc, symbol)) = snap.index.at(file, offset) else {
        return Ok(None);
    };
    renamable(snap, symbol)?;
    Ok(Some(lsp::PrepareRenameResponse::RangeWithPlaceholder {
        range: convert::range(snap.source(file), loc.span),
        placeholder: snap.source(file).slice(loc.span).to_string(),
    }))
}

/// A new name must be a word (letters, digits and `_`, not starting with a digit), and not a
/// keyword unless it names a member or a record field (which may be).
fn valid_new_name(symbol: Symbol, new_name: &str) -> Result<(), String> {
    let is_word = new_name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_word {
        return Err(format!(
            "`{new_name}` is not a name: use letters, digits and `_`"
        ));
    }
    let keyword_ok = matches!(symbol, Symbol::Member(_) | Symbol::RecordField(..));
    if !keyword_ok && KEYWORDS.contains(&new_name) {
        return Err(format!("`{new_name}` is a keyword"));
    }
    Ok(())
}

/// Tries the rename on a copy of the workspace; an error naming the first new error when
/// the copy has more errors than the workspace has now.
fn no_new_errors(
    snap: &Snapshot,
    by_file: &HashMap<FileId, Vec<Loc>>,
    new_name: &str,
) -> Result<(), String> {
    let mut trial = Workspace::new();
    for (id, source) in snap.workspace.sources.iter().skip(1) {
        let mut text = source.text.clone();
        if let Some(locs) = by_file.get(&id) {
            let mut spans: Vec<_> = locs.iter().map(|l| l.span).collect();
            spans.sort();
            spans.dedup();
            for span in spans.iter().rev() {
                if text.get(span.range()).is_some() {
                    text.replace_range(span.range(), new_name);
                }
            }
        }
        trial.add_file(source.path.clone(), text);
    }
    let after = trial.check();
    if after.error_count() <= snap.analysis.error_count() {
        return Ok(());
    }
    let before: HashSet<(oaas_compiler::Code, String)> = snap
        .analysis
        .diagnostics
        .iter()
        .map(|d| (d.code, d.message.clone()))
        .collect();
    let new = after
        .diagnostics
        .iter()
        .find(|d| d.is_error() && !before.contains(&(d.code, d.message.clone())))
        .or_else(|| after.diagnostics.iter().find(|d| d.is_error()));
    let why = new
        .map(|d| format!(": {} ({})", d.message, d.code))
        .unwrap_or_default();
    Err(format!("renaming to `{new_name}` would cause errors{why}"))
}

/// Rename: every place naming the symbol (and what must change with it), refused when the
/// new name is not a name, the symbol is the standard library's, or the renamed workspace
/// would have more errors than now.
#[allow(clippy::mutable_key_type)] // `WorkspaceEdit::changes` is keyed by `Uri`
pub fn rename(
    snap: &Snapshot,
    params: &lsp::RenameParams,
) -> Result<Option<lsp::WorkspaceEdit>, String> {
    let Some((file, offset)) = snap.offset(&params.text_document_position) else {
        return Ok(None);
    };
    let Some((_, symbol)) = snap.index.at(file, offset) else {
        return Ok(None);
    };
    renamable(snap, symbol)?;
    let new_name = params.new_name.trim();
    valid_new_name(symbol, new_name)?;
    let places = snap.index.places(&rename_set(snap, symbol));
    let mut by_file: HashMap<FileId, Vec<Loc>> = HashMap::new();
    for loc in places {
        by_file.entry(loc.file).or_default().push(loc);
    }
    no_new_errors(snap, &by_file, new_name)?;
    let mut changes: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
    for (id, locs) in by_file {
        let Some(uri) = snap.uri(id) else { continue };
        let source = snap.source(id);
        let mut edits: Vec<lsp::TextEdit> = locs
            .iter()
            .map(|l| lsp::TextEdit {
                range: convert::range(source, l.span),
                new_text: new_name.to_string(),
            })
            .collect();
        edits.sort_by_key(|e| (e.range.start.line, e.range.start.character));
        edits.dedup();
        changes.insert(uri, edits);
    }
    Ok(Some(lsp::WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }))
}
