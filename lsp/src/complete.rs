//! Completion: members after `.` (only those the current class and package may use),
//! annotation names after `@`, named arguments inside a call, and otherwise the names,
//! types and keywords that fit where the cursor is.
//!
//! The line being typed is often not valid yet (`let x = self.`), so when the analysis has
//! nothing for it, the text is checked again with a placeholder name at the cursor.

use crate::convert;
use crate::describe;
use crate::index::walk_exprs;
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::check::annotations;
use oaas_compiler::check::model::{ClassId, MemberId, MemberKind};
use oaas_compiler::check::types::Ty;
use oaas_compiler::syntax::ast;
use oaas_compiler::{Analysis, FileId, Span};

const PLACEHOLDER: &str = "oaas_completion_placeholder";

const TYPES: &[&str] = &["int", "float", "bool", "string", "json", "Self"];
const TOP_KEYWORDS: &[&str] = &["package", "use", "record", "class", "extends"];
const MEMBER_KEYWORDS: &[&str] = &[
    "public", "internal", "private", "mut", "static", "override", "state", "file", "ref", "fn",
    "macro",
];
const BODY_KEYWORDS: &[&str] = &[
    "let", "return", "for", "in", "self", "true", "false", "null",
];

/// Completion items at a position; `snippets` when the client takes snippets (calls are then
/// completed with their required arguments as placeholders).
pub fn completion(
    snap: &Snapshot,
    params: &lsp::CompletionParams,
    snippets: bool,
) -> Option<lsp::CompletionResponse> {
    let (file, offset) = snap.offset(&params.text_document_position)?;
    let text = &snap.source(file).text;
    let offset = oaas_compiler::span::floor_char_boundary(text, offset);
    let before = text.get(..offset)?;
    if in_comment_or_string(before) {
        return Some(lsp::CompletionResponse::Array(Vec::new()));
    }
    let prefix = before
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let word_start = offset - prefix;
    let items = match text.get(..word_start)?.chars().next_back() {
        Some('@') => annotation_items(),
        Some('.') => member_items(snap, file, word_start - 1, offset, prefix == 0),
        _ => {
            let mut items = named_arg_items(snap, file, word_start, offset, prefix == 0);
            items.extend(general_items(snap, file, offset));
            items
        }
    };
    let range = convert::range(snap.source(file), Span::new(word_start, offset));
    let items = items
        .into_iter()
        .map(|item| with_text_edit(item, range, snippets))
        .collect();
    Some(lsp::CompletionResponse::List(lsp::CompletionList {
        is_incomplete: false,
        items,
    }))
}

/// Makes an item replace the word being typed (`range`) by its text, a snippet only if the
/// client takes them.
fn with_text_edit(
    mut item: lsp::CompletionItem,
    range: lsp::Range,
    snippets: bool,
) -> lsp::CompletionItem {
    let is_snippet = item.insert_text_format == Some(lsp::InsertTextFormat::SNIPPET);
    if is_snippet && !snippets {
        item.insert_text = None;
        item.insert_text_format = None;
    }
    let new_text = item
        .insert_text
        .take()
        .unwrap_or_else(|| item.label.clone());
    item.text_edit = Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit {
        range,
        new_text,
    }));
    item
}

/// Whether the end of `before` is inside a `//` comment or a string literal on its line.
fn in_comment_or_string(before: &str) -> bool {
    let line = before.rsplit('\n').next().unwrap_or("");
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_string = !in_string,
            (false, b'/') if bytes.get(i + 1) == Some(&b'/') => return true,
            _ => {}
        }
        i += 1;
    }
    in_string
}

fn annotation_items() -> Vec<lsp::CompletionItem> {
    annotations::known()
        .map(|(name, about)| lsp::CompletionItem {
            label: name.to_string(),
            kind: Some(lsp::CompletionItemKind::PROPERTY),
            detail: Some(format!("@{name}: {about}")),
            ..Default::default()
        })
        .collect()
}

/// The analysis of the text with `insert` put at `at` in one file.
pub(crate) fn patched(snap: &Snapshot, file: FileId, at: usize, insert: &str) -> Analysis {
    let mut workspace = snap.workspace.clone();
    let mut text = snap.source(file).text.clone();
    text.insert_str(at.min(text.len()), insert);
    workspace.sources.set_text(file, text);
    // One declaration of one file changed: parse only that.
    workspace.check_reusing(&snap.parses)
}

/// The type of the expression ending at `end` (the widest one), per an analysis.
fn type_ending_at(analysis: &Analysis, file: FileId, end: usize) -> Option<Ty> {
    analysis
        .expr_types
        .iter()
        .filter(|((f, s), t)| *f == file && s.end as usize == end && **t != Ty::Unknown)
        .min_by_key(|((_, s), _)| s.start)
        .map(|(_, t)| t.clone())
}

