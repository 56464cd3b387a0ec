//! The texts the server checks: the packages of the workspace folders, found through their
//! `oaas.toml` manifests as `oaasc check` finds them (crate `oaas-project`), and the package
//! of each opened file (its nearest manifest), with the editor's open buffers laid over them,
//! plus the standard library. A workspace folder with no manifest is every `.oaas` file
//! below it, as before manifests.

use crate::convert;
use oaas_compiler::manifest::FILE_NAME;
use oaas_compiler::workspace::STDLIB_SOURCE;
use oaas_compiler::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Workspace folders without a manifest: every `.oaas` file below them counts.
    loose: Vec<PathBuf>,
    /// Roots of the packages loaded from disk (found through manifests).
    packages: Vec<PathBuf>,
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
            loose: Vec::new(),
            packages: Vec::new(),
            docs: BTreeMap::new(),
            stdlib_uri,
            stdlib_key,
        };
        for root in roots {
            if !root.join(FILE_NAME).is_file() {
                docs.loose.push(root.clone());
            }
            docs.load_packages(&root);
        }
        docs
    }

    /// Loads the packages found at a folder (through its manifest, or every file below it).
    fn load_packages(&mut self, dir: &Path) {
        let room = MAX_FILES.saturating_sub(self.docs.len());
        let Ok(found) = oaas_project::find(&[dir.to_path_buf()], room) else {
            return;
        };
        for root in found.packages {
            if !self.packages.contains(&root) {
                self.packages.push(root);
            }
        }
        for path in found.files {
            self.load_from_disk(&path);
        }
    }

    /// Whether a file on disk is one the server checks: `.oaas`, in a loaded package (its
    /// nearest manifest's) or below a workspace folder without a manifest.
    fn belongs(&self, path: &Path) -> bool {
        is_oaas(path)
            && (self.loose.iter().any(|r| path.starts_with(r))
                || oaas_project::package_root(path).is_some_and(|r| self.packages.contains(&r)))
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

    /// An editor opened a buffer. The package it belongs to (its nearest manifest's) is
    /// loaded from disk if it is not yet: one server serves many packages.
    pub fn open(&mut self, uri: &str, text: String, version: i32) {
        let key = key_of(uri);
        if self.is_stdlib(&key) {
            return;
        }
        let root = convert::uri_to_path(uri).and_then(|p| oaas_project::package_root(&p));
        if let Some(root) = root.filter(|r| !self.packages.contains(r)) {
            self.load_packages(&root);
            if !self.packages.contains(&root) {
                self.packages.push(root);
            }
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

    /// An editor closed a buffer: the file on disk counts again if it belongs (see
    /// [`Documents::belongs`]); else the text leaves the workspace. Returns the URI if it left.
    pub fn close(&mut self, uri: &str) -> Option<String> {
        let key = key_of(uri);
        let doc = self.docs.get_mut(&key)?;
        doc.open = false;
        doc.version = None;
        let path = convert::uri_to_path(uri);
        let in_roots = path.as_ref().is_some_and(|p| p.exists() && self.belongs(p));
        match path {
            Some(p) if in_roots => {
                self.load_from_disk(&p);
                None
            }
            _ => self.docs.remove(&key).map(|d| d.uri),
        }
    }

    /// A file changed, appeared or went away on disk; a new file counts if it belongs.
    pub fn disk_changed(&mut self, uri: &str) -> Option<String> {
        let path = convert::uri_to_path(uri)?;
        let key = path.to_string_lossy().into_owned();
        if self.docs.get(&key).is_some_and(|d| d.open) {
            return None;
        }
        if path.exists() && self.belongs(&path) {
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
