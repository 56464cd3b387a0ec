//! Conversions between the compiler's byte spans and the protocol's UTF-16 positions, between
//! file paths and `file:` URIs, and from compiler diagnostics to protocol diagnostics.

use lsp_types as lsp;
use oaas_compiler::span::SourceFile;
use oaas_compiler::{Code, Diagnostic, Severity, Span};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The protocol position (0-based line, UTF-16 column) of a byte offset.
pub fn position(file: &SourceFile, offset: usize) -> lsp::Position {
    let (line, character) = file.lines.utf16_position(&file.text, offset);
    lsp::Position { line, character }
}

/// The protocol range of a byte span.
pub fn range(file: &SourceFile, span: Span) -> lsp::Range {
    lsp::Range {
        start: position(file, span.start as usize),
        end: position(file, span.end as usize),
    }
}

/// The byte offset of a protocol position; positions past a line's end or the text's end are
/// clamped to it.
pub fn offset(file: &SourceFile, pos: lsp::Position) -> usize {
    file.lines
        .offset_of_utf16(&file.text, pos.line, pos.character)
}

/// A URI the protocol types accept, if the text is one.
pub fn uri(text: &str) -> Option<lsp::Uri> {
    lsp::Uri::from_str(text).ok()
}

/// `file:` URI of an absolute path, percent-encoded as editors write them.
pub fn path_to_uri(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    let mut out = String::from("file://");
    if !s.starts_with('/') {
        out.push('/');
    }
    out.extend(percent_encoding::utf8_percent_encode(&s, PATH_KEPT));
    out
}

/// What a `file:` URI keeps of a path: letters, digits, `-._~` and `/`.
const PATH_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The path of a `file:` URI; `None` for other schemes.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()?
        .into_owned();
    // `/c:/dir` on Windows.
    let bytes = decoded.as_bytes();
    if bytes.len() >= 3 && bytes[2] == b':' && bytes[1].is_ascii_alphabetic() {
        return Some(PathBuf::from(&decoded[1..]));
    }
    Some(PathBuf::from(decoded))
}

/// Where the pages of diagnostic codes are, to link each code to `BASE/CODE.md`.
#[derive(Clone, Debug, Default)]
pub struct CodeDocs {
    /// A URI ending with `/`, or nothing when no pages were found.
    pub base: Option<String>,
}

impl CodeDocs {
    /// The page of one code.
    pub fn href(&self, code: Code) -> Option<lsp::Uri> {
        let base = self.base.as_ref()?;
        uri(&format!("{base}{}.md", code.as_str()))
    }
}

/// Converts one compiler diagnostic; `file_of` gives each file's text and URI.
pub fn diagnostic<'a>(
    d: &Diagnostic,
    file: &SourceFile,
    docs: &CodeDocs,
    other: impl Fn(oaas_compiler::FileId) -> Option<(&'a SourceFile, String)>,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() && d.primary.message != d.message {
        message.push_str(&format!(" ({})", d.primary.message));
    }
    for note in &d.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    for help in &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|label| {
            let (f, u) = other(label.file)?;
            Some(lsp::DiagnosticRelatedInformation {
                location: lsp::Location {
                    uri: uri(&u)?,
                    range: range(f, label.span),
                },
                message: if label.message.is_empty() {
                    "here".to_string()
                } else {
                    label.message.clone()
                },
            })
        })
        .collect();
    let unnecessary = matches!(d.code, Code::W0001 | Code::W0002);
    lsp::Diagnostic {
        range: range(file, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
        code_description: docs.href(d.code).map(|href| lsp::CodeDescription { href }),
        source: Some("oaasc".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: unnecessary.then(|| vec![lsp::DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_round_trip() {
        let p = Path::new("/tmp/a dir/vidéo #1.oaas");
        let u = path_to_uri(p);
        assert_eq!(u, "file:///tmp/a%20dir/vid%C3%A9o%20%231.oaas");
        assert_eq!(uri_to_path(&u).as_deref(), Some(p));
        assert_eq!(
            uri_to_path("file:///c%3A/x/y.oaas").as_deref(),
            Some(Path::new("c:/x/y.oaas"))
        );
        assert_eq!(uri_to_path("untitled:Untitled-1"), None);
        assert!(uri(&u).is_some());
    }
}
