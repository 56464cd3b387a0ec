//! Diagnostics for people, drawn by ariadne with the source lines they point at.

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::{floor_char_boundary, FileId, Sources, Span};
use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use std::ops::Range;

type AriadneSpan = (String, Range<usize>);

fn ariadne_span(sources: &Sources, file: FileId, span: Span) -> AriadneSpan {
    let f = sources.get(file);
    let start = floor_char_boundary(&f.text, span.start as usize);
    let end = floor_char_boundary(&f.text, span.end as usize).max(start);
    (f.path.clone(), start..end)
}

/// Diagnostics drawn with their source lines per file; the rest of a file's are listed one
/// line each. Drawing repeats the lines a diagnostic points at, so a long line with hundreds
/// of diagnostics would otherwise print in time and space quadratic in its length.
pub const MAX_DRAWN_PER_FILE: usize = 100;

/// Renders every diagnostic, each followed by a blank line: the first
/// [`MAX_DRAWN_PER_FILE`] of each file drawn with their source, the others on one line each.
/// `color` should be true only when writing to a terminal.
pub fn render_human(sources: &Sources, diagnostics: &[Diagnostic], color: bool) -> String {
    let mut cache = ariadne::sources(
        sources
            .iter()
            .map(|(_, f)| (f.path.clone(), f.text.clone())),
    );
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte);
    let mut drawn: std::collections::HashMap<FileId, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for d in diagnostics {
        let count = drawn.entry(d.primary.file).or_default();
        *count += 1;
        if *count > MAX_DRAWN_PER_FILE {
            out.extend_from_slice(one_line(sources, d).as_bytes());
        } else {
            draw(sources, d, color, config, &mut cache, &mut out);
        }
        out.push(b'\n');
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `[E0101] Error: message` and where, without the source.
fn one_line(sources: &Sources, d: &Diagnostic) -> String {
    let f = sources.get(d.primary.file);
    let at = f.lines.line_col(&f.text, d.primary.span.start as usize);
    let kind = match d.severity {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
    };
    format!(
        "[{}] {kind}: {}\n   at {}:{}:{}\n",
        d.code, d.message, f.path, at.line, at.column
    )
}

/// Draws one diagnostic with ariadne.
fn draw(
    sources: &Sources,
    d: &Diagnostic,
    color: bool,
    config: Config,
    cache: &mut impl ariadne::Cache<String>,
    out: &mut Vec<u8>,
) {
    let (kind, primary_color) = match d.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
    };
    let primary = ariadne_span(sources, d.primary.file, d.primary.span);
    // ariadne starts a new source section whenever a label's order goes back up the file,
    // so labels are ordered by position, not primary first.
    let mut places: Vec<(FileId, Span)> = std::iter::once((d.primary.file, d.primary.span))
        .chain(d.secondary.iter().map(|s| (s.file, s.span)))
        .collect();
    places.sort();
    let order = |file: FileId, span: Span| {
        places.iter().position(|p| *p == (file, span)).unwrap_or(0) as i32
    };
    let mut label = Label::new(primary.clone()).with_order(order(d.primary.file, d.primary.span));
    if !d.primary.message.is_empty() {
        label = label.with_message(&d.primary.message);
    }
    if color {
        label = label.with_color(primary_color);
    }
    let mut report = Report::build(kind, primary)
        .with_code(d.code)
        .with_message(&d.message)
        .with_config(config)
        .with_label(label);
    for s in &d.secondary {
        let mut label =
            Label::new(ariadne_span(sources, s.file, s.span)).with_order(order(s.file, s.span));
        if !s.message.is_empty() {
            label = label.with_message(&s.message);
        }
        if color {
            label = label.with_color(Color::Blue);
        }
        report = report.with_label(label);
    }
    for note in &d.notes {
        report = report.with_note(note);
    }
    for help in &d.help {
        report = report.with_help(help);
    }
    if report.finish().write(cache, &mut *out).is_err() {
        out.extend_from_slice(format!("{}[{}]: {}\n", kind, d.code, d.message).as_bytes());
    }
}
