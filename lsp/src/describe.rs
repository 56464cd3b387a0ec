//! Declarations written out for people: the signature lines and doc text shown by hover and
//! completion.

use crate::snapshot::Snapshot;
use oaas_compiler::check::model::{ClassId, Loc, MemberId, MemberKind, RecordId};
use oaas_compiler::check::types::Ty;
use oaas_compiler::check::Symbol;
use oaas_compiler::syntax::ast;

/// A default value as written, shortened when long.
pub(crate) fn default_text(snap: &Snapshot, file: oaas_compiler::FileId, e: &ast::Expr) -> String {
    let text = snap.text_of(file, e.span);
    if text.chars().count() > 60 {
        let short: String = text.chars().take(57).collect();
        format!("{short}...")
    } else {
        text
    }
}

/// The annotations written on a member or class, as written.
fn annotations(
    snap: &Snapshot,
    file: oaas_compiler::FileId,
    list: &[ast::Annotation],
) -> Vec<String> {
    list.iter().map(|a| snap.text_of(file, a.span)).collect()
}

/// `public mut fn retitle(title: string) -> Video`, `public state title: string = ""`, ...
pub fn member_signature(snap: &Snapshot, id: MemberId) -> String {
    let model = &snap.analysis.model;
    let m = model.member(id);
    let syntax = snap.analysis.member_ast(id);
    let file = m.loc.file;
    let mut s = String::new();
    if m.is_override {
        s.push_str("override ");
    }
    s.push_str(m.access.as_str());
    s.push(' ');
    if m.is_static {
        s.push_str("static ");
    }
    if m.is_mut {
        s.push_str("mut ");
    }
    let default = |s: &mut String| {
        if let Some(
            ast::MemberKind::State {
                default: Some(d), ..
            }
            | ast::MemberKind::Ref {
                default: Some(d), ..
            },
        ) = syntax.map(|x| &x.kind)
        {
            s.push_str(" = ");
            s.push_str(&default_text(snap, file, d));
        }
    };
    match &m.kind {
        MemberKind::State { ty, .. } => {
            s.push_str(&format!("state {}: {}", m.name, ty.display(model)));
            default(&mut s);
        }
        MemberKind::Ref { ty } => {
            s.push_str(&format!("ref {}: {}", m.name, ty.display(model)));
            default(&mut s);
        }
        MemberKind::File { media_type } => {
            s.push_str(&format!("file {}", m.name));
            if let Some(t) = media_type {
                s.push_str(&format!(": {t:?}"));
            }
        }
        MemberKind::Fn(sig) | MemberKind::Macro(sig) => {
            let keyword = if matches!(m.kind, MemberKind::Fn(_)) {
                "fn"
            } else {
                "macro"
            };
            let written = syntax.and_then(|x| x.kind.signature());
            let params: Vec<String> = sig
                .params
                .iter()
                .map(|p| {
                    let mut t = format!("{}: {}", p.name, p.ty.display(model));
                    let d = written
                        .and_then(|w| w.params.iter().find(|x| x.name.name == p.name))
                        .and_then(|x| x.default.as_ref());
                    if let Some(d) = d {
                        t.push_str(" = ");
                        t.push_str(&default_text(snap, file, d));
                    }
                    t
                })
                .collect();
            s.push_str(&format!("{keyword} {}({})", m.name, params.join(", ")));
            if let Some(ret) = &sig.ret {
                s.push_str(&format!(" -> {}", ret.display(model)));
            }
        }
    }
    s
}

/// `class Video extends Base`, with the annotations written on it above.
pub fn class_signature(snap: &Snapshot, id: ClassId) -> String {
    let model = &snap.analysis.model;
    let c = model.class(id);
    let mut lines = Vec::new();
    if let Some(decl) = snap
        .ast(c.decl.file)
        .and_then(|f| f.classes().find(|x| x.span == c.decl.span))
    {
        lines.extend(annotations(snap, c.decl.file, &decl.annotations));
    }
    let mut head = format!("class {}", c.name);
    if let Some(p) = c.parent.filter(|p| Some(*p) != model.object) {
        head.push_str(&format!(" extends {}", model.class(p).name));
    }
    lines.push(head);
    lines.join("\n")
}

/// `record Face { x: int, y: int }`.
pub fn record_signature(snap: &Snapshot, id: RecordId) -> String {
    let model = &snap.analysis.model;
    let r = model.record(id);
    let fields: Vec<String> = r
        .fields
        .iter()
        .map(|f| format!("{}: {}", f.name, f.ty.display(model)))
        .collect();
    if fields.is_empty() {
        format!("record {} {{}}", r.name)
    } else {
        format!("record {} {{ {} }}", r.name, fields.join(", "))
    }
}

