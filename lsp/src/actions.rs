//! Code actions: the fixes the compiler attached to its diagnostics
//! ([`oaas_compiler::Fix`]), offered as quick fixes where the cursor or selection touches the
//! diagnostic. The compiler decides what the fix is; this module only converts it.

use crate::convert;
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::{Diagnostic, Fix};
use std::collections::HashMap;

/// `textDocument/codeAction`.
pub fn code_actions(
    snap: &Snapshot,
    params: &lsp::CodeActionParams,
) -> Option<Vec<lsp::CodeActionOrCommand>> {
    let wants_quickfix = params.context.only.as_ref().is_none_or(|only| {
        only.iter().any(|k| {
            k == &lsp::CodeActionKind::QUICKFIX
                || lsp::CodeActionKind::QUICKFIX
                    .as_str()
                    .starts_with(k.as_str())
        })
    });
    if !wants_quickfix {
        return Some(Vec::new());
    }
    let file = snap.file_id(&params.text_document.uri)?;
    let source = snap.source(file);
    let from = convert::offset(source, params.range.start);
    let to = convert::offset(source, params.range.end);
    let mut actions = Vec::new();
    for d in &snap.analysis.diagnostics {
        let span = d.primary.span;
        let touches = span.start as usize <= to && from <= span.end as usize;
        if d.primary.file != file || !touches {
            continue;
        }
        let shown = params
            .context
            .diagnostics
            .iter()
            .find(|c| same(snap, d, c))
            .cloned();
        for fix in &d.fixes {
            if let Some(action) = action(snap, fix, shown.clone()) {
                actions.push(lsp::CodeActionOrCommand::CodeAction(action));
            }
        }
    }
    Some(actions)
}

/// Whether a diagnostic the client sent back is this compiler diagnostic.
fn same(snap: &Snapshot, d: &Diagnostic, shown: &lsp::Diagnostic) -> bool {
    let code = matches!(&shown.code, Some(lsp::NumberOrString::String(c)) if c == d.code.as_str());
    code && shown.range == convert::range(snap.source(d.primary.file), d.primary.span)
}

#[allow(clippy::mutable_key_type)] // `WorkspaceEdit::changes` is keyed by `Uri`
fn action(snap: &Snapshot, fix: &Fix, shown: Option<lsp::Diagnostic>) -> Option<lsp::CodeAction> {
    let mut changes: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
    for edit in &fix.edits {
        changes
            .entry(snap.uri(edit.file)?)
            .or_default()
            .push(lsp::TextEdit {
                range: convert::range(snap.source(edit.file), edit.span),
                new_text: edit.text.clone(),
            });
    }
    Some(lsp::CodeAction {
        title: fix.title.clone(),
        kind: Some(lsp::CodeActionKind::QUICKFIX),
        diagnostics: shown.map(|d| vec![d]),
        edit: Some(lsp::WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }),
        is_preferred: fix.preferred.then_some(true),
        ..Default::default()
    })
}