fn member_items(
    snap: &Snapshot,
    file: FileId,
    dot: usize,
    offset: usize,
    empty_prefix: bool,
) -> Vec<lsp::CompletionItem> {
    let text = &snap.source(file).text;
    let receiver_end = text.get(..dot).map_or(0, |t| t.trim_end().len());
    let mut ty = type_ending_at(&snap.analysis, file, receiver_end);
    if ty.is_none() {
        let insert = if empty_prefix { PLACEHOLDER } else { "" };
        if !insert.is_empty() {
            ty = type_ending_at(&patched(snap, file, offset, insert), file, receiver_end);
        }
    }
    if ty.is_none() {
        ty = receiver_by_text(snap, file, receiver_end);
    }
    let Some(ty) = ty else { return Vec::new() };
    let context_class = snap.class_at(file, offset);
    items_for_type(snap, &ty, context_class, file)
}

/// A receiver the analysis could not type, from its text: `self` or a class name.
fn receiver_by_text(snap: &Snapshot, file: FileId, end: usize) -> Option<Ty> {
    let text = snap.source(file).text.get(..end)?;
    let len = text
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let word = &text[end - len..];
    if word == "self" {
        return snap.class_at(file, end).map(Ty::Class);
    }
    let model = &snap.analysis.model;
    let package = snap.package_of(file);
    model
        .classes
        .iter()
        .position(|c| {
            c.name == word && (Some(c.package) == package || model.package(c.package).name == "std")
        })
        .map(|i| Ty::ClassRef(ClassId(i as u32)))
}

