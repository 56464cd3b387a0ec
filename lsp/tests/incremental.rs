//! After an edit inside one declaration the server parses only that declaration again (see
//! `oaas_compiler::syntax::incremental`). What it then publishes and answers must be what a
//! server that opens the edited text fresh publishes and answers.

mod common;

use common::Client;
use serde_json::{json, Value};

const TEXT: &str = include_str!("../../examples/video/video.oaas");

/// Edits made one after another: each replaces the first occurrence of the first text.
const EDITS: &[(&str, &str)] = &[
    // Inside a macro body: an unknown name, then back.
    ("segment_s: 30", "segment_s: later"),
    ("segment_s: later", "segment_s: 30"),
    // A longer state default in the first class: everything after it moves.
    ("frames_scanned: int = 0", "frames_scanned: int = 100000"),
    // A broken member (a syntax error), then typing on in the same class, then the fix.
    ("public state title: string", "public state title: "),
    ("public state duration_s", "public state length_s"),
    ("public state title: ", "public state title: string"),
    // Docs and an annotation.
    ("Cut the video", "Cut the whole video"),
    ("@retry(attempts: 2)", "@retry(attempts: 5)"),
    // A use of the renamed field that does not exist any more, in the last class.
    ("lang: string = \"en\"", "lang: string = self.duration_s"),
];

/// What the client sees of a file: the outline, the inlay hints and the diagnostics.
fn outline(c: &mut Client, uri: &str) -> (Value, Value) {
    let symbols = c.ok(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    let hints = c.ok(
        "textDocument/inlayHint",
        json!({
            "textDocument": { "uri": uri },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 200, "character": 0 } },
        }),
    );
    (symbols, hints)
}

#[test]
fn edits_inside_declarations_answer_as_a_fresh_open_does() {
    let uri = "file:///tmp/oaas-lsp-incremental/video.oaas";
    let mut live = Client::start(None);
    live.open(uri, TEXT);
    let mut published = live.diagnostics(uri);
    let mut text = TEXT.to_string();
    for (version, (from, to)) in (2..).zip(EDITS) {
        let edited = text.replacen(from, to, 1);
        assert_ne!(edited, text, "{from:?} is not in the text");
        text = edited;
        live.change_all(uri, version, &text);
        let seen = outline(&mut live, uri);
        // Diagnostics are published before a request is answered, when they changed.
        if let Some(latest) = live.drain_diagnostics().remove(uri) {
            published = latest;
        }

        let mut fresh = Client::start(None);
        fresh.open(uri, &text);
        let expected = fresh.diagnostics(uri);
        let expected_outline = outline(&mut fresh, uri);
        fresh.shutdown();

        assert_eq!(published, expected, "diagnostics after {from:?} -> {to:?}");
        assert_eq!(seen, expected_outline, "outline after {from:?} -> {to:?}");
    }
    // The edits did what they say: the last one left an error.
    assert!(!published.is_empty());
    live.shutdown();
}
