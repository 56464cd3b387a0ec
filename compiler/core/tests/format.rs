//! The formatter's properties over every example and fixture: formatting is idempotent, the
//! result parses to the same tree (spans aside) with the same comments, and files with syntax
//! errors are refused rather than changed. Then the same over random re-layouts of the
//! valid files (whitespace and line breaks changed between tokens).

use oaas_compiler::format::{self, FormatError};
use oaas_compiler::syntax;
use oaas_compiler::FileId;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn oaas_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            oaas_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "oaas") {
            out.push(path);
        }
    }
}

/// Every `.oaas` file of the examples, the test fixtures and the standard library.
fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths = Vec::new();
    for dir in ["examples", "tests/fixtures", "stdlib"] {
        oaas_files(&root.join(dir), &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some((p, text))
        })
        .collect()
}

fn comments(text: &str) -> Vec<String> {
    // Lines' `//` parts outside strings; enough to compare comment sets.
    let mut out = Vec::new();
    for line in text.lines() {
        let bytes = line.as_bytes();
        let mut in_string = false;
        let mut i = 0;
        while i < bytes.len() {
            match (in_string, bytes[i]) {
                (true, b'\\') => i += 1,
                (_, b'"') => in_string = !in_string,
                (false, b'/') if bytes.get(i + 1) == Some(&b'/') => {
                    out.push(line[i..].trim_end().to_string());
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    out.sort();
    out
}

/// The properties for one text; returns whether it was formatted.
fn check(name: &str, text: &str) -> bool {
    let parsed = syntax::parse(FileId(0), text);
    match format::format(text) {
        Ok(out) => {
            let again = format::format(&out).unwrap_or_else(|e| {
                panic!("{name}: formatted text does not format again: {e}\n{out}")
            });
            assert!(
                again == out,
                "{name}: not idempotent\n--- input:\n{text}\n--- first:\n{out}\n--- second:\n{again}"
            );
            let reparsed = syntax::parse(FileId(0), &out);
            assert!(reparsed.diagnostics.is_empty(), "{name}: result has errors");
            assert_eq!(
                format::shape(&reparsed.ast),
                format::shape(&parsed.ast),
                "{name}: different tree"
            );
            assert_eq!(comments(&out), comments(text), "{name}: comments changed");
            assert!(format::is_formatted(&out));
            true
        }
        Err(FormatError::Syntax(_)) => {
            assert!(
                parsed.diagnostics.iter().any(|d| d.is_error()),
                "{name}: refused without a syntax error"
            );
            false
        }
        Err(e) => panic!("{name}: {e}\n{text}"),
    }
}

#[test]
fn every_example_and_fixture() {
    let corpus = corpus();
    assert!(corpus.len() >= 3, "no files found");
    let mut formatted = 0;
    for (path, text) in &corpus {
        if check(&path.display().to_string(), text) {
            formatted += 1;
        }
    }
    assert!(formatted >= 3, "only {formatted} files could be formatted");
}

#[test]
fn examples_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut paths = Vec::new();
    oaas_files(&root, &mut paths);
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            format::is_formatted(&text),
            "{} is not formatted: run `oaasc fmt examples`",
            path.display()
        );
    }
}

/// The valid files of the corpus.
fn valid() -> &'static [String] {
    static VALID: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    VALID.get_or_init(|| {
        corpus()
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| format::format(t).is_ok())
            .collect()
    })
}

/// Replaces each run of whitespace between tokens with one of a few layouts, picked by
/// `choices` in turn. A run after a comment keeps a line break.
fn relayout(text: &str, choices: &[u8]) -> String {
    const LAYOUTS: &[&str] = &[
        " ",
        "\n",
        "\n\n",
        "  ",
        "\n    \n  ",
        "\t",
        " \n ",
        " // trailing\n",
        "\n// own line\n",
        "\n/// doc-like\n",
        " /// trailing doc-like\n",
        "\n// a\n\n// b\n",
    ];
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    let mut n = 0;
    let mut after_comment = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b' ' || b == b'\t' || b == b'\r' || b == b'\n' {
            let start = i;
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            let original = &text[start..i];
            let pick = choices.get(n % choices.len().max(1)).copied().unwrap_or(0) as usize;
            n += 1;
            let mut layout = LAYOUTS[pick % LAYOUTS.len()].to_string();
            if pick >= LAYOUTS.len() {
                layout = original.to_string();
            }
            if after_comment && !layout.contains('\n') {
                layout.insert(0, '\n');
            }
            out.push_str(&layout);
            after_comment = false;
            continue;
        }
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            let end = text[i..].find('\n').map_or(text.len(), |e| i + e);
            out.push_str(&text[i..end]);
            i = end;
            after_comment = true;
            continue;
        }
        if b == b'"' {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            out.push_str(&text[start..i]);
            continue;
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
        // Also break up tokens written without space around brackets and separators.
        let next_is_space = bytes.get(i).is_some_and(|b| b.is_ascii_whitespace());
        if b"(){}[],:=?".contains(&b) && !next_is_space && i < bytes.len() {
            let pick = choices.get(n % choices.len().max(1)).copied().unwrap_or(0) as usize;
            n += 1;
            if [0, 3, 6, 9].contains(&pick) {
                out.push_str(LAYOUTS[pick]);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_layouts_format_stably(which in 0usize..1000, choices in prop::collection::vec(0u8..40, 1..64)) {
        let files = valid();
        prop_assume!(!files.is_empty());
        let text = &files[which % files.len()];
        let relaid = relayout(text, &choices);
        check("relaid file", &relaid);
    }
}
