//! Printing diagnostics for people on standard error, shared by the commands that compile.

use oaas_compiler::{render, Diagnostic, Sources};
use std::io::IsTerminal;

/// Whether standard error is a colour terminal (and `NO_COLOR` is not set).
pub fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints diagnostics, if any, for people.
pub fn diagnostics(sources: &Sources, diagnostics: &[Diagnostic]) {
    if !diagnostics.is_empty() {
        eprint!("{}", render::render_human(sources, diagnostics, color()));
    }
}

/// Draws the failures of a macro run at their calls in the `.oaas` sources, with the
/// container's message beneath. `failures` are the runtime's failure objects (each with a
/// `source` span and a `message`); nested macro failures (`causes`) are drawn too.
pub fn runtime_failures(sources: &Sources, failures: &[serde_json::Value]) -> String {
    use ariadne::{Config, IndexType, Label, Report, ReportKind};
    let mut cache = ariadne::sources(
        sources
            .iter()
            .map(|(_, f)| (f.path.clone(), f.text.clone())),
    );
    let config = Config::default()
        .with_color(color())
        .with_index_type(IndexType::Byte);
    let mut out = Vec::new();
    let mut queue: Vec<&serde_json::Value> = failures.iter().collect();
    while let Some(f) = queue.pop() {
        if let Some(causes) = f.get("causes").and_then(|c| c.as_array()) {
            queue.extend(causes.iter());
        }
        let message = f
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("failed");
        let label = f.get("label").and_then(|m| m.as_str()).unwrap_or("");
        let path = f
            .pointer("/source/file")
            .and_then(|p| p.as_str())
            .unwrap_or("");
        let start = f
            .pointer("/source/start")
            .and_then(|p| p.as_u64())
            .unwrap_or(0) as usize;
        let end = f
            .pointer("/source/end")
            .and_then(|p| p.as_u64())
            .unwrap_or(0) as usize;
        let known = sources
            .find(path)
            .map(|id| sources.get(id).text.len() >= end)
            .unwrap_or(false);
        if !known {
            out.extend_from_slice(format!("error: `{label}` failed: {message}\n").as_bytes());
            continue;
        }
        let span = (path.to_string(), start..end.max(start));
        let report = Report::build(ReportKind::Error, span.clone())
            .with_config(config)
            .with_message(format!("`{label}` failed"))
            .with_label(Label::new(span).with_message(message).with_order(0))
            .with_note(format!(
                "in macro `{}`, task {}",
                f.get("macro").and_then(|m| m.as_str()).unwrap_or("?"),
                f.get("task_id").and_then(|m| m.as_str()).unwrap_or("?")
            ))
            .finish();
        if report.write(&mut cache, &mut out).is_err() {
            out.extend_from_slice(format!("error: `{label}` failed: {message}\n").as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
