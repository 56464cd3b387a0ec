//! The main loop (after rust-analyzer's `lsp-server` example): read a message, update the
//! texts or answer from the last check, and publish diagnostics once no more messages wait.
//!
//! Dispatch cannot panic on what a client sends: unknown methods get `MethodNotFound`,
//! parameters that do not decode get `InvalidParams`, and a request whose handler fails
//! anyway gets `InternalError` while the server goes on. After `shutdown` requests are
//! refused until `exit`; how the session ended ([`Ending`]) gives the exit code.

use crate::convert::{self, CodeDocs};
use crate::documents::{Documents, UnitId};
use crate::snapshot::Snapshot;
use crate::{actions, builtins, complete, formatting, navigate, signature, symbols, tokens};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use oaas_compiler::span::LineIndex;
use oaas_compiler::FileId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

/// An error answer: a protocol error code and a message.
type Failure = (i32, String);

/// What the server advertises.
pub fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(
            lsp::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lsp::TextDocumentSyncKind::INCREMENTAL),
                ..Default::default()
            },
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec![".".into(), "@".into(), "(".into(), ",".into()]),
            ..Default::default()
        }),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        document_highlight_provider: Some(lsp::OneOf::Left(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        workspace_symbol_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        rename_provider: Some(lsp::OneOf::Right(lsp::RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        inlay_hint_provider: Some(lsp::OneOf::Left(true)),
        semantic_tokens_provider: Some(
            lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
                lsp::SemanticTokensOptions {
                    legend: tokens::legend(),
                    range: Some(true),
                    full: Some(lsp::SemanticTokensFullOptions::Delta { delta: Some(true) }),
                    ..Default::default()
                },
            ),
        ),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Options(
            lsp::CodeActionOptions {
                code_action_kinds: Some(vec![lsp::CodeActionKind::QUICKFIX]),
                ..Default::default()
            },
        )),
        signature_help_provider: Some(lsp::SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into()]),
            retrigger_characters: Some(vec![":".into()]),
            ..Default::default()
        }),
        document_range_formatting_provider: Some(lsp::OneOf::Left(true)),
        ..Default::default()
    }
}

/// Settings a client may pass as `initializationOptions`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Options {
    /// Where the pages of diagnostic codes are: `BASE/E0001.md`.
    error_docs_base: Option<String>,
}

/// The state of a running server.
pub struct Server {
    conn: Connection,
    docs: Documents,
    /// The last check of each unit.
    snaps: BTreeMap<UnitId, Snapshot>,
    published: HashMap<String, Vec<lsp::Diagnostic>>,
    code_docs: CodeDocs,
    /// `shutdown` was answered: requests are refused until `exit`.
    shut_down: bool,
    /// The semantic tokens last sent for each document (for `full/delta`).
    tokens: tokens::Sent,
    /// Whether the client takes snippets in completions.
    snippets: bool,
    /// `docs/language.md`, where definition takes built-in types and `flatten`.
    language_doc: Option<PathBuf>,
}

/// How a session ended, which decides the exit code (as the protocol says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `exit` after `shutdown`, or the input closed after `shutdown`: exit code 0.
    Clean,
    /// `exit` without `shutdown`: exit code 1.
    ExitWithoutShutdown,
    /// The input closed without `shutdown` (the client went away): exit code 1.
    Disconnected,
}

impl Ending {
    /// The process exit code for this ending: 0 after `shutdown`, else 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Ending::Clean => 0,
            Ending::ExitWithoutShutdown | Ending::Disconnected => 1,
        }
    }
}

