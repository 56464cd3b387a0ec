//! Diagnostics as JSON objects for tools: one object per diagnostic.

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::{Sources, Span};
use serde::Serialize;

/// One diagnostic as tools see it: positions are 1-based lines and character columns.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    /// `E0001`.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// The file's path.
    pub file: String,
    /// Start line.
    pub line: u32,
    /// Start column.
    pub column: u32,
    /// End line.
    pub end_line: u32,
    /// End column (exclusive).
    pub end_column: u32,
    /// Every label, the primary first.
    pub labels: Vec<JsonLabel>,
    /// Notes.
    pub notes: Vec<String>,
    /// Help.
    pub help: Vec<String>,
}

/// A label with its position.
#[derive(Debug, Serialize)]
pub struct JsonLabel {
    /// The file's path.
    pub file: String,
    /// Start line.
    pub line: u32,
    /// Start column.
    pub column: u32,
    /// End line.
    pub end_line: u32,
    /// End column (exclusive).
    pub end_column: u32,
    /// The label's text.
    pub message: String,
    /// Whether this is the primary label.
    pub primary: bool,
}

fn positions(
    sources: &Sources,
    file: crate::span::FileId,
    span: Span,
) -> (String, u32, u32, u32, u32) {
    let f = sources.get(file);
    let start = f.lines.line_col(&f.text, span.start as usize);
    let end = f.lines.line_col(&f.text, span.end as usize);
    (
        f.path.clone(),
        start.line,
        start.column,
        end.line,
        end.column,
    )
}

impl JsonDiagnostic {
    /// Converts a diagnostic.
    pub fn new(sources: &Sources, d: &Diagnostic) -> Self {
        let (file, line, column, end_line, end_column) =
            positions(sources, d.primary.file, d.primary.span);
        let labels = std::iter::once((&d.primary, true))
            .chain(d.secondary.iter().map(|l| (l, false)))
            .map(|(l, primary)| {
                let (file, line, column, end_line, end_column) = positions(sources, l.file, l.span);
                JsonLabel {
                    file,
                    line,
                    column,
                    end_line,
                    end_column,
                    message: l.message.clone(),
                    primary,
                }
            })
            .collect();
        JsonDiagnostic {
            code: d.code.as_str().to_string(),
            severity: d.severity,
            message: d.message.clone(),
            file,
            line,
            column,
            end_line,
            end_column,
            labels,
            notes: d.notes.clone(),
            help: d.help.clone(),
        }
    }
}

/// One JSON object per line, one line per diagnostic.
pub fn render_json(sources: &Sources, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let value = JsonDiagnostic::new(sources, d);
        out.push_str(&serde_json::to_string(&value).unwrap_or_default());
        out.push('\n');
    }
    out
}
