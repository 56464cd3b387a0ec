//! Scripted sessions: what an editor does, message by message.

mod common;

use common::{apply_edits, at, find, Client, DOCS_BASE};
use serde_json::{json, Value};

const VIDEO: &str = r#"package video

/// What a detection run found.
@local("python3 functions/detection.py")
class Detection {
  public state faces: int = 0

  /// Merge partial results into one object.
  public static fn merge(parts: [Detection]) -> Detection
}

/// A still image.
@local("python3 functions/image.py")
class Image {
  public fn detect_faces(min_score: float = 0.5) -> Detection
}

/// A video with its frames.
@local("python3 functions/video.py")
class Video {
  public state title: string
  ref frames: [Image] = []

  /// Cut the video into parts of `segment_s` seconds.
  internal fn split(segment_s: int = 10) -> [Video]
  /// Take one frame every `every_s` seconds.
  internal fn extract_frames(every_s: int) -> [Image]

  /// Split, scan the parts in parallel, detect faces, merge.
  public macro detect_faces(every_s: int = 5) -> Detection {
    let parts = self.splt(segment_s: 30)
    let frames = for p in parts { p.extract_frames(every_s: every_s) }
    let found = for f in flatten(frames) { f.detect_faces() }
    return Detection.merge(parts: found)
  }
}
"#;

