//! Real files and the edits to make to them, for property tests: the examples, the standard
//! library and some valid fixtures as seeds; deletions, duplications and insertions of the
//! language's tokens or of random text as edits.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// `cases` cases per property, or `PROPTEST_CASES` for a longer run; shrunk failures are kept
/// in `NAME.proptest-regressions` beside the test file and replayed first on every run.
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Real files to mutate: the examples, the standard library and the valid fixtures.
pub const SEEDS: &[&str] = &[
    include_str!("../../examples/video/video.oaas"),
    include_str!("../../examples/text/text.oaas"),
    include_str!("../../examples/record/record.oaas"),
    include_str!("../../stdlib/std.oaas"),
    include_str!("../fixtures/syntax/valid/09_annotations.oaas"),
    include_str!("../fixtures/syntax/valid/12_macro_for.oaas"),
    include_str!("../fixtures/syntax/valid/14_literals.oaas"),
    include_str!("../fixtures/syntax/valid/16_comments_and_layout.oaas"),
];

/// Pieces of the language, to build plausible garbage from.
pub const TOKENS: &[&str] = &[
    "package",
    "use",
    "record",
    "class",
    "extends",
    "state",
    "file",
    "ref",
    "fn",
    "macro",
    "let",
    "return",
    "for",
    "in",
    "public",
    "internal",
    "private",
    "mut",
    "static",
    "override",
    "true",
    "false",
    "null",
    "self",
    "flatten",
    "Self",
    "int",
    "float",
    "string",
    "json",
    "bool",
    "video",
    "Video",
    "x",
    "_y",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    ",",
    ".",
    "=",
    "->",
    "?",
    "@",
    "@local",
    "@timeout",
    "@retry",
    "\"",
    "\"text\"",
    "\"\\q\"",
    "\"\\",
    "42",
    "-7",
    "0.5",
    "1e999",
    "99999999999999999999",
    "120s",
    "200ms",
    "5m",
    "2h",
    "//",
    "///",
    "/// doc\n",
    "// note\n",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\u{FEFF}",
    "é",
    "😀",
    "\u{2028}",
    "\u{85}",
    "\0",
    "}}",
    "((",
    "{\"k\": 1}",
    "vid42:get",
    "/src",
    "a=1",
];

/// The largest char boundary at or below `i`.
pub fn floor(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One edit of a text, at positions given as fractions of its length.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Delete up to this many bytes.
    Delete(f64, usize),
    /// Insert a copy of the next bytes, up to this many.
    Duplicate(f64, usize),
    /// Insert one of [`TOKENS`].
    InsertToken(f64, usize),
    /// Insert this text.
    InsertText(f64, String),
    /// Replace the first word at or after the place with this one: an edit that often keeps
    /// the file well formed, as most keystrokes in a name or a number do.
    Rename(f64, String),
}

/// Any one [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..40usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (at.clone(), 1..80usize).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (at.clone(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::InsertToken(a, t)),
        (at.clone(), ".{0,8}").prop_map(|(a, s)| Mutation::InsertText(a, s)),
        (at, "[a-z_][a-z0-9_]{0,6}|[0-9]{1,4}").prop_map(|(a, s)| Mutation::Rename(a, s)),
    ]
}

/// The text after the edit.
pub fn apply(text: &str, m: &Mutation) -> String {
    let pos = |frac: f64| floor(text, (frac * text.len() as f64) as usize);
    let mut out = text.to_string();
    match m {
        Mutation::Delete(a, n) => {
            let start = pos(*a);
            out.replace_range(start..floor(text, start + n), "");
        }
        Mutation::Duplicate(a, n) => {
            let start = pos(*a);
            let piece = text[start..floor(text, start + n)].to_string();
            out.insert_str(start, &piece);
        }
        Mutation::InsertToken(a, t) => out.insert_str(pos(*a), TOKENS[*t]),
        Mutation::InsertText(a, s) => out.insert_str(pos(*a), s),
        Mutation::Rename(a, s) => {
            let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
            let from = pos(*a);
            if let Some(start) = text[from..].find(word).map(|i| from + i) {
                let len = text[start..]
                    .find(|c: char| !word(c))
                    .unwrap_or(text.len() - start);
                out.replace_range(start..start + len, s);
            }
        }
    }
    out
}
