//! Finding `.oaas` files on disk and loading them into a workspace.

use oaas_compiler::Workspace;
use std::path::{Path, PathBuf};

/// Folders never searched for `.oaas` files.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git", ".oaas"];

/// Expands files and directories into a sorted list of `.oaas` files. A path that does not
/// exist or a directory that cannot be read is an error with a message for people.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read directory `{}`: {}",
            dir.display(),
            io_reason(&e)
        )
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            format!(
                "cannot read directory `{}`: {}",
                dir.display(),
                io_reason(&e)
            )
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "oaas") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads files into a new workspace, under the paths as given.
pub fn load(files: &[PathBuf]) -> Result<Workspace, String> {
    let mut workspace = Workspace::new();
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| format!("cannot read `{}`: {}", file.display(), io_reason(&e)))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("`{}` is not UTF-8 text", file.display()))?;
        workspace.add_file(display(file), text);
    }
    Ok(workspace)
}

/// A path as shown in diagnostics: relative paths stay as given, `./` dropped.
pub fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Collects and loads in one step; an empty result is an error.
pub fn load_paths(paths: &[PathBuf]) -> Result<Workspace, String> {
    let files = collect(paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", display(p))).collect();
        return Err(format!("no .oaas files found in {}", shown.join(", ")));
    }
    load(&files)
}