fn code_block(s: &str) -> String {
    format!("```oaas\n{s}\n```")
}

/// The name of package number `p`.
fn package_name(snap: &Snapshot, p: usize) -> String {
    snap.analysis
        .model
        .packages
        .get(p)
        .map(|x| x.name.clone())
        .unwrap_or_default()
}

/// Hover text for a symbol, in Markdown.
pub fn hover(snap: &Snapshot, symbol: Symbol) -> Option<String> {
    let model = &snap.analysis.model;
    let package = |p| package_name(snap, p);
    let mut parts = Vec::new();
    match symbol {
        Symbol::Class(id) => {
            let c = model.classes.get(id.0 as usize)?;
            parts.push(code_block(&class_signature(snap, id)));
            parts.extend(c.docs.clone());
            parts.push(format!(
                "class in package `{}` · {} member(s)",
                package(c.package.0 as usize),
                c.members.len()
            ));
        }
        Symbol::Record(id) => {
            let r = model.records.get(id.0 as usize)?;
            parts.push(code_block(&record_signature(snap, id)));
            parts.extend(r.docs.clone());
            parts.push(format!(
                "record in package `{}`",
                package(r.package.0 as usize)
            ));
        }
        Symbol::RecordField(id, i) => {
            let r = model.records.get(id.0 as usize)?;
            let f = r.fields.get(i as usize)?;
            parts.push(code_block(&format!("{}: {}", f.name, f.ty.display(model))));
            parts.push(format!("field of record `{}`", r.name));
        }
        Symbol::Member(id) => parts.extend(member_hover(snap, id)?),
        Symbol::Param(id, i) => parts.extend(param_hover(snap, id, i)?),
        Symbol::Local(loc) => {
            parts.push(code_block(&local_line(snap, loc)));
        }
    }
    Some(parts.join("\n\n"))
}

/// A member's hover: its annotations and signature, its docs, and what it is of which
/// class (and what it overrides).
fn member_hover(snap: &Snapshot, id: MemberId) -> Option<Vec<String>> {
    let model = &snap.analysis.model;
    let m = model.members.get(id.0 as usize)?;
    let mut block = Vec::new();
    if let Some(syntax) = snap.analysis.member_ast(id) {
        block.extend(annotations(snap, m.loc.file, &syntax.annotations));
    }
    block.push(member_signature(snap, id));
    let mut parts = vec![code_block(&block.join("\n"))];
    parts.extend(m.docs.clone());
    let owner = model.class(m.owner);
    let mut about = format!(
        "{} of class `{}` in package `{}`",
        m.describe(),
        owner.name,
        package_name(snap, owner.package.0 as usize)
    );
    if let Some(o) = m.overrides {
        let o = model.member(o);
        about.push_str(&format!(
            " · overrides `{}.{}`",
            model.class(o.owner).name,
            o.name
        ));
    }
    parts.push(about);
    Some(parts)
}

/// A parameter's hover: its type and default as written, and whose parameter it is.
fn param_hover(snap: &Snapshot, id: MemberId, i: u32) -> Option<Vec<String>> {
    let model = &snap.analysis.model;
    let m = model.members.get(id.0 as usize)?;
    let p = m.signature()?.params.get(i as usize)?;
    let mut line = format!("{}: {}", p.name, p.ty.display(model));
    let written = snap
        .analysis
        .member_ast(id)
        .and_then(|x| x.kind.signature())
        .and_then(|s| s.params.iter().find(|x| x.name.name == p.name))
        .and_then(|x| x.default.as_ref());
    if let Some(d) = written {
        line.push_str(&format!(" = {}", default_text(snap, p.loc.file, d)));
    }
    Some(vec![
        code_block(&format!("(parameter) {line}")),
        format!("parameter of `{}.{}`", model.class(m.owner).name, m.name),
    ])
}

/// `let parts: [Video]` or `for p: Video`.
pub fn local_line(snap: &Snapshot, loc: Loc) -> String {
    let model = &snap.analysis.model;
    let name = snap.source(loc.file).slice(loc.span).to_string();
    let before = snap
        .source(loc.file)
        .text
        .get(..loc.span.start as usize)
        .unwrap_or("")
        .trim_end();
    let keyword = if before.ends_with("for") {
        "for"
    } else {
        "let"
    };
    match snap.index.local_types.get(&loc) {
        Some(ty) if *ty != Ty::Unknown => format!("{keyword} {name}: {}", ty.display(model)),
        _ => format!("{keyword} {name}"),
    }
}
