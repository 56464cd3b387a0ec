//! A workspace folder with a package of several files: diagnostics for files that are not
//! open, navigation across files, references, rename, symbols and inlay hints. Then the
//! `examples/video` package as the editor sees it.

mod common;

use common::{at, find, temp_dir, uri, Client};
use serde_json::{json, Value};
use std::path::Path;

const MODELS: &str = r#"package shop

/// An item for sale.
record Item { name: string, price: float }

/// A shopping cart.
@local("python3 functions/cart.py")
class Cart {
  public state items: [Item] = []
  internal state owner: string = ""

  /// Adds an item.
  public mut fn add(item: Item, count: int = 1) -> Cart
  public fn total() -> float
}

class PremiumCart extends Cart {
  override public mut fn add(item: Item, count: int = 1) -> Cart
}
"#;

const FLOWS: &str = r#"package shop

@local("python3 functions/checkout.py")
class Checkout {
  public fn pay(amount: float) -> Checkout

  /// Adds one item, then pays for the cart.
  public macro run(cart: Cart, item: Item) -> Checkout {
    let added = cart.add(item: item, count: 2)
    let sum = added.total()
    let fresh = Cart.new(owner: "me")
    let _f = fresh.total()
    return self.pay(amount: sum)
  }
}
"#;

const BROKEN: &str = "package shop\n\nclass Broken extends Missing {}\n";

fn setup(name: &str) -> (std::path::PathBuf, String, String, String) {
    let dir = temp_dir(name);
    std::fs::write(dir.join("models.oaas"), MODELS).expect("write");
    std::fs::write(dir.join("flows.oaas"), FLOWS).expect("write");
    std::fs::write(dir.join("broken.oaas"), BROKEN).expect("write");
    std::fs::create_dir_all(dir.join("target")).expect("mkdir");
    std::fs::write(dir.join("target/ignored.oaas"), "not even oaas").expect("write");
    let m = uri(&dir.join("models.oaas"));
    let f = uri(&dir.join("flows.oaas"));
    let b = uri(&dir.join("broken.oaas"));
    (dir, m, f, b)
}

