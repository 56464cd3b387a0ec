//! Semantic tokens: every word, literal and comment of a file with its kind, so that editors
//! without the VS Code grammar (Neovim, Helix, Zed) highlight `.oaas`, and names are coloured
//! by what they refer to (a class, a parameter, a `static` function, the standard library).
//!
//! A small scanner walks the text; names the index resolved take their kind from the symbol,
//! other words are keywords, built-in types, annotations or package names. `full/delta`
//! answers with the edits between the last result sent for a document and the new one.

use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::check::model::MemberKind;
use oaas_compiler::check::Symbol;
use oaas_compiler::span::SourceFile;
use oaas_compiler::FileId;
use std::collections::HashMap;

/// The token types, in legend order.
const TYPES: &[lsp::SemanticTokenType] = &[
    lsp::SemanticTokenType::NAMESPACE,
    lsp::SemanticTokenType::CLASS,
    lsp::SemanticTokenType::STRUCT,
    lsp::SemanticTokenType::PROPERTY,
    lsp::SemanticTokenType::METHOD,
    lsp::SemanticTokenType::FUNCTION,
    lsp::SemanticTokenType::PARAMETER,
    lsp::SemanticTokenType::VARIABLE,
    lsp::SemanticTokenType::KEYWORD,
    lsp::SemanticTokenType::TYPE,
    lsp::SemanticTokenType::DECORATOR,
    lsp::SemanticTokenType::COMMENT,
    lsp::SemanticTokenType::STRING,
    lsp::SemanticTokenType::NUMBER,
];

/// Indexes into [`TYPES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Namespace,
    Class,
    Struct,
    Property,
    Method,
    Function,
    Parameter,
    Variable,
    Keyword,
    Type,
    Decorator,
    Comment,
    String,
    Number,
}

/// The token modifiers, in legend order (bit `i` is modifier `i`).
const MODIFIERS: &[lsp::SemanticTokenModifier] = &[
    lsp::SemanticTokenModifier::DECLARATION,
    lsp::SemanticTokenModifier::STATIC,
    lsp::SemanticTokenModifier::DOCUMENTATION,
    lsp::SemanticTokenModifier::DEFAULT_LIBRARY,
];
const DECLARATION: u32 = 1;
const STATIC: u32 = 2;
const DOCUMENTATION: u32 = 4;
const DEFAULT_LIBRARY: u32 = 8;

const KEYWORDS: &[&str] = &[
    "package", "use", "record", "class", "extends", "state", "file", "ref", "fn", "macro", "let",
    "return", "for", "in", "public", "internal", "private", "mut", "static", "override", "self",
    "true", "false", "null",
];
const BUILTIN_TYPES: &[&str] = &["int", "float", "bool", "string", "json", "Self"];