/// Runs the protocol on a connection until `exit` or until the client goes away.
pub fn run(conn: Connection) -> Ending {
    let (id, params) = match wait_for_initialize(&conn) {
        Ok(request) => request,
        Err(ending) => return ending,
    };
    let init: lsp::InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let result = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "oaas-lsp", "version": env!("CARGO_PKG_VERSION") },
    });
    let _ = conn.sender.send(Response::new_ok(id, result).into());
    let roots = roots(&init);
    let options: Options = init
        .initialization_options
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let code_docs = CodeDocs {
        base: options
            .error_docs_base
            .map(|b| if b.ends_with('/') { b } else { format!("{b}/") })
            .or_else(|| find_error_docs(&roots)),
    };
    let snippets = init
        .capabilities
        .text_document
        .as_ref()
        .and_then(|t| t.completion.as_ref())
        .and_then(|c| c.completion_item.as_ref())
        .and_then(|i| i.snippet_support)
        .unwrap_or(false);
    let language_doc = code_docs
        .base
        .as_deref()
        .and_then(convert::uri_to_path)
        .and_then(|errors| Some(errors.parent()?.join("language.md")))
        .filter(|p| p.is_file());
    let watch = init
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files)
        .and_then(|d| d.dynamic_registration)
        .unwrap_or(false);
    if watch && !roots.is_empty() {
        // Files changed on disk outside the editor (a `git checkout`) are checked again.
        let registration = lsp::RegistrationParams {
            registrations: vec![lsp::Registration {
                id: "oaas-watch-files".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(
                    lsp::DidChangeWatchedFilesRegistrationOptions {
                        watchers: vec![lsp::FileSystemWatcher {
                            glob_pattern: lsp::GlobPattern::String("**/*.oaas".into()),
                            kind: None,
                        }],
                    },
                )
                .ok(),
            }],
        };
        let request = Request::new(
            "oaas-watch-files".to_string().into(),
            "client/registerCapability".into(),
            registration,
        );
        let _ = conn.sender.send(request.into());
    }
    let mut server = Server {
        conn,
        docs: Documents::new(roots),
        snaps: BTreeMap::new(),
        published: HashMap::new(),
        code_docs,
        shut_down: false,
        tokens: tokens::Sent::default(),
        snippets,
        language_doc,
    };
    server.main_loop()
}

/// Waits for `initialize`, refusing other requests and dropping other notifications (the
/// `initialized` that follows it is dropped by the main loop).
fn wait_for_initialize(conn: &Connection) -> Result<(RequestId, serde_json::Value), Ending> {
    loop {
        match conn.receiver.recv() {
            Err(_) => return Err(Ending::Disconnected),
            Ok(Message::Request(r)) if r.method == "initialize" => return Ok((r.id, r.params)),
            Ok(Message::Request(r)) => {
                let refusal = Response::new_err(
                    r.id,
                    ErrorCode::ServerNotInitialized as i32,
                    "the server is not initialized yet".into(),
                );
                let _ = conn.sender.send(refusal.into());
            }
            Ok(Message::Notification(n)) if n.method == "exit" => {
                return Err(Ending::ExitWithoutShutdown)
            }
            Ok(_) => {}
        }
    }
}

/// The workspace folders of an `initialize` request.
fn roots(init: &lsp::InitializeParams) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = init
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| convert::uri_to_path(f.uri.as_str()))
        .collect();
    #[allow(deprecated)] // older clients send only these
    if out.is_empty() {
        if let Some(p) = init
            .root_uri
            .as_ref()
            .and_then(|u| convert::uri_to_path(u.as_str()))
        {
            out.push(p);
        } else if let Some(p) = &init.root_path {
            out.push(PathBuf::from(p));
        }
    }
    out
}

/// `docs/errors` in a workspace folder or above it, else above the server's executable.
fn find_error_docs(roots: &[PathBuf]) -> Option<String> {
    let exe = std::env::current_exe().ok();
    let starts = roots.iter().map(|r| r.as_path()).chain(exe.as_deref());
    for start in starts {
        for dir in start.ancestors() {
            let candidate = dir.join("docs").join("errors");
            if candidate.is_dir() {
                return Some(format!("{}/", convert::path_to_uri(&candidate)));
            }
        }
    }
    None
}

impl Server {
    fn main_loop(&mut self) -> Ending {
        loop {
            let Some(msg) = self.next_message() else {
                return if self.shut_down {
                    Ending::Clean
                } else {
                    Ending::Disconnected
                };
            };
            match msg {
                Message::Request(req) => self.on_request(req),
                Message::Notification(n) if n.method == "exit" => {
                    return if self.shut_down {
                        Ending::Clean
                    } else {
                        Ending::ExitWithoutShutdown
                    };
                }
                Message::Notification(_) if self.shut_down => {}
                Message::Notification(n) => {
                    let method = n.method.clone();
                    if std::panic::catch_unwind(AssertUnwindSafe(|| self.notification(n))).is_err()
                    {
                        eprintln!("oaas-lsp: failed on notification `{method}`");
                    }
                }
                Message::Response(_) => {}
            }
        }
    }

