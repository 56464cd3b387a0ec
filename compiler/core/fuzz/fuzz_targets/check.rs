//! Any UTF-8 text as a `.oaas` file: parse, check and render must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oaas_compiler::render::{render_github, render_human, render_json};
use oaas_compiler::Workspace;

fuzz_target!(|text: &str| {
    let mut workspace = Workspace::new();
    workspace.add_file("fuzz.oaas", text);
    let analysis = workspace.check();
    let _ = render_human(&workspace.sources, &analysis.diagnostics, false);
    let _ = render_json(&workspace.sources, &analysis.diagnostics);
    let _ = render_github(&workspace.sources, &analysis.diagnostics);
});