fn labels(items: &Value) -> Vec<String> {
    let list = items.get("items").unwrap_or(items);
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["label"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn edit_session() {
    let mut c = Client::start(None);
    let uri = "file:///tmp/oaas-lsp-session/video.oaas";

    // An error: diagnostics carry it, with its code and a link to its page.
    c.open(uri, VIDEO);
    let diags = c.diagnostics(uri);
    let unknown = diags
        .iter()
        .find(|d| d["code"] == "E0113")
        .unwrap_or_else(|| panic!("no E0113 in {diags:#?}"));
    assert_eq!(unknown["severity"], 1);
    assert_eq!(unknown["source"], "oaasc");
    assert_eq!(
        unknown["codeDescription"]["href"],
        format!("{DOCS_BASE}E0113.md")
    );
    let (line, col) = find(VIDEO, "splt", 0, 0);
    assert_eq!(
        unknown["range"]["start"],
        json!({ "line": line, "character": col })
    );
    assert_eq!(
        unknown["range"]["end"],
        json!({ "line": line, "character": col + 4 })
    );

    // Fixed with an incremental change: the diagnostics clear.
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{
                "range": { "start": { "line": line, "character": col }, "end": { "line": line, "character": col + 4 } },
                "text": "split",
            }],
        }),
    );
    assert_eq!(c.diagnostics(uri), Vec::<Value>::new());
    let text = VIDEO.replace("self.splt(", "self.split(");

    // Hover on `p.extract_frames`: signature, access and docs.
    let (l, ch) = find(&text, "p.extract_frames", 0, 3);
    let hover = c.ok("textDocument/hover", at(uri, l, ch));
    let value = hover["contents"]["value"].as_str().unwrap_or("");
    assert!(
        value.contains("internal fn extract_frames(every_s: int) -> [Image]"),
        "{value}"
    );
    assert!(
        value.contains("Take one frame every `every_s` seconds."),
        "{value}"
    );
    assert!(value.contains("class `Video`"), "{value}");
    assert_eq!(
        hover["range"]["start"],
        json!({ "line": l, "character": ch - 1 })
    );

    // Hover on a `let` and on a parameter.
    let (l, ch) = find(&text, "let frames", 0, 5);
    let value = c.ok("textDocument/hover", at(uri, l, ch))["contents"]["value"].clone();
    assert!(
        value
            .as_str()
            .unwrap_or("")
            .contains("let frames: [[Image]]"),
        "{value}"
    );
    let (l, ch) = find(&text, "every_s: every_s", 0, 10);
    let value = c.ok("textDocument/hover", at(uri, l, ch))["contents"]["value"].clone();
    assert!(
        value
            .as_str()
            .unwrap_or("")
            .contains("(parameter) every_s: int = 5"),
        "{value}"
    );

    // Hover on an annotation's name.
    let (l, ch) = find(&text, "@local", 1, 2);
    let value = c.ok("textDocument/hover", at(uri, l, ch))["contents"]["value"].clone();
    assert!(
        value.as_str().unwrap_or("").contains("on one machine"),
        "{value}"
    );

    // Definition of `p.extract_frames`: its declaration.
    let (l, ch) = find(&text, "p.extract_frames", 0, 5);
    let def = c.ok("textDocument/definition", at(uri, l, ch));
    assert_eq!(def["uri"], uri);
    let (dl, dc) = find(&text, "fn extract_frames", 0, 3);
    assert_eq!(
        def["range"]["start"],
        json!({ "line": dl, "character": dc })
    );

    // A named argument leads to its parameter.
    let (l, ch) = find(&text, "segment_s: 30", 0, 2);
    let def = c.ok("textDocument/definition", at(uri, l, ch));
    let (dl, dc) = find(&text, "segment_s: int", 0, 0);
    assert_eq!(
        def["range"]["start"],
        json!({ "line": dl, "character": dc })
    );

    // Into the standard library: `Detection.new` is declared on `Object`.
    let with_new = text.replace(
        "return Detection.merge(parts: found)",
        "let d = Detection.new(faces: 1)\n    return Detection.merge(parts: [d])",
    );
    c.change_all(uri, 3, &with_new);
    let (l, ch) = find(&with_new, "Detection.new", 0, 11);
    let def = c.ok("textDocument/definition", at(uri, l, ch));
    let std_uri = def["uri"].as_str().unwrap_or("").to_string();
    assert!(std_uri.ends_with("std.oaas"), "{def}");
    let std_path = oaas_lsp::convert::uri_to_path(&std_uri).expect("a file URI");
    let std_text = std::fs::read_to_string(std_path).expect("the standard library is on disk");
    assert!(std_text.contains("public static fn new() -> Self"));
    // Hover on the standard library item.
    let value = c.ok("textDocument/hover", at(uri, l, ch))["contents"]["value"].clone();
    assert!(
        value
            .as_str()
            .unwrap_or("")
            .contains("public static fn new() -> Self"),
        "{value}"
    );

    // Completion after `self.`: the class's members, inherited builtins, no statics.
    let typing = text.replace(
        "    return Detection",
        "    let x = self.\n    return Detection",
    );
    c.change_all(uri, 4, &typing);
    let (l, ch) = find(&typing, "self.\n", 0, 5);
    let items = c.ok(
        "textDocument/completion",
        json!({ "textDocument": { "uri": uri }, "position": { "line": l, "character": ch }, "context": { "triggerKind": 2, "triggerCharacter": "." } }),
    );
    let names = labels(&items);
    for want in [
        "split",
        "extract_frames",
        "detect_faces",
        "title",
        "frames",
        "get",
        "copy",
        "update",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    assert!(!names.contains(&"new".to_string()), "{names:?}");

    // Named arguments inside a call.
    let typing = text.replace("self.split(segment_s: 30)", "self.split()");
    c.change_all(uri, 5, &typing);
    let (l, ch) = find(&typing, "self.split()", 0, 11);
    let names = labels(&c.ok("textDocument/completion", at(uri, l, ch)));
    assert!(names.contains(&"segment_s:".to_string()), "{names:?}");

    // Annotation names after `@`.
    let typing = text.replace("class Image {", "@\nclass Image {");
    c.change_all(uri, 6, &typing);
    let (l, ch) = find(&typing, "@\n", 0, 1);
    let names = labels(&c.ok("textDocument/completion", at(uri, l, ch)));
    for want in ["local", "url", "image", "timeout", "retry", "concurrency"] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }

    // Formatting: edits that make the canonical text, and no edit once formatted.
    let messy = text.replace(
        "    let parts = self.split(segment_s: 30)",
        "    let   parts=self.split( segment_s :30 )",
    );
    c.change_all(uri, 7, &messy);
    let edits = c.ok(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let edits = edits.as_array().cloned().unwrap_or_default();
    assert_eq!(apply_edits(&messy, &edits), text, "{edits:?}");
    c.change_all(uri, 8, &text);
    let edits = c.ok(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));

    c.shutdown();
}