    /// The next message; while the texts changed and none waits, checks them first. `None`
    /// once the client is gone.
    fn next_message(&mut self) -> Option<Message> {
        loop {
            if !self.docs.is_dirty() || self.shut_down {
                return self.conn.receiver.recv().ok();
            }
            match self.conn.receiver.try_recv() {
                Ok(msg) => return Some(msg),
                Err(e) if e.is_empty() => self.refresh(),
                Err(_) => return None,
            }
        }
    }

    /// Answers a request: `shutdown`, a refusal after it, or the request's handler (a failing
    /// handler gives `InternalError`).
    fn on_request(&mut self, req: Request) {
        let id = req.id.clone();
        let response = if self.shut_down {
            Response::new_err(
                id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".into(),
            )
        } else if req.method == "shutdown" {
            self.shut_down = true;
            Response::new_ok(id, serde_json::Value::Null)
        } else {
            std::panic::catch_unwind(AssertUnwindSafe(|| self.request(req))).unwrap_or_else(|_| {
                Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    "the server failed on this request".into(),
                )
            })
        };
        self.send(response.into());
    }

    fn send(&self, msg: Message) {
        // A closed channel ends the loop at the next receive.
        let _ = self.conn.sender.send(msg);
    }

    /// Checks the units whose texts changed again and publishes what changed.
    fn refresh(&mut self) {
        let mut old = Vec::new();
        for unit in self.docs.take_dirty() {
            let parses = self
                .snaps
                .get_mut(&unit)
                .map(|s| std::mem::take(&mut s.parses))
                .unwrap_or_default();
            let mut snap = Snapshot::build(self.docs.unit_texts(unit), parses);
            self.publish(&snap);
            snap.index_names();
            old.extend(self.snaps.insert(unit, snap));
        }
        self.clear_gone();
        // Freeing a large analysis takes a few milliseconds: not on the way to the next change.
        if !old.is_empty() {
            let _ = std::thread::Builder::new()
                .name("oaas-lsp-drop".into())
                .spawn(move || drop(old));
        }
    }

    /// Clears the diagnostics of texts that no unit checks any more.
    fn clear_gone(&mut self) {
        let present: HashSet<&String> = self
            .snaps
            .values()
            .flat_map(|s| s.uris.iter().skip(1))
            .collect();
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|u| !present.contains(u))
            .cloned()
            .collect();
        for uri in gone {
            self.published.remove(&uri);
            self.notify_diagnostics(&uri, Vec::new(), None);
        }
    }

    fn publish(&mut self, snap: &Snapshot) {
        let mut by_file: Vec<Vec<lsp::Diagnostic>> = vec![Vec::new(); snap.uris.len()];
        for d in &snap.analysis.diagnostics {
            let file = d.primary.file;
            if snap.is_builtin(file) {
                continue;
            }
            let Some(slot) = by_file.get_mut(file.0 as usize) else {
                continue;
            };
            slot.push(convert::diagnostic(
                d,
                snap.source(file),
                &self.code_docs,
                |id| Some((snap.source(id), snap.uris.get(id.0 as usize)?.clone())),
            ));
        }
        let skip = usize::from(snap.is_builtin(FileId(0)));
        for (i, diagnostics) in by_file.into_iter().enumerate().skip(skip) {
            let uri = &snap.uris[i];
            if self.published.get(uri) == Some(&diagnostics) {
                continue;
            }
            self.notify_diagnostics(uri, diagnostics.clone(), snap.versions[i]);
            self.published.insert(uri.clone(), diagnostics);
        }
    }

    fn notify_diagnostics(
        &self,
        uri: &str,
        diagnostics: Vec<lsp::Diagnostic>,
        version: Option<i32>,
    ) {
        let Some(uri) = convert::uri(uri) else { return };
        let params = lsp::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Notification::new("textDocument/publishDiagnostics".into(), params).into());
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                if let Ok(p) = decode::<lsp::DidOpenTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri.as_str().to_string();
                    self.docs
                        .open(&uri, p.text_document.text, p.text_document.version);
                    // Publish for a newly opened buffer even if nothing changed.
                    self.published.remove(&uri);
                }
            }
            "textDocument/didChange" => {
                if let Ok(p) = decode::<lsp::DidChangeTextDocumentParams>(n.params) {
                    if let Some(doc) = self.docs.get_mut(p.text_document.uri.as_str()) {
                        for change in p.content_changes {
                            apply_change(&mut doc.text, change);
                        }
                        doc.version = Some(p.text_document.version);
                    }
                }
            }
            "textDocument/didClose" => {
                if let Ok(p) = decode::<lsp::DidCloseTextDocumentParams>(n.params) {
                    self.docs.close(p.text_document.uri.as_str());
                    self.tokens.forget(p.text_document.uri.as_str());
                }
            }
            "workspace/didChangeWatchedFiles" => {
                if let Ok(p) = decode::<lsp::DidChangeWatchedFilesParams>(n.params) {
                    for change in p.changes {
                        self.docs.disk_changed(change.uri.as_str());
                    }
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, req: Request) -> Response {
        if self.docs.is_dirty() {
            self.refresh();
        }
        let uri = req
            .params
            .pointer("/textDocument/uri")
            .and_then(|u| u.as_str());
        let Some(snap) = snapshot_for(&self.docs, &self.snaps, uri) else {
            return Response::new_err(
                req.id,
                ErrorCode::InternalError as i32,
                "no workspace".into(),
            );
        };
        let Request { id, method, params } = req;
        let result: Result<serde_json::Value, Failure> = match method.as_str() {
            "textDocument/hover" => handle(params, |p: lsp::HoverParams| {
                let at = &p.text_document_position_params;
                Ok(builtin_hover(snap, at).or_else(|| navigate::hover(snap, &p)))
            }),
            "textDocument/definition" => handle(params, |p: lsp::GotoDefinitionParams| {
                Ok(navigate::definition(snap, &p).or_else(|| {
                    let (file, offset) = snap.offset(&p.text_document_position_params)?;
                    let (builtin, _) = builtins::at(snap, file, offset)?;
                    let doc = self.language_doc.as_deref();
                    builtins::definition(snap, file, offset, builtin, doc)
                        .map(lsp::GotoDefinitionResponse::Scalar)
                }))
            }),
            "textDocument/references" => handle(params, |p| Ok(navigate::references(snap, &p))),
            "textDocument/documentHighlight" => {
                handle(params, |p| Ok(navigate::highlights(snap, &p)))
            }
            "textDocument/completion" => handle(params, |p| {
                Ok(complete::completion(snap, &p, self.snippets))
            }),
            "textDocument/documentSymbol" => handle(params, |p: lsp::DocumentSymbolParams| {
                let file = snap.file_id(&p.text_document.uri);
                Ok(file
                    .and_then(|f| symbols::document_symbols(snap, f))
                    .map(lsp::DocumentSymbolResponse::Nested))
            }),
            "workspace/symbol" => handle(params, |p: lsp::WorkspaceSymbolParams| {
                let all = self.snaps.values();
                let found = all.flat_map(|s| symbols::workspace_symbols(s, &p.query));
                Ok(lsp::WorkspaceSymbolResponse::Flat(found.collect()))
            }),
            "textDocument/inlayHint" => handle(params, |p: lsp::InlayHintParams| {
                let file = snap.file_id(&p.text_document.uri);
                Ok(file.map(|f| symbols::inlay_hints(snap, f, p.range)))
            }),
            "textDocument/prepareRename" => handle(params, |p| {
                navigate::prepare_rename(snap, &p).map_err(|m| (ErrorCode::RequestFailed as i32, m))
            }),
            "textDocument/rename" => handle(params, |p| {
                navigate::rename(snap, &p).map_err(|m| (ErrorCode::RequestFailed as i32, m))
            }),
            "textDocument/formatting" => handle(params, |p: lsp::DocumentFormattingParams| {
                Ok(snap
                    .file_id(&p.text_document.uri)
                    .and_then(|f| formatting::format_edits(snap, f, None)))
            }),
            "initialize" => Err((
                ErrorCode::InvalidRequest as i32,
                "the server is already initialized".into(),
            )),
            other => editor_request(&mut self.tokens, snap, other, params).unwrap_or_else(|| {
                Err((
                    ErrorCode::MethodNotFound as i32,
                    format!("unknown method `{method}`"),
                ))
            }),
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code, message),
        }
    }
}