/// The legend the server advertises.
pub fn legend() -> lsp::SemanticTokensLegend {
    lsp::SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

/// One token before encoding: a byte range of one line, its kind and modifiers.
#[derive(Clone, Copy, Debug)]
struct Raw {
    start: usize,
    end: usize,
    kind: Kind,
    modifiers: u32,
}

/// The tokens of a file, in order, encoded as the protocol wants them (relative positions,
/// UTF-16 lengths); only those inside `range` when one is given.
pub fn tokens(snap: &Snapshot, file: FileId, range: Option<lsp::Range>) -> Vec<lsp::SemanticToken> {
    let source = snap.source(file);
    let names = resolved_names(snap, file);
    let raw = scan(&source.text, &names);
    let bounds = range.map(|r| {
        (
            crate::convert::offset(source, r.start),
            crate::convert::offset(source, r.end),
        )
    });
    encode(
        source,
        raw.into_iter()
            .filter(|t| bounds.is_none_or(|(a, b)| t.end > a && t.start < b)),
    )
}

/// Kind and modifiers of each name the index resolved, by its start offset.
fn resolved_names(snap: &Snapshot, file: FileId) -> HashMap<usize, (usize, Kind, u32)> {
    let model = &snap.analysis.model;
    let mut out = HashMap::new();
    for (loc, symbol) in snap.index.in_file(file) {
        let (kind, mut modifiers) = match *symbol {
            Symbol::Class(c) => {
                let std = model.package(model.class(c).package).name == "std";
                (Kind::Class, if std { DEFAULT_LIBRARY } else { 0 })
            }
            Symbol::Record(_) => (Kind::Struct, 0),
            Symbol::RecordField(..) => (Kind::Property, 0),
            Symbol::Member(m) => {
                let member = model.member(m);
                let kind = match member.kind {
                    MemberKind::Fn(_) | MemberKind::Macro(_) => Kind::Method,
                    _ => Kind::Property,
                };
                (kind, if member.is_static { STATIC } else { 0 })
            }
            Symbol::Param(..) => (Kind::Parameter, 0),
            Symbol::Local(_) => (Kind::Variable, 0),
        };
        if snap.declaration(*symbol) == Some(*loc) {
            modifiers |= DECLARATION;
        }
        out.insert(
            loc.span.start as usize,
            (loc.span.end as usize, kind, modifiers),
        );
    }
    out
}

/// Walks the text: comments, strings, numbers, annotations and words.
fn scan(text: &str, names: &HashMap<usize, (usize, Kind, u32)>) -> Vec<Raw> {
    let bytes = text.as_bytes();
    let word_end = |from: usize| {
        from + bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count()
    };
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |n| from + n);
    let mut out = Vec::new();
    let mut previous_word = "";
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let token = |end: usize, kind: Kind, modifiers: u32| Raw {
            start: i,
            end,
            kind,
            modifiers,
        };
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            let end = line_end(i);
            let doc = text[i..].starts_with("///") && !text[i..].starts_with("////");
            out.push(token(
                end,
                Kind::Comment,
                if doc { DOCUMENTATION } else { 0 },
            ));
            i = end;
        } else if b == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' && bytes[j] != b'\n' {
                j += if bytes[j] == b'\\' && bytes.get(j + 1) != Some(&b'\n') {
                    2
                } else {
                    1
                };
            }
            let end = if bytes.get(j) == Some(&b'"') {
                j + 1
            } else {
                j.min(bytes.len())
            };
            out.push(token(end, Kind::String, 0));
            i = end;
        } else if b.is_ascii_digit() {
            let end = i + bytes[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'.' || **c == b'_')
                .count();
            out.push(token(end, Kind::Number, 0));
            i = end;
        } else if b == b'@' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            let end = word_end(i + 1);
            out.push(token(end, Kind::Decorator, 0));
            i = end;
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let end = word_end(i);
            let word = &text[i..end];
            if let Some((kind, modifiers)) = classify(text, i, end, previous_word, names) {
                out.push(token(end, kind, modifiers));
            }
            previous_word = word;
            i = end;
        } else {
            if !b.is_ascii_whitespace() && b != b'.' {
                previous_word = "";
            }
            // Whole characters only, so every token starts on a character boundary.
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// The kind of one word: what the index says it names, else what the word is.
fn classify(
    text: &str,
    start: usize,
    end: usize,
    previous_word: &str,
    names: &HashMap<usize, (usize, Kind, u32)>,
) -> Option<(Kind, u32)> {
    if let Some((name_end, kind, modifiers)) = names.get(&start) {
        if *name_end == end {
            return Some((*kind, *modifiers));
        }
    }
    let word = &text[start..end];
    let after_dot = text[..start].trim_end().ends_with('.');
    if matches!(previous_word, "package" | "use") || (after_dot && is_use_line(text, start)) {
        return Some((Kind::Namespace, 0));
    }
    if after_dot {
        // An unresolved member name (a keyword may name a member).
        return None;
    }
    if KEYWORDS.contains(&word) {
        return Some((Kind::Keyword, 0));
    }
    if BUILTIN_TYPES.contains(&word) {
        return Some((Kind::Type, DEFAULT_LIBRARY));
    }
    if word == "flatten" && text[end..].trim_start().starts_with('(') {
        return Some((Kind::Function, DEFAULT_LIBRARY));
    }
    None
}

/// Whether the line holding `at` is a `use` line (`use media.Video`: each part before the
/// last is a package name).
fn is_use_line(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let line = &text[line_start..];
    let rest_of_word = text[at..]
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    line.trim_start().starts_with("use ") && text[at + rest_of_word..].starts_with('.')
}

/// Encodes tokens relative to each other, with UTF-16 positions and lengths.
fn encode(source: &SourceFile, raw: impl Iterator<Item = Raw>) -> Vec<lsp::SemanticToken> {
    let mut out = Vec::new();
    let (mut line, mut column) = (0u32, 0u32);
    for t in raw {
        let start = crate::convert::position(source, t.start);
        let length = source
            .text
            .get(t.start..t.end)
            .map_or(0, |s| s.encode_utf16().count() as u32);
        if length == 0 {
            continue;
        }
        let delta_line = start.line - line;
        let delta_start = if delta_line == 0 {
            start.character - column
        } else {
            start.character
        };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length,
            token_type: t.kind as u32,
            token_modifiers_bitset: t.modifiers,
        });
        line = start.line;
        column = start.character;
    }
    out
}