#[test]
fn package_across_files() {
    let (dir, models, flows, broken) = setup("package");
    let mut c = Client::start(Some(&dir));

    // Diagnostics for every file of the folder, opened or not; none for `target/`.
    let broken_diags = c.diagnostics(&broken);
    assert!(
        broken_diags
            .iter()
            .any(|d| d["message"].as_str().unwrap_or("").contains("Missing")),
        "{broken_diags:#?}"
    );
    // Opening a file publishes its diagnostics again.
    c.open(&flows, FLOWS);
    let flow_diags = c.diagnostics(&flows);
    assert!(
        flow_diags.iter().all(|d| d["severity"] != 1),
        "{flow_diags:#?}"
    );
    let all = c.drain_diagnostics();
    assert!(all.keys().all(|k| !k.contains("target")), "{all:?}");

    // Definition across files: `cart.add` is declared in models.oaas.
    let (l, ch) = find(FLOWS, "cart.add", 0, 6);
    let def = c.ok("textDocument/definition", at(&flows, l, ch));
    assert_eq!(def["uri"], models);
    let (dl, dc) = find(MODELS, "add(item", 0, 0);
    assert_eq!(
        def["range"]["start"],
        json!({ "line": dl, "character": dc })
    );

    // Hover on a record type used in another file.
    let (l, ch) = find(FLOWS, "item: Item", 0, 7);
    let value = c.ok("textDocument/hover", at(&flows, l, ch))["contents"]["value"].clone();
    let value = value.as_str().unwrap_or("");
    assert!(
        value.contains("record Item { name: string, price: float }"),
        "{value}"
    );
    assert!(value.contains("An item for sale."), "{value}");

    // References to `Cart.total` from its declaration: both calls, in the other file.
    let (l, ch) = find(MODELS, "fn total", 0, 3);
    let refs = c.ok(
        "textDocument/references",
        json!({ "textDocument": { "uri": models }, "position": { "line": l, "character": ch }, "context": { "includeDeclaration": true } }),
    );
    let refs = refs.as_array().cloned().unwrap_or_default();
    assert_eq!(refs.len(), 3, "{refs:#?}");
    assert_eq!(refs.iter().filter(|r| r["uri"] == flows).count(), 2);

    // A state field used as a named argument of `new`.
    let (l, ch) = find(MODELS, "owner: string", 0, 1);
    let refs = c.ok(
        "textDocument/references",
        json!({ "textDocument": { "uri": models }, "position": { "line": l, "character": ch }, "context": { "includeDeclaration": false } }),
    );
    let (rl, rc) = find(FLOWS, "owner: \"me\"", 0, 0);
    assert_eq!(refs.as_array().map(Vec::len), Some(1), "{refs}");
    assert_eq!(
        refs[0]["range"]["start"],
        json!({ "line": rl, "character": rc })
    );

    // Rename a parameter: its declaration in both the function and its override, and the
    // named argument at the call.
    let (l, ch) = find(MODELS, "count: int", 0, 1);
    let prepared = c.ok("textDocument/prepareRename", at(&models, l, ch));
    assert_eq!(prepared["placeholder"], "count");
    let edit = c.ok(
        "textDocument/rename",
        json!({ "textDocument": { "uri": models }, "position": { "line": l, "character": ch }, "newName": "times" }),
    );
    let changes = &edit["changes"];
    assert_eq!(
        changes[&models].as_array().map(Vec::len),
        Some(2),
        "{edit:#}"
    );
    assert_eq!(
        changes[&flows].as_array().map(Vec::len),
        Some(1),
        "{edit:#}"
    );
    assert!(changes[&flows][0]["newText"] == "times");

    // The override's hover says what it overrides; the parameter's, its default.
    let (l, ch) = find(MODELS, "override public mut fn add", 0, 23);
    let hover = c.ok("textDocument/hover", at(&models, l, ch));
    let text = hover["contents"]["value"].as_str().unwrap_or("");
    assert!(
        text.contains("function of class `PremiumCart` in package `shop` · overrides `Cart.add`"),
        "{hover}"
    );
    let (l, ch) = find(MODELS, "count: int = 1) -> Cart\n  public fn total", 0, 1);
    let hover = c.ok("textDocument/hover", at(&models, l, ch));
    let text = hover["contents"]["value"].as_str().unwrap_or("");
    assert!(text.contains("(parameter) count: int = 1"), "{hover}");
    assert!(text.contains("parameter of `Cart.add`"), "{hover}");

    // Rename a member with an override: both declarations and the call.
    let (l, ch) = find(FLOWS, "cart.add", 0, 6);
    let edit = c.ok(
        "textDocument/rename",
        json!({ "textDocument": { "uri": flows }, "position": { "line": l, "character": ch }, "newName": "put" }),
    );
    assert_eq!(
        edit["changes"][&models].as_array().map(Vec::len),
        Some(2),
        "{edit:#}"
    );
    assert_eq!(
        edit["changes"][&flows].as_array().map(Vec::len),
        Some(1),
        "{edit:#}"
    );

    // Rename a class: its declaration and every type and call naming it.
    let (l, ch) = find(MODELS, "class Cart", 0, 7);
    let edit = c.ok(
        "textDocument/rename",
        json!({ "textDocument": { "uri": models }, "position": { "line": l, "character": ch }, "newName": "Basket" }),
    );
    assert_eq!(
        edit["changes"][&models].as_array().map(Vec::len),
        Some(4),
        "{edit:#}"
    );
    assert_eq!(
        edit["changes"][&flows].as_array().map(Vec::len),
        Some(2),
        "{edit:#}"
    );

    // Refused: a name that clashes, a keyword, a standard library item.
    let (l, ch) = find(FLOWS, "let sum", 0, 4);
    let r = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": flows }, "position": { "line": l, "character": ch }, "newName": "added" }),
    );
    assert!(r.response_result.is_err(), "a clash must be refused");
    let r = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": flows }, "position": { "line": l, "character": ch }, "newName": "let" }),
    );
    assert!(r.response_result.is_err());
    let (l, ch) = find(FLOWS, "Cart.new", 0, 6);
    let r = c.request("textDocument/prepareRename", at(&flows, l, ch));
    let err = r
        .response_result
        .expect_err("the standard library cannot be renamed");
    assert!(err.message.contains("standard library"), "{}", err.message);

    // Document symbols: the outline of models.oaas.
    let symbols = c.ok(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": models } }),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["Item", "Cart", "PremiumCart"]);
    let cart = &symbols[1];
    assert_eq!(cart["kind"], 5);
    let members: Vec<&str> = cart["children"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, ["items", "owner", "add", "total"]);

    // Workspace symbols, matched loosely.
    let found = c.ok("workspace/symbol", json!({ "query": "chk" }));
    let names: Vec<&str> = found
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"Checkout"), "{names:?}");

    // Inlay hints: the type of each `let`.
    let hints = c.ok(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": flows }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 100, "character": 0 } } }),
    );
    let labels: Vec<&str> = hints
        .as_array()
        .map(|a| a.iter().filter_map(|h| h["label"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        labels,
        [": Cart", ": float", ": Cart", ": float"],
        "{hints:#}"
    );

    // Completion filtered by access: `internal` members of the same package are offered.
    let typing = FLOWS.replace(
        "    return self.pay",
        "    let o = cart.\n    return self.pay",
    );
    c.change_all(&flows, 2, &typing);
    let (l, ch) = find(&typing, "= cart.\n", 0, 7);
    let items = c.ok("textDocument/completion", at(&flows, l, ch));
    let names: Vec<&str> = items["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["label"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"owner") && names.contains(&"add"),
        "{names:?} {items}"
    );

    // Closing the buffer goes back to the file on disk.
    c.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": flows } }),
    );
    let r = c.ok("textDocument/hover", at(&flows, 0, 0));
    assert!(r.is_null() || r.is_object());

    c.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn private_members_of_other_classes_are_not_offered() {
    let dir = temp_dir("access");
    let text = "package a\n\n@local(\"x\")\nclass Secret {\n  state hidden: int = 0\n  public state shown: int = 0\n  fn inner()\n}\n\n@local(\"y\")\nclass User {\n  public macro m(s: Secret) -> int {\n    return s.shown\n  }\n}\n";
    std::fs::write(dir.join("a.oaas"), text).expect("write");
    let u = uri(&dir.join("a.oaas"));
    let mut c = Client::start(Some(&dir));
    let typing = text.replace("return s.shown", "let x = s.\n    return s.shown");
    c.open(&u, &typing);
    let (l, ch) = find(&typing, "s.\n", 0, 2);
    let items = c.ok("textDocument/completion", at(&u, l, ch));
    let names: Vec<&str> = items["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["label"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"shown"), "{names:?}");
    assert!(
        !names.contains(&"hidden") && !names.contains(&"inner"),
        "{names:?}"
    );
    c.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_video_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/video");
    let root = root.canonicalize().expect("examples/video");
    let file = root.join("video.oaas");
    let text = std::fs::read_to_string(&file).expect("video.oaas");
    let u = uri(&file);
    let mut c = Client::start(Some(&root));
    assert_eq!(c.diagnostics(&u), Vec::<Value>::new());
    c.open(&u, &text);
    assert_eq!(c.diagnostics(&u), Vec::<Value>::new());

    let (l, ch) = find(&text, "p.extract_frames", 0, 4);
    let hover = c.ok("textDocument/hover", at(&u, l, ch));
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .contains("internal fn extract_frames(every_s: int) -> [Image]"));
    let def = c.ok("textDocument/definition", at(&u, l, ch));
    let (dl, _) = find(&text, "fn extract_frames", 0, 0);
    assert_eq!(def["range"]["start"]["line"], dl);

    // Format on save keeps the (formatted) example as it is.
    let edits = c.ok(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));

    // Typing an error shows it; undoing it clears it.
    let broken = text.replace(
        "let parts = self.split(segment_s: 30)",
        "let parts = self.split(segment_s: \"x\")",
    );
    c.change_all(&u, 2, &broken);
    let diags = c.diagnostics(&u);
    assert!(diags.iter().any(|d| d["code"] == "E0200"), "{diags:#?}");
    c.change_all(&u, 3, &text);
    assert_eq!(c.diagnostics(&u), Vec::<Value>::new());
    c.shutdown();
}

