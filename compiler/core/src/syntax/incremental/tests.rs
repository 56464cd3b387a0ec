#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const TEXT: &str = "package shop

use video.Video

/// A basket.
record Item { name: string, count: int }

/// A cart.
/// Two lines of docs.
@retry(3)
class Cart {
  public state items: [Item] = []
  public state total: int = 0
  public mut fn add(item: Item) -> int
}

class Till {
  public state open: bool = true
  public macro ring(cart: Cart) -> int {
    let n = cart.add(item: {\"name\": \"x\", \"count\": 1})
    return n
  }
}
";

const FILE: FileId = FileId(3);

/// Re-parses after replacing the first `from` with `to`, checks the result against a full
/// parse and returns how the cache came by it.
fn edit(old: &str, from: &str, to: &str) -> (String, Reuse) {
    let new = old.replacen(from, to, 1);
    assert_ne!(old, new, "the edit must change something");
    let mut cache = ParseCache::default();
    cache.parse(FILE, "shop.oaas", old);
    let (parsed, reuse) = cache.parse(FILE, "shop.oaas", &new);
    let full = parse(FILE, &new);
    assert_eq!(parsed.ast, full.ast, "tree after {from:?} -> {to:?}");
    assert_eq!(parsed.diagnostics, full.diagnostics);
    (new, reuse)
}

#[test]
fn an_edit_inside_a_class_parses_only_that_class() {
    assert_eq!(
        edit(TEXT, "total: int = 0", "total: int = 10").1,
        Reuse::Incremental
    );
    // Shorter, in the last class, inside a macro body.
    assert_eq!(edit(TEXT, "return n", "return 1").1, Reuse::Incremental);
    // The classes after the edit move: a longer name in the first class.
    assert_eq!(
        edit(TEXT, "items: [Item]", "all_the_items: [Item]").1,
        Reuse::Incremental
    );
}

#[test]
fn an_edit_in_a_record_annotation_or_doc_comment_parses_only_that_declaration() {
    assert_eq!(
        edit(TEXT, "count: int }", "count: float }").1,
        Reuse::Incremental
    );
    assert_eq!(edit(TEXT, "@retry(3)", "@retry(5)").1, Reuse::Incremental);
    assert_eq!(
        edit(TEXT, "Two lines", "Still two lines").1,
        Reuse::Incremental
    );
    // The second doc line stops being one: the docs shrink to the first.
    assert_eq!(edit(TEXT, "/// Two", "// Two").1, Reuse::Incremental);
}

#[test]
fn edits_outside_one_declaration_parse_the_whole_file() {
    assert_eq!(edit(TEXT, "package shop", "package shops").1, Reuse::Full);
    assert_eq!(
        edit(TEXT, "use video.Video", "use video.Clip").1,
        Reuse::Full
    );
    // Between two classes; across two; at the first byte of one.
    assert_eq!(
        edit(TEXT, "}\n\nclass Till", "}\n\n// x\nclass Till").1,
        Reuse::Full
    );
    assert_eq!(edit(TEXT, "int\n}\n\nclass", "int }\nclass").1, Reuse::Full);
    assert_eq!(edit(TEXT, "class Till", "record Till").1, Reuse::Full);
}

#[test]
fn syntax_errors_inside_the_edited_declaration_stay_incremental() {
    let (broken, reuse) = edit(
        TEXT,
        "public state total: int = 0",
        "public state total: = 0",
    );
    assert_eq!(reuse, Reuse::Incremental);
    assert!(!parse(FILE, &broken).diagnostics.is_empty());
    // Typing on in the broken class, and fixing it: still one class at a time.
    assert_eq!(
        edit(&broken, "items: [Item]", "items: [Itemz]").1,
        Reuse::Incremental
    );
    let (fixed, reuse) = edit(&broken, "total: = 0", "total: int = 0");
    assert_eq!(reuse, Reuse::Incremental);
    assert_eq!(fixed, TEXT);
    // An edit in another declaration while one is broken parses the whole file.
    assert_eq!(edit(&broken, "return n", "return 2").1, Reuse::Full);
}

#[test]
fn a_declaration_that_now_ends_elsewhere_parses_the_whole_file() {
    // A `}` typed in the middle ends the class there; the rest of it becomes stray lines.
    let (_, reuse) = edit(TEXT, "total: int = 0", "total: int = 0 }");
    assert_eq!(reuse, Reuse::Full);
    // An unclosed `{` swallows the class's own `}`: the class is reported unclosed, but it
    // still ends where it did, before the next declaration, so this one is incremental.
    let (_, reuse) = edit(TEXT, "add(item: Item) -> int", "add(item: Item) -> int {");
    assert_eq!(reuse, Reuse::Incremental);
}

#[test]
fn typing_a_member_key_by_key_matches_a_full_parse_at_every_step() {
    let member = "  public fn count(every: int = 2) -> [Item] @timeout(5s)\n";
    let at = TEXT.find("  public mut fn add").unwrap();
    let mut cache = ParseCache::default();
    cache.parse(FILE, "shop.oaas", TEXT);
    let mut incremental = 0;
    for (i, _) in member.char_indices().skip(1).chain([(member.len(), ' ')]) {
        let text = format!("{}{}{}", &TEXT[..at], &member[..i], &TEXT[at..]);
        let (parsed, reuse) = cache.parse(FILE, "shop.oaas", &text);
        let full = parse(FILE, &text);
        assert_eq!(parsed.ast, full.ast, "after typing {:?}", &member[..i]);
        assert_eq!(parsed.diagnostics, full.diagnostics);
        incremental += usize::from(reuse == Reuse::Incremental);
    }
    // Most prefixes of the line do not parse, but those that do (and every keystroke after
    // one that broke the class) take the short way.
    assert!(incremental > 0, "no keystroke was re-parsed incrementally");
}

#[test]
fn a_cached_file_with_another_id_or_path_is_parsed_again() {
    let mut cache = ParseCache::default();
    cache.parse(FILE, "shop.oaas", TEXT);
    assert_eq!(cache.parse(FILE, "shop.oaas", TEXT).1, Reuse::Unchanged);
    assert_eq!(cache.parse(FileId(4), "shop.oaas", TEXT).1, Reuse::Full);
    assert_eq!(cache.parse(FILE, "other.oaas", TEXT).1, Reuse::Full);
    cache.retain(|path| path != "other.oaas");
    assert_eq!(cache.parse(FILE, "other.oaas", TEXT).1, Reuse::Full);
}

#[test]
fn multibyte_text_around_an_edit_keeps_char_boundaries() {
    let text = TEXT.replace("Two lines of docs.", "Zwei Zeilen: é😀.");
    assert_eq!(edit(&text, "é😀", "éé").1, Reuse::Incremental);
    assert_eq!(edit(&text, "é😀", "😀😀").1, Reuse::Incremental);
}
