//! The capabilities editors beyond VS Code lean on: semantic tokens (full, delta, range), code
//! actions that apply the compiler's fixes, signature help, formatting as small edits and
//! range formatting, completion edits and snippets, hover and definition of built-ins.

mod common;

use common::{apply_edits, at, find, Client};
use serde_json::{json, Value};

const VIDEO: &str = r#"package video

/// What a detection run found.
@local("python3 functions/detection.py")
class Detection {
  public state faces: int = 0

  /// Merge partial results into one object.
  public static fn merge(parts: [Detection]) -> Detection
}

@local("python3 functions/video.py")
class Video {
  public state title: string
  public file src: "video/mp4"

  /// Cut the video into parts of `segment_s` seconds.
  internal fn split(segment_s: int = 10, overlap_s: int = 0) -> [Video]
  internal fn scan(every_s: int, min_score: float) -> Detection

  public macro detect(every_s: int = 5) -> Detection {
    let parts = self.split(segment_s: 30)
    let found = for p in parts { p.scan(every_s: every_s, min_score: 0.5) }
    return Detection.merge(parts: found)
  }
}
"#;

const URI: &str = "file:///tmp/oaas-lsp-editor/video.oaas";

/// A client with `VIDEO` open and checked clean.
fn open(text: &str) -> Client {
    let mut c = Client::start(None);
    c.open(URI, text);
    let _ = c.diagnostics(URI);
    c
}

/// Decoded tokens: (line, column, length, type, modifiers) with names from the legend.
fn decode(c: &Client, data: &Value) -> Vec<(u32, u32, u32, String, Vec<String>)> {
    let legend = &c.initialized["capabilities"]["semanticTokensProvider"]["legend"];
    let types: Vec<&str> = legend["tokenTypes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let modifiers: Vec<&str> = legend["tokenModifiers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ints: Vec<u32> = data
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|n| n as u32)
                .collect()
        })
        .unwrap_or_default();
    let (mut line, mut col) = (0, 0);
    let mut out = Vec::new();
    for t in ints.chunks_exact(5) {
        line += t[0];
        col = if t[0] == 0 { col + t[1] } else { t[1] };
        let mods = (0..modifiers.len())
            .filter(|i| t[4] & (1 << i) != 0)
            .map(|i| modifiers[i].to_string())
            .collect();
        out.push((line, col, t[2], types[t[3] as usize].to_string(), mods));
    }
    out
}

/// The token at the `n`-th occurrence of `needle` (plus `offset` characters).
fn token_at<'a>(
    tokens: &'a [(u32, u32, u32, String, Vec<String>)],
    text: &str,
    needle: &str,
    n: usize,
    offset: u32,
) -> &'a (u32, u32, u32, String, Vec<String>) {
    let (l, ch) = find(text, needle, n, offset);
    tokens
        .iter()
        .find(|t| t.0 == l && t.1 == ch)
        .unwrap_or_else(|| panic!("no token at `{needle}` ({l}:{ch}) in {tokens:?}"))
}

