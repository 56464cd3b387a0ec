//! Finding `.oaas` packages on disk through their `oaas.toml` manifests, for the CLI's
//! commands and the language server alike (the compiler itself reads no files).
//!
//! - A folder with a manifest is read through it: a `[package]` is every `.oaas` file below
//!   the folder except in folders with a manifest of their own (nested packages); a
//!   `[workspace]` adds each of its `members`, which must have manifests. A folder with no
//!   manifest below a workspace is no package: test fixtures stay out unless named.
//! - A folder with no manifest, given explicitly, is every `.oaas` file below it (as before
//!   manifests existed); a file is itself.

use oaas_compiler::manifest::{self, Manifest, FILE_NAME};
use oaas_compiler::{Code, Diagnostic, FileId};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Folders never searched for `.oaas` files (besides those whose name starts with `.`).
pub const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git", ".oaas"];
/// How deep folders are searched, and how deep workspaces may nest.
const MAX_DEPTH: usize = 64;

/// A manifest that cannot be used, with its text so that the diagnostic can be shown (its
/// file id is `FileId(0)`: put the text alone into a `Sources` to render it).
#[derive(Debug)]
pub struct ManifestError {
    /// The manifest's path.
    pub path: PathBuf,
    /// Its text (empty when it could not be read).
    pub text: String,
    /// The `E0600` diagnostic.
    pub diagnostic: Diagnostic,
}

/// What was found below some paths.
#[derive(Debug, Default)]
pub struct Found {
    /// The `.oaas` files, sorted, each once.
    pub files: Vec<PathBuf>,
    /// The root folders of the packages found through manifests.
    pub packages: Vec<PathBuf>,
    /// Manifests that could not be used; their folders gave no files.
    pub errors: Vec<ManifestError>,
    /// Folders that could not be read, as messages for people.
    pub unreadable: Vec<String>,
    /// Whether files were left out because there were more than the limit.
    pub truncated: bool,
}

/// Expands files and folders into `.oaas` files through manifests (see the module's
/// documentation), at most `max_files` of them. A path that does not exist is an error.
pub fn find(paths: &[PathBuf], max_files: usize) -> Result<Found, String> {
    let mut finder = Finder {
        max_files,
        found: Found::default(),
        visited: HashSet::new(),
    };
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
        if meta.is_dir() {
            finder.folder(path);
        } else {
            finder.push(path.clone());
        }
    }
    let mut found = finder.found;
    found.files.sort();
    found.files.dedup();
    found.packages.sort();
    found.packages.dedup();
    Ok(found)
}

/// The root of the package a file belongs to: the nearest folder above it with a manifest,
/// unless that manifest is a workspace's only (a file there belongs to no package). A
/// manifest that cannot be parsed still marks a root.
pub fn package_root(file: &Path) -> Option<PathBuf> {
    let (dir, manifest) = nearest_manifest(file)?;
    match manifest {
        Some(m) if !m.is_package() => None,
        _ => Some(dir),
    }
}

/// The name of the standard library's package: its folder's manifest says so.
pub const STD_PACKAGE: &str = "std";

/// Whether a file is the standard library's own source (its nearest manifest is the `std`
/// package's): it is checked as the standard library, not next to it.
pub fn is_stdlib(file: &Path) -> bool {
    let name = nearest_manifest(file).and_then(|(_, m)| m?.package.map(|p| p.name));
    name.as_deref() == Some(STD_PACKAGE)
}

/// The nearest folder above a file with a manifest, and the manifest if it parses.
fn nearest_manifest(file: &Path) -> Option<(PathBuf, Option<Manifest>)> {
    let mut dir = file.parent();
    while let Some(d) = dir {
        let path = d.join(FILE_NAME);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            return Some((d.to_path_buf(), manifest::parse(FileId(0), &text).ok()));
        }
        dir = d.parent();
    }
    None
}

/// A manifest read from disk.
struct Loaded {
    path: PathBuf,
    text: String,
    manifest: Manifest,
}

/// Reads the manifest of a folder: `Ok(None)` when it has none.
fn read_manifest(dir: &Path) -> Result<Option<Loaded>, Box<ManifestError>> {
    let path = dir.join(FILE_NAME);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(&path)
        .map_err(|e| io_reason(&e))
        .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()));
    let text = match text {
        Ok(t) => t,
        Err(reason) => {
            let message = format!("cannot read `{}`: {reason}", path.display());
            let diagnostic = Diagnostic::new(Code::E0600, FileId(0), Default::default(), message);
            return Err(Box::new(ManifestError {
                path,
                text: String::new(),
                diagnostic,
            }));
        }
    };
    match manifest::parse(FileId(0), &text) {
        Ok(manifest) => Ok(Some(Loaded {
            path,
            text,
            manifest,
        })),
        Err(diagnostic) => Err(Box::new(ManifestError {
            path,
            text,
            diagnostic: *diagnostic,
        })),
    }
}

struct Finder {
    max_files: usize,
    found: Found,
    /// Manifest folders already read (a workspace may list a folder twice, or itself).
    visited: HashSet<PathBuf>,
}

impl Finder {
    /// A folder given explicitly.
    fn folder(&mut self, dir: &Path) {
        match read_manifest(dir) {
            Ok(Some(loaded)) => self.manifest(dir, &loaded, 0),
            Ok(None) => self.walk(dir, 0, false),
            Err(e) => self.found.errors.push(*e),
        }
    }

    fn manifest(&mut self, dir: &Path, loaded: &Loaded, depth: usize) {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if depth > MAX_DEPTH || !self.visited.insert(key) {
            return;
        }
        if loaded.manifest.is_package() {
            self.found.packages.push(dir.to_path_buf());
            self.walk(dir, 0, true);
        }
        let Some(workspace) = &loaded.manifest.workspace else {
            return;
        };
        for (member, span) in &workspace.members {
            let member_dir = dir.join(member);
            match read_manifest(&member_dir) {
                Ok(Some(m)) => self.manifest(&member_dir, &m, depth + 1),
                Ok(None) => {
                    let message = format!("the member `{member}` has no `{FILE_NAME}`");
                    let diagnostic = Diagnostic::new(Code::E0600, FileId(0), *span, message)
                        .label("listed here")
                        .help(format!(
                            "give the folder a `{FILE_NAME}` with a `[package]`, or take it out of `members`"
                        ));
                    self.found.errors.push(ManifestError {
                        path: loaded.path.clone(),
                        text: loaded.text.clone(),
                        diagnostic,
                    });
                }
                Err(e) => self.found.errors.push(*e),
            }
        }
    }

    /// Every `.oaas` file below `dir`; with `package`, not in folders with a manifest.
    fn walk(&mut self, dir: &Path, depth: usize, package: bool) {
        if depth > MAX_DEPTH {
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                let reason = io_reason(&e);
                let message = format!("cannot read directory `{}`: {reason}", dir.display());
                self.found.unreadable.push(message);
                return;
            }
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                let skipped = name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref());
                let nested = package && path.join(FILE_NAME).is_file();
                if !skipped && !nested {
                    self.walk(&path, depth + 1, package);
                }
            } else if path.extension().is_some_and(|e| e == "oaas") {
                self.push(path);
            }
        }
    }

    fn push(&mut self, file: PathBuf) {
        if self.found.files.len() < self.max_files {
            self.found.files.push(file);
        } else {
            self.found.truncated = true;
        }
    }
}

/// An IO error in words for people.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