fn items_for_type(
    snap: &Snapshot,
    ty: &Ty,
    context_class: Option<ClassId>,
    file: FileId,
) -> Vec<lsp::CompletionItem> {
    let model = &snap.analysis.model;
    let package = snap.package_of(file);
    match ty {
        Ty::Optional(inner) => items_for_type(snap, inner, context_class, file),
        Ty::SelfTy => context_class
            .map(|c| items_for_type(snap, &Ty::Class(c), context_class, file))
            .unwrap_or_default(),
        Ty::Class(c) | Ty::ClassRef(c) => {
            let on_class = matches!(ty, Ty::ClassRef(_));
            model
                .class(*c)
                .member_order
                .iter()
                .copied()
                .filter(|m| {
                    let member = model.member(*m);
                    member.is_static == on_class && snap.accessible(*m, context_class, package)
                })
                .map(|m| {
                    // The class's own members (and its package's ancestors') before the
                    // builtins every object inherits from the standard library.
                    let owner = model.class(model.member(m).owner);
                    let builtin = model.package(owner.package).name == "std";
                    let mut item = match model.member(m).kind {
                        MemberKind::File { .. } => file_item(snap, m),
                        _ => member_item(snap, m),
                    };
                    item.sort_text = Some(format!("{}{}", u8::from(builtin), item.label));
                    item
                })
                .collect()
        }
        Ty::Record(r) => model
            .record(*r)
            .fields
            .iter()
            .map(|f| lsp::CompletionItem {
                label: f.name.clone(),
                kind: Some(lsp::CompletionItemKind::FIELD),
                detail: Some(format!("{}: {}", f.name, f.ty.display(model))),
                ..Default::default()
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A file member after `.`: a macro cannot pass a file's contents, so it completes to the
/// call that gives its signed URL, `file(name: "src")`.
fn file_item(snap: &Snapshot, id: MemberId) -> lsp::CompletionItem {
    let m = snap.analysis.model.member(id);
    lsp::CompletionItem {
        label: m.name.clone(),
        kind: Some(lsp::CompletionItemKind::FILE),
        detail: Some(format!(
            "{} (a signed URL to it: file(name: \"{}\"))",
            describe::member_signature(snap, id),
            m.name
        )),
        filter_text: Some(m.name.clone()),
        insert_text: Some(format!("file(name: \"{}\")", m.name)),
        ..Default::default()
    }
}

fn member_item(snap: &Snapshot, id: MemberId) -> lsp::CompletionItem {
    let m = snap.analysis.model.member(id);
    let kind = match m.kind {
        MemberKind::State { .. } | MemberKind::Ref { .. } => lsp::CompletionItemKind::FIELD,
        MemberKind::File { .. } => lsp::CompletionItemKind::FILE,
        MemberKind::Fn(_) => lsp::CompletionItemKind::METHOD,
        MemberKind::Macro(_) => lsp::CompletionItemKind::FUNCTION,
    };
    let (insert_text, insert_text_format) = match m.signature() {
        Some(sig) => (
            Some(call_snippet(&m.name, sig)),
            Some(lsp::InsertTextFormat::SNIPPET),
        ),
        None => (None, None),
    };
    lsp::CompletionItem {
        label: m.name.clone(),
        kind: Some(kind),
        insert_text,
        insert_text_format,
        detail: Some(describe::member_signature(snap, id)),
        documentation: m.docs.clone().map(|d| {
            lsp::Documentation::MarkupContent(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: d,
            })
        }),
        ..Default::default()
    }
}

/// `split(segment_s: ${1:segment_s})$0`: a call with its required parameters as named
/// placeholders (those with a default are left out).
fn call_snippet(name: &str, sig: &oaas_compiler::check::model::Signature) -> String {
    let required: Vec<String> = sig
        .params
        .iter()
        .filter(|p| p.default.is_none())
        .enumerate()
        .map(|(i, p)| format!("{}: ${{{}:{}}}", p.name, i + 1, p.name))
        .collect();
    format!("{name}({})$0", required.join(", "))
}

/// The start of the innermost `(` still open before `at` on the way back through the
/// current member, and the end of the name right before it.
pub(crate) fn open_call(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut i = at;
    let floor = at.saturating_sub(4000);
    while i > floor {
        i -= 1;
        match bytes[i] {
            b')' | b']' => depth += 1,
            b'(' if depth == 0 => {
                let name_end = text.get(..i)?.trim_end().len();
                return Some(name_end);
            }
            b'(' | b'[' => depth -= 1,
            b'{' | b'}' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// `name: ` items for the parameters of the call the cursor is in.
fn named_arg_items(
    snap: &Snapshot,
    file: FileId,
    word_start: usize,
    offset: usize,
    empty_prefix: bool,
) -> Vec<lsp::CompletionItem> {
    let text = &snap.source(file).text;
    let Some(name_end) = open_call(text, word_start) else {
        return Vec::new();
    };
    let from = |analysis: &Analysis| -> Option<Vec<lsp::CompletionItem>> {
        let tree = analysis.file(file)?;
        let mut found: Option<(&ast::Expr, &[ast::Arg])> = None;
        walk_exprs(tree, &mut |e| {
            if let ast::ExprKind::Call { method, args, .. } = &e.kind {
                if method.span.end as usize == name_end {
                    found = Some((e, args));
                }
            }
        });
        let (call, args) = found?;
        let resolved = analysis.calls.get(&(file, call.span))?;
        let model = &analysis.model;
        let given: Vec<&str> = args
            .iter()
            .filter_map(|a| a.name.as_ref())
            .filter(|n| (n.span.end as usize) < word_start || n.span.start as usize > offset)
            .map(|n| n.name.as_str())
            .collect();
        let params = model.member(resolved.member).signature();
        Some(
            resolved
                .bindings
                .iter()
                .filter(|(name, _)| !given.contains(&name.as_str()))
                .map(|(name, _)| {
                    let ty = if resolved.is_new {
                        model.lookup(resolved.class, name).and_then(|m| {
                            match &model.member(m).kind {
                                MemberKind::State { ty, .. } | MemberKind::Ref { ty } => {
                                    Some(ty.clone())
                                }
                                _ => None,
                            }
                        })
                    } else {
                        params
                            .and_then(|s| s.params.iter().find(|p| p.name == *name))
                            .map(|p| p.ty.clone())
                    };
                    lsp::CompletionItem {
                        label: format!("{name}:"),
                        kind: Some(lsp::CompletionItemKind::VARIABLE),
                        detail: ty.map(|t| format!("{name}: {}", t.display(model))),
                        insert_text: Some(format!("{name}: ")),
                        sort_text: Some(format!("0{name}")),
                        ..Default::default()
                    }
                })
                .collect(),
        )
    };
    if let Some(items) = from(&snap.analysis) {
        return items;
    }
    let insert = if empty_prefix { ")" } else { "" };
    from(&patched(snap, file, offset, insert)).unwrap_or_default()
}

fn keyword_item(word: &str) -> lsp::CompletionItem {
    lsp::CompletionItem {
        label: word.to_string(),
        kind: Some(lsp::CompletionItemKind::KEYWORD),
        ..Default::default()
    }
}

/// Names, types and keywords that fit the place: a macro body, a class body or the top level.
fn general_items(snap: &Snapshot, file: FileId, offset: usize) -> Vec<lsp::CompletionItem> {
    let model = &snap.analysis.model;
    let mut items = Vec::new();
    let package = snap.package_of(file);
    // Classes and records of this package and the standard library, and classes `use`d.
    let used: Vec<String> = snap
        .ast(file)
        .map(|f| f.uses().map(|u| u.name.name.clone()).collect())
        .unwrap_or_default();
    for (i, c) in model.classes.iter().enumerate() {
        let visible = Some(c.package) == package
            || model.package(c.package).name == "std"
            || used.contains(&c.name);
        if visible {
            items.push(lsp::CompletionItem {
                label: c.name.clone(),
                kind: Some(lsp::CompletionItemKind::CLASS),
                detail: Some(describe::class_signature(snap, ClassId(i as u32))),
                documentation: c.docs.clone().map(lsp::Documentation::String),
                ..Default::default()
            });
        }
    }
    let in_body = snap
        .member_at(file, offset)
        .and_then(|(id, m)| match &m.kind {
            ast::MemberKind::Macro { body, .. } if body.span.touches(offset) => Some((id, body)),
            _ => None,
        });
    match in_body {
        Some((id, body)) => {
            items.extend(BODY_KEYWORDS.iter().map(|k| keyword_item(k)));
            items.push(lsp::CompletionItem {
                label: "flatten".into(),
                kind: Some(lsp::CompletionItemKind::FUNCTION),
                detail: Some("flatten(lists: [[T]]) -> [T]".into()),
                insert_text: Some("flatten(${1:lists})$0".into()),
                insert_text_format: Some(lsp::InsertTextFormat::SNIPPET),
                ..Default::default()
            });
            if let Some(sig) = model.member(id).signature() {
                for p in &sig.params {
                    items.push(lsp::CompletionItem {
                        label: p.name.clone(),
                        kind: Some(lsp::CompletionItemKind::VARIABLE),
                        detail: Some(format!("(parameter) {}: {}", p.name, p.ty.display(model))),
                        ..Default::default()
                    });
                }
            }
            for (loc, name) in locals_before(body, offset) {
                let loc = oaas_compiler::check::model::Loc { file, span: loc };
                items.push(lsp::CompletionItem {
                    label: name,
                    kind: Some(lsp::CompletionItemKind::VARIABLE),
                    detail: Some(describe::local_line(snap, loc)),
                    ..Default::default()
                });
            }
        }
        None if snap.class_at(file, offset).is_some() => {
            items.extend(MEMBER_KEYWORDS.iter().map(|k| keyword_item(k)));
            items.extend(TYPES.iter().map(|t| lsp::CompletionItem {
                label: t.to_string(),
                kind: Some(lsp::CompletionItemKind::TYPE_PARAMETER),
                ..Default::default()
            }));
            for r in &model.records {
                if Some(r.package) == package {
                    items.push(lsp::CompletionItem {
                        label: r.name.clone(),
                        kind: Some(lsp::CompletionItemKind::STRUCT),
                        documentation: r.docs.clone().map(lsp::Documentation::String),
                        ..Default::default()
                    });
                }
            }
        }
        None => items.extend(TOP_KEYWORDS.iter().map(|k| keyword_item(k))),
    }
    items
}

/// `let` names bound before the cursor and loop variables of the `for`s around it.
fn locals_before(body: &ast::MacroBody, offset: usize) -> Vec<(oaas_compiler::Span, String)> {
    let mut out = Vec::new();
    let visit = |e: &ast::Expr, out: &mut Vec<(oaas_compiler::Span, String)>| {
        crate::index::walk_expr(e, &mut |x| {
            if let ast::ExprKind::For { var, lets, .. } = &x.kind {
                if x.span.touches(offset) {
                    out.push((var.span, var.name.clone()));
                    for l in lets.iter().filter(|l| (l.span.end as usize) < offset) {
                        out.push((l.name.span, l.name.name.clone()));
                    }
                }
            }
            // `let`s of the `if`, `else`, `try` or `catch` block around the cursor, and the
            // error of a `catch`.
            let blocks: Vec<&ast::Block> = match &x.kind {
                ast::ExprKind::If {
                    then, otherwise, ..
                } => std::iter::once(then).chain(otherwise.iter()).collect(),
                ast::ExprKind::Try { body, var, catch } => {
                    if catch.span.touches(offset) {
                        out.push((var.span, var.name.clone()));
                    }
                    vec![body, catch]
                }
                _ => Vec::new(),
            };
            for b in blocks.into_iter().filter(|b| b.span.touches(offset)) {
                for s in &b.stmts {
                    if let ast::Stmt::Let(l) = s {
                        if (l.span.end as usize) < offset {
                            out.push((l.name.span, l.name.name.clone()));
                        }
                    }
                }
            }
        });
    };
    for s in &body.stmts {
        match s {
            ast::Stmt::Let(l) => {
                if (l.span.end as usize) < offset {
                    out.push((l.name.span, l.name.name.clone()));
                }
                visit(&l.value, &mut out);
            }
            ast::Stmt::Expr { value, .. } | ast::Stmt::Return { value, .. } => {
                visit(value, &mut out)
            }
        }
    }
    out
}