#[test]
fn semantic_tokens_name_what_each_word_is() {
    let mut c = open(VIDEO);
    let full = c.ok(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": URI } }),
    );
    let tokens = decode(&c, &full["data"]);
    let kind =
        |needle: &str, n: usize, offset: u32| token_at(&tokens, VIDEO, needle, n, offset).3.clone();
    assert_eq!(kind("package", 0, 0), "keyword");
    assert_eq!(kind("video\n", 0, 0), "namespace");
    assert_eq!(kind("/// What", 0, 0), "comment");
    assert!(token_at(&tokens, VIDEO, "/// What", 0, 0)
        .4
        .contains(&"documentation".to_string()));
    assert_eq!(kind("@local", 0, 0), "decorator");
    assert_eq!(kind("\"python3", 0, 0), "string");
    assert_eq!(kind("class Detection", 0, 6), "class");
    assert!(token_at(&tokens, VIDEO, "class Detection", 0, 6)
        .4
        .contains(&"declaration".to_string()));
    assert_eq!(kind("int = 0", 0, 0), "type");
    assert_eq!(kind("0\n", 0, 0), "number");
    assert_eq!(kind("faces", 0, 0), "property");
    let merge = token_at(&tokens, VIDEO, "Detection.merge", 0, 10);
    assert_eq!(merge.3, "method");
    assert!(merge.4.contains(&"static".to_string()), "{merge:?}");
    assert!(!merge.4.contains(&"declaration".to_string()));
    assert_eq!(kind("every_s: every_s", 0, 9), "parameter");
    assert_eq!(kind("parts {", 0, 0), "variable");
    assert_eq!(kind("p.scan", 0, 0), "variable");
    assert_eq!(kind("segment_s: 30", 0, 0), "parameter");
    // Every token lies inside its line.
    let lines: Vec<&str> = VIDEO.lines().collect();
    for t in &tokens {
        let line_len = lines[t.0 as usize].encode_utf16().count() as u32;
        assert!(t.1 + t.2 <= line_len, "{t:?}");
    }

    // A change, then a delta from the last result: applied to the old data it gives the new.
    let old: Vec<Value> = full["data"].as_array().cloned().unwrap_or_default();
    let text = VIDEO
        .replace("let found = for", "let found2 = for")
        .replace("parts: found)", "parts: found2)");
    c.change_all(URI, 2, &text);
    let delta = c.ok(
        "textDocument/semanticTokens/full/delta",
        json!({ "textDocument": { "uri": URI }, "previousResultId": full["resultId"] }),
    );
    let edits = delta["edits"].as_array().cloned().unwrap_or_default();
    assert!(!edits.is_empty(), "{delta}");
    let mut data = old.clone();
    for e in edits.iter().rev() {
        let start = e["start"].as_u64().unwrap_or(0) as usize;
        let count = e["deleteCount"].as_u64().unwrap_or(0) as usize;
        let new = e["data"].as_array().cloned().unwrap_or_default();
        data.splice(start..start + count, new);
    }
    assert!(edits
        .iter()
        .all(|e| e["deleteCount"].as_u64() < Some(old.len() as u64)));
    let fresh = c.ok(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": URI } }),
    );
    assert_eq!(Value::Array(data), fresh["data"]);
    let tokens = decode(&c, &fresh["data"]);
    assert_eq!(token_at(&tokens, &text, "found2", 1, 0).3, "variable");

    // No change since the last result: no edit. An unknown previous id: the whole data.
    let same = c.ok(
        "textDocument/semanticTokens/full/delta",
        json!({ "textDocument": { "uri": URI }, "previousResultId": fresh["resultId"] }),
    );
    assert_eq!(same["edits"], json!([]));
    let unknown = c.ok(
        "textDocument/semanticTokens/full/delta",
        json!({ "textDocument": { "uri": URI }, "previousResultId": "nope" }),
    );
    assert_eq!(unknown["data"], fresh["data"]);

    // A range: only the tokens of those lines.
    let (l, _) = find(&text, "public macro", 0, 0);
    let range = c.ok(
        "textDocument/semanticTokens/range",
        json!({ "textDocument": { "uri": URI }, "range": { "start": { "line": l, "character": 0 }, "end": { "line": l + 1, "character": 0 } } }),
    );
    let ranged = decode(&c, &range["data"]);
    assert!(!ranged.is_empty());
    assert!(ranged.iter().all(|t| t.0 == l), "{ranged:?}");
    c.shutdown();
}

#[test]
fn code_actions_apply_the_fixes_diagnostics_suggest() {
    let text = VIDEO.replace("self.split(segment_s: 30)", "self.splt(segment_s: 30)");
    let mut c = Client::start(None);
    c.open(URI, &text);
    let diags = c.diagnostics(URI);
    let typo = diags
        .iter()
        .find(|d| d["code"] == "E0113")
        .cloned()
        .unwrap_or_else(|| panic!("{diags:?}"));
    let (l, ch) = find(&text, "splt", 0, 2);
    let actions = c.ok(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": URI },
            "range": { "start": { "line": l, "character": ch }, "end": { "line": l, "character": ch } },
            "context": { "diagnostics": [typo] },
        }),
    );
    let actions = actions.as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let fix = &actions[0];
    assert_eq!(fix["title"], "Change to `split`");
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["isPreferred"], true);
    assert_eq!(fix["diagnostics"][0]["code"], "E0113");
    let edits = fix["edit"]["changes"][URI]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let fixed = apply_edits(&text, &edits);
    assert_eq!(fixed, VIDEO);
    c.change_all(URI, 2, &fixed);
    assert_eq!(c.diagnostics(URI), Vec::<Value>::new());

    // An unused `let`: renamed with an underscore; asking only for refactorings gives none.
    let text = VIDEO.replace(
        "    return Detection.merge(parts: found)",
        "    let extra = self.split()\n    return Detection.merge(parts: found)",
    );
    c.change_all(URI, 3, &text);
    let diags = c.diagnostics(URI);
    assert!(diags.iter().any(|d| d["code"] == "W0001"), "{diags:?}");
    let (l, ch) = find(&text, "extra", 0, 1);
    let range =
        json!({ "start": { "line": l, "character": ch }, "end": { "line": l, "character": ch } });
    let actions = c.ok(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI }, "range": range, "context": { "diagnostics": [] } }),
    );
    assert_eq!(actions[0]["title"], "Rename to `_extra`");
    let edits = actions[0]["edit"]["changes"][URI]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(apply_edits(&text, &edits).contains("let _extra = self.split()"));
    let refactor = c.ok(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI }, "range": range, "context": { "diagnostics": [], "only": ["refactor"] } }),
    );
    assert_eq!(refactor, json!([]));
    // Away from any diagnostic: nothing.
    let none = c.ok(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } }, "context": { "diagnostics": [] } }),
    );
    assert_eq!(none, json!([]));
    c.shutdown();
}

