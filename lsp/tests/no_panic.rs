//! Random edits of a real file, then every request at random positions (semantic tokens,
//! code actions, signature help and range formatting included): the server answers
//! each (an empty answer or a refusal is fine) and never fails internally.

mod common;

use common::Client;
use proptest::prelude::*;
use serde_json::json;

const TEXT: &str = include_str!("../../examples/video/video.oaas");

/// Applies edits: (where, how many bytes to cut, what to insert), at char boundaries.
fn mutate(text: &str, edits: &[(usize, usize, String)]) -> String {
    let mut s = text.to_string();
    for (at, cut, insert) in edits {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s.replace_range(at..end, insert);
    }
    s
}

fn pieces() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_string()),
        Just("self.".to_string()),
        Just("(".to_string()),
        Just("}".to_string()),
        Just("{".to_string()),
        Just("@".to_string()),
        Just("\"".to_string()),
        Just("// c\n".to_string()),
        Just("/// d\n".to_string()),
        Just("😀é".to_string()),
        Just("\n".to_string()),
        "[a-z_]{1,8}",
        "[ -~]{1,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn requests_on_random_edits(
        edits in prop::collection::vec((0usize..3000, 0usize..12, pieces()), 0..6),
        positions in prop::collection::vec((0u32..70, 0u32..90), 1..6),
    ) {
        let text = mutate(TEXT, &edits);
        let mut c = Client::start(None);
        let uri = "file:///tmp/oaas-lsp-fuzz/video.oaas";
        c.open(uri, &text);
        let _ = c.diagnostics(uri);
        for (line, character) in positions {
            let pos = json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
            let mut rename = pos.clone();
            rename["newName"] = json!("renamed");
            let mut refs = pos.clone();
            refs["context"] = json!({ "includeDeclaration": true });
            let requests = [
                ("textDocument/hover", pos.clone()),
                ("textDocument/definition", pos.clone()),
                ("textDocument/references", refs),
                ("textDocument/documentHighlight", pos.clone()),
                ("textDocument/completion", pos.clone()),
                ("textDocument/prepareRename", pos.clone()),
                ("textDocument/rename", rename),
                ("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } })),
                ("textDocument/inlayHint", json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": line, "character": character } } })),
                ("textDocument/formatting", json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } })),
                ("workspace/symbol", json!({ "query": "vid" })),
                ("textDocument/signatureHelp", pos.clone()),
                ("textDocument/codeAction", json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": line, "character": character } }, "context": { "diagnostics": [] } })),
                ("textDocument/semanticTokens/full", json!({ "textDocument": { "uri": uri } })),
                ("textDocument/semanticTokens/full/delta", json!({ "textDocument": { "uri": uri }, "previousResultId": "1" })),
                ("textDocument/semanticTokens/range", json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": line, "character": 0 }, "end": { "line": line + 3, "character": character } } })),
                ("textDocument/rangeFormatting", json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": line, "character": 0 }, "end": { "line": line + 2, "character": character } }, "options": { "tabSize": 2, "insertSpaces": true } })),
            ];
            for (method, params) in requests {
                let r = c.request(method, params);
                if let Err(e) = &r.response_result {
                    // Refusing a rename is an answer; failing inside is not.
                    prop_assert!(e.code == -32803, "{method} at {line}:{character}: {e:?}\n{text}");
                }
            }
        }
        c.shutdown();
    }
}
