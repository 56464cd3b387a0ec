//! Signature help: inside the parentheses of a call, the called function's parameters with
//! the one being written marked (by position, or by name for `name: value`).

use crate::complete::{open_call, patched};
use crate::describe::default_text;
use crate::index::walk_exprs;
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::check::model::{MemberId, MemberKind};
use oaas_compiler::syntax::ast;
use oaas_compiler::{Analysis, FileId};

/// One parameter as shown: its text (`segment_s: int = 10`) and name.
struct Shown {
    text: String,
    name: String,
}

/// `textDocument/signatureHelp`.
pub fn signature_help(
    snap: &Snapshot,
    params: &lsp::SignatureHelpParams,
) -> Option<lsp::SignatureHelp> {
    let (file, offset) = snap.offset(&params.text_document_position_params)?;
    let text = &snap.source(file).text;
    let offset = oaas_compiler::span::floor_char_boundary(text, offset);
    let name_end = open_call(text, offset)?;
    let open = name_end + text.get(name_end..)?.find('(')?;
    let (name, shown, docs) = match called(snap, &snap.analysis, file, name_end) {
        Some(found) => found,
        None => called(snap, &patched(snap, file, offset, ")"), file, name_end)?,
    };
    let (position, named) = current_argument(text.get(open + 1..offset)?);
    let active = match named {
        Some(n) => shown.iter().position(|p| p.name == n),
        None => Some(position).filter(|p| *p < shown.len()),
    };
    let mut label = format!("{name}(");
    let mut parameters = Vec::new();
    for (i, p) in shown.iter().enumerate() {
        if i > 0 {
            label.push_str(", ");
        }
        let start = label.encode_utf16().count() as u32;
        label.push_str(&p.text);
        let end = label.encode_utf16().count() as u32;
        parameters.push(lsp::ParameterInformation {
            label: lsp::ParameterLabel::LabelOffsets([start, end]),
            documentation: None,
        });
    }
    label.push(')');
    if let Some(ret) = docs.as_ref().and_then(|(_, r)| r.as_ref()) {
        label.push_str(&format!(" -> {ret}"));
    }
    let documentation = docs.and_then(|(d, _)| d).map(|d| {
        lsp::Documentation::MarkupContent(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: d,
        })
    });
    Some(lsp::SignatureHelp {
        signatures: vec![lsp::SignatureInformation {
            label,
            documentation,
            parameters: Some(parameters),
            active_parameter: active.map(|a| a as u32),
        }],
        active_signature: Some(0),
        active_parameter: active.map(|a| a as u32),
    })
}

/// Docs and result type of the called function.
type About = (Option<String>, Option<String>);

/// The call whose name ends at `name_end`: its name, parameters, docs and result.
fn called(
    snap: &Snapshot,
    analysis: &Analysis,
    file: FileId,
    name_end: usize,
) -> Option<(String, Vec<Shown>, Option<About>)> {
    let tree = analysis.file(file)?;
    let mut found: Option<&ast::Expr> = None;
    walk_exprs(tree, &mut |e| {
        let end = match &e.kind {
            ast::ExprKind::Call { method, .. } => method.span.end,
            ast::ExprKind::FreeCall { func, .. } => func.span.end,
            _ => return,
        };
        if end as usize == name_end {
            found = Some(e);
        }
    });
    let call = found?;
    if let ast::ExprKind::FreeCall { func, .. } = &call.kind {
        let shown = vec![Shown {
            text: "lists: [[T]]".into(),
            name: "lists".into(),
        }];
        let about = (
            Some(crate::builtins::FLATTEN_DOCS.to_string()),
            Some("[T]".to_string()),
        );
        return (func.name == "flatten").then(|| ("flatten".to_string(), shown, Some(about)));
    }
    let resolved = analysis.calls.get(&(file, call.span))?;
    let model = &analysis.model;
    let member = model.member(resolved.member);
    if resolved.is_new {
        // `new` takes the state fields and refs, by name.
        let shown = resolved
            .bindings
            .iter()
            .map(|(name, _)| {
                let ty =
                    model
                        .lookup(resolved.class, name)
                        .and_then(|m| match &model.member(m).kind {
                            MemberKind::State { ty, .. } | MemberKind::Ref { ty } => {
                                Some(ty.display(model))
                            }
                            _ => None,
                        });
                Shown {
                    text: ty.map_or_else(|| name.clone(), |t| format!("{name}: {t}")),
                    name: name.clone(),
                }
            })
            .collect();
        let class = model.class(resolved.class);
        return Some((
            format!("{}.new", class.name),
            shown,
            Some((None, Some(class.name.clone()))),
        ));
    }
    let sig = member.signature()?;
    let shown = sig
        .params
        .iter()
        .map(|p| Shown {
            text: param_text(snap, resolved.member, p),
            name: p.name.clone(),
        })
        .collect();
    let about = (
        member.docs.clone(),
        sig.ret.as_ref().map(|r| r.display(model)),
    );
    Some((member.name.clone(), shown, Some(about)))
}

/// `name: type = default`, the default as written at the declaration.
fn param_text(snap: &Snapshot, member: MemberId, p: &oaas_compiler::check::model::Param) -> String {
    let model = &snap.analysis.model;
    let mut text = format!("{}: {}", p.name, p.ty.display(model));
    let written = snap
        .analysis
        .member_ast(member)
        .and_then(|m| m.kind.signature())
        .and_then(|s| s.params.iter().find(|x| x.name.name == p.name))
        .and_then(|x| x.default.as_ref());
    if let Some(d) = written {
        text.push_str(" = ");
        text.push_str(&default_text(snap, model.member(member).loc.file, d));
    }
    text
}

/// Which argument the text after `(` ends in: its position (commas at depth 0 before it)
/// and its name when it starts with `name:`.
fn current_argument(args: &str) -> (usize, Option<String>) {
    let mut depth = 0i32;
    let mut position = 0;
    let mut current_start = 0;
    let mut in_string = false;
    let bytes = args.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_string = !in_string,
            (false, b'(' | b'[' | b'{') => depth += 1,
            (false, b')' | b']' | b'}') => depth -= 1,
            (false, b',') if depth == 0 => {
                position += 1;
                current_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let current = args.get(current_start..).unwrap_or("").trim_start();
    let word: String = current
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let named =
        (!word.is_empty() && current[word.len()..].trim_start().starts_with(':')).then_some(word);
    (position, named)
}

#[cfg(test)]
mod tests {
    use super::current_argument;

    #[test]
    fn the_current_argument_is_found_by_commas_and_names() {
        assert_eq!(current_argument(""), (0, None));
        assert_eq!(current_argument("1, "), (1, None));
        assert_eq!(current_argument("f(1, 2), [3, 4], "), (2, None));
        assert_eq!(
            current_argument("a: 1, every_s: 3"),
            (1, Some("every_s".into()))
        );
        assert_eq!(current_argument("\"a, b\", x"), (1, None));
    }
}
