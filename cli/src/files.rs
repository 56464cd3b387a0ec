//! Finding `.oaas` files on disk and loading them into a workspace.

use oaas_compiler::{render, Diagnostic, Sources, Workspace};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Expands files and folders into a sorted list of `.oaas` files, through `oaas.toml`
/// manifests (see crate `oaas-project`): a folder with a manifest is its package or its
/// workspace's members, a folder without one every file below it. A path that does not
/// exist, a folder that cannot be read or a manifest with an error is an error with a
/// message for people (a manifest's diagnostic is printed first).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    collect_reporting(paths, |sources, diagnostics| {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", render::render_human(sources, diagnostics, color));
    })
}

/// [`collect`], with the diagnostics of manifests given to `report` (each with its manifest
/// alone in `sources`), so that `oaasc check --format json` prints them as JSON too.
pub fn collect_reporting(
    paths: &[PathBuf],
    report: impl Fn(&Sources, &[Diagnostic]),
) -> Result<Vec<PathBuf>, String> {
    let found = oaas_project::find(paths, usize::MAX)?;
    if let Some(first) = found.unreadable.first() {
        return Err(first.clone());
    }
    if !found.errors.is_empty() {
        for e in &found.errors {
            let mut sources = Sources::new();
            sources.add(display(&e.path), e.text.clone());
            report(&sources, std::slice::from_ref(&e.diagnostic));
        }
        let shown: Vec<String> = found
            .errors
            .iter()
            .map(|e| format!("`{}`", display(&e.path)))
            .collect();
        return Err(format!("fix the manifest {} first", shown.join(", ")));
    }
    Ok(found.files)
}

/// Loads files into a new workspace, under the paths as given; the `std` package's own
/// file (stdlib/std.oaas) replaces the built-in standard library.
pub fn load(files: &[PathBuf]) -> Result<Workspace, String> {
    let mut workspace = Workspace::new();
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| format!("cannot read `{}`: {}", file.display(), io_reason(&e)))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("`{}` is not UTF-8 text", file.display()))?;
        if oaas_project::is_stdlib(file) {
            workspace.set_stdlib(display(file), text);
        } else {
            workspace.add_file(display(file), text);
        }
    }
    Ok(workspace)
}

/// A path as shown in diagnostics: relative paths stay as given, `./` dropped.
pub fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

use oaas_project::io_reason;

/// Collects and loads in one step; an empty result is an error.
pub fn load_paths(paths: &[PathBuf]) -> Result<Workspace, String> {
    let files = collect(paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", display(p))).collect();
        return Err(format!("no .oaas files found in {}", shown.join(", ")));
    }
    load(&files)
}
