//! Formatting as edits: the compiler's formatter rewrites the whole file, and this module
//! sends only the stretches that changed (lines first, then characters within a changed
//! stretch), so the editor keeps the cursor on its text. Range formatting sends the edits that
//! touch the range.

use crate::convert;
use crate::snapshot::Snapshot;
use lsp_types as lsp;
use oaas_compiler::span::SourceFile;
use oaas_compiler::FileId;
use similar::{DiffOp, TextDiff};

/// The edits that format a file, or only those touching `range`: none when it is formatted,
/// `None` when it cannot be (syntax errors, which the diagnostics show).
pub fn format_edits(
    snap: &Snapshot,
    file: FileId,
    range: Option<lsp::Range>,
) -> Option<Vec<lsp::TextEdit>> {
    if snap.is_builtin(file) {
        return None;
    }
    let source = snap.source(file);
    let formatted = oaas_compiler::format::format(&source.text).ok()?;
    let edits = minimal_edits(&source.text, &formatted);
    let bounds = range.map(|r| {
        (
            convert::offset(source, r.start),
            convert::offset(source, r.end),
        )
    });
    Some(
        edits
            .into_iter()
            .filter(|(a, b, _)| bounds.is_none_or(|(from, to)| *a <= to && from <= *b))
            .map(|(a, b, text)| lsp_edit(source, a, b, text))
            .collect(),
    )
}

fn lsp_edit(source: &SourceFile, start: usize, end: usize, new_text: String) -> lsp::TextEdit {
    lsp::TextEdit {
        range: lsp::Range {
            start: convert::position(source, start),
            end: convert::position(source, end),
        },
        new_text,
    }
}

/// Byte ranges of `old` and what replaces each to make `new`, in order, not overlapping.
pub fn minimal_edits(old: &str, new: &str) -> Vec<(usize, usize, String)> {
    let lines = TextDiff::from_lines(old, new);
    let old_starts = line_starts(old);
    let new_starts = line_starts(new);
    let mut out = Vec::new();
    for op in lines.ops() {
        if let DiffOp::Equal { .. } = op {
            continue;
        }
        let (o, n) = (op.old_range(), op.new_range());
        let (oa, ob) = (old_starts[o.start], old_starts[o.end]);
        let (na, nb) = (new_starts[n.start], new_starts[n.end]);
        // Within a changed stretch, only the characters that differ.
        // A deadline bounds the time on a large stretch (the edits are then less small).
        let chars = TextDiff::configure()
            .timeout(std::time::Duration::from_millis(100))
            .diff_chars(&old[oa..ob], &new[na..nb]);
        let (old_part, new_part) = (&old[oa..ob], &new[na..nb]);
        let old_bytes = char_starts(old_part);
        let new_bytes = char_starts(new_part);
        for c in chars.ops() {
            if let DiffOp::Equal { .. } = c {
                continue;
            }
            let (co, cn) = (c.old_range(), c.new_range());
            out.push((
                oa + old_bytes[co.start],
                oa + old_bytes[co.end],
                new_part[new_bytes[cn.start]..new_bytes[cn.end]].to_string(),
            ));
        }
    }
    out
}

/// The byte offset where each line starts, and the text's end.
fn line_starts(text: &str) -> Vec<usize> {
    let mut out = vec![0];
    out.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    if *out.last().unwrap_or(&0) != text.len() {
        out.push(text.len());
    }
    out
}

/// The byte offset of each character, and the text's end.
fn char_starts(text: &str) -> Vec<usize> {
    let mut out: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    out.push(text.len());
    out
}

#[cfg(test)]
mod tests {
    use super::minimal_edits;

    fn apply(old: &str, edits: &[(usize, usize, String)]) -> String {
        let mut out = old.to_string();
        for (a, b, t) in edits.iter().rev() {
            out.replace_range(*a..*b, t);
        }
        out
    }

    #[test]
    fn edits_turn_the_old_text_into_the_new_and_leave_the_rest() {
        let cases = [
            ("a\nb\nc\n", "a\nb\nc\n"),
            ("a\n  b\nc\n", "a\nb\nc\n"),
            ("class  A {\n}\n", "class A {\n}\n"),
            ("x", "x\n"),
            ("", "package p\n"),
            ("é  ü\nz", "é ü\nz\n"),
            ("a\nb\n", ""),
        ];
        for (old, new) in cases {
            let edits = minimal_edits(old, new);
            assert_eq!(apply(old, &edits), new, "{old:?} -> {new:?}: {edits:?}");
        }
        // One space removed: one edit deleting one of the two spaces, nothing else.
        let edits = minimal_edits("class  A {\n}\n", "class A {\n}\n");
        assert_eq!(edits.len(), 1, "{edits:?}");
        assert!(matches!(edits[0], (5..=6, b, ref t) if b == edits[0].0 + 1 && t.is_empty()));
        assert!(minimal_edits("a\n", "a\n").is_empty());
    }
}