fn signature_at(c: &mut Client, text: &str, needle: &str, offset: u32) -> Value {
    let (l, ch) = find(text, needle, 0, offset);
    c.ok("textDocument/signatureHelp", at(URI, l, ch))
}

#[test]
fn signature_help_marks_the_argument_being_written() {
    let mut c = open(VIDEO);
    let help = signature_at(&mut c, VIDEO, "segment_s: 30", 11);
    let sig = &help["signatures"][0];
    assert_eq!(
        sig["label"],
        "split(segment_s: int = 10, overlap_s: int = 0) -> [Video]"
    );
    assert_eq!(help["activeParameter"], 0);
    assert_eq!(sig["parameters"][0]["label"], json!([6, 25]));
    assert_eq!(sig["parameters"][1]["label"], json!([27, 45]));
    assert!(sig["documentation"]["value"]
        .as_str()
        .unwrap_or("")
        .contains("Cut the video"));

    // By name: `min_score:` is the second parameter wherever it is written.
    let help = signature_at(&mut c, VIDEO, "min_score: 0.5", 11);
    assert_eq!(
        help["signatures"][0]["label"],
        "scan(every_s: int, min_score: float) -> Detection"
    );
    assert_eq!(help["activeParameter"], 1);

    // While typing: the call is not closed yet.
    let text = VIDEO.replace(
        "return Detection.merge(parts: found)",
        "return Detection.merge(",
    );
    c.change_all(URI, 2, &text);
    let help = signature_at(&mut c, &text, "Detection.merge(", 16);
    assert_eq!(
        help["signatures"][0]["label"],
        "merge(parts: [Detection]) -> Detection"
    );
    assert_eq!(help["activeParameter"], 0);

    // `flatten`, and outside any call: nothing.
    let text = VIDEO.replace("for p in parts {", "for p in flatten(parts) {");
    c.change_all(URI, 3, &text);
    let help = signature_at(&mut c, &text, "flatten(parts", 9);
    assert_eq!(
        help["signatures"][0]["label"],
        "flatten(lists: [[T]]) -> [T]"
    );
    let (l, _) = find(&text, "package", 0, 0);
    let none = c.ok("textDocument/signatureHelp", at(URI, l, 3));
    assert_eq!(none, Value::Null);
    c.shutdown();
}

