//! A scripted language client over `Connection::memory()`.

#![allow(dead_code)]

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

pub const DOCS_BASE: &str = "https://docs.example/errors/";

pub struct Client {
    conn: Connection,
    next_id: i32,
    server: Option<JoinHandle<oaas_lsp::Ending>>,
    /// Notifications received and not yet looked at.
    pub notifications: Vec<Notification>,
    /// Methods of the requests the server sent (each answered with `null`).
    pub server_requests: Vec<String>,
    /// What the server answered to `initialize`.
    pub initialized: Value,
}

/// A `file:` URI for a path.
pub fn uri(path: &Path) -> String {
    oaas_lsp::convert::path_to_uri(path)
}

/// A fresh folder under the temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oaas-lsp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Client {
    /// Starts a server and initializes it with an optional workspace folder.
    pub fn start(root: Option<&Path>) -> Client {
        Client::start_with(root, json!({}))
    }

    /// Starts a server, declaring some client capabilities.
    pub fn start_with(root: Option<&Path>, capabilities: Value) -> Client {
        Client::start_with_options(root, capabilities, json!({ "errorDocsBase": DOCS_BASE }))
    }

    /// Starts a server with client capabilities and `initializationOptions`.
    pub fn start_with_options(root: Option<&Path>, capabilities: Value, options: Value) -> Client {
        let (server, client) = Connection::memory();
        let handle = std::thread::spawn(move || oaas_lsp::run(server));
        let mut c = Client {
            conn: client,
            next_id: 0,
            server: Some(handle),
            notifications: Vec::new(),
            server_requests: Vec::new(),
            initialized: Value::Null,
        };
        let folders = root.map(|r| json!([{ "uri": uri(r), "name": "root" }]));
        let result = c.request(
            "initialize",
            json!({
                "capabilities": capabilities,
                "rootUri": root.map(uri),
                "workspaceFolders": folders,
                "initializationOptions": options,
            }),
        );
        assert!(
            result.response_result.is_ok(),
            "initialize failed: {result:?}"
        );
        c.initialized = result.response_result.unwrap_or_default();
        c.notify("initialized", json!({}));
        c
    }

    pub fn send(&self, msg: Message) {
        self.conn.sender.send(msg).expect("server gone");
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.send(Notification::new(method.to_string(), params).into());
    }

    /// Sends a request and waits for its response, keeping notifications that arrive first.
    pub fn request(&mut self, method: &str, params: Value) -> Response {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Request::new(id.clone(), method.to_string(), params).into());
        loop {
            match self.recv() {
                Message::Response(r) if r.id == id => return r,
                Message::Response(r) => panic!("unexpected response {r:?}"),
                Message::Notification(n) => self.notifications.push(n),
                Message::Request(r) => self.answer(r),
            }
        }
    }

    /// The result of a request that must succeed.
    pub fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        match r.response_result {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e:?}"),
        }
    }

    fn answer(&mut self, r: Request) {
        self.server_requests.push(r.method.clone());
        self.send(Response::new_ok(r.id, Value::Null).into());
    }

    fn recv(&self) -> Message {
        self.conn
            .receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("no message from the server within 60 s")
    }

    /// Waits for the next diagnostics published for a URI (taking earlier ones for it first).
    pub fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            if let Some(i) = self.notifications.iter().position(|n| {
                n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri
            }) {
                let n = self.notifications.remove(i);
                return n.params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            match self.recv() {
                Message::Notification(n) => self.notifications.push(n),
                Message::Request(r) => self.answer(r),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Every diagnostics notification received so far, by URI (the latest wins).
    pub fn drain_diagnostics(&mut self) -> std::collections::HashMap<String, Vec<Value>> {
        let mut out = std::collections::HashMap::new();
        for n in self.notifications.drain(..) {
            if n.method == "textDocument/publishDiagnostics" {
                let uri = n.params["uri"].as_str().unwrap_or("").to_string();
                out.insert(
                    uri,
                    n.params["diagnostics"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
        out
    }

    pub fn open(&self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "oaas", "version": 1, "text": text } }),
        );
    }

    pub fn change_all(&self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "text": text }],
            }),
        );
    }

    /// Shuts the server down and checks that it ends cleanly.
    pub fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.response_result.is_ok());
        self.notify("exit", Value::Null);
        let handle = self.server.take().expect("server thread");
        let ending = handle.join().expect("server thread panicked");
        assert_eq!(ending, oaas_lsp::Ending::Clean);
    }
}

/// `{ textDocument, position }`.
pub fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
}

/// The 0-based line and UTF-16 column of the `n`-th (0-based) occurrence of `needle`, plus
/// `offset` characters.
pub fn find(text: &str, needle: &str, n: usize, offset: u32) -> (u32, u32) {
    let start = text
        .match_indices(needle)
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("`{needle}` not found"));
    let before = &text[..start];
    let line = before.matches('\n').count() as u32;
    let col: usize = before
        .rsplit('\n')
        .next()
        .unwrap_or("")
        .chars()
        .map(char::len_utf16)
        .sum();
    (line, col as u32 + offset)
}

/// Applies a `WorkspaceEdit`'s edits of one URI to a text.
pub fn apply_edits(text: &str, edits: &[Value]) -> String {
    let lines = oaas_compiler::span::LineIndex::new(text);
    let offset = |p: &Value| {
        lines.offset_of_utf16(
            text,
            p["line"].as_u64().unwrap_or(0) as u32,
            p["character"].as_u64().unwrap_or(0) as u32,
        )
    };
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (a, b, t) in spans {
        out.replace_range(a..b, &t);
    }
    out
}
