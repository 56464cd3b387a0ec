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

/// Renders every diagnostic, each followed by a blank line. `color` should be true only when
/// writing to a terminal.
pub fn render_human(sources: &Sources, diagnostics: &[Diagnostic], color: bool) -> String {
    let mut cache = ariadne::sources(
        sources
            .iter()
            .map(|(_, f)| (f.path.clone(), f.text.clone())),
    );
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte);
    let mut out = Vec::new();
    for d in diagnostics {
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
        let mut label =
            Label::new(primary.clone()).with_order(order(d.primary.file, d.primary.span));
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
        if report.finish().write(&mut cache, &mut out).is_err() {
            out.extend_from_slice(format!("{}[{}]: {}\n", kind, d.code, d.message).as_bytes());
        }
        out.push(b'\n');
    }
    String::from_utf8_lossy(&out).into_owned()
}
