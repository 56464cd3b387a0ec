//! The texts the server checks: every `.oaas` file below the workspace folders, with the
//! editor's open buffers laid over them, plus the standard library.

use crate::convert;
use oaas_compiler::workspace::STDLIB_SOURCE;
use oaas_compiler::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Folders never searched for `.oaas` files (as `oaasc check` skips them).
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git", ".oaas"];
/// A workspace folder with more files than this is only partly loaded.
const MAX_FILES: usize = 10_000;

/// One text of the workspace.
#[derive(Clone, Debug)]
pub struct Doc {
    /// The URI the editor knows it by.
    pub uri: String,
    /// The current text (the buffer's when open, else the file's).
    pub text: String,
    /// Open in the editor: the buffer wins over the disk.
    pub open: bool,
    /// The buffer's version, while open.
    pub version: Option<i32>,
}

/// All texts, by key: the path of `file:` URIs, else the URI itself.
#[derive(Debug, Default)]
pub struct Documents {
    /// The workspace folders.
    pub roots: Vec<PathBuf>,
    docs: BTreeMap<String, Doc>,
    /// The URI the standard library is served under.
    pub stdlib_uri: String,
    stdlib_key: Option<String>,
}

/// The key of a URI.
pub fn key_of(uri: &str) -> String {
    match convert::uri_to_path(uri) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => uri.to_string(),
    }
}

impl Documents {
    /// Loads every `.oaas` file below the roots and places the standard library where editors
    /// can open it.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let (stdlib_uri, stdlib_key) = match write_stdlib() {
            Some(path) => (
                convert::path_to_uri(&path),
                Some(path.to_string_lossy().into_owned()),
            ),
            None => ("oaas-stdlib:///std.oaas".to_string(), None),
        };
        let mut docs = Documents {
            roots,
            docs: BTreeMap::new(),
            stdlib_uri,
            stdlib_key,
        };
        let mut files = Vec::new();
        for root in &docs.roots {
            walk(root, 0, &mut files);
        }
        files.sort();
        files.dedup();
        for path in files {
            docs.load_from_disk(&path);
        }
        docs
    }

    fn is_stdlib(&self, key: &str) -> bool {
        self.stdlib_key.as_deref() == Some(key)
    }

    /// Reads a file into the set (unless it is open: the buffer wins).
    pub fn load_from_disk(&mut self, path: &Path) {
        let key = path.to_string_lossy().into_owned();
        if self.is_stdlib(&key) || self.docs.get(&key).is_some_and(|d| d.open) {
            return;
        }
        match std::fs::read(path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(text) => {
                let uri = convert::path_to_uri(path);
                self.docs.insert(
                    key,
                    Doc {
                        uri,
                        text,
                        open: false,
                        version: None,
                    },
                );
            }
            None => {
                self.docs.remove(&key);
            }
        }
    }

    /// An editor opened a buffer.
    pub fn open(&mut self, uri: &str, text: String, version: i32) {
        let key = key_of(uri);
        if self.is_stdlib(&key) {
            return;
        }
        self.docs.insert(
            key,
            Doc {
                uri: uri.to_string(),
                text,
                open: true,
                version: Some(version),
            },
        );
    }

    /// The open buffer of a URI, to edit.
    pub fn get_mut(&mut self, uri: &str) -> Option<&mut Doc> {
        self.docs.get_mut(&key_of(uri)).filter(|d| d.open)
    }

    /// An editor closed a buffer: the file on disk counts again if it is in a workspace
    /// folder; else the text leaves the workspace. Returns the URI if it left.
    pub fn close(&mut self, uri: &str) -> Option<String> {
        let key = key_of(uri);
        let doc = self.docs.get_mut(&key)?;
        doc.open = false;
        doc.version = None;
        let path = convert::uri_to_path(uri);
        let in_roots = path.as_ref().is_some_and(|p| {
            p.exists() && self.roots.iter().any(|r| p.starts_with(r)) && is_oaas(p)
        });
        match path {
            Some(p) if in_roots => {
                self.load_from_disk(&p);
                None
            }
            _ => self.docs.remove(&key).map(|d| d.uri),
        }
    }

    /// A file changed, appeared or went away on disk.
    pub fn disk_changed(&mut self, uri: &str) -> Option<String> {
        let path = convert::uri_to_path(uri)?;
        let key = path.to_string_lossy().into_owned();
        if self.docs.get(&key).is_some_and(|d| d.open) {
            return None;
        }
        if path.exists() && is_oaas(&path) {
            self.load_from_disk(&path);
            None
        } else {
            self.docs.remove(&key).map(|d| d.uri)
        }
    }

    /// The workspace to check, the URI of each file id and the version of open buffers.
    pub fn workspace(&self) -> (Workspace, Vec<String>, Vec<Option<i32>>) {
        let mut workspace = Workspace::new();
        let mut uris = vec![self.stdlib_uri.clone()];
        let mut versions = vec![None];
        for (key, doc) in &self.docs {
            workspace.add_file(key.clone(), doc.text.clone());
            uris.push(doc.uri.clone());
            versions.push(doc.version);
        }
        (workspace, uris, versions)
    }
}

fn is_oaas(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "oaas")
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 32 || out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                walk(&path, depth + 1, out);
            }
        } else if is_oaas(&path) && out.len() < MAX_FILES {
            out.push(path);
        }
    }
}

/// Writes the standard library to a read-only file in the temporary folder, so that "go to
/// definition" can open it in any editor. The folder name carries a hash of the text.
fn write_stdlib() -> Option<PathBuf> {
    let hash = STDLIB_SOURCE
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let dir = std::env::temp_dir().join(format!("oaas-stdlib-{hash:016x}"));
    let path = dir.join("std.oaas");
    if std::fs::read_to_string(&path).ok().as_deref() == Some(STDLIB_SOURCE) {
        return Some(path);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let tmp = dir.join(format!("std.oaas.{}", std::process::id()));
    std::fs::write(&tmp, STDLIB_SOURCE).ok()?;
    if let Ok(meta) = std::fs::metadata(&tmp) {
        let mut perms = meta.permissions();
        perms.set_readonly(true);
        let _ = std::fs::set_permissions(&tmp, perms);
    }
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}
