//! The texts the server checks, in *units* checked apart from each other, each with the
//! standard library:
//!
//! - each workspace folder is a unit: its packages found through their `oaas.toml` manifests
//!   as `oaasc check` finds them (crate `oaas-project`), or, with no manifest, every `.oaas`
//!   file below it, as before manifests;
//! - an opened file in none of them brings in the package of its nearest manifest, as a unit
//!   of its own: one server serves many packages;
//! - an opened file with no package (no manifest, or only a workspace's that does not list
//!   it, as the test fixtures below this repository's root) is checked with the other open
//!   files of its folder only, never as part of a workspace: no false "declared twice".
//!
//! The editor's open buffers are laid over the files on disk. The `std` package's own file
//! (`stdlib/std.oaas`) replaces the built-in standard library in its unit, as `oaasc check`
//! does.

use crate::convert;
use oaas_compiler::manifest::FILE_NAME;
use oaas_compiler::workspace::STDLIB_SOURCE;
use oaas_compiler::Workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A workspace folder with more files than this is only partly loaded.
const MAX_FILES: usize = 10_000;

/// The index of a unit: texts checked together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId(pub usize);

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
    /// The unit it is checked in.
    pub unit: UnitId,
    /// The `std` package's own file: it replaces the built-in standard library.
    pub std: bool,
}

/// How a unit finds its files on disk.
#[derive(Debug)]
enum Reach {
    /// A folder without a manifest: every `.oaas` file below it.
    Folder(PathBuf),
    /// The roots of packages found through manifests.
    Packages(Vec<PathBuf>),
    /// Open buffers only (files with no package), by their folder.
    Open(Option<PathBuf>),
}

/// The texts, by key (the path of `file:` URIs, else the URI itself), in their units.
#[derive(Debug)]
pub struct Documents {
    units: Vec<Reach>,
    docs: BTreeMap<String, Doc>,
    /// Units whose texts changed since [`Documents::take_dirty`].
    dirty: BTreeSet<UnitId>,
    /// The URI the built-in standard library is served under.
    pub stdlib_uri: String,
    stdlib_key: Option<String>,
}

/// What one unit checks: the workspace, the URI of each file id and the version of open
/// buffers (file 0 is the standard library: the built-in one unless the unit holds the `std`
/// package's own file).
pub struct UnitTexts {
    /// The texts, ready to check.
    pub workspace: Workspace,
    /// URI of each file id.
    pub uris: Vec<String>,
    /// Version of each open buffer, by file id.
    pub versions: Vec<Option<i32>>,
}

/// The key of a URI.
pub fn key_of(uri: &str) -> String {
    match convert::uri_to_path(uri) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => uri.to_string(),
    }
}