#[test]
fn files_changed_on_disk() {
    let dir = temp_dir("watch");
    std::fs::write(dir.join("a.oaas"), "package w\n\nclass A {}\n").expect("write");
    let caps = json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } });
    let mut c = Client::start_with(Some(&dir), caps);
    let a = uri(&dir.join("a.oaas"));
    assert_eq!(c.diagnostics(&a), Vec::<Value>::new());
    assert_eq!(c.server_requests, ["client/registerCapability"]);

    // A file appears on disk with an error, then is fixed, then goes away.
    let b_path = dir.join("b.oaas");
    let b = uri(&b_path);
    std::fs::write(&b_path, "package w\n\nclass B extends Nope {}\n").expect("write");
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": b, "type": 1 }] }),
    );
    assert_eq!(c.diagnostics(&b).len(), 1);
    std::fs::write(&b_path, "package w\n\nclass B extends A {}\n").expect("write");
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": b, "type": 2 }] }),
    );
    assert_eq!(c.diagnostics(&b), Vec::<Value>::new());
    std::fs::remove_file(&b_path).expect("remove");
    std::fs::write(dir.join("a.oaas"), "package w\n\nclass A extends Gone {}\n").expect("write");
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": b, "type": 3 }, { "uri": a, "type": 2 }] }),
    );
    assert_eq!(c.diagnostics(&a).len(), 1);
    c.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// Opened at the repository's root, the server reads the root's `oaas.toml` workspace: the