#[test]
fn formatting_sends_small_edits_and_a_range_only_its_own() {
    let messy = VIDEO
        .replace(
            "  public state title: string",
            "  public  state title:string",
        )
        .replace(
            "    let parts = self.split(segment_s: 30)",
            "        let parts = self.split(segment_s:30)",
        );
    let mut c = open(&messy);
    let options = json!({ "tabSize": 2, "insertSpaces": true });
    let edits = c.ok(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": URI }, "options": options }),
    );
    let edits = edits.as_array().cloned().unwrap_or_default();
    assert_eq!(apply_edits(&messy, &edits), VIDEO);
    // Small edits: none replaces more than a few characters, none touches a line that was
    // already formatted.
    assert!(edits.len() >= 4, "{edits:?}");
    for e in &edits {
        let line = e["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
        let text = messy.lines().nth(line).unwrap_or("");
        assert!(text.contains("title") || text.contains("let parts"), "{e}");
        assert!(e["newText"].as_str().unwrap_or("").len() <= 6, "{e}");
    }

    // A range over the `let` line: only its edits.
    let (l, _) = find(&messy, "let parts", 0, 0);
    let (_, end) = find(&messy, "segment_s:30)", 0, 13);
    let ranged = c.ok(
        "textDocument/rangeFormatting",
        json!({ "textDocument": { "uri": URI }, "options": options, "range": { "start": { "line": l, "character": 0 }, "end": { "line": l, "character": end } } }),
    );
    let ranged = ranged.as_array().cloned().unwrap_or_default();
    assert!(!ranged.is_empty());
    assert!(
        ranged.iter().all(|e| e["range"]["start"]["line"] == l),
        "{ranged:?}"
    );
    let partly = apply_edits(&messy, &ranged);
    assert!(
        partly.contains("\n    let parts = self.split(segment_s: 30)\n"),
        "{partly}"
    );
    assert!(partly.contains("public  state title:string"), "{partly}");

    // Formatted already: no edit.
    c.change_all(URI, 2, VIDEO);
    let none = c.ok(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": URI }, "options": options }),
    );
    assert_eq!(none, json!([]));
    c.shutdown();
}

#[test]
fn completion_edits_the_word_sorts_own_members_first_and_completes_calls() {
    let text = VIDEO.replace(
        "    return Detection.merge(parts: found)",
        "    let x = self.sp\n    return Detection.merge(parts: found)",
    );
    let mut c = Client::start_with(
        None,
        json!({ "textDocument": { "completion": { "completionItem": { "snippetSupport": true } } } }),
    );
    c.open(URI, &text);
    let _ = c.diagnostics(URI);
    let (l, ch) = find(&text, "self.sp\n", 0, 7);
    let list = c.ok("textDocument/completion", at(URI, l, ch));
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let item = |label: &str| {
        items
            .iter()
            .find(|i| i["label"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("no `{label}` in {items:?}"))
    };
    // The word typed so far is what the edit replaces.
    let split = item("split");
    assert_eq!(
        split["textEdit"]["range"],
        json!({ "start": { "line": l, "character": ch - 2 }, "end": { "line": l, "character": ch } })
    );
    // Parameters with a default are left out of the snippet.
    assert_eq!(split["textEdit"]["newText"], "split()$0");
    assert_eq!(split["insertTextFormat"], 2);
    let scan = item("scan");
    assert_eq!(
        scan["textEdit"]["newText"],
        "scan(every_s: ${1:every_s}, min_score: ${2:min_score})$0"
    );
    // Own members before the builtins of `Object`.
    let sort = |i: &Value| i["sortText"].as_str().unwrap_or("").to_string();
    assert!(sort(&item("title")) < sort(&item("copy")), "{items:?}");
    assert!(sort(&item("scan")) < sort(&item("get")));
    // A file member completes to the call that gives its URL.
    let src = item("src");
    assert_eq!(src["textEdit"]["newText"], "file(name: \"src\")");
    c.shutdown();

    // A client without snippets gets plain names.
    let mut c = open(&text);
    let list = c.ok("textDocument/completion", at(URI, l, ch));
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let split = items
        .iter()
        .find(|i| i["label"] == "split")
        .cloned()
        .unwrap_or_default();
    assert_eq!(split["textEdit"]["newText"], "split");
    assert_eq!(split.get("insertTextFormat"), None);
    c.shutdown();
}

#[test]
fn hover_and_definition_of_builtins() {
    let root = common::temp_dir("builtins");
    let docs = root.join("docs");
    std::fs::create_dir_all(docs.join("errors")).expect("docs dir");
    std::fs::write(
        docs.join("language.md"),
        "# Syntax\n\nintro\n\n## Types\n\nA type is...\n\n| free call | `flatten(frames)` |\n",
    )
    .expect("language.md");
    let base = format!("{}/", common::uri(&docs.join("errors")));
    let text = VIDEO
        .replace("for p in parts {", "for p in flatten(parts) {")
        .replace(
            "public state title: string",
            "public state title: string\n  public state copy_of: Self?",
        );
    let mut c = Client::start_with_options(None, json!({}), json!({ "errorDocsBase": base }));
    c.open(URI, &text);
    let _ = c.diagnostics(URI);

    let value = |h: &Value| h["contents"]["value"].as_str().unwrap_or("").to_string();
    let (l, ch) = find(&text, "flatten(parts", 0, 2);
    let hover = c.ok("textDocument/hover", at(URI, l, ch));
    assert!(
        value(&hover).contains("flatten(lists: [[T]]) -> [T]"),
        "{hover}"
    );
    assert!(value(&hover).contains("Joins a list of lists"), "{hover}");
    let def = c.ok("textDocument/definition", at(URI, l, ch));
    assert_eq!(def["uri"], common::uri(&docs.join("language.md")));
    assert_eq!(def["range"]["start"]["line"], 8);

    let (l, ch) = find(&text, "title: string", 0, 8);
    let hover = c.ok("textDocument/hover", at(URI, l, ch));
    assert!(value(&hover).contains("Text (UTF-8)"), "{hover}");
    let def = c.ok("textDocument/definition", at(URI, l, ch));
    assert_eq!(def["range"]["start"]["line"], 4);

    // `Self` goes to the class it stands for.
    let (l, ch) = find(&text, "Self?", 0, 1);
    let hover = c.ok("textDocument/hover", at(URI, l, ch));
    assert!(value(&hover).contains("built-in type"), "{hover}");
    let def = c.ok("textDocument/definition", at(URI, l, ch));
    let (cl, cc) = find(&text, "class Video", 0, 6);
    assert_eq!(
        def["range"]["start"],
        json!({ "line": cl, "character": cc })
    );

    // A state field named like a type is the field, not the type.
    let (l, ch) = find(&text, "title: string", 0, 1);
    let hover = c.ok("textDocument/hover", at(URI, l, ch));
    assert!(value(&hover).contains("state title: string"), "{hover}");
    c.shutdown();
    let _ = std::fs::remove_dir_all(&root);
}