impl Documents {
    /// Loads the units of the workspace folders and places the standard library where
    /// editors can open it.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let (stdlib_uri, stdlib_key) = match write_stdlib() {
            Some(path) => (
                convert::path_to_uri(&path),
                Some(path.to_string_lossy().into_owned()),
            ),
            None => ("oaas-stdlib:///std.oaas".to_string(), None),
        };
        let mut docs = Documents {
            units: Vec::new(),
            docs: BTreeMap::new(),
            dirty: BTreeSet::new(),
            stdlib_uri,
            stdlib_key,
        };
        // Texts without a path (`untitled:` buffers), and the answers for unknown ones.
        docs.add_unit(Reach::Open(None));
        for root in roots {
            let reach = if root.join(FILE_NAME).is_file() {
                Reach::Packages(Vec::new())
            } else {
                Reach::Folder(root.clone())
            };
            let unit = docs.add_unit(reach);
            docs.load_packages(unit, &root);
        }
        docs
    }

    fn add_unit(&mut self, reach: Reach) -> UnitId {
        self.units.push(reach);
        let id = UnitId(self.units.len() - 1);
        self.dirty.insert(id);
        id
    }

    /// The units whose texts changed since the last call, now clean.
    pub fn take_dirty(&mut self) -> BTreeSet<UnitId> {
        std::mem::take(&mut self.dirty)
    }

    /// Whether some unit changed since [`Documents::take_dirty`].
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The unit a URI's text is checked in.
    pub fn unit_of(&self, uri: &str) -> Option<UnitId> {
        self.docs.get(&key_of(uri)).map(|d| d.unit)
    }

    /// Loads the packages found at a folder into a unit (through its manifest, or every file
    /// below it).
    fn load_packages(&mut self, unit: UnitId, dir: &Path) {
        let room = MAX_FILES.saturating_sub(self.docs.len());
        let Ok(found) = oaas_project::find(&[dir.to_path_buf()], room) else {
            return;
        };
        if let Some(Reach::Packages(roots)) = self.units.get_mut(unit.0) {
            for root in found.packages {
                if !roots.contains(&root) {
                    roots.push(root);
                }
            }
        }
        for path in found.files {
            self.load_from_disk(unit, &path);
        }
    }

    /// The unit that reads a file from disk: `.oaas`, below a workspace folder without a
    /// manifest or in a loaded package (its nearest manifest's).
    fn disk_unit(&self, path: &Path) -> Option<UnitId> {
        if !is_oaas(path) {
            return None;
        }
        let package = oaas_project::package_root(path);
        let position = self.units.iter().position(|reach| match reach {
            Reach::Folder(root) => path.starts_with(root),
            Reach::Packages(roots) => package.as_ref().is_some_and(|p| roots.contains(p)),
            Reach::Open(_) => false,
        });
        position.map(UnitId)
    }

    fn is_stdlib(&self, key: &str) -> bool {
        self.stdlib_key.as_deref() == Some(key)
    }

    /// Reads a file into a unit (unless it is open: the buffer wins).
    fn load_from_disk(&mut self, unit: UnitId, path: &Path) {
        let key = path.to_string_lossy().into_owned();
        if self.is_stdlib(&key) || self.docs.get(&key).is_some_and(|d| d.open) {
            return;
        }
        let text = std::fs::read(path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some(text) = text else {
            self.remove(&key);
            return;
        };
        let doc = Doc {
            uri: convert::path_to_uri(path),
            text,
            open: false,
            version: None,
            unit,
            std: oaas_project::is_stdlib(path),
        };
        self.dirty.insert(unit);
        if let Some(old) = self.docs.insert(key, doc) {
            self.dirty.insert(old.unit);
        }
    }

    /// Takes a text out of its unit; returns its URI.
    fn remove(&mut self, key: &str) -> Option<String> {
        let doc = self.docs.remove(key)?;
        self.dirty.insert(doc.unit);
        Some(doc.uri)
    }

    /// An editor opened a buffer: it is checked in the unit that has its file, else in a
    /// unit of the package of its nearest manifest (loaded from disk), else with the other
    /// open files of its folder that have no package.
    pub fn open(&mut self, uri: &str, text: String, version: i32) {
        let key = key_of(uri);
        if self.is_stdlib(&key) {
            return;
        }
        let path = convert::uri_to_path(uri);
        let unit = match &path {
            Some(p) => self.disk_unit(p).unwrap_or_else(|| self.unit_for_new(p)),
            None => self.open_unit(None),
        };
        self.dirty.insert(unit);
        let doc = Doc {
            uri: uri.to_string(),
            text,
            open: true,
            version: Some(version),
            unit,
            std: path.as_deref().is_some_and(oaas_project::is_stdlib),
        };
        if let Some(old) = self.docs.insert(key, doc) {
            self.dirty.insert(old.unit);
        }
    }

    /// The unit of an opened file that no unit reads from disk.
    fn unit_for_new(&mut self, path: &Path) -> UnitId {
        match oaas_project::package_root(path) {
            Some(root) => {
                let unit = self.add_unit(Reach::Packages(vec![root.clone()]));
                self.load_packages(unit, &root);
                unit
            }
            None => self.open_unit(path.parent().map(Path::to_path_buf)),
        }
    }

    /// The unit of the open files with no package in a folder.
    fn open_unit(&mut self, folder: Option<PathBuf>) -> UnitId {
        let existing = self
            .units
            .iter()
            .position(|r| matches!(r, Reach::Open(f) if *f == folder));
        match existing {
            Some(i) => UnitId(i),
            None => self.add_unit(Reach::Open(folder)),
        }
    }

    /// The open buffer of a URI, to edit; its unit is marked changed.
    pub fn get_mut(&mut self, uri: &str) -> Option<&mut Doc> {
        let doc = self.docs.get_mut(&key_of(uri)).filter(|d| d.open)?;
        self.dirty.insert(doc.unit);
        Some(doc)
    }

    /// An editor closed a buffer: the file on disk counts again if a unit reads it; else the
    /// text leaves. Returns the URI if it left.
    pub fn close(&mut self, uri: &str) -> Option<String> {
        let key = key_of(uri);
        let doc = self.docs.get_mut(&key)?;
        doc.open = false;
        doc.version = None;
        let unit = doc.unit;
        let path = convert::uri_to_path(uri).filter(|p| p.exists());
        match path.and_then(|p| Some((self.disk_unit(&p)?, p))) {
            Some((u, p)) if u == unit => {
                self.load_from_disk(unit, &p);
                None
            }
            _ => self.remove(&key),
        }
    }

    /// A file changed, appeared or went away on disk; a new file counts if a unit reads it.
    pub fn disk_changed(&mut self, uri: &str) -> Option<String> {
        let path = convert::uri_to_path(uri)?;
        let key = path.to_string_lossy().into_owned();
        if self.docs.get(&key).is_some_and(|d| d.open) {
            return None;
        }
        match self.disk_unit(&path).filter(|_| path.exists()) {
            Some(unit) => {
                self.load_from_disk(unit, &path);
                None
            }
            None => self.remove(&key),
        }
    }

    /// What a unit checks.
    pub fn unit_texts(&self, unit: UnitId) -> UnitTexts {
        let mut workspace = Workspace::new();
        let mut uris = vec![self.stdlib_uri.clone()];
        let mut versions = vec![None];
        for (key, doc) in self.docs.iter().filter(|(_, d)| d.unit == unit) {
            if doc.std {
                workspace.set_stdlib(key.clone(), doc.text.clone());
                uris[0] = doc.uri.clone();
                versions[0] = doc.version;
            } else {
                workspace.add_file(key.clone(), doc.text.clone());
                uris.push(doc.uri.clone());
                versions.push(doc.version);
            }
        }
        UnitTexts {
            workspace,
            uris,
            versions,
        }
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
