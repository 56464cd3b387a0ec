//! Printing diagnostics for people on standard error, shared by the commands that compile.

use oaas_compiler::{render, Diagnostic, Sources};
use oaas_runtime::executor::NodeFailure;
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
/// container's message beneath; nested macro failures (`causes`) are drawn too.
pub fn runtime_failures(sources: &Sources, failures: &[NodeFailure]) -> String {
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
    let mut queue: Vec<&NodeFailure> = failures.iter().collect();
    while let Some(f) = queue.pop() {
        queue.extend(f.causes.iter().flatten());
        let message = &f.message;
        let label = f.label.as_deref().unwrap_or("");
        let known = f.source.as_ref().and_then(|s| {
            let id = find_artifact_file(sources, &s.file)?;
            let file = sources.get(id);
            let end = s.end as usize;
            (file.text.len() >= end).then(|| {
                (
                    file.path.clone(),
                    s.start as usize..end.max(s.start as usize),
                )
            })
        });
        let Some(span) = known else {
            out.extend_from_slice(format!("error: `{label}` failed: {message}\n").as_bytes());
            continue;
        };
        let report = Report::build(ReportKind::Error, span.clone())
            .with_config(config)
            .with_message(format!("`{label}` failed"))
            .with_label(Label::new(span).with_message(message).with_order(0))
            .with_note(format!(
                "in macro `{}`, task {}",
                f.macro_.as_deref().unwrap_or("?"),
                f.task_id.as_ref().map(|t| t.as_str()).unwrap_or("?")
            ))
            .finish();
        if report.write(&mut cache, &mut out).is_err() {
            out.extend_from_slice(format!("error: `{label}` failed: {message}\n").as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a failed macro's calls made before it failed, one line each: nothing is rolled back,
/// so the user sees the objects made or changed.
pub fn partial_outputs(partial: &[oaas_runtime::executor::PartialOutput]) -> String {
    if partial.is_empty() {
        return String::new();
    }
    let mut out = String::from("note: made before the failure (kept; nothing is rolled back):\n");
    for p in partial {
        let what = match &p.output {
            Some(v) => shorten(&v.to_string(), 200),
            None if p.changed => "changed its object".to_string(),
            None => "an output only the platform may read".to_string(),
        };
        let changed = if p.changed && p.output.is_some() {
            " (changed its object)"
        } else {
            ""
        };
        out.push_str(&format!("  {} `{}`: {what}{changed}\n", p.node, p.label));
    }
    out
}

/// `text` cut to at most `max` characters, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The workspace file an artifact names: artifact file names are relative to the package's
/// directory (docs/artifact.md), workspace paths as given on the command line.
fn find_artifact_file(sources: &Sources, name: &str) -> Option<oaas_compiler::FileId> {
    let user = || sources.iter().filter(|(id, _)| id.0 != 0);
    let dir = oaas_compiler::artifact::package_dir(user().map(|(_, f)| f.path.as_str()));
    user()
        .find(|(_, f)| f.path.get(dir..) == Some(name))
        .map(|(id, _)| id)
}
