//! What the language has without declaring it: the types `int`, `float`, `bool`, `string`,
//! `json` and `Self`, and the free function `flatten`. Hover says what they are; definition
//! goes to the enclosing class for `Self` and to the syntax reference (`docs/language.md`)
//! for the others, when the server found it.

use crate::convert;
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::{FileId, Span};

/// What `flatten` does, as hover and signature help say it.
pub const FLATTEN_DOCS: &str =
    "Joins a list of lists into one list, in order: `flatten([[a, b], [c]])` is `[a, b, c]`. The only free function of the language.";

/// The built-in types with what each holds.
const TYPES: &[(&str, &str)] = &[
    ("int", "A whole number (64-bit, signed)."),
    ("float", "A floating-point number (64-bit)."),
    ("bool", "`true` or `false`."),
    ("string", "Text (UTF-8)."),
    (
        "json",
        "Any JSON value: an object, a list, a string, a number, a boolean or `null`.",
    ),
    (
        "Self",
        "The class of the object the member is called on: in a subclass, the subclass.",
    ),
];

/// A built-in under the cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// A built-in type, by name.
    Type(&'static str),
    /// The free function `flatten`.
    Flatten,
}

/// The built-in named by the word under the cursor, with the word's span. Only words the
/// index did not resolve (a state field may be called `json`, a member `flatten`).
pub fn at(snap: &Snapshot, file: FileId, offset: usize) -> Option<(Builtin, Span)> {
    if snap.index.at(file, offset).is_some() {
        return None;
    }
    let text = &snap.source(file).text;
    let offset = oaas_compiler::span::floor_char_boundary(text, offset);
    let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let start = offset
        - text
            .get(..offset)?
            .bytes()
            .rev()
            .take_while(is_word)
            .count();
    let end = offset + text.get(offset..)?.bytes().take_while(is_word).count();
    let word = text.get(start..end)?;
    let before = text.get(..start)?.trim_end();
    if before.ends_with('.') || before.ends_with('@') || in_comment_or_string(text, start) {
        return None;
    }
    let span = Span::new(start, end);
    if word == "flatten" && text.get(end..)?.trim_start().starts_with('(') {
        return Some((Builtin::Flatten, span));
    }
    let (name, _) = TYPES.iter().find(|(n, _)| *n == word)?;
    // A type is written after `:`, `->`, `[` or inside a list type.
    let in_type = before.ends_with(':') || before.ends_with("->") || before.ends_with('[');
    in_type.then_some((Builtin::Type(name), span))
}

fn in_comment_or_string(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let line = &text[line_start..at];
    line.contains("//") || line.matches('"').count() % 2 == 1
}

/// Hover text of a built-in.
pub fn hover(builtin: Builtin) -> String {
    match builtin {
        Builtin::Flatten => format!("```oaas\nflatten(lists: [[T]]) -> [T]\n```\n\n{FLATTEN_DOCS}"),
        Builtin::Type(name) => {
            let about = TYPES
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, a)| a);
            format!("```oaas\n{name}\n```\n\nbuilt-in type. {about}")
        }
    }
}

/// Where a built-in is defined: the class around the cursor for `Self`, else the line of
/// the syntax reference that describes it.
pub fn definition(
    snap: &Snapshot,
    file: FileId,
    offset: usize,
    builtin: Builtin,
    language_doc: Option<&std::path::Path>,
) -> Option<lsp::Location> {
    if builtin == Builtin::Type("Self") {
        let class = snap.class_at(file, offset)?;
        return snap.location(snap.analysis.model.class(class).loc);
    }
    let path = language_doc?;
    let text = std::fs::read_to_string(path).ok()?;
    let needle = match builtin {
        Builtin::Flatten => "| free call |",
        Builtin::Type(_) => "## Types",
    };
    let line = text.lines().position(|l| l.starts_with(needle))? as u32;
    Some(lsp::Location {
        uri: convert::uri(&convert::path_to_uri(path))?,
        range: lsp::Range::new(lsp::Position::new(line, 0), lsp::Position::new(line, 0)),
    })
}