/// The last tokens sent for each document, to answer `full/delta` with edits.
#[derive(Default)]
pub struct Sent {
    by_uri: HashMap<String, (String, Vec<lsp::SemanticToken>)>,
    next_id: u64,
}

impl Sent {
    fn remember(&mut self, uri: &str, tokens: Vec<lsp::SemanticToken>) -> String {
        self.next_id += 1;
        let id = self.next_id.to_string();
        self.by_uri.insert(uri.to_string(), (id.clone(), tokens));
        id
    }

    /// Forgets a closed document.
    pub fn forget(&mut self, uri: &str) {
        self.by_uri.remove(uri);
    }

    /// `textDocument/semanticTokens/full`.
    pub fn full(&mut self, snap: &Snapshot, uri: &lsp::Uri) -> Option<lsp::SemanticTokensResult> {
        let file = snap.file_id(uri)?;
        let data = tokens(snap, file, None);
        let result_id = self.remember(uri.as_str(), data.clone());
        Some(lsp::SemanticTokensResult::Tokens(lsp::SemanticTokens {
            result_id: Some(result_id),
            data,
        }))
    }

    /// `textDocument/semanticTokens/full/delta`: the edits from the result `previous` to the
    /// tokens now, or all of them when `previous` is not the last result sent.
    pub fn delta(
        &mut self,
        snap: &Snapshot,
        uri: &lsp::Uri,
        previous: &str,
    ) -> Option<lsp::SemanticTokensFullDeltaResult> {
        let file = snap.file_id(uri)?;
        let data = tokens(snap, file, None);
        let old = self
            .by_uri
            .get(uri.as_str())
            .filter(|(id, _)| id == previous)
            .map(|(_, old)| old.clone());
        let result_id = self.remember(uri.as_str(), data.clone());
        Some(match old {
            Some(old) => {
                lsp::SemanticTokensFullDeltaResult::TokensDelta(lsp::SemanticTokensDelta {
                    result_id: Some(result_id),
                    edits: diff(&old, &data),
                })
            }
            None => lsp::SemanticTokensFullDeltaResult::Tokens(lsp::SemanticTokens {
                result_id: Some(result_id),
                data,
            }),
        })
    }
}

/// One edit replacing the middle of `old` that differs from `new` (the common start and end
/// kept); none when they are equal. Positions count integers, five per token.
fn diff(old: &[lsp::SemanticToken], new: &[lsp::SemanticToken]) -> Vec<lsp::SemanticTokensEdit> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if prefix == old.len() && prefix == new.len() {
        return Vec::new();
    }
    vec![lsp::SemanticTokensEdit {
        start: (prefix * 5) as u32,
        delete_count: ((old.len() - prefix - suffix) * 5) as u32,
        data: Some(new[prefix..new.len() - suffix].to_vec()),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(delta_line: u32, kind: u32) -> lsp::SemanticToken {
        lsp::SemanticToken {
            delta_line,
            delta_start: 0,
            length: 1,
            token_type: kind,
            token_modifiers_bitset: 0,
        }
    }

    /// Applies edits as a client does.
    fn apply(
        old: &[lsp::SemanticToken],
        edits: &[lsp::SemanticTokensEdit],
    ) -> Vec<lsp::SemanticToken> {
        let mut out = old.to_vec();
        for e in edits.iter().rev() {
            let (start, count) = (e.start as usize / 5, e.delete_count as usize / 5);
            out.splice(start..start + count, e.data.clone().unwrap_or_default());
        }
        out
    }

    #[test]
    fn a_delta_turns_the_old_tokens_into_the_new() {
        let a: Vec<_> = (0..6).map(|i| token(i, 1)).collect();
        let cases = [
            vec![],
            a.clone(),
            a[..3].to_vec(),
            a[2..].to_vec(),
            [a[..2].to_vec(), vec![token(9, 4)], a[4..].to_vec()].concat(),
            [a.clone(), a.clone()].concat(),
        ];
        for new in &cases {
            let edits = diff(&a, new);
            assert_eq!(&apply(&a, &edits), new);
            assert_eq!(edits.is_empty(), new == &a);
        }
        // Two tokens in the middle replaced by one: only they are sent.
        let edits = diff(&a, &cases[4]);
        assert_eq!((edits[0].start, edits[0].delete_count), (10, 10));
        assert_eq!(edits[0].data.as_ref().map(Vec::len), Some(1));
    }
}