/// The snapshot that answers for a URI: its unit's, else (the built-in standard library)
/// the first that knows it, else any.
fn snapshot_for<'a>(
    docs: &Documents,
    snaps: &'a BTreeMap<UnitId, Snapshot>,
    uri: Option<&str>,
) -> Option<&'a Snapshot> {
    let unit = uri.and_then(|u| docs.unit_of(u));
    if let Some(snap) = unit.and_then(|u| snaps.get(&u)) {
        return Some(snap);
    }
    let knows = |s: &&Snapshot| {
        uri.and_then(convert::uri)
            .is_some_and(|u| s.file_id(&u).is_some())
    };
    let mut all = snaps.values();
    all.clone().find(knows).or_else(|| all.next())
}

/// The requests of editors beyond VS Code: signature help, quick fixes, semantic tokens and
/// range formatting. `None` for a method that is none of them.
fn editor_request(
    sent: &mut tokens::Sent,
    snap: &Snapshot,
    method: &str,
    params: serde_json::Value,
) -> Option<Result<serde_json::Value, Failure>> {
    Some(match method {
        "textDocument/signatureHelp" => handle(params, |p| Ok(signature::signature_help(snap, &p))),
        "textDocument/codeAction" => handle(params, |p| Ok(actions::code_actions(snap, &p))),
        "textDocument/semanticTokens/full" => handle(params, |p: lsp::SemanticTokensParams| {
            Ok(sent.full(snap, &p.text_document.uri))
        }),
        "textDocument/semanticTokens/full/delta" => {
            handle(params, |p: lsp::SemanticTokensDeltaParams| {
                Ok(sent.delta(snap, &p.text_document.uri, &p.previous_result_id))
            })
        }
        "textDocument/semanticTokens/range" => {
            handle(params, |p: lsp::SemanticTokensRangeParams| {
                Ok(snap.file_id(&p.text_document.uri).map(|f| {
                    lsp::SemanticTokensRangeResult::Tokens(lsp::SemanticTokens {
                        result_id: None,
                        data: tokens::tokens(snap, f, Some(p.range)),
                    })
                }))
            })
        }
        "textDocument/rangeFormatting" => {
            handle(params, |p: lsp::DocumentRangeFormattingParams| {
                Ok(snap
                    .file_id(&p.text_document.uri)
                    .and_then(|f| formatting::format_edits(snap, f, Some(p.range))))
            })
        }
        _ => return None,
    })
}