/// examples and the standard library, not the test fixtures (which declare `package video`
/// too), so examples/video has no false "declared twice" and navigation works.
#[test]
fn the_repository_root_checks_its_members_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("repository root");
    let file = root.join("examples/video/video.oaas");
    let text = std::fs::read_to_string(&file).expect("video.oaas");
    let u = uri(&file);
    let mut c = Client::start(Some(&root));
    c.open(&u, &text);
    assert_eq!(c.diagnostics(&u), Vec::<Value>::new());
    let (l, ch) = find(&text, "p.extract_frames", 0, 4);
    let def = c.ok("textDocument/definition", at(&u, l, ch));
    let (dl, _) = find(&text, "fn extract_frames", 0, 0);
    assert_eq!(def["range"]["start"]["line"], dl, "{def}");
    let refs = c.ok(
        "textDocument/references",
        json!({ "textDocument": { "uri": u }, "position": { "line": l, "character": ch }, "context": { "includeDeclaration": true } }),
    );
    let places = refs.as_array().map(|a| a.len()).unwrap_or(0);
    assert!(places >= 2, "{refs}");
    assert!(refs
        .as_array()
        .into_iter()
        .flatten()
        .all(|r| r["uri"] == json!(u)));

    // The standard library's own file is the standard library of the workspace, not a second
    // copy of it: nothing is declared twice.
    let std_file = root.join("stdlib/std.oaas");
    let std_text = std::fs::read_to_string(&std_file).expect("std.oaas");
    let std_uri = uri(&std_file);
    c.open(&std_uri, &std_text);
    assert_eq!(c.diagnostics(&std_uri), Vec::<Value>::new());

    // A fixture with no manifest of its own declares `package video` too: it is checked
    // alone (its real errors only), and examples/video stays clean.
    let fixture = root.join("tests/fixtures/syntax/valid/12_macro_for.oaas");
    let fixture_text = std::fs::read_to_string(&fixture).expect("fixture");
    let fixture_uri = uri(&fixture);
    c.open(&fixture_uri, &fixture_text);
    let errors = |diags: Vec<Value>| -> Vec<Value> {
        diags.into_iter().filter(|d| d["severity"] == 1).collect()
    };
    // Its real warnings only (W0003: no `@local` in a fixture).
    let diags = c.diagnostics(&fixture_uri);
    assert!(diags.iter().all(|d| d["code"] == "W0003"), "{diags:#?}");
    let broken = format!("{fixture_text}\nrecord Oops {{ x: Missing }}\n");
    c.change_all(&fixture_uri, 2, &broken);
    let diags = errors(c.diagnostics(&fixture_uri));
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(diags[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("Missing"));
    let hover = c.ok("textDocument/hover", at(&fixture_uri, 2, 7));
    assert!(hover.to_string().contains("Image"), "{hover}");
    let _ = c.request("textDocument/hover", at(&u, l, ch));
    let published = c.drain_diagnostics();
    assert!(
        published.get(&u).is_none_or(|d| d.is_empty()),
        "{:#?}",
        published.get(&u)
    );
    c.shutdown();
}

/// A file's package is its nearest manifest's: opening a file of a package outside the
/// workspace folder loads that package (its other file resolves); a folder with no manifest
/// below a workspace stays out.
#[test]
fn each_file_has_the_package_of_its_nearest_manifest() {
    let dir = temp_dir("roots-per-file");
    let write = |p: &str, t: &str| {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, t).expect("write");
    };
    write("ws/oaas.toml", "[workspace]\nmembers = [\"app\"]\n");
    write("ws/app/oaas.toml", "[package]\nname = \"app\"\n");
    write("ws/app/a.oaas", "package app\n\nrecord A { x: int }\n");
    write("ws/fixtures/a.oaas", "package app\n\nrecord A { x: int }\n");
    write("other/oaas.toml", "[package]\nname = \"other\"\n");
    write("other/b.oaas", "package other\n\nrecord B { x: int }\n");
    let uses_b = "package other\n\nrecord C { b: B }\n";
    write("other/c.oaas", uses_b);
    let mut c = Client::start(Some(&dir.join("ws")));
    let a = uri(&dir.join("ws/app/a.oaas"));
    assert_eq!(c.diagnostics(&a), Vec::<Value>::new());
    let cu = uri(&dir.join("other/c.oaas"));
    c.open(&cu, uses_b);
    assert_eq!(c.diagnostics(&cu), Vec::<Value>::new());
    c.shutdown();
}
