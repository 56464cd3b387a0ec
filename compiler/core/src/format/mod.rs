//! The formatter: one canonical layout for `.oaas` files, used by `oaasc fmt` and the
//! language server.
//!
//! The style (described for people in `docs/formatting.md`): two-space indentation; one
//! declaration, member, statement or annotation line per line; a bracketed list on one line
//! when it fits in 100 columns and holds no comment, else one element per line with a
//! trailing comma; a blank line between top-level declarations, and blank lines inside
//! classes and macro bodies kept (at most one) where the source had them; modifiers in the
//! order `override`, access, `static`, `mut`; literals as written.
//!
//! Comments are trivia to the grammar, so they are read from the text by position and put
//! back: each stays above or after the code it was next to, and a comment inside a construct
//! printed on one line moves to the line above it. Doc comments stay attached to what they
//! document.
//!
//! Formatting never loses text: a file with syntax errors is refused, and every result is
//! checked to parse to the same tree (spans aside) with the same comments; otherwise the
//! formatter refuses rather than change the meaning.

mod comments;
mod print;
mod printer;

use crate::diagnostic::Diagnostic;
use crate::span::FileId;
use crate::syntax::{self, ast};
use printer::Printer;

/// Why a text was not formatted.
#[derive(Clone, Debug, PartialEq)]
pub enum FormatError {
    /// The text has syntax errors; formatting it could lose the broken parts. The
    /// diagnostics are for file 0.
    Syntax(Vec<Diagnostic>),
    /// The formatter's result would not mean the same as the text (a bug in the formatter);
    /// the text is left as it is.
    Internal(String),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::Syntax(d) => write!(
                f,
                "the file has {} syntax error(s); fix them before formatting",
                d.len()
            ),
            FormatError::Internal(why) => write!(f, "internal formatter error: {why}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Formats one file's text.
pub fn format(text: &str) -> Result<String, FormatError> {
    let parsed = syntax::parse(FileId(0), text);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(FormatError::Syntax(parsed.diagnostics));
    }
    let out = print(text, &parsed.ast);
    verify(text, &parsed.ast, &out)?;
    Ok(out)
}

/// Whether a text is already formatted (`false` also when it cannot be formatted).
pub fn is_formatted(text: &str) -> bool {
    format(text).is_ok_and(|out| out == text)
}

/// A tree as JSON with every span taken out: two texts whose shapes are equal mean the same.
pub fn shape(file: &ast::File) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            // A span: `{"start": .., "end": ..}`, also where it is not under a `span` key
            // (modifiers are `(Access, Span)` pairs).
            serde_json::Value::Object(map)
                if map.len() == 2 && map.contains_key("start") && map.contains_key("end") =>
            {
                *v = serde_json::Value::Null;
            }
            serde_json::Value::Object(map) => {
                map.remove("span");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(file).unwrap_or(serde_json::Value::Null);
    strip(&mut v);
    v
}

fn print(text: &str, file: &ast::File) -> String {
    let docs = doc_spans(file);
    // Doc comments are printed with what they document; every other comment by position.
    let comments = comments::scan(text)
        .into_iter()
        .filter(|c| {
            !docs
                .iter()
                .any(|d| d.start as usize <= c.start && c.start < d.end as usize)
        })
        .collect();
    let mut printer = Printer::new(text, comments);
    printer.file(file);
    printer.finish()
}

fn doc_spans(file: &ast::File) -> Vec<crate::span::Span> {
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            ast::Item::Use(_) => {}
            ast::Item::Record(r) => out.extend(r.docs.as_ref().map(|d| d.span)),
            ast::Item::Class(c) => {
                out.extend(c.docs.as_ref().map(|d| d.span));
                for m in &c.members {
                    out.extend(m.docs.as_ref().map(|d| d.span));
                }
            }
        }
    }
    out
}

/// Checks that `out` parses cleanly to the same tree as the original, with the same comments.
fn verify(text: &str, original: &ast::File, out: &str) -> Result<(), FormatError> {
    let reparsed = syntax::parse(FileId(0), out);
    if let Some(d) = reparsed.diagnostics.first() {
        return Err(FormatError::Internal(format!(
            "the result does not parse: {}",
            d.message
        )));
    }
    if shape(&reparsed.ast) != shape(original) {
        return Err(FormatError::Internal(
            "the result parses to a different tree".into(),
        ));
    }
    let texts = |s: &str| {
        let mut v: Vec<String> = comments::scan(s)
            .iter()
            .map(|c| c.text(s).to_string())
            .collect();
        v.sort();
        v
    };
    if texts(text) != texts(out) {
        return Err(FormatError::Internal(
            "the result does not keep every comment".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