fn decode<P: DeserializeOwned>(params: serde_json::Value) -> Result<P, Failure> {
    serde_json::from_value(params).map_err(|e| {
        (
            ErrorCode::InvalidParams as i32,
            format!("invalid parameters: {e}"),
        )
    })
}

/// Decodes the parameters, runs the handler and encodes its answer.
fn handle<P: DeserializeOwned, R: Serialize>(
    params: serde_json::Value,
    f: impl FnOnce(P) -> Result<R, Failure>,
) -> Result<serde_json::Value, Failure> {
    let value = f(decode(params)?)?;
    serde_json::to_value(value).map_err(|e| (ErrorCode::InternalError as i32, e.to_string()))
}

/// Applies one change of `didChange`: a range replaced, or the whole text.
fn apply_change(text: &mut String, change: lsp::TextDocumentContentChangeEvent) {
    match change.range {
        Some(range) => {
            let lines = LineIndex::new(text);
            let a = lines.offset_of_utf16(text, range.start.line, range.start.character);
            let b = lines.offset_of_utf16(text, range.end.line, range.end.character);
            let (start, end) = (a.min(b), a.max(b));
            if text.is_char_boundary(start) && text.is_char_boundary(end) {
                text.replace_range(start..end, &change.text);
            }
        }
        None => *text = change.text,
    }
}

/// Hover on a built-in type or `flatten`.
fn builtin_hover(snap: &Snapshot, at: &lsp::TextDocumentPositionParams) -> Option<lsp::Hover> {
    let (file, offset) = snap.offset(at)?;
    let (builtin, span) = builtins::at(snap, file, offset)?;
    Some(lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: builtins::hover(builtin),
        }),
        range: Some(convert::range(snap.source(file), span)),
    })
}
