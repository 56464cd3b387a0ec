//! A workspace: the standard library plus the user's files, parsed and checked together.
//! The CLI fills one from disk; the language server from the editor's buffers.

use crate::check::{self, Analysis};
use crate::span::{FileId, Sources};

/// The standard library's source, checked like user code.
pub const STDLIB_SOURCE: &str = include_str!("../../../stdlib/std.oaas");
/// The path diagnostics show for the standard library.
pub const STDLIB_PATH: &str = "<stdlib>/std.oaas";

/// Source files to check together: the standard library is always file 0.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Every file, the standard library first.
    pub sources: Sources,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A workspace holding only the standard library.
    pub fn new() -> Self {
        let mut sources = Sources::new();
        sources.add(STDLIB_PATH, STDLIB_SOURCE);
        Workspace { sources }
    }

    /// Adds a user file.
    pub fn add_file(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        self.sources.add(path, text)
    }

    /// The standard library's file id.
    pub fn stdlib_file(&self) -> FileId {
        FileId(0)
    }

    /// Parses and checks everything.
    pub fn check(&self) -> Analysis {
        check::analyze(&self.sources)
    }
}