#[test]
fn bad_messages_get_errors_not_crashes() {
    let mut c = Client::start(None);
    let uri = "file:///tmp/oaas-lsp-bad/x.oaas";
    c.open(uri, VIDEO);
    let _ = c.diagnostics(uri);

    let r = c.request("textDocument/noSuchThing", json!({}));
    assert_eq!(r.response_result.err().map(|e| e.code), Some(-32601));
    let r = c.request("textDocument/hover", json!({ "garbage": [1, 2, 3] }));
    assert_eq!(r.response_result.err().map(|e| e.code), Some(-32602));
    let r = c.request("textDocument/hover", json!([1, "two", null]));
    assert_eq!(r.response_result.err().map(|e| e.code), Some(-32602));
    let r = c.request("textDocument/completion", json!({ "textDocument": { "uri": "not a uri" }, "position": { "line": 0, "character": 0 } }));
    assert_eq!(r.response_result.err().map(|e| e.code), Some(-32602));
    let r = c.request("initialize", json!({ "capabilities": {} }));
    assert!(r.response_result.is_err());

    // Out-of-range positions clamp or answer nothing, never fail.
    for (line, character) in [(9999, 0), (0, 9999), (4_000_000_000u32, 4_000_000_000u32)] {
        for method in [
            "textDocument/hover",
            "textDocument/definition",
            "textDocument/completion",
            "textDocument/documentHighlight",
            "textDocument/prepareRename",
        ] {
            let r = c.request(method, at(uri, line, character));
            assert!(
                r.response_result.is_ok(),
                "{method} at {line}:{character}: {:?}",
                r.response_result
            );
        }
    }
    // A document the server does not know.
    let r = c.request("textDocument/hover", at("file:///nowhere/else.oaas", 0, 0));
    assert_eq!(r.response_result.ok(), Some(Value::Null));

    // Garbage notifications are ignored.
    c.notify("textDocument/didChange", json!({ "nonsense": true }));
    c.notify("textDocument/didOpen", json!(42));
    c.notify("$/cancelRequest", json!({ "id": 99 }));
    c.notify("textDocument/didChange", json!({
        "textDocument": { "uri": uri, "version": 2 },
        "contentChanges": [{ "range": { "start": { "line": 900, "character": 5 }, "end": { "line": 1, "character": 0 } }, "text": "" }],
    }));
    // Still answering.
    let (l, ch) = find(VIDEO, "extract_frames(every_s: int)", 0, 1);
    let hover = c.ok("textDocument/hover", at(uri, l, ch));
    assert!(hover.is_object() || hover.is_null());

    c.shutdown();
}

#[test]
fn non_ascii_text_uses_utf16_columns() {
    let mut c = Client::start(None);
    let uri = "file:///tmp/oaas-lsp-utf16/u.oaas";
    let text = "package u\n\n@local(\"x\")\nclass Émoji {}\n\n@local(\"python3 f.py\")\nclass A {\n  public fn f(a: string = \"😀é\", b: Unknwn) -> int\n}\n";
    c.open(uri, text);
    let diags = c.diagnostics(uri);
    // `Émoji` is not a name (ASCII only): a syntax error; and after it, the unknown type.
    let unknown = diags
        .iter()
        .find(|d| d["message"].as_str().unwrap_or("").contains("Unknwn"))
        .unwrap_or_else(|| panic!("{diags:#?}"));
    let (line, col) = find(text, "Unknwn", 0, 0);
    // 😀 is two UTF-16 units, é one: the column counts units, not bytes or characters.
    assert_eq!(
        col,
        "  public fn f(a: string = \"😀é\", b: "
            .encode_utf16()
            .count() as u32
    );
    assert_eq!(
        unknown["range"]["start"],
        json!({ "line": line, "character": col })
    );

    // Hover on `b`, after the emoji on the same line.
    let fixed = text
        .replace("Unknwn", "int")
        .replace("class Émoji {}\n", "");
    c.change_all(uri, 2, &fixed);
    let (l, ch) = find(&fixed, "b: int", 0, 0);
    let hover = c.ok("textDocument/hover", at(uri, l, ch));
    assert_eq!(
        hover["range"]["start"],
        json!({ "line": l, "character": ch })
    );
    assert_eq!(
        hover["range"]["end"],
        json!({ "line": l, "character": ch + 1 })
    );
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .contains("(parameter) b: int"));
    // A position inside the emoji's surrogate pair is clamped, not a failure.
    let (l, ch) = find(&fixed, "😀", 0, 1);
    let r = c.request("textDocument/hover", at(uri, l, ch));
    assert!(r.response_result.is_ok());

    c.shutdown();
}

#[test]
fn untitled_buffers_and_broken_files() {
    let mut c = Client::start(None);
    let uri = "untitled:Untitled-1";
    let text = "package scratch\n\nclass A {\n  fn (\n}\n";
    c.open(uri, text);
    let diags = c.diagnostics(uri);
    assert!(diags.iter().any(|d| d["code"] == "E0001"), "{diags:#?}");
    // A file with syntax errors is not formatted: no edits, no error.
    let edits = c.ok(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, Value::Null);
    // The outline still shows what parsed.
    let symbols = c.ok(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert_eq!(symbols[0]["name"], "A");
    // Closing an untitled buffer clears its diagnostics.
    c.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert_eq!(c.diagnostics(uri), Vec::<Value>::new());
    c.shutdown();
}
